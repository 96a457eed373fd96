package sender

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/riverqueue/river"

	"github.com/cartwheel/cartwheel/app/email/ledger"
	"github.com/cartwheel/cartwheel/app/email/providers"
	"github.com/cartwheel/cartwheel/app/jobs"
)

// DeliverArgs is the River job that sends reserved ledger rows. It carries
// references only: the rows hold the recipient and what the email is
// composed from, so river_job never holds an address, a name or HTML, and
// a redaction that reaches the ledger reaches every queued email.
type DeliverArgs struct {
	ShopID     int64   `json:"shop_id"`
	MessageIDs []int64 `json:"message_ids"`
}

// Kind implements river.JobArgs.
func (DeliverArgs) Kind() string { return "email.deliver" }

// InsertOpts implements river.JobArgsWithInsertOpts: deliveries run on
// their own queue, so they never wait behind imports; a dozen attempts
// cover a provider outage of a few hours.
func (DeliverArgs) InsertOpts() river.InsertOpts {
	return river.InsertOpts{Queue: jobs.QueueEmail, MaxAttempts: 12}
}

// MaxBatch is the most messages one deliver job sends.
const MaxBatch = 500

// EnqueueDeliver queues the sending of the shop's ledger rows ids, in the
// transaction that reserved them (so the job exists if and only if the rows
// do), MaxBatch ids per job.
func EnqueueDeliver(ctx context.Context, tx *sql.Tx, ins jobs.Inserter, shopID int64, ids ...int64) error {
	if shopID <= 0 {
		return errors.New("sender: enqueue deliver: a shop id is required")
	}
	for len(ids) > 0 {
		n := min(len(ids), MaxBatch)
		batch := append([]int64(nil), ids[:n]...)
		if _, err := ins.InsertTx(ctx, tx, DeliverArgs{ShopID: shopID, MessageIDs: batch}, nil); err != nil {
			return fmt.Errorf("sender: enqueue deliver of %d messages: %w", n, err)
		}
		ids = ids[n:]
	}
	return nil
}

// DeliverWorker runs DeliverArgs jobs.
type DeliverWorker struct {
	river.WorkerDefaults[DeliverArgs]
	s *Sender
}

// NewDeliverWorker returns the worker for DeliverArgs.
func NewDeliverWorker(s *Sender) *DeliverWorker { return &DeliverWorker{s: s} }

// Work implements river.Worker: a retryable provider failure retries the
// job (after the provider's Retry-After when it gave one); the retry finds
// the rows already sent settled and sends only what is still queued.
func (w *DeliverWorker) Work(ctx context.Context, job *river.Job[DeliverArgs]) error {
	_, err := w.s.Deliver(ctx, job.Args.ShopID, job.Args.MessageIDs)
	if err != nil {
		if d := providers.RetryAfter(err); d > 0 {
			return river.JobSnooze(d)
		}
		return err
	}
	return nil
}

// Timeout implements river.Worker: room for a full batch of provider calls.
func (w *DeliverWorker) Timeout(*river.Job[DeliverArgs]) time.Duration { return 10 * time.Minute }

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

// Work settles every shop's stale sending rows (Sweep).
func (w *SweepWorker) Work(ctx context.Context, _ *river.Job[SweepArgs]) error {
	return w.s.Sweep(ctx, 0)
}

// Sweep settles the shop's rows (every shop's when shopID is 0) left in
// sending by a worker that died (ledger.SweepInterrupted): those handed to
// the provider are failed, never resent; those its batch had claimed but
// not handed over go back to queued, and their delivery is queued again in
// the same transaction (the job that claimed them may have ended, finding
// them still in sending).
func (s *Sender) Sweep(ctx context.Context, shopID int64) error {
	tx, err := s.d.DB.BeginTxx(ctx, nil)
	if err != nil {
		return fmt.Errorf("sender: sweep: %w", err)
	}
	defer tx.Rollback()
	_, requeued, err := ledger.SweepInterrupted(ctx, tx, shopID, s.o.StaleAfter)
	if err != nil {
		return err
	}
	if len(requeued) > 0 {
		if s.jobs == nil {
			return errors.New("sender: sweep: no job queue wired to queue the delivery of requeued messages")
		}
		byShop := map[int64][]int64{}
		for _, r := range requeued {
			byShop[r.ShopID] = append(byShop[r.ShopID], r.ID)
		}
		for shop, ids := range byShop {
			if err := EnqueueDeliver(ctx, tx.Tx, s.jobs, shop, ids...); err != nil {
				return err
			}
		}
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("sender: sweep: %w", err)
	}
	return nil
}
