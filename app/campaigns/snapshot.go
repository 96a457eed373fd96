package campaigns

import (
	"context"
	"errors"
	"fmt"
	"strings"
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
// Each row also gets its due time (see localDue and migration 00028): the
// rest of an A/B test wait ('infinity') for the winner; local-time sending
// makes each row due at the chosen time on the recipient's clock; anything
// else is due at once ('-infinity'). Positions follow (due, send order),
// so the test's share comes first and the checkpoint (due_at, position)
// walks one index range.
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
var snapshotInsert = `, drawn AS (
	SELECT k.id, e.at, k.tz,
		row_number() OVER (ORDER BY hashint8extended(k.id, $7::bigint), k.id) AS draw,
		floor(count(*) OVER () * $8::numeric / 100)::bigint AS hold,
		floor(count(*) OVER () * $9::numeric / 100)::bigint AS test
	FROM classified k LEFT JOIN eng e ON e.id = k.id
	WHERE k.reason = ''
), assigned AS (
	SELECT d.id, d.at, v.variant,
		CASE WHEN v.variant = '' AND $11::boolean THEN 'infinity'::timestamptz
		     WHEN $12::timestamp IS NULL THEN '-infinity'::timestamptz
		     ELSE ` + localDue("$12", "$13", "$14", "$15") + ` END AS due
	FROM drawn d
	CROSS JOIN LATERAL (SELECT CASE WHEN d.draw <= d.hold THEN 'holdout'
		WHEN d.draw <= d.hold + d.test THEN ($10::text[])[1 + ((d.draw - d.hold - 1) % cardinality($10::text[]))]
		ELSE '' END AS variant) v
	LEFT JOIN zones z ON z.name = d.tz
)
INSERT INTO campaign_recipients (shop_id, campaign_id, customer_id, position, variant, status, reason, due_at)
SELECT $1, $6, a.id, row_number() OVER (ORDER BY a.due, a.at DESC NULLS LAST, a.id)::integer, a.variant,
	CASE WHEN a.variant = 'holdout' THEN 'skipped' ELSE 'pending' END,
	CASE WHEN a.variant = 'holdout' THEN 'holdout' ELSE '' END,
	a.due
FROM assigned a
ORDER BY a.due, a.at DESC NULLS LAST, a.id`

// zonesSQL is the timezone names PostgreSQL knows, read once per
// statement: a profile's zone that PostgreSQL can't resolve falls back to
// the shop's rather than failing the whole snapshot.
const zonesSQL = `, zones AS (SELECT name FROM pg_timezone_names)`

// localDue is the SQL for when a recipient's email is due for local-time
// sending: the chosen wall-clock time (wall, a timestamp without zone) in
// their timezone (z.name, else the shop's, tz) when that is at or after at
// (the snapshot, or the A/B winner's pick); otherwise at when pastNow
// (zones already past get it right away), else the next time that
// wall-clock time comes in their zone. AT TIME ZONE applies each zone's
// rules for that day, so a DST change between the shop's day and the
// recipient's is honoured (a time that doesn't exist that day moves forward
// by the gap). The arguments are parameter references such as "$12".
func localDue(wall, tz, at, pastNow string) string {
	return strings.NewReplacer("{wall}", wall, "{tz}", tz, "{at}", at, "{past_now}", pastNow).Replace(`(CASE
		WHEN ({wall}::timestamp AT TIME ZONE COALESCE(z.name, {tz}::text)) >= {at}::timestamptz
			THEN {wall}::timestamp AT TIME ZONE COALESCE(z.name, {tz}::text)
		WHEN {past_now}::boolean THEN {at}::timestamptz
		WHEN ((({at}::timestamptz AT TIME ZONE COALESCE(z.name, {tz}::text))::date + {wall}::timestamp::time) AT TIME ZONE COALESCE(z.name, {tz}::text)) >= {at}::timestamptz
			THEN (({at}::timestamptz AT TIME ZONE COALESCE(z.name, {tz}::text))::date + {wall}::timestamp::time) AT TIME ZONE COALESCE(z.name, {tz}::text)
		ELSE (({at}::timestamptz AT TIME ZONE COALESCE(z.name, {tz}::text))::date + 1 + {wall}::timestamp::time) AT TIME ZONE COALESCE(z.name, {tz}::text)
	END)`)
}

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
	loc, err := segments.Location(ctx, tx, shopID)
	if err != nil {
		return Campaign{}, fmt.Errorf("campaigns: snapshot %d: %w", campaignID, err)
	}
	var wall any // local-time sending: the chosen time of day, in no zone
	if c.Schedule.Mode == SendLocal && c.Schedule.SendAt != nil {
		wall = c.Schedule.SendAt.In(loc).Format(wallLayout)
	}
	query, args := classify(c.Audience)+engRest+zonesSQL+snapshotInsert, []any{shopID, pq.Array(c.Audience.Include),
		pq.Array(nonNil(c.Audience.Exclude)), windowArg(r), c.Audience.MostEngagedFirst, c.ID, c.Seed, c.AB.HoldoutPercent, test, pq.Array(keys),
		c.HasTest() && test < 100, wall, loc.String(), now, c.Schedule.PastZones == PastZonesNow}
	if test == 0 && c.AB.HoldoutPercent == 0 && wall == nil {
		query, args = classify(c.Audience)+engRest+snapshotPlainInsert, args[:6]
	}
	if _, err := tx.ExecContext(ctx, query, args...); err != nil {
		return Campaign{}, fmt.Errorf("campaigns: snapshot %d: %w", campaignID, err)
	}
	// The A/B winner is picked WaitHours after the test starts: at once
	// for now and at, when the test's first email is due for local time.
	if _, err := tx.ExecContext(ctx, `UPDATE campaigns SET snapshot_at = $3, updated_at = now(),
			audience_size = (SELECT count(*) FROM campaign_recipients WHERE campaign_id = $2),
			ab_decide_at = CASE WHEN $4 THEN GREATEST($3, (SELECT min(due_at) FROM campaign_recipients
				WHERE campaign_id = $2 AND status = 'pending' AND variant NOT IN ('', 'holdout'))) + make_interval(hours => $5) END
		WHERE shop_id = $1 AND id = $2`, shopID, c.ID, now, c.HasTest() && test < 100, c.AB.WaitHours); err != nil {
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

// wallLayout is a wall-clock time with no zone, as PostgreSQL reads a
// timestamp.
const wallLayout = "2006-01-02 15:04:05"

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
