package customers_test

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"strconv"
	"testing"

	"github.com/jmoiron/sqlx"
	"github.com/riverqueue/river"

	"github.com/cartwheel/cartwheel/app/customers"
	"github.com/cartwheel/cartwheel/app/db"
	"github.com/cartwheel/cartwheel/app/db/dbtest"
	"github.com/cartwheel/cartwheel/app/jobs"
	"github.com/cartwheel/cartwheel/app/segments"
)

// segmentStore is a Store wired to a real River client the way the app
// wires it, so recorded signals are customer_signals rows and queued shop
// refreshes are river_job rows.
func segmentStore(t *testing.T) (*sqlx.DB, *customers.Store) {
	t.Helper()
	d := dbtest.New(t)
	workers := river.NewWorkers()
	river.AddWorker(workers, &segments.RefreshShopWorker{Store: segments.NewStore(d)})
	jc, err := jobs.New(d.DB, workers, jobs.Options{Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		t.Fatal(err)
	}
	st := customers.NewStore(d)
	st.RefreshSegmentsWith(segments.Queue{Jobs: jc})
	return d, st
}

// queued returns "shop:customer kind" for each recorded signal and
// "shop:*" for a shop refresh, then
// forgets them so the next step starts clean.
func queued(t *testing.T, d *sqlx.DB) map[string]int {
	t.Helper()
	var keys []string
	if err := d.Select(&keys, `
		SELECT s.shop_id || ':' || s.customer_id || ' ' || s.kind || COALESCE(' ' || (s.data->>'reason'), '') FROM customer_signals s
		UNION ALL
		SELECT (args->>'shop_id') || ':*' FROM river_job WHERE kind = 'segments.refresh_shop'`); err != nil {
		t.Fatal(err)
	}
	d.MustExec(`DELETE FROM river_job`)
	d.MustExec(`DELETE FROM customer_signals`)
	out := map[string]int{}
	for _, k := range keys {
		out[k]++
	}
	return out
}

func wantQueued(t *testing.T, d *sqlx.DB, step string, want ...string) {
	t.Helper()
	got := queued(t, d)
	ok := len(got) == len(want)
	for _, k := range want {
		ok = ok && got[k] == 1
	}
	if !ok {
		t.Fatalf("%s: queued %v, want %v", step, got, want)
	}
}

func key(shop, customer int64) string {
	if customer == 0 {
		return itoa(shop) + ":*"
	}
	return itoa(shop) + ":" + itoa(customer)
}

// Suppressing an address records a Suppressed signal (with its reason)
// for each profile holding it; lifting one records ProfileChanged.
func TestSuppressionsRecordSignals(t *testing.T) {
	d, st := segmentStore(t)
	ctx := context.Background()
	shop, other := newShop(t, d, "seg-a.myshopify.com"), newShop(t, d, "seg-b.myshopify.com")
	profile := func(shop int64, email string) int64 {
		var id int64
		if err := d.Get(&id, `INSERT INTO customers (shop_id, email) VALUES ($1, $2) RETURNING id`, shop, email); err != nil {
			t.Fatal(err)
		}
		return id
	}
	ada := profile(shop, "Ada@Example.com")
	profile(shop, "bob@example.com")
	profile(other, "ada@example.com")
	suppress := func(email, reason string) {
		t.Helper()
		if err := db.InTx(ctx, d, func(tx *sqlx.Tx) error {
			_, err := st.Suppress(ctx, tx, shop, []string{email}, []string{reason}, "manual")
			return err
		}); err != nil {
			t.Fatal(err)
		}
	}
	suppress("ada@EXAMPLE.com", customers.SuppressManual)
	wantQueued(t, d, "suppressed", key(shop, ada)+" suppressed manual")
	suppress("ada@example.com", customers.SuppressBounced)
	wantQueued(t, d, "already suppressed")
	suppress("nobody@example.com", customers.SuppressBounced)
	wantQueued(t, d, "no profile has the address")

	if err := st.LiftSuppression(ctx, shop, "nobody@example.com"); !errors.Is(err, customers.ErrNotLiftable) {
		t.Fatalf("lift a bounce: %v", err)
	}
	wantQueued(t, d, "lift refused")
	if err := st.LiftSuppression(ctx, shop, "ADA@example.com"); err != nil {
		t.Fatal(err)
	}
	wantQueued(t, d, "lifted", key(shop, ada)+" profile_changed")
}

// A CSV import queues one refresh of the shop when it ends, not one
// signal per row; an import that changed nothing queues none.
func TestCSVImportQueuesOneShopRefresh(t *testing.T) {
	d, st := segmentStore(t)
	shop := newShop(t, d, "seg-csv.myshopify.com")
	importFile(t, st, shop, customers.ImportProfiles, klaviyoExport)
	wantQueued(t, d, "profiles imported", key(shop, 0))
	importFile(t, st, shop, customers.ImportProfiles, klaviyoExport)
	wantQueued(t, d, "same file again")

	list := "Email,Reason\nada@example.com,bounced\ngrace@example.com,complaint\n"
	importFile(t, st, shop, customers.ImportSuppressions, list)
	wantQueued(t, d, "suppressions imported", key(shop, 0))
}

func itoa(n int64) string { return strconv.FormatInt(n, 10) }
