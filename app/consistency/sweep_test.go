package consistency_test

import (
	"context"
	"encoding/json"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/cartwheel/cartwheel/app/consistency"
	"github.com/cartwheel/cartwheel/app/events"
	"github.com/cartwheel/cartwheel/app/signals"
)

// TestSweepRepairsDrift writes a small store through the real paths, then
// corrupts one derived value of each kind by hand (what a bug in a write
// path would leave): the sweep finds each, rewrites it from the raw rows,
// counts it by kind in the metric, and a second sweep finds nothing.
func TestSweepRepairsDrift(t *testing.T) {
	h := newHarness(t, 2, false)
	ctx := context.Background()
	ada, bob := h.customers[0], h.customers[1]
	now := time.Now()
	for i, total := range []string{"30.00", "12.00"} {
		if err := h.deliver("orders/create", h.order(int64(7001+i), ada, total, now.Add(-48*time.Hour), now, false, productIDs[:2])); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := h.ingester.Write(ctx, h.shopID, events.Batch{Shop: shopDomain, VisitorID: ada.Visitor, Source: events.SourcePixel,
		Events: []events.Event{{ID: "e1", Name: "product_viewed", OccurredAt: now.Add(-time.Hour).Truncate(time.Microsecond), Data: json.RawMessage(`{}`)}}}); err != nil {
		t.Fatal(err)
	}
	if _, err := h.tracking.ProcessEvents(ctx, js([]map[string]any{
		h.sgEvent("deferred", "", bob.Email, bob.Messages[0]),
		h.sgEvent("bounce", "blocked", bob.Email, bob.Messages[1]),
		h.sgEvent("open", "", ada.Email, ada.Messages[0]),
	})); err != nil {
		t.Fatal(err)
	}
	// No River here: the refreshes are run by hand, and the signals some
	// writes recorded are consumed by hand.
	consumer, err := signals.NewConsumer(h.db, signals.Handlers{Segments: h.segments, Flows: signals.Discard, Reports: signals.Discard}, func() time.Time { return now })
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range h.customers {
		if err := h.segments.RefreshCustomer(ctx, h.shopID, c.ID, now); err != nil {
			t.Fatal(err)
		}
		if _, err := consumer.Consume(ctx, h.shopID, c.ID); err != nil {
			t.Fatal(err)
		}
	}
	if wrong := h.wrong(now); len(wrong) > 0 {
		t.Fatalf("before any drift: %v", wrong)
	}
	first, err := h.sweeper.SweepShop(ctx, h.shopID, now)
	if err != nil {
		t.Fatal(err)
	}
	if first.Total() != 0 {
		t.Fatalf("sweep of consistent data repaired %v", first)
	}

	// The drift.
	h.db.MustExec(`UPDATE customers SET orders_count = 7, total_spent = 1 WHERE id = $1`, ada.ID)
	h.db.MustExec(`DELETE FROM customer_products WHERE customer_id = $1 AND product_id = $2`, ada.ID, productIDs[1])
	h.db.MustExec(`UPDATE customer_activity SET n = n + 3 WHERE customer_id = $1 AND name = 'product_viewed'`, ada.ID)
	h.db.MustExec(`UPDATE email_soft_bounces SET streak = 0 WHERE email = $1`, bob.Email)
	if len(h.wrongFigures()) != 1 || len(h.wrongProducts()) != 1 || len(h.wrongActivity()) != 1 || len(h.wrongStreaks()) != 1 {
		t.Fatal("drift not injected")
	}

	later := now.Add(time.Hour)
	rep, err := h.sweeper.SweepShop(ctx, h.shopID, later)
	if err != nil {
		t.Fatal(err)
	}
	want := consistency.Report{consistency.KindFigures: 1, consistency.KindProducts: 1, consistency.KindActivity: 1, consistency.KindStreaks: 1}
	for kind, n := range want {
		if rep[kind] != n {
			t.Errorf("repaired %v, want %v", rep, want)
			break
		}
		if got := testutil.ToFloat64(h.metrics.ConsistencyRepairs.WithLabelValues(kind)); got != float64(n) {
			t.Errorf("metric %s = %v, want %d", kind, got, n)
		}
	}
	if wrong := h.wrong(later); len(wrong) > 0 {
		t.Fatalf("after the sweep: %v", wrong)
	}
	var recorded string
	if err := h.db.Get(&recorded, `SELECT repaired::text FROM consistency_sweeps WHERE shop_id = $1`, h.shopID); err != nil {
		t.Fatal(err)
	}
	var got consistency.Report
	if err := json.Unmarshal([]byte(recorded), &got); err != nil || got.Total() != 4 {
		t.Fatalf("recorded sweep %s", recorded)
	}

	again, err := h.sweeper.SweepShop(ctx, h.shopID, later.Add(time.Minute))
	if err != nil {
		t.Fatal(err)
	}
	if again.Total() != 0 {
		t.Fatalf("second sweep repaired %v", again)
	}

	// The periodic job sweeps a shop once a day.
	if n, err := h.sweeper.SweepDue(ctx, later.Add(2*time.Hour)); err != nil || n != 0 {
		t.Fatalf("sweep due an hour later: %d shops, %v", n, err)
	}
	if n, err := h.sweeper.SweepDue(ctx, later.Add(consistency.Every+2*time.Minute)); err != nil || n != 1 {
		t.Fatalf("sweep due a day later: %d shops, %v", n, err)
	}
}
