package signals

import (
	"cmp"
	"context"
	"database/sql"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/jmoiron/sqlx"
	"github.com/riverqueue/river"
)

// Handler is one consumer of a customer's pending signals. It runs inside
// the consumer's transaction, after the customer's profile lock
// (LockProfiles) is held; an error rolls everything back, the signals stay
// and the job retries.
type Handler interface {
	HandleSignals(ctx context.Context, tx *sqlx.Tx, b *Batch) error
}

// LockerFirst is implemented by a handler that must take locks of its own
// before the customer's profile lock (segments: its segment locks, which a
// full refresh holds for long; waiting for them while holding the profile
// would hold up the customer's webhooks and events).
type LockerFirst interface {
	LockFirst(ctx context.Context, tx *sqlx.Tx, shopID, customerID int64) error
}

// Batch is what one consumer run hands the handlers: the customer's pending
// signals in record order, plus what earlier handlers derived from them.
type Batch struct {
	ShopID, CustomerID int64
	Now                time.Time
	Signals            []Signal // record order
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
}

// Discard is a Handler that ignores every signal. It is the Flows handler
// used until a flow engine consumer is wired; the signals it is handed are
// still consumed (deleted).
var Discard Handler = discard{}

type discard struct{}

func (discard) HandleSignals(context.Context, *sqlx.Tx, *Batch) error { return nil }

// Consumer takes a customer's pending signals and hands them to the
// handlers in one transaction.
type Consumer struct {
	db  *sqlx.DB
	h   []namedHandler
	now func() time.Time
}

type namedHandler struct {
	name string
	h    Handler
}

// NewConsumer returns the consumer, or an error naming every handler that
// is missing: missing wiring fails at start-up, never silently.
func NewConsumer(db *sqlx.DB, h Handlers, now func() time.Time) (*Consumer, error) {
	hs := []namedHandler{{"Segments", h.Segments}, {"Flows", h.Flows}}
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
	return &Consumer{db: db, h: hs, now: now}, nil
}

// Worker returns the River worker of ConsumeArgs.
func (c *Consumer) Worker() river.Worker[ConsumeArgs] { return &worker{c: c} }

type worker struct {
	river.WorkerDefaults[ConsumeArgs]
	c *Consumer
}

func (w *worker) Work(ctx context.Context, j *river.Job[ConsumeArgs]) error {
	_, err := w.c.Consume(ctx, j.Args.ShopID, j.Args.CustomerID)
	return err
}

// Consume takes the customer's pending signals (if any) and runs every
// handler on them in one transaction; it returns how many it took. On an
// error nothing is taken.
func (c *Consumer) Consume(ctx context.Context, shopID, customerID int64) (int, error) {
	tx, err := c.db.BeginTxx(ctx, &sql.TxOptions{})
	if err != nil {
		return 0, fmt.Errorf("signals: consume %d: %w", customerID, err)
	}
	defer tx.Rollback()
	for _, n := range c.h {
		if l, ok := n.h.(LockerFirst); ok {
			if err := l.LockFirst(ctx, tx, shopID, customerID); err != nil {
				return 0, fmt.Errorf("signals: consume %d: %s locks: %w", customerID, n.name, err)
			}
		}
	}
	// Every writer holds this lock while it records (see Record): the
	// statement below sees every signal whose job was merged into this
	// one, and the customer's consumers run one at a time.
	if _, err := LockProfiles(ctx, tx, shopID, []int64{customerID}); err != nil {
		return 0, fmt.Errorf("signals: consume %d: %w", customerID, err)
	}
	b := &Batch{ShopID: shopID, CustomerID: customerID, Now: c.now()}
	rows, err := tx.QueryContext(ctx, `DELETE FROM customer_signals WHERE shop_id = $1 AND customer_id = $2
		RETURNING id, kind, ref, data, at`, shopID, customerID)
	if err != nil {
		return 0, fmt.Errorf("signals: take signals of %d: %w", customerID, err)
	}
	for rows.Next() {
		s := Signal{ShopID: shopID, CustomerID: customerID}
		var data []byte
		if err := rows.Scan(&s.ID, &s.Kind, &s.Ref, &data, &s.At); err != nil {
			rows.Close()
			return 0, fmt.Errorf("signals: take signals of %d: %w", customerID, err)
		}
		s.Data = data
		b.Signals = append(b.Signals, s)
	}
	if err := errors.Join(rows.Err(), rows.Close()); err != nil {
		return 0, fmt.Errorf("signals: take signals of %d: %w", customerID, err)
	}
	if len(b.Signals) == 0 {
		// An earlier run of a merged window took them.
		return 0, nil
	}
	slices.SortFunc(b.Signals, func(x, y Signal) int { return cmp.Compare(x.ID, y.ID) })
	taken := len(b.Signals)
	// What the handlers derive can always be derived again, and a signal
	// lost with this commit is not lost for good: River records the job's
	// completion in a later, durable commit whose flush covers this one, so
	// a crash before it retries the job with the signals back in place.
	if _, err := tx.ExecContext(ctx, `SELECT set_config('synchronous_commit', 'off', true)`); err != nil {
		return 0, fmt.Errorf("signals: consume %d: %w", customerID, err)
	}
	for _, n := range c.h {
		if err := n.h.HandleSignals(ctx, tx, b); err != nil {
			return 0, fmt.Errorf("signals: consume %d: %s: %w", customerID, n.name, err)
		}
	}
	if err := tx.Commit(); err != nil {
		return 0, fmt.Errorf("signals: consume %d: %w", customerID, err)
	}
	return taken, nil
}
