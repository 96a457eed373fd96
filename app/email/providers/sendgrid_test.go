package providers_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/cartwheel/cartwheel/app/email"
	"github.com/cartwheel/cartwheel/app/email/providers"
	"github.com/cartwheel/cartwheel/app/email/sendgridtest"
)

const key = "SG.test-key"

func newSG(t *testing.T, o providers.SendGridOptions) (*providers.SendGrid, *sendgridtest.Server) {
	t.Helper()
	fake := sendgridtest.New(key)
	t.Cleanup(fake.Close)
	if o.APIKey == "" {
		o.APIKey = key
	}
	o.BaseURL = fake.URL
	if o.Backoff == 0 {
		o.Backoff = 5 * time.Millisecond
	}
	sg, err := providers.NewSendGrid(o)
	if err != nil {
		t.Fatal(err)
	}
	return sg, fake
}

func sample() email.Message {
	return email.Message{
		ID: 42, ShopID: 7,
		To:      email.Address{Name: "Ada Lovelace", Email: "ada@example.com"},
		From:    email.Address{Name: "Demo Store", Email: "hello@demo.example"},
		ReplyTo: "help@demo.example",
		Subject: "Your cart misses you ✨",
		HTML:    `<p>Hello <a href="https://x.test/c">back</a></p>`,
		Text:    "Hello https://x.test/c",
		Headers: map[string]string{
			"List-Unsubscribe":      "<https://app.test/u/tok>",
			"List-Unsubscribe-Post": "List-Unsubscribe=One-Click",
		},
		Categories: []string{"flow", "flow:abandoned_cart"},
	}
}

func TestSendGridPayload(t *testing.T) {
	sg, fake := newSG(t, providers.SendGridOptions{})
	res, err := sg.Send(context.Background(), sample())
	if err != nil {
		t.Fatal(err)
	}
	got := fake.Received()
	if len(got) != 1 {
		t.Fatalf("received %d messages", len(got))
	}
	r := got[0]
	if res.ProviderID == "" || res.ProviderID != r.MessageID {
		t.Errorf("provider id %q, fake X-Message-Id %q", res.ProviderID, r.MessageID)
	}
	if h := r.Header.Get("Authorization"); h != "Bearer "+key {
		t.Errorf("Authorization %q", h)
	}
	m := r.Mail
	if m.From == nil || m.From.Email != "hello@demo.example" || m.From.Name != "Demo Store" {
		t.Errorf("from %+v", m.From)
	}
	if m.ReplyTo == nil || m.ReplyTo.Email != "help@demo.example" {
		t.Errorf("reply_to %+v", m.ReplyTo)
	}
	if m.Subject != "Your cart misses you ✨" {
		t.Errorf("subject %q", m.Subject)
	}
	if len(m.Personalizations) != 1 || len(m.Personalizations[0].To) != 1 ||
		m.Personalizations[0].To[0] != (sendgridtest.Email{Email: "ada@example.com", Name: "Ada Lovelace"}) {
		t.Errorf("personalizations %+v", m.Personalizations)
	}
	if len(m.Content) != 2 || m.Content[0].Type != "text/plain" || m.Content[1].Type != "text/html" ||
		r.ContentOf("text/html") != sample().HTML || r.ContentOf("text/plain") != sample().Text {
		t.Errorf("content %+v", m.Content)
	}
	if m.CustomArgs["cw_message_id"] != "42" || m.CustomArgs["cw_shop_id"] != "7" || len(m.CustomArgs) != 2 {
		t.Errorf("custom_args %+v", m.CustomArgs)
	}
	if strings.Join(m.Categories, ",") != "flow,flow:abandoned_cart" {
		t.Errorf("categories %v", m.Categories)
	}
	if m.Headers["List-Unsubscribe"] != "<https://app.test/u/tok>" || m.Headers["List-Unsubscribe-Post"] != "List-Unsubscribe=One-Click" {
		t.Errorf("headers %v", m.Headers)
	}
	ts := m.TrackingSettings
	for _, k := range []string{"click_tracking", "open_tracking", "subscription_tracking"} {
		if s, _ := ts[k].(map[string]any); s == nil || s["enable"] != false {
			t.Errorf("tracking_settings.%s = %v, want disabled (our own tracker does it)", k, ts[k])
		}
	}
}

func TestSendGridRateLimitedThenAccepted(t *testing.T) {
	sg, fake := newSG(t, providers.SendGridOptions{})
	fake.RateLimitNext(1, time.Second)
	start := time.Now()
	res, err := sg.Send(context.Background(), sample())
	if err != nil {
		t.Fatal(err)
	}
	if fake.Requests() != 2 || len(fake.Received()) != 1 || res.ProviderID == "" {
		t.Errorf("requests %d, received %d", fake.Requests(), len(fake.Received()))
	}
	if el := time.Since(start); el < 900*time.Millisecond {
		t.Errorf("Retry-After 1 not honoured: retried after %s", el)
	}
}

func TestSendGridLongRetryAfterGoesBackToTheQueue(t *testing.T) {
	sg, fake := newSG(t, providers.SendGridOptions{MaxWait: time.Second})
	fake.RateLimitNext(1, time.Minute)
	_, err := sg.Send(context.Background(), sample())
	if !errors.Is(err, email.ErrRetryable) {
		t.Fatalf("err %v, want retryable", err)
	}
	if d := providers.RetryAfter(err); d != time.Minute {
		t.Errorf("RetryAfter %s", d)
	}
	if fake.Requests() != 1 {
		t.Errorf("requests %d: a long Retry-After must not be slept inline", fake.Requests())
	}
}

func TestSendGridServerErrorsRetried(t *testing.T) {
	sg, fake := newSG(t, providers.SendGridOptions{Attempts: 3})
	fake.FailNext(2, 500)
	if _, err := sg.Send(context.Background(), sample()); err != nil {
		t.Fatalf("after two 500s: %v", err)
	}
	if fake.Requests() != 3 || len(fake.Received()) != 1 {
		t.Errorf("requests %d received %d", fake.Requests(), len(fake.Received()))
	}
	fake.FailNext(3, 503)
	_, err := sg.Send(context.Background(), sample())
	var re *providers.RetryableError
	if !errors.Is(err, email.ErrRetryable) || !errors.As(err, &re) || re.Status != 503 {
		t.Fatalf("after three 503s: %v, want retryable 503", err)
	}
}

func TestSendGridBadRequestIsPermanent(t *testing.T) {
	sg, fake := newSG(t, providers.SendGridOptions{})
	m := sample()
	m.From = email.Address{}
	_, err := sg.Send(context.Background(), m)
	if err == nil || errors.Is(err, email.ErrRetryable) || errors.Is(err, providers.ErrOutcomeUnknown) {
		t.Fatalf("err %v, want permanent", err)
	}
	if !strings.Contains(err.Error(), "400") || !strings.Contains(err.Error(), "from.email") {
		t.Errorf("error does not carry SendGrid's message: %v", err)
	}
	if fake.Requests() != 1 {
		t.Errorf("a 400 was retried: %d requests", fake.Requests())
	}
	bad, _ := newSG(t, providers.SendGridOptions{APIKey: "SG.wrong"})
	if _, err := bad.Send(context.Background(), sample()); err == nil || errors.Is(err, email.ErrRetryable) || !strings.Contains(err.Error(), "401") {
		t.Errorf("wrong key: %v", err)
	}
}

func TestSendGridConnectionRefusedIsRetryable(t *testing.T) {
	fake := sendgridtest.New(key)
	url := fake.URL
	fake.Close()
	sg, err := providers.NewSendGrid(providers.SendGridOptions{APIKey: key, BaseURL: url, Attempts: 2, Backoff: time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := sg.Send(context.Background(), sample()); !errors.Is(err, email.ErrRetryable) {
		t.Fatalf("err %v, want retryable", err)
	}
}

func TestSendGridPerShopRate(t *testing.T) {
	sg, fake := newSG(t, providers.SendGridOptions{RatePerShop: 20, Burst: 1})
	start := time.Now()
	for i := 0; i < 5; i++ {
		if _, err := sg.Send(context.Background(), sample()); err != nil {
			t.Fatal(err)
		}
	}
	// 1 immediately + 4 at 20/s ≥ 200 ms.
	if el := time.Since(start); el < 180*time.Millisecond {
		t.Errorf("5 messages at 20/s took %s", el)
	}
	// Another shop has its own bucket.
	other := sample()
	other.ShopID = 8
	start = time.Now()
	if _, err := sg.Send(context.Background(), other); err != nil {
		t.Fatal(err)
	}
	if el := time.Since(start); el > 40*time.Millisecond {
		t.Errorf("shop 8 waited %s for shop 7's bucket", el)
	}
	_ = fake
}
