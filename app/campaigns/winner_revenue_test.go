package campaigns_test

import (
	"testing"
	"time"

	"github.com/cartwheel/cartwheel/app/campaigns"
	"github.com/cartwheel/cartwheel/app/reports"
)

// order places an order of the customer who got message msg, paying total,
// at an hour after now0 + 1 h (after the test's clicks), and attributes it.
func (se *sendEnv) order(id, msg int64, total string) {
	se.t.Helper()
	se.exec(`INSERT INTO orders (shop_id, shopify_id, name, customer_id, currency, subtotal_price, total_price, total_refunded,
			financial_status, processed_at, shopify_created_at)
		SELECT 1, $1::bigint, '#' || $1::text, m.customer_id, 'USD', $3, $3, 0, 'paid', $4, $4 FROM email_messages m WHERE m.id = $2`,
		id, msg, total, now0.Add(2*time.Hour))
	if err := reports.Attribute(se.ctx, se.db, 1, []int64{id}); err != nil {
		se.t.Fatal(err)
	}
}

// The winner by revenue is the variant whose emails earned the most
// attributed sales per email sent, whatever the clicks say: A has 10
// emails clicked and 2 orders of 10.00 (plus a 500.00 order after a
// scanner's click, which no email earned), B 3 clicked and one order of
// 100.00. B wins (100 / 40 = 2.50 per email against 20 / 40 = 0.50); the
// rest get B only, and the results keep each variant's sales.
func TestABWinnerByRevenueGetsTheRest(t *testing.T) {
	se, c, by := abEnv(t, campaigns.WinnerByRevenue)
	se.store.Sales = &reports.Store{DB: se.db}
	se.event(by["A"][:10], "click", false, 2)
	se.event(by["A"][10:11], "click", true, 0)
	se.event(by["B"][:3], "click", false, 0)
	se.order(9001, by["A"][0], "10.00")
	se.order(9002, by["A"][1], "10.00")
	se.order(9003, by["A"][10], "500.00")
	se.order(9004, by["B"][0], "100.00")
	se.clock.Set(now0.Add(4 * time.Hour))
	r, err := se.sending.SendBatch(se.ctx, 1, c.ID)
	if err != nil || r.Winner != "B" {
		t.Fatalf("at the winner's time: %+v %v", r, err)
	}
	se.drain(c.ID, 2)
	checkRestGot(t, se, c.ID, "B", "Subject B")
	got, err := se.store.Get(se.ctx, 1, c.ID)
	if err != nil {
		t.Fatal(err)
	}
	want := []campaigns.VariantResult{{Key: "A", Sent: 40, Opened: 10, Clicked: 10, Sales: "20.00", Rate: 20.0 / 40},
		{Key: "B", Sent: 40, Opened: 3, Clicked: 3, Sales: "100.00", Rate: 100.0 / 40}}
	if len(got.ABResults) != 2 || got.ABResults[0] != want[0] || got.ABResults[1] != want[1] {
		t.Fatalf("results %+v, want %+v", got.ABResults, want)
	}
}

// With no sales at all the variants tie, and the tie goes as for clicks:
// the one sent to more people, then the earlier letter (A).
func TestABWinnerByRevenueTieGoesToA(t *testing.T) {
	se, c, by := abEnv(t, campaigns.WinnerByRevenue)
	se.store.Sales = &reports.Store{DB: se.db}
	se.event(by["B"][:8], "click", false, 0) // clicks don't count here
	se.clock.Set(now0.Add(4 * time.Hour))
	r, err := se.sending.SendBatch(se.ctx, 1, c.ID)
	if err != nil || r.Winner != "A" {
		t.Fatalf("at the winner's time: %+v %v", r, err)
	}
}
