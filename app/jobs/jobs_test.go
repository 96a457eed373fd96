package jobs_test

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/riverqueue/river"

	"github.com/cartwheel/cartwheel/app/db/dbtest"
	"github.com/cartwheel/cartwheel/app/jobs"
	"github.com/cartwheel/cartwheel/app/metrics"
)

type pingArgs struct{ Fail bool }

func (pingArgs) Kind() string                 { return "test.ping" }
func (pingArgs) InsertOpts() river.InsertOpts { return river.InsertOpts{MaxAttempts: 1} }

type pingWorker struct {
	river.WorkerDefaults[pingArgs]
	done chan bool
}

func (w *pingWorker) Work(ctx context.Context, j *river.Job[pingArgs]) error {
	w.done <- j.Args.Fail
	if j.Args.Fail {
		return errors.New("asked to fail")
	}
	return nil
}

// A job inserted in a rolled-back transaction never runs; committed ones
// run and are counted by outcome.
func TestInsertTxAndMetrics(t *testing.T) {
	d := dbtest.New(t)
	m := metrics.New()
	w := &pingWorker{done: make(chan bool, 4)}
	workers := river.NewWorkers()
	river.AddWorker(workers, w)
	c, err := jobs.New(d.DB, workers, jobs.Options{Metrics: m, PollInterval: 20 * time.Millisecond,
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	var in jobs.Inserter = c

	tx, _ := d.BeginTx(ctx, nil)
	in.InsertTx(ctx, tx, pingArgs{}, nil)
	tx.Rollback()
	for _, fail := range []bool{false, true} {
		tx, _ := d.BeginTx(ctx, nil)
		if _, err := in.InsertTx(ctx, tx, pingArgs{Fail: fail}, nil); err != nil {
			t.Fatal(err)
		}
		tx.Commit()
	}
	if err := c.Start(ctx); err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 2; i++ {
		select {
		case <-w.done:
		case <-time.After(60 * time.Second):
			t.Fatal("jobs did not run")
		}
	}
	// The rolled-back insert left no row, so nothing can ever run it; and
	// once Stop has returned no job is running or will start.
	var queued int
	if err := d.Get(&queued, `SELECT count(*) FROM river_job WHERE kind = 'test.ping'`); err != nil {
		t.Fatal(err)
	}
	if queued != 2 {
		t.Fatalf("%d test.ping jobs stored, want the 2 committed ones", queued)
	}
	if err := c.Stop(ctx); err != nil {
		t.Fatal(err)
	}
	select {
	case <-w.done:
		t.Fatal("the rolled-back job ran")
	default:
	}
	want := `
# HELP cartwheel_jobs_total Jobs worked by kind and outcome (ok or error).
# TYPE cartwheel_jobs_total counter
cartwheel_jobs_total{kind="test.ping",outcome="error"} 1
cartwheel_jobs_total{kind="test.ping",outcome="ok"} 1
`
	if err := testutil.CollectAndCompare(m.JobsWorked, strings.NewReader(want)); err != nil {
		t.Fatal(err)
	}
}
