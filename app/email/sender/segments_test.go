package sender_test

import (
	"context"
	"io"
	"log/slog"
	"testing"

	"github.com/riverqueue/river"

	"github.com/cartwheel/cartwheel/app/email/internal/emailtest"
	"github.com/cartwheel/cartwheel/app/email/ledger"
	"github.com/cartwheel/cartwheel/app/email/sender"
	"github.com/cartwheel/cartwheel/app/jobs"
	"github.com/cartwheel/cartwheel/app/signals/signalstest"
)

// Marking a message sent records email_sent (Ref: the message) for its
// customer (segments read sent_at); skipped sends, repeats and system mail
// record none.
func TestSentMessageRecordsSignal(t *testing.T) {
	e := setup(t, nil)
	ctx := context.Background()
	workers := river.NewWorkers()
	jc, err := jobs.New(e.db.DB, workers, jobs.Options{Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		t.Fatal(err)
	}
	e.s.QueueWith(jc)
	refreshed := func() map[int64]int {
		t.Helper()
		rows := signalstest.Pending(t, e.db)
		out := map[int64]int{}
		for _, r := range rows {
			var msg int64
			if err := e.db.Get(&msg, `SELECT id FROM email_messages WHERE id::text = $1 AND customer_id = $2`, r.Ref, r.CustomerID); err != nil || r.Kind != "email_sent" {
				t.Fatalf("signal %+v: not email_sent of the customer's message (%v)", r, err)
			}
			out[r.CustomerID]++
		}
		e.db.MustExec(`DELETE FROM river_job`)
		e.db.MustExec(`DELETE FROM customer_signals`)
		return out
	}

	ada := emailtest.Customer(t, e.db, e.shop, "ada@example.com", "subscribed")
	emailtest.Customer(t, e.db, e.shop, "bob@example.com", "subscribed")
	res, err := e.s.Send(ctx, campaign(e.shop, ada, "ada@example.com", 1))
	if err != nil || res.Outcome != sender.OutcomeSent {
		t.Fatalf("%+v %v", res, err)
	}
	if got := refreshed(); len(got) != 1 || got[ada] != 1 {
		t.Fatalf("after send: refreshes %v, want one for %d", got, ada)
	}
	if res, _ := e.s.Send(ctx, campaign(e.shop, ada, "ada@example.com", 1)); res.Outcome != sender.OutcomeDuplicate {
		t.Fatalf("resend: %+v", res)
	}
	if got := refreshed(); len(got) != 0 {
		t.Fatalf("a duplicate send queued %v", got)
	}
	unsub := emailtest.Customer(t, e.db, e.shop, "gone@example.com", "unsubscribed")
	if res, _ := e.s.Send(ctx, campaign(e.shop, unsub, "gone@example.com", 2)); res.Outcome != sender.OutcomeSkipped {
		t.Fatalf("send to unsubscribed: %+v", res)
	}
	if got := refreshed(); len(got) != 0 {
		t.Fatalf("a skipped send queued %v", got)
	}
	sys := sender.Request{ShopID: e.shop, To: "owner@example.com", Kind: ledger.KindTest, DedupeKey: "test:1",
		Subject: "Test", HTML: "<p>x</p>", Text: "x"}
	if res, err := e.s.Send(ctx, sys); err != nil || res.Outcome != sender.OutcomeSent {
		t.Fatalf("test send: %+v %v", res, err)
	}
	if got := refreshed(); len(got) != 0 {
		t.Fatalf("a send without a customer queued %v", got)
	}
}
