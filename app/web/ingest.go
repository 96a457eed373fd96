package web

import "github.com/gin-gonic/gin"

// Ingester stores storefront event batches (POST /ingest from the web
// pixel, POST /proxy/events from the theme's tracker).
type Ingester interface{}

// ingestRoutes serves POST /ingest and POST /proxy/events.
func (s *server) ingestRoutes(r *gin.Engine, proxy *gin.RouterGroup) {}
