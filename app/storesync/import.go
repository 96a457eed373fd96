package storesync

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"time"
	"unicode/utf8"

	"github.com/jmoiron/sqlx"
	"github.com/riverqueue/river"

	"github.com/cartwheel/cartwheel/app/catalog"
	"github.com/cartwheel/cartwheel/app/customers"
	"github.com/cartwheel/cartwheel/app/jobs"
	"github.com/cartwheel/cartwheel/app/orders"
	"github.com/cartwheel/cartwheel/app/segments"
	"github.com/cartwheel/cartwheel/app/shopify"
	"github.com/cartwheel/cartwheel/app/shops"
)

// ErrImportRunning is returned by Start while an import of the shop is
// still under way.
var ErrImportRunning = errors.New("storesync: an import is already running for this shop")

// staleAfter is how long an unfinished run may go without progress before
// a new Start may supersede it (its job died for good, or was deleted).
// Polling and every batch touch updated_at, so a live import never looks
// stale.
const staleAfter = time.Hour

// Importer starts full imports and reports their progress.
type Importer struct {
	db   *sqlx.DB
	jobs jobs.Inserter
}

// NewImporter returns an Importer that enqueues through j.
func NewImporter(db *sqlx.DB, j jobs.Inserter) *Importer { return &Importer{db: db, jobs: j} }

// ImportArgs is the job that imports the runs of one Start, in order.
type ImportArgs struct {
	ShopID int64   `json:"shop_id"`
	RunIDs []int64 `json:"run_ids"`
}

// Kind names the job in River.
func (ImportArgs) Kind() string { return "storesync.import" }

// importAttempts bounds River's retries of one import. With River's
// backoff (attempt⁴ seconds) the last try comes about six minutes after
// the first failure: long enough to ride out a Shopify hiccup, short
// enough that a merchant isn't left looking at a stalled import. Each
// failed attempt is shown with its reason; the last one fails the runs.
const importAttempts = 5

// InsertOpts bounds the retries (see importAttempts).
func (ImportArgs) InsertOpts() river.InsertOpts { return river.InsertOpts{MaxAttempts: importAttempts} }

// Start creates one import run per resource and enqueues the job that
// works through them, in one transaction. It refuses with ErrImportRunning
// while an earlier import still progresses.
func (im *Importer) Start(ctx context.Context, shopID int64) error {
	tx, err := im.db.BeginTxx(ctx, nil)
	if err != nil {
		return fmt.Errorf("storesync: start import for shop %d: %w", shopID, err)
	}
	defer tx.Rollback()
	// Serialise Starts of one shop: the check below and the insert must not
	// interleave with another request's.
	var one int
	if err := tx.GetContext(ctx, &one, `SELECT 1 FROM shops WHERE id = $1 FOR UPDATE`, shopID); err != nil {
		return fmt.Errorf("storesync: start import for shop %d: %w", shopID, err)
	}
	var running bool
	if err := tx.GetContext(ctx, &running, `
		SELECT EXISTS (SELECT 1 FROM import_runs WHERE shop_id = $1 AND status NOT IN ('done', 'failed')
			AND attempt_failed_at IS NULL AND updated_at > now() - make_interval(secs => $2))`, shopID, staleAfter.Seconds()); err != nil {
		return fmt.Errorf("storesync: start import for shop %d: %w", shopID, err)
	}
	if running {
		return ErrImportRunning
	}
	// Runs waiting for a retry (or stale) are replaced; when the old job
	// comes back it finds them failed and does nothing.
	if _, err := tx.ExecContext(ctx, `
		UPDATE import_runs SET status = 'failed', last_error = 'superseded by a new import', attempt_failed_at = NULL,
			finished_at = now(), updated_at = now()
		WHERE shop_id = $1 AND status NOT IN ('done', 'failed')`, shopID); err != nil {
		return fmt.Errorf("storesync: start import for shop %d: %w", shopID, err)
	}
	ids := make([]int64, 0, len(Resources))
	for _, r := range Resources {
		var id int64
		if err := tx.GetContext(ctx, &id, `INSERT INTO import_runs (shop_id, resource) VALUES ($1, $2) RETURNING id`, shopID, r); err != nil {
			return fmt.Errorf("storesync: start import for shop %d: %w", shopID, err)
		}
		ids = append(ids, id)
	}
	if _, err := im.jobs.InsertTx(ctx, tx.Tx, ImportArgs{ShopID: shopID, RunIDs: ids}, nil); err != nil {
		return fmt.Errorf("storesync: enqueue import for shop %d: %w", shopID, err)
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("storesync: start import for shop %d: %w", shopID, err)
	}
	return nil
}

// ImportDeps are what the import job uses.
type ImportDeps struct {
	DB        *sqlx.DB
	Shops     *shops.Store
	API       GraphQLAPI
	Customers *customers.Store
	Orders    *orders.Store
	Catalog   *catalog.Store
	Log       *slog.Logger
	// Attribute, when set, decides the attribution of the orders a batch
	// wrote (reports.AttributeTx in the app). A bulk import records no
	// signals, so without it imported orders would never be attributed;
	// it is a function so that order attribution stays app/reports' to
	// write. It runs in the batch's transaction once its orders are
	// written, so a batch is committed with its attributions or not at
	// all (the checkpoint can't move past orders left unattributed).
	Attribute func(ctx context.Context, tx *sqlx.Tx, shopID int64, orderIDs []int64) error
}

// ImportOptions tune the job; zero values are production defaults.
type ImportOptions struct {
	PollInterval     time.Duration // between bulk status reads; default 3 s
	BatchSize        int           // JSONL lines per transaction; default 2000
	DownloadAttempts int           // result downloads per run before the job fails; default 5
	HTTPClient       *http.Client  // for result downloads; default: no overall timeout (files are large)
}

// ImportWorker runs imports.
type ImportWorker struct {
	river.WorkerDefaults[ImportArgs]
	d ImportDeps
	o ImportOptions
	// afterBatch, when set (tests), runs after each committed batch.
	afterBatch func(resource string, linesDone int64)
	// jobs queues the full segment refresh that follows an import (nil in
	// tests that don't look at segments).
	jobs jobs.Inserter
}

// QueueWith makes a finished import queue a full refresh of the shop's
// segments. It is set after construction because the River client is built
// once every worker (this one among them) is registered.
func (w *ImportWorker) QueueWith(j jobs.Inserter) { w.jobs = j }

// NewImportWorker returns the worker.
func NewImportWorker(d ImportDeps, o ImportOptions) *ImportWorker {
	if o.PollInterval <= 0 {
		o.PollInterval = 3 * time.Second
	}
	if o.BatchSize <= 0 {
		o.BatchSize = 2000
	}
	if o.DownloadAttempts <= 0 {
		o.DownloadAttempts = 5
	}
	if o.HTTPClient == nil {
		o.HTTPClient = &http.Client{Transport: http.DefaultTransport}
	}
	if d.Log == nil {
		d.Log = slog.Default()
	}
	return &ImportWorker{d: d, o: o}
}

// Timeout lets a large store's import outlive the default job timeout;
// a crash mid-way resumes from the checkpoint anyway.
func (w *ImportWorker) Timeout(*river.Job[ImportArgs]) time.Duration { return 6 * time.Hour }

// Work imports each run in order. A run already done is skipped, so a
// retried job continues where the last attempt stopped.
func (w *ImportWorker) Work(ctx context.Context, job *river.Job[ImportArgs]) error {
	err := w.Run(ctx, job.Args.ShopID, job.Args.RunIDs)
	if err == nil {
		return nil
	}
	permanent := errors.Is(err, shopify.ErrUnauthorized) || errors.Is(err, shops.ErrNotInstalled) || errors.Is(err, shops.ErrNotFound)
	if permanent || job.Attempt >= job.MaxAttempts {
		w.failRuns(job.Args.RunIDs, err)
	} else {
		w.attemptFailed(job.Args.RunIDs, fmt.Sprintf("attempt %d of %d failed: %v", job.Attempt, job.MaxAttempts, err))
	}
	if permanent {
		return river.JobCancel(err)
	}
	return err
}

// attemptFailed records why an attempt failed on what is left of the
// import, so the admin shows the reason while River waits to retry.
func (w *ImportWorker) attemptFailed(ids []int64, msg string) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if _, err := w.d.DB.ExecContext(ctx, `
		UPDATE import_runs SET last_error = $2, attempt_failed_at = now(), updated_at = now()
		WHERE id = ANY($1) AND status NOT IN ('done', 'failed')`, int64Array(ids), truncate(msg, 500)); err != nil {
		w.d.Log.Error("storesync: record failed import attempt", "err", err)
	}
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	// Cut on a rune boundary: last_error is text.
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n]
}

// Run imports the given runs of the shop, in order. It is what the job
// does, callable directly.
func (w *ImportWorker) Run(ctx context.Context, shopID int64, runIDs []int64) error {
	sh, err := w.d.Shops.ByID(ctx, shopID)
	if err != nil {
		return fmt.Errorf("storesync: import for shop %d: %w", shopID, err)
	}
	if !sh.Installed() {
		return fmt.Errorf("storesync: import for shop %d: %w", shopID, shops.ErrNotInstalled)
	}
	token, err := w.d.Shops.AccessToken(ctx, shopID)
	if err != nil {
		return fmt.Errorf("storesync: import for shop %d: %w", shopID, err)
	}
	// This attempt is working on the runs again: no longer waiting.
	if _, err := w.d.DB.ExecContext(ctx, `UPDATE import_runs SET attempt_failed_at = NULL WHERE id = ANY($1) AND shop_id = $2`,
		int64Array(runIDs), shopID); err != nil {
		return fmt.Errorf("storesync: import for shop %d: %w", shopID, err)
	}
	for _, id := range runIDs {
		run, err := w.loadRun(ctx, shopID, id)
		if errors.Is(err, sql.ErrNoRows) {
			continue // the shop was erased meanwhile
		}
		if err != nil {
			return err
		}
		if err := w.runOne(ctx, sh.Domain, token, run); err != nil {
			return fmt.Errorf("storesync: import %s for shop %d: %w", run.Resource, shopID, err)
		}
	}
	return w.queueSegmentRefresh(ctx, shopID)
}

// queueSegmentRefresh queues one full refresh of the shop's segments once
// everything is imported. The import writes customers, orders and figures
// in bulk and deliberately queues no per-customer refresh: a large store has
// millions of customers, and one set-based pass over the shop is far cheaper
// than a job for each.
func (w *ImportWorker) queueSegmentRefresh(ctx context.Context, shopID int64) error {
	if w.jobs == nil {
		return nil
	}
	tx, err := w.d.DB.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("storesync: import for shop %d: %w", shopID, err)
	}
	defer tx.Rollback()
	if err := segments.EnqueueShopRefresh(ctx, tx, w.jobs, shopID); err != nil {
		return fmt.Errorf("storesync: import for shop %d: %w", shopID, err)
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("storesync: import for shop %d: %w", shopID, err)
	}
	return nil
}

// failRuns marks what is left of an import failed, so the admin stops
// showing it as running and Re-sync is possible again.
func (w *ImportWorker) failRuns(ids []int64, cause error) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	msg := truncate(cause.Error(), 500)
	if _, err := w.d.DB.ExecContext(ctx, `
		UPDATE import_runs SET status = 'failed', last_error = $2, attempt_failed_at = NULL, finished_at = now(), updated_at = now()
		WHERE id = ANY($1) AND status NOT IN ('done', 'failed')`, int64Array(ids), msg); err != nil {
		w.d.Log.Error("storesync: mark import failed", "err", err)
	}
}
