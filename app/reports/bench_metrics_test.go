package reports_test

import (
	"context"
	"os"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/cartwheel/cartwheel/app/db/dbtest"
	"github.com/cartwheel/cartwheel/app/reports"
	"github.com/cartwheel/cartwheel/migrations"
)

// BenchmarkReportsPage prints the server time of Admin › Reports' reads
// (the scope picker's lists and Store.MetricsBrief: the scope's figures and
// the table of every campaign and flow) for the 7/30/90-day presets and a year,
// scope all email and one flow, on rollups seeded straight into the kept
// database bench_metrics: a year of a large store — 300 campaigns (a
// fortnight each, three variants), 40 flows of 4 steps and 30 templates
// every day, 16 writer slots busy, and BENCH_METRICS_DAY_CUSTOMERS (default
// 10,000) unique delivered customers a day (half of them in flows, each in
// one template too), the rows the unique-customer rates read.
// BENCH_METRICS_RESEED=1 starts from a new database.
func BenchmarkReportsPage(b *testing.B) {
	perDay := 10_000
	if v, err := strconv.Atoi(os.Getenv("BENCH_METRICS_DAY_CUSTOMERS")); err == nil && v > 0 {
		perDay = v
	}
	ctx := context.Background()
	d, _ := dbtest.Persistent(b, "bench_metrics", os.Getenv("BENCH_METRICS_RESEED") != "")
	var have int
	_ = d.Get(&have, `SELECT COALESCE(max(customer_id), 0) FROM report_email_customers WHERE shop_id = 1 AND scope = 'all'`)
	if have != perDay {
		b.Logf("seeding a year of rollups, %d delivered customers a day…", perDay)
		start := time.Now()
		for _, q := range []string{
			`TRUNCATE shops CASCADE`,
			`INSERT INTO shops (id, domain, iana_timezone) VALUES (1, 'bench.myshopify.com', 'UTC')`,
			`INSERT INTO campaigns (id, shop_id, name, status) SELECT g, 1, 'Campaign ' || g, 'sent' FROM generate_series(1, 300) g`,
			`INSERT INTO flows (id, shop_id, name, draft) SELECT g, 1, 'Flow ' || g, '{}' FROM generate_series(1, 40) g`,
			`INSERT INTO report_daily (shop_id, scope, scope_id, variant, day, slot, sent, delivered, bounced_hard, opened, clicked, clicks, unsubscribed, complained)
			 SELECT 1, 'campaign', c, v, current_date - 365 + (c * 365 / 300) + dd, s, 400, 390, 10, 150, 30, 45, 2, 1
			 FROM generate_series(1, 300) c, generate_series(0, 13) dd, unnest(ARRAY['A', 'B', '']) v, generate_series(0, 15) s`,
			`INSERT INTO report_email_daily (shop_id, scope, scope_id, variant, day, slot, sent, delivered, bounced, opened, clicked, clicks, unsubscribed, complained)
			 SELECT 1, 'all', 0, '', current_date - dd, s, 3000, 2900, 100, 1000, 200, 300, 10, 2 FROM generate_series(0, 364) dd, generate_series(0, 15) s`,
			`INSERT INTO report_email_daily (shop_id, scope, scope_id, variant, day, slot, sent, delivered, bounced, opened, clicked, clicks, unsubscribed, complained)
			 SELECT 1, 'flow', f, 'step-' || st, current_date - dd, s, 30, 29, 1, 10, 2, 3, 0, 0
			 FROM generate_series(1, 40) f, generate_series(1, 4) st, generate_series(0, 364) dd, generate_series(0, 3) s`,
			`INSERT INTO report_email_daily (shop_id, scope, scope_id, variant, day, slot, sent, delivered, bounced, opened, clicked, clicks, unsubscribed, complained)
			 SELECT 1, 'template', t, '', current_date - dd, s, 100, 97, 3, 30, 6, 9, 0, 0
			 FROM generate_series(1, 30) t, generate_series(0, 364) dd, generate_series(0, 3) s`,
			`INSERT INTO report_email_customers (shop_id, scope, scope_id, variant, day, customer_id, delivered, unsubscribed, complained)
			 SELECT 1, 'all', 0, '', current_date - dd, c, true, c % 300 = 0, c % 1000 = 0 FROM generate_series(0, 364) dd, generate_series(1, $1) c`,
			`INSERT INTO report_email_customers (shop_id, scope, scope_id, variant, day, customer_id, delivered, unsubscribed, complained)
			 SELECT 1, 'flow', 1 + c % 40, 'step-' || (1 + c % 4), current_date - dd, c, true, c % 300 = 0, false
			 FROM generate_series(0, 364) dd, generate_series(1, $1 / 2) c`,
			`INSERT INTO report_email_customers (shop_id, scope, scope_id, variant, day, customer_id, delivered, unsubscribed, complained)
			 SELECT 1, 'template', 1 + c % 30, '', current_date - dd, c, true, false, false FROM generate_series(0, 364) dd, generate_series(1, $1) c`,
			`INSERT INTO report_orders_daily (shop_id, scope, scope_id, variant, day, slot, orders, sales)
			 SELECT 1, sc, id, '', current_date - dd, s, 3, 180.55
			 FROM unnest(ARRAY['campaign', 'flow']) sc, generate_series(1, 40) id, generate_series(0, 364) dd, generate_series(0, 3) s`,
			`ANALYZE`,
		} {
			var err error
			if containsArg(q) {
				_, err = d.ExecContext(ctx, q, perDay)
			} else {
				_, err = d.ExecContext(ctx, q)
			}
			if err != nil {
				b.Fatalf("seed: %v\n%s", err, q)
			}
		}
		b.Logf("seeded in %s", time.Since(start).Round(time.Second))
	}
	// All email's unique customers are read from report_email_reach
	// (migration 00034), built from the customer-days as its backfill does.
	var reach bool
	d.Get(&reach, `SELECT EXISTS (SELECT 1 FROM report_email_reach WHERE shop_id = 1)`)
	if !reach {
		src, err := migrations.FS.ReadFile("00034_dashboard_rollups.sql")
		if err != nil {
			b.Fatal(err)
		}
		s := string(src)
		d.MustExec(s[strings.Index(s, "-- reach:begin"):strings.Index(s, "-- reach:end")])
		d.MustExec(`ANALYZE report_email_reach`)
	}
	st := &reports.Store{DB: d}
	today := time.Now().UTC().Truncate(24 * time.Hour)
	page := func(days int, sc reports.Scope) time.Duration {
		t0 := time.Now()
		for _, f := range []func(context.Context, int64) ([]reports.Line, error){st.CampaignChoices, st.FlowChoices, st.TemplateChoices} {
			if _, err := f(ctx, 1); err != nil {
				b.Fatal(err)
			}
		}
		rep, err := st.MetricsBrief(ctx, 1, reports.Range{From: today.AddDate(0, 0, -(days - 1)), To: today}, sc)
		if err != nil {
			b.Fatal(err)
		}
		if rep.Totals.Sent == 0 || len(rep.Lines) == 0 {
			b.Fatal("no figures: the seed is wrong")
		}
		return time.Since(t0)
	}
	b.ResetTimer()
	for range b.N {
		for _, sc := range []struct {
			name string
			sc   reports.Scope
		}{{"all email", reports.Scope{Kind: reports.ScopeAll}}, {"one flow", reports.Scope{Kind: reports.ScopeFlow, ID: 7}}} {
			for _, days := range []int{7, 30, 90, 365} {
				page(days, sc.sc) // warm
				var ts []time.Duration
				for range 15 {
					ts = append(ts, page(days, sc.sc))
				}
				slices.Sort(ts)
				b.Logf("reports page, %s, %d days: p50 %s, p95 %s", sc.name, days,
					percentileDur(ts, 0.5).Round(10*time.Microsecond), percentileDur(ts, 0.95).Round(10*time.Microsecond))
			}
		}
	}
}

func percentileDur(sorted []time.Duration, p float64) time.Duration {
	return sorted[min(len(sorted)-1, int(float64(len(sorted))*p))]
}
