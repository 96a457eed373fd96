package reports

import (
	"context"
	"fmt"
	"time"

	"github.com/jmoiron/sqlx"
	"github.com/lib/pq"
)

// ForgetCustomers removes what the reports keep per customer, for a
// customers/redact request, in the caller's transaction: their rows in
// report_email_customers (unique-customer rollups; the day's counts stay,
// they are not about anyone) and the link from their attributed orders to
// them (the order's revenue stays credited to its email), and the
// subscriber rollup's state of them. Run it before the profiles are
// deleted.
func ForgetCustomers(ctx context.Context, tx *sqlx.Tx, shopID int64, customerIDs []int64) error {
	if len(customerIDs) == 0 {
		return nil
	}
	if _, err := tx.ExecContext(ctx, `DELETE FROM report_email_customers WHERE shop_id = $1 AND customer_id = ANY($2)`,
		shopID, pq.Array(customerIDs)); err != nil {
		return fmt.Errorf("reports: forget customers: %w", err)
	}
	if _, err := tx.ExecContext(ctx, `UPDATE order_attributions SET customer_id = NULL, updated_at = now()
		WHERE shop_id = $1 AND customer_id = ANY($2)`, shopID, pq.Array(customerIDs)); err != nil {
		return fmt.Errorf("reports: forget customers' attributions: %w", err)
	}
	// The subscriber rollup's state of each profile goes too; one that was
	// counted as subscribed leaves the list today, so the running total
	// stays the number of subscribed profiles.
	var left int64
	if err := tx.GetContext(ctx, &left, `WITH gone AS (
			DELETE FROM report_subscriber_states WHERE shop_id = $1 AND customer_id = ANY($2) RETURNING consent, deleted)
		SELECT count(*) FROM gone WHERE consent = 'subscribed' AND NOT deleted`, shopID, pq.Array(customerIDs)); err != nil {
		return fmt.Errorf("reports: forget customers' subscriber state: %w", err)
	}
	if left > 0 {
		loc, err := shopZone(ctx, tx, shopID)
		if err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, `INSERT INTO report_subscribers_daily AS t (shop_id, day, slot, unsubscribed) VALUES ($1, $2, 0, $3)
			ON CONFLICT (shop_id, day, slot) DO UPDATE SET unsubscribed = t.unsubscribed + excluded.unsubscribed`,
			shopID, dayOf(time.Now(), loc), left); err != nil {
			return fmt.Errorf("reports: forget customers' subscriptions: %w", err)
		}
	}
	return nil
}
