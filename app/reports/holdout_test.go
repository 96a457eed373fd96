package reports_test

import (
	"context"
	"fmt"
	"math/rand/v2"
	"strings"
	"testing"
	"time"

	"github.com/shopspring/decimal"

	"github.com/cartwheel/cartwheel/app/db/dbtest"
	"github.com/cartwheel/cartwheel/app/reports"
)

// Holdout incrementality equals a direct computation on random data:
// recipients mailed, skipped and held out; orders before, inside and
// after the window (and on its edges), refunded, cancelled, test orders,
// orders of customers outside the campaign and of another shop.
func TestIncrementalityMatchesDirectComputation(t *testing.T) {
	d := dbtest.New(t)
	ctx := context.Background()
	id := func(q string, args ...any) int64 {
		t.Helper()
		var v int64
		if err := d.Get(&v, q, args...); err != nil {
			t.Fatal(err)
		}
		return v
	}
	shop := id(`INSERT INTO shops (domain, name, attribution_click_days) VALUES ('inc.myshopify.com', 'I', 4) RETURNING id`)
	other := id(`INSERT INTO shops (domain, name) VALUES ('other.myshopify.com', 'O') RETURNING id`)
	start := time.Date(2026, 9, 10, 12, 0, 0, 0, time.UTC)
	end := start.AddDate(0, 0, 4)
	camp := id(`INSERT INTO campaigns (shop_id, name, status, started_at) VALUES ($1, 'Sale', 'sent', $2) RETURNING id`, shop, start)
	st := &reports.Store{DB: d}
	if _, ok, err := st.CampaignIncrementality(ctx, shop, camp); err != nil || ok {
		t.Fatalf("no recipients yet: ok %v, %v", ok, err)
	}

	r := rand.New(rand.NewPCG(13, 1))
	var mailed, held int64
	mailedSales, heldSales := decimal.Zero, decimal.Zero
	next := int64(1)
	for i := range 300 {
		c := id(`INSERT INTO customers (shop_id, email) VALUES ($1, $2) RETURNING id`, shop, fmt.Sprintf("c%d@example.com", i))
		group := "" // not a recipient
		switch p := r.IntN(10); {
		case p < 2:
			group = "holdout"
			d.MustExec(`INSERT INTO campaign_recipients (shop_id, campaign_id, customer_id, position, variant, status, reason)
				VALUES ($1, $2, $3, $4, 'holdout', 'skipped', 'holdout')`, shop, camp, c, i)
			held++
		case p < 8:
			group = "mailed"
			d.MustExec(`INSERT INTO campaign_recipients (shop_id, campaign_id, customer_id, position, variant, status)
				VALUES ($1, $2, $3, $4, $5, 'sent')`, shop, camp, c, i, []string{"A", "B", ""}[r.IntN(3)])
			mailed++
		case p < 9:
			group = "skipped" // in the audience, never mailed: in neither group
			d.MustExec(`INSERT INTO campaign_recipients (shop_id, campaign_id, customer_id, position, status, reason)
				VALUES ($1, $2, $3, $4, 'skipped', 'suppressed')`, shop, camp, c, i)
		}
		for range r.IntN(4) {
			var at time.Time
			switch p := r.IntN(8); {
			case p == 0:
				at = start
			case p == 1:
				at = end
			case p == 2:
				at = end.Add(time.Microsecond)
			case p == 3:
				at = start.Add(-time.Microsecond)
			default:
				at = start.Add(time.Duration(r.Int64N(int64(8 * 24 * time.Hour)))).Add(-2 * 24 * time.Hour).Truncate(time.Microsecond)
			}
			total := decimal.New(int64(100+r.IntN(30000)), -2)
			refunded := decimal.Zero
			if r.IntN(4) == 0 {
				refunded = decimal.New(int64(r.IntN(int(total.IntPart()*100+1))), -2)
			}
			test := r.IntN(15) == 0
			var cancelled any
			status, paid := "paid", total.Sub(refunded)
			if r.IntN(6) == 0 {
				cancelled = at.Add(time.Hour)
				if refunded.IsZero() && r.IntN(2) == 0 {
					status, paid = "voided", decimal.Zero // cancelled before payment
				}
			}
			next++
			processed := any(at)
			created := at
			if r.IntN(5) == 0 {
				processed = nil // the order's time is then Shopify's created_at
			}
			d.MustExec(`INSERT INTO orders (shop_id, shopify_id, customer_id, processed_at, shopify_created_at, total_price, total_refunded, test, cancelled_at, financial_status)
				VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)`, shop, next, c, processed, created, total, refunded, test, cancelled, status)
			if test || at.Before(start) || at.After(end) {
				continue
			}
			switch group {
			case "holdout":
				heldSales = heldSales.Add(paid)
			case "mailed":
				mailedSales = mailedSales.Add(paid)
			}
		}
	}
	// Another shop's order, by an id a recipient could share: never read.
	d.MustExec(`INSERT INTO orders (shop_id, shopify_id, processed_at, total_price) VALUES ($1, 1, $2, 999)`, other, start.Add(time.Hour))

	got, ok, err := st.CampaignIncrementality(ctx, shop, camp)
	if err != nil || !ok {
		t.Fatalf("incrementality: ok %v, %v", ok, err)
	}
	if got.Mailed != mailed || got.Held != held || !got.MailedSales.Equal(mailedSales) || !got.HeldSales.Equal(heldSales) ||
		!got.From.Equal(start) || !got.To.Equal(end) || got.WindowDays != 4 {
		t.Fatalf("got %d mailed %s, %d held %s, %s–%s (%d days); want %d %s, %d %s, %s–%s", got.Mailed, got.MailedSales, got.Held, got.HeldSales,
			got.From, got.To, got.WindowDays, mailed, mailedSales, held, heldSales, start, end)
	}
	if held < 30 || mailed < 100 || heldSales.IsZero() || mailedSales.IsZero() {
		t.Fatalf("random data too thin: %d held (%s), %d mailed (%s)", held, heldSales, mailed, mailedSales)
	}
	wantLift := mailedSales.DivRound(decimal.NewFromInt(mailed), 16).Sub(heldSales.DivRound(decimal.NewFromInt(held), 16))
	if !got.Lift().Equal(wantLift.Round(2)) || !got.Incremental().Equal(wantLift.Mul(decimal.NewFromInt(mailed)).Round(2)) ||
		!got.MailedPerRecipient().Equal(mailedSales.DivRound(decimal.NewFromInt(mailed), 2)) ||
		!got.HeldPerRecipient().Equal(heldSales.DivRound(decimal.NewFromInt(held), 2)) {
		t.Errorf("lift %s incremental %s per recipient %s / %s; want lift %s", got.Lift(), got.Incremental(),
			got.MailedPerRecipient(), got.HeldPerRecipient(), wantLift)
	}

	// A campaign without a holdout has no incrementality line.
	plain := id(`INSERT INTO campaigns (shop_id, name, status, started_at) VALUES ($1, 'Plain', 'sent', $2) RETURNING id`, shop, start)
	d.MustExec(`INSERT INTO campaign_recipients (shop_id, campaign_id, customer_id, position, status)
		SELECT $1, $2, id, 0, 'sent' FROM customers WHERE shop_id = $1 LIMIT 5`, shop, plain)
	if _, ok, err := st.CampaignIncrementality(ctx, shop, plain); err != nil || ok {
		t.Errorf("a campaign without a holdout: ok %v, %v", ok, err)
	}
}

// A flow's holdout comparison worked by hand (shop in Paris, click window
// 2 days, range 10–12 Sep 2026, now 15 Sep 12:00 UTC):
//
//	mailed (4 runs): M1 50.00 (its 20.00 after end + 2 days left out),
//	  M2 30.00 − 10.00 refunded (its test order left out), M3 nothing,
//	  M6 still running, 10.00 an hour ago → 80.00, 20.00 per run;
//	held out (2): H1 15.00, H2 a voided 40.00 (and an order before it
//	  started) → 15.00, 7.50 per run;
//	left out: a run that was only deferred, a held-out run that never
//	  reached an email, runs that started just outside the range (in
//	  Paris), a run of another flow.
//
// Lift 20.00 − 7.50 = 12.50 per recipient; × 4 mailed = 50.00.
func TestFlowIncrementalityWorkedExample(t *testing.T) {
	d := dbtest.New(t)
	ctx := context.Background()
	id := func(q string, args ...any) int64 {
		t.Helper()
		var v int64
		if err := d.Get(&v, q, args...); err != nil {
			t.Fatal(err)
		}
		return v
	}
	shop := id(`INSERT INTO shops (domain, name, attribution_click_days, iana_timezone) VALUES ('finc.myshopify.com', 'F', 2, 'Europe/Paris') RETURNING id`)
	flow := id(`INSERT INTO flows (shop_id, name, draft) VALUES ($1, 'Welcome', '{}') RETURNING id`, shop)
	otherFlow := id(`INSERT INTO flows (shop_id, name, draft) VALUES ($1, 'Other', '{}') RETURNING id`, shop)
	ts := func(s string) time.Time {
		v, err := time.Parse("2006-01-02 15:04", s)
		if err != nil {
			t.Fatal(err)
		}
		return v
	}
	n := 0
	run := func(f int64, held bool, outcome, reason string, started string, ended *time.Time) int64 {
		n++
		c := id(`INSERT INTO customers (shop_id, email) VALUES ($1, $2) RETURNING id`, shop, fmt.Sprintf("f%d@example.com", n))
		status := "completed"
		if ended == nil {
			status = "active"
		}
		r := id(`INSERT INTO flow_runs (shop_id, flow_id, version, customer_id, status, started_at, ended_at, holdout)
			VALUES ($1, $2, 1, $3, $4, $5, $6, $7) RETURNING id`, shop, f, c, status, ts(started), ended, held)
		if outcome != "" {
			d.MustExec(`INSERT INTO flow_run_steps (shop_id, flow_id, run_id, step_id, outcome, reason, at) VALUES ($1, $2, $3, 'e1', 'entered', '', $4),
				($1, $2, $3, 'e1', $5, $6, $4)`, shop, f, r, ts(started), outcome, reason)
		}
		return c
	}
	orderSeq := int64(0)
	order := func(c int64, at string, total, refunded string, status string, test bool) {
		orderSeq++
		d.MustExec(`INSERT INTO orders (shop_id, shopify_id, customer_id, total_price, total_refunded, financial_status, test, processed_at)
			VALUES ($1, $2, $3, $4, $5, $6, $7, $8)`, shop, orderSeq, c, total, refunded, status, test, ts(at))
	}
	end := ts("2026-09-11 10:00")
	m1 := run(flow, false, "sent", "", "2026-09-10 10:00", &end)
	order(m1, "2026-09-12 09:00", "50.00", "0", "paid", false)
	order(m1, "2026-09-14 09:00", "20.00", "0", "paid", false) // after end + 2 days
	m2 := run(flow, false, "sent", "", "2026-09-10 10:00", &end)
	order(m2, "2026-09-10 18:00", "30.00", "10.00", "partially_refunded", false)
	order(m2, "2026-09-10 19:00", "99.00", "0", "paid", true)
	run(flow, false, "sent", "", "2026-09-11 10:00", &end) // M3: nothing bought
	m6 := run(flow, false, "sent", "", "2026-09-12 20:00", nil)
	order(m6, "2026-09-15 11:00", "10.00", "0", "paid", false)
	h1 := run(flow, true, "skipped", "holdout", "2026-09-10 10:00", &end)
	order(h1, "2026-09-11 12:00", "15.00", "0", "paid", false)
	h2 := run(flow, true, "skipped", "holdout", "2026-09-10 10:00", &end)
	order(h2, "2026-09-10 11:00", "40.00", "0", "voided", false)
	order(h2, "2026-09-10 09:00", "25.00", "0", "paid", false) // before it started
	// Left out.
	order(run(flow, false, "deferred", "frequency_cap", "2026-09-10 10:00", &end), "2026-09-10 12:00", "1000.00", "0", "paid", false)
	order(run(flow, true, "", "", "2026-09-10 10:00", &end), "2026-09-10 12:00", "500.00", "0", "paid", false)
	order(run(flow, false, "sent", "", "2026-09-09 21:00", &end), "2026-09-10 12:00", "700.00", "0", "paid", false) // 23:00 on the 9th in Paris
	order(run(flow, false, "sent", "", "2026-09-12 22:30", &end), "2026-09-13 12:00", "800.00", "0", "paid", false) // 00:30 on the 13th in Paris
	order(run(otherFlow, false, "sent", "", "2026-09-10 10:00", &end), "2026-09-10 12:00", "900.00", "0", "paid", false)

	st := &reports.Store{DB: d}
	rg := reports.Range{From: time.Date(2026, 9, 10, 0, 0, 0, 0, time.UTC), To: time.Date(2026, 9, 12, 0, 0, 0, 0, time.UTC)}
	inc, ok, err := st.FlowIncrementality(ctx, shop, flow, rg, ts("2026-09-15 12:00"))
	if err != nil || !ok {
		t.Fatalf("ok %v, %v", ok, err)
	}
	if inc.Mailed != 4 || inc.Held != 2 || inc.MailedSales.StringFixed(2) != "80.00" || inc.HeldSales.StringFixed(2) != "15.00" || inc.WindowDays != 2 {
		t.Fatalf("groups: %+v", inc)
	}
	for name, got := range map[string]string{"mailed per recipient": inc.MailedPerRecipient().StringFixed(2) + "/20.00",
		"held per recipient": inc.HeldPerRecipient().StringFixed(2) + "/7.50", "lift": inc.Lift().StringFixed(2) + "/12.50",
		"incremental": inc.Incremental().StringFixed(2) + "/50.00"} {
		if g, w, _ := strings.Cut(got, "/"); g != w {
			t.Errorf("%s = %s, want %s", name, g, w)
		}
	}
	// Another range: nobody, no comparison.
	if _, ok, err := st.FlowIncrementality(ctx, shop, flow, reports.Range{From: rg.From.AddDate(0, 1, 0), To: rg.To.AddDate(0, 1, 0)}, ts("2026-09-15 12:00")); err != nil || ok {
		t.Fatalf("empty range: ok %v, %v", ok, err)
	}
}
