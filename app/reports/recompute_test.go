package reports_test

import (
	"context"
	"database/sql"
	"math/rand/v2"
	"sync"
	"testing"
	"time"

	"github.com/jmoiron/sqlx"
	"github.com/riverqueue/river"
	"github.com/riverqueue/river/rivertype"
	"github.com/shopspring/decimal"

	"github.com/cartwheel/cartwheel/app/db"
	"github.com/cartwheel/cartwheel/app/reports"
	"github.com/cartwheel/cartwheel/app/signals"
	"github.com/cartwheel/cartwheel/app/signals/signalstest"
)

// recomputeJobs stands in for River: it records the recompute jobs queued.
type recomputeJobs struct {
	mu   sync.Mutex
	args []reports.RecomputeArgs
}

func (c *recomputeJobs) InsertTx(_ context.Context, _ *sql.Tx, a river.JobArgs, _ *river.InsertOpts) (*rivertype.JobInsertResult, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.args = append(c.args, a.(reports.RecomputeArgs))
	return &rivertype.JobInsertResult{Job: &rivertype.JobRow{}}, nil
}

func (c *recomputeJobs) last(t *testing.T) reports.RecomputeArgs {
	t.Helper()
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(c.args) == 0 {
		t.Fatal("no recompute job queued")
	}
	return c.args[len(c.args)-1]
}

// changeWindows saves new windows and starts the recompute in one
// transaction, as Settings does.
func (w *attrWorld) changeWindows(j *recomputeJobs, click, open int) reports.RecomputeArgs {
	w.t.Helper()
	ctx := context.Background()
	if err := db.InTx(ctx, w.db, func(tx *sqlx.Tx) error {
		if _, err := tx.Exec(`UPDATE shops SET attribution_click_days = $2, attribution_open_days = $3 WHERE id = $1`, w.shop, click, open); err != nil {
			return err
		}
		return reports.StartRecompute(ctx, tx, j, w.shop, click, open)
	}); err != nil {
		w.t.Fatal(err)
	}
	w.clickDays, w.openDays = click, open
	return j.last(w.t)
}

// campaignFigures is what the campaign reports show, per campaign.
func (w *attrWorld) campaignFigures() map[int64]reports.Revenue {
	w.t.Helper()
	st := &reports.Store{DB: w.db}
	out := map[int64]reports.Revenue{}
	for _, c := range w.campaigns {
		rep, err := st.Campaign(context.Background(), w.shop, c)
		if err != nil {
			w.t.Fatal(err)
		}
		out[c] = rep.Revenue
	}
	return out
}

func sameFigures(a, b map[int64]reports.Revenue) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if b[k].Orders != v.Orders || !b[k].Sales.Equal(v.Sales) {
			return false
		}
	}
	return true
}

// A window change re-decides every past order by the new windows while
// 4 writers keep placing orders that two consumers attribute: afterwards
// every attribution and the rollup equal the model of the new rule (no
// order counted twice or missed). While it runs the campaign reports show
// the figures from before the change, never a mix, and its progress moves.
// A second change in the middle restarts it: the first job stops, the
// second one finishes by the newest windows.
func TestRecomputeAfterWindowChange(t *testing.T) {
	start := time.Date(2026, 10, 1, 0, 0, 0, 0, time.UTC)
	span := 20 * 24 * time.Hour
	w := newAttrWorld(t, 42, 80, 5, 1, start, span)
	r := rand.New(rand.NewPCG(4, 2))
	next := int64(8_000_000)
	newOrder := func(customer int64) placedOrder {
		next++
		return placedOrder{shopifyID: next, customer: customer,
			at:    start.Add(time.Duration(r.Int64N(int64(span + 7*24*time.Hour)))).Truncate(time.Microsecond),
			total: decimal.New(int64(500+r.IntN(20000)), -2)}
	}
	for _, c := range w.customers {
		for range 1 + r.IntN(3) {
			w.placed = append(w.placed, newOrder(c.id))
		}
	}
	signalstest.Start(t, w.db, signals.Handlers{Reports: reports.Handler{}})
	signalstest.Start(t, w.db, signals.Handlers{Reports: reports.Handler{}})
	for _, o := range w.placed {
		w.place(o)
	}
	signalstest.Drain(t, w.db)
	w.check("before the change")
	before := w.campaignFigures()

	ctx := context.Background()
	st := &reports.Store{DB: w.db}
	jobs := &recomputeJobs{}

	// First change; a few chunks run, then a second change restarts it.
	first := w.changeWindows(jobs, 1, 0)
	for range 3 {
		if done, err := reports.RecomputeStep(ctx, w.db, w.shop, first.Generation, 7); err != nil || done {
			t.Fatalf("first recompute step: done %v, %v", done, err)
		}
	}
	if got := w.campaignFigures(); !sameFigures(got, before) {
		t.Errorf("during the first recompute the reports show %v, want the figures before the change %v", got, before)
	}
	rc, ok, err := st.RecomputeStatus(ctx, w.shop)
	if err != nil || !ok || !rc.Running() || rc.Percent() <= 0 || rc.Percent() >= 100 || rc.CustomersDone != 21 {
		t.Fatalf("progress after 3 chunks of 7: %+v (%d%%), %v, %v", rc, rc.Percent(), ok, err)
	}
	second := w.changeWindows(jobs, 2, 3)
	if second.Generation != first.Generation+1 {
		t.Fatalf("second generation %d after %d", second.Generation, first.Generation)
	}
	if done, err := reports.RecomputeStep(ctx, w.db, w.shop, first.Generation, 7); err != nil || !done {
		t.Fatalf("the first job goes on after a second change: done %v, %v", done, err)
	}
	rc, _, _ = st.RecomputeStatus(ctx, w.shop)
	if rc.CustomersDone != 0 || !rc.Running() || rc.ClickDays != 2 || rc.OpenDays != 3 {
		t.Fatalf("after the restart: %+v", rc)
	}

	// New orders arrive (4 writers, two consumers) while it runs.
	var fresh []placedOrder
	for range 120 {
		fresh = append(fresh, newOrder(w.customers[r.IntN(len(w.customers))].id))
	}
	w.placed = append(w.placed, fresh...)
	var wg sync.WaitGroup
	for g := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := g; i < len(fresh); i += 4 {
				w.place(fresh[i])
			}
		}()
	}
	var steps int
	var stepErr error
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			steps++
			done, err := reports.RecomputeStep(ctx, w.db, w.shop, second.Generation, 5)
			if err != nil || done {
				stepErr = err
				return
			}
			if steps == 2 {
				if got := w.campaignFigures(); !sameFigures(got, before) {
					t.Errorf("during the second recompute the reports show %v, want %v", got, before)
				}
			}
		}
	}()
	wg.Wait()
	if stepErr != nil {
		t.Fatal(stepErr)
	}
	signalstest.Drain(t, w.db)
	rc, _, _ = st.RecomputeStatus(ctx, w.shop)
	if rc.Running() || rc.Percent() != 100 || steps < 10 {
		t.Fatalf("after the job: %+v in %d steps", rc, steps)
	}
	want := w.check("recomputed with new orders arriving")
	var opens int
	for _, a := range want {
		if a.touch == "open" {
			opens++
		}
	}
	if opens == 0 || len(want) < 20 {
		t.Fatalf("random data too thin: %d attributed, %d by opens", len(want), opens)
	}
	if n := w.id(`SELECT count(*) FROM report_orders_frozen WHERE shop_id = $1`, w.shop); n != 0 {
		t.Errorf("%d frozen rows left after finishing", n)
	}
	if sameFigures(w.campaignFigures(), before) {
		t.Error("the new windows changed no campaign's figures: the test shows nothing")
	}
}

// The job runs chunks until done; run again (a retry, or a job of an older
// generation) it changes nothing.
func TestRecomputeWorkerFinishes(t *testing.T) {
	start := time.Date(2026, 10, 1, 0, 0, 0, 0, time.UTC)
	w := newAttrWorld(t, 9, 30, 5, 1, start, 10*24*time.Hour)
	r := rand.New(rand.NewPCG(9, 9))
	var ids []int64
	for i, c := range w.customers {
		o := placedOrder{shopifyID: int64(9_000_000 + i), customer: c.id,
			at:    start.Add(time.Duration(r.Int64N(int64(12 * 24 * time.Hour)))).Truncate(time.Microsecond),
			total: decimal.New(int64(1000+r.IntN(9000)), -2)}
		w.placed = append(w.placed, o)
		w.place(o)
		ids = append(ids, o.shopifyID)
	}
	w.db.MustExec(`DELETE FROM customer_signals`)
	ctx := context.Background()
	if err := reports.Attribute(ctx, w.db, w.shop, ids); err != nil {
		t.Fatal(err)
	}
	w.check("before")
	jobs := &recomputeJobs{}
	args := w.changeWindows(jobs, 1, 2)
	worker := &reports.RecomputeWorker{DB: w.db}
	for range 2 {
		if err := worker.Work(ctx, &river.Job[reports.RecomputeArgs]{Args: args}); err != nil {
			t.Fatal(err)
		}
		w.check("after the job")
	}
	if rc, ok, err := (&reports.Store{DB: w.db}).RecomputeStatus(ctx, w.shop); err != nil || !ok || rc.Running() {
		t.Fatalf("status after the job: %+v %v %v", rc, ok, err)
	}
}
