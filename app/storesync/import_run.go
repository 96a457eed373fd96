package storesync

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/lib/pq"
)

// importRun is one import_runs row: where one resource's import stands.
type importRun struct {
	ID              int64  `db:"id"`
	ShopID          int64  `db:"shop_id"`
	Resource        string `db:"resource"`
	Status          string `db:"status"` // queued | running | downloading | done | failed
	BulkOperationID string `db:"bulk_operation_id"`
	ResultURL       string `db:"result_url"`
	LinesDone       int64  `db:"lines_done"`
	RowsDone        int64  `db:"rows_done"`
	Errors          int    `db:"errors"`
	nextAnalyze     int64  // rows_done at which statistics are refreshed next
}

func int64Array(ids []int64) any { return pq.Array(ids) }

func (w *ImportWorker) loadRun(ctx context.Context, shopID, id int64) (*importRun, error) {
	var r importRun
	if err := w.d.DB.GetContext(ctx, &r, `
		SELECT id, shop_id, resource, status, bulk_operation_id, result_url, lines_done, rows_done, errors
		FROM import_runs WHERE id = $1 AND shop_id = $2`, id, shopID); err != nil {
		return nil, err
	}
	return &r, nil
}

// maxRestarts bounds how often one job attempt starts a resource's bulk
// query over (failed operation, expired link) before giving up to River's
// retry backoff.
const maxRestarts = 3

// runOne drives one run to done: start the bulk query, wait for it,
// download and apply the result from the checkpoint, then derive what
// depends on the whole resource. Each step is recorded before the next, so
// a retried job picks up at the step it died in.
func (w *ImportWorker) runOne(ctx context.Context, shop, token string, run *importRun) error {
	restarts := 0
	restart := func(reason string) error {
		restarts++
		if restarts > maxRestarts {
			return fmt.Errorf("bulk query restarted %d times, last because %s", maxRestarts, reason)
		}
		w.d.Log.Warn("storesync: restarting bulk query", "shop", shop, "resource", run.Resource, "reason", reason)
		// The new result file is applied from its first line again; upserts
		// make re-applying rows harmless.
		_, err := w.d.DB.ExecContext(ctx, `
			UPDATE import_runs SET status = 'queued', bulk_operation_id = '', result_url = '', lines_done = 0,
				rows_done = 0, rows_total = NULL, errors = 0, error_samples = '{}', last_error = $2, updated_at = now()
			WHERE id = $1`, run.ID, reason)
		run.Status, run.BulkOperationID, run.ResultURL, run.LinesDone, run.RowsDone, run.Errors = "queued", "", "", 0, 0, 0
		return err
	}
	for {
		if err := ctx.Err(); err != nil {
			return err
		}
		switch run.Status {
		case "done", "failed":
			return nil
		case "queued":
			op, err := runBulkQuery(ctx, w.d.API, shop, token, bulkQueries[run.Resource])
			if err != nil {
				return err
			}
			if _, err := w.d.DB.ExecContext(ctx, `
				UPDATE import_runs SET status = 'running', bulk_operation_id = $2, updated_at = now() WHERE id = $1`,
				run.ID, op.ID); err != nil {
				return err
			}
			run.Status, run.BulkOperationID = "running", op.ID
		case "running":
			op, err := w.waitBulk(ctx, shop, token, run)
			if errors.Is(err, errResultGone) {
				if err := restart("the bulk operation is no longer known to Shopify"); err != nil {
					return err
				}
				continue
			}
			if err != nil {
				return err
			}
			switch {
			case op.Status == "COMPLETED" && op.URL == "":
				// Nothing to import: Shopify gives no file for zero objects.
				if err := w.finish(ctx, run, 0); err != nil {
					return err
				}
				run.Status = "done"
			case op.Status == "COMPLETED":
				if _, err := w.d.DB.ExecContext(ctx, `
					UPDATE import_runs SET status = 'downloading', result_url = $2, rows_total = $3, updated_at = now()
					WHERE id = $1`, run.ID, op.URL, int64(op.ObjectCount)); err != nil {
					return err
				}
				run.Status, run.ResultURL = "downloading", op.URL
			case op.ErrorCode == "ACCESS_DENIED":
				return fmt.Errorf("bulk operation %s failed: ACCESS_DENIED (missing access scope)", op.ID)
			default:
				if err := restart(fmt.Sprintf("bulk operation %s ended %s %s", op.ID, op.Status, op.ErrorCode)); err != nil {
					return err
				}
			}
		case "downloading":
			err := w.download(ctx, run)
			if errors.Is(err, errResultGone) {
				if err := restart("the result link expired"); err != nil {
					return err
				}
				continue
			}
			if err != nil {
				return err
			}
			if err := w.analyze(ctx, run.Resource); err != nil {
				return err
			}
			if err := w.afterResource(ctx, run); err != nil {
				return err
			}
			if err := w.finish(ctx, run, -1); err != nil {
				return err
			}
			run.Status = "done"
		default:
			return fmt.Errorf("run %d has unknown status %q", run.ID, run.Status)
		}
	}
}

// waitBulk polls the run's bulk operation until it ends. Every read
// touches the run, so the admin (and Start's staleness check) sees it live.
func (w *ImportWorker) waitBulk(ctx context.Context, shop, token string, run *importRun) (bulkOperation, error) {
	for {
		op, found, err := bulkStatus(ctx, w.d.API, shop, token, run.BulkOperationID)
		if err != nil {
			return bulkOperation{}, err
		}
		if !found {
			return bulkOperation{}, errResultGone
		}
		switch op.Status {
		case "COMPLETED", "FAILED", "CANCELED", "EXPIRED":
			return op, nil
		}
		if _, err := w.d.DB.ExecContext(ctx, `UPDATE import_runs SET updated_at = now() WHERE id = $1`, run.ID); err != nil {
			return bulkOperation{}, err
		}
		if err := sleep(ctx, w.o.PollInterval); err != nil {
			return bulkOperation{}, err
		}
	}
}

// afterResource derives what needs the whole resource in place: price
// ranges once every variant is stored, customer figures once every order is.
func (w *ImportWorker) afterResource(ctx context.Context, run *importRun) error {
	switch run.Resource {
	case ResourceProducts:
		return w.d.Catalog.RefreshAllPrices(ctx, run.ShopID)
	case ResourceOrders:
		return w.d.Orders.RefreshAllCustomers(ctx, run.ShopID)
	}
	return nil
}

// finish marks the run done; total < 0 keeps rows_total as Shopify said.
func (w *ImportWorker) finish(ctx context.Context, run *importRun, total int64) error {
	_, err := w.d.DB.ExecContext(ctx, `
		UPDATE import_runs SET status = 'done', finished_at = now(), updated_at = now(),
			rows_total = CASE WHEN $2 >= 0 THEN $2 ELSE rows_total END
		WHERE id = $1`, run.ID, total)
	return err
}

// download applies the result file from the checkpoint, reopening it when
// the connection breaks (each reopen skips what is already applied).
func (w *ImportWorker) download(ctx context.Context, run *importRun) error {
	if _, err := w.d.DB.ExecContext(ctx, `
		UPDATE import_runs SET download_started_at = now(), rows_at_download_start = rows_done, updated_at = now()
		WHERE id = $1`, run.ID); err != nil {
		return err
	}
	var lastErr error
	for attempt := 1; attempt <= w.o.DownloadAttempts; attempt++ {
		if attempt > 1 {
			if err := sleep(ctx, retryDelay(attempt-1, lastErr)); err != nil {
				return err
			}
		}
		body, err := openResult(ctx, w.o.HTTPClient, run.ResultURL, w.o.DownloadAttempts)
		if err != nil {
			return err // openResult already retried what is worth retrying
		}
		started := time.Now()
		err = w.apply(ctx, run, body)
		body.Close()
		if err == nil {
			w.d.Log.Info("storesync: resource imported", "shop_id", run.ShopID, "resource", run.Resource,
				"rows", run.RowsDone, "errors", run.Errors, "seconds", time.Since(started).Seconds())
			return nil
		}
		if ctx.Err() != nil || !errors.Is(err, errStream) {
			return err
		}
		lastErr = err
		w.d.Log.Warn("storesync: result download broke; resuming", "resource", run.Resource, "lines_done", run.LinesDone, "err", err)
	}
	return fmt.Errorf("download kept breaking: %w", lastErr)
}
