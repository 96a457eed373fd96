package events

import (
	"cmp"
	"context"
	"database/sql"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"sort"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/jmoiron/sqlx"
	"github.com/lib/pq"

	"github.com/cartwheel/cartwheel/app/customers"
	"github.com/cartwheel/cartwheel/app/signals"
)

// ErrClosed: the ingester is shutting down and takes no more events.
var ErrClosed = errors.New("events: ingester closed")

// Row is one event to store.
type Row struct {
	ShopID     int64
	VisitorID  string
	CustomerID int64 // 0: unknown (the visitor's stitched customer is used, if any)
	Source     Source
	Event
}

// Result counts what happened to a request's events.
type Result struct {
	Accepted   int `json:"accepted"`
	Duplicates int `json:"duplicates"`
}

// Options tune group commit.
type Options struct {
	// MaxWait is how long a committer waits for more requests after the
	// first one before writing (the group-commit tick).
	MaxWait time.Duration
	// MaxRows caps the rows written by one statement.
	MaxRows int
	// Committers is the number of goroutines writing in parallel; more than
	// one keeps the next group filling while one waits for its COMMIT.
	Committers int
	// QueueSize bounds requests waiting for a committer (back-pressure:
	// Write blocks, bounded by its context, when the queue is full).
	QueueSize int
	Log       *slog.Logger
}

func (o *Options) defaults() {
	if o.MaxWait <= 0 {
		o.MaxWait = 2 * time.Millisecond
	}
	if o.MaxRows <= 0 {
		o.MaxRows = 2000
	}
	if o.Committers <= 0 {
		o.Committers = 4
	}
	if o.QueueSize <= 0 {
		o.QueueSize = 4096
	}
	if o.Log == nil {
		o.Log = slog.Default()
	}
}

// Ingester stores events durably with group commit: requests hand their
// rows to a few committer goroutines, each of which writes everything
// waiting in one transaction (one multi-row INSERT … ON CONFLICT DO NOTHING)
// and wakes each request after COMMIT. Throughput then depends on rows per
// transaction, not on one INSERT and one fsync per request.
type Ingester struct {
	db    *sqlx.DB
	opts  Options
	queue chan *request

	mu     sync.RWMutex // guards closed against sends on a closed queue
	closed bool
	wg     sync.WaitGroup
	// waiting counts writes queued and not yet answered (see Waiting).
	waiting atomic.Int64

	parts *partitions
}

type request struct {
	ctx  context.Context
	rows []Row
	done chan reply // buffered: a committer never blocks on a gone requester
}

type reply struct {
	res Result
	err error
}

// NewIngester starts the committers; Close stops them.
func NewIngester(db *sqlx.DB, o Options) *Ingester {
	o.defaults()
	in := &Ingester{db: db, opts: o, queue: make(chan *request, o.QueueSize), parts: newPartitions(db)}
	for range o.Committers {
		in.wg.Add(1)
		go in.commitLoop()
	}
	return in
}

// Write stores the batch's events for the shop and returns once they are
// durable (or ctx ends: then they may or may not have been stored, and a
// retry with the same event ids is safe).
func (in *Ingester) Write(ctx context.Context, shopID int64, b Batch) (Result, error) {
	rows := make([]Row, len(b.Events))
	for i, ev := range b.Events {
		rows[i] = Row{ShopID: shopID, VisitorID: b.VisitorID, Source: b.Source, Event: ev}
	}
	res, err := in.WriteRows(ctx, rows)
	res.Duplicates += b.Repeats
	return res, err
}

// WriteRows is Write for rows that may belong to several shops.
func (in *Ingester) WriteRows(ctx context.Context, rows []Row) (Result, error) {
	if len(rows) == 0 {
		return Result{}, nil
	}
	r := &request{ctx: ctx, rows: rows, done: make(chan reply, 1)}
	in.mu.RLock()
	if in.closed {
		in.mu.RUnlock()
		return Result{}, ErrClosed
	}
	select {
	case in.queue <- r:
	case <-ctx.Done():
		in.mu.RUnlock()
		return Result{}, ctx.Err()
	}
	in.waiting.Add(1) // under the read lock: Close sees it counted
	defer in.waiting.Add(-1)
	in.mu.RUnlock()
	select {
	case rep := <-r.done:
		return rep.res, rep.err
	case <-ctx.Done():
		return Result{}, ctx.Err()
	}
}

// Waiting reports how many writes are queued or being written, i.e. have
// been taken and not yet answered: a gauge of back-pressure, and what tests
// wait on instead of sleeping.
func (in *Ingester) Waiting() int { return int(in.waiting.Load()) }

// Close stops taking events, writes everything already queued and waits
// for the committers (bounded by ctx).
func (in *Ingester) Close(ctx context.Context) error {
	in.mu.Lock()
	if !in.closed {
		in.closed = true
		close(in.queue)
	}
	in.mu.Unlock()
	done := make(chan struct{})
	go func() { in.wg.Wait(); close(done) }()
	select {
	case <-done:
		return nil
	case <-ctx.Done():
		return fmt.Errorf("events: close: %w", ctx.Err())
	}
}

func (in *Ingester) commitLoop() {
	defer in.wg.Done()
	timer := time.NewTimer(time.Hour)
	timer.Stop()
	for first := range in.queue {
		group := []*request{first}
		n := len(first.rows)
		timer.Reset(in.opts.MaxWait)
	gather:
		for n < in.opts.MaxRows {
			select {
			case r, ok := <-in.queue:
				if !ok {
					break gather
				}
				group = append(group, r)
				n += len(r.rows)
			case <-timer.C:
				break gather
			}
		}
		if !timer.Stop() {
			select {
			case <-timer.C:
			default:
			}
		}
		in.commitGroup(group)
	}
}

// commitGroup writes a group; if the shared transaction fails, each request
// is retried alone so one bad request (say, its shop was just erased)
// can't fail the others.
func (in *Ingester) commitGroup(group []*request) {
	live := group[:0]
	for _, r := range group {
		if err := r.ctx.Err(); err != nil {
			r.done <- reply{err: err} // the requester gave up: don't write for it
			continue
		}
		live = append(live, r)
	}
	if len(live) == 0 {
		return
	}
	// Committers outlive request contexts: a write that has started
	// finishes (bounded), so a COMMIT isn't cut half-way by a client.
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	results, err := in.write(ctx, live)
	if err == nil {
		for i, r := range live {
			r.done <- reply{res: results[i]}
		}
		return
	}
	if len(live) == 1 {
		live[0].done <- reply{err: err}
		return
	}
	in.opts.Log.Warn("events: group commit failed, retrying requests one by one", "requests", len(live), "err", err)
	for _, r := range live {
		res, err := in.write(ctx, []*request{r})
		if err != nil {
			r.done <- reply{err: err}
			continue
		}
		r.done <- reply{res: res[0]}
	}
}

type rowKey struct {
	shop int64
	id   string
	at   int64 // unix microseconds
}

// write stores the requests' rows in one transaction and returns the
// counts per request.
func (in *Ingester) write(ctx context.Context, reqs []*request) ([]Result, error) {
	results := make([]Result, len(reqs))
	owner := map[rowKey]int{}
	var rows []Row
	for ri, r := range reqs {
		for _, row := range r.rows {
			k := rowKey{row.ShopID, row.ID, row.OccurredAt.UnixMicro()}
			if _, dup := owner[k]; dup {
				results[ri].Duplicates++ // same event sent twice at once
				continue
			}
			owner[k] = ri
			rows = append(rows, row)
		}
	}
	if err := in.parts.ensure(ctx, rows); err != nil {
		return nil, err
	}
	inserted, err := insertRows(ctx, in.db, rows)
	if err != nil {
		return nil, err
	}
	for k, ri := range owner {
		if inserted[k] {
			results[ri].Accepted++
		} else {
			results[ri].Duplicates++
		}
	}
	return results, nil
}

// insertRows upserts the visitors and inserts the events in one
// transaction; it returns the keys actually inserted (the others were
// duplicates of stored events).
//
// It records a StorefrontEvent signal (app/signals) per customer and event
// name the batch stored, in the batch's transaction.
func insertRows(ctx context.Context, db *sqlx.DB, rows []Row) (map[rowKey]bool, error) {
	tx, err := db.BeginTxx(ctx, nil)
	if err != nil {
		return nil, fmt.Errorf("events: begin: %w", err)
	}
	defer tx.Rollback()
	if err := lockProfiles(ctx, tx, rows); err != nil {
		return nil, err
	}
	if err := touchVisitors(ctx, tx, rows); err != nil {
		return nil, err
	}
	n := len(rows)
	shops, custs := make([]int64, n), make([]int64, n)
	ids, visitors, names, sources, urls, data := make([]string, n), make([]string, n), make([]string, n), make([]string, n), make([]string, n), make([]string, n)
	ats := make([]time.Time, n)
	for i, r := range rows {
		shops[i], custs[i] = r.ShopID, r.CustomerID
		ids[i], visitors[i], names[i], sources[i], urls[i] = r.ID, r.VisitorID, r.Name, string(r.Source), r.URL
		data[i] = string(r.Data)
		if len(r.Data) == 0 {
			data[i] = "{}"
		}
		ats[i] = r.OccurredAt
	}
	// The visitor's stitched customer is joined in, so events after the
	// stitch land on the profile directly.
	var got []storedEvent
	err = tx.SelectContext(ctx, &got, `
		INSERT INTO events (shop_id, event_id, visitor_id, customer_id, name, occurred_at, source, url, data)
		SELECT u.shop_id, u.event_id, u.visitor_id, COALESCE(NULLIF(u.customer_id, 0), v.customer_id),
		       u.name, u.occurred_at, u.source, u.url, u.data::jsonb
		FROM unnest($1::bigint[], $2::text[], $3::text[], $4::bigint[], $5::text[], $6::timestamptz[],
		            $7::text[], $8::text[], $9::text[])
		     AS u(shop_id, event_id, visitor_id, customer_id, name, occurred_at, source, url, data)
		LEFT JOIN visitors v ON v.shop_id = u.shop_id AND v.visitor_id = u.visitor_id AND u.visitor_id <> ''
		ON CONFLICT (shop_id, event_id, occurred_at) DO NOTHING
		RETURNING shop_id, event_id, name, occurred_at, customer_id`,
		pq.Array(shops), pq.Array(ids), pq.Array(visitors), pq.Array(custs), pq.Array(names), pq.Array(ats),
		pq.Array(sources), pq.Array(urls), pq.Array(data))
	if err != nil {
		return nil, fmt.Errorf("events: insert %d rows: %w", n, err)
	}
	if err := signals.Record(ctx, tx.Tx, storefrontSignals(got)...); err != nil {
		return nil, fmt.Errorf("events: %w", err)
	}
	if err := tx.Commit(); err != nil {
		return nil, fmt.Errorf("events: commit: %w", err)
	}
	inserted := make(map[rowKey]bool, len(got))
	for _, g := range got {
		inserted[rowKey{g.ShopID, g.ID, g.At.UnixMicro()}] = true
	}
	return inserted, nil
}

// storedEvent is an event a batch inserted.
type storedEvent struct {
	ShopID     int64         `db:"shop_id"`
	ID         string        `db:"event_id"`
	Name       string        `db:"name"`
	At         time.Time     `db:"occurred_at"`
	CustomerID sql.NullInt64 `db:"customer_id"`
}

// storefrontSignals is one StorefrontEvent per (customer, event name) of
// the stored events, at the newest event's time, in (shop, customer, name)
// order: most events are anonymous and a shopper's burst of events lands in
// one batch. Duplicates (not stored) changed nothing and aren't here.
func storefrontSignals(got []storedEvent) []signals.Signal {
	type key struct {
		shop, customer int64
		name           string
	}
	newest := map[key]time.Time{}
	for _, g := range got {
		if !g.CustomerID.Valid {
			continue
		}
		k := key{g.ShopID, g.CustomerID.Int64, g.Name}
		if t, ok := newest[k]; !ok || g.At.After(t) {
			newest[k] = g.At
		}
	}
	out := make([]signals.Signal, 0, len(newest))
	for k, at := range newest {
		out = append(out, signals.Signal{ShopID: k.shop, CustomerID: k.customer, Kind: signals.StorefrontEvent, Ref: k.name, At: at})
	}
	slices.SortFunc(out, func(a, b signals.Signal) int {
		return cmp.Or(cmp.Compare(a.ShopID, b.ShopID), cmp.Compare(a.CustomerID, b.CustomerID), cmp.Compare(a.Ref, b.Ref))
	})
	return out
}

// lockProfiles locks, before the visitors, the profiles the rows will land
// on (the visitors' stitched customers), which recording their signals
// locks anyway: profile before visitor is the order a stitch (and a
// wheel signup) takes them, so the two can't deadlock. A stitch committed
// between this read and the visitor lock moves events to a profile locked
// only later, which at worst makes PostgreSQL abort one of two transactions
// for a retry.
func lockProfiles(ctx context.Context, tx *sqlx.Tx, rows []Row) error {
	byShop := map[int64][]string{}
	ids := map[int64][]int64{}
	for _, r := range rows {
		if r.CustomerID > 0 {
			ids[r.ShopID] = append(ids[r.ShopID], r.CustomerID)
		} else if r.VisitorID != "" {
			byShop[r.ShopID] = append(byShop[r.ShopID], r.VisitorID)
		}
	}
	for shop, visitors := range byShop {
		var stitched []int64
		if err := tx.SelectContext(ctx, &stitched, `SELECT customer_id FROM visitors
			WHERE shop_id = $1 AND visitor_id = ANY($2) AND customer_id IS NOT NULL`, shop, pq.Array(visitors)); err != nil {
			return fmt.Errorf("events: profiles of visitors: %w", err)
		}
		ids[shop] = append(ids[shop], stitched...)
	}
	shops := make([]int64, 0, len(ids))
	for shop := range ids {
		shops = append(shops, shop)
	}
	sort.Slice(shops, func(i, j int) bool { return shops[i] < shops[j] })
	for _, shop := range shops {
		if _, err := customers.LockProfiles(ctx, tx, shop, ids[shop]); err != nil {
			return fmt.Errorf("events: %w", err)
		}
	}
	return nil
}

// touchVisitors records each visitor's first and last sighting. Rows are
// locked in one order (shop, visitor) so concurrent committers can't
// deadlock, and last_seen is only rewritten once a minute per visitor to
// keep the write rate down.
func touchVisitors(ctx context.Context, tx *sqlx.Tx, rows []Row) error {
	type vk struct {
		shop int64
		id   string
	}
	span := map[vk][2]time.Time{}
	for _, r := range rows {
		if r.VisitorID == "" {
			continue
		}
		k := vk{r.ShopID, r.VisitorID}
		s, ok := span[k]
		if !ok {
			span[k] = [2]time.Time{r.OccurredAt, r.OccurredAt}
			continue
		}
		if r.OccurredAt.Before(s[0]) {
			s[0] = r.OccurredAt
		}
		if r.OccurredAt.After(s[1]) {
			s[1] = r.OccurredAt
		}
		span[k] = s
	}
	if len(span) == 0 {
		return nil
	}
	keys := make([]vk, 0, len(span))
	for k := range span {
		keys = append(keys, k)
	}
	sort.Slice(keys, func(i, j int) bool {
		if keys[i].shop != keys[j].shop {
			return keys[i].shop < keys[j].shop
		}
		return keys[i].id < keys[j].id
	})
	shops, ids := make([]int64, len(keys)), make([]string, len(keys))
	first, last := make([]time.Time, len(keys)), make([]time.Time, len(keys))
	for i, k := range keys {
		shops[i], ids[i], first[i], last[i] = k.shop, k.id, span[k][0], span[k][1]
	}
	if _, err := tx.ExecContext(ctx, `
		INSERT INTO visitors (shop_id, visitor_id, first_seen, last_seen)
		SELECT * FROM unnest($1::bigint[], $2::text[], $3::timestamptz[], $4::timestamptz[])
		ON CONFLICT (shop_id, visitor_id) DO UPDATE
		SET first_seen = LEAST(visitors.first_seen, EXCLUDED.first_seen),
		    last_seen = GREATEST(visitors.last_seen, EXCLUDED.last_seen)
		WHERE visitors.last_seen < EXCLUDED.last_seen - interval '1 minute'
		   OR visitors.first_seen > EXCLUDED.first_seen`,
		pq.Array(shops), pq.Array(ids), pq.Array(first), pq.Array(last)); err != nil {
		return fmt.Errorf("events: visitors: %w", err)
	}
	return nil
}

// partitions remembers which monthly partitions exist, so the ingester
// asks PostgreSQL only when a batch reaches a month it hasn't seen.
type partitions struct {
	db   *sqlx.DB
	mu   sync.Mutex
	have map[int]bool // year*100 + month
}

func newPartitions(db *sqlx.DB) *partitions { return &partitions{db: db, have: map[int]bool{}} }

func monthOf(t time.Time) (int, int) { t = t.UTC(); return t.Year(), int(t.Month()) }

// ensure creates the partitions for the rows' months and the month after
// each, so a month's partition exists before its first event arrives (the
// default partition catches anything that still slips through).
func (p *partitions) ensure(ctx context.Context, rows []Row) error {
	var want []time.Time
	p.mu.Lock()
	for _, r := range rows {
		y, m := monthOf(r.OccurredAt)
		if !p.have[y*100+m] {
			want = append(want, r.OccurredAt)
		}
	}
	p.mu.Unlock()
	for _, t := range want {
		if err := p.ensureMonth(ctx, t); err != nil {
			return err
		}
		if err := p.ensureMonth(ctx, time.Date(t.Year(), t.Month(), 1, 0, 0, 0, 0, time.UTC).AddDate(0, 1, 0)); err != nil {
			return err
		}
	}
	return nil
}

func (p *partitions) ensureMonth(ctx context.Context, t time.Time) error {
	y, m := monthOf(t)
	p.mu.Lock()
	ok := p.have[y*100+m]
	p.mu.Unlock()
	if ok {
		return nil
	}
	if err := EnsureMonth(ctx, p.db, t); err != nil {
		return err
	}
	p.mu.Lock()
	p.have[y*100+m] = true
	p.mu.Unlock()
	return nil
}

// EnsureMonth creates the events partition for t's UTC month if it is
// missing (moving any of its rows out of the default partition).
func EnsureMonth(ctx context.Context, db sqlx.ExecerContext, t time.Time) error {
	y, m := monthOf(t)
	if _, err := db.ExecContext(ctx, `SELECT events_ensure_month($1, $2)`, y, m); err != nil {
		return fmt.Errorf("events: partition %d-%s: %w", y, strconv.Itoa(m), err)
	}
	return nil
}
