package reports_test

import (
	"context"
	"os"
	"slices"
	"strconv"
	"testing"
	"time"

	"github.com/cartwheel/cartwheel/app/db/dbtest"
	"github.com/cartwheel/cartwheel/app/reports"
	"github.com/cartwheel/cartwheel/app/signals"
)

// BenchmarkCampaignReport prints the campaign report's server time
// (Store.Campaign: every figure, variant, link and breakdown the page
// shows) on a campaign of BENCH_REPORT_RECIPIENTS recipients (default
// 1,000,000) with millions of events, and the campaigns list's figures for
// 50 campaigns. The rollups are built by Rebuild, which counts the raw rows
// with the signal handler's own code (its rate is printed too). The seeded
// database (bench_reports) is kept between runs.
func BenchmarkCampaignReport(b *testing.B) {
	n := 1_000_000
	if v, err := strconv.Atoi(os.Getenv("BENCH_REPORT_RECIPIENTS")); err == nil && v > 0 {
		n = v
	}
	ctx := context.Background()
	d, _ := dbtest.Persistent(b, "bench_reports", false)
	var have int
	if err := d.Get(&have, `SELECT count(*) FROM campaign_recipients WHERE campaign_id = 1`); err != nil {
		b.Fatal(err)
	}
	if have != n {
		b.Logf("seeding a campaign of %d recipients…", n)
		start := time.Now()
		for _, q := range []string{
			`TRUNCATE shops CASCADE`,
			`TRUNCATE campaign_recipients`,
			`INSERT INTO shops (id, domain, iana_timezone) VALUES (1, 'bench.myshopify.com', 'America/New_York')`,
			`INSERT INTO customers (id, shop_id, email, email_consent) SELECT g, 1, 'user' || g || '@example.com', 'subscribed' FROM generate_series(1, $1) g`,
			`INSERT INTO campaigns (id, shop_id, name, status, audience_size, snapshot_at, started_at)
			 VALUES (1, 1, 'Big sale', 'sent', $1, now() - interval '4 days', now() - interval '4 days')`,
			// Other campaigns of the list.
			`INSERT INTO campaigns (id, shop_id, name, status) SELECT g, 1, 'Campaign ' || g, 'draft' FROM generate_series(2, 50) g`,
			// 10 % A, 10 % B, 5 % holdout, the rest get the winner.
			`INSERT INTO campaign_recipients (shop_id, campaign_id, customer_id, position, variant, status)
			 SELECT 1, 1, g, g, CASE WHEN g % 20 IN (0, 1) THEN 'A' WHEN g % 20 IN (2, 3) THEN 'B' WHEN g % 20 = 4 THEN 'holdout' ELSE '' END, 'sent'
			 FROM generate_series(1, $1) g`,
			`INSERT INTO email_messages (shop_id, customer_id, to_email, kind, dedupe_key, links, marketing, status, sent_at, campaign_id, campaign_variant)
			 SELECT 1, r.customer_id, 'user' || r.customer_id || '@example.com', 'campaign', 'campaign:1:customer:' || r.customer_id,
			        '{https://bench.example/sale,https://bench.example/new,https://bench.example/hat,https://bench.example/boots}', true, 'delivered',
			        now() - interval '4 days' + (r.position % 7200) * interval '1 second', 1, r.variant
			 FROM campaign_recipients r WHERE r.campaign_id = 1 AND r.variant <> 'holdout' ORDER BY r.position`,
			// 97 % delivered, 2 % hard and 1 % soft bounces.
			`INSERT INTO email_events (shop_id, message_id, source, kind, detail, occurred_at)
			 SELECT 1, m.id, 'sendgrid', CASE WHEN m.id % 100 < 97 THEN 'delivered' ELSE 'bounce' END,
			        CASE WHEN m.id % 100 = 99 THEN 'blocked' WHEN m.id % 100 >= 97 THEN 'bounce' ELSE '' END, m.sent_at + interval '20 seconds'
			 FROM email_messages m WHERE m.campaign_id = 1`,
			// Apple's prefetch on 35 % (machine), human opens on 40 % (1–3
			// each, over four days), clicks on 12 % (1–3 each).
			`INSERT INTO email_events (shop_id, message_id, source, kind, user_agent, machine, occurred_at)
			 SELECT 1, m.id, 'pixel', 'open', 'Mozilla/5.0', true, m.sent_at + interval '1 minute'
			 FROM email_messages m WHERE m.campaign_id = 1 AND m.id % 100 < 35`,
			`INSERT INTO email_events (shop_id, message_id, source, kind, user_agent, occurred_at)
			 SELECT 1, m.id, 'pixel', 'open',
			        (ARRAY['Mozilla/5.0 (iPhone; CPU iPhone OS 17_1 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Mobile/15E148',
			               'Mozilla/5.0 (Windows NT 5.1; rv:11.0) Gecko Firefox/11.0 (via ggpht.com GoogleImageProxy)',
			               'Mozilla/4.0 (compatible; ms-office; MSOffice 16)',
			               'Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko)'])[1 + m.id % 4],
			        m.sent_at + ((m.id * 7919 + k * 104729) % 345600) * interval '1 second'
			 FROM email_messages m, generate_series(1, 3) k WHERE m.campaign_id = 1 AND m.id % 100 BETWEEN 50 AND 89 AND k <= 1 + m.id % 3`,
			`INSERT INTO email_events (shop_id, message_id, source, kind, link_index, url, user_agent, occurred_at)
			 SELECT 1, m.id, 'redirect', 'click', (m.id + k) % 4, m.links[1 + (m.id + k) % 4],
			        'Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0 Mobile Safari/537.36',
			        m.sent_at + ((m.id * 7919 + k * 1299709) % 345600 + 60) * interval '1 second'
			 FROM email_messages m, generate_series(1, 3) k WHERE m.campaign_id = 1 AND m.id % 100 BETWEEN 50 AND 61 AND k <= 1 + m.id % 3`,
			`INSERT INTO email_events (shop_id, message_id, source, kind, occurred_at)
			 SELECT 1, m.id, 'sendgrid', CASE WHEN m.id % 1000 < 3 THEN 'unsubscribe' ELSE 'spamreport' END, m.sent_at + interval '2 hours'
			 FROM email_messages m WHERE m.campaign_id = 1 AND m.id % 1000 < 4 AND m.id % 100 < 97`,
			`ANALYZE`,
		} {
			var err error
			if containsArg(q) {
				_, err = d.ExecContext(ctx, q, n)
			} else {
				_, err = d.ExecContext(ctx, q)
			}
			if err != nil {
				b.Fatalf("seed: %v\n%s", err, q)
			}
		}
		var events int
		d.Get(&events, `SELECT count(*) FROM email_events`)
		b.Logf("seeded %d recipients and %d events in %s; counting them into the rollups…", n, events, time.Since(start).Round(time.Second))
		start = time.Now()
		if err := reports.Rebuild(ctx, d, 1, 1); err != nil {
			b.Fatal(err)
		}
		el := time.Since(start)
		b.Logf("rollups built in %s: %.0f messages/s, %.0f events/s through the handler's counting",
			el.Round(time.Second), float64(n)*0.95/el.Seconds(), float64(events)/el.Seconds())
		d.MustExec(`DELETE FROM report_campaign_audience`)
		d.MustExec(`ANALYZE`)
	}
	var rows [2]int
	d.Get(&rows[0], `SELECT count(*) FROM report_daily WHERE scope_id = 1`)
	d.Get(&rows[1], `SELECT count(*) FROM report_breakdowns WHERE scope_id = 1`)
	st := &reports.Store{DB: d}
	start := time.Now()
	first, err := st.Campaign(ctx, 1, 1) // counts the snapshot's variants once
	if err != nil {
		b.Fatal(err)
	}
	firstTime := time.Since(start)
	const requests = 300
	times := make([]time.Duration, 0, requests)
	for range requests {
		t := time.Now()
		if _, err := st.Campaign(ctx, 1, 1); err != nil {
			b.Fatal(err)
		}
		times = append(times, time.Since(t))
	}
	ids := make([]int64, 50)
	for i := range ids {
		ids[i] = int64(i + 1)
	}
	list := make([]time.Duration, 0, requests)
	for range requests {
		t := time.Now()
		if _, err := st.Campaigns(ctx, 1, ids); err != nil {
			b.Fatal(err)
		}
		list = append(list, time.Since(t))
	}
	slices.Sort(times)
	slices.Sort(list)
	pct := func(s []time.Duration, p float64) time.Duration {
		return s[int(float64(len(s)-1)*p)].Round(10 * time.Microsecond)
	}
	b.Logf("campaign of %d recipients: %d sent, %d delivered, %d opened, %d clicks; rollup rows %d daily + %d breakdowns",
		n, first.Total.Sent, first.Total.Delivered, first.Total.Opened, first.Total.Clicks, rows[0], rows[1])
	b.Logf("report server time over %d requests: p50 %s, p95 %s, max %s (first view, counting the snapshot's variants once: %s)",
		requests, pct(times, 0.5), pct(times, 0.95), times[len(times)-1].Round(10*time.Microsecond), firstTime.Round(time.Millisecond))
	b.Logf("campaigns list figures (50 campaigns): p50 %s, p95 %s", pct(list, 0.5), pct(list, 0.95))
	b.ReportMetric(float64(pct(times, 0.95).Microseconds())/1000, "p95-ms")
}

func containsArg(q string) bool {
	for i := 0; i+1 < len(q); i++ {
		if q[i] == '$' && q[i+1] == '1' {
			return true
		}
	}
	return false
}

// BenchmarkReportsHandler prints how fast the signals consumer takes email
// signals with the Reports handler counting them, against the same
// consumer discarding them (BENCH_REPORT_SIGNAL_CUSTOMERS customers, default
// 10,000, each with an email_sent, a delivery, an open and a click).
func BenchmarkReportsHandler(b *testing.B) {
	n := 10_000
	if v, err := strconv.Atoi(os.Getenv("BENCH_REPORT_SIGNAL_CUSTOMERS")); err == nil && v > 0 {
		n = v
	}
	ctx := context.Background()
	d := dbtest.New(b)
	for _, q := range []string{
		`INSERT INTO shops (id, domain, iana_timezone) VALUES (1, 'bench.myshopify.com', 'America/New_York')`,
		`INSERT INTO customers (id, shop_id, email, email_consent) SELECT g, 1, 'user' || g || '@example.com', 'subscribed' FROM generate_series(1, $1) g`,
		`INSERT INTO campaigns (id, shop_id, name, status) VALUES (1, 1, 'Bench', 'sending')`,
		`INSERT INTO email_messages (shop_id, customer_id, to_email, kind, dedupe_key, links, marketing, status, sent_at, campaign_id, campaign_variant)
		 SELECT 1, g, 'user' || g || '@example.com', 'campaign', 'campaign:1:customer:' || g, '{https://bench.example/a}', true, 'clicked',
		        now() - interval '1 hour', 1, '' FROM generate_series(1, $1) g`,
		`INSERT INTO email_events (shop_id, message_id, source, kind, link_index, url, user_agent, occurred_at)
		 SELECT 1, m.id, k.source, k.kind, k.li, k.url, 'Mozilla/5.0 (iPhone; CPU iPhone OS 17_1 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Mobile/15E148', now()
		 FROM email_messages m, (VALUES (1, 'sendgrid', 'delivered', NULL::int, ''), (2, 'pixel', 'open', NULL, ''), (3, 'redirect', 'click', 0, 'https://bench.example/a')) AS k(o, source, kind, li, url)
		 ORDER BY m.id, k.o`,
		`ANALYZE`,
	} {
		var err error
		if containsArg(q) {
			_, err = d.ExecContext(ctx, q, n)
		} else {
			_, err = d.ExecContext(ctx, q)
		}
		if err != nil {
			b.Fatalf("seed: %v\n%s", err, q)
		}
	}
	queue := func() int {
		d.MustExec(`INSERT INTO customer_signals (shop_id, customer_id, kind, ref, data, at)
			SELECT 1, m.customer_id, 'email_sent', m.id::text, '{}', m.sent_at FROM email_messages m ORDER BY m.id`)
		d.MustExec(`INSERT INTO customer_signals (shop_id, customer_id, kind, ref, data, at)
			SELECT 1, m.customer_id, 'email_event', m.id::text,
			       jsonb_build_object('status', CASE e.kind WHEN 'open' THEN 'opened' WHEN 'click' THEN 'clicked' ELSE e.kind END, 'event', e.id), e.occurred_at
			FROM email_events e JOIN email_messages m ON m.id = e.message_id ORDER BY e.id`)
		var c int
		d.Get(&c, `SELECT count(*) FROM customer_signals`)
		return c
	}
	drain := func(h signals.Handler) (int, time.Duration) {
		c, err := signals.NewConsumer(d, signals.Handlers{Segments: signals.Discard, Flows: signals.Discard, Reports: h}, nil)
		if err != nil {
			b.Fatal(err)
		}
		total := queue()
		start := time.Now()
		for {
			k, err := c.Pass(ctx)
			if err != nil {
				b.Fatal(err)
			}
			if k == 0 {
				var left int
				d.Get(&left, `SELECT count(*) FROM customer_signals`)
				if left == 0 {
					break
				}
			}
		}
		return total, time.Since(start)
	}
	total, discard := drain(signals.Discard)
	_, counted := drain(reports.Handler{})
	var sent int64
	d.Get(&sent, `SELECT COALESCE(sum(sent), 0) FROM report_daily`)
	if sent != int64(n) {
		b.Fatalf("counted %d sent, want %d", sent, n)
	}
	b.Logf("%d signals of %d customers: consumer discarding them %.0f signals/s (%s); with the Reports handler %.0f signals/s (%s)",
		total, n, float64(total)/discard.Seconds(), discard.Round(time.Millisecond), float64(total)/counted.Seconds(), counted.Round(time.Millisecond))
}
