package providers_test

import (
	"context"
	"errors"
	"fmt"
	"html"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"

	"github.com/cartwheel/cartwheel/app/email"
	"github.com/cartwheel/cartwheel/app/email/providers"
	"github.com/cartwheel/cartwheel/app/email/tracking"
)

// personalised returns the message a campaign sends recipient i: the same
// template, their name in the heading and the text, their address where a
// merge tag puts it, and tracked by the real tracker (click, open and
// unsubscribe tokens of their own).
func personalised(t *testing.T, tr *tracking.Tracker, id int64, first, last, addr string) email.Message {
	t.Helper()
	body := `<html><body><h1>Hello ` + html.EscapeString(first) + `</h1><p>Dear ` + html.EscapeString(first) + ` ` + html.EscapeString(last) +
		`, see <a href="https://shop.example/spring">spring</a> and <a href="https://shop.example/sale">the sale</a>. Sent to ` +
		html.EscapeString(addr) + `.</p><p><a href="{{ unsubscribe_url }}">Unsubscribe</a></p></body></html>`
	text := "Hello " + first + "\nDear " + first + " " + last + ", see https://shop.example/spring. Sent to " + addr + ".\nUnsubscribe: {{ unsubscribe_url }}"
	dec, err := tr.Decorate(7, id, body, text, true)
	if err != nil {
		t.Fatal(err)
	}
	return email.Message{
		ID: id, ShopID: 7,
		To:         email.Address{Name: first + " " + last, Email: addr},
		From:       email.Address{Name: "Demo Store", Email: "hello@demo.example"},
		Subject:    first + ", new in: spring",
		HTML:       dec.HTML,
		Text:       dec.Text,
		Headers:    dec.Headers,
		Categories: []string{"campaign", "campaign:3", "template:5"},
		Personal:   append(append([]string(nil), dec.Personal...), first, last, addr),
	}
}

func newTracker(t *testing.T) *tracking.Tracker {
	t.Helper()
	tokens, err := tracking.NewTokens([]byte("0123456789abcdef0123456789abcdef"))
	if err != nil {
		t.Fatal(err)
	}
	return tracking.NewTracker("https://app.example", tokens)
}

// 2,500 personalised, tracked recipients (one address twice, a name that
// needs HTML escaping, a first name that also occurs in the template's own
// text) go in requests of at most 1,000 personalizations with no address
// twice in one request; every recipient receives, once SendGrid has
// applied the substitutions, exactly the email they would have got alone:
// their own name, address, unsubscribe link, open pixel and click links,
// and no one else's tokens; their List-Unsubscribe header and custom_args
// are their own.
func TestSendGridBatchGivesEveryoneTheirOwnEmail(t *testing.T) {
	sg, fake := newSG(t, providers.SendGridOptions{RatePerShop: 1e6})
	tr := newTracker(t)
	const n = 2500
	var ms []email.Message
	for i := 0; i < n; i++ {
		first, last, addr := fmt.Sprintf("Name%d", i), "Family", fmt.Sprintf("r%d@example.com", i)
		switch i {
		case 10:
			first, last = `Zoë & "Al"`, "O'Brien <x>"
		case 11:
			addr = "r10@example.com" // the same mailbox as recipient 10, another ledger row
		case 12:
			first = "spring" // also in the template's own text: its body differs beyond the merge tags
		}
		ms = append(ms, personalised(t, tr, int64(1000+i), first, last, addr))
	}
	out := sg.SendBatch(context.Background(), ms)
	for i, o := range out {
		if o.Err != nil || o.Result.ProviderID == "" {
			t.Fatalf("message %d: %+v", i, o)
		}
	}
	got := fake.Received()
	batched := 0
	for _, r := range got {
		if len(r.Mail.Personalizations) > providers.MaxPersonalizations {
			t.Errorf("a request of %d personalizations", len(r.Mail.Personalizations))
		}
		seen := map[string]bool{}
		for _, p := range r.Mail.Personalizations {
			a := strings.ToLower(p.To[0].Email)
			if seen[a] {
				t.Errorf("%s twice in one request", a)
			}
			seen[a] = true
		}
		if len(r.Mail.Personalizations) > 1 {
			batched += len(r.Mail.Personalizations)
		}
	}
	if len(got) > 6 || batched < n-3 {
		t.Errorf("%d requests, %d recipients batched; want a few requests carrying nearly all %d", len(got), batched, n)
	}
	byID := map[string]email.Message{}
	for _, m := range ms {
		byID[strconv.FormatInt(m.ID, 10)] = m
	}
	deliveries := fake.Deliveries()
	if len(deliveries) != n {
		t.Fatalf("%d deliveries, want %d", len(deliveries), n)
	}
	for _, d := range deliveries {
		id, _ := d.CustomArgs["cw_message_id"].(string)
		m, ok := byID[id]
		if !ok {
			t.Fatalf("a delivery with cw_message_id %q", id)
		}
		delete(byID, id)
		if d.To.Email != m.To.Email || d.Subject != m.Subject || d.HTML != m.HTML || d.Text != m.Text {
			t.Errorf("message %s: received to %s subject %q, html same %v, text same %v", id, d.To.Email, d.Subject, d.HTML == m.HTML, d.Text == m.Text)
		}
		if d.Headers["List-Unsubscribe"] != m.Headers["List-Unsubscribe"] || d.CustomArgs["cw_shop_id"] != "7" {
			t.Errorf("message %s: headers %v args %v", id, d.Headers, d.CustomArgs)
		}
		// Nobody else's tokens: the open token of the next message is not
		// in this one.
		mid, _ := strconv.ParseInt(id, 10, 64)
		other, _ := tr.Decorate(7, mid+1, "<html><body></body></html>", "", true)
		if strings.Contains(d.HTML, other.Personal[1]) {
			t.Errorf("message %s holds message %d's open token", id, mid+1)
		}
	}
	if len(byID) != 0 {
		t.Errorf("%d messages never delivered", len(byID))
	}
}

// A batch request's outcome is all its messages': SendGrid's 503 (after
// the provider's own attempts) means none was taken (retryable for all);
// a connection cut after the request went out means any may have been
// (outcome unknown for all: the sender fails them, never resends).
func TestSendGridBatchOutcomes(t *testing.T) {
	tr := newTracker(t)
	var ms []email.Message
	for i := 0; i < 5; i++ {
		ms = append(ms, personalised(t, tr, int64(10+i), fmt.Sprintf("N%d", i), "F", fmt.Sprintf("o%d@example.com", i)))
	}
	t.Run("retryable", func(t *testing.T) {
		sg, fake := newSG(t, providers.SendGridOptions{RatePerShop: 1e6, Attempts: 2})
		fake.FailNext(2, 503)
		for i, o := range sg.SendBatch(context.Background(), ms) {
			if !errors.Is(o.Err, email.ErrRetryable) {
				t.Errorf("message %d: %v, want retryable", i, o.Err)
			}
		}
		if fake.Requests() != 2 || len(fake.Received()) != 0 {
			t.Errorf("%d requests, %d accepted", fake.Requests(), len(fake.Received()))
		}
	})
	t.Run("outcome unknown", func(t *testing.T) {
		cut := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			_, _ = r.Body.Read(make([]byte, 1<<16))
			panic(http.ErrAbortHandler) // the request arrived; the answer never comes
		}))
		defer cut.Close()
		sg, err := providers.NewSendGrid(providers.SendGridOptions{APIKey: key, BaseURL: cut.URL, RatePerShop: 1e6})
		if err != nil {
			t.Fatal(err)
		}
		for i, o := range sg.SendBatch(context.Background(), ms) {
			if !errors.Is(o.Err, providers.ErrOutcomeUnknown) {
				t.Errorf("message %d: %v, want outcome unknown", i, o.Err)
			}
		}
	})
}

// The fake refuses what SendGrid refuses in a batch: more than 1,000
// personalizations, an address twice in one request.
func TestSendGridFakeRefusesBadBatches(t *testing.T) {
	_, fake := newSG(t, providers.SendGridOptions{})
	post := func(body string) int {
		req, _ := http.NewRequest(http.MethodPost, fake.URL+"/v3/mail/send", strings.NewReader(body))
		req.Header.Set("Authorization", "Bearer "+key)
		req.Header.Set("Content-Type", "application/json")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	mail := func(addrs ...string) string {
		var ps []string
		for _, a := range addrs {
			ps = append(ps, `{"to":[{"email":"`+a+`"}],"subject":"s","substitutions":{"-n-":"x"}}`)
		}
		return `{"personalizations":[` + strings.Join(ps, ",") + `],"from":{"email":"a@b.example"},"content":[{"type":"text/plain","value":"hi -n-"}]}`
	}
	if code := post(mail("a@x.example", "b@x.example")); code != http.StatusAccepted {
		t.Fatalf("a valid batch: %d", code)
	}
	if code := post(mail("a@x.example", "A@x.example")); code != http.StatusBadRequest {
		t.Errorf("an address twice: %d, want 400", code)
	}
	var many []string
	for i := 0; i < 1001; i++ {
		many = append(many, fmt.Sprintf("m%d@x.example", i))
	}
	if code := post(mail(many...)); code != http.StatusBadRequest {
		t.Errorf("1,001 personalizations: %d, want 400", code)
	}
	if d := fake.Deliveries(); len(d) != 2 || d[0].Text != "hi x" {
		t.Errorf("deliveries %+v", d)
	}
}
