// Package sendgridtest is a local stand-in for SendGrid's v3 mail send API
// (POST /v3/mail/send). It checks the Authorization header and validates the
// JSON body the way SendGrid documents it (personalizations 1..1000 each with
// a "to", from.email, a subject at the top or in every personalization,
// content or a template_id, text/plain before text/html, string custom_args,
// at most 10 categories, 30 MB total → 413), answers 202 with an
// X-Message-Id header and an empty body, and records what it accepted. Error
// bodies use SendGrid's shape {"errors":[{"message","field","help"}]}.
// FailNext and RateLimitNext inject 5xx and 429 answers.
package sendgridtest

import (
	"crypto/rand"
	"encoding/json"
	"fmt"
	"io"
	"math/big"
	"net/http"
	"net/http/httptest"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"
)

// MaxBody is SendGrid's limit on the total message size.
const MaxBody = 30 << 20

// Email is an address object.
type Email struct {
	Email string `json:"email"`
	Name  string `json:"name,omitempty"`
}

// Personalization is one envelope of a request.
type Personalization struct {
	To      []Email           `json:"to"`
	CC      []Email           `json:"cc,omitempty"`
	BCC     []Email           `json:"bcc,omitempty"`
	Subject string            `json:"subject,omitempty"`
	Headers map[string]string `json:"headers,omitempty"`
	// Substitutions replace each key by its value in this recipient's
	// subject and body (Deliveries applies them).
	Substitutions map[string]string `json:"substitutions,omitempty"`
	CustomArgs    map[string]any    `json:"custom_args,omitempty"`
	SendAt        int64             `json:"send_at,omitempty"`
}

// Content is one body part.
type Content struct {
	Type  string `json:"type"`
	Value string `json:"value"`
}

// Mail is a v3 mail send request body (the parts this fake checks).
type Mail struct {
	Personalizations []Personalization `json:"personalizations"`
	From             *Email            `json:"from"`
	ReplyTo          *Email            `json:"reply_to,omitempty"`
	Subject          string            `json:"subject,omitempty"`
	Content          []Content         `json:"content,omitempty"`
	TemplateID       string            `json:"template_id,omitempty"`
	Headers          map[string]string `json:"headers,omitempty"`
	Categories       []string          `json:"categories,omitempty"`
	CustomArgs       map[string]any    `json:"custom_args,omitempty"`
	SendAt           int64             `json:"send_at,omitempty"`
	BatchID          string            `json:"batch_id,omitempty"`
	TrackingSettings map[string]any    `json:"tracking_settings,omitempty"`
	MailSettings     map[string]any    `json:"mail_settings,omitempty"`
}

// Received is one accepted request.
type Received struct {
	MessageID string
	Header    http.Header
	Raw       []byte
	Mail      Mail
	At        time.Time
}

// ContentOf returns the value of the part of the given type ("text/html").
func (r Received) ContentOf(typ string) string {
	for _, c := range r.Mail.Content {
		if c.Type == typ {
			return c.Value
		}
	}
	return ""
}

// Server is the fake API.
type Server struct {
	*httptest.Server
	APIKey string

	mu        sync.Mutex
	received  []Received
	requests  int
	failNext  []int
	limitNext []time.Duration
	// Delay is added before answering each request (benchmarks).
	Delay time.Duration
	// KeepNoBodies keeps only the envelopes of accepted requests (no raw
	// body, no content): benchmarks that count recipients.
	KeepNoBodies bool
	recipients   int
}

// New starts a fake SendGrid accepting the given API key. Close it when done.
func New(apiKey string) *Server {
	s := &Server{APIKey: apiKey}
	mux := http.NewServeMux()
	mux.HandleFunc("/v3/mail/send", s.mailSend)
	s.Server = httptest.NewServer(mux)
	return s
}

// FailNext makes the next n requests answer status (e.g. 500 or 503).
func (s *Server) FailNext(n, status int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for i := 0; i < n; i++ {
		s.failNext = append(s.failNext, status)
	}
}

// RateLimitNext makes the next n requests answer 429 with Retry-After (in
// whole seconds, rounded up; 0 omits the header).
func (s *Server) RateLimitNext(n int, retryAfter time.Duration) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for i := 0; i < n; i++ {
		s.limitNext = append(s.limitNext, retryAfter)
	}
}

// Received returns the accepted messages, oldest first.
func (s *Server) Received() []Received {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Received(nil), s.received...)
}

// Requests returns how many requests reached the endpoint, accepted or not.
func (s *Server) Requests() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.requests
}

// APIError is one entry of SendGrid's error body.
type APIError struct {
	Message string  `json:"message"`
	Field   *string `json:"field"`
	Help    *string `json:"help,omitempty"`
}

func field(s string) *string { return &s }

func writeErrors(w http.ResponseWriter, status int, errs ...APIError) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(map[string][]APIError{"errors": errs})
}

const help = "http://sendgrid.com/docs/API_Reference/Web_API_v3/Mail/errors.html#message."

func (s *Server) mailSend(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	s.requests++
	var inject int
	var retryAfter time.Duration
	limited := false
	if len(s.limitNext) > 0 {
		retryAfter, s.limitNext = s.limitNext[0], s.limitNext[1:]
		limited = true
	} else if len(s.failNext) > 0 {
		inject, s.failNext = s.failNext[0], s.failNext[1:]
	}
	delay := s.Delay
	s.mu.Unlock()
	if delay > 0 {
		time.Sleep(delay)
	}

	if r.Method != http.MethodPost {
		writeErrors(w, http.StatusMethodNotAllowed, APIError{Message: "method not allowed", Field: nil})
		return
	}
	auth := r.Header.Get("Authorization")
	if auth == "" {
		writeErrors(w, http.StatusUnauthorized, APIError{Message: "authorization required", Field: nil})
		return
	}
	if auth != "Bearer "+s.APIKey {
		writeErrors(w, http.StatusUnauthorized, APIError{Message: "The provided authorization grant is invalid, expired, or revoked", Field: nil})
		return
	}
	if limited {
		if retryAfter > 0 {
			secs := int((retryAfter + time.Second - 1) / time.Second)
			w.Header().Set("Retry-After", strconv.Itoa(secs))
		}
		w.Header().Set("X-RateLimit-Limit", "600")
		w.Header().Set("X-RateLimit-Remaining", "0")
		w.Header().Set("X-RateLimit-Reset", strconv.FormatInt(time.Now().Add(retryAfter).Unix(), 10))
		writeErrors(w, http.StatusTooManyRequests, APIError{Message: "too many requests", Field: nil})
		return
	}
	if inject != 0 {
		writeErrors(w, inject, APIError{Message: http.StatusText(inject), Field: nil})
		return
	}
	raw, err := io.ReadAll(io.LimitReader(r.Body, MaxBody+1))
	if err != nil {
		writeErrors(w, http.StatusBadRequest, APIError{Message: "could not read the request body", Field: nil})
		return
	}
	if len(raw) > MaxBody {
		// SendGrid's edge answers an HTML page here, not JSON.
		w.Header().Set("Content-Type", "text/html")
		w.WriteHeader(http.StatusRequestEntityTooLarge)
		io.WriteString(w, "<html><head><title>413 Request Entity Too Large</title></head><body><center><h1>413 Request Entity Too Large</h1></center></body></html>")
		return
	}
	if ct := r.Header.Get("Content-Type"); ct != "" && !strings.HasPrefix(ct, "application/json") {
		writeErrors(w, http.StatusUnsupportedMediaType, APIError{Message: "Content-Type should be application/json.", Field: nil})
		return
	}
	var m Mail
	if err := json.Unmarshal(raw, &m); err != nil {
		writeErrors(w, http.StatusBadRequest, APIError{Message: "Bad Request", Field: nil, Help: field(help + "bad_request")})
		return
	}
	if errs := Validate(m); len(errs) > 0 {
		writeErrors(w, http.StatusBadRequest, errs...)
		return
	}
	id := newMessageID()
	s.mu.Lock()
	for _, p := range m.Personalizations {
		s.recipients += len(p.To) + len(p.CC) + len(p.BCC)
	}
	if s.KeepNoBodies {
		raw, m.Content = nil, nil
	}
	s.received = append(s.received, Received{MessageID: id, Header: r.Header.Clone(), Raw: raw, Mail: m, At: time.Now()})
	s.mu.Unlock()
	w.Header().Set("X-Message-Id", id)
	w.WriteHeader(http.StatusAccepted)
}

// Validate returns SendGrid's errors for a request body, none when valid.
func Validate(m Mail) []APIError {
	var errs []APIError
	add := func(f, msg, anchor string) {
		errs = append(errs, APIError{Message: msg, Field: field(f), Help: field(help + anchor)})
	}
	if m.From == nil || strings.TrimSpace(m.From.Email) == "" {
		add("from.email", "The from object must be provided for every email send. It is an object that requires the email parameter, but may also contain a name parameter.", "from")
	} else if !plausible(m.From.Email) {
		add("from.email", "The from email does not contain a valid address.", "from")
	}
	switch n := len(m.Personalizations); {
	case n == 0:
		add("personalizations", "The personalizations field is required and must have at least one personalization.", "personalizations")
	case n > 1000:
		add("personalizations", "The personalizations field is limited to 1000 personalizations per request.", "personalizations")
	}
	allSubjects := len(m.Personalizations) > 0
	recipients := 0
	seen := map[string]string{}
	for i, p := range m.Personalizations {
		// An address may appear once per request, across every
		// personalization's to, cc and bcc.
		for _, list := range []struct {
			name string
			to   []Email
		}{{"to", p.To}, {"cc", p.CC}, {"bcc", p.BCC}} {
			for j, e := range list.to {
				a := strings.ToLower(strings.TrimSpace(e.Email))
				f := fmt.Sprintf("personalizations.%d.%s.%d.email", i, list.name, j)
				if first, dup := seen[a]; dup {
					add(f, fmt.Sprintf("Each email address in the personalization block should be unique between to, cc, and bcc. We found the first duplicate instance of [%s] in the %s field.", e.Email, first), "personalizations")
				} else {
					seen[a] = f
				}
			}
		}
		subSize := 0
		for k, v := range p.Substitutions {
			subSize += len(k) + len(v)
		}
		if subSize > 10000 {
			add(fmt.Sprintf("personalizations.%d.substitutions", i), "The total collective size of your substitutions may not exceed 10,000 bytes per personalization object.", "personalizations.substitutions")
		}
		for k := range p.Headers {
			if reservedHeader(k) {
				add(fmt.Sprintf("personalizations.%d.headers", i), fmt.Sprintf("The %s header is reserved and cannot be set.", k), "headers")
			}
		}
		if len(p.To) == 0 {
			add(fmt.Sprintf("personalizations.%d.to", i), "The to array is required for all personalization objects, and must have at least one email object with a valid email address.", "personalizations.to")
		}
		for j, to := range p.To {
			if !plausible(to.Email) {
				add(fmt.Sprintf("personalizations.%d.to.%d.email", i, j), "Does not contain a valid address.", "personalizations.to")
			}
		}
		recipients += len(p.To) + len(p.CC) + len(p.BCC)
		if p.Subject == "" {
			allSubjects = false
		}
		checkArgs(fmt.Sprintf("personalizations.%d.custom_args", i), p.CustomArgs, add)
	}
	if recipients > 1000 {
		add("personalizations", "The total number of recipients must be no more than 1000.", "personalizations")
	}
	if m.Subject == "" && !allSubjects && m.TemplateID == "" {
		add("subject", "The subject is required. You can get around this requirement if you use a template with a subject defined or if every personalization has a subject defined.", "subject")
	}
	if m.TemplateID == "" {
		if len(m.Content) == 0 {
			add("content", "Unless a valid template_id is provided, the content parameter is required. There must be at least one defined content block. We typically suggest both text/plain and text/html blocks are included, but only one block is required.", "content")
		}
		for i, c := range m.Content {
			if c.Type == "" {
				add(fmt.Sprintf("content.%d.type", i), "The content type cannot be blank.", "content.type")
			}
			if c.Value == "" {
				add(fmt.Sprintf("content.%d.value", i), "The content value must be a string at least one character in length.", "content.value")
			}
			if c.Type == "text/plain" && i != 0 {
				add("content", "If present, text/plain content must be first, followed by text/html, followed by any other content.", "content.type")
			}
		}
	}
	if len(m.Categories) > 10 {
		add("categories", "Too many categories. Please limit the number of categories to 10.", "categories")
	}
	for i, c := range m.Categories {
		if len(c) > 255 {
			add(fmt.Sprintf("categories.%d", i), "A category cannot have more than 255 characters.", "categories")
		}
	}
	checkArgs("custom_args", m.CustomArgs, add)
	for k := range m.Headers {
		if reservedHeader(k) {
			add("headers", fmt.Sprintf("The %s header is reserved and cannot be set.", k), "headers")
		}
	}
	return errs
}

func reservedHeader(k string) bool {
	switch strings.ToLower(k) {
	case "x-sg-id", "x-sg-eid", "received", "dkim-signature", "content-type", "content-transfer-encoding", "to", "from", "subject", "reply-to", "cc", "bcc":
		return true
	}
	return false
}

// Recipients returns how many recipients (to, cc and bcc of every
// personalization) the accepted requests had.
func (s *Server) Recipients() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.recipients
}

// Delivery is what one recipient of an accepted request gets, as SendGrid
// builds it: the personalization's subject (else the request's), the
// content with the personalization's substitutions applied, the request's
// headers and custom_args overlaid by the personalization's.
type Delivery struct {
	MessageID  string // the request's X-Message-Id
	To         Email
	Subject    string
	HTML, Text string
	Headers    map[string]string
	CustomArgs map[string]any
	Categories []string
}

// Deliveries returns every recipient's email of the accepted requests, in
// order (empty bodies when KeepNoBodies is set).
func (s *Server) Deliveries() []Delivery {
	var out []Delivery
	for _, r := range s.Received() {
		for _, p := range r.Mail.Personalizations {
			sub := func(v string) string { return substitute(v, p.Substitutions) }
			subject := p.Subject
			if subject == "" {
				subject = r.Mail.Subject
			}
			headers := map[string]string{}
			for k, v := range r.Mail.Headers {
				headers[k] = sub(v)
			}
			for k, v := range p.Headers {
				headers[k] = sub(v)
			}
			args := map[string]any{}
			for k, v := range r.Mail.CustomArgs {
				args[k] = v
			}
			for k, v := range p.CustomArgs {
				args[k] = v
			}
			for _, to := range p.To {
				out = append(out, Delivery{MessageID: r.MessageID, To: to, Subject: sub(subject),
					HTML: sub(r.ContentOf("text/html")), Text: sub(r.ContentOf("text/plain")),
					Headers: headers, CustomArgs: args, Categories: r.Mail.Categories})
			}
		}
	}
	return out
}

// substitute replaces every key by its value in one pass, longer keys
// first where one begins another (values are not searched again).
func substitute(s string, subs map[string]string) string {
	if len(subs) == 0 {
		return s
	}
	keys := make([]string, 0, len(subs))
	for k := range subs {
		keys = append(keys, k)
	}
	sort.Slice(keys, func(a, b int) bool { return len(keys[a]) > len(keys[b]) })
	pairs := make([]string, 0, 2*len(keys))
	for _, k := range keys {
		pairs = append(pairs, k, subs[k])
	}
	return strings.NewReplacer(pairs...).Replace(s)
}

func checkArgs(f string, args map[string]any, add func(string, string, string)) {
	size := 0
	for k, v := range args {
		s, ok := v.(string)
		if !ok {
			add(f+"."+k, "Invalid type. Expected: string, given: "+jsonType(v)+".", "custom_args")
			continue
		}
		size += len(k) + len(s)
	}
	if size > 10000 {
		add(f, "The custom arguments may not exceed 10,000 bytes.", "custom_args")
	}
}

func jsonType(v any) string {
	switch v.(type) {
	case float64:
		return "number"
	case bool:
		return "boolean"
	case nil:
		return "null"
	case []any:
		return "array"
	case map[string]any:
		return "object"
	}
	return "unknown"
}

func plausible(s string) bool {
	at := strings.LastIndexByte(s, '@')
	return at > 0 && at < len(s)-1 && !strings.ContainsAny(s, " \t\r\n<>")
}

const idAlphabet = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz-_"

// newMessageID returns a 22-character id like SendGrid's X-Message-Id.
func newMessageID() string {
	b := make([]byte, 22)
	for i := range b {
		n, _ := rand.Int(rand.Reader, big.NewInt(int64(len(idAlphabet))))
		b[i] = idAlphabet[n.Int64()]
	}
	return string(b)
}
