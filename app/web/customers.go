package web

import "github.com/gin-gonic/gin"

// customerRoutes serves Customers: list, profile, CSV import and export.
func (s *server) customerRoutes(app *gin.RouterGroup) {
	p := comingSoonPages[0]
	app.GET(p.path, s.comingSoon(p))
}
