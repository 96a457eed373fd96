package consistency_test

import (
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"sync"
	"testing"
	"time"

	"github.com/cartwheel/cartwheel/app/events"
)

// Products the random orders are made of.
var productIDs = []int64{111475476, 5410685889, 777001}

// Ages of orders and events: away from every window boundary the presets
// use (7, 14, 30, 60, 90, 180, 365 days), so a value computed a few seconds
// before the check is still the one the check computes.
var ages = []time.Duration{time.Hour, 2 * 24 * time.Hour, 10 * 24 * time.Hour, 45 * 24 * time.Hour,
	100 * 24 * time.Hour, 200 * 24 * time.Hour, 400 * 24 * time.Hour}

// chaos is one round of concurrent writers: workers deliver a random mix
// of orders, updates (total changes, cancellations), refunds, storefront
// event batches and SendGrid event batches for a few customers, while
// refreshes of the customers' segments (and the whole-shop recompute of
// figures an import ends with) run at random moments besides the queued
// ones. The round ends with a burst released at one instant (as
// Shopify delivers after a sale or an edit burst): 20 writes of every kind
// at once, most of them for one customer, so that nothing written later
// can hide what the burst got wrong.
func (h *harness) chaos(rng *rand.Rand, round int) []error {
	const workers, opsPerWorker, burst = 8, 20, 24
	var (
		mu     sync.Mutex
		errs   []error
		placed []placedOrder // orders whose create was applied
		wg     sync.WaitGroup
	)
	fail := func(err error) {
		if err != nil {
			mu.Lock()
			errs = append(errs, err)
			mu.Unlock()
		}
	}
	// A write that fails is retried, as its job or SendGrid would retry it
	// (and still reported: a sound write path needs no retry).
	try := func(write func() error) {
		for range 5 {
			err := write()
			fail(err)
			if err == nil {
				return
			}
		}
	}
	pick := func(r *rand.Rand, c *customer) (placedOrder, bool) {
		mu.Lock()
		defer mu.Unlock()
		var of []placedOrder
		for _, o := range placed {
			if c == nil || o.c.ID == c.ID {
				of = append(of, o)
			}
		}
		if len(of) == 0 {
			return placedOrder{}, false
		}
		return of[r.IntN(len(of))], true
	}
	base := time.Now()
	newOrder := func(r *rand.Rand, c customer) {
		id := 1_000_000 + h.seq.Add(1)
		total := fmt.Sprintf("%d.00", 5+r.IntN(50))
		processed := base.Add(-ages[r.IntN(len(ages))])
		prods := productIDs[:1+r.IntN(len(productIDs))]
		try(func() error { return h.deliver("orders/create", h.order(id, c, total, processed, base, false, prods)) })
		mu.Lock()
		placed = append(placed, placedOrder{id: id, c: c, total: total, processed: processed, products: prods})
		mu.Unlock()
	}
	updateOrder := func(r *rand.Rand, o placedOrder) { // a new total, or cancelled, or un-cancelled
		total := fmt.Sprintf("%d.00", 5+r.IntN(50))
		updated := base.Add(time.Duration(h.seq.Add(1)) * time.Second)
		cancel := r.IntN(3) == 0
		try(func() error {
			return h.deliver("orders/updated", h.order(o.id, o.c, total, o.processed, updated, cancel, o.products))
		})
	}
	refundOrder := func(r *rand.Rand, o placedOrder) {
		body := refund(2_000_000+h.seq.Add(1), o.id, fmt.Sprintf("%d.00", 1+r.IntN(4)), base)
		try(func() error { return h.deliver("refunds/create", body) })
	}
	storefront := func(r *rand.Rand, c customer) {
		names := []string{"product_viewed", "page_viewed", "search_submitted", "product_added_to_cart"}
		var evs []events.Event
		for range 1 + r.IntN(3) {
			evs = append(evs, events.Event{ID: fmt.Sprintf("ev-%d", h.seq.Add(1)), Name: names[r.IntN(len(names))],
				OccurredAt: base.Add(-ages[r.IntN(3)]).Truncate(time.Microsecond), URL: "https://busy-store.example/p",
				Data: json.RawMessage(`{}`)})
		}
		try(func() error {
			_, err := h.ingester.Write(context.Background(), h.shopID, events.Batch{Shop: shopDomain, VisitorID: c.Visitor,
				Source: events.SourcePixel, Events: evs})
			return err
		})
	}
	sendgrid := func(r *rand.Rand) { // deliveries, deferrals, blocks, opens, clicks
		kinds := [][2]string{{"delivered", ""}, {"deferred", ""}, {"bounce", "blocked"}, {"open", ""}, {"click", ""}}
		var batch []map[string]any
		for range 1 + r.IntN(4) {
			// Two customers get most of the mail, so batches meet.
			cc := h.customers[r.IntN(min(2, len(h.customers)))]
			k := kinds[r.IntN(len(kinds))]
			batch = append(batch, h.sgEvent(k[0], k[1], cc.Email, cc.Messages[r.IntN(len(cc.Messages))]))
		}
		try(func() error {
			_, err := h.tracking.ProcessEvents(context.Background(), js(batch))
			return err
		})
	}
	refresh := func(c customer) {
		try(func() error { return h.segments.RefreshCustomer(context.Background(), h.shopID, c.ID, time.Now()) })
	}

	for w := range workers {
		r := rand.New(rand.NewPCG(rng.Uint64(), uint64(w)))
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range opsPerWorker {
				c := h.customers[r.IntN(len(h.customers))]
				switch op := r.IntN(10); {
				case op < 2:
					newOrder(r, c)
				case op < 4:
					if o, ok := pick(r, nil); ok {
						updateOrder(r, o)
					}
				case op < 5:
					if o, ok := pick(r, nil); ok {
						refundOrder(r, o)
					}
				case op < 7:
					storefront(r, c)
				case op < 9:
					sendgrid(r)
				default:
					if r.IntN(3) == 0 {
						// The whole-shop recompute that ends a store import.
						try(func() error { return h.orders.RefreshAllCustomers(context.Background(), h.shopID) })
					} else {
						refresh(c)
					}
				}
			}
		}()
	}
	wg.Wait()

	// The burst.
	hot := h.customers[round%len(h.customers)]
	// A message SendGrid has just taken, whose deferral several batches
	// report at once (its retries): it adds one to the streak, not one per
	// batch.
	var fresh int64
	if err := h.db.Get(&fresh, `INSERT INTO email_messages (shop_id, customer_id, to_email, kind, dedupe_key, links, marketing, status, sent_at)
		VALUES ($1, $2, $3, 'campaign', $4, '{}', true, 'sent', now()) RETURNING id`,
		h.shopID, hot.ID, hot.Email, fmt.Sprintf("campaign:%d:customer:%d", 100+round, hot.ID)); err != nil {
		fail(err)
	}
	release := make(chan struct{})
	for i := range burst {
		r := rand.New(rand.NewPCG(rng.Uint64(), uint64(100+i)))
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-release
			switch i % 6 {
			case 0, 1, 2:
				newOrder(r, hot)
			case 3:
				if o, ok := pick(r, &hot); ok {
					refundOrder(r, o)
				} else {
					newOrder(r, hot)
				}
			case 4:
				if i%12 == 4 {
					sendgrid(r)
					return
				}
				try(func() error {
					_, err := h.tracking.ProcessEvents(context.Background(), js([]map[string]any{h.sgEvent("deferred", "", hot.Email, fresh)}))
					return err
				})
			default:
				storefront(r, hot)
			}
		}()
	}
	close(release)
	wg.Wait()
	return errs
}

type placedOrder struct {
	id        int64
	c         customer
	total     string
	processed time.Time
	products  []int64
}

// TestDerivedDataUnderConcurrentWriters is the property: whatever the
// interleaving of concurrent writers, once they are done (and the refreshes
// they queued ran), every derived value equals a recompute from the raw
// rows; and the consistency sweep then finds nothing to repair.
func TestDerivedDataUnderConcurrentWriters(t *testing.T) {
	seed := uint64(time.Now().UnixNano())
	t.Logf("seed %d", seed)
	rng := rand.New(rand.NewPCG(seed, 0))
	h := newHarness(t, 4, true)

	const rounds = 2
	for round := range rounds {
		errs := h.chaos(rng, round)
		h.drain()
		if wrong := h.wrong(time.Now()); len(wrong) > 0 {
			for kind, w := range wrong {
				t.Errorf("round %d: %s wrong (%d):\n  %s", round, kind, len(w), joinMax(w, 8))
			}
		}
		if len(errs) > 0 {
			t.Errorf("round %d: %d writes failed and were retried, first: %v", round, len(errs), errs[0])
		}
		if t.Failed() {
			t.FailNow()
		}
	}
	rep, err := h.sweeper.SweepShop(context.Background(), h.shopID, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	if rep.Total() != 0 {
		t.Fatalf("sweep after concurrent writers repaired %v, want nothing", rep)
	}
}

func joinMax(lines []string, n int) string {
	out := ""
	for i, l := range lines {
		if i == n {
			return out + fmt.Sprintf("… and %d more", len(lines)-n)
		}
		if i > 0 {
			out += "\n  "
		}
		out += l
	}
	return out
}
