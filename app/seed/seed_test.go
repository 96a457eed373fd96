package seed_test

import (
	"bytes"
	"context"
	"testing"
	"time"

	"github.com/cartwheel/cartwheel/app/db/dbtest"
	"github.com/cartwheel/cartwheel/app/secretbox"
	"github.com/cartwheel/cartwheel/app/seed"
	"github.com/cartwheel/cartwheel/app/segments"
	"github.com/cartwheel/cartwheel/app/shops"
)

func TestDemoShopIsInstalledAndRerunnable(t *testing.T) {
	d := dbtest.New(t)
	box, _ := secretbox.New(bytes.Repeat([]byte{5}, 32))
	st := shops.NewStore(d, box)
	ctx := context.Background()
	for i := 0; i < 2; i++ {
		sh, err := seed.DemoShop(ctx, d, st, "demo.myshopify.com")
		if err != nil {
			t.Fatal(err)
		}
		if !sh.Installed() || sh.Name != "Demo Store" || sh.IanaTimezone != "America/New_York" {
			t.Fatalf("demo shop: %+v", sh)
		}
	}
	var n int
	d.Get(&n, "SELECT count(*) FROM shops")
	if n != 1 {
		t.Fatalf("seeding twice made %d shops", n)
	}
	d.Get(&n, "SELECT count(*) FROM segments WHERE preset_key IS NOT NULL")
	if n != len(segments.Presets()) {
		t.Fatalf("preset segments after seeding twice: %d, want %d", n, len(segments.Presets()))
	}
	settings, _ := st.Settings(ctx, 1)
	if len(settings.Missing()) != 3 {
		t.Fatal("the demo shop should start with the settings checklist open")
	}
}

func TestStoreIsRealisticAndRerunnable(t *testing.T) {
	d := dbtest.New(t)
	box, _ := secretbox.New(bytes.Repeat([]byte{5}, 32))
	sh, err := seed.DemoShop(context.Background(), d, shops.NewStore(d, box), "demo.myshopify.com")
	if err != nil {
		t.Fatal(err)
	}
	count := func(q string) int {
		t.Helper()
		var n int
		if err := d.Get(&n, q, sh.ID); err != nil {
			t.Fatal(err)
		}
		return n
	}
	if n := count(`SELECT count(*) FROM customers WHERE shop_id = $1`); n != seed.DemoCustomers {
		t.Fatalf("demo customers: %d", n)
	}
	repeat := count(`SELECT count(*) FROM customers WHERE shop_id = $1 AND orders_count > 1`)
	never := count(`SELECT count(*) FROM customers WHERE shop_id = $1 AND orders_count = 0`)
	if repeat < 10 || never < 40 {
		t.Fatalf("order histories not skewed: %d repeat buyers, %d never ordered", repeat, never)
	}
	for name, q := range map[string]string{
		"subscribed":      `SELECT count(*) FROM customers WHERE shop_id = $1 AND email_consent = 'subscribed'`,
		"unsubscribed":    `SELECT count(*) FROM customers WHERE shop_id = $1 AND email_consent = 'unsubscribed'`,
		"refunds":         `SELECT count(*) FROM refunds WHERE shop_id = $1`,
		"checkouts":       `SELECT count(*) FROM checkouts WHERE shop_id = $1`,
		"collections":     `SELECT count(*) FROM products WHERE shop_id = $1 AND cardinality(collection_ids) > 0`,
		"priced products": `SELECT count(*) FROM products WHERE shop_id = $1 AND price_min IS NOT NULL`,
		"line items":      `SELECT count(*) FROM order_line_items WHERE shop_id = $1`,
		"products bought": `SELECT count(*) FROM customer_products WHERE shop_id = $1`,
	} {
		if count(q) == 0 {
			t.Errorf("no %s in the synthetic store", name)
		}
	}
	before := count(`SELECT count(*) FROM orders WHERE shop_id = $1`)
	if err := seed.Store(context.Background(), d, sh.ID, seed.StoreOptions{Customers: seed.DemoCustomers, Seed: 1}); err != nil {
		t.Fatal(err)
	}
	if after := count(`SELECT count(*) FROM orders WHERE shop_id = $1`); after != before {
		t.Fatalf("reseeding with the same seed added orders: %d → %d", before, after)
	}
}

func TestBulkCustomers(t *testing.T) {
	d := dbtest.New(t)
	var shop int64
	d.Get(&shop, `INSERT INTO shops (domain) VALUES ('bulk.myshopify.com') RETURNING id`)
	if err := seed.BulkCustomers(context.Background(), d, shop, 1000, nil); err != nil {
		t.Fatal(err)
	}
	var n, buyers int
	d.Get(&n, `SELECT count(*) FROM customers WHERE shop_id = $1`, shop)
	d.Get(&buyers, `SELECT count(*) FROM customers WHERE shop_id = $1 AND orders_count > 0 AND total_spent > 0`, shop)
	if n != 1000 || buyers < 500 || buyers > 700 {
		t.Fatalf("bulk: %d customers, %d buyers", n, buyers)
	}
}

// TestBulkStore checks the full bulk store at a small size: amounts in the
// ratios the 1M benchmark store relies on, every row in the shop, events in
// their monthly partitions, and the same store on a rerun with the same Now.
func TestBulkStore(t *testing.T) {
	d := dbtest.New(t)
	ctx := context.Background()
	var shop, other int64
	d.Get(&shop, `INSERT INTO shops (domain) VALUES ('bulk.myshopify.com') RETURNING id`)
	d.Get(&other, `INSERT INTO shops (domain) VALUES ('other.myshopify.com') RETURNING id`)
	now := time.Date(2026, 5, 10, 12, 0, 0, 0, time.UTC)
	var steps []string
	// 2,000 customers are enough for every proportion below to settle
	// within its bounds; the million-customer shape is make bench-segments.
	const n = 2000
	o := seed.BulkOptions{Customers: n, EventsPerCustomer: 20, EmailsPerCustomer: 6, Now: now,
		Progress: func(step string, done, total int) { steps = append(steps, step) }}
	if err := seed.Bulk(ctx, d, shop, o); err != nil {
		t.Fatal(err)
	}
	if len(steps) == 0 {
		t.Error("no progress reported")
	}
	count := func(q string) float64 {
		t.Helper()
		var n float64
		if err := d.Get(&n, q, shop); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
		return n
	}
	between := func(what string, got, lo, hi float64) {
		t.Helper()
		if got < lo || got > hi {
			t.Errorf("%s: %.0f, want %.0f–%.0f", what, got, lo, hi)
		}
	}
	between("customers", count(`SELECT count(*) FROM customers WHERE shop_id = $1`), n, n)
	between("orders", count(`SELECT count(*) FROM orders WHERE shop_id = $1`), 4*n, 6*n)
	between("never ordered", count(`SELECT count(*) FROM customers WHERE shop_id = $1 AND orders_count = 0`), 0.35*n, 0.45*n)
	between("5+ orders", count(`SELECT count(*) FROM customers WHERE shop_id = $1 AND orders_count >= 5`), 0.15*n, 0.30*n)
	between("10+ orders", count(`SELECT count(*) FROM customers WHERE shop_id = $1 AND orders_count >= 10`), 0.07*n, 0.15*n)
	between("no order in 180 days", count(`SELECT count(*) FROM customers WHERE shop_id = $1 AND orders_count > 0
		AND last_order_at < '2026-05-10T12:00:00Z'::timestamptz - interval '180 days'`), 0.05*n, 0.5*n)
	between("orders in the future", count(`SELECT count(*) FROM orders WHERE shop_id = $1 AND processed_at > '2026-05-10T12:00:01Z'`), 0, 0)
	between("orders with a code", count(`SELECT count(*) FROM orders WHERE shop_id = $1 AND cardinality(discount_codes) > 0`), 0.6*n, 1.4*n)
	between("products", count(`SELECT count(*) FROM products WHERE shop_id = $1 AND cardinality(collection_ids) >= 2`), 20, 20)
	between("buyers with products", count(`SELECT count(DISTINCT customer_id) FROM customer_products WHERE shop_id = $1`), 0.55*n, 0.62*n)
	between("events", count(`SELECT count(*) FROM events WHERE shop_id = $1`), 18*n, 22*n)
	between("anonymous events", count(`SELECT count(*) FROM events WHERE shop_id = $1 AND customer_id IS NULL`), 2*n, 4*n)
	between("events in the default partition", count(`SELECT count(*) FROM events_default WHERE shop_id = $1`), 0, 0)
	between("months with events", count(`SELECT count(DISTINCT tableoid) FROM events WHERE shop_id = $1`), 13, 15)
	between("events in the last 30 days", count(`SELECT count(*) FROM events WHERE shop_id = $1 AND occurred_at >= '2026-04-10'`), 4*n, 8*n)
	between("events after now", count(`SELECT count(*) FROM events WHERE shop_id = $1 AND occurred_at > '2026-05-10T12:00:00Z'`), 0, 0)
	for _, q := range []string{
		`SELECT count(*) FROM events WHERE shop_id = $1 AND name = 'product_viewed' AND data->'productVariant'->'product'->>'id' IS NOT NULL`,
		`SELECT count(*) FROM events WHERE shop_id = $1 AND name = 'product_added_to_cart' AND data->'cartLine'->'merchandise'->'product'->>'id' IS NOT NULL`,
		`SELECT count(*) FROM events WHERE shop_id = $1 AND name = 'collection_viewed' AND data->'collection'->>'id' IS NOT NULL`,
		`SELECT count(*) FROM events WHERE shop_id = $1 AND name = 'search_submitted' AND data->'searchResult'->>'query' <> ''`,
		`SELECT count(*) FROM events WHERE shop_id = $1 AND name IN ('page_viewed', 'checkout_started')`,
	} {
		between(q, count(q), 0.02*n, 20*n)
	}
	between("emails", count(`SELECT count(*) FROM email_messages WHERE shop_id = $1 AND sent_at IS NOT NULL AND kind IN ('campaign', 'flow')`), 5*n, 7*n)
	between("emails without their source", count(`SELECT count(*) FROM email_messages WHERE shop_id = $1
		AND NOT (kind = 'campaign' AND campaign_id IS NOT NULL OR kind = 'flow' AND flow_id IS NOT NULL AND flow_run_id IS NOT NULL)`), 0, 0)
	between("received 10+", count(`SELECT count(*) FROM (SELECT customer_id FROM email_messages WHERE shop_id = $1
		GROUP BY 1 HAVING count(*) >= 10) x`), 0.1*n, 0.3*n)
	between("opens", count(`SELECT count(*) FROM email_events WHERE shop_id = $1 AND kind = 'open'`), 0.15*6*n, 0.35*6*n)
	between("clicks", count(`SELECT count(*) FROM email_events WHERE shop_id = $1 AND kind = 'click'`), 0.03*6*n, 0.1*6*n)
	between("machine opens", count(`SELECT count(*) FROM email_events WHERE shop_id = $1 AND machine`), 0.01*6*n, 0.05*6*n)
	between("suppressions", count(`SELECT count(*) FROM suppressions WHERE shop_id = $1`), 0.06*n, 0.12*n)
	between("suppression reasons", count(`SELECT count(DISTINCT reason) FROM suppressions WHERE shop_id = $1`), 4, 4)
	between("consent states", count(`SELECT count(DISTINCT email_consent) FROM customers WHERE shop_id = $1`), 4, 4)
	// Segments' activity totals match the events they summarise.
	between("activity totals off", count(`SELECT count(*) FROM (
		SELECT customer_id, name, count(*) AS n, max(occurred_at) AS last_at FROM events WHERE shop_id = $1 AND customer_id IS NOT NULL GROUP BY 1, 2) e
		FULL JOIN (SELECT * FROM customer_activity WHERE shop_id = $1 AND name NOT LIKE 'email:%') a USING (customer_id, name)
		WHERE a.n IS DISTINCT FROM e.n OR a.last_at IS DISTINCT FROM e.last_at`), 0, 0)
	between("received totals", count(`SELECT count(*) FROM customer_activity WHERE shop_id = $1 AND name = 'email:received'`), 0.5*n, float64(n))
	for _, table := range []string{"customers", "orders", "products", "collections", "customer_products", "events", "email_messages", "email_events", "suppressions"} {
		var stray int
		if err := d.Get(&stray, `SELECT count(*) FROM `+table+` WHERE shop_id IS DISTINCT FROM $1`, shop); err != nil {
			t.Fatal(err)
		}
		if stray != 0 {
			t.Errorf("%s: %d rows outside the shop", table, stray)
		}
	}
	// Deterministic: a second shop seeded the same way gets the same store.
	if err := seed.Bulk(ctx, d, other, seed.BulkOptions{Customers: n, EventsPerCustomer: 20, EmailsPerCustomer: 6, Now: now}); err != nil {
		t.Fatal(err)
	}
	for _, q := range []string{
		`SELECT count(*) || '/' || sum(total_price) FROM orders WHERE shop_id = $1`,
		`SELECT count(*) || '/' || sum(quantity) FROM customer_products WHERE shop_id = $1`,
		`SELECT count(*) || '/' || count(DISTINCT name) || '/' || max(occurred_at) FROM events WHERE shop_id = $1`,
	} {
		var a, b string
		d.Get(&a, q, shop)
		d.Get(&b, q, other)
		if a != b {
			t.Errorf("not deterministic: %s: %s vs %s", q, a, b)
		}
	}
}

// The demo's email history is the real shape: each email a ledger row with
// its signals, flow emails belong to completed runs of the published
// welcome series, nobody gets a campaign twice, every order follows a
// human click by its buyer, machine opens are flagged; a second run adds
// nothing.
func TestEmailHistory(t *testing.T) {
	d := dbtest.New(t)
	box, _ := secretbox.New(bytes.Repeat([]byte{5}, 32))
	ctx := context.Background()
	sh, err := seed.DemoShop(ctx, d, shops.NewStore(d, box), "demo.myshopify.com")
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	for range 2 {
		if err := seed.EmailHistory(ctx, d, sh.ID, now, 1); err != nil {
			t.Fatal(err)
		}
	}
	count := func(q string) int {
		t.Helper()
		var n int
		if err := d.Get(&n, q, sh.ID); err != nil {
			t.Fatal(err)
		}
		return n
	}
	campaign := count(`SELECT count(*) FROM email_messages WHERE shop_id = $1 AND kind = 'campaign'`)
	subscribed := count(`SELECT count(DISTINCT customer_id) FROM email_messages WHERE shop_id = $1 AND kind = 'campaign'`)
	if campaign == 0 || campaign != subscribed {
		t.Errorf("campaign emails %d to %d customers", campaign, subscribed)
	}
	if n := count(`SELECT count(*) FROM email_messages m WHERE shop_id = $1 AND kind = 'flow' AND NOT EXISTS (
			SELECT 1 FROM flow_runs r JOIN flows f ON f.id = r.flow_id WHERE r.id = m.flow_run_id AND r.status = 'completed' AND f.status = 'live')`); n != 0 {
		t.Errorf("%d flow emails outside a completed run of a live flow", n)
	}
	if n := count(`SELECT count(*) FROM email_messages WHERE shop_id = $1 AND kind = 'flow'`); n == 0 {
		t.Error("no flow emails")
	}
	if n := count(`SELECT count(*) FROM email_messages m WHERE shop_id = $1 AND NOT EXISTS (
			SELECT 1 FROM customer_signals s WHERE s.kind = 'email_sent' AND s.ref = m.id::text)`); n != 0 {
		t.Errorf("%d emails without their email_sent signal", n)
	}
	if n := count(`SELECT count(*) FROM email_events e WHERE shop_id = $1 AND machine AND kind = 'open'`); n == 0 {
		t.Error("no machine opens")
	}
	if n := count(`SELECT count(*) FROM orders WHERE shop_id = $1 AND shopify_id > 6000000`); n == 0 {
		t.Fatal("no orders after clicks")
	}
	if n := count(`SELECT count(*) FROM orders o JOIN customers c ON c.id = o.customer_id WHERE o.shop_id = $1 AND o.shopify_id > 6000000
			AND NOT EXISTS (SELECT 1 FROM email_events e JOIN email_messages m ON m.id = e.message_id
				WHERE m.customer_id = c.id AND e.kind = 'click' AND NOT e.machine AND e.occurred_at < o.processed_at)`); n != 0 {
		t.Errorf("%d orders without a click before them", n)
	}
	if n := count(`SELECT count(*) FROM consent_events WHERE shop_id = $1 AND source = 'wheel'`); n == 0 {
		t.Error("no wheel signups")
	}
	if n := count(`SELECT count(*) FROM email_events WHERE shop_id = $1 AND occurred_at > now()`); n != 0 {
		t.Errorf("%d events in the future", n)
	}
}
