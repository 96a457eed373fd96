package signals

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"sync"
	"time"

	"github.com/jmoiron/sqlx"
	"github.com/lib/pq"
)

// Handler is one consumer of a customer's pending signals. It runs inside
// the consumer's transaction, after the customer's profile lock
// (LockProfiles) is held; an error rolls everything back and the signals
// stay for a later pass.
type Handler interface {
	HandleSignals(ctx context.Context, tx *sqlx.Tx, b *Batch) error
}

// LockerFirst is implemented by a handler that must take locks of its own
// before the profile locks (segments: its segment locks, which a full
// refresh holds for long; waiting for them while holding profiles would
// hold up those customers' webhooks and events).
type LockerFirst interface {
	LockFirst(ctx context.Context, tx *sqlx.Tx, shopID int64) error
}

// Finisher is implemented by a handler that does its writes once per
// consumer transaction rather than once per customer (reports: one set of
// statements for every customer's email signals): after every customer's
// batch has been handed to every handler, FinishSignals is called with the
// transaction's shared Memo, before the commit.
type Finisher interface {
	FinishSignals(ctx context.Context, tx *sqlx.Tx, shopID int64, memo *Memo) error
}

// Batch is what the consumer hands the handlers for one customer: the
// customer's pending signals in record order, plus what earlier handlers
// derived from them.
type Batch struct {
	ShopID, CustomerID int64
	Now                time.Time
	Signals            []Signal // record order
	// Memo is shared by the batches of one consumer transaction (one shop),
	// for what a handler reads or does once per transaction rather than
	// once per customer.
	Memo *Memo
}

// Memo keeps values for the rest of one consumer transaction. A nil Memo
// keeps nothing.
type Memo struct{ m map[string]any }

// Get returns the value kept under key.
func (m *Memo) Get(key string) (any, bool) {
	if m == nil {
		return nil, false
	}
	v, ok := m.m[key]
	return v, ok
}

// Set keeps v under key.
func (m *Memo) Set(key string, v any) {
	if m == nil {
		return
	}
	if m.m == nil {
		m.m = map[string]any{}
	}
	m.m[key] = v
}

// Add appends a derived signal (segments adds SegmentEntered/Exited) for
// the handlers after the current one. It is not stored: it exists for this
// run only.
func (b *Batch) Add(s Signal) {
	s.ShopID, s.CustomerID = b.ShopID, b.CustomerID
	if s.At.IsZero() {
		s.At = b.Now
	}
	b.Signals = append(b.Signals, s)
}

// Has reports whether the batch holds a signal of one of the kinds.
func (b *Batch) Has(kinds ...Kind) bool {
	for _, s := range b.Signals {
		if slices.Contains(kinds, s.Kind) {
			return true
		}
	}
	return false
}

// Handlers are the consumers of every signal, all required, called in this
// order.
type Handlers struct {
	Segments Handler
	Flows    Handler
	Reports  Handler // report rollups and order attribution: email_sent, email_event, order_placed, order_updated (app/reports)
}

// Discard is a Handler that ignores every signal (tests that look at one
// handler only); the signals it is handed are still consumed (deleted).
var Discard Handler = discard{}

type discard struct{}

func (discard) HandleSignals(context.Context, *sqlx.Tx, *Batch) error { return nil }

// How the consumer takes pending signals: a pass reads the oldest
// passSize pending rows, and consumes their customers in chunks of
// chunkSize per shop, each chunk in one transaction, parallel chunks at a
// time. The table is the queue: a signal is visible once its writer
// commits, and the pass that sees it takes it, so nothing is scheduled per
// write (one job per customer was the cost that capped the rate at a few
// hundred customers a second) and nothing can be stranded between a
// writer and a running consumer.
const (
	passSize     = 2000
	chunkSize    = 100
	parallel     = 4
	pollInterval = 100 * time.Millisecond
	// A customer whose consumption fails is retried after this, doubling
	// up to maxBackoff, so one bad profile can't hold up the others.
	minBackoff = time.Second
	maxBackoff = 5 * time.Minute
)

// Consumer takes customers' pending signals and hands them to the
// handlers. Every worker process runs one (Run); several running at once
// divide the pending customers between them (a profile locked by one is
// skipped by the others).
type Consumer struct {
	db  *sqlx.DB
	h   []namedHandler
	now func() time.Time
	// Log reports customers whose consumption failed (default: slog's).
	Log *slog.Logger

	mu      sync.Mutex
	backoff map[customerKey]retry
}

type retry struct {
	at    time.Time
	delay time.Duration
}

type namedHandler struct {
	name string
	h    Handler
}

// NewConsumer returns the consumer, or an error naming every handler that
// is missing: missing wiring fails at start-up, never silently.
func NewConsumer(db *sqlx.DB, h Handlers, now func() time.Time) (*Consumer, error) {
	hs := []namedHandler{{"Segments", h.Segments}, {"Flows", h.Flows}, {"Reports", h.Reports}}
	var missing []string
	for _, n := range hs {
		if n.h == nil {
			missing = append(missing, n.name)
		}
	}
	if db == nil {
		missing = append(missing, "database")
	}
	if len(missing) > 0 {
		return nil, fmt.Errorf("signals: consumer is missing its %v handler(s): wire them in app/server", missing)
	}
	if now == nil {
		now = time.Now
	}
	return &Consumer{db: db, h: hs, now: now, backoff: map[customerKey]retry{}}, nil
}

// Run consumes pending signals until ctx ends: a pass after another while
// there is work, a pause of pollInterval when a pass took nothing. It
// returns nil when ctx ends.
func (c *Consumer) Run(ctx context.Context) error {
	for {
		n, err := c.Pass(ctx)
		if ctx.Err() != nil {
			return nil
		}
		if err != nil {
			c.log().Error("signals: pass", "err", err)
		}
		if n > 0 && err == nil {
			continue
		}
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(pollInterval):
		}
	}
}

func (c *Consumer) log() *slog.Logger {
	if c.Log != nil {
		return c.Log
	}
	return slog.Default()
}

// Pass consumes the customers of the oldest pending signals once and
// returns how many signals it took. Customers whose profile is locked (a
// writer is still at work on them, or another consumer has them) are left
// for the next pass; customers whose consumption fails are logged and
// retried after a backoff.
func (c *Consumer) Pass(ctx context.Context) (int, error) {
	chunks, err := c.pending(ctx)
	if err != nil || len(chunks) == 0 {
		return 0, err
	}
	var (
		mu    sync.Mutex
		taken int
		wg    sync.WaitGroup
		next  = make(chan chunk)
	)
	for range min(parallel, len(chunks)) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for ch := range next {
				n := c.consumeChunk(ctx, ch)
				mu.Lock()
				taken += n
				mu.Unlock()
			}
		}()
	}
dispatch:
	for _, ch := range chunks {
		select {
		case next <- ch:
		case <-ctx.Done():
			break dispatch
		}
	}
	close(next)
	wg.Wait()
	return taken, ctx.Err()
}

type chunk struct {
	shop int64
	ids  []int64 // ascending
}

// pending reads the customers of the oldest pending signals (leaving out
// those waiting for a retry), as chunks per shop in ascending id order.
func (c *Consumer) pending(ctx context.Context) ([]chunk, error) {
	held := c.heldBack()
	rows, err := c.db.QueryContext(ctx, `SELECT shop_id, customer_id FROM customer_signals
		WHERE customer_id <> ALL($1) ORDER BY id LIMIT $2`, pq.Array(held), passSize)
	if err != nil {
		return nil, fmt.Errorf("signals: pending: %w", err)
	}
	defer rows.Close()
	seen := map[customerKey]bool{}
	byShop := map[int64][]int64{}
	var shops []int64
	for rows.Next() {
		var k customerKey
		if err := rows.Scan(&k.shop, &k.customer); err != nil {
			return nil, fmt.Errorf("signals: pending: %w", err)
		}
		if seen[k] {
			continue
		}
		seen[k] = true
		if byShop[k.shop] == nil {
			shops = append(shops, k.shop)
		}
		byShop[k.shop] = append(byShop[k.shop], k.customer)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("signals: pending: %w", err)
	}
	var out []chunk
	for _, shop := range shops {
		ids := slices.Sorted(slices.Values(byShop[shop]))
		for len(ids) > 0 {
			n := min(chunkSize, len(ids))
			out = append(out, chunk{shop: shop, ids: ids[:n]})
			ids = ids[n:]
		}
	}
	return out, nil
}

// heldBack lists the customers still waiting for their retry.
func (c *Consumer) heldBack() []int64 {
	c.mu.Lock()
	defer c.mu.Unlock()
	now := time.Now()
	ids := []int64{} // not nil: "<> ALL(NULL)" would match nothing
	for k, r := range c.backoff {
		switch {
		case now.Before(r.at):
			ids = append(ids, k.customer)
		case now.After(r.at.Add(maxBackoff)):
			delete(c.backoff, k) // long gone (its signals were taken, or the profile deleted)
		}
	}
	return ids
}

// consumeChunk consumes a chunk in one transaction; if that fails, each
// customer in a transaction of its own, so one failing profile holds back
// only itself. It returns how many signals it took.
func (c *Consumer) consumeChunk(ctx context.Context, ch chunk) int {
	n, err := c.consume(ctx, ch.shop, ch.ids, true)
	if err == nil {
		c.succeeded(ch.shop, ch.ids)
		return n
	}
	if ctx.Err() != nil {
		return 0
	}
	if len(ch.ids) == 1 {
		c.failed(ch.shop, ch.ids[0], err)
		return 0
	}
	taken := 0
	for _, id := range ch.ids {
		n, err := c.consume(ctx, ch.shop, []int64{id}, true)
		if err != nil {
			if ctx.Err() != nil {
				return taken
			}
			c.failed(ch.shop, id, err)
			continue
		}
		c.succeeded(ch.shop, []int64{id})
		taken += n
	}
	return taken
}

func (c *Consumer) failed(shop, customer int64, err error) {
	c.mu.Lock()
	k := customerKey{shop, customer}
	r := c.backoff[k]
	r.delay = min(max(2*r.delay, minBackoff), maxBackoff)
	r.at = time.Now().Add(r.delay)
	c.backoff[k] = r
	c.mu.Unlock()
	c.log().Error("signals: consume failed; retrying later", "shop_id", shop, "customer_id", customer, "retry_in", r.delay.String(), "err", err)
}

func (c *Consumer) succeeded(shop int64, ids []int64) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(c.backoff) == 0 {
		return
	}
	for _, id := range ids {
		delete(c.backoff, customerKey{shop, id})
	}
}

// Consume takes one customer's pending signals (if any) and runs every
// handler on them in one transaction, waiting for the profile if a writer
// holds it; it returns how many it took. On an error nothing is taken.
func (c *Consumer) Consume(ctx context.Context, shopID, customerID int64) (int, error) {
	return c.consume(ctx, shopID, []int64{customerID}, false)
}

// consume takes the pending signals of the customers (ascending ids) in
// one transaction: the handlers' own locks first, then the profiles (all
// writers hold a profile's lock while they record its signals, so what is
// read after it is every signal committed for it), then the signals are
// deleted and handed over, customer by customer. With skipLocked, profiles
// locked by someone else are left for a later pass instead of waited for.
func (c *Consumer) consume(ctx context.Context, shopID int64, ids []int64, skipLocked bool) (int, error) {
	tx, err := c.db.BeginTxx(ctx, nil)
	if err != nil {
		return 0, fmt.Errorf("signals: consume %d customers of shop %d: %w", len(ids), shopID, err)
	}
	defer tx.Rollback()
	for _, n := range c.h {
		if l, ok := n.h.(LockerFirst); ok {
			if err := l.LockFirst(ctx, tx, shopID); err != nil {
				return 0, fmt.Errorf("signals: consume: %s locks: %w", n.name, err)
			}
		}
	}
	locked := ids
	if skipLocked {
		locked = nil
		if err := tx.SelectContext(ctx, &locked, `SELECT id FROM customers WHERE shop_id = $1 AND id = ANY($2)
			ORDER BY id FOR NO KEY UPDATE SKIP LOCKED`, shopID, pq.Array(ids)); err != nil {
			return 0, fmt.Errorf("signals: consume: lock profiles: %w", err)
		}
		if len(locked) == 0 {
			return 0, nil
		}
	} else if _, err := LockProfiles(ctx, tx, shopID, ids); err != nil {
		return 0, fmt.Errorf("signals: consume: %w", err)
	}
	now := c.now()
	rows, err := tx.QueryContext(ctx, `DELETE FROM customer_signals WHERE shop_id = $1 AND customer_id = ANY($2)
		RETURNING id, customer_id, kind, ref, data, at`, shopID, pq.Array(locked))
	if err != nil {
		return 0, fmt.Errorf("signals: consume: take signals: %w", err)
	}
	batches := map[int64]*Batch{}
	memo := &Memo{}
	taken := 0
	for rows.Next() {
		s := Signal{ShopID: shopID}
		var data []byte
		if err := rows.Scan(&s.ID, &s.CustomerID, &s.Kind, &s.Ref, &data, &s.At); err != nil {
			rows.Close()
			return 0, fmt.Errorf("signals: consume: take signals: %w", err)
		}
		s.Data = data
		b := batches[s.CustomerID]
		if b == nil {
			b = &Batch{ShopID: shopID, CustomerID: s.CustomerID, Now: now, Memo: memo}
			batches[s.CustomerID] = b
		}
		b.Signals = append(b.Signals, s)
		taken++
	}
	if err := errors.Join(rows.Err(), rows.Close()); err != nil {
		return 0, fmt.Errorf("signals: consume: take signals: %w", err)
	}
	if taken == 0 {
		// An earlier pass (or another consumer) took them.
		return 0, nil
	}
	// What the handlers derive can always be derived again, and a commit
	// lost in a crash loses the deletion with it: asynchronous commit loses
	// whole transactions, never part of one, so the signals are back for
	// the next pass together with everything the handlers would have done.
	if _, err := tx.ExecContext(ctx, `SELECT set_config('synchronous_commit', 'off', true)`); err != nil {
		return 0, fmt.Errorf("signals: consume: %w", err)
	}
	for _, id := range locked {
		b := batches[id]
		if b == nil {
			continue
		}
		slices.SortFunc(b.Signals, func(x, y Signal) int { return cmp.Compare(x.ID, y.ID) })
		for _, n := range c.h {
			if err := n.h.HandleSignals(ctx, tx, b); err != nil {
				return 0, fmt.Errorf("signals: consume %d: %s: %w", id, n.name, err)
			}
		}
	}
	for _, n := range c.h {
		if f, ok := n.h.(Finisher); ok {
			if err := f.FinishSignals(ctx, tx, shopID, memo); err != nil {
				return 0, fmt.Errorf("signals: consume: %s: finish: %w", n.name, err)
			}
		}
	}
	if err := tx.Commit(); err != nil {
		return 0, fmt.Errorf("signals: consume %d customers of shop %d: %w", len(locked), shopID, err)
	}
	return taken, nil
}
