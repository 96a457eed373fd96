package web

import (
	"errors"
	"net"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/cartwheel/cartwheel/app/shopify"
	"github.com/cartwheel/cartwheel/app/shops"
	"github.com/cartwheel/cartwheel/views"
)

const shopKey = "cartwheel.shop"

// observe logs each request and feeds the request metrics. The route label
// is gin's pattern, never the raw path, to keep the label set bounded.
func (s *server) observe() gin.HandlerFunc {
	return func(c *gin.Context) {
		start := time.Now()
		c.Next()
		route := c.FullPath()
		if route == "" {
			route = "unmatched"
		}
		d := time.Since(start)
		code := strconv.Itoa(c.Writer.Status())
		s.Metrics.HTTPRequests.WithLabelValues(route, c.Request.Method, code).Inc()
		s.Metrics.HTTPDuration.WithLabelValues(route).Observe(d.Seconds())
		if route != "/healthz" && route != "/metrics" && !strings.HasPrefix(route, "/static") {
			s.Log.Info("request", "method", c.Request.Method, "route", route, "status", c.Writer.Status(), "duration_ms", d.Milliseconds())
		}
	}
}

func (s *server) recoverer() gin.HandlerFunc {
	return gin.CustomRecovery(func(c *gin.Context, err any) {
		s.Log.Error("panic serving request", "path", c.Request.URL.Path, "err", err)
		c.AbortWithStatus(http.StatusInternalServerError)
	})
}

// setFrameAncestors sets the admin's CSP: only the Shopify admin may frame
// the page, and scripts come from this app (/static), Shopify's CDN (App
// Bridge) or an inline script carrying this response's nonce.
func setFrameAncestors(c *gin.Context, shop string) {
	ancestors := "https://admin.shopify.com"
	if shopify.ValidShopDomain(shop) {
		ancestors = "https://" + strings.ToLower(shop) + " " + ancestors
	}
	c.Header("Content-Security-Policy", "frame-ancestors "+ancestors+"; script-src 'self' https://cdn.shopify.com 'nonce-"+
		cspNonce(c)+"'; object-src 'none'; base-uri 'self'")
}

// requireSession authenticates admin requests with an App Bridge session
// token: `Authorization: Bearer` on XHR/fetch (htmx included), or the
// id_token query parameter on a document load. The shop comes from the
// verified token only. A document load without any token gets the bounce
// page, which fetches a token and reloads; everything else without a valid
// token gets 401.
func (s *server) requireSession(api bool) gin.HandlerFunc {
	return func(c *gin.Context) {
		setFrameAncestors(c, c.Query("shop"))
		token, fromHeader := bearer(c.Request)
		if !fromHeader && c.Request.Method == http.MethodGet {
			token = c.Query("id_token")
		}
		document := !api && c.Request.Method == http.MethodGet && c.GetHeader("HX-Request") == ""
		if token == "" {
			if document {
				s.render(c, http.StatusOK, views.Bounce(s.page(c, "Loading", "")))
				c.Abort()
				return
			}
			s.unauthorized(c, "missing session token: send Authorization: Bearer <session token>")
			return
		}
		claims, err := shopify.VerifySessionToken(token, s.Config.ShopifyAPIKey, s.Config.ShopifyAPISecret, s.Now())
		if err != nil {
			s.unauthorized(c, err.Error())
			return
		}
		sh, err := s.Shops.Installed(c.Request.Context(), claims.Shop)
		if errors.Is(err, shops.ErrNotFound) || errors.Is(err, shops.ErrNotInstalled) {
			s.unauthorized(c, "Cartwheel is not installed on "+claims.Shop+": install it from the Shopify App Store or your admin")
			return
		}
		if err != nil {
			s.fail(c, err)
			return
		}
		setFrameAncestors(c, sh.Domain)
		c.Set(shopKey, sh)
		c.Next()
	}
}

// unauthorized answers 401; the retry header tells App Bridge to fetch a
// new token and repeat the request once.
func (s *server) unauthorized(c *gin.Context, reason string) {
	c.Header("X-Shopify-Retry-Invalid-Session-Request", "1")
	if c.GetHeader("HX-Request") != "" || strings.HasPrefix(c.Request.URL.Path, "/api/") || c.Request.Method != http.MethodGet {
		c.AbortWithStatusJSON(http.StatusUnauthorized, gin.H{"error": reason})
		return
	}
	s.renderError(c, http.StatusUnauthorized, "You need to open Cartwheel from your Shopify admin. ("+reason+")")
	c.Abort()
}

func bearer(r *http.Request) (string, bool) {
	h := r.Header.Get("Authorization")
	if len(h) > 7 && strings.EqualFold(h[:7], "bearer ") {
		return strings.TrimSpace(h[7:]), true
	}
	return "", false
}

// currentShop is the shop the session middleware verified.
func currentShop(c *gin.Context) shops.Shop {
	return c.MustGet(shopKey).(shops.Shop)
}

// devOnly guards the dev helpers: APP_ENV=dev (checked at routing) and a
// loopback client, so a dev build exposed by mistake still refuses the world.
func (s *server) devOnly(c *gin.Context) {
	host, _, err := net.SplitHostPort(c.Request.RemoteAddr)
	ip := net.ParseIP(host)
	if err != nil || ip == nil || !ip.IsLoopback() || c.GetHeader("X-Forwarded-For") != "" {
		c.AbortWithStatusJSON(http.StatusForbidden, gin.H{"error": "dev helpers answer loopback clients only"})
		return
	}
	c.Next()
}
