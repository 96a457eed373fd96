package segments

import (
	"context"
	"fmt"

	"github.com/jmoiron/sqlx"
)

// customer_activity holds, per customer and activity, the count and the
// first and last time (see migrations/00015_customer_activity.sql). Rules
// that only ask "at least once since …" or "N times ever" read it instead
// of scanning every event and email of the shop. It is derived data,
// rebuilt for one customer by RefreshCustomer (under the segment locks)
// from the same tables Eval reads: every write path that adds a customer's
// events or emails queues that refresh. Data loaded in bulk past those paths
// (the migration that created the table, the benchmark seed) is summarised
// with RebuildActivity.

// Activity names besides storefront event names.
const (
	ActivityReceived = "email:received"
	ActivityOpen     = "email:open"
	ActivityClick    = "email:click"
)

// activityInsertSQL computes the shop's rows, or one customer's when $2
// is not 0. (Statements are planned with their values, so the "$2 = 0"
// branches cost nothing.)
const activityInsertSQL = `INSERT INTO customer_activity (shop_id, customer_id, name, n, first_at, last_at)
SELECT $1, e.customer_id, e.name, count(*), min(e.occurred_at), max(e.occurred_at)
FROM events e WHERE e.shop_id = $1 AND e.customer_id IS NOT NULL AND ($2::bigint = 0 OR e.customer_id = $2::bigint)
GROUP BY e.customer_id, e.name
UNION ALL
SELECT $1, m.customer_id, '` + ActivityReceived + `', count(*), min(m.sent_at), max(m.sent_at)
FROM email_messages m WHERE m.shop_id = $1 AND m.customer_id IS NOT NULL AND ($2::bigint = 0 OR m.customer_id = $2::bigint)
	AND m.kind IN ('campaign', 'flow') AND m.sent_at IS NOT NULL
GROUP BY m.customer_id
UNION ALL
SELECT $1, m.customer_id, 'email:' || ev.kind, count(DISTINCT m.id), min(ev.occurred_at), max(ev.occurred_at)
FROM email_messages m JOIN email_events ev ON ev.message_id = m.id
WHERE m.shop_id = $1 AND m.customer_id IS NOT NULL AND ($2::bigint = 0 OR m.customer_id = $2::bigint)
	AND NOT ev.machine AND ev.kind IN ('open', 'click')
GROUP BY m.customer_id, ev.kind`

// rebuildActivity recomputes customer_activity for the shop (customerID
// 0) or one customer, inside tx. A data-modifying CTE and the INSERT see
// the same snapshot, so the DELETE must finish first: it runs as its own
// statement.
func rebuildActivity(ctx context.Context, tx sqlx.ExecerContext, shopID, customerID int64) error {
	if _, err := tx.ExecContext(ctx, `DELETE FROM customer_activity WHERE shop_id = $1 AND ($2::bigint = 0 OR customer_id = $2::bigint)`,
		shopID, customerID); err != nil {
		return fmt.Errorf("segments: clear activity: %w", err)
	}
	if _, err := tx.ExecContext(ctx, activityInsertSQL, shopID, customerID); err != nil {
		return fmt.Errorf("segments: rebuild activity: %w", err)
	}
	return nil
}

// RebuildActivity recomputes the shop's activity totals in one
// transaction; for data written in bulk outside the app's write paths
// (the benchmark seed).
func (s *Store) RebuildActivity(ctx context.Context, shopID int64) error {
	return s.inTx(ctx, func(tx *sqlx.Tx) error { return rebuildActivity(ctx, tx, shopID, 0) })
}

// activityShape says how a count condition can be answered from
// customer_activity: "recent" (at least once in a window with no end:
// last_at in the window), "total" (any count, any time: n), or "" (it
// needs the raw rows: a filter, a window with an end, or a windowed count
// other than "at least once").
func activityShape(c Condition) string {
	if c.Filter != nil {
		return ""
	}
	if c.Window == nil || c.Window.Kind == "ever" {
		return "total"
	}
	if c.Window.Kind == "between" {
		return ""
	}
	if c.Count == nil || (c.Count.Op == "at_least" && c.Count.N == 1) {
		return "recent"
	}
	return ""
}
