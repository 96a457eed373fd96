package sender_test

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jmoiron/sqlx"
	"github.com/riverqueue/river"
	"github.com/riverqueue/river/rivertype"

	"github.com/cartwheel/cartwheel/app/db/dbtest"
	"github.com/cartwheel/cartwheel/app/email"
	"github.com/cartwheel/cartwheel/app/email/internal/emailtest"
	"github.com/cartwheel/cartwheel/app/email/ledger"
	"github.com/cartwheel/cartwheel/app/email/providers"
	"github.com/cartwheel/cartwheel/app/email/render"
	"github.com/cartwheel/cartwheel/app/email/sender"
	"github.com/cartwheel/cartwheel/app/email/sendgridtest"
	"github.com/cartwheel/cartwheel/app/shops"
)

// counting wraps a provider and counts calls.
type counting struct {
	email.Provider
	calls atomic.Int64
	delay time.Duration
}

func (c *counting) Send(ctx context.Context, m email.Message) (email.Result, error) {
	c.calls.Add(1)
	if c.delay > 0 {
		time.Sleep(c.delay)
	}
	return c.Provider.Send(ctx, m)
}

type env struct {
	db   *sqlx.DB
	fake *sendgridtest.Server
	prov *counting
	s    *sender.Sender
	shop int64
}

func setup(t testing.TB, verifier sender.SenderVerifier) *env {
	t.Helper()
	db := dbtest.New(t)
	fake := sendgridtest.New("SG.k")
	t.Cleanup(fake.Close)
	sg, err := providers.NewSendGrid(providers.SendGridOptions{APIKey: "SG.k", BaseURL: fake.URL, RatePerShop: 100000, Backoff: time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	if verifier == nil {
		verifier = sender.AlwaysVerified
	}
	prov := &counting{Provider: sg}
	s, err := sender.New(sender.Deps{DB: db, Shops: shops.NewStore(db, nil), Provider: prov, Tracker: sender.NoTracking{}, Verifier: verifier,
		Templates: render.NewStore(db), Products: render.NewProductSource(db)}, sender.Options{})
	if err != nil {
		t.Fatal(err)
	}
	return &env{db: db, fake: fake, prov: prov, s: s, shop: emailtest.Shop(t, db)}
}

func campaign(shop, cust int64, to string, campaignID int) sender.Request {
	return sender.Request{ShopID: shop, CustomerID: cust, To: to, Kind: ledger.KindCampaign,
		DedupeKey: fmt.Sprintf("campaign:%d:customer:%d", campaignID, cust), Marketing: true,
		Subject: "Spring sale", HTML: "<p>Sale</p>", Text: "Sale"}
}

func TestSendRecordsTheLedger(t *testing.T) {
	e := setup(t, nil)
	ctx := context.Background()
	c := emailtest.Customer(t, e.db, e.shop, "ada@example.com", "subscribed")
	res, err := e.s.Send(ctx, campaign(e.shop, c, "ada@example.com", 1))
	if err != nil || res.Outcome != sender.OutcomeSent {
		t.Fatalf("%+v %v", res, err)
	}
	m, _ := ledger.Get(ctx, e.db, e.shop, res.MessageID)
	got := e.fake.Received()
	if len(got) != 1 || m.Status != ledger.Sent || m.Provider != "sendgrid" || m.ProviderMessageID.String != got[0].MessageID {
		t.Fatalf("row %+v, received %d", m, len(got))
	}
	ca := got[0].Mail.CustomArgs
	if ca["cw_message_id"] != fmt.Sprint(res.MessageID) || ca["cw_shop_id"] != fmt.Sprint(e.shop) {
		t.Errorf("custom_args %v", ca)
	}
	if got[0].Mail.From.Email != "hello@demo.example" || got[0].Mail.Categories[0] != "campaign" {
		t.Errorf("from %v categories %v", got[0].Mail.From, got[0].Mail.Categories)
	}
	// The same key again: no second provider call.
	res2, err := e.s.Send(ctx, campaign(e.shop, c, "ada@example.com", 1))
	if err != nil || res2.Outcome != sender.OutcomeDuplicate || res2.MessageID != res.MessageID || e.prov.calls.Load() != 1 {
		t.Errorf("resend: %+v %v calls %d", res2, err, e.prov.calls.Load())
	}
}

func TestExactlyOnceUnderConcurrency(t *testing.T) {
	e := setup(t, nil)
	e.prov.delay = 20 * time.Millisecond
	c := emailtest.Customer(t, e.db, e.shop, "ada@example.com", "subscribed")
	var wg sync.WaitGroup
	outcomes := make(chan string, 20)
	for i := 0; i < 20; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			res, err := e.s.Send(context.Background(), campaign(e.shop, c, "ada@example.com", 9))
			if err != nil {
				t.Error(err)
			}
			outcomes <- res.Outcome
		}()
	}
	wg.Wait()
	close(outcomes)
	sent := 0
	for o := range outcomes {
		if o == sender.OutcomeSent {
			sent++
		} else if o != sender.OutcomeDuplicate && o != sender.OutcomeInProgress {
			t.Errorf("outcome %q", o)
		}
	}
	var rows int
	e.db.Get(&rows, `SELECT count(*) FROM email_messages WHERE shop_id = $1`, e.shop)
	if sent != 1 || e.prov.calls.Load() != 1 || len(e.fake.Received()) != 1 || rows != 1 {
		t.Errorf("sent %d, provider calls %d, received %d, rows %d", sent, e.prov.calls.Load(), len(e.fake.Received()), rows)
	}
}

func TestWorkerDiedMidSendIsNotResent(t *testing.T) {
	e := setup(t, nil)
	ctx := context.Background()
	c := emailtest.Customer(t, e.db, e.shop, "ada@example.com", "subscribed")
	req := campaign(e.shop, c, "ada@example.com", 3)
	// A worker reserved and claimed the row, then died before recording the
	// provider's answer.
	id, _, _ := ledger.Reserve(ctx, e.db, ledger.Reservation{ShopID: e.shop, CustomerID: c, To: req.To, Kind: req.Kind, DedupeKey: req.DedupeKey, Marketing: true})
	ledger.Claim(ctx, e.db, e.shop, id, "sendgrid", nil)

	// The retry right away: someone may still be sending it.
	res, err := e.s.Send(ctx, req)
	if err != nil || res.Outcome != sender.OutcomeInProgress {
		t.Fatalf("fresh sending row: %+v %v", res, err)
	}
	// Later: interrupted, failed, never resent.
	e.db.Exec(`UPDATE email_messages SET sending_at = now() - interval '1 hour' WHERE id = $1`, id)
	res, err = e.s.Send(ctx, req)
	if err != nil || res.Outcome != sender.OutcomeFailed || res.Error != ledger.InterruptedReason {
		t.Fatalf("stale sending row: %+v %v", res, err)
	}
	res, _ = e.s.Send(ctx, req)
	m, _ := ledger.Get(ctx, e.db, e.shop, id)
	if e.prov.calls.Load() != 0 || m.Status != ledger.Failed || res.Outcome != sender.OutcomeFailed {
		t.Errorf("provider calls %d, row %s, outcome %s", e.prov.calls.Load(), m.Status, res.Outcome)
	}
	// A worker that died after reserving but before claiming never reached
	// the provider: the retry sends it.
	req2 := campaign(e.shop, c, "ada@example.com", 4)
	ledger.Reserve(ctx, e.db, ledger.Reservation{ShopID: e.shop, CustomerID: c, To: req2.To, Kind: req2.Kind, DedupeKey: req2.DedupeKey, Marketing: true})
	e.db.Exec(`UPDATE shops SET marketing_cap_hours = 0 WHERE id = $1`, e.shop)
	if res, err := e.s.Send(ctx, req2); err != nil || res.Outcome != sender.OutcomeSent {
		t.Errorf("queued leftover: %+v %v", res, err)
	}
	// FailInterrupted sweeps stale rows for a periodic job.
	id3, _, _ := ledger.Reserve(ctx, e.db, ledger.Reservation{ShopID: e.shop, To: "b@example.com", Kind: ledger.KindTest, DedupeKey: "test:x"})
	ledger.Claim(ctx, e.db, e.shop, id3, "sendgrid", nil)
	e.db.Exec(`UPDATE email_messages SET sending_at = now() - interval '1 hour' WHERE id = $1`, id3)
	if n, err := ledger.FailInterrupted(ctx, e.db, 0, 10*time.Minute); n != 1 || err != nil {
		t.Errorf("FailInterrupted %d %v", n, err)
	}
}

func TestRetryableThenPermanent(t *testing.T) {
	e := setup(t, nil)
	ctx := context.Background()
	c := emailtest.Customer(t, e.db, e.shop, "ada@example.com", "subscribed")
	e.fake.FailNext(3, 500) // the provider's 3 attempts
	req := campaign(e.shop, c, "ada@example.com", 5)
	res, err := e.s.Send(ctx, req)
	if err == nil || res.Outcome != sender.OutcomeRetry {
		t.Fatalf("%+v %v", res, err)
	}
	m, _ := ledger.Get(ctx, e.db, e.shop, res.MessageID)
	if m.Status != ledger.Queued || m.LastError == "" {
		t.Fatalf("after 500s: %+v", m)
	}
	// The job's retry sends it.
	res, err = e.s.Send(ctx, req)
	if err != nil || res.Outcome != sender.OutcomeSent {
		t.Fatalf("retry: %+v %v", res, err)
	}
	m, _ = ledger.Get(ctx, e.db, e.shop, res.MessageID)
	if m.Attempts != 2 || m.Status != ledger.Sent {
		t.Errorf("row %+v", m)
	}
	// A refused message fails for good, without an error (no job retry).
	e.db.Exec(`UPDATE shops SET sender_email = 'not-an-address' WHERE id = $1`, e.shop)
	res, err = e.s.Send(ctx, sender.Request{ShopID: e.shop, To: "x@example.com", Kind: ledger.KindTest, DedupeKey: "test:1", Subject: "t", Text: "t"})
	if err != nil || res.Outcome != sender.OutcomeFailed {
		t.Errorf("refused: %+v %v", res, err)
	}
}

func TestSkipRules(t *testing.T) {
	ctx := context.Background()
	unverified := sender.VerifierFunc(func(context.Context, int64) (bool, error) { return false, nil })

	t.Run("unverified sender", func(t *testing.T) {
		e := setup(t, unverified)
		c := emailtest.Customer(t, e.db, e.shop, "a@example.com", "subscribed")
		expectSkip(t, e, campaign(e.shop, c, "a@example.com", 1), sender.SkipSenderUnverified)
	})
	t.Run("uninstalled shop", func(t *testing.T) {
		e := setup(t, nil)
		c := emailtest.Customer(t, e.db, e.shop, "a@example.com", "subscribed")
		e.db.Exec(`UPDATE shops SET uninstalled_at = now(), access_token_enc = NULL WHERE id = $1`, e.shop)
		expectSkip(t, e, campaign(e.shop, c, "a@example.com", 1), sender.SkipShopNotInstalled)
	})
	t.Run("deleted profile", func(t *testing.T) {
		e := setup(t, nil)
		c := emailtest.Customer(t, e.db, e.shop, "a@example.com", "subscribed")
		e.db.Exec(`UPDATE customers SET deleted_at = now() WHERE id = $1`, c)
		expectSkip(t, e, campaign(e.shop, c, "a@example.com", 1), sender.SkipCustomerDeleted)
	})
	t.Run("suppressed", func(t *testing.T) {
		e := setup(t, nil)
		c := emailtest.Customer(t, e.db, e.shop, "Ada@Example.com", "subscribed")
		e.db.Exec(`INSERT INTO suppressions (shop_id, email, reason) VALUES ($1, 'ada@example.com', 'bounced')`, e.shop)
		expectSkip(t, e, campaign(e.shop, c, "Ada@Example.com", 1), sender.SkipSuppressed)
		// Transactional mail bypasses consent but not suppression.
		expectSkip(t, e, sender.Request{ShopID: e.shop, CustomerID: c, To: "ada@example.com", Kind: ledger.KindSystem,
			DedupeKey: "system:1", Subject: "s", Text: "t"}, sender.SkipSuppressed)
	})
	t.Run("consent", func(t *testing.T) {
		e := setup(t, nil)
		for i, consent := range []string{"unsubscribed", "not_subscribed", "pending"} {
			c := emailtest.Customer(t, e.db, e.shop, fmt.Sprintf("c%d@example.com", i), consent)
			expectSkip(t, e, campaign(e.shop, c, fmt.Sprintf("c%d@example.com", i), 1), sender.SkipNotConsented)
			// Transactional: no consent needed.
			res, err := e.s.Send(ctx, sender.Request{ShopID: e.shop, CustomerID: c, To: fmt.Sprintf("c%d@example.com", i),
				Kind: ledger.KindSystem, DedupeKey: fmt.Sprintf("system:%d", i), Subject: "s", Text: "t"})
			if err != nil || res.Outcome != sender.OutcomeSent {
				t.Errorf("transactional to %s: %+v %v", consent, res, err)
			}
		}
	})
	t.Run("marketing cap 16h", func(t *testing.T) {
		e := setup(t, nil)
		e.db.MustExec(`UPDATE shops SET campaign_skip_days = 0 WHERE id = $1`, e.shop) // the cap alone
		c := emailtest.Customer(t, e.db, e.shop, "a@example.com", "subscribed")
		first, err := e.s.Send(ctx, campaign(e.shop, c, "a@example.com", 1))
		if err != nil || first.Outcome != sender.OutcomeSent {
			t.Fatal(first, err)
		}
		expectSkip(t, e, campaign(e.shop, c, "a@example.com", 2), sender.SkipFrequencyCap)
		e.db.Exec(`UPDATE email_messages SET sent_at = now() - interval '15 hours' WHERE id = $1`, first.MessageID)
		expectSkip(t, e, campaign(e.shop, c, "a@example.com", 3), sender.SkipFrequencyCap)
		e.db.Exec(`UPDATE email_messages SET sent_at = now() - interval '17 hours' WHERE id = $1`, first.MessageID)
		if res, err := e.s.Send(ctx, campaign(e.shop, c, "a@example.com", 4)); err != nil || res.Outcome != sender.OutcomeSent {
			t.Errorf("after 17h: %+v %v", res, err)
		}
	})
	t.Run("campaign frequency window", func(t *testing.T) {
		e := setup(t, nil)
		e.db.MustExec(`UPDATE shops SET marketing_cap_hours = 0, campaign_skip_days = 3 WHERE id = $1`, e.shop)
		c := emailtest.Customer(t, e.db, e.shop, "a@example.com", "subscribed")
		flow := sender.Request{ShopID: e.shop, CustomerID: c, To: "a@example.com", Kind: ledger.KindFlow, Marketing: true,
			Source: ledger.Source{FlowRunID: 1, FlowStep: "1"}, Subject: "s", Text: "t"}
		first, err := e.s.Send(ctx, flow)
		if err != nil || first.Outcome != sender.OutcomeSent {
			t.Fatal(first, err)
		}
		// A flow email counts toward the window of a campaign.
		expectSkip(t, e, campaign(e.shop, c, "a@example.com", 1), sender.SkipFrequencyWindow)
		e.db.MustExec(`UPDATE email_messages SET sent_at = now() - interval '71 hours' WHERE id = $1`, first.MessageID)
		expectSkip(t, e, campaign(e.shop, c, "a@example.com", 2), sender.SkipFrequencyWindow)
		// A second flow email is the engine's business, not the window's.
		flow.Source.FlowRunID = 2
		if res, err := e.s.Send(ctx, flow); err != nil || res.Outcome != sender.OutcomeSent {
			t.Fatalf("flow email inside the window: %+v %v", res, err)
		}
		e.db.MustExec(`UPDATE email_messages SET sent_at = now() - interval '73 hours' WHERE customer_id = $1 AND sent_at IS NOT NULL`, c)
		if res, err := e.s.Send(ctx, campaign(e.shop, c, "a@example.com", 3)); err != nil || res.Outcome != sender.OutcomeSent {
			t.Errorf("after the window: %+v %v", res, err)
		}
	})
	t.Run("flow emails are capped by the engine, not again here", func(t *testing.T) {
		e := setup(t, nil)
		c := emailtest.Customer(t, e.db, e.shop, "a@example.com", "subscribed")
		if res, _ := e.s.Send(ctx, campaign(e.shop, c, "a@example.com", 1)); res.Outcome != sender.OutcomeSent {
			t.Fatalf("campaign: %+v", res)
		}
		// The engine let this one through (a higher-priority flow, or the
		// cap had passed when its step ran): the sender sends it.
		flow := sender.Request{ShopID: e.shop, CustomerID: c, To: "a@example.com", Kind: ledger.KindFlow, Marketing: true,
			Source: ledger.Source{FlowRunID: 1, FlowStep: "1"}, Subject: "s", Text: "t"}
		if res, _ := e.s.Send(ctx, flow); res.Outcome != sender.OutcomeSent {
			t.Fatalf("flow email right after a campaign: %+v, want sent", res)
		}
		// A campaign is still held by the cap.
		expectSkip(t, e, campaign(e.shop, c, "a@example.com", 2), sender.SkipFrequencyCap)
	})
	t.Run("test sends need no profile", func(t *testing.T) {
		e := setup(t, nil)
		res, err := e.s.Send(ctx, sender.Request{ShopID: e.shop, To: "merchant@demo.example", Kind: ledger.KindTest, DedupeKey: "test:abc", Subject: "s", HTML: "<p>x</p>"})
		if err != nil || res.Outcome != sender.OutcomeSent {
			t.Errorf("%+v %v", res, err)
		}
	})
}

func expectSkip(t *testing.T, e *env, req sender.Request, reason string) {
	t.Helper()
	before := e.prov.calls.Load()
	res, err := e.s.Send(context.Background(), req)
	if err != nil || res.Outcome != sender.OutcomeSkipped || res.SkipReason != reason {
		t.Fatalf("%s: %+v %v", reason, res, err)
	}
	m, _ := ledger.Get(context.Background(), e.db, req.ShopID, res.MessageID)
	if m.Status != ledger.Skipped || m.SkipReason != reason || e.prov.calls.Load() != before {
		t.Errorf("%s: row %s/%s, provider called %d times", reason, m.Status, m.SkipReason, e.prov.calls.Load()-before)
	}
}

func TestOutboxProvider(t *testing.T) {
	db := dbtest.New(t)
	ctx := context.Background()
	shop := emailtest.Shop(t, db)
	ob := providers.NewOutbox(db)
	s, _ := sender.New(sender.Deps{DB: db, Shops: shops.NewStore(db, nil), Provider: ob, Tracker: sender.NoTracking{}, Verifier: sender.AlwaysVerified,
		Templates: render.NewStore(db), Products: render.NewProductSource(db)}, sender.Options{})
	res, err := s.Send(ctx, sender.Request{ShopID: shop, To: "m@demo.example", Kind: ledger.KindTest, DedupeKey: "test:1",
		Subject: "Preview", HTML: "<p>Hi</p>", Text: "Hi", Headers: map[string]string{"List-Unsubscribe": "<https://u>"}})
	if err != nil || res.Outcome != sender.OutcomeSent {
		t.Fatalf("%+v %v", res, err)
	}
	list, err := ob.List(ctx, shop, 0, 10)
	if err != nil || len(list) != 1 {
		t.Fatalf("%v %v", list, err)
	}
	m := list[0]
	if m.MessageID != res.MessageID || m.HTML != "<p>Hi</p>" || m.Text != "Hi" || m.Subject != "Preview" ||
		m.Headers["List-Unsubscribe"] != "<https://u>" || m.Headers["From"] != `"Demo Store" <hello@demo.example>` || res.ProviderID != fmt.Sprintf("outbox-%d", m.ID) {
		t.Errorf("stored %+v (provider id %s)", m, res.ProviderID)
	}
	if other, _ := ob.List(ctx, emailtest.Shop(t, db), 0, 10); len(other) != 0 {
		t.Error("another shop sees the outbox")
	}
}

// The periodic sweep settles a row a dead worker left in sending, across
// shops, and leaves fresh ones to their worker.
func TestSweepSettlesInterruptedRows(t *testing.T) {
	e := setup(t, nil)
	ctx := context.Background()
	e.db.MustExec(`INSERT INTO email_messages (shop_id, to_email, kind, dedupe_key, status, sending_at)
		VALUES ($1, 'a@example.com', 'campaign', 'campaign:1:customer:1', 'sending', now() - interval '1 hour'),
		       ($1, 'b@example.com', 'campaign', 'campaign:1:customer:2', 'sending', now())`, e.shop)
	w := sender.NewSweepWorker(e.s)
	if err := w.Work(ctx, &river.Job[sender.SweepArgs]{JobRow: &rivertype.JobRow{}}); err != nil {
		t.Fatal(err)
	}
	var statuses []string
	e.db.Select(&statuses, `SELECT status FROM email_messages ORDER BY dedupe_key`)
	if len(statuses) != 2 || statuses[0] != "failed" || statuses[1] != "sending" {
		t.Fatalf("statuses %v", statuses)
	}
}
