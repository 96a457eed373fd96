package tracking_test

import (
	"context"
	"io"
	"log/slog"
	"testing"
	"time"

	"github.com/riverqueue/river"

	"github.com/cartwheel/cartwheel/app/customers"
	"github.com/cartwheel/cartwheel/app/email/tracking"
	"github.com/cartwheel/cartwheel/app/jobs"
	"github.com/cartwheel/cartwheel/app/segments"
	"github.com/cartwheel/cartwheel/app/shops"
	"github.com/cartwheel/cartwheel/app/storesync"
)

// newSegmentEnv is newEnv with the service on a real River client and a
// customers store wired to segments, as the app builds them, so queued
// refreshes are river_job rows.
func newSegmentEnv(t *testing.T) *env {
	e := newEnv(t)
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	workers := river.NewWorkers()
	river.AddWorker(workers, storesync.NewConsentPusher(shops.NewStore(e.db, nil), nil, nil, log))
	river.AddWorker(workers, &segments.RefreshCustomerWorker{Store: segments.NewStore(e.db)})
	jc, err := jobs.New(e.db.DB, workers, jobs.Options{Logger: log})
	if err != nil {
		t.Fatal(err)
	}
	cs := customers.NewStore(e.db)
	cs.RefreshSegmentsWith(segments.Queue{Jobs: jc})
	e.svc = tracking.New(tracking.Deps{DB: e.db, Tokens: e.tk, Customers: cs, Jobs: jc, Now: func() time.Time { return e.now }})
	return e
}

// refreshed returns the customers with a queued segment refresh (customer
// id → jobs) and forgets them, so the next step starts clean.
func (e *env) refreshed() map[int64]int {
	e.t.Helper()
	var ids []int64
	if err := e.db.Select(&ids, `SELECT (args->>'customer_id')::bigint FROM river_job WHERE kind = 'segments.refresh_customer'`); err != nil {
		e.t.Fatal(err)
	}
	e.exec(`DELETE FROM river_job`)
	out := map[int64]int{}
	for _, id := range ids {
		out[id]++
	}
	return out
}

func (e *env) wantRefreshed(step string, ids ...int64) {
	e.t.Helper()
	got := e.refreshed()
	ok := len(got) == len(ids)
	for _, id := range ids {
		ok = ok && got[id] == 1
	}
	if !ok {
		e.t.Fatalf("%s: refreshes %v, want one each for %v", step, got, ids)
	}
}

func TestOpensAndClicksQueueSegmentRefresh(t *testing.T) {
	e := newSegmentEnv(t)
	ctx := context.Background()
	shop := e.shop("a.myshopify.com")
	ada := e.customer(shop, "ada@example.com", "subscribed")
	e.customer(shop, "bob@example.com", "subscribed")
	msg := e.message(shop, ada, "ada@example.com", "https://a.example/hat")

	// Apple's privacy proxy opens every message: segments ignore it.
	if err := e.svc.Open(ctx, e.tk.OpenToken(msg), tracking.Request{Method: "GET", UserAgent: "Mozilla/5.0", IP: "17.58.0.1"}); err != nil {
		t.Fatal(err)
	}
	e.wantRefreshed("machine open")
	if err := e.svc.Open(ctx, e.tk.OpenToken(msg), tracking.Request{Method: "GET", UserAgent: browserUA}); err != nil {
		t.Fatal(err)
	}
	e.wantRefreshed("human open", ada)
	if _, err := e.svc.Click(ctx, e.tk.ClickToken(msg, 0), tracking.Request{Method: "HEAD", UserAgent: browserUA}); err != nil {
		t.Fatal(err)
	}
	e.wantRefreshed("scanner click")
	if _, err := e.svc.Click(ctx, e.tk.ClickToken(msg, 0), tracking.Request{Method: "GET", UserAgent: browserUA}); err != nil {
		t.Fatal(err)
	}
	e.wantRefreshed("human click", ada)

	// A message without a profile (a test send) concerns no segment.
	test := e.message(shop, 0, "someone@example.com")
	if err := e.svc.Open(ctx, e.tk.OpenToken(test), tracking.Request{Method: "GET", UserAgent: browserUA}); err != nil {
		t.Fatal(err)
	}
	e.wantRefreshed("open of a test send")
}

func TestSendGridEventsQueueSegmentRefresh(t *testing.T) {
	e := newSegmentEnv(t)
	ctx := context.Background()
	shop := e.shop("a.myshopify.com")
	process := func(evs ...map[string]any) {
		t.Helper()
		if _, err := e.svc.ProcessEvents(ctx, batch(t, evs...)); err != nil {
			t.Fatal(err)
		}
	}
	ada := e.customer(shop, "ada@example.com", "subscribed")
	msg := e.message(shop, ada, "ada@example.com")

	process(docEvent(t, "delivered", "", "ada@example.com", shop, msg))
	e.wantRefreshed("delivered (already sent)")
	open := docEvent(t, "open", "", "ada@example.com", shop, msg)
	process(open)
	e.wantRefreshed("open", ada)
	process(open)
	e.wantRefreshed("the same open again")
	process(docEvent(t, "click", "", "ada@example.com", shop, msg))
	e.wantRefreshed("click", ada)

	// Suppressions reach the profiles holding the address, whatever its case.
	hard := e.customer(shop, "Hard@Example.com", "subscribed")
	m := e.message(shop, hard, "Hard@Example.com")
	process(docEvent(t, "bounce", "bounce", "Hard@Example.com", shop, m))
	e.wantRefreshed("hard bounce", hard)

	spam := e.customer(shop, "spam@example.com", "subscribed")
	m = e.message(shop, spam, "spam@example.com")
	process(docEvent(t, "spamreport", "", "spam@example.com", shop, m))
	e.wantRefreshed("spam report", spam)

	unsub := e.customer(shop, "unsub@example.com", "subscribed")
	m = e.message(shop, unsub, "unsub@example.com")
	process(docEvent(t, "unsubscribe", "", "unsub@example.com", shop, m))
	e.wantRefreshed("unsubscribe", unsub)

	// A row the sender failed as interrupted gets its sent_at from the
	// provider's event.
	late := e.customer(shop, "late@example.com", "subscribed")
	m = e.message(shop, late, "late@example.com")
	e.exec(`UPDATE email_messages SET status = 'failed', sent_at = NULL WHERE id = $1`, m)
	process(docEvent(t, "delivered", "", "late@example.com", shop, m))
	if n := e.count(`SELECT count(*) FROM email_messages WHERE id = $1 AND sent_at IS NOT NULL`, m); n != 1 {
		t.Fatal("sent_at not set by the late delivery")
	}
	e.wantRefreshed("late delivery", late)
}

func TestUnsubscribePageQueuesSegmentRefresh(t *testing.T) {
	e := newSegmentEnv(t)
	ctx := context.Background()
	shop := e.shop("a.myshopify.com")
	ada := e.customer(shop, "ada@example.com", "subscribed")
	tok := e.tk.UnsubscribeToken(e.message(shop, ada, "ada@example.com"))
	if _, err := e.svc.Unsubscribe(ctx, tok, "one_click"); err != nil {
		t.Fatal(err)
	}
	e.wantRefreshed("unsubscribed", ada)
	if _, err := e.svc.Unsubscribe(ctx, tok, "one_click"); err != nil {
		t.Fatal(err)
	}
	e.wantRefreshed("unsubscribed again")
	if _, err := e.svc.Resubscribe(ctx, tok); err != nil {
		t.Fatal(err)
	}
	e.wantRefreshed("resubscribed", ada)
}
