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
	"github.com/cartwheel/cartwheel/app/segments"
)

// Marking a message sent queues a refresh of its customer's segments (they
// read sent_at); skipped sends, repeats and system mail queue none.
func TestSentMessageQueuesSegmentRefresh(t *testing.T) {
	e := setup(t, nil)
	ctx := context.Background()
	workers := river.NewWorkers()
	river.AddWorker(workers, &segments.RefreshCustomerWorker{Store: segments.NewStore(e.db)})
	jc, err := jobs.New(e.db.DB, workers, jobs.Options{Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		t.Fatal(err)
	}
	e.s.QueueWith(jc)
	refreshed := func() map[int64]int {
		t.Helper()
		var ids []int64
		if err := e.db.Select(&ids, `SELECT (args->>'customer_id')::bigint FROM river_job
			WHERE kind = 'segments.refresh_customer' AND (args->>'shop_id')::bigint = $1`, e.shop); err != nil {
			t.Fatal(err)
		}
		e.db.MustExec(`DELETE FROM river_job`)
		out := map[int64]int{}
		for _, id := range ids {
			out[id]++
		}
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
