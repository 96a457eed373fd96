package catalog_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/jmoiron/sqlx"
	"github.com/shopspring/decimal"

	"github.com/cartwheel/cartwheel/app/catalog"
	"github.com/cartwheel/cartwheel/app/db"
	"github.com/cartwheel/cartwheel/app/db/dbtest"
)

func ts(s string) *time.Time        { v, _ := time.Parse(time.RFC3339, s); return &v }
func dec(s string) *decimal.Decimal { v := decimal.RequireFromString(s); return &v }

func TestCatalogUpserts(t *testing.T) {
	d := dbtest.New(t)
	var shopID int64
	d.Get(&shopID, "INSERT INTO shops (domain) VALUES ('catalog.myshopify.com') RETURNING id")
	s := catalog.NewStore(d)
	ctx := context.Background()
	run := func(fn func(tx *sqlx.Tx) error) error { return db.InTx(ctx, d, fn) }

	// Import-style: collections known for the whole batch.
	err := run(func(tx *sqlx.Tx) error {
		if err := s.UpsertCollections(ctx, tx, shopID, []catalog.Collection{{ShopifyID: 1, Title: "Summer"}}); err != nil {
			return err
		}
		return s.Upsert(ctx, tx, shopID, []catalog.Product{{
			ShopifyID: 10, Title: "Shirt", Status: "ACTIVE", CollectionIDs: []int64{1}, UpdatedAt: ts("2025-01-01T00:00:00Z"),
			Variants: []catalog.Variant{{ShopifyID: 100, Price: dec("20.00")}, {ShopifyID: 101, Price: dec("25.50")}},
		}})
	})
	if err != nil {
		t.Fatal(err)
	}
	var p struct {
		Status string          `db:"status"`
		Lo     decimal.Decimal `db:"price_min"`
		Hi     decimal.Decimal `db:"price_max"`
		Colls  string          `db:"colls"`
	}
	get := func() {
		if err := d.Get(&p, `SELECT status, price_min, price_max, array_to_string(collection_ids, ',') AS colls FROM products WHERE shopify_id = 10`); err != nil {
			t.Fatal(err)
		}
	}
	get()
	if p.Status != "active" || !p.Lo.Equal(decimal.RequireFromString("20")) || !p.Hi.Equal(decimal.RequireFromString("25.5")) || p.Colls != "1" {
		t.Fatalf("product %+v", p)
	}
	// Webhook-style: collections unknown (kept), variants complete (pruned).
	run(func(tx *sqlx.Tx) error {
		return s.Upsert(ctx, tx, shopID, []catalog.Product{{ShopifyID: 10, Title: "Shirt v2", UpdatedAt: ts("2025-02-01T00:00:00Z"),
			VariantsComplete: true, Variants: []catalog.Variant{{ShopifyID: 101, Price: dec("30.00")}}}})
	})
	get()
	if p.Colls != "1" || !p.Lo.Equal(decimal.RequireFromString("30")) {
		t.Fatalf("after webhook update %+v", p)
	}
	var nv int
	d.Get(&nv, `SELECT count(*) FROM variants WHERE product_id = 10`)
	if nv != 1 {
		t.Fatalf("variants %d", nv)
	}
	// A stale update is ignored.
	run(func(tx *sqlx.Tx) error {
		return s.Upsert(ctx, tx, shopID, []catalog.Product{{ShopifyID: 10, Title: "Old", UpdatedAt: ts("2024-01-01T00:00:00Z")}})
	})
	var title string
	d.Get(&title, `SELECT title FROM products WHERE shopify_id = 10`)
	if title != "Shirt v2" {
		t.Fatalf("stale update applied: %s", title)
	}
	// Deletion is soft; a later update (re-created product) revives it.
	run(func(tx *sqlx.Tx) error {
		return s.MarkDeleted(ctx, tx, shopID, 10, time.Date(2025, 3, 1, 0, 0, 0, 0, time.UTC))
	})
	var deleted bool
	d.Get(&deleted, `SELECT deleted_at IS NOT NULL FROM products WHERE shopify_id = 10`)
	if !deleted {
		t.Fatal("not deleted")
	}
	// Bad input.
	err = run(func(tx *sqlx.Tx) error {
		return s.Upsert(ctx, tx, shopID, []catalog.Product{{ShopifyID: 11, Variants: []catalog.Variant{{ShopifyID: 1, Price: dec("-1")}}}})
	})
	if !errors.Is(err, catalog.ErrInvalid) {
		t.Fatalf("negative price: %v", err)
	}
}

// In one batch, a product with collections sets them while one without
// keeps what is stored.
func TestMixedCollectionsBatch(t *testing.T) {
	d := dbtest.New(t)
	var shopID int64
	d.Get(&shopID, "INSERT INTO shops (domain) VALUES ('mixed.myshopify.com') RETURNING id")
	s := catalog.NewStore(d)
	ctx := context.Background()
	up := func(ps ...catalog.Product) {
		if err := db.InTx(ctx, d, func(tx *sqlx.Tx) error { return s.Upsert(ctx, tx, shopID, ps) }); err != nil {
			t.Fatal(err)
		}
	}
	up(catalog.Product{ShopifyID: 1, CollectionIDs: []int64{7}}, catalog.Product{ShopifyID: 2, CollectionIDs: []int64{8}})
	batch := []catalog.Product{{ShopifyID: 1}, {ShopifyID: 2, CollectionIDs: []int64{9}}}
	up(batch...)
	var got []string
	d.Select(&got, `SELECT shopify_id || ':' || array_to_string(collection_ids, ',') FROM products ORDER BY shopify_id`)
	if len(got) != 2 || got[0] != "1:7" || got[1] != "2:9" {
		t.Fatalf("collections %v", got)
	}
	if batch[0].Tags != nil || batch[0].Status != "" {
		t.Fatal("Upsert changed the caller's products")
	}
}

func TestSearchAndTitles(t *testing.T) {
	d := dbtest.New(t)
	var a, b int64
	d.Get(&a, "INSERT INTO shops (domain) VALUES ('search-a.myshopify.com') RETURNING id")
	d.Get(&b, "INSERT INTO shops (domain) VALUES ('search-b.myshopify.com') RETURNING id")
	d.MustExec(`INSERT INTO products (shop_id, shopify_id, title) SELECT $1, g, 'Shirt ' || lpad(g::text, 2, '0') FROM generate_series(1, 25) g`, a)
	d.MustExec(`INSERT INTO products (shop_id, shopify_id, title) VALUES ($1, 99, 'Shirt of shop B')`, b)
	s := catalog.NewStore(d)
	ctx := context.Background()
	got, err := s.Search(ctx, a, catalog.KindProduct, "shirt")
	if err != nil || len(got) != catalog.SearchLimit || got[0].Title != "Shirt 01" {
		t.Fatalf("search: %v %v", got, err)
	}
	for _, c := range got {
		if c.ID == 99 {
			t.Fatal("another shop's product found")
		}
	}
	if got, _ := s.Search(ctx, a, catalog.KindProduct, "%"); len(got) != 0 {
		t.Fatalf("%% must match a literal percent sign: %v", got)
	}
	if _, err := s.Search(ctx, a, "variant", ""); !errors.Is(err, catalog.ErrInvalid) {
		t.Fatalf("unknown kind: %v", err)
	}
	titles, err := s.Titles(ctx, a, catalog.KindProduct, []int64{3, 99})
	if err != nil || len(titles) != 1 || titles[3] != "Shirt 03" {
		t.Fatalf("titles: %v %v", titles, err)
	}
}
