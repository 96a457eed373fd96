package web

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/cartwheel/cartwheel/app/storesync"
	"github.com/cartwheel/cartwheel/views"
)

// Importer starts and reports full store imports (Settings › Data).
type Importer interface {
	// Start queues a full import of every resource for the shop; it returns
	// storesync.ErrImportRunning while one is under way.
	Start(ctx context.Context, shopID int64) error
	// Progress reports the latest import of each resource.
	Progress(ctx context.Context, shopID int64) (storesync.Progress, error)
}

// importRoutes serves Settings › Data: import progress and Re-sync.
func (s *server) importRoutes(app *gin.RouterGroup) {
	app.GET("/settings/data/progress", s.storeSyncProgress)
	app.POST("/settings/data/resync", s.storeSyncResync)
}

func (s *server) storeSyncProgress(c *gin.Context) {
	if s.Imports == nil {
		c.String(http.StatusNotFound, "imports are not available")
		return
	}
	d, err := s.storeSyncData(c.Request.Context(), currentShop(c).ID)
	if err != nil {
		s.fail(c, err)
		return
	}
	d.Compact = c.Query("compact") != ""
	s.render(c, http.StatusOK, views.StoreSyncProgress(d))
}

// storeSyncResync starts a new import: 202 with the refreshed fragment, or 409
// with the reason while one runs.
func (s *server) storeSyncResync(c *gin.Context) {
	if s.Imports == nil {
		c.String(http.StatusNotFound, "imports are not available")
		return
	}
	ctx := c.Request.Context()
	shopID := currentShop(c).ID
	err := s.Imports.Start(ctx, shopID)
	if errors.Is(err, storesync.ErrImportRunning) {
		c.AbortWithStatusJSON(http.StatusConflict, gin.H{
			"error": "An import is already running. Re-sync is possible once it has finished.",
		})
		return
	}
	if err != nil {
		s.fail(c, err)
		return
	}
	d, err := s.storeSyncData(ctx, shopID)
	if err != nil {
		s.fail(c, err)
		return
	}
	d.Message = "Re-sync started. Your store's data is being imported again."
	s.render(c, http.StatusAccepted, views.StoreSyncProgress(d))
}

// storeSyncData maps import progress to the view.
func (s *server) storeSyncData(ctx context.Context, shopID int64) (views.StoreSyncData, error) {
	p, err := s.Imports.Progress(ctx, shopID)
	if err != nil {
		return views.StoreSyncData{}, err
	}
	labels := map[string]string{
		storesync.ResourceProducts: "Products", storesync.ResourceCustomers: "Customers",
		storesync.ResourceOrders: "Orders", storesync.ResourceCheckouts: "Abandoned checkouts",
	}
	d := views.StoreSyncData{Running: p.Running(), Retrying: p.Retrying(), Failed: p.Failed()}
	for _, r := range p.Runs {
		v := views.StoreSyncRun{Label: labels[r.Resource], Status: r.Status, Percent: r.Percent(),
			RowsDone: r.RowsDone, RowsTotal: r.RowsTotal, Errors: r.Errors, Retrying: r.Retrying}
		if r.Rate > 0 && r.Active() {
			v.Rate = fmt.Sprintf("%.0f rows/s", r.Rate)
		}
		if r.ETA > 0 {
			v.ETA = "about " + roughDuration(r.ETA)
		}
		// A job failure is the same for every resource it left unfinished:
		// said once, above the bars.
		switch {
		case r.Status == "failed" && d.Problem == "":
			d.Problem = "The import stopped: " + r.LastError
		case r.Retrying && d.Problem == "":
			d.Problem = "Import " + r.LastError + ". Cartwheel tries again automatically."
		case r.Status != "failed" && !r.Retrying && len(r.ErrorSamples) > 0:
			v.Problem = "First skipped row: " + r.ErrorSamples[0]
		}
		d.Runs = append(d.Runs, v)
	}
	return d, nil
}

func roughDuration(d time.Duration) string {
	switch {
	case d < time.Minute:
		return fmt.Sprintf("%d s", int(d.Seconds()+0.5))
	case d < time.Hour:
		return fmt.Sprintf("%d min", int(d.Minutes()+0.5))
	}
	return fmt.Sprintf("%.1f h", d.Hours())
}
