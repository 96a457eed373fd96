package segments_test

import (
	"context"
	"database/sql/driver"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"sort"
	"strconv"
	"strings"
	"testing"
	"text/tabwriter"
	"time"

	"github.com/jmoiron/sqlx"
	"github.com/lib/pq"

	"github.com/cartwheel/cartwheel/app/db"
	"github.com/cartwheel/cartwheel/app/db/dbtest"
	"github.com/cartwheel/cartwheel/app/seed"
	"github.com/cartwheel/cartwheel/app/segments"
)

// benchSeedVersion marks a completely seeded benchmark database (in its
// COMMENT); bump it when the bulk seed changes shape.
const benchSeedVersion = "cartwheel segments bench seed v1"

const benchShop = "bench-segments.myshopify.com"

func benchEnv(name string, def int) int {
	if v, err := strconv.Atoi(os.Getenv(name)); err == nil && v > 0 {
		return v
	}
	return def
}

// benchStore opens the persistent benchmark database for n customers,
// seeding it first when it lacks the completion marker (an interrupted seed
// is dropped and started again).
func benchStore(b *testing.B, n int) (*sqlx.DB, string, int64) {
	name := fmt.Sprintf("cartwheel_bench_segments_%d", n)
	d, url := dbtest.Persistent(b, name, false)
	ctx := context.Background()
	var marker string
	if err := d.GetContext(ctx, &marker, `SELECT COALESCE(shobj_description(oid, 'pg_database'), '') FROM pg_database WHERE datname = current_database()`); err != nil {
		b.Fatal(err)
	}
	if !strings.HasPrefix(marker, benchSeedVersion) {
		d.Close()
		d, url = dbtest.Persistent(b, name, true)
		var shop int64
		if err := d.GetContext(ctx, &shop, `INSERT INTO shops (domain, iana_timezone) VALUES ($1, 'America/New_York') RETURNING id`, benchShop); err != nil {
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
		fmt.Printf("seeded %d customers in %s\n", n, took)
		// COMMENT takes no parameters; both parts are ours, not input.
		if _, err := d.ExecContext(ctx, fmt.Sprintf(`COMMENT ON DATABASE %s IS '%s, seeded %s in %s'`, name, benchSeedVersion, time.Now().UTC().Format(time.RFC3339), took)); err != nil {
			b.Fatal(err)
		}
	} else {
		fmt.Printf("reusing %s (%s)\n", name, marker)
	}
	var shop int64
	if err := d.GetContext(ctx, &shop, `SELECT id FROM shops WHERE domain = $1`, benchShop); err != nil {
		b.Fatal(err)
	}
	return d, url, shop
}

// Targets from the segments issue, on the 2-core machine.
const (
	targetFull        = 3 * time.Second
	targetLiveCount   = time.Second
	targetIncremental = 10 * time.Millisecond
)

// BenchmarkSegments measures segments on a persistent bulk-seeded store
// (BENCH_SEGMENTS_CUSTOMERS customers, default 1,000,000, with about 5
// orders, 20 storefront events and 6 emails each; seeded once into
// cartwheel_bench_segments_<N>, reused afterwards): each preset's full
// computation (first and second Refresh) and plain count, the builder's
// live count for presets and typical custom rules (p50/max of 5), and the
// per-customer incremental refresh with every preset present (1,000
// customers). Figures are printed, never asserted.
//
//	make bench-segments
//
// BENCH_SEGMENTS_TIMEOUT (seconds, default 600) caps each statement;
// BENCH_SEGMENTS_SQL_DIR, when set, receives every compiled query with its
// values inlined (for psql) and EXPLAIN (ANALYZE, BUFFERS) of the counts
// over target.
func BenchmarkSegments(b *testing.B) {
	n := benchEnv("BENCH_SEGMENTS_CUSTOMERS", 1_000_000)
	d, url, shop := benchStore(b, n)
	ctx := context.Background()
	timeout := time.Duration(benchEnv("BENCH_SEGMENTS_TIMEOUT", 600)) * time.Second
	// A separate pool whose sessions carry the statement timeout (lib/pq
	// passes unknown URL parameters on as run-time settings).
	md, err := db.Open(ctx, url+"&statement_timeout="+strconv.FormatInt(timeout.Milliseconds(), 10))
	if err != nil {
		b.Fatal(err)
	}
	defer md.Close()
	st := segments.NewStore(md)
	// The bench shop's timezone (set when seeding), for relative windows.
	loc, err := time.LoadLocation("America/New_York")
	if err != nil {
		b.Fatal(err)
	}
	sqlDir := os.Getenv("BENCH_SEGMENTS_SQL_DIR")
	if sqlDir != "" {
		if err := os.MkdirAll(sqlDir, 0o755); err != nil {
			b.Fatal(err)
		}
	}
	printStore(b, d, shop)

	for i := 0; i < b.N; i++ {
		// A clean slate: the store's data stays, segments start over.
		if _, err := d.ExecContext(ctx, `TRUNCATE segment_changes, segment_members, segment_sizes, segments`); err != nil {
			b.Fatal(err)
		}
		now := time.Now()
		counter := liveCounter{db: md, st: st, shop: shop, now: now, loc: loc, dir: sqlDir}

		// 1. Presets: full computation and plain count.
		fmt.Printf("\n== presets: full computation (target ≤ %s) and plain count\n", targetFull)
		table := [][]string{{"preset", "members", "first refresh", "second refresh", "count p50", "count max"}}
		ids := map[string]int64{}
		var live []liveResult
		for _, p := range segments.Presets() {
			t0 := time.Now()
			seg, err := st.Create(ctx, shop, p.Name, p.Rules, now)
			first := fmtDur(time.Since(t0), err, targetFull)
			second := "-"
			if err == nil {
				ids[p.Key] = seg.ID
				t1 := time.Now()
				err = st.Refresh(ctx, shop, seg.ID, now)
				second = fmtDur(time.Since(t1), err, targetFull)
			} else if err := d.GetContext(ctx, &seg.ID, `SELECT id FROM segments WHERE shop_id = $1 AND name = $2`, shop, p.Name); err != nil {
				b.Logf("%s: %v", p.Key, err)
			}
			var members int
			if err := d.GetContext(ctx, &members, `SELECT count(*) FROM segment_members WHERE segment_id = $1`, seg.ID); err != nil {
				b.Fatal(err)
			}
			r := counter.run(b, p.Key, p.Rules)
			live = append(live, r)
			row := []string{p.Key, strconv.Itoa(members), first, second, r.p50, r.max}
			fmt.Println("  " + strings.Join(row, "  ")) // progress; the aligned table follows
			table = append(table, row)
		}
		printTable(table)

		// 2. The builder's live count: presets (above) and custom rules.
		for _, c := range customRules(ids) {
			live = append(live, counter.run(b, c.name, c.rules))
		}
		fmt.Printf("\n== live count in the builder (Store.Preview: validate, count), up to %d runs (target ≤ %s)\n", liveRuns, targetLiveCount)
		table = [][]string{{"rules", "count", "p50", "max"}}
		for _, r := range live {
			table = append(table, []string{r.name, strconv.FormatInt(r.count, 10), r.p50, r.max})
		}
		printTable(table)

		// 3. Incremental: one customer against every preset.
		runIncremental(b, d, st, shop, now)

		// 4. The daily full refresh (activity totals rebuilt, every
		// segment recomputed) and what the admin list reads.
		fmt.Println("\n== full shop refresh and admin reads")
		t0 := time.Now()
		err := st.RefreshShop(ctx, shop, now)
		fmt.Printf("RefreshShop (%d segments): %s\n", len(ids), fmtDur(time.Since(t0), err, time.Hour))
		t0 = time.Now()
		err = st.RebuildActivity(ctx, shop)
		fmt.Printf("RebuildActivity (after bulk loads only): %s\n", fmtDur(time.Since(t0), err, time.Hour))
		t0 = time.Now()
		_, err = st.Sizes(ctx, shop)
		fmt.Printf("Sizes (segment list): %s\n", fmtDur(time.Since(t0), err, time.Second))
		t0 = time.Now()
		_, err = st.Members(ctx, shop, ids["visitors_90_days"], 0, 50)
		fmt.Printf("Members, first page of the largest preset: %s\n", fmtDur(time.Since(t0), err, time.Second))
	}
}

const liveRuns = 5

type liveResult struct {
	name     string
	count    int64
	p50, max string
}

type liveCounter struct {
	db   *sqlx.DB
	st   *segments.Store
	shop int64
	now  time.Time
	loc  *time.Location
	dir  string
}

// run times SELECT count(*) over the compiled rules, liveRuns times (fewer
// once 30 s went into it, to keep the benchmark bounded).
func (lc liveCounter) run(b *testing.B, name string, r segments.Rules) liveResult {
	ctx := context.Background()
	q, args, err := segments.Compile(lc.shop, r, lc.now, lc.loc)
	if err != nil {
		b.Fatalf("%s: %v", name, err)
	}
	count := "SELECT count(*) FROM (" + q + ") x"
	if lc.dir != "" {
		os.WriteFile(filepath.Join(lc.dir, name+".sql"), []byte(inline(count, args)+";\n"), 0o644)
	}
	res := liveResult{name: name, count: -1}
	var times []time.Duration
	var spent time.Duration
	for i := 0; i < liveRuns && spent < 30*time.Second; i++ {
		t0 := time.Now()
		// The builder's path: validation, the shop's settings, the count.
		p, err := lc.st.Preview(ctx, lc.shop, 0, r, lc.now, 0)
		took := time.Since(t0)
		res.count = int64(p.Count)
		if err != nil {
			res.p50 = fmtDur(took, err, targetLiveCount)
			res.max = res.p50
			return res
		}
		times = append(times, took)
		spent += took
	}
	sort.Slice(times, func(i, j int) bool { return times[i] < times[j] })
	res.p50 = fmtDur(times[(len(times)-1)/2], nil, targetLiveCount)
	res.max = fmtDur(times[len(times)-1], nil, targetLiveCount)
	if lc.dir != "" && times[len(times)-1] > targetLiveCount {
		var plan []string
		if err := lc.db.SelectContext(ctx, &plan, "EXPLAIN (ANALYZE, BUFFERS, SETTINGS) "+count, args...); err == nil {
			os.WriteFile(filepath.Join(lc.dir, name+".explain.txt"), []byte(strings.Join(plan, "\n")+"\n"), 0o644)
		}
	}
	return res
}

type customRule struct {
	name  string
	rules segments.Rules
}

func cond(c segments.Condition) segments.Node { return segments.Node{Condition: &c} }
func group(op string, items ...segments.Node) segments.Node {
	return segments.Node{Group: &segments.Group{Op: op, Items: items}}
}
func rules(items ...segments.Node) segments.Rules {
	return segments.Rules{Version: segments.Version, Root: segments.Group{Op: "and", Items: items}}
}
func days(n int) *segments.Window { return &segments.Window{Kind: "last_days", Days: n} }
func number(f float64) *float64   { return &f }

// customRules are rule trees a merchant builds in the editor, over the bulk
// store's ids (product 8000000000 is the most popular, collections start at
// 8100000000).
func customRules(presets map[string]int64) []customRule {
	out := []customRule{
		{"custom: country + orders", rules(
			cond(segments.Condition{Field: segments.FieldCountry, Op: "in", Values: []string{"GB", "FR"}}),
			cond(segments.Condition{Field: segments.FieldOrdersCount, Op: "gte", Number: number(3)}))},
		{"custom: viewed product, 30 days", rules(
			cond(segments.Condition{Field: segments.FieldEvent, Op: "did", Event: "product_viewed", Window: days(30),
				Filter: &segments.Filter{Kind: "product", Value: "8000000003"}}))},
		{"custom: bought collection", rules(
			cond(segments.Condition{Field: segments.FieldBoughtColl, Op: "has", IDs: []int64{8100000007}}))},
		{"custom: searched term, 90 days", rules(
			cond(segments.Condition{Field: segments.FieldEvent, Op: "did", Event: "search_submitted", Window: days(90),
				Filter: &segments.Filter{Kind: "search_term", Value: "hoodie"}}))},
		{"custom: nested or/and", rules(
			group("or",
				group("and",
					cond(segments.Condition{Field: segments.FieldCountry, Op: "in", Values: []string{"US"}}),
					cond(segments.Condition{Field: segments.FieldTotalSpent, Op: "gte", Number: number(500)})),
				group("and",
					cond(segments.Condition{Field: segments.FieldEvent, Op: "did", Event: "product_added_to_cart", Window: days(7)}),
					cond(segments.Condition{Field: segments.FieldLastOrderAt, Op: "not_within", Window: days(7)})),
				cond(segments.Condition{Field: segments.FieldTags, Op: "has_any", Values: []string{"VIP"}})),
			cond(segments.Condition{Field: segments.FieldUnsubscribed, Op: "is_not"}))},
	}
	if id := presets["vip"]; id != 0 {
		out = append(out, customRule{"custom: in VIP + opened 30 days", rules(
			cond(segments.Condition{Field: segments.FieldSegment, Op: "in", SegmentID: id}),
			cond(segments.Condition{Field: segments.FieldEmailOpened, Op: "did", Window: days(30)}))})
	}
	return out
}

// runIncremental refreshes 1,000 customers (a fixed pseudo-random sample)
// one by one against every preset, within a time budget.
func runIncremental(b *testing.B, d *sqlx.DB, st *segments.Store, shop int64, now time.Time) {
	ctx := context.Background()
	var ids []int64
	if err := d.SelectContext(ctx, &ids, `SELECT id FROM customers WHERE shop_id = $1 ORDER BY hashint8extended(id, 42) LIMIT 1000`, shop); err != nil {
		b.Fatal(err)
	}
	budget := time.Duration(benchEnv("BENCH_SEGMENTS_INCR_SECONDS", 600)) * time.Second
	start := time.Now()
	var times []time.Duration
	for _, id := range ids {
		t0 := time.Now()
		if err := st.RefreshCustomer(ctx, shop, id, now); err != nil {
			b.Fatalf("refresh customer %d: %v", id, err)
		}
		times = append(times, time.Since(t0))
		if time.Since(start) > budget {
			break
		}
	}
	sort.Slice(times, func(i, j int) bool { return times[i] < times[j] })
	pct := func(p float64) string {
		return fmtDur(times[int(p*float64(len(times)-1))], nil, targetIncremental)
	}
	var segs int
	d.GetContext(ctx, &segs, `SELECT count(*) FROM segments WHERE shop_id = $1`, shop)
	fmt.Printf("\n== incremental: RefreshCustomer against %d segments, %d customers (target ≤ %s)\n", segs, len(times), targetIncremental)
	fmt.Printf("p50 %s  p95 %s  p99 %s  max %s  total %s\n", pct(0.5), pct(0.95), pct(0.99), pct(1), time.Since(start).Round(time.Millisecond))
}

func printTable(rows [][]string) {
	tw := tabwriter.NewWriter(os.Stdout, 0, 0, 2, ' ', tabwriter.AlignRight)
	for _, r := range rows {
		fmt.Fprintln(tw, strings.Join(r, "\t")+"\t")
	}
	tw.Flush()
}

// fmtDur prints a duration, "!" when over target, or the error.
func fmtDur(t time.Duration, err error, target time.Duration) string {
	if err != nil {
		if strings.Contains(err.Error(), "statement timeout") {
			return "timeout>" + t.Round(time.Second).String()
		}
		return "error: " + err.Error()
	}
	s := t.Round(time.Millisecond / 10).String()
	if t >= 10*time.Millisecond {
		s = t.Round(time.Millisecond).String()
	}
	if t > target {
		s += " !"
	}
	return s
}

// printStore prints the size of the store the figures are for.
func printStore(b *testing.B, d *sqlx.DB, shop int64) {
	ctx := context.Background()
	fmt.Println("\n== store (estimates from pg_class for the big tables)")
	var size string
	d.GetContext(ctx, &size, `SELECT pg_size_pretty(pg_database_size(current_database()))`)
	tw := tabwriter.NewWriter(os.Stdout, 0, 0, 2, ' ', tabwriter.AlignRight)
	for _, t := range []string{"customers", "orders", "products", "customer_products", "events", "email_messages", "email_events", "suppressions"} {
		var rows int64
		// A partitioned parent's own estimate is the sum of its partitions'.
		if err := d.GetContext(ctx, &rows, `SELECT greatest(c.reltuples, 0)::bigint FROM pg_class c WHERE c.oid = $1::regclass`, t); err != nil {
			b.Fatal(err)
		}
		fmt.Fprintf(tw, "%s\t%d\t\n", t, rows)
	}
	tw.Flush()
	fmt.Printf("database size %s; shop %d; %d CPUs\n", size, shop, runtime.NumCPU())
}

// inline writes args into q as SQL literals, for running it in psql.
func inline(q string, args []any) string {
	for i := len(args); i >= 1; i-- {
		var lit string
		switch v := args[i-1].(type) {
		case time.Time:
			lit = pq.QuoteLiteral(v.Format(time.RFC3339Nano)) + "::timestamptz"
		case string:
			lit = pq.QuoteLiteral(v)
		case driver.Valuer:
			val, _ := v.Value()
			lit = pq.QuoteLiteral(fmt.Sprint(val))
		default:
			lit = fmt.Sprint(v)
		}
		q = strings.ReplaceAll(q, "$"+strconv.Itoa(i), lit)
	}
	return q
}
