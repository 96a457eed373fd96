// Package web is the HTTP layer: the gin router, authentication middleware
// and thin handlers that parse a request, call a domain package and render a
// view. It holds no SQL.
package web

import (
	"context"
	"log/slog"
	"net/http"
	"strings"
	"time"

	"github.com/gin-gonic/gin"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/cartwheel/cartwheel/app/catalog"
	"github.com/cartwheel/cartwheel/app/config"
	"github.com/cartwheel/cartwheel/app/customers"
	"github.com/cartwheel/cartwheel/app/jobs"
	"github.com/cartwheel/cartwheel/app/lifecycle"
	"github.com/cartwheel/cartwheel/app/metrics"
	"github.com/cartwheel/cartwheel/app/orders"
	"github.com/cartwheel/cartwheel/app/privacy"
	"github.com/cartwheel/cartwheel/app/ratelimit"
	"github.com/cartwheel/cartwheel/app/reports"
	"github.com/cartwheel/cartwheel/app/segments"
	"github.com/cartwheel/cartwheel/app/shopify"
	"github.com/cartwheel/cartwheel/app/shops"
	"github.com/cartwheel/cartwheel/app/webhooks"
	"github.com/cartwheel/cartwheel/views"
)

// ShopifyAuth is the part of the Shopify client the install flows need.
type ShopifyAuth interface {
	AuthorizeURL(shop, redirectURI, state string) (string, error)
	ExchangeCode(ctx context.Context, shop, code string) (shopify.AccessToken, error)
	ExchangeSessionToken(ctx context.Context, shop, sessionToken string) (shopify.AccessToken, error)
}

// Pinger reports whether the database answers.
type Pinger interface {
	PingContext(ctx context.Context) error
}

// Deps are what the handlers call.
type Deps struct {
	Config    *config.Config
	DB        Pinger
	Shops     *shops.Store
	Installer *shops.Installer
	States    *shops.OAuthStates
	Shopify   ShopifyAuth
	Webhooks  *webhooks.Receiver
	Privacy   *privacy.Service
	Customers *customers.Store
	Orders    *orders.Store
	Catalog   *catalog.Store
	Segments  *segments.Store
	Imports   Importer
	Ingest    Ingester
	// Timelines add other domains' entries to customer profiles.
	Timelines []customers.TimelineSource
	// IngestLimits tune the ingest rate limits (zero: defaults).
	IngestLimits IngestLimits
	Wheel        WheelService
	Jobs         jobs.Inserter // enqueues jobs inside a domain transaction (CSV imports)
	Email        EmailPublic   // tracking, unsubscribe, SendGrid events (see email_public.go)
	Mail         EmailAdmin    // templates, test sends, the dev outbox (see templates.go)
	Flows        FlowAdmin     // Admin › Flows (see flows.go)
	Campaigns    CampaignAdmin // Admin › Campaigns (see campaigns.go)
	Reports      *reports.Store
	Lifecycle    *lifecycle.Store // the dashboard's lifecycle and composition cards (dashboard_cards.go)
	Metrics      *metrics.Metrics
	Log          *slog.Logger
	Now          func() time.Time

	// Limiter keeps every rate limit in PostgreSQL (nil: no limits).
	Limiter *ratelimit.Limiter
}

type server struct {
	Deps
	assets views.Assets
}

// NewRouter builds the whole HTTP surface.
func NewRouter(d Deps) http.Handler {
	if d.Now == nil {
		d.Now = time.Now
	}
	if d.Log == nil {
		d.Log = slog.Default()
	}
	gin.SetMode(gin.ReleaseMode)
	s := &server{Deps: d, assets: views.StaticAssets()}

	r := gin.New()
	r.ContextWithFallback = true
	r.Use(s.recoverer(), s.observe(), s.guard())

	r.GET("/healthz", s.healthz)
	r.GET("/metrics", s.metricsAuth, gin.WrapH(promhttp.HandlerFor(d.Metrics.Registry, promhttp.HandlerOpts{})))
	r.GET("/static/*path", gin.WrapH(http.StripPrefix("/static", views.StaticHandler())))

	r.GET("/", s.embeddedEntry)
	r.GET("/auth", s.authBegin)
	r.GET("/auth/callback", s.authCallback)
	r.POST("/webhooks", s.webhook)

	app := r.Group("/app", s.requireSession(false))
	app.GET("", s.dashboard)
	if s.Reports != nil {
		app.GET("/dashboard.csv", s.dashboardCSV)
	}
	for _, p := range comingSoonPages {
		if p.key == "customers" || p.key == "wheel" || p.key == "templates" || p.key == "segments" || p.key == "flows" || p.key == "campaigns" ||
			(p.key == "reports" && s.Reports != nil) {
			continue // customerRoutes, wheelRoutes, templateRoutes, segmentRoutes, flowRoutes and campaignRoutes serve these
		}
		app.GET(p.path, s.comingSoon(p))
	}
	app.GET("/settings", s.settingsPage)
	app.POST("/settings", s.settingsSave)
	app.GET("/settings/privacy/:id/export", s.privacyExport)
	s.emailAdminRoutes(app) // before customerRoutes: /customers/suppressed beside /customers/:id
	s.customerRoutes(app)
	s.importRoutes(app)
	s.templateRoutes(app)
	s.flowRoutes(app)
	s.campaignRoutes(app)
	s.reportRoutes(app)
	if s.Reports != nil {
		s.rangeReportRoutes(app) // Admin › Reports (reports_page.go)
	}
	if s.Lifecycle != nil {
		s.dashboardCardRoutes(app) // the dashboard's lifecycle and composition cards
	}

	proxy := r.Group("/proxy", s.requireProxy())
	s.ingestRoutes(r, proxy)
	s.wheelRoutes(app, proxy)

	s.emailPublicRoutes(r)

	api := r.Group("/api", s.requireSession(true))
	api.GET("/session", s.apiSession)
	s.segmentRoutes(app, api)

	if d.Config.Dev() {
		r.GET("/dev/login", s.devOnly, s.devLogin)
		r.GET("/dev/token", s.devOnly, s.devToken)
		s.devStorefrontRoutes(r)
	}
	r.NoRoute(s.notFound)
	return r
}

// notFound answers an unknown admin address with the admin's styled page
// (its navigation leads back); anything else gets a plain 404.
func (s *server) notFound(c *gin.Context) {
	p := c.Request.URL.Path
	if (p == "/app" || strings.HasPrefix(p, "/app/")) && c.Request.Method == http.MethodGet {
		s.render(c, http.StatusNotFound, views.ErrorPage(s.page(c, "Page not found", ""), http.StatusNotFound,
			"There is no page at this address: the link may be mistyped, or what it pointed to was deleted."))
		return
	}
	c.String(http.StatusNotFound, "not found")
}

func (s *server) healthz(c *gin.Context) {
	ctx, cancel := context.WithTimeout(c.Request.Context(), 2*time.Second)
	defer cancel()
	if err := s.DB.PingContext(ctx); err != nil {
		s.Log.Error("health check: database", "err", err)
		c.JSON(http.StatusServiceUnavailable, gin.H{"status": "unavailable", "database": "unreachable"})
		return
	}
	c.JSON(http.StatusOK, gin.H{"status": "ok", "database": "ok"})
}
