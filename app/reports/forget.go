package reports

import (
	"context"
	"fmt"

	"github.com/jmoiron/sqlx"
	"github.com/lib/pq"
)

// ForgetCustomers removes what the reports keep per customer, for a
// customers/redact request, in the caller's transaction: their rows in
// report_email_customers (unique-customer rollups; the day's counts stay,
// they are not about anyone) and the link from their attributed orders to
// them (the order's revenue stays credited to its email). Run it before
// the profiles are deleted.
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
	return nil
}
