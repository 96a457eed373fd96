// Package signalstest helps tests look at the signals a write recorded.
package signalstest

import (
	"fmt"
	"io"
	"log/slog"
	"sort"
	"testing"
	"time"

	"github.com/jmoiron/sqlx"
	"github.com/riverqueue/river"

	"github.com/cartwheel/cartwheel/app/jobs"
	"github.com/cartwheel/cartwheel/app/signals"
)

// Client returns a River client on d (not started) with the signals
// consumer registered with h, the way the app wires it, so Record's jobs
// are river_job rows. Handlers left nil are signals.Discard.
func Client(t testing.TB, d *sqlx.DB, h signals.Handlers) *jobs.Client {
	t.Helper()
	workers := river.NewWorkers()
	AddConsumer(t, workers, d, h)
	jc, err := jobs.New(d.DB, workers, jobs.Options{Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		t.Fatal(err)
	}
	return jc
}

// AddConsumer registers the signals consumer with h (nil handlers:
// signals.Discard) in workers.
func AddConsumer(t testing.TB, workers *river.Workers, d *sqlx.DB, h signals.Handlers) {
	t.Helper()
	if h.Segments == nil {
		h.Segments = signals.Discard
	}
	if h.Flows == nil {
		h.Flows = signals.Discard
	}
	c, err := signals.NewConsumer(d, h, nil)
	if err != nil {
		t.Fatal(err)
	}
	river.AddWorker(workers, c.Worker())
}

// Row is a pending signal as stored.
type Row struct {
	ID         int64     `db:"id"`
	ShopID     int64     `db:"shop_id"`
	CustomerID int64     `db:"customer_id"`
	Kind       string    `db:"kind"`
	Ref        string    `db:"ref"`
	Data       string    `db:"data"`
	At         time.Time `db:"at"`
}

// String is "customer kind ref" (ref left out when empty).
func (r Row) String() string {
	if r.Ref == "" {
		return fmt.Sprintf("%d %s", r.CustomerID, r.Kind)
	}
	return fmt.Sprintf("%d %s %s", r.CustomerID, r.Kind, r.Ref)
}

// Pending returns the pending signals in record order.
func Pending(t testing.TB, d *sqlx.DB) []Row {
	t.Helper()
	var rows []Row
	if err := d.Select(&rows, `SELECT id, shop_id, customer_id, kind, ref, data::text AS data, at FROM customer_signals ORDER BY id`); err != nil {
		t.Fatal(err)
	}
	return rows
}

// Take returns the pending signals as sorted "customer kind ref" strings and
// forgets them and their consumer jobs, so the next step starts clean.
func Take(t testing.TB, d *sqlx.DB) []string {
	t.Helper()
	rows := Pending(t, d)
	d.MustExec(`DELETE FROM customer_signals`)
	d.MustExec(`DELETE FROM river_job WHERE kind = 'signals.consume'`)
	out := make([]string, len(rows))
	for i, r := range rows {
		out[i] = r.String()
	}
	sort.Strings(out)
	return out
}

// Consumers returns "shop:customer" for each scheduled consumer job.
func Consumers(t testing.TB, d *sqlx.DB) []string {
	t.Helper()
	var keys []string
	if err := d.Select(&keys, `SELECT (args->>'shop_id') || ':' || (args->>'customer_id') FROM river_job
		WHERE kind = 'signals.consume' ORDER BY 1`); err != nil {
		t.Fatal(err)
	}
	return keys
}
