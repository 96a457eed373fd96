package segments

import (
	"context"
	"database/sql"
	"fmt"
	"time"

	"github.com/riverqueue/river"

	"github.com/cartwheel/cartwheel/app/jobs"
)

// RefreshShopArgs fully recomputes every segment of one shop. Bulk writes
// (the store import, a CSV import) queue it instead of one signal per
// customer: one set-based pass is far cheaper than
// millions of single-customer ones.
type RefreshShopArgs struct {
	ShopID int64 `json:"shop_id"`
}

func (RefreshShopArgs) Kind() string { return "segments.refresh_shop" }

// ShopRefreshDelay is the window in which requests to refresh one shop are
// collected into a single full refresh.
const ShopRefreshDelay = time.Minute

func shopRefreshOpts(now time.Time) *river.InsertOpts { return debounced(now, ShopRefreshDelay) }

// EnqueueShopRefresh schedules RefreshShop for a shop inside the caller's
// transaction.
func EnqueueShopRefresh(ctx context.Context, tx *sql.Tx, ins jobs.Inserter, shopID int64) error {
	if _, err := ins.InsertTx(ctx, tx, RefreshShopArgs{ShopID: shopID}, shopRefreshOpts(time.Now())); err != nil {
		return fmt.Errorf("segments: enqueue refresh of shop %d: %w", shopID, err)
	}
	return nil
}

// RefreshShopWorker runs RefreshShopArgs.
type RefreshShopWorker struct {
	river.WorkerDefaults[RefreshShopArgs]
	Store *Store
	Now   func() time.Time
}

// Timeout lets a large shop's full pass outlive the default job timeout.
func (w *RefreshShopWorker) Timeout(*river.Job[RefreshShopArgs]) time.Duration {
	return 30 * time.Minute
}

func (w *RefreshShopWorker) Work(ctx context.Context, j *river.Job[RefreshShopArgs]) error {
	return w.Store.RefreshShop(ctx, j.Args.ShopID, nowOf(w.Now))
}

// Queue enqueues full refreshes through an Inserter. customers sits below
// segments in the import graph and cannot call EnqueueShopRefresh
// directly; the app's wiring hands it a Queue behind its own small
// interface instead.
type Queue struct {
	Jobs jobs.Inserter
}

// RefreshShop is EnqueueShopRefresh.
func (q Queue) RefreshShop(ctx context.Context, tx *sql.Tx, shopID int64) error {
	return EnqueueShopRefresh(ctx, tx, q.Jobs, shopID)
}
