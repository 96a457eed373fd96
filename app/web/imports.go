package web

import (
	"context"

	"github.com/gin-gonic/gin"
)

// Importer starts and reports full store imports (Settings › Data).
type Importer interface {
	// Start queues a full import of every resource for the shop.
	Start(ctx context.Context, shopID int64) error
}

// importRoutes serves Settings › Data: import progress and Re-sync.
func (s *server) importRoutes(app *gin.RouterGroup) {}
