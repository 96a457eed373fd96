package webhooks

import (
	"context"
	"fmt"
	"time"

	"github.com/jmoiron/sqlx"
)

// PruneRawBodies drops the raw bytes of rejected deliveries older than the
// retention (they may hold personal data) and returns how many it dropped.
func PruneRawBodies(ctx context.Context, db sqlx.ExecerContext, now time.Time) (int64, error) {
	res, err := db.ExecContext(ctx, `UPDATE webhook_deliveries SET raw_body = NULL
		WHERE raw_body IS NOT NULL AND received_at < $1`, now.Add(-rawBodyRetention))
	if err != nil {
		return 0, fmt.Errorf("webhooks: prune raw bodies: %w", err)
	}
	n, _ := res.RowsAffected()
	return n, nil
}
