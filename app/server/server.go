// Package server assembles the application from its parts (stores, Shopify
// client, job workers, router) and runs it with a graceful shutdown. main
// and the end-to-end tests build the app the same way through New.
package server

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"time"

	"github.com/jmoiron/sqlx"
	"github.com/riverqueue/river"

	"github.com/cartwheel/cartwheel/app/catalog"
	"github.com/cartwheel/cartwheel/app/config"
	"github.com/cartwheel/cartwheel/app/customers"
	"github.com/cartwheel/cartwheel/app/jobs"
	"github.com/cartwheel/cartwheel/app/metrics"
	"github.com/cartwheel/cartwheel/app/orders"
	"github.com/cartwheel/cartwheel/app/privacy"
	"github.com/cartwheel/cartwheel/app/secretbox"
	"github.com/cartwheel/cartwheel/app/shopify"
	"github.com/cartwheel/cartwheel/app/shops"
	"github.com/cartwheel/cartwheel/app/storesync"
	"github.com/cartwheel/cartwheel/app/web"
	"github.com/cartwheel/cartwheel/app/webhooks"
)

// App is the assembled application.
type App struct {
	Config   *config.Config
	DB       *sqlx.DB
	Log      *slog.Logger
	Metrics  *metrics.Metrics
	Jobs     *jobs.Client
	Shops    *shops.Store
	Shopify  *shopify.Client
	Handler  http.Handler
	Webhooks *webhooks.Processor
}

// Options tune what tests need to differ.
type Options struct {
	JobPollInterval time.Duration
	Now             func() time.Time
}

// New wires everything on an open database.
func New(cfg *config.Config, d *sqlx.DB, log *slog.Logger, o Options) (*App, error) {
	box, err := secretbox.New(cfg.EncryptionKey)
	if err != nil {
		return nil, err
	}
	m := metrics.New()
	shopStore := shops.NewStore(d, box)
	client := shopify.NewClient(shopify.ClientConfig{
		APIKey: cfg.ShopifyAPIKey, APISecret: cfg.ShopifyAPISecret,
		Scopes: cfg.ShopifyScopes, BaseURL: cfg.ShopifyAPIBaseURL,
	})
	priv := privacy.NewService(d)
	customerStore := customers.NewStore(d)
	orderStore := orders.NewStore(d, customerStore)
	catalogStore := catalog.NewStore(d)
	processor := webhooks.NewProcessor(d, shopStore, priv, log)
	storesync.New(shopStore, customerStore, orderStore, catalogStore, log).Register(processor)
	postInstall := shops.NewPostInstallWorker(shopStore, client, shops.WebhookPlan{
		CallbackURL: cfg.AppURL.String() + "/webhooks",
		Topics:      webhooks.AppTopics,
		ViaAPI:      cfg.ShopifyWebhooksViaAPI,
	}, log)

	workers := river.NewWorkers()
	river.AddWorker(workers, processor)
	river.AddWorker(workers, postInstall)
	river.AddWorker(workers, storesync.NewImportWorker(storesync.ImportDeps{
		DB: d, Shops: shopStore, API: client, Customers: customerStore, Orders: orderStore, Catalog: catalogStore, Log: log,
	}, storesync.ImportOptions{}))
	river.AddWorker(workers, customers.NewImportWorker(customerStore))
	river.AddWorker(workers, storesync.NewConsentPusher(shopStore, customerStore, client, log))
	jc, err := jobs.New(d.DB, workers, jobs.Options{Logger: log, Metrics: m, PollInterval: o.JobPollInterval})
	if err != nil {
		return nil, err
	}
	customerStore.PushConsentWith(jc)
	importer := storesync.NewImporter(d, jc)
	postInstall.PixelSettings = func(shop string) map[string]string {
		// Must match [settings] in extensions/cartwheel-pixel/shopify.extension.toml.
		return map[string]string{"ingestUrl": cfg.AppURL.String() + "/ingest", "shop": shop}
	}
	postInstall.AfterInstall = func(ctx context.Context, shopID int64) error {
		// A retried post-install finds its import already under way: fine.
		if err := importer.Start(ctx, shopID); err != nil && !errors.Is(err, storesync.ErrImportRunning) {
			return err
		}
		return nil
	}

	handler := web.NewRouter(web.Deps{
		Config: cfg, DB: d, Shops: shopStore,
		Installer: shops.NewInstaller(shopStore, jc),
		States:    shops.NewOAuthStates(d),
		Shopify:   client,
		Webhooks:  webhooks.NewReceiver(d, jc),
		Privacy:   priv,
		Customers: customerStore,
		Orders:    orderStore,
		Catalog:   catalogStore,
		Imports:   importer,
		Jobs:      jc,
		Metrics:   m,
		Log:       log,
		Now:       o.Now,
	})
	return &App{Config: cfg, DB: d, Log: log, Metrics: m, Jobs: jc, Shops: shopStore, Shopify: client,
		Handler: handler, Webhooks: processor}, nil
}

// shutdownGrace bounds how long in-flight requests and jobs get to finish.
const shutdownGrace = 30 * time.Second

// Serve runs the HTTP server (and the workers when withWorkers) until ctx is
// cancelled, then stops taking requests, lets in-flight ones finish, and
// waits for running jobs.
func (a *App) Serve(ctx context.Context, ln net.Listener, withWorkers bool) error {
	srv := &http.Server{
		Handler:           a.Handler,
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       30 * time.Second,
		WriteTimeout:      60 * time.Second,
		IdleTimeout:       120 * time.Second,
	}
	if withWorkers {
		if err := a.Jobs.Start(ctx); err != nil {
			return fmt.Errorf("server: start workers: %w", err)
		}
	}
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	a.Log.Info("listening", "addr", ln.Addr().String(), "workers", withWorkers)

	var serveErr error
	select {
	case <-ctx.Done():
	case serveErr = <-errc:
	}
	a.Log.Info("shutting down")
	stopCtx, cancel := context.WithTimeout(context.Background(), shutdownGrace)
	defer cancel()
	if err := srv.Shutdown(stopCtx); err != nil {
		a.Log.Error("http shutdown", "err", err)
	}
	if withWorkers {
		if err := a.Jobs.Stop(stopCtx); err != nil {
			a.Log.Error("workers shutdown", "err", err)
		}
	}
	if serveErr != nil && !errors.Is(serveErr, http.ErrServerClosed) {
		return serveErr
	}
	return nil
}

// Work runs only the workers until ctx is cancelled.
func (a *App) Work(ctx context.Context) error {
	if err := a.Jobs.Start(ctx); err != nil {
		return fmt.Errorf("server: start workers: %w", err)
	}
	a.Log.Info("workers running")
	<-ctx.Done()
	stopCtx, cancel := context.WithTimeout(context.Background(), shutdownGrace)
	defer cancel()
	return a.Jobs.Stop(stopCtx)
}
