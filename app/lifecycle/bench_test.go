package lifecycle_test

import (
	"context"
	"fmt"
	"os"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/jmoiron/sqlx"

	"github.com/cartwheel/cartwheel/app/db/dbtest"
	"github.com/cartwheel/cartwheel/app/lifecycle"
	"github.com/cartwheel/cartwheel/app/seed"
)

// benchSeedVersion marks a completely seeded benchmark database (in its
// COMMENT).
const benchSeedVersion = "cartwheel lifecycle bench seed v1"

// benchStore opens (seeding it the first time) the kept database of a
// bulk store of n customers: about 5 orders, 20 storefront events and 6
// emails (with opens and clicks) each, over 13 months up to the seed's day.
func benchStore(b *testing.B, n int) (*sqlx.DB, int64) {
	name := fmt.Sprintf("cartwheel_bench_lifecycle_%d", n)
	d, _ := dbtest.Persistent(b, name, false)
	ctx := context.Background()
	var marker string
	if err := d.GetContext(ctx, &marker, `SELECT COALESCE(shobj_description(oid, 'pg_database'), '') FROM pg_database WHERE datname = current_database()`); err != nil {
		b.Fatal(err)
	}
	if !strings.HasPrefix(marker, benchSeedVersion) {
		d.Close()
		d, _ = dbtest.Persistent(b, name, true)
		var shop int64
		if err := d.GetContext(ctx, &shop, `INSERT INTO shops (domain, iana_timezone) VALUES ('bench-lifecycle.myshopify.com', 'America/New_York') RETURNING id`); err != nil {
			b.Fatal(err)
		}
		start := time.Now()
		err := seed.Bulk(ctx, d, shop, seed.BulkOptions{Customers: n, EventsPerCustomer: 20, EmailsPerCustomer: 6,
			Progress: func(step string, done, total int) {
				fmt.Printf("seed %-9s %d/%d %s\n", step, done, total, time.Since(start).Round(time.Second))
			}})
		if err != nil {
			b.Fatal(err)
		}
		took := time.Since(start).Round(time.Second)
		// COMMENT takes no parameters; both parts are ours, not input.
		if _, err := d.ExecContext(ctx, fmt.Sprintf(`COMMENT ON DATABASE %s IS '%s, seeded %s in %s'`, name, benchSeedVersion, time.Now().UTC().Format(time.RFC3339), took)); err != nil {
			b.Fatal(err)
		}
		fmt.Printf("seeded %d customers in %s\n", n, took)
	}
	var shop int64
	if err := d.GetContext(ctx, &shop, `SELECT id FROM shops WHERE domain = 'bench-lifecycle.myshopify.com'`); err != nil {
		b.Fatal(err)
	}
	return d, shop
}

// BenchmarkLifecycle prints the server time of the dashboard's lifecycle
// and composition cards on a bulk store of BENCH_LIFECYCLE_CUSTOMERS
// customers (default 1,000,000; seeded once into
// cartwheel_bench_lifecycle_<N>, reused afterwards): counting the funnel
// (the job, or a window asked for the first time) and the card's read of
// a kept one, for the window ending today and one ending 90 days ago; one
// level's members (a saved segment's refresh); one composition point as
// the snapshot job computes it; the composition card before the job has
// run (live figures), the job's backfill and the card after it
// (BENCH_LIFECYCLE_BACKFILL=0 skips those two).
// p50 and max of BENCH_LIFECYCLE_RUNS runs (default 5); figures are
// printed, never asserted.
func BenchmarkLifecycle(b *testing.B) {
	n := 1_000_000
	if v, err := strconv.Atoi(os.Getenv("BENCH_LIFECYCLE_CUSTOMERS")); err == nil && v > 0 {
		n = v
	}
	d, shop := benchStore(b, n)
	ctx := context.Background()
	st := &lifecycle.Store{DB: d}
	// The seed's "today" is its newest email.
	var today time.Time
	if err := d.GetContext(ctx, &today, `SELECT max(sent_at) FROM email_messages WHERE shop_id = $1`, shop); err != nil {
		b.Fatal(err)
	}
	// Kept funnels are fresh for an hour after "now".
	st.Now = func() time.Time { return today }
	loc, err := lifecycle.Location(ctx, d, shop)
	if err != nil {
		b.Fatal(err)
	}
	runs := 5
	if v, err := strconv.Atoi(os.Getenv("BENCH_LIFECYCLE_RUNS")); err == nil && v > 0 {
		runs = v
	}
	measure := func(what string, fn func() string) {
		var ts []time.Duration
		var note string
		for range runs {
			t0 := time.Now()
			note = fn()
			ts = append(ts, time.Since(t0))
		}
		slices.Sort(ts)
		fmt.Printf("%-44s p50 %8s  max %8s  %s\n", what, ts[len(ts)/2].Round(time.Millisecond), ts[len(ts)-1].Round(time.Millisecond), note)
	}
	steps := func(f lifecycle.Funnel) string {
		var out []string
		for _, s := range f.Steps {
			out = append(out, strconv.FormatInt(s.Count, 10))
		}
		return strings.Join(out, " → ")
	}
	for _, ago := range []int{0, 90} {
		w := lifecycle.WindowEnding(today.AddDate(0, 0, -ago), loc)
		measure(fmt.Sprintf("funnel counted, window ending %d days ago", ago), func() string {
			f, err := st.Keep(ctx, shop, w)
			if err != nil {
				b.Fatal(err)
			}
			return steps(f)
		})
		measure(fmt.Sprintf("funnel card read (kept), %d days ago", ago), func() string {
			f, err := st.Lifecycle(ctx, shop, w.Last.Add(12*time.Hour))
			if err != nil {
				b.Fatal(err)
			}
			return steps(f)
		})
	}
	measure("members of Engaged (segment refresh)", func() string {
		ids, err := st.Members(ctx, shop, lifecycle.Engaged, lifecycle.WindowEnding(today, loc))
		if err != nil {
			b.Fatal(err)
		}
		return strconv.Itoa(len(ids)) + " customers"
	})
	measure("one composition point (snapshot job)", func() string {
		c, err := st.PointAt(ctx, shop, today, loc)
		if err != nil {
			b.Fatal(err)
		}
		return fmt.Sprint(c)
	})
	card := func() string {
		c, err := st.Composition(ctx, shop, today)
		if err != nil {
			b.Fatal(err)
		}
		return fmt.Sprintf("%v, %d points", c.Current, len(c.History))
	}
	var kept int
	if err := d.GetContext(ctx, &kept, `SELECT count(*) FROM lifecycle_composition WHERE shop_id = $1`, shop); err != nil {
		b.Fatal(err)
	}
	if kept == 0 {
		measure("composition card before the job (live)", card)
	}
	if os.Getenv("BENCH_LIFECYCLE_BACKFILL") != "0" {
		t0 := time.Now()
		n, err := st.Snapshot(ctx, shop, today)
		if err != nil {
			b.Fatal(err)
		}
		fmt.Printf("%-44s %s for %d points\n", "composition backfill (the job's first run)", time.Since(t0).Round(time.Millisecond), n)
		measure("composition card (kept points)", card)
	}
}
