// Package lifecycle places customers on the lifecycle funnel (seed 001)
// and in the member composition (seed 004): the written definitions, the
// SQL that applies them (shared with the segment condition that selects a
// funnel level, so a saved segment and the funnel agree by construction),
// the counted funnels and composition points it keeps (counting takes
// seconds on a large store) and the job that keeps them current.
package lifecycle

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/jmoiron/sqlx"
)

// Definitions (the page shows these as hover text; keep them in step).
//
// The window is 30 calendar days in the shop's timezone, ending with (and
// including) the chosen day: from 00:00 of day-29 to 24:00 of the day.
//
//   - Prospect: a profile (not deleted, created before the window ends)
//     with no order placed before the window starts, that was active on the
//     store in the 180 days ending with the window (any storefront event —
//     a page, product or cart view, a search, a checkout —, or the profile
//     was created then) or showed interest in the window (subscribed to
//     email: consent is "subscribed", given in the window). Viewing and
//     adding to cart are storefront events, so interest in the window is
//     already activity in the 180 days; subscribing is the part of
//     "interest" that adds anyone.
//   - Reached: a prospect with a marketing email (campaign or flow)
//     delivered in the window. A message is delivered at its first
//     SendGrid "delivered" event or, without one, its first human (not
//     machine) open or click, which prove delivery as the reports count
//     it. Only messages sent at most 72 hours before the window can be
//     delivered in it (SendGrid stops retrying after 72 hours). The moment
//     of the first delivery in the window is "the reach".
//   - Engaged: reached, and a human open or click of any of their
//     marketing emails within 30 days (720 hours) from the reach.
//   - Ordered: engaged, and their first order ever placed within 30 days
//     from the reach (an order placed in the window before the reach makes
//     it not the first after the reach, so they don't count).
//   - Repurchased: ordered, and a further order within those 30 days.
//
// Each level is a subset of the one before it by definition. Orders count
// as everywhere in the app: not cancelled, not test, at processed_at.

// Level is a step of the funnel.
type Level int

const (
	Prospects Level = iota + 1
	Reached
	Engaged
	Ordered
	Repurchased
)

// Levels are the funnel's steps in order.
var Levels = []Level{Prospects, Reached, Engaged, Ordered, Repurchased}

var levelKeys = map[Level]string{Prospects: "prospects", Reached: "reached", Engaged: "engaged", Ordered: "ordered", Repurchased: "repurchased"}

// Key is the level's stable name (URLs, segment rules, CSV).
func (l Level) Key() string { return levelKeys[l] }

// Label is the level's name for merchants.
func (l Level) Label() string {
	return map[Level]string{Prospects: "Prospects", Reached: "Reached", Engaged: "Engaged", Ordered: "Ordered", Repurchased: "Repurchased"}[l]
}

// Definition is the level's meaning in the merchant's words (hover text).
func (l Level) Definition() string {
	return map[Level]string{
		Prospects:   "Customers with no order before the window who were active on your store in the 180 days up to its end (visited, viewed, added to cart, checked out, or signed up) or subscribed to email in the window.",
		Reached:     "Prospects who had a marketing email (campaign or flow) delivered in the window. Counted from the first delivery in the window.",
		Engaged:     "Reached customers who opened or clicked a marketing email within 30 days of that first delivery (machine opens and scanner clicks don't count).",
		Ordered:     "Engaged customers whose first order was placed within 30 days of that first delivery.",
		Repurchased: "Customers who ordered and placed a further order within the same 30 days.",
	}[l]
}

// ParseLevel reads a level's key.
func ParseLevel(s string) (Level, bool) {
	for l, k := range levelKeys {
		if k == s {
			return l, true
		}
	}
	return 0, false
}

// Durations of the definitions.
const (
	WindowDays = 30
	ActiveDays = 180
	// Follow is how long after the reach engagement and orders count.
	Follow = 30 * 24 * time.Hour
	// DeliverySlack is how long before the window a message may have been
	// sent and still be first delivered in it.
	DeliverySlack = 72 * time.Hour
)

// Window is a funnel window: WindowDays days in loc ending with Last.
type Window struct {
	First, Last time.Time // calendar days (00:00 in loc)
	Loc         *time.Location
}

// WindowEnding is the window whose last day is the day of end in loc.
func WindowEnding(end time.Time, loc *time.Location) Window {
	e := end.In(loc)
	last := time.Date(e.Year(), e.Month(), e.Day(), 0, 0, 0, 0, loc)
	return Window{First: last.AddDate(0, 0, -(WindowDays - 1)), Last: last, Loc: loc}
}

// Start is the window's first instant; End the instant after it.
func (w Window) Start() time.Time { return w.First }
func (w Window) End() time.Time   { return w.Last.AddDate(0, 0, 1) }

// ActiveFrom is where the 180 days of activity ending with the window start.
func (w Window) ActiveFrom() time.Time { return w.End().AddDate(0, 0, -ActiveDays) }

// levelSQL assigns each prospect of the window its deepest level (1–5).
//
// Storefront activity is read from customer_activity (app/segments' exact
// per-customer totals of each event name: first and last time): an event
// of a name fell in the 180 days when the first was before their end and
// the last after their start, certainly so when the last is before their
// end; only when it is later (a past window, a customer still active) are
// the raw events looked up. The window ending today never needs them.
// {S} is the shop's placeholder, {WS} {WE} {AF} the window start, end and
// activity start, {R} an extra condition on the prospect lc (restricting
// to one customer in the segment compiler's correlated shape). CASE
// evaluates in order, so the later levels' lookups run only for customers
// who reached the one before.
const levelSQL = `SELECT p.id AS customer_id, CASE
	WHEN r.at IS NULL THEN 1
	WHEN NOT EXISTS (SELECT 1 FROM email_messages m2 JOIN email_events ev2 ON ev2.message_id = m2.id
		WHERE m2.shop_id = {S} AND m2.customer_id = p.id AND m2.kind IN ('campaign', 'flow')
			AND m2.sent_at < r.at + interval '720 hours'
			AND ev2.kind IN ('open', 'click') AND NOT ev2.machine
			AND ev2.occurred_at >= r.at AND ev2.occurred_at < r.at + interval '720 hours') THEN 2
	WHEN NOT COALESCE(p.first_order_at >= r.at AND p.first_order_at < r.at + interval '720 hours', false) THEN 3
	WHEN (SELECT count(*) FROM orders o WHERE o.shop_id = {S} AND o.customer_id = p.id
		AND o.cancelled_at IS NULL AND NOT o.test
		AND o.processed_at >= r.at AND o.processed_at < r.at + interval '720 hours') < 2 THEN 4
	ELSE 5 END AS level
FROM (
	SELECT lc.id, lc.first_order_at FROM customers lc
	WHERE lc.shop_id = {S} AND lc.deleted_at IS NULL{R}
		AND COALESCE(lc.shopify_created_at, lc.created_at) < {WE}
		AND (lc.first_order_at IS NULL OR lc.first_order_at >= {WS})
		AND (COALESCE(lc.shopify_created_at, lc.created_at) >= {AF}
			OR (lc.email_consent = 'subscribed' AND lc.email_consent_updated_at >= {WS} AND lc.email_consent_updated_at < {WE})
			OR EXISTS (SELECT 1 FROM customer_activity a WHERE a.customer_id = lc.id AND a.shop_id = {S}
				AND a.name NOT LIKE 'email:%' AND a.last_at >= {AF} AND a.first_at < {WE}
				AND (a.last_at < {WE} OR EXISTS (SELECT 1 FROM events e WHERE e.customer_id = lc.id AND e.shop_id = {S}
					AND e.name = a.name AND e.occurred_at >= {AF} AND e.occurred_at < {WE}))))
) p
LEFT JOIN LATERAL (
	SELECT min(d.at) AS at FROM email_messages m
	CROSS JOIN LATERAL (SELECT min(ev.occurred_at) AS at FROM email_events ev
		WHERE ev.message_id = m.id AND ev.kind IN ('delivered', 'open', 'click') AND NOT ev.machine) d
	WHERE m.shop_id = {S} AND m.customer_id = p.id AND m.kind IN ('campaign', 'flow')
		AND m.sent_at >= {WS} - interval '72 hours' AND m.sent_at < {WE}
		AND d.at >= {WS} AND d.at < {WE}
) r ON true`

// LevelsSQL is a query of (customer_id, level) for the window's prospects.
// shop is the shop's placeholder; arg adds a value and returns its
// placeholder; restrict is "" or a condition on the prospect row lc
// (starting with " AND ").
func LevelsSQL(w Window, shop string, arg func(any) string, restrict string) string {
	ws, we, af := arg(w.Start()), arg(w.End()), arg(w.ActiveFrom())
	return strings.NewReplacer("{S}", shop, "{WS}", ws, "{WE}", we, "{AF}", af, "{R}", restrict).Replace(levelSQL)
}

// MembersSQL is a query of the customer ids at level l or deeper.
func MembersSQL(l Level, w Window, shop string, arg func(any) string, restrict string) string {
	q := LevelsSQL(w, shop, arg, restrict)
	return "SELECT lf.customer_id FROM (" + q + ") lf WHERE lf.level >= " + arg(int(l))
}

// Funnel is the lifecycle funnel of a window.
type Funnel struct {
	Window Window
	Steps  []Step
	// ComputedAt is when the figures were counted (they are kept: see
	// Lifecycle).
	ComputedAt time.Time
}

// Step is one level's count and its conversion from the previous level.
type Step struct {
	Level Level
	Count int64
	// Conversion is Count / the previous level's count (0 when that is 0;
	// 1 for prospects).
	Conversion float64
}

// Store reads and writes the package's data.
type Store struct {
	DB  *sqlx.DB
	Now func() time.Time // nil: time.Now
}

func (s *Store) now() time.Time {
	if s.Now == nil {
		return time.Now()
	}
	return s.Now()
}

// MaxAge is how long a kept funnel of a window still open is shown.
const MaxAge = time.Hour

// Location is the shop's reporting timezone (Settings' choice, else the
// shop's own, else UTC), as the reports use.
func Location(ctx context.Context, q sqlx.QueryerContext, shopID int64) (*time.Location, error) {
	var name string
	if err := sqlx.GetContext(ctx, q, &name, `SELECT COALESCE(NULLIF(timezone, ''), NULLIF(iana_timezone, ''), 'UTC') FROM shops WHERE id = $1`, shopID); err != nil {
		return nil, fmt.Errorf("lifecycle: shop %d timezone: %w", shopID, err)
	}
	loc, err := time.LoadLocation(name)
	if err != nil {
		return time.UTC, nil
	}
	return loc, nil
}

// argList collects positional arguments for a query.
type argList []any

func (a *argList) add(v any) string {
	*a = append(*a, v)
	return fmt.Sprintf("$%d", len(*a))
}

// Final is when the window's funnel can no longer change: 30 days after
// its end, every reach's follow-up has passed.
func (w Window) Final() time.Time { return w.End().Add(Follow) }

// Lifecycle is the funnel of the 30 days ending with windowEnd's day in
// the shop's timezone, as kept (when final, or counted less than MaxAge
// ago), else counted now and kept.
func (s *Store) Lifecycle(ctx context.Context, shopID int64, windowEnd time.Time) (Funnel, error) {
	loc, err := Location(ctx, s.DB, shopID)
	if err != nil {
		return Funnel{}, err
	}
	w := WindowEnding(windowEnd, loc)
	now := s.now()
	var row struct {
		N          [5]int64
		ComputedAt time.Time
	}
	err = s.DB.QueryRowxContext(ctx, `SELECT prospects, reached, engaged, ordered, repurchased, computed_at FROM lifecycle_funnel
		WHERE shop_id = $1 AND last_day = $2`, shopID, w.Last.Format(time.DateOnly)).
		Scan(&row.N[0], &row.N[1], &row.N[2], &row.N[3], &row.N[4], &row.ComputedAt)
	switch {
	case err == nil && (!row.ComputedAt.Before(w.Final()) || now.Sub(row.ComputedAt) < MaxAge):
		return funnelOf(w, row.N, row.ComputedAt), nil
	case err != nil && !errors.Is(err, sql.ErrNoRows):
		return Funnel{}, fmt.Errorf("lifecycle: kept funnel: %w", err)
	}
	return s.Keep(ctx, shopID, w)
}

// Keep counts the window's funnel now and keeps it.
func (s *Store) Keep(ctx context.Context, shopID int64, w Window) (Funnel, error) {
	f, err := s.Count(ctx, shopID, w)
	if err != nil {
		return Funnel{}, err
	}
	n := func(i int) int64 { return f.Steps[i].Count }
	if _, err := s.DB.ExecContext(ctx, `INSERT INTO lifecycle_funnel (shop_id, last_day, prospects, reached, engaged, ordered, repurchased, computed_at)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8)
		ON CONFLICT (shop_id, last_day) DO UPDATE SET prospects = excluded.prospects, reached = excluded.reached, engaged = excluded.engaged,
			ordered = excluded.ordered, repurchased = excluded.repurchased, computed_at = excluded.computed_at
		WHERE lifecycle_funnel.computed_at <= excluded.computed_at`,
		shopID, w.Last.Format(time.DateOnly), n(0), n(1), n(2), n(3), n(4), f.ComputedAt); err != nil {
		return Funnel{}, fmt.Errorf("lifecycle: keep funnel: %w", err)
	}
	return f, nil
}

func funnelOf(w Window, n [5]int64, at time.Time) Funnel {
	f := Funnel{Window: w, ComputedAt: at}
	for i, l := range Levels {
		st := Step{Level: l, Count: n[i], Conversion: 1}
		if i > 0 {
			st.Conversion = 0
			if n[i-1] > 0 {
				st.Conversion = float64(n[i]) / float64(n[i-1])
			}
		}
		f.Steps = append(f.Steps, st)
	}
	return f
}

// Count counts the window's funnel from the raw rows (seconds on a store
// of a million customers: Lifecycle keeps the result).
func (s *Store) Count(ctx context.Context, shopID int64, w Window) (Funnel, error) {
	at := s.now()
	args := argList{shopID}
	// MATERIALIZED: inlined, each count would evaluate the level's
	// lookups again.
	q := `WITH lf AS MATERIALIZED (` + LevelsSQL(w, "$1", args.add, "") + `)
		SELECT count(*) AS n1, count(*) FILTER (WHERE level >= 2) AS n2, count(*) FILTER (WHERE level >= 3) AS n3,
		count(*) FILTER (WHERE level >= 4) AS n4, count(*) FILTER (WHERE level >= 5) AS n5 FROM lf`
	var n [5]int64
	err := s.read(ctx, func(tx *sqlx.Tx) error {
		return tx.QueryRowxContext(ctx, q, args...).Scan(&n[0], &n[1], &n[2], &n[3], &n[4])
	})
	if err != nil {
		return Funnel{}, fmt.Errorf("lifecycle: funnel: %w", err)
	}
	return funnelOf(w, n, at), nil
}

// Members lists the customer ids at level l or deeper for the window, in
// id order.
func (s *Store) Members(ctx context.Context, shopID int64, l Level, w Window) ([]int64, error) {
	args := argList{shopID}
	q := MembersSQL(l, w, "$1", args.add, "") + " ORDER BY 1"
	var ids []int64
	if err := s.read(ctx, func(tx *sqlx.Tx) error { return tx.SelectContext(ctx, &ids, q, args...) }); err != nil {
		return nil, fmt.Errorf("lifecycle: members: %w", err)
	}
	return ids, nil
}

// read runs fn in a read-only transaction without JIT: these queries are
// planned as costly (a subplan per customer) but run in well under a
// second, and compiling them took longer than running them (seconds on
// the benchmark machine).
func (s *Store) read(ctx context.Context, fn func(tx *sqlx.Tx) error) error {
	tx, err := s.DB.BeginTxx(ctx, &sql.TxOptions{ReadOnly: true})
	if err != nil {
		return err
	}
	defer tx.Rollback()
	if _, err := tx.ExecContext(ctx, `SELECT set_config('jit', 'off', true)`); err != nil {
		return err
	}
	if err := fn(tx); err != nil {
		return err
	}
	return tx.Commit()
}
