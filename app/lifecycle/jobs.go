package lifecycle

import (
	"context"
	"time"

	"github.com/riverqueue/river"
)

// SnapshotArgs is the periodic job that stores the composition's missing
// history points of every shop (the first run is the backfill).
type SnapshotArgs struct{}

func (SnapshotArgs) Kind() string { return "lifecycle.snapshot" }

// SnapshotEvery is how often the job looks for missing points: a new day
// starts at a different hour in each shop's timezone.
const SnapshotEvery = time.Hour

// SnapshotPeriodicJob is the periodic job to register with the River client.
func SnapshotPeriodicJob() *river.PeriodicJob {
	return river.NewPeriodicJob(river.PeriodicInterval(SnapshotEvery),
		func() (river.JobArgs, *river.InsertOpts) { return SnapshotArgs{}, nil },
		&river.PeriodicJobOpts{RunOnStart: true})
}

// SnapshotWorker runs SnapshotArgs.
type SnapshotWorker struct {
	river.WorkerDefaults[SnapshotArgs]
	Store *Store
	Now   func() time.Time
}

// Timeout lets a first run backfill large shops (a point reads every order
// of the shop once).
func (w *SnapshotWorker) Timeout(*river.Job[SnapshotArgs]) time.Duration { return time.Hour }

func (w *SnapshotWorker) Work(ctx context.Context, _ *river.Job[SnapshotArgs]) error {
	now := time.Now()
	if w.Now != nil {
		now = w.Now()
	}
	return w.Store.SnapshotAll(ctx, now)
}
