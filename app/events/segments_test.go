package events_test

import (
	"context"
	"io"
	"log/slog"
	"testing"
	"time"

	"github.com/jmoiron/sqlx"
	"github.com/riverqueue/river"

	"github.com/cartwheel/cartwheel/app/customers"
	"github.com/cartwheel/cartwheel/app/db"
	"github.com/cartwheel/cartwheel/app/db/dbtest"
	"github.com/cartwheel/cartwheel/app/events"
	"github.com/cartwheel/cartwheel/app/jobs"
	"github.com/cartwheel/cartwheel/app/segments"
)

// segmentQueue is the app's segments.Queue on a real River client, so
// queued refreshes are river_job rows.
func segmentQueue(t *testing.T, d *sqlx.DB) segments.Queue {
	t.Helper()
	workers := river.NewWorkers()
	river.AddWorker(workers, &segments.RefreshCustomerWorker{Store: segments.NewStore(d)})
	jc, err := jobs.New(d.DB, workers, jobs.Options{Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		t.Fatal(err)
	}
	return segments.Queue{Jobs: jc}
}

// refreshed returns how many refresh jobs each customer of the shop got,
// then forgets them so the next step starts clean.
func refreshed(t *testing.T, d *sqlx.DB, shop int64) map[int64]int {
	t.Helper()
	var ids []int64
	if err := d.Select(&ids, `SELECT (args->>'customer_id')::bigint FROM river_job
		WHERE kind = 'segments.refresh_customer' AND (args->>'shop_id')::bigint = $1`, shop); err != nil {
		t.Fatal(err)
	}
	d.MustExec(`DELETE FROM river_job`)
	out := map[int64]int{}
	for _, id := range ids {
		out[id]++
	}
	return out
}

func wantRefreshed(t *testing.T, d *sqlx.DB, shop int64, step string, ids ...int64) {
	t.Helper()
	got := refreshed(t, d, shop)
	ok := len(got) == len(ids)
	for _, id := range ids {
		ok = ok && got[id] == 1
	}
	if !ok {
		t.Fatalf("%s: refreshes %v, want one each for %v", step, got, ids)
	}
}

// One refresh per customer per committed batch, however many of their
// events it holds; anonymous and duplicate events queue nothing.
func TestIngestQueuesOneRefreshPerCustomer(t *testing.T) {
	d := dbtest.New(t)
	shop := newShop(t, d, "seg-ingest.myshopify.com")
	ctx := context.Background()
	in := events.NewIngester(d, events.Options{MaxWait: 20 * time.Millisecond, Committers: 1, Segments: segmentQueue(t, d)})
	t.Cleanup(func() { in.Close(context.Background()) })
	var ann, bob int64
	d.Get(&ann, `INSERT INTO customers (shop_id, email) VALUES ($1, 'ann@example.com') RETURNING id`, shop)
	d.Get(&bob, `INSERT INTO customers (shop_id, email) VALUES ($1, 'bob@example.com') RETURNING id`, shop)
	if err := db.InTx(ctx, d, func(tx *sqlx.Tx) error {
		return events.Identify(ctx, tx, shop, "visitor_ann", ann, events.ByWheel)
	}); err != nil {
		t.Fatal(err)
	}
	now := time.Now().Add(-time.Minute)

	if _, err := in.Write(ctx, shop, events.Batch{VisitorID: "visitor_anon", Source: events.SourcePixel,
		Events: []events.Event{pageView("x1", now), pageView("x2", now)}}); err != nil {
		t.Fatal(err)
	}
	wantRefreshed(t, d, shop, "anonymous visitor")

	// Ann's visitor is stitched: her events land on her profile.
	annBatch := events.Batch{VisitorID: "visitor_ann", Source: events.SourcePixel,
		Events: []events.Event{pageView("a1", now), pageView("a2", now.Add(time.Second)), pageView("a3", now.Add(2*time.Second))}}
	if _, err := in.Write(ctx, shop, annBatch); err != nil {
		t.Fatal(err)
	}
	wantRefreshed(t, d, shop, "identified visitor", ann)

	// Rows naming their customer (server-side sources), mixed with anonymous ones.
	rows := []events.Row{
		{ShopID: shop, VisitorID: "visitor_anon", Source: events.SourcePixel, Event: pageView("m1", now)},
		{ShopID: shop, CustomerID: bob, Source: events.SourcePixel, Event: pageView("m2", now)},
		{ShopID: shop, CustomerID: bob, Source: events.SourcePixel, Event: pageView("m3", now)},
		{ShopID: shop, VisitorID: "visitor_ann", Source: events.SourcePixel, Event: pageView("m4", now)},
	}
	if _, err := in.WriteRows(ctx, rows); err != nil {
		t.Fatal(err)
	}
	wantRefreshed(t, d, shop, "mixed rows", ann, bob)

	// The same events again are duplicates: nothing changed.
	res, err := in.Write(ctx, shop, annBatch)
	if err != nil || res.Duplicates != 3 {
		t.Fatalf("resend: %+v %v", res, err)
	}
	wantRefreshed(t, d, shop, "duplicates")
}

// Stitching a visitor refreshes the profile its past events now count for,
// once: a repeat that links and back-fills nothing queues nothing.
func TestStitchQueuesRefreshForBackfilledProfile(t *testing.T) {
	d := dbtest.New(t)
	shop := newShop(t, d, "seg-stitch.myshopify.com")
	ctx := context.Background()
	q := segmentQueue(t, d)
	in := events.NewIngester(d, events.Options{MaxWait: 2 * time.Millisecond, Committers: 1, Segments: q})
	t.Cleanup(func() { in.Close(context.Background()) })
	cs := customers.NewStore(d)
	cs.RefreshSegmentsWith(q)
	idn := events.NewIdentity(d, cs)

	const visitor = "visitor_stitch"
	if _, err := in.Write(ctx, shop, events.Batch{VisitorID: visitor, Source: events.SourcePixel,
		Events: []events.Event{pageView("b1", time.Now().Add(-time.Hour))}}); err != nil {
		t.Fatal(err)
	}
	wantRefreshed(t, d, shop, "anonymous browsing")

	// Shopify's signed checkout webhook names the checkout's customer
	// first; the pixel's claim on that token then links the visitor.
	var want int64
	d.Get(&want, `INSERT INTO customers (shop_id, email) VALUES ($1, 'stitch@example.com') RETURNING id`, shop)
	confirm(t, d, shop, "tok-stitch", want)
	wantRefreshed(t, d, shop, "confirmation without claims")
	b := events.Batch{VisitorID: visitor, Source: events.SourcePixel, Events: []events.Event{{ID: "co1",
		Name: "checkout_contact_info_submitted", OccurredAt: time.Now().UTC().Truncate(time.Microsecond), CheckoutToken: "tok-stitch"}}}
	if _, err := in.Write(ctx, shop, b); err != nil {
		t.Fatal(err)
	}
	cust, err := idn.Stitch(ctx, shop, b, 0)
	if err != nil || cust != want {
		t.Fatalf("stitch: %d %v, want %d", cust, err, want)
	}
	if n := count(t, d, `SELECT count(*) FROM events WHERE shop_id = $1 AND customer_id = $2`, shop, cust); n != 2 {
		t.Fatalf("%d events back-filled, want 2", n)
	}
	wantRefreshed(t, d, shop, "stitched", cust)

	if _, err := idn.Stitch(ctx, shop, b, 0); err != nil {
		t.Fatal(err)
	}
	wantRefreshed(t, d, shop, "stitched again")
}
