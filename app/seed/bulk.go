package seed

import (
	"context"
	"fmt"

	"github.com/jmoiron/sqlx"

	"github.com/cartwheel/cartwheel/app/customers"
	"github.com/cartwheel/cartwheel/app/orders"
)

// bulkBatch is how many customers each INSERT … SELECT generate_series
// statement writes; batches keep each transaction and its WAL modest.
const bulkBatch = 100_000

// BulkCustomers writes n synthetic customers, and orders for about 60 % of
// them, straight in SQL (INSERT … SELECT generate_series): about a minute
// for a million customers, where the batch writers take far longer. It is for
// benchmarks only, so it skips what the writers add (line items, consent
// history); figures are then derived by orders.RefreshAllCustomers like any
// import. Values are a function of the row number, so reruns are stable;
// country, consent and buying use different digits of it, so filters on
// them combine the way independent attributes do in a real store.
func BulkCustomers(ctx context.Context, d *sqlx.DB, shopID int64, n int, progress func(done, total int)) error {
	var base int64
	if err := d.GetContext(ctx, &base, `SELECT COALESCE(max(shopify_id), 0) FROM customers WHERE shop_id = $1`, shopID); err != nil {
		return fmt.Errorf("seed: bulk: %w", err)
	}
	base = max(base, 2_000_000_000)
	for start := 0; start < n; start += bulkBatch {
		end := min(start+bulkBatch, n)
		if _, err := d.ExecContext(ctx, `
			INSERT INTO customers (shop_id, shopify_id, email, first_name, last_name, country, city, tags, email_consent,
				email_opt_in_level, email_consent_updated_at, source, created_at, shopify_created_at, shopify_updated_at)
			SELECT $1, $4 + i, 'bulk' || ($4 + i) || '@example.com',
				(ARRAY['Olivia','Liam','Emma','Noah','Ava','Lucas','Mia','Hugo','Zoë','Aarav','Freya','Yuki'])[1 + i % 12],
				(ARRAY['Smith','Garcia','Müller','Rossi','Dubois','Tanaka','Silva','Nguyen','Patel','Jensen','López'])[1 + (i / 12) % 11],
				(ARRAY['US','US','US','CA','GB','GB','FR','DE','AU','NL'])[1 + (i * 7) % 10],
				(ARRAY['New York','Austin','Portland','Toronto','London','Leeds','Lyon','Berlin','Melbourne','Utrecht'])[1 + (i * 7) % 10],
				CASE WHEN i % 6 = 0 THEN ARRAY[(ARRAY['VIP','wholesale','newsletter','returning','gift-buyer'])[1 + (i / 6) % 5]] ELSE '{}' END,
				(ARRAY['subscribed','subscribed','subscribed','subscribed','not_subscribed','not_subscribed','not_subscribed','not_subscribed','unsubscribed','pending'])[1 + ((i / 10) * 3) % 10],
				'single_opt_in', now() - (i % 730) * interval '1 day', 'shopify',
				now() - (i % 730) * interval '1 day', now() - (i % 730) * interval '1 day', now() - (i % 730) * interval '1 day'
			FROM generate_series($2::bigint, $3::bigint - 1) AS i`, shopID, start, end, base); err != nil {
			return fmt.Errorf("seed: bulk customers: %w", err)
		}
		// Skewed histories: 40 % never buy, most buyers once, every 25th a regular.
		if _, err := d.ExecContext(ctx, `
			INSERT INTO orders (shop_id, shopify_id, name, customer_id, shopify_customer_id, email, currency,
				subtotal_price, total_tax, total_shipping, total_price, financial_status, processed_at,
				shopify_created_at, shopify_updated_at, source_name)
			SELECT $1, c.shopify_id * 100 + k, '#B' || (c.shopify_id * 100 + k), c.id, c.shopify_id, c.email, 'USD',
				20 + (c.shopify_id * 13 + k * 7) % 180, 0, 5, 25 + (c.shopify_id * 13 + k * 7) % 180, 'paid',
				c.created_at + (k * 9 % 300) * interval '1 day', c.created_at, c.created_at, 'web'
			FROM customers c
			CROSS JOIN LATERAL generate_series(1, CASE WHEN (c.shopify_id / 100) % 10 < 4 THEN 0
				WHEN c.shopify_id % 25 = 0 THEN 12 ELSE 1 + c.shopify_id % 3 END) AS k
			WHERE c.shop_id = $1 AND c.shopify_id >= $2::bigint + $4::bigint AND c.shopify_id < $3::bigint + $4::bigint`, shopID, start, end, base); err != nil {
			return fmt.Errorf("seed: bulk orders: %w", err)
		}
		if progress != nil {
			progress(end, n)
		}
	}
	if err := orders.NewStore(d, customers.NewStore(d)).RefreshAllCustomers(ctx, shopID); err != nil {
		return fmt.Errorf("seed: bulk figures: %w", err)
	}
	if _, err := d.ExecContext(ctx, `ANALYZE customers; ANALYZE orders`); err != nil {
		return fmt.Errorf("seed: analyze: %w", err)
	}
	return nil
}
