package providers

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/sendgrid/rest"
	"github.com/sendgrid/sendgrid-go"
	"github.com/sendgrid/sendgrid-go/helpers/mail"

	"github.com/cartwheel/cartwheel/app/email"
)

// SendGridOptions configure the SendGrid provider.
type SendGridOptions struct {
	APIKey string
	// BaseURL replaces https://api.sendgrid.com (SENDGRID_API_BASE_URL, tests only).
	BaseURL string
	// RatePerShop limits messages per second per shop (0: 50/s); Burst
	// defaults to the rate.
	RatePerShop float64
	Burst       int
	// Attempts is how many times one Send tries on 429/5xx/connection
	// refused before giving up with a retryable error (default 3).
	Attempts int
	// MaxWait caps a single backoff or Retry-After wait inside Send
	// (default 10 s); a longer Retry-After is returned to the caller instead.
	MaxWait time.Duration
	// Backoff is the first backoff when no Retry-After is given (default
	// 200 ms, doubled each attempt).
	Backoff    time.Duration
	HTTPClient *http.Client
}

// SendGrid sends through SendGrid's v3 mail send API.
type SendGrid struct {
	o       SendGridOptions
	host    string
	client  *rest.Client
	limiter *ShopLimiter
}

// NewSendGrid returns the SendGrid provider.
func NewSendGrid(o SendGridOptions) (*SendGrid, error) {
	if o.APIKey == "" {
		return nil, errors.New("providers: SENDGRID_API_KEY is required")
	}
	if o.RatePerShop == 0 {
		o.RatePerShop = 50
	}
	if o.Burst == 0 {
		o.Burst = int(o.RatePerShop)
	}
	if o.Attempts == 0 {
		o.Attempts = 3
	}
	if o.MaxWait == 0 {
		o.MaxWait = 10 * time.Second
	}
	if o.Backoff == 0 {
		o.Backoff = 200 * time.Millisecond
	}
	if o.HTTPClient == nil {
		o.HTTPClient = &http.Client{
			Timeout: 30 * time.Second,
			Transport: &http.Transport{
				Proxy:               http.ProxyFromEnvironment,
				MaxIdleConns:        100,
				MaxIdleConnsPerHost: 100,
				IdleConnTimeout:     90 * time.Second,
				TLSHandshakeTimeout: 10 * time.Second,
			},
		}
	}
	host := strings.TrimRight(o.BaseURL, "/")
	return &SendGrid{o: o, host: host, client: &rest.Client{HTTPClient: o.HTTPClient},
		limiter: NewShopLimiter(o.RatePerShop, o.Burst)}, nil
}

// Name implements email.Provider.
func (s *SendGrid) Name() string { return "sendgrid" }

// Payload builds the v3 mail send body for a message.
func Payload(m email.Message) *mail.SGMailV3 {
	v := mail.NewV3Mail()
	v.SetFrom(mail.NewEmail(m.From.Name, m.From.Email))
	if m.ReplyTo != "" {
		v.SetReplyTo(mail.NewEmail("", m.ReplyTo))
	}
	v.Subject = m.Subject
	p := mail.NewPersonalization()
	p.AddTos(mail.NewEmail(m.To.Name, m.To.Email))
	v.AddPersonalizations(p)
	// text/plain must come first (SendGrid requires it before text/html).
	if m.Text != "" {
		v.AddContent(mail.NewContent("text/plain", m.Text))
	}
	if m.HTML != "" {
		v.AddContent(mail.NewContent("text/html", m.HTML))
	}
	for k, val := range m.Headers {
		v.SetHeader(k, val)
	}
	if len(m.Categories) > 0 {
		v.AddCategories(m.Categories...)
	}
	v.SetCustomArg("cw_message_id", strconv.FormatInt(m.ID, 10))
	v.SetCustomArg("cw_shop_id", strconv.FormatInt(m.ShopID, 10))
	// Our own tracker rewrites links and adds the pixel and the unsubscribe
	// link; SendGrid's would double them.
	ts := mail.NewTrackingSettings()
	ts.SetClickTracking(mail.NewClickTrackingSetting().SetEnable(false).SetEnableText(false))
	ts.SetOpenTracking(mail.NewOpenTrackingSetting().SetEnable(false))
	ts.SetSubscriptionTracking(mail.NewSubscriptionTrackingSetting().SetEnable(false))
	v.SetTrackingSettings(ts)
	return v
}

// sgErrors is SendGrid's error body: {"errors":[{"message","field","help"}]}.
type sgErrors struct {
	Errors []struct {
		Message string `json:"message"`
		Field   string `json:"field"`
	} `json:"errors"`
}

func errorText(body string) string {
	var e sgErrors
	if json.Unmarshal([]byte(body), &e) == nil && len(e.Errors) > 0 {
		parts := make([]string, 0, len(e.Errors))
		for _, x := range e.Errors {
			if x.Field != "" {
				parts = append(parts, x.Field+": "+x.Message)
			} else {
				parts = append(parts, x.Message)
			}
		}
		return strings.Join(parts, "; ")
	}
	body = strings.TrimSpace(body)
	if len(body) > 300 {
		body = body[:300]
	}
	return body
}

// parseRetryAfter reads Retry-After as seconds or an HTTP date.
func parseRetryAfter(h string, now time.Time) time.Duration {
	h = strings.TrimSpace(h)
	if h == "" {
		return 0
	}
	if n, err := strconv.Atoi(h); err == nil && n >= 0 {
		return time.Duration(n) * time.Second
	}
	if t, err := http.ParseTime(h); err == nil && t.After(now) {
		return t.Sub(now)
	}
	return 0
}

func header(h map[string][]string, name string) string {
	if v := http.Header(h).Get(name); v != "" {
		return v
	}
	return ""
}

// Send implements email.Provider.
func (s *SendGrid) Send(ctx context.Context, m email.Message) (email.Result, error) {
	body := mail.GetRequestBody(Payload(m))
	if err := s.limiter.Wait(ctx, m.ShopID); err != nil {
		return email.Result{}, &RetryableError{Provider: "sendgrid", Msg: "rate limiter: " + err.Error()}
	}
	return s.post(ctx, body)
}

// post sends one mail send request body, retrying what SendGrid certainly
// didn't take (429, 5xx, connection refused) up to Attempts times.
func (s *SendGrid) post(ctx context.Context, body []byte) (email.Result, error) {
	backoff := s.o.Backoff
	var last *RetryableError
	for attempt := 1; attempt <= s.o.Attempts; attempt++ {
		req := sendgrid.GetRequest(s.o.APIKey, "/v3/mail/send", s.host)
		req.Method = rest.Post
		req.Headers["Content-Type"] = "application/json"
		req.Body = body
		resp, err := s.client.SendWithContext(ctx, req)
		if err != nil {
			if !notSent(err) {
				return email.Result{}, fmt.Errorf("sendgrid: %w: %v", ErrOutcomeUnknown, err)
			}
			last = &RetryableError{Provider: "sendgrid", Msg: err.Error()}
		} else {
			switch {
			case resp.StatusCode >= 200 && resp.StatusCode < 300:
				return email.Result{ProviderID: header(resp.Headers, "X-Message-Id")}, nil
			case resp.StatusCode == http.StatusTooManyRequests || resp.StatusCode >= 500:
				last = &RetryableError{Provider: "sendgrid", Status: resp.StatusCode,
					RetryAfter: parseRetryAfter(header(resp.Headers, "Retry-After"), time.Now()), Msg: errorText(resp.Body)}
			default:
				return email.Result{}, fmt.Errorf("sendgrid: refused (%d): %s", resp.StatusCode, errorText(resp.Body))
			}
		}
		if attempt == s.o.Attempts {
			break
		}
		wait := backoff
		if last.RetryAfter > 0 {
			wait = last.RetryAfter
		}
		if wait > s.o.MaxWait {
			break // let the job queue wait that long, not this goroutine
		}
		backoff *= 2
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return email.Result{}, &RetryableError{Provider: "sendgrid", Msg: ctx.Err().Error()}
		case <-t.C:
		}
	}
	return email.Result{}, last
}

// notSent reports whether a transport error means the request never reached
// the server (so retrying cannot duplicate the message).
func notSent(err error) bool {
	var op *net.OpError
	if errors.As(err, &op) && op.Op == "dial" {
		return true
	}
	var dns *net.DNSError
	return errors.As(err, &dns)
}
