package sendgridtest_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/cartwheel/cartwheel/app/email/sendgridtest"
)

// SendGrid's documented minimal example (Mail Send reference).
const docExample = `{"personalizations":[{"to":[{"email":"john_doe@example.com","name":"John Doe"}]}],
 "from":{"email":"orders@example.com","name":"Example Order Confirmation"},
 "subject":"Your Example Order Confirmation",
 "content":[{"type":"text/plain","value":"Thanks"},{"type":"text/html","value":"<p>Thanks</p>"}],
 "categories":["orders"],"custom_args":{"order_id":"123"}}`

func post(t *testing.T, s *sendgridtest.Server, auth string, body []byte) (*http.Response, string) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodPost, s.URL+"/v3/mail/send", bytes.NewReader(body))
	if auth != "" {
		req.Header.Set("Authorization", auth)
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp, string(b)
}

func TestAcceptsDocumentedExample(t *testing.T) {
	s := sendgridtest.New("SG.k")
	defer s.Close()
	resp, body := post(t, s, "Bearer SG.k", []byte(docExample))
	if resp.StatusCode != 202 || resp.Header.Get("X-Message-Id") == "" || body != "" {
		t.Fatalf("%d %q %q", resp.StatusCode, resp.Header.Get("X-Message-Id"), body)
	}
	got := s.Received()
	if len(got) != 1 || got[0].Mail.CustomArgs["order_id"] != "123" || got[0].MessageID != resp.Header.Get("X-Message-Id") {
		t.Errorf("%+v", got)
	}
}

func TestAuth(t *testing.T) {
	s := sendgridtest.New("SG.k")
	defer s.Close()
	for _, auth := range []string{"", "Bearer SG.other"} {
		if resp, body := post(t, s, auth, []byte(docExample)); resp.StatusCode != 401 || !strings.Contains(body, `"errors"`) {
			t.Errorf("auth %q: %d %s", auth, resp.StatusCode, body)
		}
	}
}

func TestValidation(t *testing.T) {
	s := sendgridtest.New("SG.k")
	defer s.Close()
	mutate := func(f func(m map[string]any)) []byte {
		var m map[string]any
		json.Unmarshal([]byte(docExample), &m)
		f(m)
		b, _ := json.Marshal(m)
		return b
	}
	many := make([]any, 1001)
	for i := range many {
		many[i] = map[string]any{"to": []any{map[string]any{"email": fmt.Sprintf("u%d@example.com", i)}}}
	}
	cases := map[string]struct {
		body  []byte
		field string
	}{
		"no from":               {mutate(func(m map[string]any) { delete(m, "from") }), "from.email"},
		"no personalization":    {mutate(func(m map[string]any) { m["personalizations"] = []any{} }), "personalizations"},
		"1001 personalizations": {mutate(func(m map[string]any) { m["personalizations"] = many }), "personalizations"},
		"no to":                 {mutate(func(m map[string]any) { m["personalizations"] = []any{map[string]any{}} }), "personalizations.0.to"},
		"no subject":            {mutate(func(m map[string]any) { delete(m, "subject") }), "subject"},
		"no content":            {mutate(func(m map[string]any) { delete(m, "content") }), "content"},
		"html before text":      {mutate(func(m map[string]any) { c := m["content"].([]any); m["content"] = []any{c[1], c[0]} }), "content"},
		"number custom arg":     {mutate(func(m map[string]any) { m["custom_args"] = map[string]any{"cw_message_id": 5} }), "custom_args.cw_message_id"},
	}
	for name, c := range cases {
		resp, body := post(t, s, "Bearer SG.k", c.body)
		if resp.StatusCode != 400 || !strings.Contains(body, `"field":"`+c.field+`"`) {
			t.Errorf("%s: %d %s", name, resp.StatusCode, body)
		}
	}
	// A subject in every personalization replaces the top-level one; a
	// template_id replaces content.
	ok := mutate(func(m map[string]any) {
		delete(m, "subject")
		delete(m, "content")
		m["template_id"] = "d-123"
		m["personalizations"] = []any{map[string]any{"to": []any{map[string]any{"email": "a@example.com"}}, "subject": "S"}}
	})
	if resp, body := post(t, s, "Bearer SG.k", ok); resp.StatusCode != 202 {
		t.Errorf("template + personalization subject: %d %s", resp.StatusCode, body)
	}
	if len(s.Received()) != 1 {
		t.Errorf("invalid requests recorded: %d", len(s.Received()))
	}
}

func TestTooLarge(t *testing.T) {
	s := sendgridtest.New("SG.k")
	defer s.Close()
	big := strings.Repeat("x", sendgridtest.MaxBody)
	body := []byte(strings.Replace(docExample, `"Thanks"`, `"`+big+`"`, 1))
	if resp, _ := post(t, s, "Bearer SG.k", body); resp.StatusCode != 413 {
		t.Errorf("%d, want 413", resp.StatusCode)
	}
}

func TestInjectedFailures(t *testing.T) {
	s := sendgridtest.New("SG.k")
	defer s.Close()
	s.RateLimitNext(1, 2*time.Second)
	s.FailNext(1, 503)
	resp, _ := post(t, s, "Bearer SG.k", []byte(docExample))
	if resp.StatusCode != 429 || resp.Header.Get("Retry-After") != "2" {
		t.Errorf("%d Retry-After %q", resp.StatusCode, resp.Header.Get("Retry-After"))
	}
	if resp, _ := post(t, s, "Bearer SG.k", []byte(docExample)); resp.StatusCode != 503 {
		t.Errorf("%d, want 503", resp.StatusCode)
	}
	if resp, _ := post(t, s, "Bearer SG.k", []byte(docExample)); resp.StatusCode != 202 {
		t.Errorf("%d, want 202", resp.StatusCode)
	}
	if s.Requests() != 3 || len(s.Received()) != 1 {
		t.Errorf("requests %d received %d", s.Requests(), len(s.Received()))
	}
}
