package wheel_test

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"slices"
	"testing"

	"github.com/riverqueue/river"

	"github.com/cartwheel/cartwheel/app/jobs"
	"github.com/cartwheel/cartwheel/app/shops"
	"github.com/cartwheel/cartwheel/app/signals/signalstest"
	"github.com/cartwheel/cartwheel/app/storesync"
	"github.com/cartwheel/cartwheel/app/wheel"
)

// A spin that subscribes records (in its transaction) the shopper's new
// profile, consent (source wheel) and "subscribed" event as signals, for no
// one else; a refused spin records none.
func TestSpinRecordsSignals(t *testing.T) {
	e := newEnv(t, 7)
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	workers := river.NewWorkers()
	river.AddWorker(workers, e.svc.Worker())
	river.AddWorker(workers, storesync.NewConsentPusher(shops.NewStore(e.db, nil), nil, nil, log))
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
	rows := signalstest.Pending(t, e.db)
	var got []string
	for _, r := range rows {
		got = append(got, r.Kind+" "+r.Ref+" "+r.Data)
		if r.CustomerID != ada || r.ShopID != e.shopID {
			t.Fatalf("signal for someone else: %+v", r)
		}
	}
	want := []string{`consent_changed  {"state": "subscribed", "source": "wheel"}`, `customer_created  {"source": "wheel"}`, "storefront_event subscribed {}"}
	if !slices.Equal(got, want) {
		t.Fatalf("signals %q, want %q", got, want)
	}
	if n := e.count(`SELECT count(*) FROM customer_signals WHERE customer_id <> $1`, ada); n != 0 {
		t.Fatalf("signals for other customers: %d", n)
	}
	e.db.MustExec(`DELETE FROM river_job`)
	e.db.MustExec(`DELETE FROM customer_signals`)
	if _, err := e.svc.Spin(context.Background(), e.shopID, spinReq("ADA@example.com")); !errors.Is(err, wheel.ErrAlreadySpun) {
		t.Fatalf("second spin: %v", err)
	}
	if n := e.count(`SELECT count(*) FROM customer_signals`); n != 0 {
		t.Fatalf("a refused spin recorded %d signals", n)
	}
}
