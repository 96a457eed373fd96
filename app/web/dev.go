package web

import (
	"errors"
	"net/http"
	"net/url"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/cartwheel/cartwheel/app/shopify"
	"github.com/cartwheel/cartwheel/app/shops"
)

// devLogin signs a session token exactly as Shopify would and opens the
// admin with it, so the app can be used in a plain browser. It is routed
// only with APP_ENV=dev and answers loopback clients only (devOnly); the
// token it mints passes through the same verification as a real one.
func (s *server) devLogin(c *gin.Context) {
	shop, ok := s.devShop(c)
	if !ok {
		return
	}
	token, err := shopify.MintSessionToken(shop, s.Config.ShopifyAPIKey, s.Config.ShopifyAPISecret, "dev", s.Now(), time.Minute)
	if err != nil {
		s.fail(c, err)
		return
	}
	q := url.Values{"shop": {shop}, "id_token": {token}}
	c.Redirect(http.StatusFound, "/app?"+q.Encode())
}

// devToken stands in for App Bridge's shopify.idToken() in dev.
func (s *server) devToken(c *gin.Context) {
	shop, ok := s.devShop(c)
	if !ok {
		return
	}
	token, err := shopify.MintSessionToken(shop, s.Config.ShopifyAPIKey, s.Config.ShopifyAPISecret, "dev", s.Now(), time.Minute)
	if err != nil {
		s.fail(c, err)
		return
	}
	c.Header("Cache-Control", "no-store")
	c.String(http.StatusOK, token)
}

func (s *server) devShop(c *gin.Context) (string, bool) {
	shop := c.Query("shop")
	if !shopify.ValidShopDomain(shop) {
		c.AbortWithStatusJSON(http.StatusBadRequest, gin.H{"error": "shop must be a myshopify.com domain, e.g. /dev/login?shop=demo.myshopify.com"})
		return "", false
	}
	if _, err := s.Shops.Installed(c.Request.Context(), shop); err != nil {
		if errors.Is(err, shops.ErrNotFound) || errors.Is(err, shops.ErrNotInstalled) {
			c.AbortWithStatusJSON(http.StatusNotFound, gin.H{"error": shop + " is not installed here; run `cartwheel dev` (it creates demo.myshopify.com) or install the app on that shop"})
			return "", false
		}
		s.fail(c, err)
		return "", false
	}
	return shops.NormalizeDomain(shop), true
}
