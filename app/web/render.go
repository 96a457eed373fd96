package web

import (
	"net/http"

	"github.com/a-h/templ"
	"github.com/gin-gonic/gin"

	"github.com/cartwheel/cartwheel/app/shopify"
	"github.com/cartwheel/cartwheel/app/shops"
	"github.com/cartwheel/cartwheel/views"
)

// page fills what every admin page needs. Before authentication the shop is
// only the (validated) query parameter, used for nothing but display.
func (s *server) page(c *gin.Context, title, active string) views.Page {
	shop := ""
	if v, ok := c.Get(shopKey); ok {
		shop = v.(shops.Shop).Domain
	} else if q := c.Query("shop"); shopify.ValidShopDomain(q) {
		shop = q
	}
	return views.Page{
		Title:      title,
		Shop:       shop,
		APIKey:     s.Config.ShopifyAPIKey,
		Production: !s.Config.Dev(),
		Dev:        s.Config.Dev(),
		Active:     active,
		Assets:     s.assets,
	}
}

func (s *server) render(c *gin.Context, status int, comp templ.Component) {
	c.Header("Content-Type", "text/html; charset=utf-8")
	c.Header("Cache-Control", "no-store")
	c.Status(status)
	if err := comp.Render(c.Request.Context(), c.Writer); err != nil {
		s.Log.Error("render", "path", c.Request.URL.Path, "err", err)
	}
}

func (s *server) renderError(c *gin.Context, status int, message string) {
	s.render(c, status, views.ErrorPage(s.page(c, http.StatusText(status), ""), status, message))
}

// fail logs an unexpected error and answers 500 without details.
func (s *server) fail(c *gin.Context, err error) {
	s.Log.Error("request failed", "path", c.Request.URL.Path, "err", err)
	if c.GetHeader("HX-Request") != "" || c.Request.Method != http.MethodGet {
		c.AbortWithStatusJSON(http.StatusInternalServerError, gin.H{"error": "something went wrong on our side; please try again"})
		return
	}
	s.renderError(c, http.StatusInternalServerError, "Something went wrong on our side. Please try again in a moment.")
	c.Abort()
}
