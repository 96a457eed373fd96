package seed

import (
	"context"
	"fmt"
	"math"
	"time"

	"github.com/jmoiron/sqlx"

	"github.com/cartwheel/cartwheel/app/customers"
	"github.com/cartwheel/cartwheel/app/orders"
	"github.com/cartwheel/cartwheel/app/segments"
)

// bulkBatch is how many customers each INSERT … SELECT generate_series
// statement covers; batches keep each transaction and its WAL modest.
const bulkBatch = 100_000

// BulkOptions shape a bulk (set-based SQL) store.
type BulkOptions struct {
	Customers int
	// Storefront events per customer, on average (about 85 % linked to a
	// customer, the rest anonymous). 0 writes none.
	EventsPerCustomer float64
	// Marketing emails sent per customer, on average (opens and clicks
	// follow). 0 writes none.
	EmailsPerCustomer float64
	// The store's "today"; default time.Now(). Every timestamp is relative
	// to it, so the same options give the same store.
	Now time.Time
	// Progress is called after each batch of each step.
	Progress func(step string, done, total int)
}

// BulkCustomers writes n synthetic customers and their orders straight in
// SQL (see Bulk), without products, events or email history: what the
// customers pages need.
func BulkCustomers(ctx context.Context, d *sqlx.DB, shopID int64, n int, progress func(done, total int)) error {
	o := BulkOptions{Customers: n}
	if progress != nil {
		o.Progress = func(step string, done, total int) {
			if step == "customers" {
				progress(done, total)
			}
		}
	}
	return Bulk(ctx, d, shopID, o)
}

// Bulk writes a synthetic store straight in SQL (INSERT … SELECT
// generate_series), for benchmark sizes the batch writers would take hours
// over. At a million customers with the defaults of `cartwheel seed --bulk`
// (20 events, 6 emails per customer) that is about 5 M orders, 3,000
// products in 50 collections, 20 M storefront events over 13 months, 6 M
// emails with their opens and clicks, and suppressions.
//
// Values are a function of the row's number through hashint8extended (one
// salt per attribute), so reruns with the same Now give the same store and
// attributes combine the way independent ones do. Order figures come from
// orders.RefreshAllCustomers like after any import; line items are skipped,
// so what each customer bought (customer_products) is written directly, as
// the aggregate of one to three products per order.
func Bulk(ctx context.Context, d *sqlx.DB, shopID int64, o BulkOptions) error {
	if o.Now.IsZero() {
		o.Now = time.Now().UTC()
	}
	n := o.Customers
	if n <= 0 {
		return nil
	}
	progress := func(step string, done, total int) {
		if o.Progress != nil {
			o.Progress(step, done, total)
		}
	}
	var base int64
	if err := d.GetContext(ctx, &base, `SELECT COALESCE(max(shopify_id), 0) FROM customers WHERE shop_id = $1`, shopID); err != nil {
		return fmt.Errorf("seed: bulk: %w", err)
	}
	base = max(base, 2_000_000_000)

	// The catalogue grows with the store: a few thousand products at 1 M.
	products := min(max(n/300, 20), 3000)
	collections := min(max(products/60, 5), 50)
	if _, err := d.ExecContext(ctx, qBulkCollections, shopID, collections); err != nil {
		return fmt.Errorf("seed: bulk collections: %w", err)
	}
	if _, err := d.ExecContext(ctx, qBulkProducts, shopID, products, collections, o.Now); err != nil {
		return fmt.Errorf("seed: bulk products: %w", err)
	}

	for start := 0; start < n; start += bulkBatch {
		end := min(start+bulkBatch, n)
		if _, err := d.ExecContext(ctx, qBulkCustomers, shopID, start, end, base, o.Now); err != nil {
			return fmt.Errorf("seed: bulk customers %d-%d: %w", start, end, err)
		}
		if _, err := d.ExecContext(ctx, qBulkOrders, shopID, start, end, base, o.Now); err != nil {
			return fmt.Errorf("seed: bulk orders %d-%d: %w", start, end, err)
		}
		progress("customers", end, n)
	}
	// Statistics must describe the rows just written before the set-based
	// refreshes plan their joins: planned from statistics taken before this
	// shop existed (a second shop seeded into one database), they pick
	// nested loops and take minutes instead of seconds.
	if err := analyze(ctx, d, "customers", "orders"); err != nil {
		return err
	}
	if err := orders.NewStore(d, customers.NewStore(d)).RefreshAllCustomers(ctx, shopID); err != nil {
		return fmt.Errorf("seed: bulk figures: %w", err)
	}
	progress("figures", n, n)

	// Events need a partition for every month they fall in (13 months back).
	if o.EventsPerCustomer > 0 {
		if _, err := d.ExecContext(ctx, `
			SELECT events_ensure_month(extract(year FROM m)::int, extract(month FROM m)::int)
			FROM generate_series(date_trunc('month', ($1::timestamptz - interval '400 days') AT TIME ZONE 'UTC'),
				date_trunc('month', $1::timestamptz AT TIME ZONE 'UTC') + interval '1 month', interval '1 month') AS m`, o.Now); err != nil {
			return fmt.Errorf("seed: bulk event partitions: %w", err)
		}
	}
	// Customer-linked events follow a skewed activity distribution whose
	// mean is 18.05 per customer; scale it to 85 % of the events asked for.
	eventScale := o.EventsPerCustomer * 0.85 / 18.05
	emailScale := o.EmailsPerCustomer / 5.9
	for start := 0; start < n; start += bulkBatch {
		end := min(start+bulkBatch, n)
		args := []any{shopID, start, end, base, o.Now}
		if _, err := d.ExecContext(ctx, qBulkBought, append(args, products)...); err != nil {
			return fmt.Errorf("seed: bulk products bought %d-%d: %w", start, end, err)
		}
		if _, err := d.ExecContext(ctx, qBulkSuppressions, args...); err != nil {
			return fmt.Errorf("seed: bulk suppressions %d-%d: %w", start, end, err)
		}
		if o.EventsPerCustomer > 0 {
			if _, err := d.ExecContext(ctx, qBulkEvents, append(args, products, collections, eventScale)...); err != nil {
				return fmt.Errorf("seed: bulk events %d-%d: %w", start, end, err)
			}
			anon := int(math.Round(float64(end-start) * o.EventsPerCustomer * 0.15))
			if _, err := d.ExecContext(ctx, qBulkAnonEvents, shopID, int64(start)*1000, anon, base, o.Now, products, collections); err != nil {
				return fmt.Errorf("seed: bulk anonymous events %d-%d: %w", start, end, err)
			}
		}
		if o.EmailsPerCustomer > 0 {
			if _, err := d.ExecContext(ctx, qBulkEmails, append(args, emailScale)...); err != nil {
				return fmt.Errorf("seed: bulk emails %d-%d: %w", start, end, err)
			}
		}
		progress("history", end, n)
	}
	// The history was written straight into the tables, past the paths that
	// keep segments' activity totals current.
	if err := analyze(ctx, d, "customers", "customer_products", "events", "email_messages", "email_events"); err != nil {
		return err
	}
	if err := segments.NewStore(d).RebuildActivity(ctx, shopID); err != nil {
		return fmt.Errorf("seed: bulk: %w", err)
	}
	progress("activity", n, n)
	// VACUUM, not only ANALYZE: benchmarks then see all-visible pages (index-
	// only scans) and set hint bits, as on a store that has been running.
	for _, t := range []string{"customers", "orders", "products", "customer_products", "suppressions", "events", "email_messages", "email_events", "customer_activity"} {
		if _, err := d.ExecContext(ctx, "VACUUM (ANALYZE) "+t); err != nil {
			return fmt.Errorf("seed: vacuum %s: %w", t, err)
		}
	}
	progress("vacuum", n, n)
	return nil
}

// analyze refreshes the planner's statistics of tables (names from this
// file, never from input).
func analyze(ctx context.Context, d *sqlx.DB, tables ...string) error {
	for _, t := range tables {
		if _, err := d.ExecContext(ctx, "ANALYZE "+t); err != nil {
			return fmt.Errorf("seed: analyze %s: %w", t, err)
		}
	}
	return nil
}

// h(x, salt) in the statements below is hashint8extended(x, salt) masked to
// a non-negative bigint: a deterministic, well-mixed function of the row.

const qBulkCollections = `
INSERT INTO collections (shop_id, shopify_id, title, handle)
SELECT $1, 8100000000 + k, 'Collection ' || k, 'collection-' || k
FROM generate_series(0, $2::int - 1) AS k
ON CONFLICT (shop_id, shopify_id) DO NOTHING`

// Products belong to two or three collections.
const qBulkProducts = `
INSERT INTO products (shop_id, shopify_id, title, handle, vendor, product_type, status, price_min, price_max,
	collection_ids, published_at, shopify_created_at, shopify_updated_at)
SELECT $1, 8000000000 + j, t.title, 'bulk-product-' || j, 'Bulk Goods', t.noun, 'active', 8 + j % 120, 12 + j % 120,
	CASE WHEN j % 3 = 0
		THEN ARRAY[8100000000 + j % $3::int, 8100000000 + (j * 7 + 3) % $3::int, 8100000000 + (j * 13 + 5) % $3::int]
		ELSE ARRAY[8100000000 + j % $3::int, 8100000000 + (j * 7 + 3) % $3::int] END,
	$4::timestamptz - interval '800 days', $4::timestamptz - interval '800 days', $4::timestamptz - interval '800 days'
FROM generate_series(0, $2::int - 1) AS j
CROSS JOIN LATERAL (SELECT
	(ARRAY['Classic','Organic','Merino','Vintage','Everyday','Trail','Cozy','Linen'])[1 + j % 8] || ' ' ||
	(ARRAY['Tee','Hoodie','Beanie','Tote','Mug','Candle','Sneaker','Scarf','Cap','Jacket'])[1 + (j / 8) % 10] || ' ' || j AS title,
	(ARRAY['Tee','Hoodie','Beanie','Tote','Mug','Candle','Sneaker','Scarf','Cap','Jacket'])[1 + (j / 8) % 10] AS noun) t
ON CONFLICT (shop_id, shopify_id) DO NOTHING`

// Customers: country, consent and tags use different digits of the row
// number; created and consent dates spread over two years.
const qBulkCustomers = `
INSERT INTO customers (shop_id, shopify_id, email, first_name, last_name, country, city, tags, email_consent,
	email_opt_in_level, email_consent_updated_at, source, created_at, shopify_created_at, shopify_updated_at)
SELECT $1, $4 + i, 'bulk' || ($4 + i) || '@example.com',
	(ARRAY['Olivia','Liam','Emma','Noah','Ava','Lucas','Mia','Hugo','Zoë','Aarav','Freya','Yuki'])[1 + i % 12],
	(ARRAY['Smith','Garcia','Müller','Rossi','Dubois','Tanaka','Silva','Nguyen','Patel','Jensen','López'])[1 + (i / 12) % 11],
	(ARRAY['US','US','US','CA','GB','GB','FR','DE','AU','NL'])[1 + (i * 7) % 10],
	(ARRAY['New York','Austin','Portland','Toronto','London','Leeds','Lyon','Berlin','Melbourne','Utrecht'])[1 + (i * 7) % 10],
	CASE WHEN i % 6 = 0 THEN ARRAY[(ARRAY['VIP','wholesale','newsletter','returning','gift-buyer'])[1 + (i / 6) % 5]] ELSE '{}' END,
	(ARRAY['subscribed','subscribed','subscribed','subscribed','not_subscribed','not_subscribed','not_subscribed','not_subscribed','unsubscribed','pending'])[1 + ((i / 10) * 3) % 10],
	'single_opt_in', $5::timestamptz - (i % 730) * interval '1 day', 'shopify',
	$5::timestamptz - (i % 730) * interval '1 day', $5::timestamptz - (i % 730) * interval '1 day', $5::timestamptz - (i % 730) * interval '1 day'
FROM generate_series($2::bigint, $3::bigint - 1) AS i`

// Orders, skewed: 40 % never buy, 35 % buy 1–3 times, 15 % 4–9 times and
// 10 % are regulars with 10–59 orders (about 5 per customer overall), at
// times spread over each customer's life; a fifth use a discount code, 2 %
// are cancelled.
const qBulkOrders = `
INSERT INTO orders (shop_id, shopify_id, name, customer_id, shopify_customer_id, email, currency,
	subtotal_price, total_tax, total_shipping, total_discounts, total_price, financial_status, cancelled_at,
	processed_at, discount_codes, shopify_created_at, shopify_updated_at, source_name)
SELECT $1, c.shopify_id * 100 + k, '#B' || (c.shopify_id * 100 + k), c.id, c.shopify_id, c.email, 'USD',
	v.sub, 0, 5, v.disc, v.sub + 5 - v.disc, CASE WHEN v.cancelled THEN 'voided' ELSE 'paid' END,
	CASE WHEN v.cancelled THEN v.at + interval '1 day' END,
	v.at, v.codes, v.at, v.at, 'web'
FROM customers c
CROSS JOIN LATERAL (SELECT (hashint8extended(c.shopify_id, 1) & 4611686018427387903) % 100 AS r,
	hashint8extended(c.shopify_id, 2) & 4611686018427387903 AS h) p
CROSS JOIN LATERAL generate_series(1, CASE WHEN p.r < 40 THEN 0 WHEN p.r < 75 THEN 1 + p.h % 3
	WHEN p.r < 90 THEN 4 + p.h % 6 ELSE 10 + p.h % 50 END) AS k
CROSS JOIN LATERAL (SELECT hashint8extended(c.shopify_id * 100 + k, 3) & 4611686018427387903 AS x) q
CROSS JOIN LATERAL (SELECT (20 + q.x % 180)::numeric AS sub,
	CASE WHEN (q.x / 1000) % 5 = 0 THEN round((20 + q.x % 180) * 0.10, 2) ELSE 0 END AS disc,
	CASE WHEN (q.x / 1000) % 5 = 0 THEN ARRAY[(ARRAY['WELCOME10','SPIN15','VIP20','SUMMER24','FREESHIP','BFCM30'])[1 + (q.x / 5000) % 6]]
		ELSE '{}'::text[] END AS codes,
	(q.x / 100000) % 50 = 0 AS cancelled,
	c.created_at + ((q.x / 1000000) % 1000) / 1000.0 * ($5::timestamptz - c.created_at) AS at) v
WHERE c.shop_id = $1 AND c.shopify_id >= $2::bigint + $4::bigint AND c.shopify_id < $3::bigint + $4::bigint`

// What each customer bought: one to three products per counted order (the
// popular ones far more often), aggregated like orders.RefreshCustomers.
const qBulkBought = `
INSERT INTO customer_products (shop_id, customer_id, product_id, quantity, first_bought_at, last_bought_at)
SELECT o.shop_id, o.customer_id,
	8000000000 + floor($6::int * power(((hashint8extended(o.shopify_id * 4 + l, 5) & 4611686018427387903) % 1000000) / 1000000.0, 2))::bigint,
	sum(1 + l % 2), min(o.processed_at), max(o.processed_at)
FROM customers c
JOIN orders o ON o.shop_id = c.shop_id AND o.customer_id = c.id AND o.cancelled_at IS NULL AND NOT o.test
CROSS JOIN LATERAL generate_series(1, 1 + ((hashint8extended(o.shopify_id, 4) & 4611686018427387903) % 3)::int) AS l
WHERE c.shop_id = $1 AND c.shopify_id >= $2::bigint + $4::bigint AND c.shopify_id < $3::bigint + $4::bigint
	AND $5::timestamptz IS NOT NULL
GROUP BY 1, 2, 3`

// About 3.5 % of addresses bounced or complained; half of the unsubscribed
// are suppressed as unsubscribed too.
const qBulkSuppressions = `
INSERT INTO suppressions (shop_id, email, reason, source, created_at)
SELECT $1, lower(c.email), s.reason, s.source, $5::timestamptz - ((c.shopify_id % 300) * interval '1 day')
FROM customers c
CROSS JOIN LATERAL (SELECT (hashint8extended(c.shopify_id, 12) & 4611686018427387903) % 1000 AS r) p
CROSS JOIN LATERAL (SELECT CASE WHEN p.r < 20 THEN 'hard_bounce' WHEN p.r < 30 THEN 'soft_bounces' WHEN p.r < 35 THEN 'complaint'
		WHEN c.email_consent = 'unsubscribed' AND p.r % 2 = 0 THEN 'unsubscribed' END AS reason,
	CASE WHEN p.r < 30 THEN 'bounce' WHEN p.r < 35 THEN 'complaint' ELSE 'unsubscribe' END AS source) s
WHERE c.shop_id = $1 AND c.shopify_id >= $2::bigint + $4::bigint AND c.shopify_id < $3::bigint + $4::bigint
	AND s.reason IS NOT NULL
ON CONFLICT (shop_id, email) DO NOTHING`

// eventData is the shared tail of both event statements: from x (a hash of
// the event) it picks name, time (13 months back, recent days far denser),
// product and collection, and builds data in the web pixel's shape. It
// expects $5 now, $6 products, $7 collections.
const eventData = `
CROSS JOIN LATERAL (SELECT
	(x.h / 1000000) % 100 AS r,
	$5::timestamptz - (power((x.h % 1000000) / 1000000.0, 2) * 395 * 86400 + (x.h / 100000000) % 3600 + 1) * interval '1 second' AS at,
	floor($6::int * power(((x.h2 % 1000000) / 1000000.0), 2))::bigint AS pj,
	(x.h2 / 1000000) % $7::int AS cj,
	(ARRAY['hoodie','linen shirt','gift','mug','sale','beanie','wool socks','candle','tote bag','sneakers'])[1 + (x.h2 / 1000000) % 10] AS term) f
CROSS JOIN LATERAL (SELECT
	CASE WHEN f.r < 38 THEN 'page_viewed' WHEN f.r < 68 THEN 'product_viewed' WHEN f.r < 78 THEN 'collection_viewed'
		WHEN f.r < 83 THEN 'search_submitted' WHEN f.r < 91 THEN 'product_added_to_cart' WHEN f.r < 94 THEN 'cart_viewed'
		WHEN f.r < 98 THEN 'checkout_started' ELSE 'checkout_completed' END AS name,
	(8000000000 + f.pj)::text AS pid,
	jsonb_build_object('id', ((8000000000 + f.pj) * 10 + 1)::text, 'title', 'M', 'sku', 'BULK-' || f.pj || '-M',
		'price', jsonb_build_object('amount', 8 + f.pj % 120, 'currencyCode', 'USD'),
		'product', jsonb_build_object('id', (8000000000 + f.pj)::text, 'title', 'Product ' || f.pj, 'vendor', 'Bulk Goods')) AS variant) g
`

const eventCase = `
CASE g.name
	WHEN 'product_viewed' THEN jsonb_build_object('productVariant', g.variant)
	WHEN 'product_added_to_cart' THEN jsonb_build_object('cartLine', jsonb_build_object('quantity', 1,
		'cost', jsonb_build_object('totalAmount', g.variant->'price'), 'merchandise', g.variant))
	WHEN 'collection_viewed' THEN jsonb_build_object('collection', jsonb_build_object('id', (8100000000 + f.cj)::text, 'title', 'Collection ' || f.cj))
	WHEN 'search_submitted' THEN jsonb_build_object('searchResult', jsonb_build_object('query', f.term, 'productVariants', '[]'::jsonb))
	WHEN 'checkout_started' THEN jsonb_build_object('checkout', jsonb_build_object('totalPrice', g.variant->'price',
		'lineItems', jsonb_build_array(jsonb_build_object('quantity', 1, 'title', 'Product ' || f.pj, 'variant', g.variant))))
	WHEN 'checkout_completed' THEN jsonb_build_object('checkout', jsonb_build_object('totalPrice', g.variant->'price',
		'lineItems', jsonb_build_array(jsonb_build_object('quantity', 1, 'title', 'Product ' || f.pj, 'variant', g.variant))))
	ELSE '{}'::jsonb END,
CASE WHEN g.name IN ('product_viewed', 'product_added_to_cart') THEN 'https://bulk.example/products/' || g.pid
	WHEN g.name = 'collection_viewed' THEN 'https://bulk.example/collections/' || f.cj
	WHEN g.name = 'search_submitted' THEN 'https://bulk.example/search?q=' || f.term
	ELSE 'https://bulk.example/' END`

// Customer-linked events: 30 % of customers never browse, 40 % a little,
// 20 % a lot, 10 % are heavy browsers ($8 scales the counts).
const qBulkEvents = `
INSERT INTO events (shop_id, event_id, visitor_id, customer_id, name, occurred_at, received_at, source, data, url)
SELECT $1, 'bulk-' || c.shopify_id || '-' || k, 'v' || c.shopify_id, c.id, g.name, f.at, f.at, 'pixel',` + eventCase + `
FROM customers c
CROSS JOIN LATERAL (SELECT (hashint8extended(c.shopify_id, 6) & 4611686018427387903) % 100 AS r,
	hashint8extended(c.shopify_id, 7) & 4611686018427387903 AS h) p
CROSS JOIN LATERAL generate_series(1, round($8::float8 * CASE WHEN p.r < 30 THEN 0 WHEN p.r < 70 THEN 1 + p.h % 10
	WHEN p.r < 90 THEN 10 + p.h % 40 ELSE 50 + p.h % 100 END)::int) AS k
CROSS JOIN LATERAL (SELECT hashint8extended(c.shopify_id * 10000 + k, 8) & 4611686018427387903 AS h,
	hashint8extended(c.shopify_id * 10000 + k, 9) & 4611686018427387903 AS h2) x` + eventData + `
WHERE c.shop_id = $1 AND c.shopify_id >= $2::bigint + $4::bigint AND c.shopify_id < $3::bigint + $4::bigint`

// Anonymous visitors: no customer, their own visitor ids. $2 is the first
// event number, $3 how many.
const qBulkAnonEvents = `
INSERT INTO events (shop_id, event_id, visitor_id, customer_id, name, occurred_at, received_at, source, data, url)
SELECT $1, 'bulk-anon-' || ($4::bigint + a), 'a' || ($4::bigint + a / 7), NULL, g.name, f.at, f.at, 'pixel',` + eventCase + `
FROM generate_series($2::bigint, $2::bigint + $3::int - 1) AS a
CROSS JOIN LATERAL (SELECT hashint8extended(a, 10) & 4611686018427387903 AS h,
	hashint8extended(a, 11) & 4611686018427387903 AS h2) x` + eventData

// Emails: 30 % of customers got none, the rest 1–24 campaign and flow
// messages over 400 days ($6 scales the counts). Opens depend on how engaged
// the customer is (60 %, 20 % or 2 % of messages), a quarter of opens click,
// one open in ten is machine (privacy prefetch). Each message names its
// campaign (one of 200) or flow (one of 8) run and step, as sends do.
const qBulkEmails = `
WITH m AS (
	INSERT INTO email_messages (shop_id, customer_id, to_email, kind, dedupe_key, subject, status, provider,
		provider_message_id, marketing, attempts, created_at, sending_at, sent_at, updated_at,
		campaign_id, flow_id, flow_version, flow_run_id, flow_step)
	SELECT $1, c.id, c.email, CASE WHEN q.campaign THEN 'campaign' ELSE 'flow' END,
		CASE WHEN q.campaign THEN 'campaign:' || (1 + (q.y / 10) % 200) || ':customer:' || c.id
		     ELSE 'flow_run:' || (c.shopify_id * 10000 + k) || ':step:email-1' END,
		'Bulk email ' || k, 'delivered', 'sendgrid', 'bulk-' || c.shopify_id || '-' || k, true, 1, t.at, t.at, t.at, t.at,
		CASE WHEN q.campaign THEN 1 + (q.y / 10) % 200 END,
		CASE WHEN NOT q.campaign THEN 1 + (q.y / 10) % 8 END, CASE WHEN NOT q.campaign THEN 1 END,
		CASE WHEN NOT q.campaign THEN c.shopify_id * 10000 + k END, CASE WHEN NOT q.campaign THEN 'email-1' END
	FROM customers c
	CROSS JOIN LATERAL (SELECT (hashint8extended(c.shopify_id, 13) & 4611686018427387903) % 100 AS r,
		hashint8extended(c.shopify_id, 14) & 4611686018427387903 AS h) p
	CROSS JOIN LATERAL generate_series(1, round($6::float8 * CASE WHEN p.r < 30 THEN 0 WHEN p.r < 55 THEN 1 + p.h % 4
		WHEN p.r < 80 THEN 5 + p.h % 5 ELSE 10 + p.h % 15 END)::int) AS k
	CROSS JOIN LATERAL (SELECT y, y % 10 < 7 AS campaign
		FROM (SELECT hashint8extended(c.shopify_id * 1000 + k, 15) & 4611686018427387903 AS y) h) q
	CROSS JOIN LATERAL (SELECT $5::timestamptz - ((q.y / 1000) % (400 * 86400)) * interval '1 second' AS at) t
	WHERE c.shop_id = $1 AND c.shopify_id >= $2::bigint + $4::bigint AND c.shopify_id < $3::bigint + $4::bigint
	ON CONFLICT DO NOTHING
	RETURNING id, customer_id, sent_at
)
INSERT INTO email_events (shop_id, message_id, source, kind, link_index, url, user_agent, machine, occurred_at, recorded_at)
SELECT $1, m.id, e.source, e.kind, e.link, e.url, 'Mozilla/5.0', e.kind = 'open' AND (z.z / 4) % 10 = 0,
	m.sent_at + ((z.z / 1000) % 172800) * interval '1 second', m.sent_at + ((z.z / 1000) % 172800) * interval '1 second'
FROM m
CROSS JOIN LATERAL (SELECT (hashint8extended(m.customer_id, 16) & 4611686018427387903) % 100 AS engaged,
	hashint8extended(m.id, 17) & 4611686018427387903 AS z) z
CROSS JOIN LATERAL (VALUES ('pixel', 'open', NULL::int, ''), ('redirect', 'click', 0, 'https://bulk.example/')) AS e(source, kind, link, url)
WHERE z.z % 1000 < CASE WHEN z.engaged < 30 THEN 600 WHEN z.engaged < 60 THEN 200 ELSE 20 END
	AND (e.kind = 'open' OR z.z % 4 = 0)`
