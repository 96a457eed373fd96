// Package consistency runs the daily sweep that checks every per-customer
// derived value against a recompute from the raw rows and repairs what
// differs. The write paths keep derived data right under any interleaving
// (they lock the profile, see customers.LockProfiles); the sweep is the
// safety net that turns a future bug into a number on /metrics
// (cartwheel_consistency_repairs_total) instead of wrong emails. Each
// domain checks and repairs its own tables; this package only runs them,
// once a day per shop, and records what they repaired.
package consistency

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"log/slog"
	"time"

	"github.com/jmoiron/sqlx"
	"github.com/riverqueue/river"

	"github.com/cartwheel/cartwheel/app/email/tracking"
	"github.com/cartwheel/cartwheel/app/metrics"
	"github.com/cartwheel/cartwheel/app/orders"
	"github.com/cartwheel/cartwheel/app/segments"
)

// Kinds of derived data the sweep repairs (the metric's label).
const (
	KindFigures  = "figures"             // orders count, total spent, first/last order
	KindProducts = "products"            // products bought
	KindActivity = "activity"            // activity totals (and so segment memberships)
	KindStreaks  = "soft_bounce_streaks" // soft-bounce streaks of addresses
)

// Every is how often a shop is swept.
const Every = 24 * time.Hour

// lateness bounds how much older than the last sweep a change can look:
// SendGrid retries an event batch for up to 72 hours, and its events carry
// the time they happened.
const lateness = 72 * time.Hour

// Report counts what one sweep of a shop repaired, by kind.
type Report map[string]int64

// Total is the sum over kinds.
func (r Report) Total() int64 {
	var n int64
	for _, v := range r {
		n += v
	}
	return n
}

// Sweeper runs the domains' repairs.
type Sweeper struct {
	DB       *sqlx.DB
	Orders   *orders.Store
	Segments *segments.Store
	Tracking *tracking.Service
	Metrics  *metrics.Metrics // nil: not recorded
	Log      *slog.Logger
}

// SweepShop checks and repairs one shop's derived data. Order figures and
// products bought are checked for every profile (one pass over the
// orders); activity totals and streaks, whose sources (storefront and email
// events) are far larger, only where something happened since the shop's
// previous sweep (less lateness), or everywhere on the first sweep.
func (s *Sweeper) SweepShop(ctx context.Context, shopID int64, now time.Time) (Report, error) {
	var last sql.NullTime
	if err := s.DB.GetContext(ctx, &last, `SELECT max(swept_at) FROM consistency_sweeps WHERE shop_id = $1`, shopID); err != nil {
		return nil, fmt.Errorf("consistency: last sweep of shop %d: %w", shopID, err)
	}
	since := time.Time{}
	if last.Valid {
		since = last.Time.Add(-lateness)
	}
	rep := Report{}
	fig, err := s.Orders.RepairCustomers(ctx, shopID)
	if err != nil {
		return rep, fmt.Errorf("consistency: shop %d: %w", shopID, err)
	}
	rep[KindFigures], rep[KindProducts] = fig.Figures, fig.Products
	if rep[KindActivity], err = s.Segments.RepairActivity(ctx, shopID, since, now); err != nil {
		return rep, fmt.Errorf("consistency: shop %d: %w", shopID, err)
	}
	if rep[KindStreaks], err = s.Tracking.RepairStreaks(ctx, shopID, since); err != nil {
		return rep, fmt.Errorf("consistency: shop %d: %w", shopID, err)
	}
	doc, _ := json.Marshal(rep)
	if _, err := s.DB.ExecContext(ctx, `INSERT INTO consistency_sweeps (shop_id, swept_at, repaired) VALUES ($1, $2, $3)
		ON CONFLICT (shop_id) DO UPDATE SET swept_at = EXCLUDED.swept_at, repaired = EXCLUDED.repaired`, shopID, now, doc); err != nil {
		return rep, fmt.Errorf("consistency: record sweep of shop %d: %w", shopID, err)
	}
	for kind, n := range rep {
		if s.Metrics != nil {
			// Added even when 0, so every kind is exported from the start.
			s.Metrics.ConsistencyRepairs.WithLabelValues(kind).Add(float64(n))
		}
	}
	if rep.Total() > 0 {
		s.log().Warn("consistency: repaired derived data that had drifted", "shop_id", shopID,
			KindFigures, rep[KindFigures], KindProducts, rep[KindProducts], KindActivity, rep[KindActivity], KindStreaks, rep[KindStreaks])
	} else {
		s.log().Info("consistency: derived data checked, nothing to repair", "shop_id", shopID)
	}
	return rep, nil
}

func (s *Sweeper) log() *slog.Logger {
	if s.Log == nil {
		return slog.Default()
	}
	return s.Log
}

// SweepDue sweeps every installed shop not swept in the last Every and
// returns how many it swept. A shop that fails is logged and left for the
// next run; the first error is returned after the others ran.
func (s *Sweeper) SweepDue(ctx context.Context, now time.Time) (int, error) {
	var shops []int64
	if err := s.DB.SelectContext(ctx, &shops, `SELECT s.id FROM shops s
		LEFT JOIN consistency_sweeps c ON c.shop_id = s.id
		WHERE s.uninstalled_at IS NULL AND (c.swept_at IS NULL OR c.swept_at <= $1)
		ORDER BY s.id`, now.Add(-Every)); err != nil {
		return 0, fmt.Errorf("consistency: due shops: %w", err)
	}
	done := 0
	var first error
	for _, id := range shops {
		if _, err := s.SweepShop(ctx, id, now); err != nil {
			s.log().Error("consistency: sweep failed", "shop_id", id, "err", err)
			if first == nil {
				first = err
			}
			continue
		}
		done++
	}
	return done, first
}

// SweepArgs is the periodic job that sweeps the due shops.
type SweepArgs struct{}

func (SweepArgs) Kind() string { return "consistency.sweep" }

// CheckEvery is how often the periodic job looks for due shops.
const CheckEvery = 15 * time.Minute

// PeriodicJob is the periodic job to register with the River client.
func PeriodicJob() *river.PeriodicJob {
	return river.NewPeriodicJob(river.PeriodicInterval(CheckEvery),
		func() (river.JobArgs, *river.InsertOpts) { return SweepArgs{}, nil }, nil)
}

// Worker runs SweepArgs.
type Worker struct {
	river.WorkerDefaults[SweepArgs]
	Sweeper *Sweeper
	Now     func() time.Time
}

// Timeout lets the first sweep of a large shop (a full check) finish.
func (w *Worker) Timeout(*river.Job[SweepArgs]) time.Duration { return time.Hour }

func (w *Worker) Work(ctx context.Context, _ *river.Job[SweepArgs]) error {
	now := time.Now()
	if w.Now != nil {
		now = w.Now()
	}
	_, err := w.Sweeper.SweepDue(ctx, now)
	return err
}
