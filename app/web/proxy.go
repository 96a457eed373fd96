package web

import (
	"errors"
	"net/http"
	"strconv"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/cartwheel/cartwheel/app/shopify"
	"github.com/cartwheel/cartwheel/app/shops"
)

// proxyMaxAge bounds how old a signed app-proxy URL may be. Shopify signs
// each proxied request afresh, so only a replay is ever older.
const proxyMaxAge = 5 * time.Minute

const proxyCustomerKey = "cartwheel.proxy_customer"

// requireProxy authenticates storefront requests that come through
// Shopify's app proxy (/apps/cartwheel/* on the shop's domain): the
// signature over the query and its timestamp are checked before anything
// else is read, then the shop must be installed. The shop and the logged-in
// Shopify customer (if any) come from the signed query only.
func (s *server) requireProxy() gin.HandlerFunc {
	return func(c *gin.Context) {
		c.Header("Cache-Control", "no-store")
		q := c.Request.URL.Query()
		if err := shopify.VerifyProxySignature(q, s.Config.ShopifyAPISecret, s.Now(), proxyMaxAge); err != nil {
			c.AbortWithStatusJSON(http.StatusUnauthorized, gin.H{"error": "this request did not come through the store's app proxy"})
			return
		}
		// Only now, with the signature verified, is X-Forwarded-For known
		// to be Shopify's account of the shopper's address.
		c.Set(proxyClientIPKey, proxyClientIP(c))
		if !s.limit(c, proxyPerIP, clientIP(c)) {
			return
		}
		shop := q.Get("shop")
		if !shopify.ValidShopDomain(shop) {
			c.AbortWithStatusJSON(http.StatusBadRequest, gin.H{"error": "shop must be a myshopify.com domain"})
			return
		}
		sh, err := s.Shops.Installed(c.Request.Context(), shop)
		if errors.Is(err, shops.ErrNotFound) || errors.Is(err, shops.ErrNotInstalled) {
			c.AbortWithStatusJSON(http.StatusNotFound, gin.H{"error": "Cartwheel is not installed on this store"})
			return
		}
		if err != nil {
			s.fail(c, err)
			return
		}
		c.Set(shopKey, sh)
		if id, err := strconv.ParseInt(q.Get("logged_in_customer_id"), 10, 64); err == nil && id > 0 {
			c.Set(proxyCustomerKey, id)
		}
		c.Next()
	}
}

// proxyCustomerID is the Shopify id of the logged-in storefront customer,
// as Shopify's signed proxy query says (0 for a guest).
func proxyCustomerID(c *gin.Context) int64 {
	if v, ok := c.Get(proxyCustomerKey); ok {
		return v.(int64)
	}
	return 0
}
