package segments

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/jmoiron/sqlx"
	"github.com/lib/pq"
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

// activityExpectedSQL is activityInsertSQL's SELECT for the customers in
// the array $2.
var activityExpectedSQL = strings.NewReplacer(
	"($2::bigint = 0 OR e.customer_id = $2::bigint)", "e.customer_id = ANY($2::bigint[])",
	"($2::bigint = 0 OR m.customer_id = $2::bigint)", "m.customer_id = ANY($2::bigint[])",
).Replace(activityInsertSQL[strings.Index(activityInsertSQL, "SELECT"):])

// activityDriftSQL lists the customers of $2 whose stored activity totals
// differ from a recompute and who have no signal pending (its consumer
// will rebuild them: that is the normal path, not drift).
var activityDriftSQL = `WITH exp (shop_id, customer_id, name, n, first_at, last_at) AS (` + activityExpectedSQL + `),
cur AS (SELECT customer_id, name, n, first_at, last_at FROM customer_activity WHERE shop_id = $1 AND customer_id = ANY($2::bigint[]))
SELECT DISTINCT d.customer_id FROM (
	SELECT COALESCE(exp.customer_id, cur.customer_id) AS customer_id
	FROM exp FULL JOIN cur ON cur.customer_id = exp.customer_id AND cur.name = exp.name
	WHERE (exp.n, exp.first_at, exp.last_at) IS DISTINCT FROM (cur.n, cur.first_at, cur.last_at)
) d
WHERE NOT EXISTS (SELECT 1 FROM customer_signals sg WHERE sg.customer_id = d.customer_id)
ORDER BY 1`

// activityCandidatesSQL lists the customers whose activity may have
// changed since $2: new storefront events (recent partitions only),
// visitors identified (their earlier events joined the profile), emails
// sent, email events, and stored totals that claim recent activity.
const activityCandidatesSQL = `
SELECT customer_id FROM events WHERE shop_id = $1 AND customer_id IS NOT NULL AND occurred_at >= $2::timestamptz - interval '1 day'
UNION SELECT customer_id FROM visitors WHERE shop_id = $1 AND customer_id IS NOT NULL AND identified_at >= $2
UNION SELECT customer_id FROM email_messages WHERE shop_id = $1 AND customer_id IS NOT NULL AND sent_at >= $2
UNION SELECT m.customer_id FROM email_events ev JOIN email_messages m ON m.id = ev.message_id
	WHERE ev.shop_id = $1 AND ev.occurred_at >= $2 AND m.customer_id IS NOT NULL
UNION SELECT customer_id FROM customer_activity WHERE shop_id = $1 AND last_at >= $2
ORDER BY 1`

// RepairActivity is the consistency sweep's check of the activity totals:
// it recomputes them for the customers with activity since `since`,
// compares with what is stored, and rebuilds (with their memberships,
// through the normal refresh) those that differ with no refresh queued.
// It returns how many customers it repaired; every write path queues a
// refresh, so any is a bug.
//
// Only customers active since the last sweep are checked: events are by
// far the largest table (tens of millions of rows), and totals only go
// wrong when a write's refresh is lost, which makes the customer active
// then. Each customer found is re-checked under its locks before it
// counts, so a write committing meanwhile isn't taken for drift.
func (s *Store) RepairActivity(ctx context.Context, shopID int64, since, now time.Time) (int64, error) {
	var cands []int64
	if err := s.DB.SelectContext(ctx, &cands, activityCandidatesSQL, shopID, since); err != nil {
		return 0, fmt.Errorf("segments: activity candidates: %w", err)
	}
	var repaired int64
	for len(cands) > 0 {
		n := min(len(cands), 1000)
		var drifted []int64
		if err := s.DB.SelectContext(ctx, &drifted, activityDriftSQL, shopID, pq.Array(cands[:n])); err != nil {
			return repaired, fmt.Errorf("segments: activity drift: %w", err)
		}
		cands = cands[n:]
		for _, id := range drifted {
			was, err := s.refreshCustomer(ctx, shopID, id, now, true)
			if err != nil {
				return repaired, err
			}
			if was {
				repaired++
			}
		}
	}
	return repaired, nil
}
