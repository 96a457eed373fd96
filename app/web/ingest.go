package web

import (
	"context"
	"errors"
	"io"
	"net/http"
	"net/url"
	"slices"
	"strings"

	"github.com/gin-gonic/gin"

	"github.com/cartwheel/cartwheel/app/events"
	"github.com/cartwheel/cartwheel/app/ratelimit"
	"github.com/cartwheel/cartwheel/app/shopify"
	"github.com/cartwheel/cartwheel/app/shops"
)

// Ingester stores storefront event batches (POST /ingest from the web
// pixel, POST /proxy/events from the theme's tracker) and applies their
// identity signals. It returns once the accepted events are durable.
type Ingester interface {
	Ingest(ctx context.Context, shopID int64, b events.Batch, loggedInCustomer int64) (events.Result, error)
}

// IngestLimits are the rate limits of the ingest endpoints (requests per
// second and burst), shared by every instance. Zero values take the
// defaults.
type IngestLimits struct {
	PerIP, PerVisitor       float64
	IPBurst, VisitorBurst   int
	DisableForBenchmarkOnly bool
}

func (l IngestLimits) withDefaults() IngestLimits {
	if l.PerIP == 0 {
		// Generous: shoppers behind one NAT (offices, mobile carriers)
		// share an address.
		l.PerIP, l.IPBurst = 50, 200
	}
	if l.PerVisitor == 0 {
		// A browsing shopper sends a batch every second or two at most.
		l.PerVisitor, l.VisitorBurst = 5, 30
	}
	return l
}

// ingestRoutes serves POST /ingest and POST /proxy/events.
func (s *server) ingestRoutes(r *gin.Engine, proxy *gin.RouterGroup) {
	lim := s.IngestLimits.withDefaults()
	h := &ingestHandler{s: s, off: lim.DisableForBenchmarkOnly,
		byIP: ratelimit.Rule{Name: "ingest_ip", Rate: lim.PerIP, Burst: lim.IPBurst,
			Message: "Too many requests from this address; slow down."},
		byVisitor: ratelimit.Rule{Name: "ingest_visitor", Rate: lim.PerVisitor, Burst: lim.VisitorBurst,
			Message: "Too many batches from this visitor; slow down."}}
	r.OPTIONS("/ingest", h.preflight)
	r.POST("/ingest", h.pixel)
	proxy.POST("/events", h.theme)
}

type ingestHandler struct {
	s         *server
	off       bool // benchmarks only
	byIP      ratelimit.Rule
	byVisitor ratelimit.Rule
}

// preflight answers the browser's CORS check. It carries no body, so the
// shop is unknown: an origin passes when it is a myshopify.com storefront
// or a known storefront origin of an installed shop; the POST is then
// checked against the shop it names.
func (h *ingestHandler) preflight(c *gin.Context) {
	origin := c.GetHeader("Origin")
	c.Header("Vary", "Origin")
	ok := false
	if host, isHTTPS := originHost(origin); isHTTPS && shopify.ValidShopDomain(host) {
		ok = true
	} else if isHTTPS {
		known, err := h.s.Shops.KnownStorefrontOrigin(c.Request.Context(), origin)
		if err != nil {
			h.s.fail(c, err)
			return
		}
		ok = known
	}
	if !ok {
		c.AbortWithStatus(http.StatusForbidden)
		return
	}
	c.Header("Access-Control-Allow-Origin", origin)
	c.Header("Access-Control-Allow-Methods", "POST")
	c.Header("Access-Control-Allow-Headers", "Content-Type")
	c.Header("Access-Control-Max-Age", "86400")
	c.Status(http.StatusNoContent)
}

// pixel is POST /ingest: the shop comes from the body and must be
// installed; a browser origin must be one of that shop's storefronts.
func (h *ingestHandler) pixel(c *gin.Context) {
	c.Header("Vary", "Origin")
	b, ok := h.read(c, events.SourcePixel)
	if !ok {
		return
	}
	if !shopify.ValidShopDomain(b.Shop) {
		c.JSON(http.StatusBadRequest, gin.H{"error": "shop must be the store's myshopify.com domain"})
		return
	}
	sh, err := h.s.Shops.Installed(c.Request.Context(), b.Shop)
	if errors.Is(err, shops.ErrNotFound) || errors.Is(err, shops.ErrNotInstalled) {
		c.JSON(http.StatusNotFound, gin.H{"error": "Cartwheel is not installed on this store"})
		return
	}
	if err != nil {
		h.s.fail(c, err)
		return
	}
	// CORS only stops a browser from reading the answer; refusing a
	// foreign origin here also keeps its events out. Requests without an
	// Origin (or the opaque "null" of a sandboxed frame) are not browsers
	// speaking for another site, and are held to the same schema and limits.
	if origin := c.GetHeader("Origin"); origin != "" && origin != "null" {
		if !storefrontOrigin(sh, origin) {
			c.JSON(http.StatusForbidden, gin.H{"error": "this origin is not a storefront of " + sh.Domain})
			return
		}
		c.Header("Access-Control-Allow-Origin", origin)
	}
	h.store(c, sh.ID, b, 0)
}

// theme is POST /proxy/events: requireProxy verified the signature, so the
// shop and the logged-in customer come from Shopify's signed query.
func (h *ingestHandler) theme(c *gin.Context) {
	sh := currentShop(c)
	b, ok := h.read(c, events.SourceTheme)
	if !ok {
		return
	}
	if b.Shop != "" && b.Shop != sh.Domain {
		c.JSON(http.StatusBadRequest, gin.H{"error": "shop in the body differs from the store this request came through"})
		return
	}
	b.Shop = sh.Domain
	h.store(c, sh.ID, b, proxyCustomerID(c))
}

// read applies the IP limit, reads at most the contract's 64 KB, parses,
// and applies the visitor limit. It answers the request itself when it
// returns false.
func (h *ingestHandler) read(c *gin.Context, src events.Source) (events.Batch, bool) {
	now := h.s.Now()
	// Through the app proxy the address is the shopper's, forwarded by
	// Shopify (requireProxy), and proxyPerIP already counted the request.
	if _, proxied := c.Get(proxyClientIPKey); !proxied && !h.off && !h.s.limit(c, h.byIP, clientIP(c)) {
		return events.Batch{}, false
	}
	body, err := io.ReadAll(http.MaxBytesReader(c.Writer, c.Request.Body, events.MaxBodyBytes))
	var tooBig *http.MaxBytesError
	if errors.As(err, &tooBig) {
		c.JSON(http.StatusRequestEntityTooLarge, gin.H{"error": "a batch may be at most 64 KB"})
		return events.Batch{}, false
	}
	if err != nil {
		c.JSON(http.StatusBadRequest, gin.H{"error": "could not read the request body"})
		return events.Batch{}, false
	}
	b, rejected, err := events.ParseAt(body, src, now)
	switch {
	case errors.Is(err, events.ErrTooLarge):
		c.JSON(http.StatusRequestEntityTooLarge, gin.H{"error": strings.TrimPrefix(err.Error(), "events: ")})
		return events.Batch{}, false
	case err != nil:
		c.JSON(http.StatusBadRequest, gin.H{"error": strings.TrimPrefix(err.Error(), "events: ")})
		return events.Batch{}, false
	}
	if !h.off && !h.s.limit(c, h.byVisitor, b.VisitorID) {
		return events.Batch{}, false
	}
	c.Set(rejectedKey, rejected)
	return b, true
}

const rejectedKey = "cartwheel.ingest_rejected"

// store writes the batch and answers 202 once it is durable.
func (h *ingestHandler) store(c *gin.Context, shopID int64, b events.Batch, loggedIn int64) {
	rejected, _ := c.Get(rejectedKey)
	rej, _ := rejected.([]events.Rejection)
	if rej == nil {
		rej = []events.Rejection{}
	}
	res := events.Result{Duplicates: b.Repeats}
	if len(b.Events) > 0 {
		var err error
		res, err = h.s.Ingest.Ingest(c.Request.Context(), shopID, b, loggedIn)
		if errors.Is(err, events.ErrClosed) {
			c.Header("Retry-After", "5")
			c.JSON(http.StatusServiceUnavailable, gin.H{"error": "shutting down; please retry"})
			return
		}
		if err != nil {
			h.s.fail(c, err)
			return
		}
	}
	c.JSON(http.StatusAccepted, gin.H{"accepted": res.Accepted, "duplicates": res.Duplicates, "rejected": rej})
}

// originHost returns the host of an https origin ("https://host[:port]").
func originHost(origin string) (string, bool) {
	u, err := url.Parse(origin)
	if err != nil || u.Scheme != "https" || u.Host == "" || u.Path != "" || u.User != nil {
		return "", false
	}
	return strings.ToLower(u.Hostname()), true
}

// storefrontOrigin reports whether origin is one of the shop's storefronts:
// its myshopify.com domain or a domain stored from Shopify.
func storefrontOrigin(sh shops.Shop, origin string) bool {
	host, ok := originHost(origin)
	if !ok {
		return false
	}
	if host == sh.Domain && origin == "https://"+host {
		return true
	}
	return slices.Contains(sh.StorefrontOrigins, strings.ToLower(origin))
}
