package storesync

import (
	"context"
	"io"
	"log/slog"
	"testing"

	"github.com/riverqueue/river"

	"github.com/cartwheel/cartwheel/app/jobs"
	"github.com/cartwheel/cartwheel/app/segments"
)

// A finished import queues one full segment refresh of the shop, and no
// per-customer signal for the thousands of rows it wrote.
func TestImportQueuesOneShopSegmentRefresh(t *testing.T) {
	h := newHarness(t, 50)
	small.register(h.fake, testShop)
	workers := river.NewWorkers()
	river.AddWorker(workers, &segments.RefreshShopWorker{Store: segments.NewStore(h.db)})
	jc, err := jobs.New(h.db.DB, workers, jobs.Options{Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		t.Fatal(err)
	}
	h.w.QueueWith(jc)
	ids := h.start(t)
	if err := h.w.Run(context.Background(), h.shopID, ids); err != nil {
		t.Fatal(err)
	}
	if n := h.count(t, `SELECT count(*) FROM river_job WHERE kind = 'segments.refresh_shop' AND (args->>'shop_id')::bigint = $1`, h.shopID); n != 1 {
		t.Fatalf("shop refreshes queued: %d, want 1", n)
	}
	if n := h.count(t, `SELECT count(*) FROM customer_signals`); n != 0 {
		t.Fatalf("per-customer signals recorded by the import: %d", n)
	}
	// Running it again (a retried job) joins the waiting refresh: at most
	// one job per debounce window (two only if the run crossed a window's
	// end).
	if err := h.w.Run(context.Background(), h.shopID, ids); err != nil {
		t.Fatal(err)
	}
	if n := h.count(t, `SELECT count(*) - count(DISTINCT scheduled_at) FROM river_job WHERE kind = 'segments.refresh_shop'`); n != 0 {
		t.Fatalf("%d extra shop refreshes queued in one window", n)
	}
}
