package orders

import (
	"context"
	"fmt"

	"github.com/jmoiron/sqlx"
	"github.com/lib/pq"

	"github.com/cartwheel/cartwheel/app/customers"
)

// Figures count orders that are neither cancelled nor test orders; total
// spent is net of refunds.
const orderCounts = `o.cancelled_at IS NULL AND NOT o.test`

// RefreshCustomers recomputes the derived figures and products bought of
// the given profiles from their orders, in the caller's transaction, which
// has written its orders already.
//
// Shopify delivers several webhooks of one customer at the same moment.
// Each transaction would otherwise recompute from a snapshot that lacks the
// others' uncommitted orders and overwrite their results (20 concurrent
// orders once left "5 orders"). The profile rows are locked first
// (customers.LockProfiles): the recompute statements then run after every
// earlier writer committed, and a later writer waits for this one, so the
// last one to commit computes from all orders. Serialising here, rather
// than recomputing after commit in a job, keeps the figures right the moment
// the webhook is acknowledged, at the cost of webhooks of one customer
// waiting for each other (milliseconds).
func (s *Store) RefreshCustomers(ctx context.Context, tx *sqlx.Tx, shopID int64, customerIDs []int64) error {
	if len(customerIDs) == 0 {
		return nil
	}
	if err := lockShopFigures(ctx, tx, shopID, false); err != nil {
		return err
	}
	if _, err := customers.LockProfiles(ctx, tx, shopID, customerIDs); err != nil {
		return fmt.Errorf("orders: refresh figures: %w", err)
	}
	if _, err := tx.ExecContext(ctx, fmt.Sprintf(qRefreshFigures, `AND c.id = ANY($2)`), shopID, pq.Array(customerIDs)); err != nil {
		return fmt.Errorf("orders: refresh figures: %w", err)
	}
	if _, err := tx.ExecContext(ctx, `DELETE FROM customer_products WHERE shop_id = $1 AND customer_id = ANY($2)`,
		shopID, pq.Array(customerIDs)); err != nil {
		return fmt.Errorf("orders: refresh products bought: %w", err)
	}
	if _, err := tx.ExecContext(ctx, qProductsBought+` AND o.customer_id = ANY($2) GROUP BY 1, 2, 3`, shopID, pq.Array(customerIDs)); err != nil {
		return fmt.Errorf("orders: refresh products bought: %w", err)
	}
	return nil
}

// RefreshAllCustomers recomputes every profile of the shop in set-based
// statements: after a full import this is far cheaper than per customer.
func (s *Store) RefreshAllCustomers(ctx context.Context, shopID int64) error {
	tx, err := s.db.BeginTxx(ctx, nil)
	if err != nil {
		return fmt.Errorf("orders: refresh all: %w", err)
	}
	defer tx.Rollback()
	if err := lockShopFigures(ctx, tx, shopID, true); err != nil {
		return err
	}
	if _, err := tx.ExecContext(ctx, fmt.Sprintf(qRefreshFigures, ``), shopID); err != nil {
		return fmt.Errorf("orders: refresh all figures: %w", err)
	}
	if _, err := tx.ExecContext(ctx, `DELETE FROM customer_products WHERE shop_id = $1`, shopID); err != nil {
		return fmt.Errorf("orders: refresh all products bought: %w", err)
	}
	if _, err := tx.ExecContext(ctx, qProductsBought+` GROUP BY 1, 2, 3`, shopID); err != nil {
		return fmt.Errorf("orders: refresh all products bought: %w", err)
	}
	return tx.Commit()
}

// lockShopFigures serialises the whole-shop recompute with the
// per-customer ones: it reads every order from one snapshot, so a webhook
// committing meanwhile would have its figures overwritten with older ones.
// Per-customer refreshes share the shop's lock; the whole-shop one (after an
// import, rare and seconds long) takes it alone, and order webhooks wait
// for it. One advisory lock per transaction, whatever the batch size.
func lockShopFigures(ctx context.Context, tx *sqlx.Tx, shopID int64, exclusive bool) error {
	fn := "pg_advisory_xact_lock_shared"
	if exclusive {
		fn = "pg_advisory_xact_lock"
	}
	if _, err := tx.ExecContext(ctx, `SELECT `+fn+`($1, ($2::bigint % 2147483647)::int)`, lockSpaceFigures, shopID); err != nil {
		return fmt.Errorf("orders: lock shop figures: %w", err)
	}
	return nil
}

// lockSpaceFigures is this package's advisory lock space (first key).
const lockSpaceFigures = 0x0dde0001

const qRefreshFigures = `
WITH agg AS (
	SELECT c.id,
		count(o.shopify_id) FILTER (WHERE ` + orderCounts + `) AS n,
		COALESCE(sum(o.total_price - o.total_refunded) FILTER (WHERE ` + orderCounts + `), 0) AS spent,
		min(o.processed_at) FILTER (WHERE ` + orderCounts + `) AS first_at,
		max(o.processed_at) FILTER (WHERE ` + orderCounts + `) AS last_at
	FROM customers c LEFT JOIN orders o ON o.shop_id = c.shop_id AND o.customer_id = c.id
	WHERE c.shop_id = $1 %s
	GROUP BY c.id
)
UPDATE customers c SET orders_count = agg.n, total_spent = agg.spent,
	average_order_value = CASE WHEN agg.n > 0 THEN round(agg.spent / agg.n, 2) ELSE 0 END,
	first_order_at = agg.first_at, last_order_at = agg.last_at
FROM agg WHERE c.id = agg.id
  AND (c.orders_count, c.total_spent, c.first_order_at, c.last_order_at)
      IS DISTINCT FROM (agg.n, agg.spent, agg.first_at, agg.last_at)`

const qProductsBought = `
INSERT INTO customer_products (shop_id, customer_id, product_id, quantity, first_bought_at, last_bought_at)
SELECT o.shop_id, o.customer_id, li.product_id, sum(li.quantity), min(o.processed_at), max(o.processed_at)
FROM orders o JOIN order_line_items li ON li.shop_id = o.shop_id AND li.order_id = o.shopify_id
WHERE o.shop_id = $1 AND o.customer_id IS NOT NULL AND li.product_id IS NOT NULL AND ` + orderCounts

// Repair is what RepairCustomers found wrong and rewrote.
type Repair struct {
	Figures  int64 // profiles whose figures were wrong
	Products int64 // profiles whose products bought were wrong
}

// RepairCustomers finds the shop's profiles whose figures or products
// bought differ from a recompute from their orders and recomputes them: the
// consistency sweep's check of this package's derived data. Every write
// path keeps them right (RefreshCustomers), so anything found here is a
// bug, counted in the sweep's metric.
//
// The search reads without locks (one set-based pass over the shop's
// orders, which is cheap next to events); each profile it finds is then
// re-checked and rewritten under the profile's lock, so a webhook
// committing meanwhile is neither overwritten with stale figures nor
// counted as drift.
func (s *Store) RepairCustomers(ctx context.Context, shopID int64) (Repair, error) {
	var ids []int64
	if err := s.db.SelectContext(ctx, &ids, qDriftedCustomers, shopID); err != nil {
		return Repair{}, fmt.Errorf("orders: find drifted figures: %w", err)
	}
	var out Repair
	for len(ids) > 0 {
		n := min(len(ids), 500)
		r, err := s.repairBatch(ctx, shopID, ids[:n])
		if err != nil {
			return out, err
		}
		out.Figures += r.Figures
		out.Products += r.Products
		ids = ids[n:]
	}
	return out, nil
}

func (s *Store) repairBatch(ctx context.Context, shopID int64, ids []int64) (Repair, error) {
	tx, err := s.db.BeginTxx(ctx, nil)
	if err != nil {
		return Repair{}, fmt.Errorf("orders: repair: %w", err)
	}
	defer tx.Rollback()
	if err := lockShopFigures(ctx, tx, shopID, false); err != nil {
		return Repair{}, err
	}
	if _, err := customers.LockProfiles(ctx, tx, shopID, ids); err != nil {
		return Repair{}, fmt.Errorf("orders: repair: %w", err)
	}
	var out Repair
	var wrongProducts []int64
	if err := tx.SelectContext(ctx, &wrongProducts, qDriftedProducts+` AND customer_id = ANY($2)`, shopID, pq.Array(ids)); err != nil {
		return Repair{}, fmt.Errorf("orders: repair products bought: %w", err)
	}
	out.Products = int64(len(wrongProducts))
	res, err := tx.ExecContext(ctx, fmt.Sprintf(qRefreshFigures, `AND c.id = ANY($2)`), shopID, pq.Array(ids))
	if err != nil {
		return Repair{}, fmt.Errorf("orders: repair figures: %w", err)
	}
	if out.Figures, err = res.RowsAffected(); err != nil {
		return Repair{}, fmt.Errorf("orders: repair figures: %w", err)
	}
	if len(wrongProducts) > 0 {
		if _, err := tx.ExecContext(ctx, `DELETE FROM customer_products WHERE shop_id = $1 AND customer_id = ANY($2)`,
			shopID, pq.Array(wrongProducts)); err != nil {
			return Repair{}, fmt.Errorf("orders: repair products bought: %w", err)
		}
		if _, err := tx.ExecContext(ctx, qProductsBought+` AND o.customer_id = ANY($2) GROUP BY 1, 2, 3`, shopID, pq.Array(wrongProducts)); err != nil {
			return Repair{}, fmt.Errorf("orders: repair products bought: %w", err)
		}
	}
	if out.Figures == 0 && out.Products == 0 {
		return out, nil // nothing written: no commit needed
	}
	return out, tx.Commit()
}

// qProductsExpected is customer_products as qProductsBought computes it.
const qProductsExpected = `
SELECT o.customer_id, li.product_id, sum(li.quantity) AS quantity, min(o.processed_at) AS first_at, max(o.processed_at) AS last_at
FROM orders o JOIN order_line_items li ON li.shop_id = o.shop_id AND li.order_id = o.shopify_id
WHERE o.shop_id = $1 AND o.customer_id IS NOT NULL AND li.product_id IS NOT NULL AND ` + orderCounts + `
GROUP BY 1, 2`

// qDriftedProducts lists the profiles whose stored products bought differ
// from a recompute (callers may narrow it with "AND customer_id = …").
const qDriftedProducts = `
SELECT DISTINCT customer_id FROM (
	SELECT COALESCE(e.customer_id, p.customer_id) AS customer_id
	FROM (` + qProductsExpected + `) e
	FULL JOIN (SELECT * FROM customer_products WHERE shop_id = $1) p
		ON p.customer_id = e.customer_id AND p.product_id = e.product_id
	WHERE (e.quantity, e.first_at, e.last_at) IS DISTINCT FROM (p.quantity, p.first_bought_at, p.last_bought_at)
) d WHERE true`

// qDriftedCustomers lists the profiles whose figures or products bought
// differ from a recompute from their orders.
const qDriftedCustomers = `
WITH agg AS (
	SELECT c.id, c.orders_count, c.total_spent, c.first_order_at, c.last_order_at,
		count(o.shopify_id) FILTER (WHERE ` + orderCounts + `) AS n,
		COALESCE(sum(o.total_price - o.total_refunded) FILTER (WHERE ` + orderCounts + `), 0) AS spent,
		min(o.processed_at) FILTER (WHERE ` + orderCounts + `) AS first_at,
		max(o.processed_at) FILTER (WHERE ` + orderCounts + `) AS last_at
	FROM customers c LEFT JOIN orders o ON o.shop_id = c.shop_id AND o.customer_id = c.id
	WHERE c.shop_id = $1
	GROUP BY c.id
)
SELECT id FROM agg WHERE (orders_count, total_spent, first_order_at, last_order_at) IS DISTINCT FROM (n, spent, first_at, last_at)
UNION
` + qDriftedProducts + `
ORDER BY 1`
