package reports_test

import (
	"context"
	"math/rand/v2"
	"sync"
	"testing"
	"time"

	"github.com/jmoiron/sqlx"
	"github.com/shopspring/decimal"

	"github.com/cartwheel/cartwheel/app/orders"
	"github.com/cartwheel/cartwheel/app/reports"
	"github.com/cartwheel/cartwheel/app/signals"
	"github.com/cartwheel/cartwheel/app/signals/signalstest"
)

// Orders and sales of random ranges and scopes (all email, all campaigns,
// a campaign, a variant, the flow, a step, a template) equal the rule's
// model computed from the raw orders and events, after orders arrive
// through the orders writer (attribution path) from 4 writers, then random
// refunds and cancellations.
func TestRangeRevenueMatchesModel(t *testing.T) {
	start := time.Date(2026, 10, 1, 0, 0, 0, 0, time.UTC)
	span := 20 * 24 * time.Hour
	w := newAttrWorld(t, 99, 60, 5, 1, start, span)
	r := rand.New(rand.NewPCG(9, 9))
	next := int64(5_000_000)
	for _, c := range w.customers {
		for range 1 + r.IntN(4) {
			next++
			w.placed = append(w.placed, placedOrder{shopifyID: next, customer: c.id,
				at:    start.Add(time.Duration(r.Int64N(int64(span + 7*24*time.Hour)))).Truncate(time.Microsecond),
				total: decimal.New(int64(500+r.IntN(20000)), -2)})
		}
	}
	signalstest.Start(t, w.db, signals.Handlers{Reports: reports.Handler{}})
	signalstest.Start(t, w.db, signals.Handlers{Reports: reports.Handler{}})
	var wg sync.WaitGroup
	for g := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := g; i < len(w.placed); i += 4 {
				w.place(w.placed[i])
			}
		}()
	}
	wg.Wait()
	signalstest.Drain(t, w.db)
	ctx := context.Background()
	refundID := int64(7_000_000)
	for i := range w.placed {
		o := &w.placed[i]
		switch p := r.IntN(10); {
		case p < 3:
			refundID++
			amt := decimal.New(int64(r.IntN(12000)), -2)
			o.refunded = o.refunded.Add(amt)
			w.write(func(tx *sqlx.Tx) ([]orders.Written, error) {
				_, written, err := w.orders.AddRefundsWritten(ctx, tx, w.shop, []orders.Refund{{ShopifyID: refundID, OrderID: o.shopifyID, Amount: amt}})
				return written, err
			})
		case p < 4:
			o.cancelled = true
			w.write(func(tx *sqlx.Tx) ([]orders.Written, error) {
				_, written, err := w.orders.UpsertWritten(ctx, tx, w.shop, []orders.Order{w.orderPayload(*o, o.at.Add(time.Hour))})
				return written, err
			})
		}
	}
	signalstest.Drain(t, w.db)
	model := w.model()
	if len(model) < 20 {
		t.Fatalf("random data too thin: %d attributed orders", len(model))
	}

	st := &reports.Store{DB: w.db}
	scopes := []reports.Scope{{Kind: reports.ScopeAll}, {Kind: reports.ScopeCampaign}, {Kind: reports.ScopeCampaign, ID: w.campaigns[0]},
		{Kind: reports.ScopeCampaign, ID: w.campaigns[1], Variant: "A", VariantSet: true}, {Kind: reports.ScopeFlow, ID: w.flow},
		{Kind: reports.ScopeFlow, ID: w.flow, Variant: "email-2", VariantSet: true}}
	var tmpl int64
	for _, m := range w.msgs {
		if m.template != 0 {
			tmpl = m.template
			scopes = append(scopes, reports.Scope{Kind: reports.ScopeTemplate, ID: tmpl})
			break
		}
	}
	for i := range 42 {
		from := start.AddDate(0, 0, r.IntN(28)-2)
		rg := reports.Range{From: from, To: from.AddDate(0, 0, r.IntN(10))}
		if i < len(scopes) {
			rg = reports.Range{From: start.AddDate(0, 0, -3), To: start.AddDate(0, 0, 40)}
		}
		sc := scopes[i%len(scopes)]
		var wantOrders int64
		wantSales := decimal.Zero
		for _, a := range model {
			m := w.msgs[a.message]
			day, _ := time.Parse(time.DateOnly, a.day)
			if day.Before(rg.From) || day.After(rg.To) {
				continue
			}
			switch sc.Kind {
			case reports.ScopeCampaign:
				if m.kind != "campaign" || (sc.ID != 0 && m.campaign != sc.ID) || (sc.VariantSet && m.variant != sc.Variant) {
					continue
				}
			case reports.ScopeFlow:
				if m.kind != "flow" || m.flow != sc.ID || (sc.VariantSet && m.step != sc.Variant) {
					continue
				}
			case reports.ScopeTemplate:
				if m.template != sc.ID {
					continue
				}
			}
			wantOrders++
			wantSales = wantSales.Add(a.amount)
		}
		got, err := st.Metrics(ctx, w.shop, rg, sc)
		if err != nil {
			t.Fatal(err)
		}
		if got.Totals.Orders != wantOrders || !got.Totals.Sales.Equal(wantSales) {
			t.Errorf("range %s…%s scope %+v: %d orders, %s sales; want %d, %s", rg.From.Format(time.DateOnly), rg.To.Format(time.DateOnly),
				sc, got.Totals.Orders, got.Totals.Sales, wantOrders, wantSales)
		}
		if i < len(scopes) && wantOrders == 0 {
			t.Errorf("scope %+v has no attributed orders: the test would prove nothing", sc)
		}
	}
}
