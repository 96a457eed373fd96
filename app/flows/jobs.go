package flows

import (
	"context"
	"fmt"
	"time"

	"github.com/jmoiron/sqlx"
	"github.com/riverqueue/river"
	"github.com/riverqueue/river/rivertype"

	"github.com/cartwheel/cartwheel/app/jobs"
	"github.com/cartwheel/cartwheel/app/signals"
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

// scheduleWakeOnce is scheduleWake, once per wake second in one consumer
// transaction (memo): the runs it starts for many customers mostly wake at
// the same few seconds.
func (e *Engine) scheduleWakeOnce(ctx context.Context, tx *sqlx.Tx, memo *signals.Memo, shopID int64, t time.Time) error {
	key := fmt.Sprintf("flows.wake:%d:%d", shopID, wakeSecond(t).Unix())
	if _, ok := memo.Get(key); ok {
		return nil
	}
	if err := e.scheduleWake(ctx, tx, shopID, t); err != nil {
		return err
	}
	memo.Set(key, true)
	return nil
}

// wakeSecond is t rounded up to the second, the time wake jobs run at.
func wakeSecond(t time.Time) time.Time {
	at := t.UTC().Truncate(time.Second)
	if at.Before(t) {
		at = at.Add(time.Second)
	}
	return at
}

// scheduleWake makes sure a wake job exists for the shop at t (rounded up
// to the second), in the caller's transaction.
func (e *Engine) scheduleWake(ctx context.Context, tx *sqlx.Tx, shopID int64, t time.Time) error {
	if e.jobs == nil {
		return nil
	}
	at := wakeSecond(t)
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
// due at At: an earlier failure or a resumed flow is caught up too), again
// and again while more comes due. One pass per shop at a time: two would
// pick the same runs and queue on each other's locks, so a wake job that
// finds the shop's pass running tries again a second later (the pass may
// have checked before this job's runs came due).
func (w *WakeWorker) Work(ctx context.Context, j *river.Job[WakeArgs]) error {
	ok, release, err := w.E.lockShop(ctx, j.Args.ShopID)
	if err != nil {
		return err
	}
	if !ok {
		return river.JobSnooze(time.Second)
	}
	defer release()
	return w.E.drain(ctx, j.Args.ShopID)
}

// drain runs the shop's due steps until none is due at a fresh reading of
// the clock.
func (e *Engine) drain(ctx context.Context, shopID int64) error {
	for {
		n, err := e.RunDue(ctx, shopID, e.now())
		if err != nil || n == 0 {
			return err
		}
	}
}

// passLockClass keys the per-shop advisory lock of due-step passes.
const passLockClass = 0x666c6f77 // "flow"

// lockShop takes the shop's pass lock on a connection of its own, without
// waiting; release gives it back.
func (e *Engine) lockShop(ctx context.Context, shopID int64) (bool, func(), error) {
	conn, err := e.DB.Connx(ctx)
	if err != nil {
		return false, nil, fmt.Errorf("flows: pass lock of shop %d: %w", shopID, err)
	}
	var ok bool
	if err := conn.GetContext(ctx, &ok, `SELECT pg_try_advisory_lock($1, $2::int)`, passLockClass, shopID); err != nil {
		conn.Close()
		return false, nil, fmt.Errorf("flows: pass lock of shop %d: %w", shopID, err)
	}
	if !ok {
		conn.Close()
		return false, nil, nil
	}
	return true, func() {
		_, _ = conn.ExecContext(context.WithoutCancel(ctx), `SELECT pg_advisory_unlock($1, $2::int)`, passLockClass, shopID)
		conn.Close()
	}, nil
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
		ok, release, err := w.E.lockShop(ctx, id)
		if err == nil && ok {
			err = w.E.drain(ctx, id)
			release()
		}
		if err != nil && first == nil {
			first = err
		}
	}
	return first
}
