package events_test

import (
	"context"
	"encoding/json"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/jmoiron/sqlx"

	"github.com/cartwheel/cartwheel/app/db"
	"github.com/cartwheel/cartwheel/app/db/dbtest"
	"github.com/cartwheel/cartwheel/app/events"
)

func newShop(t *testing.T, d *sqlx.DB, domain string) int64 {
	t.Helper()
	var id int64
	if err := d.Get(&id, `INSERT INTO shops (domain, installed_at, access_token_enc) VALUES ($1, now(), '\x00') RETURNING id`, domain); err != nil {
		t.Fatal(err)
	}
	return id
}

func count(t *testing.T, d *sqlx.DB, q string, args ...any) int {
	t.Helper()
	var n int
	if err := d.Get(&n, q, args...); err != nil {
		t.Fatal(err)
	}
	return n
}

func pageView(id string, at time.Time) events.Event {
	return events.Event{ID: id, Name: "page_viewed", OccurredAt: at.UTC().Truncate(time.Microsecond), URL: "https://x/", Data: json.RawMessage(`{}`)}
}

func newIngester(t *testing.T, d *sqlx.DB) *events.Ingester {
	in := events.NewIngester(d, events.Options{MaxWait: 2 * time.Millisecond, Committers: 3})
	t.Cleanup(func() { in.Close(context.Background()) })
	return in
}

func TestGroupCommitUnderConcurrency(t *testing.T) {
	d := dbtest.New(t)
	shop := newShop(t, d, "gc.myshopify.com")
	in := newIngester(t, d)
	at := time.Now().Add(-time.Minute)

	const workers, batches, perBatch = 50, 4, 10
	var mu sync.Mutex
	var accepted, dups int
	var wg sync.WaitGroup
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for b := range batches {
				var evs []events.Event
				for i := range perBatch {
					evs = append(evs, pageView(fmt.Sprintf("w%d-b%d-e%d", w, b, i), at))
				}
				// Every batch is sent twice (a client retry): the second
				// must count as duplicates only.
				for range 2 {
					res, err := in.Write(context.Background(), shop, events.Batch{VisitorID: fmt.Sprintf("visitor_%04d", w), Source: events.SourcePixel, Events: evs})
					if err != nil {
						t.Error(err)
						return
					}
					mu.Lock()
					accepted += res.Accepted
					dups += res.Duplicates
					mu.Unlock()
				}
			}
		}()
	}
	wg.Wait()
	want := workers * batches * perBatch
	if accepted != want || dups != want {
		t.Errorf("accepted %d duplicates %d, want %d each", accepted, dups, want)
	}
	if n := count(t, d, `SELECT count(*) FROM events WHERE shop_id = $1`, shop); n != want {
		t.Errorf("%d rows stored, want %d", n, want)
	}
	if n := count(t, d, `SELECT count(DISTINCT event_id) FROM events WHERE shop_id = $1`, shop); n != want {
		t.Errorf("%d distinct ids, want %d", n, want)
	}
	if n := count(t, d, `SELECT count(*) FROM visitors WHERE shop_id = $1`, shop); n != workers {
		t.Errorf("%d visitors, want %d", n, workers)
	}
}

func TestSameEventInConcurrentRequestsCountsOnce(t *testing.T) {
	d := dbtest.New(t)
	shop := newShop(t, d, "dup.myshopify.com")
	in := newIngester(t, d)
	e := pageView("shared-id", time.Now())
	var wg sync.WaitGroup
	results := make([]events.Result, 20)
	for i := range results {
		wg.Add(1)
		go func() {
			defer wg.Done()
			r, err := in.Write(context.Background(), shop, events.Batch{VisitorID: "visitor_dup1", Source: events.SourcePixel, Events: []events.Event{e}})
			if err != nil {
				t.Error(err)
			}
			results[i] = r
		}()
	}
	wg.Wait()
	acc := 0
	for _, r := range results {
		acc += r.Accepted
	}
	if acc != 1 || count(t, d, `SELECT count(*) FROM events`) != 1 {
		t.Errorf("accepted %d times, stored %d", acc, count(t, d, `SELECT count(*) FROM events`))
	}
}

func TestCloseFlushesAndRefusesAfter(t *testing.T) {
	d := dbtest.New(t)
	shop := newShop(t, d, "close.myshopify.com")
	// The group tick never comes: only Close can write the queued batch.
	in := events.NewIngester(d, events.Options{MaxWait: time.Hour, Committers: 1})
	done := make(chan events.Result)
	go func() {
		r, _ := in.Write(context.Background(), shop, events.Batch{VisitorID: "visitor_close", Source: events.SourcePixel,
			Events: []events.Event{pageView("c1", time.Now())}})
		done <- r
	}()
	// Queued, waiting for the group tick (bounded so a broken Write can't hang the suite).
	for deadline := time.Now().Add(time.Minute); in.Waiting() == 0; time.Sleep(time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("the write was never queued")
		}
	}
	if err := in.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
	if r := <-done; r.Accepted != 1 {
		t.Errorf("queued write before Close: %+v", r)
	}
	if _, err := in.Write(context.Background(), shop, events.Batch{VisitorID: "visitor_close", Events: []events.Event{pageView("c2", time.Now())}}); err != events.ErrClosed {
		t.Errorf("write after Close: %v", err)
	}
}

func TestCancelledRequestIsNotWritten(t *testing.T) {
	d := dbtest.New(t)
	shop := newShop(t, d, "cancel.myshopify.com")
	in := newIngester(t, d)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := in.Write(ctx, shop, events.Batch{VisitorID: "visitor_cancel", Events: []events.Event{pageView("x1", time.Now())}}); err == nil {
		t.Error("a cancelled write reported success")
	}
	// Close writes everything still queued: after it, what isn't stored
	// never will be.
	if err := in.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
	if n := count(t, d, `SELECT count(*) FROM events`); n != 0 {
		t.Errorf("%d rows written for a cancelled request", n)
	}
}

func TestPartitionForNewMonth(t *testing.T) {
	d := dbtest.New(t)
	shop := newShop(t, d, "part.myshopify.com")
	// Far ahead of the migration's window: lands in the default partition
	// when written directly, and is moved out when its month is created.
	far := time.Date(2031, 3, 15, 12, 0, 0, 0, time.UTC)
	if _, err := d.Exec(`INSERT INTO events (shop_id, event_id, name, occurred_at, source) VALUES ($1, 'early', 'page_viewed', $2, 'server')`, shop, far); err != nil {
		t.Fatal(err)
	}
	if n := count(t, d, `SELECT count(*) FROM events_default`); n != 1 {
		t.Fatalf("default partition holds %d rows, want 1", n)
	}
	in := newIngester(t, d)
	res, err := in.WriteRows(context.Background(), []events.Row{{ShopID: shop, VisitorID: "visitor_part", Source: events.SourceServer, Event: pageView("later", far.Add(time.Hour))}})
	if err != nil || res.Accepted != 1 {
		t.Fatalf("write: %+v %v", res, err)
	}
	var parts []string
	if err := d.Select(&parts, `SELECT tableoid::regclass::text FROM events ORDER BY event_id`); err != nil {
		t.Fatal(err)
	}
	if len(parts) != 2 || parts[0] != "events_2031_03" || parts[1] != "events_2031_03" {
		t.Errorf("rows in %v, want both in events_2031_03", parts)
	}
	if count(t, d, `SELECT count(*) FROM pg_class WHERE relname = 'events_2031_04'`) != 1 {
		t.Error("the following month's partition should exist ahead of time")
	}
	// Idempotent.
	if err := events.EnsureMonth(context.Background(), d, far); err != nil {
		t.Fatal(err)
	}
}

func TestRecordServerAndTimeline(t *testing.T) {
	d := dbtest.New(t)
	shop := newShop(t, d, "tl.myshopify.com")
	ctx := context.Background()
	var cust int64
	d.Get(&cust, `INSERT INTO customers (shop_id, email) VALUES ($1, 'tl@example.com') RETURNING id`, shop)
	in := newIngester(t, d)
	b, rej, err := events.Parse(batch(
		ev("s1", "search_submitted", time.Now().Add(-3*time.Minute).UTC().Format(time.RFC3339), `{"searchResult": {"query": "<b>boots</b>"}}`),
		ev("p1", "product_viewed", time.Now().Add(-2*time.Minute).UTC().Format(time.RFC3339), `{"productVariant": {"id": "1", "price": {"amount": 10, "currencyCode": "EUR"}, "product": {"id": "2", "title": "Rain boots"}}}`),
	), events.SourcePixel)
	if err != nil || len(rej) != 0 {
		t.Fatal(err, rej)
	}
	if _, err := in.Write(ctx, shop, b); err != nil {
		t.Fatal(err)
	}
	err = db.InTx(ctx, d, func(tx *sqlx.Tx) error {
		if err := events.Identify(ctx, tx, shop, b.VisitorID, cust, events.ByWheel); err != nil {
			return err
		}
		return events.RecordServer(ctx, tx, shop, b.VisitorID, 0, "subscribed", map[string]any{"wheel_id": 1})
	})
	if err != nil {
		t.Fatal(err)
	}
	tl, err := events.Timeline(d)(ctx, shop, cust, 10)
	if err != nil {
		t.Fatal(err)
	}
	var titles []string
	for _, e := range tl {
		titles = append(titles, e.Title+" | "+e.Detail)
	}
	want := []string{"Subscribed through the signup wheel | ", "Viewed Rain boots | 10.00 EUR", "Searched “<b>boots</b>” | "}
	if fmt.Sprint(titles) != fmt.Sprint(want) {
		t.Errorf("timeline = %q\nwant %q", titles, want)
	}
	// Another shop asking for this customer sees nothing.
	if tl, _ := events.Timeline(d)(ctx, shop+1000, cust, 10); len(tl) != 0 {
		t.Errorf("timeline leaked across shops: %v", tl)
	}
}
