package lifecycle

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jmoiron/sqlx"
)

// Member composition (seed 004), as of an instant T, over every profile
// (not deleted) created before T:
//
//   - Prospect: no order before T.
//   - First-time buyer: exactly one order before T, placed in the 180 days
//     before T.
//   - Repeat buyer: two or more orders before T, the last in those 180 days.
//   - Lapsed: ordered before T, the last order more than 180 days before T.
//
// The four groups split the profiles: every one is in exactly one. Orders
// count as everywhere in the app (not cancelled, not test, at
// processed_at) as they stand now: a later cancellation takes an order out
// of past points too when they are recomputed.

// Group is one of the composition's groups.
type Group int

const (
	GroupProspects Group = iota
	GroupFirstTime
	GroupRepeat
	GroupLapsed
)

// Groups in display order.
var Groups = []Group{GroupProspects, GroupFirstTime, GroupRepeat, GroupLapsed}

// Label is the group's name for merchants.
func (g Group) Label() string {
	return [...]string{"Prospects", "First-time buyers", "Repeat buyers", "Lapsed"}[g]
}

// Definition is the group's meaning (hover text).
func (g Group) Definition() string {
	return [...]string{
		"Customers who haven't ordered yet.",
		"Customers with exactly one order, placed in the last 180 days.",
		"Customers with two or more orders, the latest in the last 180 days.",
		"Customers who have ordered, but not in the last 180 days.",
	}[g]
}

// LapseDays is how long without an order makes a buyer lapsed.
const LapseDays = 180

// Counts are the four groups' sizes, indexed by Group.
type Counts [4]int64

// Total is the number of profiles.
func (c Counts) Total() int64 { return c[0] + c[1] + c[2] + c[3] }

// Share is group g's fraction of the total (0 when there is nobody).
func (c Counts) Share(g Group) float64 {
	if c.Total() == 0 {
		return 0
	}
	return float64(c[g]) / float64(c.Total())
}

// Point is the composition at the start of a day (shop time).
type Point struct {
	Day time.Time
	Counts
}

// Composition is the composition now and its history.
type Composition struct {
	At      time.Time // when Current was counted
	Current Counts
	// History: one point per week, the oldest first, ending with today's
	// (00:00 shop time); weeks not computed yet are left out.
	History []Point
}

// HistoryWeeks is how far back the history goes.
const HistoryWeeks = 26

// lapseBefore is the instant before which a last order makes a buyer
// lapsed at t.
func lapseBefore(t time.Time, loc *time.Location) time.Time {
	return t.In(loc).AddDate(0, 0, -LapseDays)
}

// currentSQL answers from the profiles' order figures (kept by app/orders
// from the same orders), one pass over the shop's customers.
const currentSQL = `SELECT
	count(*) FILTER (WHERE first_order_at IS NULL OR first_order_at >= $2),
	count(*) FILTER (WHERE first_order_at < $2 AND last_order_at >= $3 AND orders_count = 1),
	count(*) FILTER (WHERE first_order_at < $2 AND last_order_at >= $3 AND orders_count >= 2),
	count(*) FILTER (WHERE first_order_at < $2 AND last_order_at < $3)
FROM customers WHERE shop_id = $1 AND deleted_at IS NULL
	AND (first_order_at < $2 OR COALESCE(shopify_created_at, created_at) < $2)`

// pointSQL computes the composition as of $2 from the orders themselves.
const pointSQL = `WITH b AS (
	SELECT o.customer_id, count(*) AS n, max(o.processed_at) AS last
	FROM orders o WHERE o.shop_id = $1 AND o.customer_id IS NOT NULL
		AND o.cancelled_at IS NULL AND NOT o.test AND o.processed_at < $2
	GROUP BY o.customer_id
)
SELECT
	count(*) FILTER (WHERE b.customer_id IS NULL),
	count(*) FILTER (WHERE b.n = 1 AND b.last >= $3),
	count(*) FILTER (WHERE b.n >= 2 AND b.last >= $3),
	count(*) FILTER (WHERE b.last < $3)
FROM customers c LEFT JOIN b ON b.customer_id = c.id
WHERE c.shop_id = $1 AND c.deleted_at IS NULL
	AND (b.customer_id IS NOT NULL OR COALESCE(c.shopify_created_at, c.created_at) < $2)`

// Composition reads the weekly history from the kept points and the
// composition now: today's point (00:00 shop time) once the job has kept
// it, live from the profiles' order figures before (a pass over every
// profile: about a second at a million).
func (s *Store) Composition(ctx context.Context, shopID int64, now time.Time) (Composition, error) {
	loc, err := Location(ctx, s.DB, shopID)
	if err != nil {
		return Composition{}, err
	}
	out := Composition{}
	days := historyDays(now, loc)
	rows, err := s.DB.QueryxContext(ctx, `SELECT day, prospects, first_time, repeat, lapsed FROM lifecycle_composition
		WHERE shop_id = $1 AND day = ANY($2::date[]) ORDER BY day`, shopID, dateArray(days))
	if err != nil {
		return Composition{}, fmt.Errorf("lifecycle: composition history: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var p Point
		var day time.Time
		if err := rows.Scan(&day, &p.Counts[0], &p.Counts[1], &p.Counts[2], &p.Counts[3]); err != nil {
			return Composition{}, fmt.Errorf("lifecycle: composition history: %w", err)
		}
		p.Day = time.Date(day.Year(), day.Month(), day.Day(), 0, 0, 0, 0, loc)
		out.History = append(out.History, p)
	}
	if err := rows.Err(); err != nil {
		return Composition{}, fmt.Errorf("lifecycle: composition history: %w", err)
	}
	if n := len(out.History); n > 0 && out.History[n-1].Day.Equal(days[len(days)-1]) {
		out.At, out.Current = out.History[n-1].Day, out.History[n-1].Counts
		return out, nil
	}
	out.At = now.In(loc)
	out.Current, err = s.CurrentAt(ctx, shopID, now, loc)
	return out, err
}

// CurrentAt is the composition at now (at or after the shop's newest
// order) from the profiles' order figures.
func (s *Store) CurrentAt(ctx context.Context, shopID int64, now time.Time, loc *time.Location) (Counts, error) {
	var c Counts
	err := s.read(ctx, func(tx *sqlx.Tx) error {
		return tx.QueryRowxContext(ctx, currentSQL, shopID, now, lapseBefore(now, loc)).Scan(&c[0], &c[1], &c[2], &c[3])
	})
	if err != nil {
		return c, fmt.Errorf("lifecycle: composition: %w", err)
	}
	return c, nil
}

// historyDays are the history's days: today (shop time) and the same
// weekday in each of the HistoryWeeks weeks before, oldest first.
func historyDays(now time.Time, loc *time.Location) []time.Time {
	n := now.In(loc)
	today := time.Date(n.Year(), n.Month(), n.Day(), 0, 0, 0, 0, loc)
	out := make([]time.Time, 0, HistoryWeeks+1)
	for k := HistoryWeeks; k >= 0; k-- {
		out = append(out, today.AddDate(0, 0, -7*k))
	}
	return out
}

func dateArray(days []time.Time) string {
	b := []byte("{")
	for i, d := range days {
		if i > 0 {
			b = append(b, ',')
		}
		b = append(b, d.Format(time.DateOnly)...)
	}
	return string(append(b, '}'))
}

// PointAt computes the composition as of t from the orders (what a
// snapshot stores).
func (s *Store) PointAt(ctx context.Context, shopID int64, t time.Time, loc *time.Location) (Counts, error) {
	var c Counts
	err := s.read(ctx, func(tx *sqlx.Tx) error {
		return tx.QueryRowxContext(ctx, pointSQL, shopID, t, lapseBefore(t, loc)).Scan(&c[0], &c[1], &c[2], &c[3])
	})
	if err != nil {
		return c, fmt.Errorf("lifecycle: composition at %s: %w", t.Format(time.RFC3339), err)
	}
	return c, nil
}

// Snapshot stores the history points of the shop that are missing (all of
// them the first time: the backfill), each as of 00:00 of its day, and
// returns how many it wrote.
func (s *Store) Snapshot(ctx context.Context, shopID int64, now time.Time) (int, error) {
	loc, err := Location(ctx, s.DB, shopID)
	if err != nil {
		return 0, err
	}
	var have []time.Time
	days := historyDays(now, loc)
	if err := s.DB.SelectContext(ctx, &have, `SELECT day FROM lifecycle_composition WHERE shop_id = $1 AND day = ANY($2::date[])`,
		shopID, dateArray(days)); err != nil {
		return 0, fmt.Errorf("lifecycle: snapshot: %w", err)
	}
	done := map[string]bool{}
	for _, d := range have {
		done[d.Format(time.DateOnly)] = true
	}
	wrote := 0
	for _, d := range days {
		if done[d.Format(time.DateOnly)] {
			continue
		}
		c, err := s.PointAt(ctx, shopID, d, loc)
		if err != nil {
			return wrote, err
		}
		// A concurrent run may have written the day: the first one stays.
		if _, err := s.DB.ExecContext(ctx, `INSERT INTO lifecycle_composition (shop_id, day, prospects, first_time, repeat, lapsed, computed_at)
			VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT (shop_id, day) DO NOTHING`,
			shopID, d.Format(time.DateOnly), c[0], c[1], c[2], c[3], now); err != nil {
			return wrote, fmt.Errorf("lifecycle: snapshot: %w", err)
		}
		wrote++
	}
	return wrote, nil
}

// SnapshotAll runs Snapshot for every installed shop and keeps the funnel
// of its window ending today; a shop that fails is retried on the next
// run, its error returned after the others ran.
func (s *Store) SnapshotAll(ctx context.Context, now time.Time) error {
	var ids []int64
	if err := s.DB.SelectContext(ctx, &ids, `SELECT id FROM shops WHERE uninstalled_at IS NULL ORDER BY id`); err != nil {
		return fmt.Errorf("lifecycle: snapshot shops: %w", err)
	}
	var errs []error
	for _, id := range ids {
		if _, err := s.Snapshot(ctx, id, now); err != nil {
			errs = append(errs, fmt.Errorf("shop %d: %w", id, err))
		}
		// The funnel of the window ending today, so the card reads it.
		loc, err := Location(ctx, s.DB, id)
		if err == nil {
			_, err = s.Keep(ctx, id, WindowEnding(now, loc))
		}
		if err != nil {
			errs = append(errs, fmt.Errorf("shop %d: %w", id, err))
		}
	}
	return errors.Join(errs...)
}
