package orders_test

import (
	"context"
	"encoding/json"
	"errors"
	"math/rand/v2"
	"slices"
	"sort"
	"testing"
	"time"

	"github.com/jmoiron/sqlx"
	"github.com/shopspring/decimal"

	"github.com/cartwheel/cartwheel/app/customers"
	"github.com/cartwheel/cartwheel/app/db"
	"github.com/cartwheel/cartwheel/app/db/dbtest"
	"github.com/cartwheel/cartwheel/app/orders"
)

func setup(t *testing.T) (*sqlx.DB, *orders.Store, int64) {
	d := dbtest.New(t)
	var shopID int64
	d.Get(&shopID, "INSERT INTO shops (domain) VALUES ('figures.myshopify.com') RETURNING id")
	return d, orders.NewStore(d, customers.NewStore(d)), shopID
}

func tx(t *testing.T, d *sqlx.DB, fn func(tx *sqlx.Tx) error) {
	t.Helper()
	if err := db.InTx(context.Background(), d, fn); err != nil {
		t.Fatal(err)
	}
}

func ptr(t time.Time) *time.Time { return &t }

type want struct {
	n           int
	spent       decimal.Decimal
	first, last time.Time
	productsQty map[int64]int
}

// Random orders, refunds, cancellations and test orders for a few hundred
// customers, written in batches through the same path as an import, then
// a few updated one by one as webhooks would: the stored figures must equal
// a straightforward computation in Go.
func TestDerivedFiguresMatchIndependentTotals(t *testing.T) {
	d, s, shopID := setup(t)
	ctx := context.Background()
	rng := rand.New(rand.NewPCG(7, 11))
	base := time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC)

	type ord struct {
		o       orders.Order
		refunds []decimal.Decimal
	}
	var all []ord
	next := int64(1)
	for c := int64(1); c <= 300; c++ {
		for k := rng.IntN(6); k > 0; k-- { // skewed: many with none or one
			o := orders.Order{
				ShopifyID: next, ShopifyCustomerID: c, Email: "", Currency: "EUR",
				Total:       decimal.New(int64(rng.IntN(20000)+100), -2),
				ProcessedAt: ptr(base.Add(time.Duration(rng.IntN(700*24)) * time.Hour)),
				UpdatedAt:   ptr(base), Test: rng.IntN(20) == 0,
			}
			if rng.IntN(10) == 0 {
				o.CancelledAt = ptr(o.ProcessedAt.Add(time.Hour))
			}
			for li := 0; li < 1+rng.IntN(3); li++ {
				o.LineItems = append(o.LineItems, orders.LineItem{ShopifyID: next*10 + int64(li), ProductID: int64(1 + rng.IntN(15)),
					Quantity: 1 + rng.IntN(3), Price: decimal.New(500, -2)})
			}
			var refunds []decimal.Decimal
			if rng.IntN(5) == 0 {
				r := o.Total.Mul(decimal.NewFromFloat(0.3)).Round(2)
				refunds = append(refunds, r)
				o.Refunds = append(o.Refunds, orders.Refund{ShopifyID: next, OrderID: next, Amount: r})
			}
			all = append(all, ord{o: o, refunds: refunds})
			next++
		}
	}
	for i := 0; i < len(all); i += 250 {
		end := min(i+250, len(all))
		batch := make([]orders.Order, 0, end-i)
		for _, x := range all[i:end] {
			batch = append(batch, x.o)
		}
		tx(t, d, func(tx *sqlx.Tx) error {
			_, err := s.Upsert(ctx, tx, shopID, batch)
			return err
		})
	}
	if err := s.RefreshAllCustomers(ctx, shopID); err != nil {
		t.Fatal(err)
	}
	// Then webhooks: a refund larger than the order, and a cancellation.
	big := all[3].o
	tx(t, d, func(tx *sqlx.Tx) error {
		ids, err := s.AddRefunds(ctx, tx, shopID, []orders.Refund{{ShopifyID: 999999, OrderID: big.ShopifyID, Amount: big.Total.Add(decimal.NewFromInt(1000))}})
		if err != nil {
			return err
		}
		return s.RefreshCustomers(ctx, tx, shopID, ids)
	})
	all[3].refunds = append(all[3].refunds, big.Total.Add(decimal.NewFromInt(1000)))
	cancel := all[10].o
	cancel.CancelledAt = ptr(base.Add(1000 * 24 * time.Hour))
	cancel.UpdatedAt = ptr(base.Add(time.Hour))
	tx(t, d, func(tx *sqlx.Tx) error {
		ids, err := s.Upsert(ctx, tx, shopID, []orders.Order{cancel})
		if err != nil {
			return err
		}
		return s.RefreshCustomers(ctx, tx, shopID, ids)
	})
	all[10].o = cancel

	// The independent computation.
	exp := map[int64]*want{}
	for _, x := range all {
		w := exp[x.o.ShopifyCustomerID]
		if w == nil {
			w = &want{productsQty: map[int64]int{}}
			exp[x.o.ShopifyCustomerID] = w
		}
		if x.o.CancelledAt != nil || x.o.Test {
			continue
		}
		refunded := decimal.Zero
		for _, r := range x.refunds {
			refunded = refunded.Add(r)
		}
		if refunded.GreaterThan(x.o.Total) {
			refunded = x.o.Total
		}
		w.n++
		w.spent = w.spent.Add(x.o.Total.Sub(refunded))
		if w.first.IsZero() || x.o.ProcessedAt.Before(w.first) {
			w.first = *x.o.ProcessedAt
		}
		if x.o.ProcessedAt.After(w.last) {
			w.last = *x.o.ProcessedAt
		}
		for _, li := range x.o.LineItems {
			w.productsQty[li.ProductID] += li.Quantity
		}
	}
	type row struct {
		ShopifyID int64           `db:"shopify_id"`
		N         int             `db:"orders_count"`
		Spent     decimal.Decimal `db:"total_spent"`
		AOV       decimal.Decimal `db:"average_order_value"`
		First     *time.Time      `db:"first_order_at"`
		Last      *time.Time      `db:"last_order_at"`
		Products  string          `db:"products"`
	}
	var rows []row
	if err := d.Select(&rows, `
		SELECT c.shopify_id, c.orders_count, c.total_spent, c.average_order_value, c.first_order_at, c.last_order_at,
		       COALESCE((SELECT json_object_agg(product_id, quantity) FROM customer_products p WHERE p.customer_id = c.id), '{}')::text AS products
		FROM customers c WHERE c.shop_id = $1`, shopID); err != nil {
		t.Fatal(err)
	}
	if len(rows) != len(exp) {
		t.Fatalf("%d profiles, want %d", len(rows), len(exp))
	}
	checked := 0
	for _, r := range rows {
		w := exp[r.ShopifyID]
		if r.N != w.n || !r.Spent.Equal(w.spent) {
			t.Fatalf("customer %d: count %d spent %s, want %d %s", r.ShopifyID, r.N, r.Spent, w.n, w.spent)
		}
		if w.n > 0 {
			if !r.AOV.Equal(w.spent.Div(decimal.NewFromInt(int64(w.n))).Round(2)) || !r.First.Equal(w.first) || !r.Last.Equal(w.last) {
				t.Fatalf("customer %d: aov %s first %v last %v", r.ShopifyID, r.AOV, r.First, r.Last)
			}
			checked++
		} else if r.First != nil || !r.AOV.IsZero() {
			t.Fatalf("customer %d without counted orders has figures", r.ShopifyID)
		}
		var got map[string]int
		json.Unmarshal([]byte(r.Products), &got)
		var a, b []string
		for k, v := range got {
			a = append(a, k+":"+decimal.NewFromInt(int64(v)).String())
		}
		for k, v := range w.productsQty {
			b = append(b, decimal.NewFromInt(k).String()+":"+decimal.NewFromInt(int64(v)).String())
		}
		sort.Strings(a)
		sort.Strings(b)
		if !slices.Equal(a, b) {
			t.Fatalf("customer %d products bought %v, want %v", r.ShopifyID, a, b)
		}
	}
	if checked < 100 {
		t.Fatalf("only %d customers had orders: the data is too thin to mean much", checked)
	}
}

func TestValidation(t *testing.T) {
	d, s, shopID := setup(t)
	ok := orders.Order{ShopifyID: 1, Currency: "USD", Total: decimal.NewFromInt(5)}
	for name, mod := range map[string]func(o *orders.Order){
		"no id":            func(o *orders.Order) { o.ShopifyID = 0 },
		"unknown currency": func(o *orders.Order) { o.Currency = "XYZ" },
		"lower case":       func(o *orders.Order) { o.Currency = "usd" },
		"negative tax":     func(o *orders.Order) { o.Tax = decimal.NewFromInt(-1) },
		"negative refund": func(o *orders.Order) {
			o.Refunds = []orders.Refund{{ShopifyID: 1, OrderID: 1, Amount: decimal.NewFromInt(-1)}}
		},
	} {
		o := ok
		mod(&o)
		err := db.InTx(context.Background(), d, func(tx *sqlx.Tx) error {
			_, err := s.Upsert(context.Background(), tx, shopID, []orders.Order{o})
			return err
		})
		if !errors.Is(err, orders.ErrInvalid) {
			t.Errorf("%s: want ErrInvalid, got %v", name, err)
		}
	}
	var n int
	d.Get(&n, "SELECT count(*) FROM orders")
	if n != 0 {
		t.Fatal("invalid orders stored")
	}
	bad := orders.Checkout{Token: "t", Kind: "checkout", Currency: "ABC"}
	err := db.InTx(context.Background(), d, func(tx *sqlx.Tx) error {
		return s.UpsertCheckouts(context.Background(), tx, shopID, []orders.Checkout{bad})
	})
	if !errors.Is(err, orders.ErrInvalid) {
		t.Fatalf("checkout with unknown currency: %v", err)
	}
}

// A refund on an order with no customer (guest checkout, or a redacted
// person) still lowers the order's refunded total.
func TestRefundOnGuestOrder(t *testing.T) {
	d, s, shopID := setup(t)
	ctx := context.Background()
	tx(t, d, func(tx *sqlx.Tx) error {
		_, err := s.Upsert(ctx, tx, shopID, []orders.Order{{ShopifyID: 1, Currency: "USD", Total: decimal.NewFromInt(30)}})
		return err
	})
	tx(t, d, func(tx *sqlx.Tx) error {
		ids, err := s.AddRefunds(ctx, tx, shopID, []orders.Refund{{ShopifyID: 5, OrderID: 1, Amount: decimal.NewFromInt(12)}})
		if len(ids) != 0 {
			t.Errorf("no profile should be touched, got %v", ids)
		}
		return err
	})
	var refunded decimal.Decimal
	d.Get(&refunded, `SELECT total_refunded FROM orders WHERE shopify_id = 1`)
	if !refunded.Equal(decimal.NewFromInt(12)) {
		t.Fatalf("refunded %s", refunded)
	}
}
