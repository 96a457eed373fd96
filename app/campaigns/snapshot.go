package campaigns

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/lib/pq"

	"github.com/cartwheel/cartwheel/app/segments"
)

// snapshotInsert, after classify(audience) and engRest, writes the
// audience into campaign_recipients in one statement: everyone who passes
// every check at this moment (those over today's daily limit included: they
// are carried over to the next day, not dropped), with their place in the
// send order (the same order as orderedRest, which the reachable count's
// daily limit follows) and their variant. The variant draw orders the
// recipients by a hash of their id seeded with the campaign's seed, so the
// split is random across customers but the same on every run: the first
// holdout share of that order is the holdout (status skipped, nothing is
// sent), the next test share goes round-robin to the variants (even to
// within one), the rest get an empty variant and, later, the winner.
//
// The draw is numbered first and the send order last, so the rows come out
// of the last sort already in send order: the INSERT needs no sort of its
// own, and the position index grows at its right edge (measured: 4.5 s
// instead of 6 s to write 760,000 rows in random order).
//
// There is no ON CONFLICT: Snapshot runs it once per campaign under the
// campaign's row lock, in the transaction that sets snapshot_at, so there is
// never a partial snapshot to complete; the primary key (campaign, customer)
// would refuse a second copy rather than add it. (DO NOTHING made the
// INSERT of 760,000 rows 2.3 times slower: each row becomes a speculative
// insertion.)
const snapshotInsert = `, drawn AS (
	SELECT k.id, e.at,
		row_number() OVER (ORDER BY hashint8extended(k.id, $7::bigint), k.id) AS draw,
		floor(count(*) OVER () * $8::numeric / 100)::bigint AS hold,
		floor(count(*) OVER () * $9::numeric / 100)::bigint AS test
	FROM classified k LEFT JOIN eng e ON e.id = k.id
	WHERE k.reason = ''
)
INSERT INTO campaign_recipients (shop_id, campaign_id, customer_id, position, variant, status, reason)
SELECT $1, $6, d.id, row_number() OVER (ORDER BY d.at DESC NULLS LAST, d.id)::integer,
	CASE WHEN d.draw <= d.hold THEN 'holdout'
	     WHEN d.draw <= d.hold + d.test THEN ($10::text[])[1 + ((d.draw - d.hold - 1) % cardinality($10::text[]))]
	     ELSE '' END,
	CASE WHEN d.draw <= d.hold THEN 'skipped' ELSE 'pending' END,
	CASE WHEN d.draw <= d.hold THEN 'holdout' ELSE '' END
FROM drawn d
ORDER BY d.at DESC NULLS LAST, d.id`

// snapshotPlainInsert is snapshotInsert for a campaign without an A/B test
// or holdout: everyone gets the one email (variant empty), so there is no
// draw to sort for.
const snapshotPlainInsert = `
INSERT INTO campaign_recipients (shop_id, campaign_id, customer_id, position)
SELECT $1, $6, k.id, row_number() OVER (ORDER BY e.at DESC NULLS LAST, k.id)::integer
FROM classified k LEFT JOIN eng e ON e.id = k.id
WHERE k.reason = ''
ORDER BY e.at DESC NULLS LAST, k.id`

// Snapshot fixes a campaign's audience right before it is sent: it
// refreshes the included and excluded segments, then writes the recipients
// (see snapshotInsert) and sets audience_size and snapshot_at, in one
// transaction holding the campaign's row lock. It is idempotent: a campaign
// already snapshotted is returned as it is, and concurrent calls write the
// audience once. Sent and cancelled campaigns are refused.
func (s *Store) Snapshot(ctx context.Context, shopID, campaignID int64, now time.Time) (Campaign, error) {
	c, err := s.Get(ctx, shopID, campaignID)
	if err != nil {
		return Campaign{}, err
	}
	if c.SnapshotAt != nil {
		return c, nil
	}
	if err := snapshotAllowed(c); err != nil {
		return Campaign{}, err
	}
	segs := s.Segments
	if segs == nil {
		segs = segments.NewStore(s.DB)
	}
	// Membership as of now, before it is frozen. Each refresh is its own
	// transaction (segments lock what they refresh); a deleted segment is
	// the merchant's to fix.
	for field, ids := range map[string][]int64{"include_segments": c.Audience.Include, "exclude_segments": c.Audience.Exclude} {
		for _, id := range ids {
			if err := segs.Refresh(ctx, shopID, id, now); errors.Is(err, segments.ErrNotFound) {
				return Campaign{}, FieldErrors{field: "A chosen segment no longer exists. Remove it or choose another."}
			} else if err != nil {
				return Campaign{}, fmt.Errorf("campaigns: snapshot %d: refresh segment %d: %w", campaignID, id, err)
			}
		}
	}

	tx, err := s.DB.BeginTxx(ctx, nil)
	if err != nil {
		return Campaign{}, fmt.Errorf("campaigns: snapshot %d: %w", campaignID, err)
	}
	defer tx.Rollback()
	c, err = get(ctx, tx, shopID, campaignID, true)
	if err != nil {
		return Campaign{}, err
	}
	if c.SnapshotAt != nil { // a concurrent call got there first
		return c, tx.Commit()
	}
	if err := snapshotAllowed(c); err != nil {
		return Campaign{}, err
	}
	if err := planFor(ctx, tx); err != nil {
		return Campaign{}, err
	}
	// Three sorts of the whole audience (send order, variant draw, insert
	// order): with the default 4 MB each spilled to disk at 1M recipients.
	// No nested loops: the planner can't estimate how many pass the checks
	// (a CASE expression) and, guessing 0.5 %, probed segment_members once
	// per recipient — 3.5 s at 760,000 — where a hash join takes a fraction.
	if _, err := tx.ExecContext(ctx, `SELECT set_config('work_mem', '64MB', true), set_config('enable_nestloop', 'off', true)`); err != nil {
		return Campaign{}, fmt.Errorf("campaigns: snapshot %d: %w", campaignID, err)
	}
	r, err := loadRules(ctx, tx, shopID, now)
	if err != nil {
		return Campaign{}, err
	}
	keys := []string{""}
	test := 0
	if len(c.AB.Variants) >= 2 {
		keys = keys[:0]
		for _, v := range c.AB.Variants {
			keys = append(keys, v.Key)
		}
		test = c.AB.TestPercent
	}
	query, args := classify(c.Audience)+engRest+snapshotInsert, []any{shopID, pq.Array(c.Audience.Include),
		pq.Array(nonNil(c.Audience.Exclude)), windowArg(r), c.Audience.MostEngagedFirst, c.ID, c.Seed, c.AB.HoldoutPercent, test, pq.Array(keys)}
	if test == 0 && c.AB.HoldoutPercent == 0 {
		query, args = classify(c.Audience)+engRest+snapshotPlainInsert, args[:6]
	}
	if _, err := tx.ExecContext(ctx, query, args...); err != nil {
		return Campaign{}, fmt.Errorf("campaigns: snapshot %d: %w", campaignID, err)
	}
	if _, err := tx.ExecContext(ctx, `UPDATE campaigns SET snapshot_at = $3, updated_at = now(),
			audience_size = (SELECT count(*) FROM campaign_recipients WHERE campaign_id = $2)
		WHERE shop_id = $1 AND id = $2`, shopID, c.ID, now); err != nil {
		return Campaign{}, fmt.Errorf("campaigns: snapshot %d: size: %w", campaignID, err)
	}
	if err := tx.Commit(); err != nil {
		return Campaign{}, fmt.Errorf("campaigns: snapshot %d: %w", campaignID, err)
	}
	return s.Get(ctx, shopID, campaignID)
}

func snapshotAllowed(c Campaign) error {
	switch c.Status {
	case StatusSent, StatusCancelled:
		return StatusError{Action: "snapshotted", Status: c.Status}
	}
	if len(c.Audience.Include) == 0 {
		return FieldErrors{"include_segments": "Choose at least one segment to send to."}
	}
	return nil
}

// Recipient is one row of a campaign's snapshot.
type Recipient struct {
	CustomerID int64  `db:"customer_id"`
	Position   int    `db:"position"`
	Variant    string `db:"variant"`
	Status     string `db:"status"`
	Reason     string `db:"reason"`
}

// Recipients returns up to limit recipients of the snapshot in send order,
// after position after (0: from the start).
func (s *Store) Recipients(ctx context.Context, shopID, campaignID int64, after, limit int) ([]Recipient, error) {
	var out []Recipient
	err := s.DB.SelectContext(ctx, &out, `SELECT customer_id, position, variant, status, reason
		FROM campaign_recipients WHERE shop_id = $1 AND campaign_id = $2 AND position > $3
		ORDER BY position LIMIT $4`, shopID, campaignID, after, limit)
	if err != nil {
		return nil, fmt.Errorf("campaigns: recipients of %d: %w", campaignID, err)
	}
	return out, nil
}
