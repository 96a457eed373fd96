package storesync

import (
	"context"
	"testing"

	"github.com/jmoiron/sqlx"

	"github.com/cartwheel/cartwheel/app/reports"
)

// TestImportedOrdersAreAttributed: a bulk import records no signals, so
// each order batch is attributed in its own transaction. A customer who
// clicked a campaign email an hour before an order (emails and clicks from
// before the re-import) gets that order attributed by the next import, once,
// with the rollup holding it once; orders without a touch get nothing.
func TestImportedOrdersAreAttributed(t *testing.T) {
	h := newHarness(t, 50)
	var calls, ids int
	h.w.d.Attribute = func(ctx context.Context, tx *sqlx.Tx, shopID int64, orderIDs []int64) error {
		calls++
		ids += len(orderIDs)
		return reports.AttributeTx(ctx, tx, shopID, orderIDs)
	}
	small.register(h.fake, testShop)
	if err := h.w.Run(context.Background(), h.shopID, h.start(t)); err != nil {
		t.Fatal(err)
	}
	if calls == 0 || ids != 120 {
		t.Fatalf("attribution called %d times for %d orders, want every one of 120 orders", calls, ids)
	}
	if n := h.count(t, `SELECT count(*) FROM order_attributions WHERE shop_id = $1`, h.shopID); n != 0 {
		t.Fatalf("%d orders attributed without any email", n)
	}

	// One customer's orders: a campaign email clicked an hour before each.
	var cust int64
	if err := h.db.Get(&cust, `SELECT customer_id FROM orders WHERE shop_id = $1 AND customer_id IS NOT NULL AND NOT test
		AND COALESCE(processed_at, shopify_created_at) IS NOT NULL ORDER BY shopify_id LIMIT 1`, h.shopID); err != nil {
		t.Fatal(err)
	}
	type ord struct {
		ID   int64   `db:"shopify_id"`
		Paid float64 `db:"paid"`
	}
	var os []ord
	if err := h.db.Select(&os, `SELECT shopify_id, (total_price - total_refunded)::float8 AS paid FROM orders
		WHERE shop_id = $1 AND customer_id = $2 AND NOT test ORDER BY shopify_id`, h.shopID, cust); err != nil {
		t.Fatal(err)
	}
	var camp int64
	if err := h.db.Get(&camp, `INSERT INTO campaigns (shop_id, name) VALUES ($1, 'Spring') RETURNING id`, h.shopID); err != nil {
		t.Fatal(err)
	}
	var msg int64
	if err := h.db.Get(&msg, `INSERT INTO email_messages (shop_id, customer_id, to_email, kind, dedupe_key, marketing, status, sent_at, campaign_id)
		VALUES ($1, $2, 'x@example.com', 'campaign', 'c1', true, 'sent', '2000-01-01', $3) RETURNING id`, h.shopID, cust, camp); err != nil {
		t.Fatal(err)
	}
	if _, err := h.db.Exec(`INSERT INTO email_events (shop_id, message_id, source, kind, machine, user_agent, occurred_at)
		SELECT $1, $2, 'redirect', 'click', false, 'Mozilla/5.0', COALESCE(o.processed_at, o.shopify_created_at) - interval '1 hour'
		FROM orders o WHERE o.shop_id = $1 AND o.customer_id = $3 AND NOT o.test`, h.shopID, msg, cust); err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 2; i++ { // the second re-import adds nothing
		if err := h.w.Run(context.Background(), h.shopID, h.start(t)); err != nil {
			t.Fatal(err)
		}
		if n := h.count(t, `SELECT count(*) FROM order_attributions WHERE shop_id = $1 AND customer_id = $2 AND campaign_id = $3
			AND touch = 'click'`, h.shopID, cust, camp); n != int64(len(os)) {
			t.Fatalf("import %d: %d of the customer's %d orders attributed", i+2, n, len(os))
		}
		if n := h.count(t, `SELECT count(*) FROM order_attributions WHERE shop_id = $1 AND customer_id <> $2`, h.shopID, cust); n != 0 {
			t.Fatalf("import %d: %d orders of other customers attributed", i+2, n)
		}
		var orders int64
		var sales float64
		want := 0.0
		for _, o := range os {
			want += o.Paid
		}
		if err := h.db.QueryRow(`SELECT COALESCE(sum(orders), 0), COALESCE(sum(sales), 0)::float8 FROM report_orders_daily
			WHERE shop_id = $1 AND scope = 'campaign' AND scope_id = $2`, h.shopID, camp).Scan(&orders, &sales); err != nil {
			t.Fatal(err)
		}
		if orders != int64(len(os)) || sales < want-0.001 || sales > want+0.001 {
			t.Fatalf("import %d: rollup %d orders %.2f, want %d %.2f", i+2, orders, sales, len(os), want)
		}
	}
}
