package orders

import (
	"context"
	"fmt"

	"github.com/jmoiron/sqlx"
	"github.com/lib/pq"
)

// Figures count orders that are neither cancelled nor test orders; total
// spent is net of refunds.
const orderCounts = `o.cancelled_at IS NULL AND NOT o.test`

// RefreshCustomers recomputes the derived figures and products bought of
// the given profiles from their orders, in the caller's transaction.
func (s *Store) RefreshCustomers(ctx context.Context, tx *sqlx.Tx, shopID int64, customerIDs []int64) error {
	if len(customerIDs) == 0 {
		return nil
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
