package web

import (
	"math"
	"net"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/cartwheel/cartwheel/app/ratelimit"
)

// Limits of the public endpoints. The counters are in PostgreSQL
// (app/ratelimit), so they hold across every running instance.
var (
	// Spins: a shopper spins once; a few retries cover a mistyped address.
	spinPerVisitor = ratelimit.Rule{Name: "spin_visitor", Burst: 3, Rate: 1.0 / 300,
		Message: "You've tried the wheel several times in a row. Please wait a few minutes and try again."}
	// Shoppers behind one address (an office, a mobile carrier) share it.
	spinPerIP = ratelimit.PerWindow("spin_ip", 10, time.Hour,
		"Too many spins from your network. Please try again later.")
	// Every other app proxy request (wheel config, code polling).
	proxyPerIP = ratelimit.Rule{Name: "proxy_ip", Rate: 20, Burst: 100,
		Message: "Too many requests. Please wait a moment and try again."}
	// Test sends go to any address the merchant types: bounded per shop to
	// protect the sender's reputation.
	testSendsPerShop = ratelimit.PerWindow("test_send", 10, 10*time.Minute,
		"You've sent 10 test emails in the last 10 minutes. Please wait a few minutes before sending another.")
)

// limit takes a token of rule for key; when none is left it answers 429
// with Retry-After and the rule's message as JSON, and returns false.
func (s *server) limit(c *gin.Context, rule ratelimit.Rule, key string) bool {
	ok, wait := s.allow(c, rule, key)
	if ok {
		return true
	}
	retryAfter(c, wait)
	c.AbortWithStatusJSON(http.StatusTooManyRequests, gin.H{"error": "rate_limited", "message": rule.Message})
	return false
}

// allow checks a limit without answering; a limiter failure lets the
// request through (logged).
func (s *server) allow(c *gin.Context, rule ratelimit.Rule, key string) (bool, time.Duration) {
	if s.Limiter == nil {
		return true, 0
	}
	dec, err := s.Limiter.Allow(c.Request.Context(), rule, key)
	if err != nil {
		s.Log.Warn("rate limit check failed; request allowed", "rule", rule.Name, "err", err)
	}
	return dec.Allowed, dec.RetryAfter
}

func retryAfter(c *gin.Context, wait time.Duration) {
	secs := int(math.Ceil(wait.Seconds()))
	if secs < 1 {
		secs = 1
	}
	c.Header("Retry-After", strconv.Itoa(secs))
}

const proxyClientIPKey = "cartwheel.proxy_client_ip"

// clientIP is the shopper's address. Through the app proxy every request
// comes from Shopify's servers, and Shopify forwards the shopper's address
// in X-Forwarded-For; requireProxy reads it only once the request's
// signature is verified (see proxyClientIP). Anything else is keyed on the
// connection's address.
func clientIP(c *gin.Context) string {
	if v, ok := c.Get(proxyClientIPKey); ok {
		return v.(string)
	}
	return c.RemoteIP()
}

// proxyClientIP reads the shopper's address Shopify put in
// X-Forwarded-For: the first entry (a load balancer in front of the app may
// append its own hops after it). Falls back to the connection's address.
func proxyClientIP(c *gin.Context) string {
	first, _, _ := strings.Cut(c.GetHeader("X-Forwarded-For"), ",")
	if ip := net.ParseIP(strings.TrimSpace(first)); ip != nil {
		return ip.String()
	}
	return c.RemoteIP()
}
