package campaigns

import (
	"context"
	"errors"
	"time"

	"github.com/riverqueue/river"

	"github.com/cartwheel/cartwheel/app/jobs"
)

// SendArgs is one batch of a campaign (SendBatch). Ids only: the
// recipients are read from the snapshot and composed at delivery.
type SendArgs struct {
	ShopID     int64 `json:"shop_id"`
	CampaignID int64 `json:"campaign_id"`
}

// Kind implements river.JobArgs.
func (SendArgs) Kind() string { return "campaigns.send" }

// InsertOpts implements river.JobArgsWithInsertOpts: batches run on the
// email queue with the deliveries they queue, apart from imports and
// segment refreshes.
func (SendArgs) InsertOpts() river.InsertOpts {
	return river.InsertOpts{Queue: jobs.QueueEmail, MaxAttempts: 25}
}

// SendWorker runs SendArgs.
type SendWorker struct {
	river.WorkerDefaults[SendArgs]
	S *Sending
}

// Work runs one batch. A used-up rate snoozes the job until the bucket
// holds a batch; a used-up daily limit snoozes it until the shop's next
// day starts (carry-over). Snoozing keeps the chain: the same job comes
// back, nothing is enqueued twice.
func (w *SendWorker) Work(ctx context.Context, j *river.Job[SendArgs]) error {
	r, err := w.S.SendBatch(ctx, j.Args.ShopID, j.Args.CampaignID)
	if errors.Is(err, ErrNotFound) {
		return nil // the shop was erased meanwhile: nothing left to send
	}
	if err != nil {
		return err
	}
	switch {
	case r.Wait > 0:
		return river.JobSnooze(r.Wait)
	case !r.Until.IsZero():
		return river.JobSnooze(max(r.Until.Sub(w.S.now()), time.Second))
	}
	return nil
}

// StartDueArgs is the periodic job that starts scheduled campaigns.
type StartDueArgs struct{}

// Kind implements river.JobArgs.
func (StartDueArgs) Kind() string { return "campaigns.start_due" }

// StartDueWorker runs StartDueArgs.
type StartDueWorker struct {
	river.WorkerDefaults[StartDueArgs]
	S *Sending
}

// Work starts what is due now.
func (w *StartDueWorker) Work(ctx context.Context, _ *river.Job[StartDueArgs]) error {
	_, err := w.S.StartDue(ctx, w.S.now())
	return err
}

// Timeout: a due campaign's snapshot of a million recipients takes seconds.
func (w *StartDueWorker) Timeout(*river.Job[StartDueArgs]) time.Duration { return 10 * time.Minute }

// StartDuePeriodicJob checks for due scheduled campaigns every interval
// (a minute in production; the elected leader inserts it, so N instances
// run it once).
func StartDuePeriodicJob(every time.Duration) *river.PeriodicJob {
	return river.NewPeriodicJob(river.PeriodicInterval(every),
		func() (river.JobArgs, *river.InsertOpts) { return StartDueArgs{}, nil },
		&river.PeriodicJobOpts{RunOnStart: true})
}
