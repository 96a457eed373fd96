package tracking_test

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"slices"
	"sort"
	"testing"
	"time"

	"github.com/riverqueue/river"

	"github.com/cartwheel/cartwheel/app/customers"
	"github.com/cartwheel/cartwheel/app/email/tracking"
	"github.com/cartwheel/cartwheel/app/jobs"
	"github.com/cartwheel/cartwheel/app/shops"
	"github.com/cartwheel/cartwheel/app/storesync"
)

// newSegmentEnv is newEnv with the service on a real River client and a
// customers store, as the app builds them, so recorded signals are
// customer_signals rows.
func newSegmentEnv(t *testing.T) *env {
	e := newEnv(t)
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	workers := river.NewWorkers()
	river.AddWorker(workers, storesync.NewConsentPusher(shops.NewStore(e.db, nil), nil, nil, log))
	jc, err := jobs.New(e.db.DB, workers, jobs.Options{Logger: log})
	if err != nil {
		t.Fatal(err)
	}
	cs := customers.NewStore(e.db)
	e.svc = tracking.New(tracking.Deps{DB: e.db, Tokens: e.tk, Customers: cs, Jobs: jc, Now: func() time.Time { return e.now }})
	return e
}

// signals returns the recorded signals as sorted "customer kind detail"
// strings (detail: the email event's status, the suppression's reason or
// the consent's state), and forgets them, so the next step starts clean.
func (e *env) signals() []string {
	e.t.Helper()
	var got []string
	if err := e.db.Select(&got, `SELECT s.customer_id || ' ' || s.kind || ' ' ||
			COALESCE(s.data->>'status', s.data->>'reason', s.data->>'state', '')
		FROM customer_signals s ORDER BY 1`); err != nil {
		e.t.Fatal(err)
	}
	e.exec(`DELETE FROM river_job`)
	e.exec(`DELETE FROM customer_signals`)
	return got
}

func (e *env) wantSignals(step string, want ...string) {
	e.t.Helper()
	got := e.signals()
	sort.Strings(want)
	if !slices.Equal(got, want) {
		e.t.Fatalf("%s: signals %q, want %q", step, got, want)
	}
}

func sig(customer int64, kind, detail string) string {
	return fmt.Sprintf("%d %s %s", customer, kind, detail)
}

// Human opens and clicks record email_event signals with their status;
// machine ones and test sends record none.
func TestOpensAndClicksRecordSignals(t *testing.T) {
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
	e.wantSignals("machine open")
	if err := e.svc.Open(ctx, e.tk.OpenToken(msg), tracking.Request{Method: "GET", UserAgent: browserUA}); err != nil {
		t.Fatal(err)
	}
	e.wantSignals("human open", sig(ada, "email_event", "opened"))
	if _, err := e.svc.Click(ctx, e.tk.ClickToken(msg, 0), tracking.Request{Method: "HEAD", UserAgent: browserUA}); err != nil {
		t.Fatal(err)
	}
	e.wantSignals("scanner click")
	if _, err := e.svc.Click(ctx, e.tk.ClickToken(msg, 0), tracking.Request{Method: "GET", UserAgent: browserUA}); err != nil {
		t.Fatal(err)
	}
	e.wantSignals("human click", sig(ada, "email_event", "clicked"))

	// A message without a profile (a test send) concerns no segment.
	test := e.message(shop, 0, "someone@example.com")
	if err := e.svc.Open(ctx, e.tk.OpenToken(test), tracking.Request{Method: "GET", UserAgent: browserUA}); err != nil {
		t.Fatal(err)
	}
	e.wantSignals("open of a test send")
}

// SendGrid's documented events record email_event signals with the
// message's new status, plus suppressed and consent_changed for the
// profiles holding the address; a repeated event records nothing.
func TestSendGridEventsRecordSignals(t *testing.T) {
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
	e.wantSignals("delivered", sig(ada, "email_event", "delivered"))
	open := docEvent(t, "open", "", "ada@example.com", shop, msg)
	process(open)
	e.wantSignals("open", sig(ada, "email_event", "opened"))
	process(open)
	e.wantSignals("the same open again")
	process(docEvent(t, "click", "", "ada@example.com", shop, msg))
	e.wantSignals("click", sig(ada, "email_event", "clicked"))

	// Suppressions reach the profiles holding the address, whatever its case.
	hard := e.customer(shop, "Hard@Example.com", "subscribed")
	m := e.message(shop, hard, "Hard@Example.com")
	process(docEvent(t, "bounce", "bounce", "Hard@Example.com", shop, m))
	e.wantSignals("hard bounce", sig(hard, "suppressed", "hard_bounce"), sig(hard, "email_event", "bounced"))

	spam := e.customer(shop, "spam@example.com", "subscribed")
	m = e.message(shop, spam, "spam@example.com")
	process(docEvent(t, "spamreport", "", "spam@example.com", shop, m))
	e.wantSignals("spam report", sig(spam, "suppressed", "complaint"), sig(spam, "consent_changed", "unsubscribed"), sig(spam, "email_event", "complained"))

	unsub := e.customer(shop, "unsub@example.com", "subscribed")
	m = e.message(shop, unsub, "unsub@example.com")
	process(docEvent(t, "unsubscribe", "", "unsub@example.com", shop, m))
	e.wantSignals("unsubscribe", sig(unsub, "consent_changed", "unsubscribed"), sig(unsub, "email_event", "unsubscribed"))

	// A row the sender failed as interrupted gets its sent_at from the
	// provider's event.
	late := e.customer(shop, "late@example.com", "subscribed")
	m = e.message(shop, late, "late@example.com")
	e.exec(`UPDATE email_messages SET status = 'failed', sent_at = NULL WHERE id = $1`, m)
	process(docEvent(t, "delivered", "", "late@example.com", shop, m))
	if n := e.count(`SELECT count(*) FROM email_messages WHERE id = $1 AND sent_at IS NOT NULL`, m); n != 1 {
		t.Fatal("sent_at not set by the late delivery")
	}
	e.wantSignals("late delivery", sig(late, "email_event", "delivered"))
}

// The unsubscribe page records consent_changed both ways, and the
// unsubscribe as an event of the message once.
func TestUnsubscribePageRecordsSignals(t *testing.T) {
	e := newSegmentEnv(t)
	ctx := context.Background()
	shop := e.shop("a.myshopify.com")
	ada := e.customer(shop, "ada@example.com", "subscribed")
	tok := e.tk.UnsubscribeToken(e.message(shop, ada, "ada@example.com"))
	if _, err := e.svc.Unsubscribe(ctx, tok, "one_click"); err != nil {
		t.Fatal(err)
	}
	// The email_event is the message's own (reports count it per email).
	e.wantSignals("unsubscribed", sig(ada, "consent_changed", "unsubscribed"), sig(ada, "email_event", "unsubscribed"))
	if _, err := e.svc.Unsubscribe(ctx, tok, "one_click"); err != nil {
		t.Fatal(err)
	}
	e.wantSignals("unsubscribed again")
	if _, err := e.svc.Resubscribe(ctx, tok); err != nil {
		t.Fatal(err)
	}
	e.wantSignals("resubscribed", sig(ada, "consent_changed", "subscribed"))
}
