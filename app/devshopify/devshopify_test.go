package devshopify

import (
	"bytes"
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/jmoiron/sqlx"
	"github.com/riverqueue/river"
	"github.com/riverqueue/river/rivertype"

	"github.com/cartwheel/cartwheel/app/catalog"
	"github.com/cartwheel/cartwheel/app/config"
	"github.com/cartwheel/cartwheel/app/customers"
	"github.com/cartwheel/cartwheel/app/db"
	"github.com/cartwheel/cartwheel/app/db/dbtest"
	"github.com/cartwheel/cartwheel/app/orders"
	"github.com/cartwheel/cartwheel/app/secretbox"
	"github.com/cartwheel/cartwheel/app/seed"
	"github.com/cartwheel/cartwheel/app/shopify"
	"github.com/cartwheel/cartwheel/app/shopify/shopifytest"
	"github.com/cartwheel/cartwheel/app/shops"
	"github.com/cartwheel/cartwheel/app/storesync"
)

const (
	demo = "demo.myshopify.com"
	key  = "dev-key"
	sec  = "dev-secret"
)

var quiet = slog.New(slog.NewTextHandler(io.Discard, nil))

type captureInserter struct{ args []storesync.ImportArgs }

func (c *captureInserter) InsertTx(_ context.Context, _ *sql.Tx, a river.JobArgs, _ *river.InsertOpts) (*rivertype.JobInsertResult, error) {
	c.args = append(c.args, a.(storesync.ImportArgs))
	return &rivertype.JobInsertResult{Job: &rivertype.JobRow{}}, nil
}

func install(t *testing.T, d *sqlx.DB, st *shops.Store, domain, token string) shops.Shop {
	t.Helper()
	ctx := context.Background()
	var sh shops.Shop
	if err := db.InTx(ctx, d, func(tx *sqlx.Tx) error {
		var err error
		sh, err = st.Install(ctx, tx, domain, token, "read_customers,write_customers,read_orders,read_products", time.Now())
		return err
	}); err != nil {
		t.Fatal(err)
	}
	if err := st.UpdateInfo(ctx, sh.ID, shops.Info{Name: "Demo Store", Email: "owner@example.com",
		IanaTimezone: "Europe/Paris", Currency: "EUR", Plan: "Development"}); err != nil {
		t.Fatal(err)
	}
	sh, err := st.ByID(ctx, sh.ID)
	if err != nil {
		t.Fatal(err)
	}
	return sh
}

func devConfig(t *testing.T, env config.Env) *config.Config {
	t.Helper()
	u, _ := url.Parse("http://localhost:8080")
	return &config.Config{Env: env, AppURL: u, ShopifyAPIKey: key, ShopifyAPISecret: sec,
		ShopifyScopes: "read_customers,write_customers,read_orders,read_products,write_discounts"}
}

// The seeded store, exported by the dev fake and imported by the real
// import into another shop, arrives whole and unchanged: every line
// applies, and every synced column and derived figure equals the seed's.
func TestReSyncImportsTheSeededStore(t *testing.T) {
	d := dbtest.New(t)
	ctx := context.Background()
	box, err := secretbox.New(bytes.Repeat([]byte{3}, 32))
	if err != nil {
		t.Fatal(err)
	}
	st := shops.NewStore(d, box)
	src := install(t, d, st, demo, seed.DemoToken)
	if err := seed.Store(ctx, d, src.ID, seed.StoreOptions{Customers: 120, Products: 12, Seed: 7}); err != nil {
		t.Fatal(err)
	}
	// A webhook-shaped refund and line item properties, which the seed
	// doesn't make, must survive the round trip too.
	if _, err := d.Exec(`UPDATE order_line_items SET properties = '[{"name":"gift","value":"yes"}]'
		WHERE shop_id = $1 AND shopify_id = (SELECT min(shopify_id) FROM order_line_items WHERE shop_id = $1)`, src.ID); err != nil {
		t.Fatal(err)
	}

	cfg := devConfig(t, config.EnvDev)
	fake, err := Attach(ctx, cfg, d, src, seed.DemoToken, quiet)
	if err != nil {
		t.Fatal(err)
	}
	defer fake.Close()
	if cfg.ShopifyAPIBaseURL != fake.URL || !strings.HasPrefix(fake.URL, "http://127.0.0.1:") {
		t.Fatalf("client points at %q, fake listens at %q", cfg.ShopifyAPIBaseURL, fake.URL)
	}
	client := shopify.NewClient(shopify.ClientConfig{APIKey: key, APISecret: sec, BaseURL: cfg.ShopifyAPIBaseURL})
	info, err := client.ShopInfo(ctx, demo, seed.DemoToken)
	if err != nil {
		t.Fatal(err)
	}
	if info.Name != "Demo Store" || info.IanaTimezone != "Europe/Paris" || info.CurrencyCode != "EUR" {
		t.Errorf("shop info = %+v, want the demo shop's", info)
	}
	// Consent pushes need Shopify to know the customers.
	var one struct {
		ID      int64  `db:"shopify_id"`
		Consent string `db:"email_consent"`
	}
	if err := d.Get(&one, `SELECT shopify_id, email_consent FROM customers WHERE shop_id = $1 AND email_consent = 'subscribed' LIMIT 1`, src.ID); err != nil {
		t.Fatal(err)
	}
	if c, ok := fake.Customer(demo, one.ID); !ok || c.MarketingState != "SUBSCRIBED" {
		t.Errorf("fake customer %d = %+v (known %v), want SUBSCRIBED", one.ID, c, ok)
	}

	// The copy: a second shop whose bulk exports are the demo shop's.
	dst := install(t, d, st, "copy.myshopify.com", "copy-token")
	fake.AddShop(shopify.ShopInfo{MyshopifyDomain: dst.Domain, Name: "Copy"})
	fake.SetAccessToken(dst.Domain, "copy-token")
	for k := range exports {
		fake.SetBulkSource(dst.Domain, k, func() (shopifytest.BulkResult, error) { return export(ctx, d, src.ID, k) })
	}
	cust := customers.NewStore(d)
	w := storesync.NewImportWorker(storesync.ImportDeps{DB: d, Shops: st, API: client, Customers: cust,
		Orders: orders.NewStore(d, cust), Catalog: catalog.NewStore(d), Log: quiet},
		storesync.ImportOptions{PollInterval: 5 * time.Millisecond, BatchSize: 97})
	ins := &captureInserter{}
	if err := storesync.NewImporter(d, ins).Start(ctx, dst.ID); err != nil {
		t.Fatal(err)
	}
	if err := w.Run(ctx, dst.ID, ins.args[0].RunIDs); err != nil {
		t.Fatal(err)
	}
	var runs []struct {
		Resource string `db:"resource"`
		Status   string `db:"status"`
		Errors   int    `db:"errors"`
		Rows     int64  `db:"rows_done"`
		Total    *int64 `db:"rows_total"`
	}
	if err := d.Select(&runs, `SELECT resource, status, errors, rows_done, rows_total FROM import_runs WHERE shop_id = $1`, dst.ID); err != nil {
		t.Fatal(err)
	}
	for _, r := range runs {
		if r.Status != "done" || r.Errors != 0 || r.Total == nil || r.Rows != *r.Total || r.Rows == 0 {
			t.Errorf("%s import: %+v, want done with every line applied", r.Resource, r)
		}
	}

	for name, q := range snapshots {
		var a, b []string
		if err := d.Select(&a, q, src.ID); err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if err := d.Select(&b, q, dst.ID); err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if len(a) == 0 {
			t.Errorf("%s: the seed made none", name)
		}
		if len(a) != len(b) {
			t.Errorf("%s: %d rows in the seed, %d imported", name, len(a), len(b))
			continue
		}
		for i := range a {
			if a[i] != b[i] {
				t.Errorf("%s differs:\n seed     %s\n imported %s", name, a[i], b[i])
				break
			}
		}
	}
}

// Each table as the import writes it, without shop and internal ids.
var snapshots = map[string]string{
	"customers": `SELECT concat_ws('|', shopify_id, email, phone, first_name, last_name, locale, country, city, tags,
		email_consent, email_opt_in_level, email_consent_updated_at, shopify_created_at, shopify_updated_at,
		orders_count, total_spent, average_order_value, first_order_at, last_order_at)
		FROM customers WHERE shop_id = $1 ORDER BY shopify_id`,
	"products": `SELECT concat_ws('|', shopify_id, title, handle, vendor, product_type, tags, status, image_url, price_min,
		price_max, collection_ids, published_at, shopify_created_at, shopify_updated_at)
		FROM products WHERE shop_id = $1 ORDER BY shopify_id`,
	"variants": `SELECT concat_ws('|', shopify_id, product_id, title, sku, price, compare_at_price, inventory_quantity, image_url)
		FROM variants WHERE shop_id = $1 ORDER BY shopify_id`,
	"collections": `SELECT concat_ws('|', shopify_id, title, handle) FROM collections WHERE shop_id = $1 ORDER BY shopify_id`,
	"orders": `SELECT concat_ws('|', o.shopify_id, o.name, c.shopify_id, o.shopify_customer_id, o.email, o.currency,
		o.subtotal_price, o.total_tax, o.total_shipping, o.total_discounts, o.total_price, o.total_refunded,
		o.financial_status, o.cancelled_at, o.processed_at, o.landing_site, o.referring_site, o.source_name,
		o.discount_codes, o.test, o.shopify_created_at, o.shopify_updated_at)
		FROM orders o LEFT JOIN customers c ON c.id = o.customer_id WHERE o.shop_id = $1 ORDER BY o.shopify_id`,
	"line items": `SELECT concat_ws('|', shopify_id, order_id, product_id, variant_id, title, variant_title, sku, quantity,
		price, total_discount, properties) FROM order_line_items WHERE shop_id = $1 ORDER BY shopify_id`,
	"refunds": `SELECT concat_ws('|', shopify_id, order_id, amount, created_at) FROM refunds WHERE shop_id = $1 ORDER BY shopify_id`,
	"checkouts": `SELECT concat_ws('|', k.token, k.kind, c.shopify_id, k.shopify_customer_id, k.email, k.currency, k.total_price,
		k.line_items, k.recovery_url, k.shopify_created_at, k.shopify_updated_at, k.completed_at)
		FROM checkouts k LEFT JOIN customers c ON c.id = k.customer_id WHERE k.shop_id = $1 ORDER BY k.token`,
	"products bought": `SELECT concat_ws('|', c.shopify_id, cp.product_id, cp.quantity, cp.first_bought_at, cp.last_bought_at)
		FROM customer_products cp JOIN customers c ON c.id = cp.customer_id WHERE cp.shop_id = $1 ORDER BY 1`,
}

// Production never starts the fake, whatever SHOPIFY_API_BASE_URL says.
func TestAttachRefusesOutsideDev(t *testing.T) {
	cfg := devConfig(t, config.EnvProduction)
	fake, err := Attach(context.Background(), cfg, nil, shops.Shop{Domain: demo}, seed.DemoToken, quiet)
	if !errors.Is(err, ErrNotDev) || fake != nil {
		t.Fatalf("Attach in production = %v, %v; want ErrNotDev", fake, err)
	}
	if cfg.ShopifyAPIBaseURL != "" {
		t.Fatalf("production client points at %q", cfg.ShopifyAPIBaseURL)
	}
}

// A fake named by SHOPIFY_API_BASE_URL (the browser tests run their own)
// is left in charge.
func TestAttachKeepsAnExplicitBaseURL(t *testing.T) {
	cfg := devConfig(t, config.EnvDev)
	cfg.ShopifyAPIBaseURL = "http://127.0.0.1:1"
	fake, err := Attach(context.Background(), cfg, nil, shops.Shop{Domain: demo}, seed.DemoToken, quiet)
	if err != nil || fake != nil || cfg.ShopifyAPIBaseURL != "http://127.0.0.1:1" {
		t.Fatalf("Attach = %v, %v, base %q", fake, err, cfg.ShopifyAPIBaseURL)
	}
}

// The first `cartwheel dev` queues the install's follow-up, and the real
// post-install job runs through against the simulated Shopify: shop
// details, webhook check, web pixel activation. Later starts queue nothing.
func TestFirstStartRunsThePostInstallAgainstTheFake(t *testing.T) {
	d := dbtest.New(t)
	ctx := context.Background()
	box, err := secretbox.New(bytes.Repeat([]byte{3}, 32))
	if err != nil {
		t.Fatal(err)
	}
	st := shops.NewStore(d, box)
	sh := install(t, d, st, demo, seed.DemoToken)
	cfg := devConfig(t, config.EnvDev)
	fake, err := Attach(ctx, cfg, d, sh, seed.DemoToken, quiet)
	if err != nil {
		t.Fatal(err)
	}
	defer fake.Close()

	queued, err := QueueInstall(ctx, d, sh)
	if err != nil || !queued {
		t.Fatalf("QueueInstall on a new demo shop = %v, %v", queued, err)
	}
	var n int
	if err := d.Get(&n, `SELECT count(*) FROM river_job WHERE kind = 'shop.post_install' AND args->>'shop_id' = $1`, fmt.Sprint(sh.ID)); err != nil || n != 1 {
		t.Fatalf("%d post-install jobs queued (%v), want 1", n, err)
	}

	client := shopify.NewClient(shopify.ClientConfig{APIKey: key, APISecret: sec, BaseURL: cfg.ShopifyAPIBaseURL})
	w := shops.NewPostInstallWorker(st, client, shops.WebhookPlan{CallbackURL: "http://localhost:8080/webhooks"}, quiet)
	w.PixelSettings = func(shop string) map[string]string {
		return map[string]string{"ingestUrl": "http://localhost:8080/ingest", "shop": shop}
	}
	if err := w.Work(ctx, &river.Job[shops.PostInstallArgs]{JobRow: &rivertype.JobRow{}, Args: shops.PostInstallArgs{ShopID: sh.ID}}); err != nil {
		t.Fatalf("post-install against the simulated Shopify: %v", err)
	}
	if px, ok := fake.WebPixel(demo); !ok || !strings.Contains(fmt.Sprint(px), "localhost:8080/ingest") {
		t.Fatalf("web pixel at the simulated Shopify: %+v (active %v)", px, ok)
	}
	sh, err = st.ByID(ctx, sh.ID)
	if err != nil {
		t.Fatal(err)
	}
	if !sh.WebhooksCheckedAt.Valid || sh.Name != "Demo Store" || sh.IanaTimezone != "Europe/Paris" {
		t.Fatalf("shop after post-install: %+v", sh)
	}
	if queued, err := QueueInstall(ctx, d, sh); err != nil || queued {
		t.Fatalf("QueueInstall on an installed demo shop = %v, %v; want nothing queued", queued, err)
	}
}
