package reports_test

import (
	"context"
	"fmt"
	"math/rand/v2"
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
