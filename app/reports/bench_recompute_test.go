package reports_test

import (
	"context"
	"os"
	"strconv"
	"testing"
	"time"

	"github.com/jmoiron/sqlx"

	"github.com/cartwheel/cartwheel/app/db"
	"github.com/cartwheel/cartwheel/app/db/dbtest"
	"github.com/cartwheel/cartwheel/app/reports"
)

// BenchmarkRecomputeAttribution prints the time of a full re-attribution
// after a window change on BenchmarkAttribution's store (bench_attribution,
// BENCH_ATTR_CUSTOMERS customers with 5 orders, 20 emails and ~50 events
// each; make bench-recompute seeds it first through that benchmark): every
// order of the shop re-decided in chunks of 500 customers, as the job does.
// Two runs: from no attributions at all (click 5 days, open 1 day), then
// after changing to click 2 days, open 0 (every attribution deleted, taken
// out of the rollup and decided again). After each, the rollup must hold
// exactly the stored attributions.
func BenchmarkRecomputeAttribution(b *testing.B) {
	n := 100_000
	if v, err := strconv.Atoi(os.Getenv("BENCH_ATTR_CUSTOMERS")); err == nil && v > 0 {
		n = v
	}
	ctx := context.Background()
	d, _ := dbtest.Persistent(b, "bench_attribution", false)
	var have int
	if err := d.Get(&have, `SELECT count(*) FROM customers`); err != nil || have != n {
		b.Skipf("bench_attribution holds %d customers, not %d: run BenchmarkAttribution first (make bench-recompute does) (%v)", have, n, err)
	}
	var orders int64
	d.Get(&orders, `SELECT count(*) FROM orders WHERE shop_id = 1`)
	d.MustExec(`TRUNCATE order_attributions, report_orders_daily, report_orders_frozen, attribution_recomputes`)
	jobs := &recomputeJobs{}
	run := func(label string, click, open int) {
		if err := db.InTx(ctx, d, func(tx *sqlx.Tx) error {
			if _, err := tx.Exec(`UPDATE shops SET attribution_click_days = $1, attribution_open_days = $2 WHERE id = 1`, click, open); err != nil {
				return err
			}
			return reports.StartRecompute(ctx, tx, jobs, 1, click, open)
		}); err != nil {
			b.Fatal(err)
		}
		gen := jobs.args[len(jobs.args)-1].Generation
		start := time.Now()
		steps := 0
		for {
			steps++
			done, err := reports.RecomputeStep(ctx, d, 1, gen, 500)
			if err != nil {
				b.Fatal(err)
			}
			if done {
				break
			}
		}
		took := time.Since(start)
		var attributed, rolled int64
		var amounts, sales string
		d.Get(&attributed, `SELECT count(*) FROM order_attributions WHERE shop_id = 1`)
		d.Get(&amounts, `SELECT COALESCE(sum(amount), 0)::text FROM order_attributions WHERE shop_id = 1`)
		d.Get(&rolled, `SELECT COALESCE(sum(orders), 0) FROM report_orders_daily WHERE shop_id = 1 AND scope = 'template'`)
		d.Get(&sales, `SELECT COALESCE(sum(sales), 0)::text FROM report_orders_daily WHERE shop_id = 1 AND scope = 'template'`)
		if rolled != attributed || amounts != sales {
			b.Fatalf("%s: rollup %d orders %s, attributions %d %s", label, rolled, sales, attributed, amounts)
		}
		b.Logf("%s (click %d days, open %d): %d orders of %d customers in %s, %d chunks of 500 customers (%.0f orders/s, %.2f ms/order); %d attributed",
			label, click, open, orders, n, took.Round(time.Millisecond), steps-1, float64(orders)/took.Seconds(),
			float64(took.Microseconds())/1000/float64(orders), attributed)
		b.ReportMetric(took.Seconds(), label+"-s")
	}
	run("from-nothing", 5, 1)
	run("after-change", 2, 0)
}
