package reports_test

import (
	"context"
	"os"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/jmoiron/sqlx"

	"github.com/cartwheel/cartwheel/app/db"
	"github.com/cartwheel/cartwheel/app/db/dbtest"
	"github.com/cartwheel/cartwheel/app/reports"
	"github.com/cartwheel/cartwheel/app/signals"
	"github.com/cartwheel/cartwheel/migrations"
)

// BenchmarkDashboard is make bench-reports: issue 13 §4 on one store of
// BENCH_REPORTS_CUSTOMERS customers (default 1,000,000) with 5 orders each
// (refunds, cancellations, voided and test orders among them) and 15
// campaign or flow emails each with their deliveries, machine and human
// opens and clicks (about 50 email events per customer counting the
// sends), generated in SQL into the kept database bench_dashboard; the
// rollups are built from those rows in SQL (the dashboard's by migration
// 00034's own backfill, whose time is printed), so re-runs skip all that.
// It prints:
//
//   - the dashboard's server time (Store.Dashboard) for the last 30 and 90
//     days, p50/p95;
//   - a campaign report (Store.Campaign and its latest attributed orders)
//     on a campaign of a quarter of the customers, p50/p95;
//   - attributing an order at webhook time (the Reports handler's work for
//     its order_placed signal, store rollup included), p50/p95;
//   - the full re-attribution after a window change (every order of the
//     shop, in the job's chunks); BENCH_REPORTS_RECOMPUTE_CHUNKS caps the
//     chunks (500 customers each) and extrapolates.
//
// BENCH_REPORTS_RESEED=1 starts from a new database; BENCH_REPORTS_MEASURE_ONLY=1
// measures what the database holds without seeding anything.
func BenchmarkDashboard(b *testing.B) {
	n := 1_000_000
	if v, err := strconv.Atoi(os.Getenv("BENCH_REPORTS_CUSTOMERS")); err == nil && v > 0 {
		n = v
	}
	ctx := context.Background()
	d, _ := dbtest.Persistent(b, "bench_dashboard", os.Getenv("BENCH_REPORTS_RESEED") != "")
	// One connection while seeding, so its session settings hold.
	d.SetMaxOpenConns(1)
	load := func() string {
		l, _ := os.ReadFile("/proc/loadavg")
		return strings.Join(strings.Fields(string(l))[:3], " ")
	}
	b.Logf("load average at start: %s", load())
	d.MustExec(`CREATE TABLE IF NOT EXISTS bench_stages (name text PRIMARY KEY, customers bigint NOT NULL, took interval NOT NULL)`)
	stage := func(name string, fn func()) {
		if os.Getenv("BENCH_REPORTS_MEASURE_ONLY") != "" {
			return // another run is still seeding: measure what is there
		}
		var have int64
		_ = d.Get(&have, `SELECT customers FROM bench_stages WHERE name = $1`, name)
		if have == int64(n) {
			return
		}
		d.MustExec(`DELETE FROM bench_stages WHERE name >= $1`, name)
		b.Logf("%s (%d customers; load %s)…", name, n, load())
		start := time.Now()
		fn()
		took := time.Since(start)
		d.MustExec(`INSERT INTO bench_stages (name, customers, took) VALUES ($1, $2, $3 * interval '1 second')`, name, n, took.Seconds())
		b.Logf("%s took %s", name, took.Round(time.Second))
	}
	exec := func(qs ...string) {
		for _, q := range qs {
			t := time.Now()
			var err error
			if strings.Contains(q, "$1") {
				_, err = d.ExecContext(ctx, q, n)
			} else {
				_, err = d.ExecContext(ctx, q)
			}
			if err != nil {
				b.Fatalf("seed: %v\n%s", err, q)
			}
			if el := time.Since(t); el > 20*time.Second {
				first := strings.Fields(q)
				b.Logf("  %s … %s", strings.Join(first[:min(len(first), 6)], " "), el.Round(time.Second))
			}
		}
	}
	// A bench database migrated by a draft of 00034 lacks its later tables.
	src, err := migrations.FS.ReadFile("00034_dashboard_rollups.sql")
	if err != nil {
		b.Fatal(err)
	}
	mig := string(src)
	var reach bool
	d.Get(&reach, `SELECT to_regclass('report_email_reach') IS NOT NULL`)
	if !reach {
		exec(mig[strings.Index(mig, "CREATE TABLE report_email_reach"):strings.Index(mig, "-- backfill:begin")])
	}
	const bigTables = `('customers', 'consent_events', 'orders', 'email_messages', 'email_events')`
	stage("1-raw", func() {
		// Secondary indexes are dropped for the load and built once after.
		exec(`TRUNCATE shops CASCADE`,
			`CREATE TABLE IF NOT EXISTS bench_indexes (name text PRIMARY KEY, def text NOT NULL)`,
			`INSERT INTO bench_indexes SELECT indexname, indexdef FROM pg_indexes i WHERE schemaname = 'public' AND tablename IN `+bigTables+`
			 AND NOT EXISTS (SELECT 1 FROM pg_constraint c WHERE c.conindid = ('public.' || quote_ident(i.indexname))::regclass)
			 ON CONFLICT DO NOTHING`)
		var names []string
		if err := d.Select(&names, `SELECT name FROM bench_indexes WHERE to_regclass('public.' || quote_ident(name)) IS NOT NULL`); err != nil {
			b.Fatal(err)
		}
		for _, nm := range names {
			exec(`DROP INDEX ` + nm)
		}
		exec(`SET synchronous_commit = off`,
			`INSERT INTO shops (id, domain, iana_timezone, attribution_click_days, attribution_open_days)
			 VALUES (1, 'bench.myshopify.com', 'America/New_York', 5, 1)`,
			// 60 % subscribed (a third of them through the wheel), 10 %
			// subscribed and then unsubscribed, the rest never.
			`INSERT INTO customers (id, shop_id, shopify_id, email, email_consent, email_consent_updated_at, created_at)
			 SELECT g, 1, g, 'user' || g || '@example.com',
			        CASE WHEN g % 10 < 6 THEN 'subscribed' WHEN g % 10 = 9 THEN 'unsubscribed' ELSE 'not_subscribed' END,
			        now() - ((g * 7919) % (365 * 86400)) * interval '1 second', now() - interval '400 days'
			 FROM generate_series(1, $1::bigint) g`,
			`INSERT INTO consent_events (shop_id, customer_id, state, source, occurred_at)
			 SELECT 1, g, 'subscribed', CASE WHEN g % 3 = 0 THEN 'wheel' ELSE 'shopify' END,
			        now() - ((g * 7919) % (365 * 86400)) * interval '1 second' - CASE WHEN g % 10 = 9 THEN interval '20 days' ELSE interval '0' END
			 FROM generate_series(1, $1::bigint) g WHERE g % 10 < 6 OR g % 10 = 9`,
			`INSERT INTO consent_events (shop_id, customer_id, state, source, occurred_at)
			 SELECT 1, g, 'unsubscribed', 'unsubscribe', now() - ((g * 7919) % (365 * 86400)) * interval '1 second'
			 FROM generate_series(1, $1::bigint) g WHERE g % 10 = 9`,
			`INSERT INTO campaigns (id, shop_id, name, status, started_at) SELECT c, 1, 'Campaign ' || c, 'sent',
			        now() - interval '365 days' + c * interval '7.5 days' FROM generate_series(1, 48) c`,
			`INSERT INTO flows (id, shop_id, name, status, draft, live_version) SELECT f, 1, 'Flow ' || f, 'live', '{}', 1 FROM generate_series(1, 3) f`,
			`INSERT INTO flow_versions (shop_id, flow_id, version, definition) SELECT 1, f, 1,
			        '{"steps": [{"id": "email-1", "type": "send_email", "name": "Reminder"}]}' FROM generate_series(1, 3) f`,
			// 15 emails per customer over the year: 12 campaigns (each to a
			// quarter of the customers), 3 flow emails.
			`INSERT INTO email_messages (shop_id, customer_id, to_email, kind, dedupe_key, marketing, status, sent_at,
				campaign_id, campaign_variant, flow_id, flow_version, flow_run_id, flow_step, template_id)
			 SELECT 1, g, 'user' || g || '@example.com', CASE WHEN k < 12 THEN 'campaign' ELSE 'flow' END,
			        CASE WHEN k < 12 THEN 'campaign:' || (1 + k * 4 + g % 4) || ':customer:' || g ELSE 'flow_run:' || (g * 3 + k - 12) || ':step:email-1' END,
			        true, 'delivered',
			        CASE WHEN k < 12 THEN now() - interval '365 days' + (1 + k * 4 + g % 4) * interval '7.5 days' + (g % 7200) * interval '1 second'
			             ELSE now() - ((g * 104729 + k * 7919) % (365 * 86400)) * interval '1 second' END,
			        CASE WHEN k < 12 THEN 1 + k * 4 + g % 4 END, CASE WHEN k < 12 THEN (ARRAY['A', 'B', '', '', ''])[1 + g % 5] END,
			        CASE WHEN k >= 12 THEN k - 11 END, CASE WHEN k >= 12 THEN 1 END, CASE WHEN k >= 12 THEN g * 3 + k - 12 END,
			        CASE WHEN k >= 12 THEN 'email-1' END, 1 + k % 4
			 FROM generate_series(1, $1::bigint) g, generate_series(0, 14) k`,
			// 97 % delivered; Apple's prefetch on 35 %; human opens on half
			// (1–2 each, over four days); clicks on 14 % (1–3 each).
			`INSERT INTO email_events (shop_id, message_id, source, kind, user_agent, machine, occurred_at)
			 SELECT 1, m.id, 'sendgrid', 'delivered', '', false, m.sent_at + interval '20 seconds' FROM email_messages m WHERE m.id % 100 < 97`,
			`INSERT INTO email_events (shop_id, message_id, source, kind, user_agent, machine, occurred_at)
			 SELECT 1, m.id, 'pixel', 'open', 'Mozilla/5.0', true, m.sent_at + interval '1 minute' FROM email_messages m WHERE m.id % 100 < 35`,
			`INSERT INTO email_events (shop_id, message_id, source, kind, user_agent, machine, occurred_at)
			 SELECT 1, m.id, 'pixel', 'open',
			        (ARRAY['Mozilla/5.0 (iPhone; CPU iPhone OS 17_1 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Mobile/15E148',
			               'Mozilla/5.0 (Windows NT 5.1; rv:11.0) Gecko Firefox/11.0 (via ggpht.com GoogleImageProxy)',
			               'Mozilla/4.0 (compatible; ms-office; MSOffice 16)',
			               'Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko)'])[1 + m.id % 4],
			        false, m.sent_at + ((m.id * 7919 + k * 104729) % 345600) * interval '1 second'
			 FROM email_messages m, generate_series(1, 2) k WHERE m.id % 100 BETWEEN 40 AND 89 AND k <= 1 + m.id % 2`,
			`INSERT INTO email_events (shop_id, message_id, source, kind, link_index, url, user_agent, machine, occurred_at)
			 SELECT 1, m.id, 'redirect', 'click', 0, 'https://bench.example/sale',
			        (ARRAY['Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0 Mobile Safari/537.36',
			               'Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0 Safari/537.36'])[1 + m.id % 2],
			        k = 3, m.sent_at + ((m.id * 7919 + k * 1299709) % 345600 + 60) * interval '1 second'
			 FROM email_messages m, generate_series(1, 3) k WHERE m.id % 100 BETWEEN 50 AND 63 AND k <= 1 + m.id % 3`,
			// 5 orders per customer over the year: 5 % partly refunded, 2 %
			// cancelled (a quarter of those voided), 1 % test orders.
			`INSERT INTO orders (shop_id, shopify_id, name, customer_id, shopify_customer_id, currency, subtotal_price, total_price, total_refunded,
				financial_status, cancelled_at, test, processed_at, shopify_created_at)
			 SELECT 1, g * 10 + k, '#' || (g * 10 + k), g, g, 'USD', 20 + (g * k) % 180, 25 + (g * k) % 180,
			        CASE WHEN (g + k) % 20 = 0 THEN 5 ELSE 0 END,
			        CASE WHEN (g + k) % 200 = 1 THEN 'voided' ELSE 'paid' END,
			        CASE WHEN (g + k) % 50 = 1 THEN now() - ((g * 7919 + k * 104729) % (365 * 86400)) * interval '1 second' + interval '1 hour' END,
			        (g + k) % 100 = 3,
			        now() - ((g * 7919 + k * 104729) % (365 * 86400)) * interval '1 second',
			        now() - ((g * 7919 + k * 104729) % (365 * 86400)) * interval '1 second'
			 FROM generate_series(1, $1::bigint) g, generate_series(1, 5) k`)
		var defs []string
		if err := d.Select(&defs, `SELECT def FROM bench_indexes ORDER BY name`); err != nil {
			b.Fatal(err)
		}
		exec(`SET maintenance_work_mem = '256MB'`)
		for _, def := range defs {
			exec(strings.Replace(def, "CREATE INDEX", "CREATE INDEX IF NOT EXISTS", 1))
		}
		exec(`ANALYZE`)
	})
	stage("2a-facts", func() {
		exec(`TRUNCATE report_email_messages, report_email_daily, report_email_customers, report_daily, report_breakdowns, report_messages,
				order_attributions, report_orders_daily, report_orders_frozen, attribution_recomputes,
				report_engagement_daily, report_subscriber_states, report_subscribers_daily, report_store_orders, report_store_daily, report_email_reach`,
			`SET work_mem = '256MB'`,
			// Each message's facts, from its events (the counting of
			// apply_email.go, by event time).
			`DROP TABLE IF EXISTS bench_facts`,
			`CREATE UNLOGGED TABLE bench_facts AS
			 SELECT m.id, m.customer_id, m.kind, m.campaign_id, COALESCE(m.campaign_variant, '') AS variant, m.flow_id, m.flow_step,
			        (m.sent_at AT TIME ZONE 'America/New_York')::date AS sent,
			        (min(e.occurred_at) FILTER (WHERE NOT e.machine AND e.kind IN ('delivered', 'open', 'click')) AT TIME ZONE 'America/New_York')::date AS delivered,
			        (min(e.occurred_at) FILTER (WHERE NOT e.machine AND e.kind IN ('open', 'click')) AT TIME ZONE 'America/New_York')::date AS opened,
			        (min(e.occurred_at) FILTER (WHERE NOT e.machine AND e.kind = 'click') AT TIME ZONE 'America/New_York')::date AS clicked,
			        count(*) FILTER (WHERE NOT e.machine AND e.kind = 'click') AS clicks,
			        count(*) FILTER (WHERE NOT e.machine AND e.kind = 'open') AS opens,
			        COALESCE(max(e.id), 0) AS last_event
			 FROM email_messages m LEFT JOIN email_events e ON e.message_id = m.id
			 GROUP BY m.id`,
			`INSERT INTO report_email_messages (message_id, shop_id, sent, delivered, opened, clicked, last_event)
			 SELECT id, 1, true, delivered IS NOT NULL, opened IS NOT NULL, clicked IS NOT NULL, last_event FROM bench_facts`,
			`INSERT INTO report_email_daily (shop_id, scope, scope_id, variant, day, slot, sent, delivered, opened, clicked, clicks)
			 SELECT 1, s.scope, s.scope_id, s.variant, x.day, 0, sum(x.sent), sum(x.delivered), sum(x.opened), sum(x.clicked), sum(x.clicks)
			 FROM bench_facts f
			 CROSS JOIN LATERAL (VALUES (f.sent, 1, 0, 0, 0, 0), (f.delivered, 0, 1, 0, 0, 0), (f.opened, 0, 0, 1, 0, 0),
			        (f.clicked, 0, 0, 0, 1, f.clicks)) AS x(day, sent, delivered, opened, clicked, clicks)
			 CROSS JOIN LATERAL (VALUES ('all', 0::bigint, ''), ('flow', f.flow_id, f.flow_step)) AS s(scope, scope_id, variant)
			 WHERE x.day IS NOT NULL AND s.scope_id IS NOT NULL
			 GROUP BY 2, 3, 4, 5`,
			`INSERT INTO report_daily (shop_id, scope, scope_id, variant, day, slot, sent, delivered, opened, clicked, clicks, opens)
			 SELECT 1, 'campaign', f.campaign_id, f.variant, x.day, 0, sum(x.sent), sum(x.delivered), sum(x.opened), sum(x.clicked), sum(x.clicks), sum(x.opens)
			 FROM bench_facts f
			 CROSS JOIN LATERAL (VALUES (f.sent, 1, 0, 0, 0, 0, 0), (f.delivered, 0, 1, 0, 0, 0, 0), (f.opened, 0, 0, 1, 0, 0, f.opens),
			        (f.clicked, 0, 0, 0, 1, f.clicks, 0)) AS x(day, sent, delivered, opened, clicked, clicks, opens)
			 WHERE f.kind = 'campaign' AND x.day IS NOT NULL
			 GROUP BY 3, 4, 5`)
	})
	stage("2b-customers", func() {
		// In key order, with the per-customer index built after.
		exec(`TRUNCATE report_email_customers`, `SET work_mem = '256MB'`, `DROP INDEX IF EXISTS report_email_customers_all_idx`,
			`INSERT INTO report_email_customers (shop_id, scope, scope_id, variant, day, customer_id, delivered)
			 SELECT DISTINCT 1, 'all', 0::bigint, '', delivered, customer_id, true FROM bench_facts WHERE delivered IS NOT NULL ORDER BY 5, 6`,
			`INSERT INTO report_email_customers (shop_id, scope, scope_id, variant, day, customer_id, delivered)
			 SELECT DISTINCT 1, 'flow', flow_id, flow_step, delivered, customer_id, true FROM bench_facts
			 WHERE delivered IS NOT NULL AND kind = 'flow' ORDER BY 3, 4, 5, 6`,
			`CREATE INDEX report_email_customers_all_idx ON report_email_customers (shop_id, customer_id, day) WHERE scope = 'all'`)
	})
	stage("2c-orders", func() {
		exec(`TRUNCATE order_attributions, report_orders_daily, report_orders_frozen, attribution_recomputes`,
			// Three orders in ten of a customer's emailed life are
			// attributed (a click an hour before), two to campaigns, one to
			// a flow; the orders of every thousandth customer's fifth order
			// are left to arrive during the benchmark.
			`INSERT INTO order_attributions (shop_id, order_id, customer_id, ordered_at, day, message_id, event_id, touch, touched_at, window_days,
				email_kind, campaign_id, campaign_variant, flow_id, flow_version, flow_step, template_id, currency, amount, cancelled)
			 SELECT 1, o.shopify_id, o.customer_id, o.processed_at, (o.processed_at AT TIME ZONE 'America/New_York')::date, 0, 0, 'click',
			        o.processed_at - interval '1 hour', 5, CASE WHEN o.shopify_id % 10 < 2 THEN 'campaign' ELSE 'flow' END,
			        CASE WHEN o.shopify_id % 10 < 2 THEN 1 + o.shopify_id % 48 END, CASE WHEN o.shopify_id % 10 < 2 THEN (ARRAY['A', 'B', ''])[1 + o.shopify_id % 3] ELSE '' END,
			        CASE WHEN o.shopify_id % 10 = 2 THEN 1 + o.shopify_id % 3 END, CASE WHEN o.shopify_id % 10 = 2 THEN 1 END,
			        CASE WHEN o.shopify_id % 10 = 2 THEN 'email-1' ELSE '' END, 1 + o.shopify_id % 4, 'USD',
			        CASE WHEN o.financial_status = 'voided' THEN 0 ELSE o.total_price - o.total_refunded END, o.cancelled_at IS NOT NULL
			 FROM orders o WHERE o.shop_id = 1 AND NOT o.test AND (o.shopify_id / 10) % 10 < 3 AND NOT (o.customer_id % 1000 = 7 AND o.shopify_id % 10 = 5)`,
			`INSERT INTO report_orders_daily (shop_id, scope, scope_id, variant, day, slot, orders, sales)
			 SELECT 1, v.scope, v.scope_id, v.variant, a.day, 0, count(*), sum(a.amount)
			 FROM order_attributions a CROSS JOIN LATERAL (VALUES ('campaign', a.campaign_id, a.campaign_variant), ('flow', a.flow_id, a.flow_step),
			        ('template', a.template_id, '')) AS v(scope, scope_id, variant)
			 WHERE v.scope_id IS NOT NULL GROUP BY 2, 3, 4, 5`)
	})
	stage("2d-backfill", func() {
		exec(`TRUNCATE report_engagement_daily, report_subscriber_states, report_subscribers_daily, report_store_orders, report_store_daily,
			report_email_reach`, `SET work_mem = '256MB'`)
		// The dashboard's rollups: migration 00034's backfill, as an
		// existing install of this size would run it.
		t := time.Now()
		if err := db.InTx(ctx, d, func(tx *sqlx.Tx) error {
			_, err := tx.ExecContext(ctx, mig[strings.Index(mig, "-- backfill:begin"):strings.Index(mig, "-- backfill:end")])
			return err
		}); err != nil {
			b.Fatal(err)
		}
		b.Logf("  migration 00034's backfill: %s", time.Since(t).Round(time.Second))
	})
	stage("2e-campaign", func() {
		// A campaign's breakdowns, counted by the handler's own code.
		t := time.Now()
		if err := reports.Rebuild(ctx, d, 1, 47); err != nil {
			b.Fatal(err)
		}
		b.Logf("  campaign 47 rebuilt by the handler's counting: %s", time.Since(t).Round(time.Second))
		exec(`DROP TABLE bench_facts`, `ANALYZE`)
		// The small rollups the reads scan by index only.
		exec(`VACUUM report_email_daily, report_email_reach, report_daily, report_orders_daily, report_store_daily,
			report_subscribers_daily, report_engagement_daily, report_breakdowns`)
	})

	d.SetMaxOpenConns(4)
	var counts struct{ customers, orders, messages, events int64 }
	d.Get(&counts.customers, `SELECT count(*) FROM customers`)
	d.Get(&counts.orders, `SELECT count(*) FROM orders`)
	d.Get(&counts.messages, `SELECT count(*) FROM email_messages`)
	d.Get(&counts.events, `SELECT count(*) FROM email_events`)
	b.Logf("store: %d customers, %d orders, %d emails sent and %d email events (%d in all); load %s",
		counts.customers, counts.orders, counts.messages, counts.events, counts.messages+counts.events, load())
	pct := func(s []time.Duration, p float64) time.Duration {
		slices.Sort(s)
		return s[int(float64(len(s)-1)*p)].Round(100 * time.Microsecond)
	}
	st := &reports.Store{DB: d}
	today, err := st.Today(ctx, 1, time.Now())
	if err != nil {
		b.Fatal(err)
	}

	// The dashboard.
	for _, days := range []int{30, 90} {
		r := reports.Range{From: today.AddDate(0, 0, -(days - 1)), To: today}
		var times []time.Duration
		var last reports.Dashboard
		for i := range 103 {
			t := time.Now()
			if last, err = st.Dashboard(ctx, 1, r); err != nil {
				b.Fatal(err)
			}
			if i >= 3 { // the first reads warm the cache
				times = append(times, time.Since(t))
			}
		}
		m := reports.Compute(last.Current)
		b.Logf("dashboard, last %d days: p50 %s, p95 %s over %d requests (sales %s in %d orders, %d delivered, %d unique customers; list %d, +%d −%d; load %s)",
			days, pct(times, 0.5), pct(times, 0.95), len(times), m.Sales, m.Orders, m.Delivered, last.Current.Customers,
			last.Subscribers.ListSize, last.Subscribers.New, last.Subscribers.Left, load())
		b.ReportMetric(float64(pct(times, 0.95).Microseconds())/1000, "dash"+strconv.Itoa(days)+"-p95-ms")
	}

	// A campaign report: the report and its latest attributed orders.
	{
		var times []time.Duration
		var rep reports.CampaignReport
		for i := range 203 {
			t := time.Now()
			if rep, err = st.Campaign(ctx, 1, 47); err != nil {
				b.Fatal(err)
			}
			if _, err := st.CampaignOrders(ctx, 1, 47, 50); err != nil {
				b.Fatal(err)
			}
			if i >= 3 {
				times = append(times, time.Since(t))
			}
		}
		b.Logf("campaign report (%d sent, %d opened, %d orders) with its order list: p50 %s, p95 %s over %d requests (load %s)",
			rep.Total.Sent, rep.Total.Opened, rep.Revenue.Orders, pct(times, 0.5), pct(times, 0.95), len(times), load())
		b.ReportMetric(float64(pct(times, 0.95).Microseconds())/1000, "campaign-p95-ms")
	}

	// Orders arriving at webhook time: the handler's work for each one's
	// order_placed signal (attribution and the store rollup), one order per
	// transaction. They are made new again on each run.
	{
		var sample []struct {
			ID       int64 `db:"shopify_id"`
			Customer int64 `db:"customer_id"`
		}
		if err := d.Select(&sample, `SELECT shopify_id, customer_id FROM orders WHERE customer_id % 1000 = 7 AND shopify_id % 10 = 5 ORDER BY shopify_id`); err != nil {
			b.Fatal(err)
		}
		d.MustExec(`DELETE FROM order_attributions WHERE shop_id = 1 AND customer_id % 1000 = 7 AND order_id % 10 = 5`)
		d.MustExec(`DELETE FROM report_store_orders WHERE shop_id = 1 AND order_id % 10 = 5 AND (order_id / 10) % 1000 = 7`)
		var times []time.Duration
		for _, o := range sample {
			tx, err := d.BeginTxx(ctx, nil)
			if err != nil {
				b.Fatal(err)
			}
			t := time.Now()
			if err := (reports.Handler{}).HandleSignals(ctx, tx, &signals.Batch{ShopID: 1, CustomerID: o.Customer, Now: time.Now(),
				Signals: []signals.Signal{{ShopID: 1, CustomerID: o.Customer, Kind: signals.OrderPlaced, Ref: strconv.FormatInt(o.ID, 10)}}}); err != nil {
				b.Fatal(err)
			}
			times = append(times, time.Since(t))
			if err := tx.Commit(); err != nil {
				b.Fatal(err)
			}
		}
		var attributed int
		d.Get(&attributed, `SELECT count(*) FROM order_attributions WHERE shop_id = 1 AND customer_id % 1000 = 7 AND order_id % 10 = 5`)
		b.Logf("attribution at webhook time, %d orders one per transaction (%d attributed): p50 %s, p95 %s, max %s (load %s)",
			len(times), attributed, pct(times, 0.5), pct(times, 0.95), times[len(times)-1].Round(100*time.Microsecond), load())
		b.ReportMetric(float64(pct(times, 0.95).Microseconds())/1000, "attr-p95-ms")
	}

	// Full re-attribution after a window change (toggling between 5/1 and
	// 2/0 days on each run).
	{
		maxChunks := 0
		if v, err := strconv.Atoi(os.Getenv("BENCH_REPORTS_RECOMPUTE_CHUNKS")); err == nil && v > 0 {
			maxChunks = v
		}
		var click int
		d.Get(&click, `SELECT attribution_click_days FROM shops WHERE id = 1`)
		click, open := 2, 0
		if click == 2 {
			click, open = 5, 1
		}
		jobs := &recomputeJobs{}
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
		chunks := 0
		done := false
		for !done && (maxChunks == 0 || chunks < maxChunks) {
			chunks++
			if done, err = reports.RecomputeStep(ctx, d, 1, gen, 500); err != nil {
				b.Fatal(err)
			}
		}
		took := time.Since(start)
		var rc reports.Recompute
		rc, _, _ = st.RecomputeStatus(ctx, 1)
		if done {
			b.Logf("re-attribution after a window change to click %d / open %d days: %d orders of %d customers in %s (%d chunks; %.0f orders/s; load %s)",
				click, open, rc.OrdersDone, rc.CustomersTotal, took.Round(time.Second), chunks, float64(rc.OrdersDone)/took.Seconds(), load())
		} else {
			full := time.Duration(float64(took) * float64(rc.CustomersTotal) / float64(max(rc.CustomersDone, 1)))
			b.Logf("re-attribution after a window change to click %d / open %d days: capped at %d chunks: %d of %d customers (%d orders) in %s, %.0f orders/s → the whole store ≈ %s (load %s)",
				click, open, chunks, rc.CustomersDone, rc.CustomersTotal, rc.OrdersDone, took.Round(time.Second),
				float64(rc.OrdersDone)/took.Seconds(), full.Round(time.Minute), load())
		}
		b.ReportMetric(took.Seconds(), "recompute-s")
	}
}
