package tracking_test

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jmoiron/sqlx"
	"github.com/lib/pq"
	"github.com/riverqueue/river"
	"github.com/riverqueue/river/rivertype"

	"github.com/cartwheel/cartwheel/app/customers"
	"github.com/cartwheel/cartwheel/app/db/dbtest"
	"github.com/cartwheel/cartwheel/app/email"
	"github.com/cartwheel/cartwheel/app/email/tracking"
)

// fakeJobs records the jobs queued in committed and rolled-back
// transactions alike (tests look at what the code asked for).
type fakeJobs struct {
	mu   sync.Mutex
	args []river.JobArgs
}

func (f *fakeJobs) InsertTx(_ context.Context, _ *sql.Tx, a river.JobArgs, _ *river.InsertOpts) (*rivertype.JobInsertResult, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.args = append(f.args, a)
	return &rivertype.JobInsertResult{}, nil
}

func (f *fakeJobs) pushes() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	n := 0
	for _, a := range f.args {
		if a.Kind() == (customers.ConsentPushArgs{}).Kind() {
			n++
		}
	}
	return n
}

type env struct {
	t    *testing.T
	db   *sqlx.DB
	svc  *tracking.Service
	tk   *tracking.Tokens
	jobs *fakeJobs
	now  time.Time
}

func newEnv(t *testing.T) *env {
	d := dbtest.New(t)
	e := &env{t: t, db: d, tk: newTokens(t), jobs: &fakeJobs{}, now: time.Now()}
	e.svc = tracking.New(tracking.Deps{DB: d, Tokens: e.tk, Customers: customers.NewStore(d), Jobs: e.jobs,
		Now: func() time.Time { return e.now }})
	return e
}

func (e *env) exec(q string, args ...any) {
	e.t.Helper()
	if _, err := e.db.Exec(q, args...); err != nil {
		e.t.Fatal(err)
	}
}

func (e *env) id(q string, args ...any) int64 {
	e.t.Helper()
	var id int64
	if err := e.db.Get(&id, q, args...); err != nil {
		e.t.Fatal(err)
	}
	return id
}

func (e *env) shop(domain string) int64 {
	return e.id(`INSERT INTO shops (domain, name) VALUES ($1, $2) RETURNING id`, domain, "Shop "+domain)
}

func (e *env) customer(shop int64, addr, consent string) int64 {
	return e.id(`INSERT INTO customers (shop_id, email, email_consent, shopify_id)
		VALUES ($1, $2, $3, (SELECT COALESCE(max(shopify_id), 1000) + 1 FROM customers)) RETURNING id`, shop, addr, consent)
}

// message is a ledger row as the sender leaves it after handing it off.
func (e *env) message(shop, customer int64, to string, links ...string) int64 {
	if links == nil {
		links = []string{}
	}
	var cid any
	if customer != 0 {
		cid = customer
	}
	return e.id(`INSERT INTO email_messages (shop_id, customer_id, to_email, kind, dedupe_key, links, marketing, status, sent_at)
		VALUES ($1, $2, $3, 'campaign', 'campaign:12:customer:' || md5(random()::text), $4, true, 'sent', $5) RETURNING id`,
		shop, cid, to, pq.Array(links), e.now.Add(-time.Hour))
}

func (e *env) str(q string, args ...any) string {
	e.t.Helper()
	var s string
	if err := e.db.Get(&s, q, args...); err != nil {
		e.t.Fatal(err)
	}
	return s
}

func (e *env) count(q string, args ...any) int {
	e.t.Helper()
	var n int
	if err := e.db.Get(&n, q, args...); err != nil {
		e.t.Fatal(err)
	}
	return n
}

const browserUA = "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.0 Safari/605.1.15"

func TestClickRedirectsOnlyToStoredLinks(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	shop := e.shop("a.myshopify.com")
	c := e.customer(shop, "ada@example.com", "subscribed")
	msg := e.message(shop, c, "ada@example.com", "https://a.example/hat?utm_source=news", "https://a.example/sale")

	got, err := e.svc.Click(ctx, e.tk.ClickToken(msg, 1), tracking.Request{Method: "GET", UserAgent: browserUA, IP: "203.0.113.9"})
	if err != nil || got != "https://a.example/sale?utm_campaign=campaign-12&utm_medium=email&utm_source=cartwheel" {
		t.Fatalf("click = %q, %v", got, err)
	}
	got, _ = e.svc.Click(ctx, e.tk.ClickToken(msg, 0), tracking.Request{Method: "GET", UserAgent: browserUA})
	if u, _ := url.Parse(got); u.Query().Get("utm_source") != "news" || u.Query().Get("utm_medium") != "email" {
		t.Errorf("existing UTM clobbered: %s", got)
	}
	if _, err := e.svc.Click(ctx, e.tk.ClickToken(msg, 2), tracking.Request{Method: "GET"}); !errors.Is(err, tracking.ErrNotFound) {
		t.Errorf("index out of range: %v", err)
	}
	if _, err := e.svc.Click(ctx, e.tk.ClickToken(msg+999, 0), tracking.Request{Method: "GET"}); !errors.Is(err, tracking.ErrNotFound) {
		t.Errorf("unknown message: %v", err)
	}
	tok := e.tk.ClickToken(msg, 1)
	if _, err := e.svc.Click(ctx, tok[:len(tok)-2]+"AA", tracking.Request{Method: "GET"}); !errors.Is(err, tracking.ErrBadToken) {
		t.Errorf("tampered: %v", err)
	}
	// A HEAD (link scanner) is recorded as machine activity.
	if _, err := e.svc.Click(ctx, e.tk.ClickToken(msg, 1), tracking.Request{Method: "HEAD", UserAgent: browserUA}); err != nil {
		t.Fatal(err)
	}
	if n := e.count(`SELECT count(*) FROM email_events WHERE message_id = $1 AND kind = 'click' AND NOT machine`, msg); n != 2 {
		t.Errorf("%d human clicks, want 2", n)
	}
	if n := e.count(`SELECT count(*) FROM email_events WHERE message_id = $1 AND kind = 'click' AND machine`, msg); n != 1 {
		t.Errorf("%d machine clicks, want 1", n)
	}
	if ip := e.str(`SELECT ip FROM email_events WHERE message_id = $1 AND link_index = 1 ORDER BY id LIMIT 1`, msg); ip != "203.0.113.0" {
		t.Errorf("stored ip %q, want truncated", ip)
	}
	if st := e.str(`SELECT status FROM email_messages WHERE id = $1`, msg); st != "clicked" {
		t.Errorf("status %q", st)
	}

	// A click within 2 s of delivery is a scanner, even with a browser UA.
	msg2 := e.message(shop, c, "ada@example.com", "https://a.example/x")
	e.exec(`INSERT INTO email_events (shop_id, message_id, source, kind, occurred_at) VALUES ($1, $2, 'sendgrid', 'delivered', $3)`,
		shop, msg2, e.now.Add(-time.Second))
	e.svc.Click(ctx, e.tk.ClickToken(msg2, 0), tracking.Request{Method: "GET", UserAgent: browserUA})
	if n := e.count(`SELECT count(*) FROM email_events WHERE message_id = $1 AND kind = 'click' AND machine`, msg2); n != 1 {
		t.Errorf("fast click not flagged")
	}
}

func TestOpenFlagsApplePrivacyProxy(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	shop := e.shop("a.myshopify.com")
	msg := e.message(shop, e.customer(shop, "ada@example.com", "subscribed"), "ada@example.com")
	if err := e.svc.Open(ctx, e.tk.OpenToken(msg), tracking.Request{Method: "GET", UserAgent: "Mozilla/5.0", IP: "17.58.0.1"}); err != nil {
		t.Fatal(err)
	}
	if st := e.str(`SELECT status FROM email_messages WHERE id = $1`, msg); st != "sent" {
		t.Errorf("machine open moved status to %q", st)
	}
	if err := e.svc.Open(ctx, e.tk.OpenToken(msg), tracking.Request{Method: "GET", UserAgent: browserUA}); err != nil {
		t.Fatal(err)
	}
	if n := e.count(`SELECT count(*) FROM email_events WHERE message_id = $1 AND kind = 'open' AND machine`, msg); n != 1 {
		t.Errorf("%d machine opens, want 1", n)
	}
	if n := e.count(`SELECT count(*) FROM email_events WHERE message_id = $1 AND kind = 'open' AND NOT machine`, msg); n != 1 {
		t.Errorf("%d human opens, want 1", n)
	}
	if st := e.str(`SELECT status FROM email_messages WHERE id = $1`, msg); st != "opened" {
		t.Errorf("status %q", st)
	}
	if err := e.svc.Open(ctx, e.tk.ClickToken(msg, 0), tracking.Request{}); !errors.Is(err, tracking.ErrBadToken) {
		t.Errorf("click token as open: %v", err)
	}
}

func TestUnsubscribeAndResubscribe(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	shop := e.shop("a.myshopify.com")
	c := e.customer(shop, "ada@example.com", "subscribed")
	e.exec(`UPDATE customers SET locale = 'zh-CN' WHERE id = $1`, c)
	msg := e.message(shop, c, "ada@example.com")
	tok := e.tk.UnsubscribeToken(msg)

	r, err := e.svc.Recipient(ctx, tok)
	if err != nil || r.ShopName != "Shop a.myshopify.com" || r.MaskedEmail != "a***@example.com" || r.Unsubscribed || r.Locale != "zh-CN" {
		t.Fatalf("recipient = %+v, %v", r, err)
	}
	if _, err := e.svc.Unsubscribe(ctx, tok[:5]+"x"+tok[6:], "one_click"); !errors.Is(err, tracking.ErrBadToken) {
		t.Fatalf("tampered: %v", err)
	}
	if e.str(`SELECT email_consent FROM customers WHERE id = $1`, c) != "subscribed" || e.jobs.pushes() != 0 {
		t.Fatal("tampered token changed something")
	}
	r, err = e.svc.Unsubscribe(ctx, tok, "one_click")
	if err != nil || !r.Unsubscribed {
		t.Fatalf("unsubscribe = %+v, %v", r, err)
	}
	if e.str(`SELECT email_consent FROM customers WHERE id = $1`, c) != "unsubscribed" || e.jobs.pushes() != 1 {
		t.Fatalf("consent %s, pushes %d", e.str(`SELECT email_consent FROM customers WHERE id = $1`, c), e.jobs.pushes())
	}
	if e.str(`SELECT source FROM consent_events WHERE customer_id = $1 ORDER BY id DESC LIMIT 1`, c) != "one_click" {
		t.Error("consent event source")
	}
	if e.str(`SELECT status FROM email_messages WHERE id = $1`, msg) != "unsubscribed" {
		t.Error("ledger status not unsubscribed")
	}
	// Again: no change, no second push.
	if _, err := e.svc.Unsubscribe(ctx, tok, "unsubscribe"); err != nil || e.jobs.pushes() != 1 {
		t.Fatalf("repeat: %v, pushes %d", err, e.jobs.pushes())
	}
	r, err = e.svc.Resubscribe(ctx, tok)
	if err != nil || r.Unsubscribed || e.str(`SELECT email_consent FROM customers WHERE id = $1`, c) != "subscribed" || e.jobs.pushes() != 2 {
		t.Fatalf("resubscribe = %+v, %v, pushes %d", r, err, e.jobs.pushes())
	}
	if e.str(`SELECT source FROM consent_events WHERE customer_id = $1 ORDER BY id DESC LIMIT 1`, c) != "resubscribe" {
		t.Error("resubscribe source")
	}

	// No profile (a test send): the address is suppressed instead, and lifted on re-subscribe.
	m2 := e.message(shop, 0, "Merchant@Example.com")
	if _, err := e.svc.Unsubscribe(ctx, e.tk.UnsubscribeToken(m2), "unsubscribe"); err != nil {
		t.Fatal(err)
	}
	if e.str(`SELECT reason FROM suppressions WHERE shop_id = $1 AND email = 'merchant@example.com'`, shop) != "unsubscribed" {
		t.Error("no suppression without profile")
	}
	if _, err := e.svc.Resubscribe(ctx, e.tk.UnsubscribeToken(m2)); err != nil ||
		e.count(`SELECT count(*) FROM suppressions WHERE shop_id = $1`, shop) != 0 {
		t.Errorf("resubscribe without profile: %v", err)
	}
}

// fakeProvider records what it was asked to send.
type fakeProvider struct {
	mu   sync.Mutex
	sent []email.Message
	err  error
}

func (f *fakeProvider) Name() string { return "fake" }
func (f *fakeProvider) Send(_ context.Context, m email.Message) (email.Result, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.err != nil {
		return email.Result{}, f.err
	}
	f.sent = append(f.sent, m)
	return email.Result{ProviderID: fmt.Sprintf("fake-%d", len(f.sent))}, nil
}

func TestSenderVerification(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	shop := e.shop("a.myshopify.com")
	prov := &fakeProvider{}
	now := time.Now()
	v := tracking.NewSenderVerifier(e.db, prov, "https://cartwheel.test", email.Address{}, func() time.Time { return now })

	if err := v.Start(ctx, shop); !errors.Is(err, tracking.ErrNoSenderEmail) {
		t.Fatalf("no sender email: %v", err)
	}
	e.exec(`UPDATE shops SET sender_email = 'hello@shop.example' WHERE id = $1`, shop)
	if ok, err := v.Verified(ctx, shop); ok || err != nil {
		t.Fatalf("verified before confirming: %v %v", ok, err)
	}
	if err := v.Start(ctx, shop); err != nil {
		t.Fatal(err)
	}
	if len(prov.sent) != 1 {
		t.Fatalf("%d emails sent", len(prov.sent))
	}
	m := prov.sent[0]
	if m.Subject != "Confirm your Cartwheel sender email" || m.To.Email != "hello@shop.example" || m.From.Email != "no-reply@cartwheel.test" || m.ID == 0 {
		t.Fatalf("email = %+v", m)
	}
	if e.str(`SELECT status FROM email_messages WHERE id = $1`, m.ID) != "sent" {
		t.Error("ledger row not sent")
	}
	if err := v.Start(ctx, shop); !errors.Is(err, tracking.ErrResendTooSoon) {
		t.Errorf("resend within a minute: %v", err)
	}
	i := strings.Index(m.Text, "https://cartwheel.test/email/verify/")
	if i < 0 {
		t.Fatalf("no link in %q", m.Text)
	}
	token := strings.Fields(m.Text[i+len("https://cartwheel.test/email/verify/"):])[0]
	if !strings.Contains(m.HTML, token) {
		t.Error("link missing from HTML")
	}
	st, _ := v.Status(ctx, shop)
	if st.Verified || st.SentAt == nil || st.Email != "hello@shop.example" {
		t.Errorf("status before confirm = %+v", st)
	}
	if _, err := v.Confirm(ctx, token[:len(token)-1]+"x"); !errors.Is(err, tracking.ErrSenderToken) {
		t.Errorf("tampered confirm: %v", err)
	}
	if id, err := v.Confirm(ctx, token); err != nil || id != shop {
		t.Fatalf("confirm = %d, %v", id, err)
	}
	if ok, err := v.SenderVerified(ctx, shop); !ok || err != nil {
		t.Fatalf("not verified after confirm: %v", err)
	}
	// Changing the sender email in Settings: unverified until the new one is confirmed.
	e.exec(`UPDATE shops SET sender_email = 'news@shop.example' WHERE id = $1`, shop)
	if ok, _ := v.Verified(ctx, shop); ok {
		t.Error("still verified after the address changed")
	}
	now = now.Add(2 * time.Minute)
	if err := v.Start(ctx, shop); err != nil || len(prov.sent) != 2 || prov.sent[1].To.Email != "news@shop.example" {
		t.Fatalf("resend for new address: %v", err)
	}
	// The old link no longer confirms anything.
	if _, err := v.Confirm(ctx, token); err != nil {
		// Confirming an already-verified old address is harmless only while it is current.
		if !errors.Is(err, tracking.ErrSenderToken) {
			t.Fatal(err)
		}
	}
	if ok, _ := v.Verified(ctx, shop); ok {
		t.Error("old link verified the new address")
	}
	// Provider failure: the ledger row is failed and the error returned.
	now = now.Add(2 * time.Minute)
	prov.err = errors.New("boom")
	if err := v.Start(ctx, shop); err == nil {
		t.Error("provider failure not reported")
	}
	if e.count(`SELECT count(*) FROM email_messages WHERE shop_id = $1 AND kind = 'system' AND status = 'failed'`, shop) != 1 {
		t.Error("failed send not recorded")
	}
	if len(tracking.DNSRecords("news@Shop.Example")) != 4 || tracking.DNSRecords("bad") != nil {
		t.Error("DNS records")
	}
}
