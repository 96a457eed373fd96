// Package seed creates demo data for development and benchmarks. It never
// runs in production paths: only `cartwheel dev` and `cartwheel seed` call it.
package seed

import (
	"context"
	"fmt"
	"time"

	"github.com/cartwheel/cartwheel/app/db"
	"github.com/cartwheel/cartwheel/app/segments"
	"github.com/cartwheel/cartwheel/app/shops"
	"github.com/jmoiron/sqlx"
)

// DemoToken is the placeholder offline token of seeded shops. `cartwheel
// dev` gives it to the in-process fake Admin API (app/devshopify), which
// accepts it for the demo shop; the real Admin API refuses it.
const DemoToken = "dev-placeholder-token"

// DemoShop installs (or reinstalls) a demo shop so the admin can be used
// through the dev login. Settings stay empty on purpose: the dashboard's
// getting-started checklist is part of what a newcomer should see.
func DemoShop(ctx context.Context, d *sqlx.DB, store *shops.Store, domain string) (shops.Shop, error) {
	var sh shops.Shop
	err := db.InTx(ctx, d, func(tx *sqlx.Tx) error {
		var err error
		sh, err = store.Install(ctx, tx, domain, DemoToken, "read_customers,write_customers,read_orders,read_products", time.Now())
		return err
	})
	if err != nil {
		return shops.Shop{}, fmt.Errorf("seed: demo shop %s: %w", domain, err)
	}
	if err := store.UpdateInfo(ctx, sh.ID, shops.Info{
		Name: "Demo Store", Email: "owner@example.com", IanaTimezone: "America/New_York", Currency: "USD", Plan: "Development",
	}); err != nil {
		return shops.Shop{}, err
	}
	// A small store to click through; kept as is when the shop has data.
	var has bool
	if err := d.GetContext(ctx, &has, `SELECT EXISTS (SELECT 1 FROM customers WHERE shop_id = $1)`, sh.ID); err != nil {
		return shops.Shop{}, fmt.Errorf("seed: demo shop %s: %w", domain, err)
	}
	if !has {
		if err := Store(ctx, d, sh.ID, StoreOptions{Customers: DemoCustomers, Seed: 1}); err != nil {
			return shops.Shop{}, err
		}
	}
	// Seeding stands in for an install, which gives every shop the preset
	// segments; created after the data, their membership is computed now.
	if err := segments.NewStore(d).EnsurePresets(ctx, sh.ID, time.Now()); err != nil {
		return shops.Shop{}, fmt.Errorf("seed: demo shop %s: %w", domain, err)
	}
	return store.ByID(ctx, sh.ID)
}

// DemoCustomers is the size of the demo shop's store.
const DemoCustomers = 200
