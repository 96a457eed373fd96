// Package devshopify runs Shopify for `cartwheel dev`: the project's fake
// Admin API (app/shopify/shopifytest) on a loopback port, knowing the demo
// shop with its seeded token, its customers (for consent updates) and its
// store (bulk exports read from the demo shop's database, so Settings ›
// Re-sync imports the store the seed made). Discount codes, consent
// mutations, web pixels, shop info and webhook subscriptions are answered
// by the fake as Shopify would. Only the dev command starts it; production
// talks to https://{shop}.
package devshopify

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"time"

	"github.com/jmoiron/sqlx"
	"github.com/riverqueue/river"
	"github.com/riverqueue/river/riverdriver/riverdatabasesql"

	"github.com/cartwheel/cartwheel/app/config"
	"github.com/cartwheel/cartwheel/app/shopify"
	"github.com/cartwheel/cartwheel/app/shopify/shopifytest"
	"github.com/cartwheel/cartwheel/app/shops"
)

// Options say which shop the fake serves and with which app credentials.
type Options struct {
	APIKey, APISecret string
	Shop              shops.Shop // the demo shop, installed
	Token             string     // its offline token as stored (seed.DemoToken)
	Scopes            string     // what the token grants
	Log               *slog.Logger
}

// Start listens on 127.0.0.1 (any free port) and serves the fake until
// Close. Point SHOPIFY_API_BASE_URL (config.ShopifyAPIBaseURL) at its URL.
func Start(ctx context.Context, d *sqlx.DB, o Options) (*shopifytest.Server, error) {
	if o.Log == nil {
		o.Log = slog.Default()
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, fmt.Errorf("devshopify: listen: %w", err)
	}
	fake := shopifytest.Serve(ln, o.APIKey, o.APISecret)
	if o.Scopes != "" {
		fake.Scopes = o.Scopes
	}
	fake.AddShop(shopify.ShopInfo{
		MyshopifyDomain: o.Shop.Domain, Name: o.Shop.Name, Email: o.Shop.Email,
		IanaTimezone: o.Shop.IanaTimezone, CurrencyCode: o.Shop.Currency, PlanName: o.Shop.Plan,
	})
	fake.SetAccessToken(o.Shop.Domain, o.Token)
	// The demo store is small: its bulk exports are ready at the first
	// status read, as a small store's are on Shopify within seconds.
	fake.SetBulkPolls(1)
	if err := loadCustomers(ctx, d, fake, o.Shop); err != nil {
		fake.Close()
		return nil, err
	}
	for key := range exports {
		fake.SetBulkSource(o.Shop.Domain, key, func() (shopifytest.BulkResult, error) {
			ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
			defer cancel()
			r, err := export(ctx, d, o.Shop.ID, key)
			if err != nil {
				o.Log.Error("dev Shopify: bulk export", "resource", key, "err", err)
			}
			return r, err
		})
	}
	return fake, nil
}

// loadCustomers makes the demo shop's Shopify customers known to the fake,
// so consent changes made in Cartwheel can be pushed to it.
func loadCustomers(ctx context.Context, d *sqlx.DB, fake *shopifytest.Server, sh shops.Shop) error {
	var rows []struct {
		ID        int64      `db:"shopify_id"`
		Email     string     `db:"email"`
		FirstName string     `db:"first_name"`
		LastName  string     `db:"last_name"`
		Consent   string     `db:"email_consent"`
		OptIn     string     `db:"email_opt_in_level"`
		ConsentAt *time.Time `db:"email_consent_updated_at"`
	}
	if err := d.SelectContext(ctx, &rows, `
		SELECT shopify_id, COALESCE(email, '') AS email, first_name, last_name,
			upper(email_consent) AS email_consent, upper(email_opt_in_level) AS email_opt_in_level,
			email_consent_updated_at
		FROM customers WHERE shop_id = $1 AND shopify_id IS NOT NULL AND deleted_at IS NULL`, sh.ID); err != nil {
		return fmt.Errorf("devshopify: load customers: %w", err)
	}
	for _, r := range rows {
		c := shopifytest.Customer{ID: r.ID, Email: r.Email, FirstName: r.FirstName, LastName: r.LastName,
			MarketingState: r.Consent, OptInLevel: r.OptIn}
		if r.ConsentAt != nil {
			c.ConsentUpdatedAt = r.ConsentAt.UTC().Format(time.RFC3339)
		}
		fake.AddCustomer(sh.Domain, c)
	}
	return nil
}

// ErrNotDev is returned by Attach outside APP_ENV=dev.
var ErrNotDev = errors.New("devshopify: the fake Shopify runs only with APP_ENV=dev")

// Attach starts the fake for the demo shop and points cfg's Shopify client
// at it. It refuses in production, and does nothing (nil, nil) when
// SHOPIFY_API_BASE_URL already names an Admin API, such as the fake process
// the browser tests run.
func Attach(ctx context.Context, cfg *config.Config, d *sqlx.DB, sh shops.Shop, token string, log *slog.Logger) (*shopifytest.Server, error) {
	if !cfg.Dev() {
		return nil, ErrNotDev
	}
	if cfg.ShopifyAPIBaseURL != "" {
		return nil, nil
	}
	fake, err := Start(ctx, d, Options{APIKey: cfg.ShopifyAPIKey, APISecret: cfg.ShopifyAPISecret,
		Shop: sh, Token: token, Scopes: cfg.ShopifyScopes, Log: log})
	if err != nil {
		return nil, err
	}
	cfg.ShopifyAPIBaseURL = fake.URL
	return fake, nil
}

// QueueInstall queues the post-install job for a demo shop that never had
// one, as Shopify's managed install leads to: it reads the shop's details,
// checks webhook subscriptions, activates the web pixel at the simulated
// Shopify and runs the first store import. Later starts skip it, as a real
// shop is installed once. It reports whether it queued the job.
func QueueInstall(ctx context.Context, d *sqlx.DB, sh shops.Shop) (bool, error) {
	if sh.WebhooksCheckedAt.Valid {
		return false, nil
	}
	// Insert-only: the server's own client works the job.
	c, err := river.NewClient(riverdatabasesql.New(d.DB), &river.Config{})
	if err != nil {
		return false, fmt.Errorf("devshopify: queue install: %w", err)
	}
	tx, err := d.BeginTx(ctx, nil)
	if err != nil {
		return false, fmt.Errorf("devshopify: queue install: %w", err)
	}
	defer tx.Rollback()
	if _, err := c.InsertTx(ctx, tx, shops.PostInstallArgs{ShopID: sh.ID}, nil); err != nil {
		return false, fmt.Errorf("devshopify: queue install: %w", err)
	}
	if err := tx.Commit(); err != nil {
		return false, fmt.Errorf("devshopify: queue install: %w", err)
	}
	return true, nil
}
