package sender

import (
	"context"
	"time"

	"github.com/riverqueue/river"

	"github.com/cartwheel/cartwheel/app/email/ledger"
	"github.com/cartwheel/cartwheel/app/email/providers"
)

// SendArgs is the River job that sends one email. Campaign and flow code
// enqueue it in the transaction that decides the email; the ledger, not the
// job, guarantees the email goes out at most once.
type SendArgs struct {
	Request
}

// Kind implements river.JobArgs.
func (SendArgs) Kind() string { return "email.send" }

// InsertOpts implements river.JobArgsWithInsertOpts.
func (SendArgs) InsertOpts() river.InsertOpts {
	return river.InsertOpts{Queue: river.QueueDefault, MaxAttempts: 12}
}

// Worker runs SendArgs jobs.
type Worker struct {
	river.WorkerDefaults[SendArgs]
	s *Sender
}

// NewWorker returns the worker for SendArgs.
func NewWorker(s *Sender) *Worker { return &Worker{s: s} }

// Work implements river.Worker: retryable provider failures retry the job
// (after the provider's Retry-After when it gave one); everything else ends it.
func (w *Worker) Work(ctx context.Context, job *river.Job[SendArgs]) error {
	_, err := w.s.Send(ctx, job.Args.Request)
	if err != nil {
		if d := providers.RetryAfter(err); d > 0 {
			return river.JobSnooze(d)
		}
		return err
	}
	return nil
}

// Timeout implements river.Worker.
func (w *Worker) Timeout(*river.Job[SendArgs]) time.Duration { return 2 * time.Minute }

// SweepArgs is the periodic job that settles ledger rows whose worker died
// mid-send: they are marked failed (never resent, to avoid duplicates).
type SweepArgs struct{}

// Kind implements river.JobArgs.
func (SweepArgs) Kind() string { return "email.sweep_interrupted" }

// SweepWorker runs SweepArgs.
type SweepWorker struct {
	river.WorkerDefaults[SweepArgs]
	s *Sender
}

// NewSweepWorker returns the worker for SweepArgs.
func NewSweepWorker(s *Sender) *SweepWorker { return &SweepWorker{s: s} }

// Work marks every shop's stale sending rows failed.
func (w *SweepWorker) Work(ctx context.Context, _ *river.Job[SweepArgs]) error {
	_, err := ledger.FailInterrupted(ctx, w.s.d.DB, 0, w.s.o.StaleAfter)
	return err
}
