package webhooks_test

import (
	"context"
	"testing"
	"time"

	"github.com/cartwheel/cartwheel/app/db/dbtest"
	"github.com/cartwheel/cartwheel/app/webhooks"
)

// Raw bytes of rejected deliveries are dropped once older than 30 days;
// the delivery's record (id, topic, outcome) stays for deduplication.
func TestPruneRawBodies(t *testing.T) {
	d := dbtest.New(t)
	now := time.Date(2026, 6, 1, 12, 0, 0, 0, time.UTC)
	d.MustExec(`INSERT INTO webhook_deliveries (webhook_id, shop_domain, topic, raw_body, received_at, processed_at, outcome) VALUES
		('old', 'a.myshopify.com', 'orders/create', '\x7b7d', $1, $1, 'rejected'),
		('fresh', 'a.myshopify.com', 'orders/create', '\x7b7d', $2, $2, 'rejected')`,
		now.Add(-31*24*time.Hour), now.Add(-29*24*time.Hour))
	n, err := webhooks.PruneRawBodies(context.Background(), d, now)
	if err != nil {
		t.Fatal(err)
	}
	if n != 1 {
		t.Fatalf("pruned %d, want 1", n)
	}
	var kept []string
	d.Select(&kept, `SELECT webhook_id FROM webhook_deliveries WHERE raw_body IS NOT NULL`)
	if len(kept) != 1 || kept[0] != "fresh" {
		t.Fatalf("raw bodies kept: %v", kept)
	}
	var rows int
	d.Get(&rows, `SELECT count(*) FROM webhook_deliveries`)
	if rows != 2 {
		t.Fatalf("deliveries left: %d, want both records kept", rows)
	}
}
