package flows

import (
	"context"
	"fmt"
	"time"

	"github.com/jmoiron/sqlx"
	"github.com/riverqueue/river"
	"github.com/riverqueue/river/rivertype"

	"github.com/cartwheel/cartwheel/app/jobs"
)

// Queue is the River queue flow steps run on, apart from imports and
// sends.
const Queue = jobs.QueueFlows

// WakeArgs executes a shop's due runs. One job per shop and second of wake
// time, scheduled at it: a million runs waiting on the same day make as
// many jobs as distinct seconds, not a million.
type WakeArgs struct {
	ShopID int64     `json:"shop_id"`
	At     time.Time `json:"at"`
}

// Kind implements river.JobArgs.
func (WakeArgs) Kind() string { return "flows.wake" }

// scheduleWake makes sure a wake job exists for the shop at t (rounded up
// to the second), in the caller's transaction.
func (e *Engine) scheduleWake(ctx context.Context, tx *sqlx.Tx, shopID int64, t time.Time) error {
	if e.jobs == nil {
		return nil
	}
	at := t.UTC().Truncate(time.Second)
	if at.Before(t) {
		at = at.Add(time.Second)
	}
	// Thousands of runs of a busy pass wait until the same second: a
	// committed wake job for it is enough, and inserting another would make
	// every transaction of the pass queue on that job's unique key. (A read
	// doesn't wait for uncommitted inserts; a wake-up due about now is
	// always inserted, as the job for it may be running past this run.)
	if at.After(e.now().Add(2 * time.Second)) {
		var scheduled bool
		if err := e.get(ctx, tx, &scheduled, `SELECT EXISTS (SELECT 1 FROM river_job WHERE state = 'scheduled' AND queue = $1 AND priority = 1
			AND scheduled_at = $2 AND kind = 'flows.wake' AND (args->>'shop_id')::bigint = $3)`, Queue, at, shopID); err != nil {
			return fmt.Errorf("flows: schedule wake of shop %d: %w", shopID, err)
		}
		if scheduled {
			return nil
		}
	}
	_, err := e.jobs.InsertTx(ctx, tx.Tx, WakeArgs{ShopID: shopID, At: at}, &river.InsertOpts{
		Queue: Queue, ScheduledAt: at, MaxAttempts: 25,
		UniqueOpts: river.UniqueOpts{ByArgs: true, ByState: []rivertype.JobState{
			rivertype.JobStateAvailable, rivertype.JobStatePending, rivertype.JobStateRunning, rivertype.JobStateScheduled, rivertype.JobStateRetryable}},
	})
	if err != nil {
		return fmt.Errorf("flows: schedule wake of shop %d: %w", shopID, err)
	}
	return nil
}

// WakeWorker runs WakeArgs.
type WakeWorker struct {
	river.WorkerDefaults[WakeArgs]
	E *Engine
}

// Timeout lets a large batch finish.
func (w *WakeWorker) Timeout(*river.Job[WakeArgs]) time.Duration { return 10 * time.Minute }

// Work executes everything of the shop that is due now (not only what was
// due at At: an earlier failure or a resumed flow is caught up too).
func (w *WakeWorker) Work(ctx context.Context, j *river.Job[WakeArgs]) error {
	_, err := w.E.RunDue(ctx, j.Args.ShopID, w.E.now())
	return err
}

// SweepArgs is the periodic safety net: every shop with due runs gets them
// executed (a flow resumed after a pause, a wake job that failed for good).
type SweepArgs struct{}

// Kind implements river.JobArgs.
func (SweepArgs) Kind() string { return "flows.sweep" }

// SweepEvery is how often the sweep looks for due runs.
const SweepEvery = time.Minute

// SweepPeriodicJob is registered with the River client.
func SweepPeriodicJob() *river.PeriodicJob {
	return river.NewPeriodicJob(river.PeriodicInterval(SweepEvery),
		func() (river.JobArgs, *river.InsertOpts) { return SweepArgs{}, &river.InsertOpts{Queue: Queue} }, nil)
}

// SweepWorker runs SweepArgs.
type SweepWorker struct {
	river.WorkerDefaults[SweepArgs]
	E *Engine
}

// Work runs every shop's due runs.
func (w *SweepWorker) Work(ctx context.Context, _ *river.Job[SweepArgs]) error {
	now := w.E.now()
	var shops []int64
	err := w.E.DB.SelectContext(ctx, &shops, `SELECT DISTINCT r.shop_id FROM flow_runs r JOIN flows f ON f.id = r.flow_id
		WHERE r.status = 'active' AND r.wake_at <= $1 AND f.status = 'live'`, now)
	if err != nil {
		return fmt.Errorf("flows: sweep: %w", err)
	}
	var first error
	for _, id := range shops {
		if _, err := w.E.RunDue(ctx, id, now); err != nil && first == nil {
			first = err
		}
	}
	return first
}
