package events_test

import (
	"context"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/jmoiron/sqlx"

	"github.com/cartwheel/cartwheel/app/customers"
	"github.com/cartwheel/cartwheel/app/db"
	"github.com/cartwheel/cartwheel/app/db/dbtest"
	"github.com/cartwheel/cartwheel/app/events"
	"github.com/cartwheel/cartwheel/app/signals/signalstest"
)

// refreshed returns the recorded signals per customer of the shop as
// "kind ref" strings, then forgets them so the next step starts clean.
func refreshed(t *testing.T, d *sqlx.DB, shop int64) map[int64][]string {
	t.Helper()
	out := map[int64][]string{}
	for _, r := range signalstest.Pending(t, d) {
		if r.ShopID != shop {
			t.Fatalf("signal %+v: other shop", r)
		}
		out[r.CustomerID] = append(out[r.CustomerID], strings.TrimSpace(r.Kind+" "+r.Ref))
	}
	signalstest.Take(t, d)
	return out
}

// wantRefreshed fails unless exactly the given customers got signals, each
// exactly want (sorted "kind ref").
func wantRefreshed(t *testing.T, d *sqlx.DB, shop int64, step string, want map[int64][]string) {
	t.Helper()
	got := refreshed(t, d, shop)
	for _, v := range got {
		sort.Strings(v)
	}
	if len(got) != len(want) {
		t.Fatalf("%s: signals %v, want %v", step, got, want)
	}
	for id, w := range want {
		if !slices.Equal(got[id], w) {
			t.Fatalf("%s: signals %v, want %v", step, got, want)
		}
	}
}

// One storefront_event signal per customer and event name per committed
// batch, however many of those events it holds, at the newest one's time;
// anonymous and duplicate events record nothing.
func TestIngestRecordsOneSignalPerCustomerAndName(t *testing.T) {
	d := dbtest.New(t)
	shop := newShop(t, d, "seg-ingest.myshopify.com")
	ctx := context.Background()
	in := events.NewIngester(d, events.Options{MaxWait: 20 * time.Millisecond, Committers: 1})
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
	wantRefreshed(t, d, shop, "anonymous visitor", nil)

	// Ann's visitor is stitched: her events land on her profile.
	annBatch := events.Batch{VisitorID: "visitor_ann", Source: events.SourcePixel,
		Events: []events.Event{pageView("a1", now), pageView("a2", now.Add(time.Second)), pageView("a3", now.Add(2*time.Second))}}
	if _, err := in.Write(ctx, shop, annBatch); err != nil {
		t.Fatal(err)
	}
	if rows := signalstest.Pending(t, d); len(rows) != 1 || !rows[0].At.Equal(now.Add(2*time.Second).UTC().Truncate(time.Microsecond)) {
		t.Fatalf("signal of ann's batch %+v, want one at the newest event's time %v", rows, now.Add(2*time.Second))
	}
	wantRefreshed(t, d, shop, "identified visitor", map[int64][]string{ann: {"storefront_event page_viewed"}})

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
	wantRefreshed(t, d, shop, "mixed rows", map[int64][]string{ann: {"storefront_event page_viewed"}, bob: {"storefront_event page_viewed"}})

	// The same events again are duplicates: nothing changed.
	res, err := in.Write(ctx, shop, annBatch)
	if err != nil || res.Duplicates != 3 {
		t.Fatalf("resend: %+v %v", res, err)
	}
	wantRefreshed(t, d, shop, "duplicates", nil)
}

// Stitching a visitor records, for the profile its past events now count
// for, the new link and one storefront_event per back-filled event name,
// once: a repeat that links and back-fills nothing records nothing.
func TestStitchRecordsSignalsForBackfilledProfile(t *testing.T) {
	d := dbtest.New(t)
	shop := newShop(t, d, "seg-stitch.myshopify.com")
	ctx := context.Background()
	in := events.NewIngester(d, events.Options{MaxWait: 2 * time.Millisecond, Committers: 1})
	t.Cleanup(func() { in.Close(context.Background()) })
	cs := customers.NewStore(d)
	idn := events.NewIdentity(d, cs)

	const visitor = "visitor_stitch"
	if _, err := in.Write(ctx, shop, events.Batch{VisitorID: visitor, Source: events.SourcePixel,
		Events: []events.Event{pageView("b1", time.Now().Add(-time.Hour))}}); err != nil {
		t.Fatal(err)
	}
	wantRefreshed(t, d, shop, "anonymous browsing", nil)

	// Shopify's signed checkout webhook names the checkout's customer
	// first; the pixel's claim on that token then links the visitor.
	var want int64
	d.Get(&want, `INSERT INTO customers (shop_id, email) VALUES ($1, 'stitch@example.com') RETURNING id`, shop)
	confirm(t, d, shop, "tok-stitch", want)
	wantRefreshed(t, d, shop, "confirmation without claims", nil)
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
	wantRefreshed(t, d, shop, "stitched", map[int64][]string{cust: {"profile_changed", "storefront_event checkout_contact_info_submitted", "storefront_event page_viewed"}})

	if _, err := idn.Stitch(ctx, shop, b, 0); err != nil {
		t.Fatal(err)
	}
	wantRefreshed(t, d, shop, "stitched again", nil)
}
