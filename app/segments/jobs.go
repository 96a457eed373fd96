package segments

import (
	"context"
	"database/sql"
	"fmt"
	"time"

	"github.com/riverqueue/river"
	"github.com/riverqueue/river/rivertype"
)

// debounced maps every enqueue within one window of the given length to
// the same job, scheduled at the window's end, so it runs after all of them
// (and a change made while it runs falls into the next window's job).
// (River can't leave running jobs out of the uniqueness check, so a window
// is what lets a request made during a run still get one after it.)
func debounced(now time.Time, window time.Duration) *river.InsertOpts {
	return &river.InsertOpts{
		ScheduledAt: now.Truncate(window).Add(window),
		UniqueOpts: river.UniqueOpts{
			ByArgs:   true,
			ByPeriod: window,
			ByState: []rivertype.JobState{rivertype.JobStateAvailable, rivertype.JobStatePending,
				rivertype.JobStateRunning, rivertype.JobStateScheduled, rivertype.JobStateRetryable},
		},
	}
}

func nowOf(f func() time.Time) time.Time {
	if f == nil {
		return time.Now()
	}
	return f()
}

// DailyArgs is the periodic sweep (every DailyCheckEvery) that fully
// refreshes each shop once a day, at 02:00 in the shop's timezone.
type DailyArgs struct{}

func (DailyArgs) Kind() string { return "segments.daily_refresh" }

// DailyCheckEvery is how often the daily sweep looks for due shops.
const DailyCheckEvery = 15 * time.Minute

// DailyPeriodicJob is the periodic job to register with the River client.
func DailyPeriodicJob() *river.PeriodicJob {
	return river.NewPeriodicJob(river.PeriodicInterval(DailyCheckEvery),
		func() (river.JobArgs, *river.InsertOpts) { return DailyArgs{}, nil }, nil)
}

// DailyWorker runs DailyArgs.
type DailyWorker struct {
	river.WorkerDefaults[DailyArgs]
	Store *Store
	Now   func() time.Time
}

// Timeout lets the sweep fully refresh large shops (River's default is a
// minute).
func (w *DailyWorker) Timeout(*river.Job[DailyArgs]) time.Duration { return time.Hour }

func (w *DailyWorker) Work(ctx context.Context, _ *river.Job[DailyArgs]) error {
	_, err := w.Store.RefreshDue(ctx, nowOf(w.Now))
	return err
}

// lastTwoAM is the most recent 02:00 (local) at or before now in loc.
func lastTwoAM(now time.Time, loc *time.Location) time.Time {
	n := now.In(loc)
	t := time.Date(n.Year(), n.Month(), n.Day(), 2, 0, 0, 0, loc)
	if t.After(now) {
		t = time.Date(n.Year(), n.Month(), n.Day()-1, 2, 0, 0, 0, loc)
	}
	return t
}

// RefreshDue fully refreshes every installed shop whose local 02:00 passed
// since its last daily refresh (first giving it any presets it lacks), and
// returns how many it refreshed. A shop
// that fails is skipped (and retried on the next sweep); the first error is
// returned after the others ran.
func (s *Store) RefreshDue(ctx context.Context, now time.Time) (int, error) {
	var rows []struct {
		ID        int64        `db:"id"`
		Timezone  string       `db:"timezone"`
		ShopTZ    string       `db:"iana_timezone"`
		Refreshed sql.NullTime `db:"segments_refreshed_at"`
	}
	err := s.DB.SelectContext(ctx, &rows, `SELECT id, timezone, iana_timezone, segments_refreshed_at FROM shops
		WHERE uninstalled_at IS NULL ORDER BY id`)
	if err != nil {
		return 0, fmt.Errorf("segments: due shops: %w", err)
	}
	done := 0
	var first error
	for _, r := range rows {
		tz := r.Timezone
		if tz == "" {
			tz = r.ShopTZ
		}
		loc, err := time.LoadLocation(tz)
		if err != nil || tz == "" {
			loc = time.UTC
		}
		due := lastTwoAM(now, loc)
		if r.Refreshed.Valid && !r.Refreshed.Time.Before(due) {
			continue
		}
		// Shops installed before presets existed (or before a new
		// generation of them) get them here.
		if err := s.EnsurePresets(ctx, r.ID, now); err != nil {
			if first == nil {
				first = fmt.Errorf("shop %d: %w", r.ID, err)
			}
			continue
		}
		if err := s.RefreshShop(ctx, r.ID, now); err != nil {
			if first == nil {
				first = fmt.Errorf("shop %d: %w", r.ID, err)
			}
			continue
		}
		if _, err := s.DB.ExecContext(ctx, "UPDATE shops SET segments_refreshed_at = $2 WHERE id = $1", r.ID, now); err != nil && first == nil {
			first = err
		}
		done++
	}
	return done, first
}
