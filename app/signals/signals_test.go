package signals_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jmoiron/sqlx"

	"github.com/cartwheel/cartwheel/app/db"
	"github.com/cartwheel/cartwheel/app/db/dbtest"
	"github.com/cartwheel/cartwheel/app/signals"
	"github.com/cartwheel/cartwheel/app/signals/signalstest"
)

func newShop(t *testing.T, d *sqlx.DB, domain string) int64 {
	t.Helper()
	var id int64
	if err := d.Get(&id, `INSERT INTO shops (domain, installed_at, access_token_enc) VALUES ($1, now(), '\x00') RETURNING id`, domain); err != nil {
		t.Fatal(err)
	}
	return id
}

func newCustomer(t *testing.T, d *sqlx.DB, shop int64) int64 {
	t.Helper()
	var id int64
	if err := d.Get(&id, `INSERT INTO customers (shop_id) VALUES ($1) RETURNING id`, shop); err != nil {
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

// recorder is a Handler that keeps every signal it was handed, and can be
// told to fail.
type recorder struct {
	mu   sync.Mutex
	seen map[int64]int // signal id → times handed
	got  []signals.Signal
	fail error
}

func (r *recorder) HandleSignals(_ context.Context, _ *sqlx.Tx, b *signals.Batch) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.fail != nil {
		return r.fail
	}
	if r.seen == nil {
		r.seen = map[int64]int{}
	}
	for _, s := range b.Signals {
		if s.ShopID != b.ShopID || s.CustomerID != b.CustomerID {
			return fmt.Errorf("signal %+v in the batch of %d/%d", s, b.ShopID, b.CustomerID)
		}
		r.seen[s.ID]++
		r.got = append(r.got, s)
	}
	return nil
}

// adder is a Handler standing in for segments: it derives a signal for the
// handlers after it.
type adder struct{}

func (adder) HandleSignals(_ context.Context, _ *sqlx.Tx, b *signals.Batch) error {
	b.Add(signals.Signal{Kind: signals.SegmentEntered, Ref: "42"})
	return nil
}

func record(t *testing.T, d *sqlx.DB, sigs ...signals.Signal) {
	t.Helper()
	if err := db.InTx(context.Background(), d, func(tx *sqlx.Tx) error {
		return signals.Record(context.Background(), tx.Tx, sigs...)
	}); err != nil {
		t.Fatal(err)
	}
}

// A consumer without one of its handlers is refused, naming it: missing
// wiring fails at start-up.
func TestNewConsumerNeedsEveryHandler(t *testing.T) {
	d := dbtest.New(t)
	for _, tc := range []struct {
		h    signals.Handlers
		want string
	}{
		{signals.Handlers{Flows: signals.Discard, Reports: signals.Discard}, "Segments"},
		{signals.Handlers{Segments: signals.Discard, Reports: signals.Discard}, "Flows"},
		{signals.Handlers{Segments: signals.Discard, Flows: signals.Discard}, "Reports"},
		{signals.Handlers{}, "Segments Flows Reports"},
	} {
		if _, err := signals.NewConsumer(d, tc.h, nil); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("handlers %+v: error %v, want one naming %s", tc.h, err, tc.want)
		}
	}
	if _, err := signals.NewConsumer(d, signals.Handlers{Segments: signals.Discard, Flows: signals.Discard, Reports: signals.Discard}, nil); err != nil {
		t.Fatal(err)
	}
}

// Record stores the signals in record order with their data, and drops
// signals of a customer that isn't in the shop; the consumer hands them to
// every handler in order, with what earlier handlers derived, and deletes
// them.
func TestRecordThenConsume(t *testing.T) {
	d := dbtest.New(t)
	ctx := context.Background()
	shop, other := newShop(t, d, "sig-a.myshopify.com"), newShop(t, d, "sig-b.myshopify.com")
	ada, bob, stranger := newCustomer(t, d, shop), newCustomer(t, d, shop), newCustomer(t, d, other)
	at := time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC)
	record(t, d,
		signals.Signal{ShopID: shop, CustomerID: bob, Kind: signals.OrderPlaced, Ref: "1001",
			Data: signals.Data(map[string]any{"checkout_token": "t1", "cart_token": ""})},
		signals.Signal{ShopID: shop, CustomerID: ada, Kind: signals.StorefrontEvent, Ref: "product_viewed", At: at},
		signals.Signal{ShopID: shop, CustomerID: stranger, Kind: signals.ProfileChanged}, // not this shop's
		signals.Signal{ShopID: shop, CustomerID: ada, Kind: signals.CartUpdated, Ref: "c1"},
	)
	rows := signalstest.Pending(t, d)
	if len(rows) != 3 || rows[0].String() != fmt.Sprintf("%d order_placed 1001", bob) ||
		rows[1].String() != fmt.Sprintf("%d storefront_event product_viewed", ada) || !rows[1].At.Equal(at) ||
		rows[0].Data != `{"cart_token": "", "checkout_token": "t1"}` {
		t.Fatalf("stored %+v", rows)
	}

	flows := &recorder{}
	c, err := signals.NewConsumer(d, signals.Handlers{Segments: adder{}, Flows: flows, Reports: signals.Discard}, func() time.Time { return at })
	if err != nil {
		t.Fatal(err)
	}
	n, err := c.Consume(ctx, shop, ada)
	if err != nil || n != 2 {
		t.Fatalf("consume: %d %v", n, err)
	}
	var kinds []string
	for _, s := range flows.got {
		kinds = append(kinds, string(s.Kind)+" "+s.Ref)
	}
	if strings.Join(kinds, ", ") != "storefront_event product_viewed, cart_updated c1, segment_entered 42" {
		t.Fatalf("flows got %v", kinds)
	}
	if rows := signalstest.Pending(t, d); len(rows) != 1 || rows[0].CustomerID != bob {
		t.Fatalf("left after ada's consumer: %+v", rows)
	}
	// A second run finds nothing and hands nothing.
	if n, err := c.Consume(ctx, shop, ada); err != nil || n != 0 || len(flows.got) != 3 {
		t.Fatalf("second consume: %d %v, flows got %d", n, err, len(flows.got))
	}
}

// A consumer whose handler fails (or that dies mid-way: its transaction
// rolls back) takes nothing: the signals stay for the retry, which hands
// them over exactly once.
func TestFailedConsumerLeavesSignalsForRetry(t *testing.T) {
	d := dbtest.New(t)
	ctx := context.Background()
	shop := newShop(t, d, "sig-fail.myshopify.com")
	ada := newCustomer(t, d, shop)
	record(t, d, signals.Signal{ShopID: shop, CustomerID: ada, Kind: signals.EmailSent, Ref: "7"},
		signals.Signal{ShopID: shop, CustomerID: ada, Kind: signals.EmailEvent, Ref: "7"})

	boom := errors.New("worker died")
	segs, flows := &recorder{}, &recorder{fail: boom}
	c, err := signals.NewConsumer(d, signals.Handlers{Segments: segs, Flows: flows, Reports: signals.Discard}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.Consume(ctx, shop, ada); !errors.Is(err, boom) {
		t.Fatalf("consume with a failing handler: %v", err)
	}
	if n := count(t, d, `SELECT count(*) FROM customer_signals`); n != 2 {
		t.Fatalf("%d signals left after the failed run, want 2", n)
	}
	// A cancelled context mid-run (the process going away) rolls back too.
	cctx, cancel := context.WithCancel(ctx)
	cancel()
	if _, err := c.Consume(cctx, shop, ada); err == nil {
		t.Fatal("a cancelled run succeeded")
	}
	flows.fail = nil
	segs.got, segs.seen = nil, nil
	if n, err := c.Consume(ctx, shop, ada); err != nil || n != 2 {
		t.Fatalf("retry: %d %v", n, err)
	}
	if len(flows.got) != 2 || len(segs.got) != 2 || count(t, d, `SELECT count(*) FROM customer_signals`) != 0 {
		t.Fatalf("retry handed flows %d, segments %d signals", len(flows.got), len(segs.got))
	}
}

// Many writers recording signals for the same few customers at once, with
// two consumers (two worker processes) running meanwhile: every signal
// reaches the handlers exactly once, in record order per customer, and
// none is left behind.
func TestConcurrentWritersEverySignalConsumedOnce(t *testing.T) {
	d := dbtest.New(t)
	ctx := context.Background()
	shop := newShop(t, d, "sig-conc.myshopify.com")
	var custs []int64
	for range 5 {
		custs = append(custs, newCustomer(t, d, shop))
	}
	segs, flows := &recorder{}, &recorder{}
	signalstest.Start(t, d, signals.Handlers{Segments: segs, Flows: flows})
	signalstest.Start(t, d, signals.Handlers{Segments: segs, Flows: flows})

	const writers, perWriter = 16, 25
	var wg sync.WaitGroup
	errs := make(chan error, writers)
	for w := range writers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range perWriter {
				// One to three customers per transaction, in varying order:
				// Record locks them ascending, so writers can't deadlock.
				a, b := custs[(w+i)%len(custs)], custs[(w*7+i*3)%len(custs)]
				err := db.InTx(ctx, d, func(tx *sqlx.Tx) error {
					return signals.Record(ctx, tx.Tx,
						signals.Signal{ShopID: shop, CustomerID: a, Kind: signals.StorefrontEvent, Ref: fmt.Sprintf("w%d-%d", w, i)},
						signals.Signal{ShopID: shop, CustomerID: b, Kind: signals.ProfileChanged, Ref: fmt.Sprintf("w%d-%d", w, i)})
				})
				if err != nil {
					errs <- err
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	want := writers * perWriter * 2
	signalstest.Drain(t, d)
	for name, r := range map[string]*recorder{"segments": segs, "flows": flows} {
		r.mu.Lock()
		if len(r.seen) != want || len(r.got) != want {
			t.Errorf("%s: %d distinct signals in %d deliveries, want %d once each", name, len(r.seen), len(r.got), want)
		}
		for id, n := range r.seen {
			if n != 1 {
				t.Errorf("%s: signal %d handed %d times", name, id, n)
			}
		}
		last := map[int64]int64{}
		for _, s := range r.got {
			if s.ID < last[s.CustomerID] {
				t.Errorf("%s: customer %d got signal %d after %d", name, s.CustomerID, s.ID, last[s.CustomerID])
			}
			last[s.CustomerID] = s.ID
		}
		r.mu.Unlock()
	}
}

// A pass takes many customers of several shops at once, and a customer
// whose handler fails holds back only itself: the others are consumed, its
// signals stay, and a later pass (after the failure is gone) takes them.
func TestPassTakesManyCustomersAndIsolatesAFailure(t *testing.T) {
	d := dbtest.New(t)
	ctx := context.Background()
	shops := []int64{newShop(t, d, "sig-pass-a.myshopify.com"), newShop(t, d, "sig-pass-b.myshopify.com")}
	var sigs []signals.Signal
	var bad int64
	for _, shop := range shops {
		for i := range 150 { // more than one chunk per shop
			id := newCustomer(t, d, shop)
			if i == 70 && bad == 0 {
				bad = id
			}
			sigs = append(sigs, signals.Signal{ShopID: shop, CustomerID: id, Kind: signals.ProfileChanged})
		}
	}
	record(t, d, sigs...)
	flows := &failFor{id: bad}
	c, err := signals.NewConsumer(d, signals.Handlers{Segments: signals.Discard, Flows: flows, Reports: signals.Discard}, nil)
	if err != nil {
		t.Fatal(err)
	}
	c.Log = slog.New(slog.NewTextHandler(io.Discard, nil))
	n, err := c.Pass(ctx)
	if err != nil || n != len(sigs)-1 {
		t.Fatalf("pass took %d (%v), want %d", n, err, len(sigs)-1)
	}
	if rows := signalstest.Pending(t, d); len(rows) != 1 || rows[0].CustomerID != bad {
		t.Fatalf("left after the pass: %+v", rows)
	}
	// The failing customer waits for its retry, not the next pass.
	if n, err := c.Pass(ctx); err != nil || n != 0 {
		t.Fatalf("a pass right after took %d (%v)", n, err)
	}
	flows.mu.Lock()
	flows.id = 0
	flows.mu.Unlock()
	if n, err := c.Consume(ctx, shops[0], bad); err != nil || n != 1 {
		t.Fatalf("consume after the fix: %d %v", n, err)
	}
	if len(signalstest.Pending(t, d)) != 0 {
		t.Fatal("signals left")
	}
}

// failFor fails the batch of one customer.
type failFor struct {
	mu sync.Mutex
	id int64
}

func (f *failFor) HandleSignals(_ context.Context, _ *sqlx.Tx, b *signals.Batch) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if b.CustomerID == f.id {
		return errors.New("bad profile")
	}
	return nil
}
