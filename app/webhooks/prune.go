package webhooks

import (
	"context"
	"fmt"
	"time"

	"github.com/jmoiron/sqlx"
	"github.com/riverqueue/river"
)

// PruneRawBodies drops the raw bytes of rejected deliveries older than the
// retention (they may hold personal data) and returns how many it dropped.
func PruneRawBodies(ctx context.Context, db sqlx.ExecerContext, now time.Time) (int64, error) {
	res, err := db.ExecContext(ctx, `UPDATE webhook_deliveries SET raw_body = NULL
		WHERE raw_body IS NOT NULL AND received_at < $1`, now.Add(-rawBodyRetention))
	if err != nil {
		return 0, fmt.Errorf("webhooks: prune raw bodies: %w", err)
	}
	n, _ := res.RowsAffected()
	return n, nil
}

// PruneArgs is the hourly job that runs PruneRawBodies.
type PruneArgs struct{}

// Kind names the job in River.
func (PruneArgs) Kind() string { return "webhooks.prune_raw_bodies" }

// PrunePeriodicJob is the periodic job to register with the River client.
func PrunePeriodicJob() *river.PeriodicJob {
	return river.NewPeriodicJob(river.PeriodicInterval(time.Hour),
		func() (river.JobArgs, *river.InsertOpts) { return PruneArgs{}, nil }, nil)
}

// PruneWorker runs PruneArgs.
type PruneWorker struct {
	river.WorkerDefaults[PruneArgs]
	DB  *sqlx.DB
	Now func() time.Time
}

// Work prunes expired raw bodies.
func (w *PruneWorker) Work(ctx context.Context, _ *river.Job[PruneArgs]) error {
	now := time.Now
	if w.Now != nil {
		now = w.Now
	}
	_, err := PruneRawBodies(ctx, w.DB, now())
	return err
}
