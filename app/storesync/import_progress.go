package storesync

import (
	"context"
	"fmt"
	"time"

	"github.com/lib/pq"
)

// RunProgress is where one resource's latest import stands.
type RunProgress struct {
	Resource  string
	Status    string // queued | running | downloading | done | failed
	RowsDone  int64
	RowsTotal int64 // 0 until Shopify has finished preparing the export
	Errors    int
	// ErrorSamples are the first bad lines ("line 12: …"); LastError the
	// latest problem, bad line or failure.
	ErrorSamples []string
	LastError    string
	// Retrying: the last job attempt failed (LastError says why) and the
	// import waits for its next try; Start may replace it meanwhile.
	Retrying   bool
	Rate       float64       // rows per second since the download (re)started; 0 if unknown
	ETA        time.Duration // 0 if unknown
	StartedAt  time.Time
	UpdatedAt  time.Time
	FinishedAt *time.Time
}

// Active reports whether the run still has work to do.
func (r RunProgress) Active() bool { return r.Status != "done" && r.Status != "failed" }

// Percent is how far the run is, 0–100 (errors count as handled).
func (r RunProgress) Percent() int {
	switch {
	case r.Status == "done":
		return 100
	case r.RowsTotal <= 0:
		return 0
	}
	p := int((r.RowsDone + int64(r.Errors)) * 100 / r.RowsTotal)
	return min(max(p, 0), 100)
}

// Progress is the latest import of every resource, in import order.
type Progress struct {
	Runs []RunProgress
}

// Retrying reports whether the import waits to retry after a failed attempt.
func (p Progress) Retrying() bool {
	for _, r := range p.Runs {
		if r.Retrying {
			return true
		}
	}
	return false
}

// Failed reports whether the latest import stopped for good.
func (p Progress) Failed() bool {
	for _, r := range p.Runs {
		if r.Status == "failed" {
			return true
		}
	}
	return false
}

// Running reports whether any resource is still importing.
func (p Progress) Running() bool {
	for _, r := range p.Runs {
		if r.Active() {
			return true
		}
	}
	return false
}

// Progress returns the latest run of each resource for the shop; a shop
// never imported has no runs.
func (im *Importer) Progress(ctx context.Context, shopID int64) (Progress, error) {
	var rows []struct {
		Resource      string         `db:"resource"`
		Status        string         `db:"status"`
		RowsDone      int64          `db:"rows_done"`
		RowsTotal     *int64         `db:"rows_total"`
		Errors        int            `db:"errors"`
		Samples       pq.StringArray `db:"error_samples"`
		LastError     string         `db:"last_error"`
		StartedAt     time.Time      `db:"started_at"`
		UpdatedAt     time.Time      `db:"updated_at"`
		FinishedAt    *time.Time     `db:"finished_at"`
		DownloadStart *time.Time     `db:"download_started_at"`
		RowsAtStart   int64          `db:"rows_at_download_start"`
		Now           time.Time      `db:"now"`
		AttemptFailed *time.Time     `db:"attempt_failed_at"`
	}
	if err := im.db.SelectContext(ctx, &rows, `
		SELECT DISTINCT ON (resource) resource, status, rows_done, rows_total, errors, error_samples, last_error,
			started_at, updated_at, finished_at, download_started_at, rows_at_download_start, now() AS now,
			attempt_failed_at
		FROM import_runs WHERE shop_id = $1
		ORDER BY resource, id DESC`, shopID); err != nil {
		return Progress{}, fmt.Errorf("storesync: import progress for shop %d: %w", shopID, err)
	}
	byResource := map[string]RunProgress{}
	for _, r := range rows {
		p := RunProgress{Resource: r.Resource, Status: r.Status, RowsDone: r.RowsDone, Errors: r.Errors,
			ErrorSamples: r.Samples, LastError: r.LastError, StartedAt: r.StartedAt, UpdatedAt: r.UpdatedAt, FinishedAt: r.FinishedAt}
		p.Retrying = p.Active() && r.AttemptFailed != nil
		if r.RowsTotal != nil {
			p.RowsTotal = *r.RowsTotal
		}
		if r.DownloadStart != nil {
			end := r.Now
			if r.FinishedAt != nil {
				end = *r.FinishedAt
			}
			if secs := end.Sub(*r.DownloadStart).Seconds(); secs > 0.5 && r.RowsDone > r.RowsAtStart {
				p.Rate = float64(r.RowsDone-r.RowsAtStart) / secs
			}
		}
		if p.Active() && p.Rate > 0 && p.RowsTotal > 0 {
			left := p.RowsTotal - p.RowsDone - int64(p.Errors)
			p.ETA = time.Duration(float64(max(left, 0)) / p.Rate * float64(time.Second))
		}
		byResource[r.Resource] = p
	}
	var out Progress
	for _, res := range Resources {
		if p, ok := byResource[res]; ok {
			out.Runs = append(out.Runs, p)
		}
	}
	return out, nil
}
