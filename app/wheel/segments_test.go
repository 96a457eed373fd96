package wheel_test

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"testing"

	"github.com/riverqueue/river"

	"github.com/cartwheel/cartwheel/app/jobs"
	"github.com/cartwheel/cartwheel/app/segments"
	"github.com/cartwheel/cartwheel/app/shops"
	"github.com/cartwheel/cartwheel/app/storesync"
	"github.com/cartwheel/cartwheel/app/wheel"
)

// A spin that subscribes queues (in its transaction) a segment refresh of
// the shopper's profile, and of no one else; a refused spin queues none.
func TestSpinQueuesSegmentRefresh(t *testing.T) {
	e := newEnv(t, 7)
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	workers := river.NewWorkers()
	river.AddWorker(workers, e.svc.Worker())
	river.AddWorker(workers, storesync.NewConsentPusher(shops.NewStore(e.db, nil), nil, nil, log))
	river.AddWorker(workers, &segments.RefreshCustomerWorker{Store: segments.NewStore(e.db)})
	jc, err := jobs.New(e.db.DB, workers, jobs.Options{Logger: log})
	if err != nil {
		t.Fatal(err)
	}
	e.svc.QueueWith(jc)
	var bob int64
	e.db.Get(&bob, `INSERT INTO customers (shop_id, email) VALUES ($1, 'bob@example.com') RETURNING id`, e.shopID)

	if _, err := e.svc.Spin(context.Background(), e.shopID, spinReq("ada@example.com")); err != nil {
		t.Fatal(err)
	}
	var ada int64
	e.db.Get(&ada, `SELECT id FROM customers WHERE shop_id = $1 AND lower(email) = 'ada@example.com'`, e.shopID)
	// The consent change and the spin each ask; within one debounce window
	// that is one job (two only if the spin straddled a window's end).
	if n := e.count(`SELECT count(*) FROM river_job WHERE kind = 'segments.refresh_customer'
		AND (args->>'shop_id')::bigint = $1 AND (args->>'customer_id')::bigint = $2`, e.shopID, ada); n < 1 || n > 2 {
		t.Fatalf("refreshes for the shopper: %d", n)
	}
	if n := e.count(`SELECT count(*) FROM river_job WHERE kind = 'segments.refresh_customer' AND (args->>'customer_id')::bigint <> $1`, ada); n != 0 {
		t.Fatalf("refreshes for other customers: %d", n)
	}
	e.db.MustExec(`DELETE FROM river_job`)
	if _, err := e.svc.Spin(context.Background(), e.shopID, spinReq("ADA@example.com")); !errors.Is(err, wheel.ErrAlreadySpun) {
		t.Fatalf("second spin: %v", err)
	}
	if n := e.count(`SELECT count(*) FROM river_job WHERE kind = 'segments.refresh_customer'`); n != 0 {
		t.Fatalf("a refused spin queued %d refreshes", n)
	}
}
