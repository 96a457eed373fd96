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

// BenchmarkAttribution prints the cost of attributing an order when it
// arrives, on a store of BENCH_ATTR_CUSTOMERS customers (default 100,000;
// 1,000,000 is issue 13's size) with 5 orders and 20 campaign or flow
// emails each, and about 50 email events per customer (deliveries, machine
// and human opens, clicks): the density of 5,000,000 orders and 50,000,000
// events over 1,000,000 customers, which is what an order's lookup reads.
// Two figures: one order per transaction (the Reports handler's work for
// its order_placed signal: settings, the decision, the follow-up and the
// rollup; and the transaction with its commit), p50/p95 over 1,000 random
// orders; and orders taken through the signals consumer (order
// signals of 5,000 customers, in its chunks), against the same consumer
// discarding them. The seeded database (bench_attribution) is kept.
func BenchmarkAttribution(b *testing.B) {
	n := 100_000
	if v, err := strconv.Atoi(os.Getenv("BENCH_ATTR_CUSTOMERS")); err == nil && v > 0 {
		n = v
	}
	ctx := context.Background()
	d, _ := dbtest.Persistent(b, "bench_attribution", false)
	var have int
	if err := d.Get(&have, `SELECT count(*) FROM customers`); err != nil {
		b.Fatal(err)
	}
	if have != n {
		b.Logf("seeding %d customers…", n)
		start := time.Now()
		for _, q := range []string{
			`TRUNCATE shops CASCADE`,
			`INSERT INTO shops (id, domain, iana_timezone, attribution_click_days, attribution_open_days)
			 VALUES (1, 'bench.myshopify.com', 'America/New_York', 5, 1)`,
			`INSERT INTO customers (id, shop_id, email, email_consent) SELECT g, 1, 'user' || g || '@example.com', 'subscribed' FROM generate_series(1, $1) g`,
			`INSERT INTO campaigns (id, shop_id, name, status) SELECT g, 1, 'Campaign ' || g, 'sent' FROM generate_series(1, 20) g`,
			`INSERT INTO flows (id, shop_id, name, status, draft, live_version) VALUES (1, 1, 'Abandoned cart', 'live', '{}', 1)`,
			`INSERT INTO flow_versions (shop_id, flow_id, version, definition) VALUES (1, 1, 1, '{"steps": [{"id": "email-1", "type": "send_email", "name": "Reminder"}]}')`,
			// 20 emails per customer over 120 days: 12 campaigns, 8 flow emails.
			`INSERT INTO email_messages (shop_id, customer_id, to_email, kind, dedupe_key, marketing, status, sent_at,
				campaign_id, campaign_variant, flow_id, flow_version, flow_run_id, flow_step, template_id)
			 SELECT 1, g, 'user' || g || '@example.com', CASE WHEN k % 5 < 3 THEN 'campaign' ELSE 'flow' END,
			        CASE WHEN k % 5 < 3 THEN 'campaign:' || (1 + k) || ':customer:' || g ELSE 'flow_run:' || (g * 20 + k) || ':step:email-1' END,
			        true, 'delivered', now() - interval '120 days' + k * interval '6 days' + (g % 86400) * interval '1 second',
			        CASE WHEN k % 5 < 3 THEN 1 + k END, CASE WHEN k % 5 < 3 THEN (ARRAY['A', 'B', ''])[1 + g % 3] END,
			        CASE WHEN k % 5 >= 3 THEN 1 END, CASE WHEN k % 5 >= 3 THEN 1 END, CASE WHEN k % 5 >= 3 THEN g * 20 + k END,
			        CASE WHEN k % 5 >= 3 THEN 'email-1' END, 1 + k % 4
			 FROM generate_series(1, $1) g, generate_series(0, 19) k ORDER BY g, k`,
			`INSERT INTO email_events (shop_id, message_id, source, kind, user_agent, machine, occurred_at)
			 SELECT 1, m.id, 'sendgrid', 'delivered', '', false, m.sent_at + interval '20 seconds' FROM email_messages m`,
			`INSERT INTO email_events (shop_id, message_id, source, kind, user_agent, machine, occurred_at)
			 SELECT 1, m.id, 'pixel', 'open', 'Mozilla/5.0', true, m.sent_at + interval '1 minute' FROM email_messages m WHERE m.id % 100 < 35`,
			`INSERT INTO email_events (shop_id, message_id, source, kind, user_agent, machine, occurred_at)
			 SELECT 1, m.id, 'pixel', 'open', 'Mozilla/5.0 (iPhone; CPU iPhone OS 17_1 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Mobile/15E148', false,
			        m.sent_at + ((m.id * 7919 + k * 104729) % 345600) * interval '1 second'
			 FROM email_messages m, generate_series(1, 3) k WHERE m.id % 100 BETWEEN 40 AND 89 AND k <= 1 + m.id % 3`,
			`INSERT INTO email_events (shop_id, message_id, source, kind, link_index, url, user_agent, machine, occurred_at)
			 SELECT 1, m.id, 'redirect', 'click', 0, 'https://bench.example/sale', 'Mozilla/5.0 (Windows NT 10.0; Win64; x64) Chrome/120.0',
			        k = 3, m.sent_at + ((m.id * 7919 + k * 1299709) % 345600 + 60) * interval '1 second'
			 FROM email_messages m, generate_series(1, 3) k WHERE m.id % 100 BETWEEN 50 AND 69`,
			// 5 orders per customer over the same 120 days.
			`INSERT INTO orders (shop_id, shopify_id, name, customer_id, currency, subtotal_price, total_price, financial_status,
				processed_at, shopify_created_at)
			 SELECT 1, g * 10 + k, '#' || (g * 10 + k), g, 'USD', 20 + (g * k) % 180, 25 + (g * k) % 180, 'paid',
			        now() - ((g * 7919 + k * 104729) % (120 * 86400)) * interval '1 second',
			        now() - ((g * 7919 + k * 104729) % (120 * 86400)) * interval '1 second'
			 FROM generate_series(1, $1) g, generate_series(1, 5) k`,
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
		b.Logf("seeded in %s", time.Since(start).Round(time.Second))
	}
	var counts struct {
		Orders, Messages, Events int64
	}
	d.Get(&counts.Orders, `SELECT count(*) FROM orders`)
	d.Get(&counts.Messages, `SELECT count(*) FROM email_messages`)
	d.Get(&counts.Events, `SELECT count(*) FROM email_events`)
	d.MustExec(`TRUNCATE order_attributions, report_orders_daily, customer_signals`)

	// One order per transaction, as a webhook's order arrives alone: the
	// handler's work for its order_placed signal (what attribution adds to
	// the consumer's transaction), and the whole transaction with its
	// commit.
	var sample []struct {
		ID       int64 `db:"shopify_id"`
		Customer int64 `db:"customer_id"`
	}
	if err := d.Select(&sample, `SELECT shopify_id, customer_id FROM orders ORDER BY random() LIMIT 1000`); err != nil {
		b.Fatal(err)
	}
	times := make([]time.Duration, 0, len(sample))
	whole := make([]time.Duration, 0, len(sample))
	// The machine's own latency, for scale: one trivial statement in a
	// transaction.
	trivial := make([]time.Duration, 0, 200)
	for range 200 {
		tx, err := d.BeginTxx(ctx, nil)
		if err != nil {
			b.Fatal(err)
		}
		t := time.Now()
		if _, err := tx.ExecContext(ctx, `SELECT 1 WHERE $1::bigint > 0`, 1); err != nil {
			b.Fatal(err)
		}
		trivial = append(trivial, time.Since(t))
		tx.Rollback()
	}
	for _, o := range sample {
		t := time.Now()
		tx, err := d.BeginTxx(ctx, nil)
		if err != nil {
			b.Fatal(err)
		}
		h := time.Now()
		if err := (reports.Handler{}).HandleSignals(ctx, tx, &signals.Batch{ShopID: 1, CustomerID: o.Customer, Now: time.Now(),
			Signals: []signals.Signal{{ShopID: 1, CustomerID: o.Customer, Kind: signals.OrderPlaced, Ref: strconv.FormatInt(o.ID, 10)}}}); err != nil {
			b.Fatal(err)
		}
		times = append(times, time.Since(h))
		if err := tx.Commit(); err != nil {
			b.Fatal(err)
		}
		whole = append(whole, time.Since(t))
	}
	slices.Sort(times)
	slices.Sort(whole)
	slices.Sort(trivial)
	pct := func(s []time.Duration, p float64) time.Duration {
		return s[int(float64(len(s)-1)*p)].Round(10 * time.Microsecond)
	}
	var attributed, clicks int
	d.Get(&attributed, `SELECT count(*) FROM order_attributions`)
	d.Get(&clicks, `SELECT count(*) FROM order_attributions WHERE touch = 'click'`)
	b.Logf("store: %d customers, %d orders, %d emails, %d email events", n, counts.Orders, counts.Messages, counts.Events)
	b.Logf("one order at a time (%d orders, %d attributed, %d by a click): the handler's work p50 %s, p95 %s, p99 %s, max %s; with begin and commit p50 %s, p95 %s",
		len(sample), attributed, clicks, pct(times, 0.5), pct(times, 0.95), pct(times, 0.99), times[len(times)-1].Round(10*time.Microsecond),
		pct(whole, 0.5), pct(whole, 0.95))
	b.Logf("for scale, one trivial statement on this machine now: p50 %s, p95 %s", pct(trivial, 0.5), pct(trivial, 0.95))
	b.ReportMetric(float64(pct(times, 0.95).Microseconds())/1000, "p95-ms/order")

	// Through the consumer: an order_placed signal for one order of each of
	// 5,000 other customers.
	queue := func() int {
		d.MustExec(`INSERT INTO customer_signals (shop_id, customer_id, kind, ref, data, at)
			SELECT 1, o.customer_id, 'order_placed', o.shopify_id::text, '{}', now() FROM orders o
			WHERE o.shopify_id % 10 = 3 AND o.customer_id % GREATEST($1::bigint / 5000, 1) = 0 ORDER BY o.customer_id LIMIT 5000`, n)
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
	before := attributed
	_, handled := drain(reports.Handler{})
	d.Get(&attributed, `SELECT count(*) FROM order_attributions`)
	b.Logf("consumer, %d order signals: discarding %s (%.2f ms/order); attributing %s (%.2f ms/order, %d more attributed)",
		total, discard.Round(time.Millisecond), float64(discard.Microseconds())/1000/float64(total),
		handled.Round(time.Millisecond), float64(handled.Microseconds())/1000/float64(total), attributed-before)
}
