package main

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/cartwheel/cartwheel/app/config"
	"github.com/cartwheel/cartwheel/app/db"
	"github.com/cartwheel/cartwheel/app/devshopify"
	"github.com/cartwheel/cartwheel/app/secretbox"
	"github.com/cartwheel/cartwheel/app/seed"
	"github.com/cartwheel/cartwheel/app/shopify"
	"github.com/cartwheel/cartwheel/app/shops"
)

const demoShop = config.DevShop

// dev runs the app locally with nothing but this repository: a private
// PostgreSQL under .data/ (unless DATABASE_URL is set), migrations, the demo
// shop, and the server with workers on PORT (8080).
func dev(ctx context.Context) error {
	root, err := db.ProjectRoot()
	if err != nil {
		return err
	}
	env, err := devEnv(root)
	if err != nil {
		return err
	}
	cfg, err := config.Load(env)
	if err != nil {
		return err
	}
	if err := migrateURL(ctx, cfg.DatabaseURL); err != nil {
		return err
	}
	d, err := db.Open(ctx, cfg.DatabaseURL)
	if err != nil {
		return err
	}
	defer d.Close()
	box, err := secretbox.New(cfg.EncryptionKey)
	if err != nil {
		return err
	}
	sh, err := seed.DemoShop(ctx, d, shops.NewStore(d, box), demoShop)
	if err != nil {
		return err
	}
	// Two months of email, so the dashboard and reports show what they are
	// for. The browser tests switch it off (they build their own history).
	if os.Getenv("CARTWHEEL_DEMO_HISTORY") != "off" {
		if err := seed.EmailHistory(ctx, d, sh.ID, time.Now(), 1); err != nil {
			return err
		}
	}
	// Shopify for the demo shop, in this process: wheel codes, consent
	// updates and Re-sync work with nothing but this repository.
	fake, err := devshopify.Attach(ctx, cfg, d, sh, seed.DemoToken, newLogger(cfg))
	if err != nil {
		return err
	}
	if fake != nil {
		defer fake.Close()
		fmt.Printf("\n  Shopify's Admin API for %s is simulated at %s.", demoShop, fake.URL)
		// The first start plays the install's follow-up against it.
		if _, err := devshopify.QueueInstall(ctx, d, sh); err != nil {
			return err
		}
	}
	fmt.Printf("\n  Cartwheel is running in dev mode.\n  Open the admin: %s/ (or %s/dev/login?shop=%s)\n  Dev storefront: %s/dev/storefront?shop=%s\n\n",
		cfg.AppURL, cfg.AppURL, demoShop, cfg.AppURL, demoShop)
	return run(ctx, cfg, true)
}

// devEnv fills in development defaults for anything the environment leaves
// unset, and starts the local database when DATABASE_URL is empty.
func devEnv(root string) (func(string) string, error) {
	vals := map[string]string{
		"APP_ENV":            "dev",
		"SHOPIFY_API_KEY":    "cartwheel-dev-api-key",
		"SHOPIFY_API_SECRET": "cartwheel-dev-api-secret",
		"SHOPIFY_SCOPES":     "read_customers,write_customers,read_orders,read_products,write_discounts,write_pixels,read_customer_events,write_app_proxy",
		"MAIL_PROVIDER":      "outbox",
	}
	port := os.Getenv("PORT")
	if port == "" {
		port = "8080"
	}
	vals["APP_URL"] = "http://localhost:" + port
	key, err := devEncryptionKey(root)
	if err != nil {
		return nil, err
	}
	vals["ENCRYPTION_KEY"] = key
	if os.Getenv("DATABASE_URL") == "" {
		url, err := localDatabase(root, "cartwheel")
		if err != nil {
			return nil, err
		}
		vals["DATABASE_URL"] = url
	}
	return func(k string) string {
		if k == "APP_ENV" {
			return "dev"
		}
		if v := os.Getenv(k); v != "" {
			return v
		}
		return vals[k]
	}, nil
}

// devEncryptionKey keeps one random key per checkout so tokens sealed in
// the dev database stay readable across restarts.
func devEncryptionKey(root string) (string, error) {
	path := filepath.Join(root, ".data", "dev-encryption-key")
	if b, err := os.ReadFile(path); err == nil {
		return strings.TrimSpace(string(b)), nil
	}
	k := make([]byte, 32)
	if _, err := rand.Read(k); err != nil {
		return "", err
	}
	enc := base64.StdEncoding.EncodeToString(k)
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return "", err
	}
	return enc, os.WriteFile(path, []byte(enc+"\n"), 0o600)
}

// localDatabase starts the project's private cluster and makes sure the
// named database exists.
func localDatabase(root, name string) (string, error) {
	c := db.NewLocalCluster(root)
	if err := c.Ensure(); err != nil {
		return "", err
	}
	admin, err := db.Open(context.Background(), c.URL("postgres"))
	if err != nil {
		return "", err
	}
	defer admin.Close()
	var exists bool
	if err := admin.Get(&exists, "SELECT EXISTS (SELECT 1 FROM pg_database WHERE datname = $1)", name); err != nil {
		return "", err
	}
	if !exists {
		if _, err := admin.Exec("CREATE DATABASE " + name); err != nil {
			return "", fmt.Errorf("create database %s: %w", name, err)
		}
	}
	return c.URL(name), nil
}

func migrateURL(ctx context.Context, url string) error {
	d, err := db.Open(ctx, url)
	if err != nil {
		return err
	}
	defer d.Close()
	return db.MigrateUp(ctx, d.DB)
}

// seedCmd installs a demo shop (more synthetic data comes with store sync).
func seedCmd(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("seed", flag.ContinueOnError)
	shop := fs.String("shop", demoShop, "shop domain to create, e.g. demo.myshopify.com")
	n := fs.Int("customers", 0, "synthetic customers to add (with products, orders, refunds, checkouts) through the batch writers")
	bulk := fs.Bool("bulk", false, "write the store with INSERT … SELECT generate_series (fast; for benchmarks): customers, ~5 orders each,\n"+
		"products and what each customer bought, storefront events, email history and suppressions (no line items or consent history)")
	eventsPer := fs.Float64("events-per-customer", 20, "with --bulk: storefront events per customer on average (85 % linked to a customer)")
	emailsPer := fs.Float64("emails-per-customer", 6, "with --bulk: marketing emails per customer on average (opens and clicks follow)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *n < 0 || *n > 10_000_000 {
		return errors.New("seed: --customers must be between 0 and 10000000")
	}
	if !shopify.ValidShopDomain(*shop) {
		return errors.New("seed: --shop must be a myshopify.com domain, e.g. --shop demo.myshopify.com")
	}
	root, err := db.ProjectRoot()
	if err != nil {
		return err
	}
	env, err := devEnv(root)
	if err != nil {
		return err
	}
	cfg, err := config.Load(env)
	if err != nil {
		return err
	}
	if err := migrateURL(ctx, cfg.DatabaseURL); err != nil {
		return err
	}
	d, err := db.Open(ctx, cfg.DatabaseURL)
	if err != nil {
		return err
	}
	defer d.Close()
	box, err := secretbox.New(cfg.EncryptionKey)
	if err != nil {
		return err
	}
	sh, err := seed.DemoShop(ctx, d, shops.NewStore(d, box), *shop)
	if err != nil {
		return err
	}
	fmt.Printf("seeded %s (shop id %d)\n", sh.Domain, sh.ID)
	if *n == 0 {
		return nil
	}
	start := time.Now()
	progress := func(done, total int) {
		fmt.Printf("\r  customers %d/%d (%d%%) %s", done, total, done*100/total, time.Since(start).Round(time.Second))
	}
	if *bulk {
		err = seed.Bulk(ctx, d, sh.ID, seed.BulkOptions{Customers: *n, EventsPerCustomer: *eventsPer, EmailsPerCustomer: *emailsPer,
			Progress: func(step string, done, total int) {
				fmt.Printf("\r  %-9s %d/%d (%d%%) %s", step, done, total, done*100/total, time.Since(start).Round(time.Second))
				if done == total {
					fmt.Println()
				}
			}})
	} else {
		err = seed.Store(ctx, d, sh.ID, seed.StoreOptions{Customers: *n, Seed: uint64(time.Now().UnixNano()), Progress: progress})
	}
	fmt.Println()
	if err != nil {
		return err
	}
	fmt.Printf("added %d customers to %s in %s\n", *n, sh.Domain, time.Since(start).Round(time.Second))
	return nil
}
