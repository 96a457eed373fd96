package seed_test

import (
	"bytes"
	"context"
	"testing"

	"github.com/cartwheel/cartwheel/app/db/dbtest"
	"github.com/cartwheel/cartwheel/app/secretbox"
	"github.com/cartwheel/cartwheel/app/seed"
	"github.com/cartwheel/cartwheel/app/segments"
	"github.com/cartwheel/cartwheel/app/shops"
)

func TestDemoShopIsInstalledAndRerunnable(t *testing.T) {
	d := dbtest.New(t)
	box, _ := secretbox.New(bytes.Repeat([]byte{5}, 32))
	st := shops.NewStore(d, box)
	ctx := context.Background()
	for i := 0; i < 2; i++ {
		sh, err := seed.DemoShop(ctx, d, st, "demo.myshopify.com")
		if err != nil {
			t.Fatal(err)
		}
		if !sh.Installed() || sh.Name != "Demo Store" || sh.IanaTimezone != "America/New_York" {
			t.Fatalf("demo shop: %+v", sh)
		}
	}
	var n int
	d.Get(&n, "SELECT count(*) FROM shops")
	if n != 1 {
		t.Fatalf("seeding twice made %d shops", n)
	}
	var presets int
	d.Get(&presets, "SELECT count(*) FROM segments WHERE preset_key IS NOT NULL")
	if presets == 0 || presets != len(segments.Presets()) {
		t.Fatalf("the demo shop should have the %d preset segments once, has %d", len(segments.Presets()), presets)
	}
	settings, _ := st.Settings(ctx, 1)
	if len(settings.Missing()) != 3 {
		t.Fatal("the demo shop should start with the settings checklist open")
	}
}

func TestStoreIsRealisticAndRerunnable(t *testing.T) {
	d := dbtest.New(t)
	box, _ := secretbox.New(bytes.Repeat([]byte{5}, 32))
	sh, err := seed.DemoShop(context.Background(), d, shops.NewStore(d, box), "demo.myshopify.com")
	if err != nil {
		t.Fatal(err)
	}
	count := func(q string) int {
		t.Helper()
		var n int
		if err := d.Get(&n, q, sh.ID); err != nil {
			t.Fatal(err)
		}
		return n
	}
	if n := count(`SELECT count(*) FROM customers WHERE shop_id = $1`); n != seed.DemoCustomers {
		t.Fatalf("demo customers: %d", n)
	}
	repeat := count(`SELECT count(*) FROM customers WHERE shop_id = $1 AND orders_count > 1`)
	never := count(`SELECT count(*) FROM customers WHERE shop_id = $1 AND orders_count = 0`)
	if repeat < 10 || never < 40 {
		t.Fatalf("order histories not skewed: %d repeat buyers, %d never ordered", repeat, never)
	}
	for name, q := range map[string]string{
		"subscribed":      `SELECT count(*) FROM customers WHERE shop_id = $1 AND email_consent = 'subscribed'`,
		"unsubscribed":    `SELECT count(*) FROM customers WHERE shop_id = $1 AND email_consent = 'unsubscribed'`,
		"refunds":         `SELECT count(*) FROM refunds WHERE shop_id = $1`,
		"checkouts":       `SELECT count(*) FROM checkouts WHERE shop_id = $1`,
		"collections":     `SELECT count(*) FROM products WHERE shop_id = $1 AND cardinality(collection_ids) > 0`,
		"priced products": `SELECT count(*) FROM products WHERE shop_id = $1 AND price_min IS NOT NULL`,
		"line items":      `SELECT count(*) FROM order_line_items WHERE shop_id = $1`,
		"products bought": `SELECT count(*) FROM customer_products WHERE shop_id = $1`,
	} {
		if count(q) == 0 {
			t.Errorf("no %s in the synthetic store", name)
		}
	}
	before := count(`SELECT count(*) FROM orders WHERE shop_id = $1`)
	if err := seed.Store(context.Background(), d, sh.ID, seed.StoreOptions{Customers: seed.DemoCustomers, Seed: 1}); err != nil {
		t.Fatal(err)
	}
	if after := count(`SELECT count(*) FROM orders WHERE shop_id = $1`); after != before {
		t.Fatalf("reseeding with the same seed added orders: %d → %d", before, after)
	}
}

func TestBulkCustomers(t *testing.T) {
	d := dbtest.New(t)
	var shop int64
	d.Get(&shop, `INSERT INTO shops (domain) VALUES ('bulk.myshopify.com') RETURNING id`)
	if err := seed.BulkCustomers(context.Background(), d, shop, 1000, nil); err != nil {
		t.Fatal(err)
	}
	var n, buyers int
	d.Get(&n, `SELECT count(*) FROM customers WHERE shop_id = $1`, shop)
	d.Get(&buyers, `SELECT count(*) FROM customers WHERE shop_id = $1 AND orders_count > 0 AND total_spent > 0`, shop)
	if n != 1000 || buyers < 500 || buyers > 700 {
		t.Fatalf("bulk: %d customers, %d buyers", n, buyers)
	}
}
