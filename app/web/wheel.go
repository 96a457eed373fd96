package web

import "github.com/gin-gonic/gin"

// WheelService runs the signup wheel: configuration, spins, stats.
type WheelService interface{}

// wheelRoutes serves Admin › Signup wheel and the storefront's
// /proxy/wheel and /proxy/spin.
func (s *server) wheelRoutes(app, proxy *gin.RouterGroup) {
	p := comingSoonPages[5]
	app.GET(p.path, s.comingSoon(p))
}
