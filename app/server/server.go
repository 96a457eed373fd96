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
	"sync"
	"time"

	"github.com/jmoiron/sqlx"
	"github.com/riverqueue/river"

	"github.com/cartwheel/cartwheel/app/campaigns"
	"github.com/cartwheel/cartwheel/app/catalog"
	"github.com/cartwheel/cartwheel/app/config"
	"github.com/cartwheel/cartwheel/app/consistency"
	"github.com/cartwheel/cartwheel/app/customers"
	"github.com/cartwheel/cartwheel/app/email"
	"github.com/cartwheel/cartwheel/app/email/providers"
	"github.com/cartwheel/cartwheel/app/email/render"
	"github.com/cartwheel/cartwheel/app/email/sender"
	"github.com/cartwheel/cartwheel/app/email/tracking"
	"github.com/cartwheel/cartwheel/app/events"
	"github.com/cartwheel/cartwheel/app/flows"
	"github.com/cartwheel/cartwheel/app/jobs"
	"github.com/cartwheel/cartwheel/app/lifecycle"
	"github.com/cartwheel/cartwheel/app/metrics"
	"github.com/cartwheel/cartwheel/app/orders"
	"github.com/cartwheel/cartwheel/app/privacy"
	"github.com/cartwheel/cartwheel/app/ratelimit"
	"github.com/cartwheel/cartwheel/app/reports"
	"github.com/cartwheel/cartwheel/app/secretbox"
	"github.com/cartwheel/cartwheel/app/segments"
	"github.com/cartwheel/cartwheel/app/shopify"
	"github.com/cartwheel/cartwheel/app/shops"
	"github.com/cartwheel/cartwheel/app/signals"
	"github.com/cartwheel/cartwheel/app/storesync"
	"github.com/cartwheel/cartwheel/app/web"
	"github.com/cartwheel/cartwheel/app/webhooks"
	"github.com/cartwheel/cartwheel/app/wheel"
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
	Events   *events.Ingester // closed (flushed) by Serve on shutdown
	Tracking *tracking.Service
	Senders  *tracking.SenderVerifier // the sender's SenderVerified hook
	Tracker  *tracking.Tracker        // the sender's email.Tracker
	Flows    *flows.Engine            // the automation engine (tests drive its clock)
	Sender   *sender.Sender           // sends email (campaigns and flows queue sender.EnqueueDeliver)
	Signals  *signals.Consumer        // run by StartWorkers next to the River workers

	// Campaigns starts, pauses, resumes and cancels campaigns and reads
	// their progress (the admin pages' domain side).
	Campaigns *campaigns.Sending

	opts          Options
	stopSignals   context.CancelFunc
	signalsLooped chan struct{}
}

// Options tune what tests need to differ.
type Options struct {
	JobPollInterval time.Duration
	Now             func() time.Time
	IngestLimits    web.IngestLimits
	// ConnState and OnShutdown let tests watch the HTTP server's state
	// (a request being read, the listener closed) instead of waiting a
	// fixed time; see http.Server.ConnState and RegisterOnShutdown.
	ConnState  func(net.Conn, http.ConnState)
	OnShutdown func()
	// Handlers replaces the signal consumers (tests: a missing one must
	// fail New). Nil: the app's own.
	Handlers *signals.Handlers
}

// segmentsHandler is the Segments consumer of signals: the segment store
// unless a test replaced it.
func (o Options) segmentsHandler(st *segments.Store) signals.Handler {
	if o.Handlers != nil {
		return o.Handlers.Segments
	}
	return st
}

// flowsHandler is the Flows consumer of signals: the flow engine unless a
// test replaced it.
func (o Options) flowsHandler(e *flows.Engine) signals.Handler {
	if o.Handlers != nil {
		return o.Handlers.Flows
	}
	return e
}

// reportsHandler is the Reports consumer of signals: the report rollups
// unless a test replaced them.
func (o Options) reportsHandler() signals.Handler {
	if o.Handlers != nil {
		return o.Handlers.Reports
	}
	return reports.Handler{}
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
	storeSync := storesync.New(shopStore, customerStore, orderStore, catalogStore, log)
	storeSync.Register(processor)
	postInstall := shops.NewPostInstallWorker(shopStore, client, shops.WebhookPlan{
		CallbackURL: cfg.AppURL.String() + "/webhooks",
		Topics:      webhooks.AppTopics,
		ViaAPI:      cfg.ShopifyWebhooksViaAPI,
	}, log)

	workers := river.NewWorkers()
	river.AddWorker(workers, processor)
	river.AddWorker(workers, postInstall)
	importWorker := storesync.NewImportWorker(storesync.ImportDeps{
		DB: d, Shops: shopStore, API: client, Customers: customerStore, Orders: orderStore, Catalog: catalogStore, Log: log,
		Attribute: reports.AttributeTx,
	}, storesync.ImportOptions{})
	river.AddWorker(workers, importWorker)
	river.AddWorker(workers, &reports.RecomputeWorker{DB: d})
	river.AddWorker(workers, customers.NewImportWorker(customerStore))
	river.AddWorker(workers, storesync.NewConsentPusher(shopStore, customerStore, client, log))
	wheelSvc := wheel.New(wheel.Deps{DB: d, Customers: customerStore, Shops: shopStore, API: client,
		Events: wheel.TableEvents{}, Log: log, Now: o.Now})
	river.AddWorker(workers, wheelSvc.Worker())
	river.AddWorker(workers, wheelSvc.EmailWorker())
	// Email: one provider for everything the app sends; the sender checks
	// consent, suppression and caps at send time and writes the ledger row
	// before the provider call.
	provider, err := providers.New(cfg, d)
	if err != nil {
		return nil, err
	}
	tokens, err := tracking.NewTokens(cfg.EncryptionKey)
	if err != nil {
		return nil, err
	}
	tracker := tracking.NewTracker(cfg.AppURL.String(), tokens)
	senders := tracking.NewSenderVerifier(d, provider, cfg.AppURL.String(), email.Address{}, o.Now)
	templateStore, productSource := render.NewStore(d), render.NewProductSource(d)
	emailSender, err := sender.New(sender.Deps{DB: d, Shops: shopStore, Provider: provider, Tracker: tracker, Verifier: senders,
		Templates: templateStore, Products: productSource}, sender.Options{})
	if err != nil {
		return nil, err
	}
	wheelSvc.MailWith(emailSender)
	// Deliveries run on their own queue (jobs.QueueEmail).
	river.AddWorker(workers, sender.NewDeliverWorker(emailSender))
	river.AddWorker(workers, sender.NewSweepWorker(emailSender))
	river.AddWorker(workers, &render.RefreshPairsWorker{DB: d})
	limiter := ratelimit.New(d, o.Now)
	housekeeper, housekeeping, err := jobs.Housekeeping(o.Now,
		// Rate limit buckets that have refilled are dropped.
		jobs.Task{Name: "ratelimit.purge", Every: 10 * time.Minute, Run: func(ctx context.Context, _ time.Time) error {
			_, err := limiter.Purge(ctx)
			return err
		}},
		// Unconfirmed checkout claims of storefront visitors expire.
		jobs.Task{Name: "events.purge_checkout_claims", Every: time.Hour, Run: func(ctx context.Context, now time.Time) error {
			_, err := events.PurgeClaims(ctx, d, now)
			return err
		}},
		// Raw bytes of rejected webhook deliveries expire.
		jobs.Task{Name: "webhooks.prune_raw_bodies", Every: time.Hour, Run: func(ctx context.Context, now time.Time) error {
			_, err := webhooks.PruneRawBodies(ctx, d, now)
			return err
		}},
	)
	if err != nil {
		return nil, err
	}
	river.AddWorker(workers, housekeeper)
	segmentStore := segments.NewStore(d)
	// The automation engine: runs start from signals, due steps run on the
	// flows queue, emails are reserved in the ledger and delivered on the
	// email queue.
	flowMailer := &flows.LedgerMailer{}
	flowEngine := &flows.Engine{DB: d, Mail: flowMailer, Profiles: customerStore, Log: log, Clock: o.Now}
	flowDiscounts := &flows.DiscountWorker{E: flowEngine, API: client, Shops: shopStore}
	river.AddWorker(workers, &flows.WakeWorker{E: flowEngine})
	river.AddWorker(workers, &flows.SweepWorker{E: flowEngine})
	river.AddWorker(workers, &flows.DatesWorker{E: flowEngine})
	river.AddWorker(workers, flowDiscounts)
	// Every signal of a customer change goes to one consumer: segments,
	// then flows, then the report rollups. A handler left unwired fails here, at start-up.
	consumer, err := signals.NewConsumer(d, signals.Handlers{
		Segments: o.segmentsHandler(segmentStore),
		Flows:    o.flowsHandler(flowEngine),
		Reports:  o.reportsHandler(),
	}, o.Now)
	if err != nil {
		return nil, err
	}
	consumer.Log = log
	river.AddWorker(workers, &segments.RefreshShopWorker{Store: segmentStore, Now: o.Now})
	// Campaigns: batches (campaigns.send, on the email queue) hand the
	// snapshot's recipients to delivery at the shop's rate, held across
	// every process by the PostgreSQL limiter; a periodic job starts the
	// scheduled ones when due.
	reportStore := &reports.Store{DB: d}
	// A/B results read each variant's attributed sales from the reports'
	// rollups (a winner by revenue is picked on them).
	campaignSending := &campaigns.Sending{Store: &campaigns.Store{DB: d, Segments: segmentStore, Sales: reportStore}, Limiter: limiter, Now: o.Now}
	river.AddWorker(workers, &campaigns.SendWorker{S: campaignSending})
	river.AddWorker(workers, &campaigns.StartDueWorker{S: campaignSending})
	river.AddWorker(workers, &segments.DailyWorker{Store: segmentStore, Now: o.Now})
	// The dashboard's member composition: weekly points kept by a job.
	lifecycleStore := &lifecycle.Store{DB: d, Now: o.Now}
	river.AddWorker(workers, &lifecycle.SnapshotWorker{Store: lifecycleStore, Now: o.Now})
	// The daily consistency sweep (its email part is set below, once built).
	sweeper := &consistency.Sweeper{DB: d, Orders: orderStore, Segments: segmentStore, Metrics: m, Log: log}
	river.AddWorker(workers, &consistency.Worker{Sweeper: sweeper, Now: o.Now})
	startDueEvery := time.Minute
	if cfg.Dev() {
		startDueEvery = 5 * time.Second
	}
	periodic := []*river.PeriodicJob{
		// "Bought together" recommendations from order co-occurrence, daily.
		river.NewPeriodicJob(river.PeriodicInterval(24*time.Hour),
			func() (river.JobArgs, *river.InsertOpts) { return render.RefreshPairsArgs{}, nil },
			&river.PeriodicJobOpts{RunOnStart: true}),
		// Ledger rows a dead worker left in "sending" are settled as failed.
		river.NewPeriodicJob(river.PeriodicInterval(5*time.Minute),
			func() (river.JobArgs, *river.InsertOpts) { return sender.SweepArgs{}, nil }, nil),
		// Segment memberships are fully recomputed daily at 02:00 shop time.
		segments.DailyPeriodicJob(),
		// Derived data is checked against the raw rows once a day per shop.
		consistency.PeriodicJob(),
		// Safety net for due runs (a resumed flow, a failed wake job), and
		// the date triggers (birthdays, days after the last order).
		flows.SweepPeriodicJob(),
		flows.DatesPeriodicJob(),
		// Scheduled campaigns whose time has come (every few seconds in
		// development, so a campaign scheduled a minute ahead is seen to
		// start on time).
		campaigns.StartDuePeriodicJob(startDueEvery),
		// Missing member composition points (all of them at first: the
		// backfill), hourly as each shop's day starts.
		lifecycle.SnapshotPeriodicJob(),
	}
	periodic = append(periodic, housekeeping...)

	jc, err := jobs.New(d.DB, workers, jobs.Options{Logger: log, Metrics: m, PollInterval: o.JobPollInterval, Periodic: periodic})
	if err != nil {
		return nil, err
	}
	customerStore.PushConsentWith(jc)
	// A change of an attribution window recomputes past attribution.
	shopStore.OnAttributionWindows(func(ctx context.Context, tx *sqlx.Tx, shopID int64, click, open int) error {
		return reports.StartRecompute(ctx, tx, jc, shopID, click, open)
	})
	wheelSvc.QueueWith(jc)
	flowEngine.QueueWith(jc)
	flowMailer.Jobs, flowDiscounts.Jobs = jc, jc
	campaignSending.QueueWith(jc)
	flowAdmin := web.FlowAdmin{Store: &flows.Store{DB: d, Lifecycle: flowEngine},
		Numbers: flowEngine, Waiting: flowEngine, StepNumbers: flowEngine, DryRuns: flowEngine}
	if cfg.Dev() {
		flowAdmin.DevClock = flowEngine
	}
	// Every write that changes a customer records a signal in its own
	// transaction (bulk imports: one full refresh of the shop, which
	// records the segment entries and exits). customers sits below
	// segments in the import graph, so it gets the shop refresh behind an
	// interface.
	customerStore.RefreshSegmentsWith(segments.Queue{Jobs: jc})
	storeSync.QueueWith(jc)
	importWorker.QueueWith(jc)
	emailSender.QueueWith(jc)
	importer := storesync.NewImporter(d, jc)
	postInstall.PixelSettings = func(shop string) map[string]string {
		// Must match [settings] in extensions/cartwheel-pixel/shopify.extension.toml.
		return map[string]string{"ingestUrl": cfg.AppURL.String() + "/ingest", "shop": shop}
	}
	postInstall.AfterInstall = func(ctx context.Context, shopID int64) error {
		// Presets first, so the full segment refresh that follows the
		// import fills them. EnsurePresets creates only the presets the
		// shop lacks, so a retried post-install adds nothing twice.
		if err := segmentStore.EnsurePresets(ctx, shopID, now(o.Now)); err != nil {
			return err
		}
		// A retried post-install finds its import already under way: fine.
		if err := importer.Start(ctx, shopID); err != nil && !errors.Is(err, storesync.ErrImportRunning) {
			return err
		}
		return nil
	}

	ingester := events.NewIngester(d, events.Options{Log: log})
	pipeline := &events.Pipeline{Ingester: ingester, Identity: events.NewIdentity(d, customerStore)}

	emailPublic, err := newEmailPublic(cfg, d, customerStore, jc, log, o.Now, tokens, senders)
	if err != nil {
		return nil, err
	}
	sweeper.Tracking = emailPublic.Tracking

	mailAdmin := web.EmailAdmin{Templates: templateStore, Products: productSource, Sender: emailSender}
	if ob, ok := provider.(*providers.Outbox); ok {
		mailAdmin.Outbox = ob
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
		Segments:  segmentStore,
		Imports:   importer,
		Wheel:     wheelSvc,
		Ingest:    pipeline,
		Timelines: []customers.TimelineSource{events.Timeline(d)},
		Jobs:      jc,
		Email:     emailPublic,
		Mail:      mailAdmin,
		Flows:     flowAdmin,
		Campaigns: web.CampaignAdmin{Store: campaignSending.Store, Sending: campaignSending},
		Reports:   reportStore,
		Lifecycle: lifecycleStore,
		Metrics:   m,
		Log:       log,
		Now:       o.Now,

		IngestLimits: o.IngestLimits,
		Limiter:      limiter,
	})
	return &App{Config: cfg, DB: d, Log: log, Metrics: m, Jobs: jc, Shops: shopStore, Shopify: client,
		Handler: handler, Webhooks: processor, Events: ingester,
		Tracking: emailPublic.Tracking, Senders: senders, Tracker: tracker, Sender: emailSender, Flows: flowEngine, Campaigns: campaignSending,
		Signals: consumer, opts: o}, nil
}

// now reads the clock tests may replace (Options.Now).
func now(f func() time.Time) time.Time {
	if f == nil {
		return time.Now()
	}
	return f()
}

// newEmailPublic builds email tracking, unsubscribe, SendGrid event
// processing and sender verification for the web layer.
func newEmailPublic(cfg *config.Config, d *sqlx.DB, cs *customers.Store, jc *jobs.Client, log *slog.Logger, now func() time.Time,
	tokens *tracking.Tokens, senders *tracking.SenderVerifier) (web.EmailPublic, error) {
	ep := web.EmailPublic{Tracking: tracking.New(tracking.Deps{DB: d, Tokens: tokens, Customers: cs, Jobs: jc, Log: log, Now: now}),
		Senders: senders}
	if cfg.SendGridWebhookPublicKey != "" {
		var err error
		if ep.SendGrid, err = tracking.NewSendGridVerifier(cfg.SendGridWebhookPublicKey); err != nil {
			return web.EmailPublic{}, err
		}
	}
	return ep, nil
}

// shutdownGrace bounds how long in-flight requests and jobs get to finish.
const shutdownGrace = 30 * time.Second

// Serve runs the HTTP server (and the workers when withWorkers) until ctx is
// cancelled, then stops taking requests, lets in-flight ones finish, and
// waits for running jobs.
//
// The HTTP server takes the listener before anything else starts: starting
// the workers first left a window in which a shutdown found no listener to
// close, and srv.Serve, starting later, closed it instead and reset the
// connections waiting in its backlog.
func (a *App) Serve(ctx context.Context, ln net.Listener, withWorkers bool) error {
	srv := &http.Server{
		Handler:           a.Handler,
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       30 * time.Second,
		WriteTimeout:      60 * time.Second,
		IdleTimeout:       120 * time.Second,
		ConnState:         a.opts.ConnState,
	}
	if a.opts.OnShutdown != nil {
		srv.RegisterOnShutdown(a.opts.OnShutdown)
	}
	accepting := make(chan struct{})
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(&acceptNotifier{Listener: ln, accepting: accepting}) }()
	var serveErr error
	select {
	case <-accepting: // the server owns the listener: Shutdown will close it
	case serveErr = <-errc:
		return fmt.Errorf("server: serve: %w", serveErr)
	}
	workers := false
	if withWorkers {
		err := a.StartWorkers(ctx)
		if err != nil && ctx.Err() == nil {
			a.shutdown(srv, false)
			return fmt.Errorf("server: start workers: %w", err)
		}
		workers = err == nil // else cancelled while starting: shut down below
	}
	a.Log.Info("listening", "addr", ln.Addr().String(), "workers", workers)

	select {
	case <-ctx.Done():
	case serveErr = <-errc:
	}
	a.shutdown(srv, workers)
	if serveErr != nil && !errors.Is(serveErr, http.ErrServerClosed) {
		return serveErr
	}
	return nil
}

// shutdown stops taking requests, lets in-flight ones finish, flushes queued
// events and waits for running jobs, all within shutdownGrace.
func (a *App) shutdown(srv *http.Server, withWorkers bool) {
	a.Log.Info("shutting down")
	stopCtx, cancel := context.WithTimeout(context.Background(), shutdownGrace)
	defer cancel()
	if err := srv.Shutdown(stopCtx); err != nil {
		a.Log.Error("http shutdown", "err", err)
	}
	// After the HTTP server: no request can queue events any more, and
	// what is queued is written before we exit.
	if err := a.Events.Close(stopCtx); err != nil {
		a.Log.Error("events shutdown", "err", err)
	}
	if withWorkers {
		if err := a.StopWorkers(stopCtx); err != nil {
			a.Log.Error("workers shutdown", "err", err)
		}
	}
}

// StartWorkers starts the River workers and the signals consumer.
func (a *App) StartWorkers(ctx context.Context) error {
	if err := a.Jobs.Start(ctx); err != nil {
		return err
	}
	sctx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	a.stopSignals, a.signalsLooped = cancel, make(chan struct{})
	go func() {
		defer close(a.signalsLooped)
		a.Signals.Run(sctx)
	}()
	return nil
}

// StopWorkers stops the signals consumer (its transaction in progress
// rolls back and is taken again by the next start) and waits for the
// River workers.
func (a *App) StopWorkers(ctx context.Context) error {
	if a.stopSignals != nil {
		a.stopSignals()
		select {
		case <-a.signalsLooped:
		case <-ctx.Done():
		}
	}
	return a.Jobs.Stop(ctx)
}

// acceptNotifier closes accepting on the server's first Accept call, which
// http.Server makes only after it has registered the listener for Shutdown.
type acceptNotifier struct {
	net.Listener
	once      sync.Once
	accepting chan struct{}
}

func (l *acceptNotifier) Accept() (net.Conn, error) {
	l.once.Do(func() { close(l.accepting) })
	return l.Listener.Accept()
}

// Work runs only the workers until ctx is cancelled.
func (a *App) Work(ctx context.Context) error {
	if err := a.StartWorkers(ctx); err != nil {
		return fmt.Errorf("server: start workers: %w", err)
	}
	a.Log.Info("workers running")
	<-ctx.Done()
	stopCtx, cancel := context.WithTimeout(context.Background(), shutdownGrace)
	defer cancel()
	return a.StopWorkers(stopCtx)
}
