package campaigns

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/jmoiron/sqlx"
	"github.com/lib/pq"

	"github.com/cartwheel/cartwheel/app/segments"
	"github.com/cartwheel/cartwheel/app/shops"
)

// Reasons a member of the included segments is not reachable now, in the
// order they are applied: each customer counts under the first that holds.
// Suppressed customers count per suppression reason, as
// ReasonSuppressed + reason (e.g. "suppressed:hard_bounce").
const (
	ReasonInSegments = "in_segments" // everyone in the included segments (the total)
	ReasonExcluded   = "excluded"
	// ReasonNoEmail: no address, one that can't be an address, or one
	// Shopify marks invalid (marketing state INVALID).
	ReasonNoEmail         = "no_email"
	ReasonNotSubscribed   = "not_subscribed"
	ReasonSuppressed      = "suppressed:"
	ReasonFrequencyWindow = "frequency_window" // a marketing email within campaign_skip_days
	ReasonDailyLimit      = "daily_limit"      // beyond what is left of today's limit, in send order
	ReasonReachable       = "reachable"        // reachable now
)

// Breakdown is the reachable count by reason. InSegments equals the sum of
// every other number.
type Breakdown struct {
	InSegments      int
	Excluded        int
	NoEmail         int
	NotSubscribed   int
	Suppressed      map[string]int // by suppression reason
	FrequencyWindow int
	OverDailyLimit  int
	Reachable       int

	// What the numbers were computed with.
	WindowDays int // campaign_skip_days (0: off)
	DailyLimit int // daily_send_limit (0: no limit)
	SentToday  int // marketing emails sent today in the shop's timezone
}

// ReasonCount is one line of the breakdown.
type ReasonCount struct {
	Reason string // a Reason* value (suppressed ones with their reason)
	N      int
}

// Lines lists the breakdown in the order reasons apply, suppressions
// sorted by reason, starting with ReasonInSegments and ending with
// ReasonReachable; a UI links each line to Members with its Reason.
func (b Breakdown) Lines() []ReasonCount {
	out := []ReasonCount{{ReasonInSegments, b.InSegments}, {ReasonExcluded, b.Excluded},
		{ReasonNoEmail, b.NoEmail}, {ReasonNotSubscribed, b.NotSubscribed}}
	keys := make([]string, 0, len(b.Suppressed))
	for k := range b.Suppressed {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		out = append(out, ReasonCount{ReasonSuppressed + k, b.Suppressed[k]})
	}
	return append(out, ReasonCount{ReasonFrequencyWindow, b.FrequencyWindow},
		ReasonCount{ReasonDailyLimit, b.OverDailyLimit}, ReasonCount{ReasonReachable, b.Reachable})
}

// WillSend is how many recipients a snapshot taken now would hold: the
// reachable ones and those over today's daily limit, who are carried over
// to the next day rather than dropped.
func (b Breakdown) WillSend() int { return b.Reachable + b.OverDailyLimit }

// rules are the shop settings the breakdown applies.
type rules struct {
	WindowDays int        `db:"campaign_skip_days"`
	DailyLimit int        `db:"daily_send_limit"`
	Timezone   string     `db:"timezone"`
	ShopTZ     string     `db:"iana_timezone"`
	Warmup     *time.Time `db:"warmup_started_on"`

	since     *time.Time // start of the frequency window (nil: off)
	sentToday int
}

// remaining is what is left of today's limit (-1: no limit).
func (r rules) remaining() int {
	if r.DailyLimit <= 0 {
		return -1
	}
	return max(0, r.DailyLimit-r.sentToday)
}

func loadRules(ctx context.Context, q sqlx.QueryerContext, shopID int64, now time.Time) (rules, error) {
	var r rules
	err := sqlx.GetContext(ctx, q, &r, `SELECT campaign_skip_days, daily_send_limit, timezone, iana_timezone, warmup_started_on
		FROM shops WHERE id = $1`, shopID)
	if errors.Is(err, sql.ErrNoRows) {
		return r, ErrNotFound
	}
	if err != nil {
		return r, fmt.Errorf("campaigns: shop %d settings: %w", shopID, err)
	}
	if r.WindowDays > 0 {
		since := now.AddDate(0, 0, -r.WindowDays)
		r.since = &since
	}
	if r.DailyLimit > 0 || r.Warmup != nil {
		loc, err := segments.Location(ctx, q, shopID)
		if err != nil {
			return r, fmt.Errorf("campaigns: %w", err)
		}
		r.DailyLimit = shops.Settings{DailySendLimit: r.DailyLimit, WarmupStartedOn: r.Warmup}.DailyLimitOn(now, loc)
		if r.DailyLimit == 0 {
			return r, nil // the warm-up is over and there is no daily limit
		}
		local := now.In(loc)
		start := time.Date(local.Year(), local.Month(), local.Day(), 0, 0, 0, 0, loc)
		if err := sqlx.GetContext(ctx, q, &r.sentToday, `SELECT count(*) FROM email_messages
			WHERE shop_id = $1 AND marketing AND sent_at IS NOT NULL AND sent_at >= $2`, shopID, start); err != nil {
			return r, fmt.Errorf("campaigns: sent today: %w", err)
		}
	}
	return r, nil
}

// classifySQL gives every non-deleted member of the included segments ($2)
// the first reason that removes them (an empty reason when none), given the
// excluded segments ($3) and the start of the frequency window ($4, NULL:
// off). Every reason is a hash join against one set, so the cost grows with
// the audience, not with the number of reasons.
//
// With one included segment its members are already distinct (the key is
// segment, customer): classifyOneSQL skips the DISTINCT, a hash aggregate
// of the whole audience.
const classifySQL = `
WITH aud AS (
	SELECT DISTINCT customer_id AS id FROM segment_members WHERE shop_id = $1 AND segment_id = ANY($2::bigint[])
), ` + classifyRest

var classifyOneSQL = strings.Replace(classifySQL, "SELECT DISTINCT customer_id AS id", "SELECT customer_id AS id", 1)

const classifyRest = `excl AS (
	SELECT DISTINCT customer_id AS id FROM segment_members WHERE shop_id = $1 AND segment_id = ANY($3::bigint[])
), recent AS (
	SELECT customer_id AS id FROM email_messages
	WHERE shop_id = $1 AND $4::timestamptz IS NOT NULL AND marketing AND customer_id IS NOT NULL
	  AND sent_at IS NOT NULL AND sent_at >= $4::timestamptz
	UNION
	SELECT customer_id FROM email_messages
	WHERE shop_id = $1 AND $4::timestamptz IS NOT NULL AND marketing AND customer_id IS NOT NULL
	  AND status = 'sending' AND sending_at >= $4::timestamptz
), classified AS (
	SELECT c.id, CASE
		WHEN x.id IS NOT NULL THEN 'excluded'
		WHEN c.email IS NULL OR btrim(c.email) !~ '^[^@[:space:]<>",;]+@[^@[:space:]<>",;]+\.[^@[:space:]<>",;.]+$'
		     OR c.email_consent = 'invalid' THEN 'no_email'
		WHEN c.email_consent <> 'subscribed' THEN 'not_subscribed'
		WHEN s.email IS NOT NULL THEN 'suppressed:' || s.reason
		WHEN r.id IS NOT NULL THEN 'frequency_window'
		ELSE '' END AS reason,
		c.timezone AS tz
	FROM aud JOIN customers c ON c.id = aud.id AND c.shop_id = $1 AND c.deleted_at IS NULL
	LEFT JOIN excl x ON x.id = c.id
	LEFT JOIN suppressions s ON s.shop_id = $1 AND s.email = lower(btrim(c.email))
	LEFT JOIN recent r ON r.id = c.id
)`

// orderedRest adds to a classification, for the recipients who pass every
// check, their place in the send order (pos): recent openers and clickers
// first when $5, else by id. Customers whose last open or click is the same
// tie on id.
const orderedRest = engRest + `, ordered AS (
	SELECT k.id, row_number() OVER (ORDER BY e.at DESC NULLS LAST, k.id) AS pos
	FROM classified k LEFT JOIN eng e ON e.id = k.id
	WHERE k.reason = ''
)`

// engRest is each customer's latest open or click when $5 (most engaged
// first), else nothing (everyone ties and the order is by id).
const engRest = `, eng AS (
	SELECT customer_id AS id, max(last_at) AS at FROM customer_activity
	WHERE shop_id = $1 AND $5::boolean AND name IN ('email:open', 'email:click') GROUP BY customer_id
)`

// readTx runs classification queries in a read-only transaction with
// planFor's settings.
func (s *Store) readTx(ctx context.Context) (*sqlx.Tx, error) {
	tx, err := s.DB.BeginTxx(ctx, &sql.TxOptions{ReadOnly: true})
	if err != nil {
		return nil, fmt.Errorf("campaigns: begin: %w", err)
	}
	if err := planFor(ctx, tx); err != nil {
		tx.Rollback()
		return nil, err
	}
	return tx, nil
}

// planFor turns off JIT and parallel workers for the transaction, as
// segments does for whole-shop queries: compiling a plan costs more than
// these queries save from it, and parallel workers gain little on two cores
// shared with everything else. (Nested loops stay allowed, unlike there: a
// small segment in a large shop is cheapest as index probes.)
func planFor(ctx context.Context, tx *sqlx.Tx) error {
	_, err := tx.ExecContext(ctx, `SELECT set_config('jit', 'off', true), set_config('max_parallel_workers_per_gather', '0', true)`)
	if err != nil {
		return fmt.Errorf("campaigns: planner settings: %w", err)
	}
	return nil
}

// classify returns the classification query for the audience.
func classify(a Audience) string {
	if len(a.Include) == 1 {
		return classifyOneSQL
	}
	return classifySQL
}

// ordered returns classify(a) with the send order.
func ordered(a Audience) string { return classify(a) + orderedRest }

func windowArg(r rules) any {
	if r.since == nil {
		return nil
	}
	return *r.since
}

// Reachable counts the audience by reason at now: in the included segments
// − in an excluded segment − no or invalid email − not subscribed −
// suppressed (per reason) − got a marketing email within the frequency
// window − over what is left of today's daily limit → reachable now.
func (s *Store) Reachable(ctx context.Context, shopID int64, a Audience, now time.Time) (Breakdown, error) {
	tx, err := s.readTx(ctx)
	if err != nil {
		return Breakdown{}, err
	}
	defer tx.Rollback()
	r, err := loadRules(ctx, tx, shopID, now)
	if err != nil {
		return Breakdown{}, err
	}
	b := Breakdown{Suppressed: map[string]int{}, WindowDays: r.WindowDays, DailyLimit: r.DailyLimit, SentToday: r.sentToday}
	var rows []struct {
		Reason string `db:"reason"`
		N      int    `db:"n"`
	}
	if err := tx.SelectContext(ctx, &rows, classify(a)+` SELECT reason, count(*) AS n FROM classified GROUP BY reason`,
		shopID, pq.Array(nonNil(a.Include)), pq.Array(nonNil(a.Exclude)), windowArg(r)); err != nil {
		return Breakdown{}, fmt.Errorf("campaigns: reachable: %w", err)
	}
	passed := 0
	for _, row := range rows {
		b.InSegments += row.N
		switch {
		case row.Reason == "":
			passed = row.N
		case row.Reason == ReasonExcluded:
			b.Excluded = row.N
		case row.Reason == ReasonNoEmail:
			b.NoEmail = row.N
		case row.Reason == ReasonNotSubscribed:
			b.NotSubscribed = row.N
		case row.Reason == ReasonFrequencyWindow:
			b.FrequencyWindow = row.N
		case strings.HasPrefix(row.Reason, ReasonSuppressed):
			b.Suppressed[strings.TrimPrefix(row.Reason, ReasonSuppressed)] = row.N
		default:
			return Breakdown{}, fmt.Errorf("campaigns: reachable: unknown reason %q", row.Reason)
		}
	}
	b.Reachable = passed
	if left := r.remaining(); left >= 0 && passed > left {
		b.Reachable, b.OverDailyLimit = left, passed-left
	}
	return b, nil
}

// MembersPage is one page of customers a number counts, highest id first;
// Next is the cursor of the next page (0 on the last).
type MembersPage struct {
	Members []segments.Member
	Next    int64
}

const memberCols = `c.id, c.email, c.first_name, c.last_name, c.country, c.email_consent, c.orders_count,
	c.total_spent, c.last_order_at`

// Members lists the customers one line of Reachable's breakdown counts
// (reason as in Breakdown.Lines), keyset-paged on customer id: ids below
// after (0: from the start).
func (s *Store) Members(ctx context.Context, shopID int64, a Audience, reason string, after int64, limit int, now time.Time) (MembersPage, error) {
	if limit <= 0 || limit > 250 {
		limit = 50
	}
	tx, err := s.readTx(ctx)
	if err != nil {
		return MembersPage{}, err
	}
	defer tx.Rollback()
	r, err := loadRules(ctx, tx, shopID, now)
	if err != nil {
		return MembersPage{}, err
	}
	args := []any{shopID, pq.Array(nonNil(a.Include)), pq.Array(nonNil(a.Exclude)), windowArg(r)}
	var query string
	switch {
	case reason == ReasonInSegments:
		query = classify(a) + ` SELECT ` + memberCols + ` FROM classified k JOIN customers c ON c.id = k.id
			WHERE ($5 = 0 OR k.id < $5) ORDER BY k.id DESC LIMIT $6`
		args = append(args, after, limit+1)
	case reason == ReasonReachable || reason == ReasonDailyLimit:
		// Which recipients are over the limit depends on the send order.
		left := r.remaining()
		if left < 0 {
			left = int(^uint32(0) >> 1)
		}
		cmp := "<="
		if reason == ReasonDailyLimit {
			cmp = ">"
		}
		// The send order ranks every recipient; see Snapshot for why
		// nested loops are off for that.
		if _, err := tx.ExecContext(ctx, `SELECT set_config('enable_nestloop', 'off', true)`); err != nil {
			return MembersPage{}, fmt.Errorf("campaigns: members: %w", err)
		}
		query = ordered(a) + ` SELECT ` + memberCols + ` FROM ordered o JOIN customers c ON c.id = o.id
			WHERE o.pos ` + cmp + ` $6 AND ($7 = 0 OR o.id < $7) ORDER BY o.id DESC LIMIT $8`
		args = append(args, a.MostEngagedFirst, left, after, limit+1)
	case reason == ReasonExcluded || reason == ReasonNoEmail || reason == ReasonNotSubscribed ||
		reason == ReasonFrequencyWindow || (strings.HasPrefix(reason, ReasonSuppressed) && len(reason) > len(ReasonSuppressed)):
		query = classify(a) + ` SELECT ` + memberCols + ` FROM classified k JOIN customers c ON c.id = k.id
			WHERE k.reason = $5 AND ($6 = 0 OR k.id < $6) ORDER BY k.id DESC LIMIT $7`
		args = append(args, reason, after, limit+1)
	default:
		return MembersPage{}, fmt.Errorf("campaigns: members: unknown reason %q", reason)
	}
	var rows []segments.Member
	if err := tx.SelectContext(ctx, &rows, query, args...); err != nil {
		return MembersPage{}, fmt.Errorf("campaigns: members (%s): %w", reason, err)
	}
	p := MembersPage{Members: rows}
	if len(rows) > limit {
		p.Members = rows[:limit]
		p.Next = p.Members[limit-1].ID
	}
	return p, nil
}
