package web

import "github.com/gin-gonic/gin"

// devStorefrontRoutes serves the local storefront used without Shopify
// (APP_ENV=dev, loopback only).
func (s *server) devStorefrontRoutes(r *gin.Engine) {}
