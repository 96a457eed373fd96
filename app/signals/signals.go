// Package signals is the one record of "something happened to a customer".
// The transaction that changes a customer (an order, a checkout, a cart, a
// storefront event, an email event, consent, the profile, a suppression, a
// segment entry or exit) records a signal in the same transaction with
// Record; one consumer job per customer takes the pending signals and hands
// them, in one transaction, to every handler (segment refresh, flows). Write
// sites never call those consumers by hand, and a handler that isn't wired
// fails at start-up (NewConsumer).
package signals

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/lib/pq"
	"github.com/riverqueue/river"
	"github.com/riverqueue/river/rivertype"

	"github.com/cartwheel/cartwheel/app/jobs"
)

// Kind names what happened.
type Kind string

// The kinds of signal. Ref and Data are described per kind; Data never
// holds personal data (no addresses, names, emails).
const (
	CustomerCreated   Kind = "customer_created"   // a profile was created (webhook, wheel signup, admin); Data {"source": ...}
	ProfileChanged    Kind = "profile_changed"    // profile fields/tags/properties changed (or the profile was deleted: Data {"deleted": true})
	ConsentChanged    Kind = "consent_changed"    // Data {"state": "subscribed|unsubscribed|...", "source": "wheel|checkout|admin|shopify|import|..."}
	Suppressed        Kind = "suppressed"         // Data {"reason": ...}; a lifted suppression has Data {"lifted": true}
	OrderPlaced       Kind = "order_placed"       // first time an order is stored. Ref = the order's key (orders.shopify_id, decimal); Data {"checkout_token","cart_token"}
	OrderUpdated      Kind = "order_updated"      // paid / cancelled / refunded / edited. Ref = the order's key
	OrderFulfilled    Kind = "order_fulfilled"    // first time fulfillment_status becomes fulfilled. Ref = the order's key
	CheckoutStarted   Kind = "checkout_started"   // checkouts/create|update (or a confirmed pixel claim) tied to a customer, not completed. Ref = checkout token
	CheckoutCompleted Kind = "checkout_completed" // Ref = checkout token
	CartUpdated       Kind = "cart_updated"       // carts/create|update tied to a customer. Ref = cart token
	StorefrontEvent   Kind = "storefront_event"   // Ref = event name; one per (customer, name) per ingest batch, At = newest event's time
	EmailSent         Kind = "email_sent"         // Ref = email_messages id
	EmailEvent        Kind = "email_event"        // Ref = email_messages id; Data {"status": "opened|clicked|bounced|dropped|unsubscribed|complained|delivered|deferred"}
	SegmentEntered    Kind = "segment_entered"    // Ref = segment id
	SegmentExited     Kind = "segment_exited"     // Ref = segment id
)

// Signal is one thing that happened to one customer.
type Signal struct {
	ID         int64
	ShopID     int64
	CustomerID int64
	Kind       Kind
	Ref        string
	Data       json.RawMessage // small, no personal data
	At         time.Time       // when it happened; zero = the database's now()
}

// Window is how long the signals of one customer are collected before their
// consumer runs (one job per customer per window). Short, because flows
// start from them (event to run started: p99 under 2 s).
const Window = time.Second

// ConsumeArgs runs the consumer for one customer. Ids only: river_job holds
// no personal data.
type ConsumeArgs struct {
	ShopID     int64 `json:"shop_id"`
	CustomerID int64 `json:"customer_id"`
}

// Kind names the job in River.
func (ConsumeArgs) Kind() string { return "signals.consume" }

// consumeOpts maps every Record within one window to the same job,
// scheduled at the window's end, so it runs after all of them (and a signal
// recorded while it runs falls into the next window's job). River can't
// leave running jobs out of the uniqueness check, so a window is what lets a
// signal recorded during a run still get one after it.
func consumeOpts(now time.Time) *river.InsertOpts {
	return &river.InsertOpts{
		ScheduledAt: now.Truncate(Window).Add(Window),
		UniqueOpts: river.UniqueOpts{
			ByArgs:   true,
			ByPeriod: Window,
			ByState: []rivertype.JobState{rivertype.JobStateAvailable, rivertype.JobStatePending,
				rivertype.JobStateRunning, rivertype.JobStateScheduled, rivertype.JobStateRetryable},
		},
	}
}

// manyInserter is the batch insert of River's client; Record uses it when
// the Inserter has it (one statement for a batch's customers).
type manyInserter interface {
	InsertManyTx(ctx context.Context, tx *sql.Tx, params []river.InsertManyParams) ([]*rivertype.JobInsertResult, error)
}

var errNoInserter = errors.New("signals: record: no job inserter wired")

// Record writes the signals in tx and schedules their customers' consumer
// (debounced per (shop, customer)), in the caller's transaction: the
// consumer runs if and only if the change commits.
//
// It first locks the profiles (LockProfiles, ascending ids), which the
// consumer also takes before it reads. Without that, a signal could be
// stranded: the writer picks the debounce window from its clock just before
// a window ends, the window's job starts and takes the pending signals, and
// only then does the writer's insert reach River, which finds the job
// (running) and adds nothing, while the job missed the writer's signal.
// With the lock, either the writer locked first and the job waits for its
// commit, or the job locked first and the writer's window is read (on the
// database's clock) after the job started, hence after its window ended: a
// later job takes the signal. (While the writer's transaction is open, a
// job it was merged into can't start either: River's insert touches the
// job's row and its fetch skips locked rows.)
//
// Signals of customers that don't exist in their shop are dropped.
func Record(ctx context.Context, tx *sql.Tx, ins jobs.Inserter, sigs ...Signal) error {
	if len(sigs) == 0 {
		return nil
	}
	if ins == nil {
		return errNoInserter
	}
	byShop := map[int64][]int64{}
	for _, s := range sigs {
		if s.ShopID <= 0 || s.CustomerID <= 0 || s.Kind == "" {
			return fmt.Errorf("signals: record: %q needs a shop, a customer and a kind (got shop %d, customer %d)", s.Kind, s.ShopID, s.CustomerID)
		}
		byShop[s.ShopID] = append(byShop[s.ShopID], s.CustomerID)
	}
	shops := make([]int64, 0, len(byShop))
	for shop := range byShop {
		shops = append(shops, shop)
	}
	slices.Sort(shops)
	var params []river.InsertManyParams
	for _, shop := range shops {
		ids := slices.Compact(slices.Sorted(slices.Values(byShop[shop])))
		now, err := LockProfiles(ctx, tx, shop, ids)
		if err != nil {
			return fmt.Errorf("signals: record: %w", err)
		}
		for _, id := range ids {
			params = append(params, river.InsertManyParams{Args: ConsumeArgs{ShopID: shop, CustomerID: id}, InsertOpts: consumeOpts(now)})
		}
	}
	stored, err := insertRows(ctx, tx, sigs)
	if err != nil {
		return err
	}
	params = slices.DeleteFunc(params, func(p river.InsertManyParams) bool {
		a := p.Args.(ConsumeArgs)
		return !stored[customerKey{a.ShopID, a.CustomerID}]
	})
	// In (shop, customer) order, so that transactions scheduling several
	// customers take River's unique-key locks in one order and can't
	// deadlock.
	if len(params) == 0 {
		return nil
	}
	if many, ok := ins.(manyInserter); ok && len(params) > 1 {
		if _, err := many.InsertManyTx(ctx, tx, params); err != nil {
			return fmt.Errorf("signals: schedule %d consumers: %w", len(params), err)
		}
		return nil
	}
	for _, p := range params {
		if _, err := ins.InsertTx(ctx, tx, p.Args, p.InsertOpts); err != nil {
			return fmt.Errorf("signals: schedule consumer of customer %d: %w", p.Args.(ConsumeArgs).CustomerID, err)
		}
	}
	return nil
}

type customerKey struct{ shop, customer int64 }

// insertRows writes the signals in one statement, in the given order (ids
// ascend with it), leaving out customers not found in their shop, and
// returns the customers it stored signals for.
func insertRows(ctx context.Context, tx *sql.Tx, sigs []Signal) (map[customerKey]bool, error) {
	n := len(sigs)
	shops, custs := make([]int64, n), make([]int64, n)
	kinds, refs, data, ats := make([]string, n), make([]string, n), make([]string, n), make([]string, n)
	for i, s := range sigs {
		shops[i], custs[i], kinds[i], refs[i] = s.ShopID, s.CustomerID, string(s.Kind), s.Ref
		data[i] = "{}"
		if len(s.Data) > 0 {
			data[i] = string(s.Data)
		}
		if !s.At.IsZero() {
			ats[i] = s.At.UTC().Format(time.RFC3339Nano)
		}
	}
	rows, err := tx.QueryContext(ctx, `
		WITH ins AS (
			INSERT INTO customer_signals (shop_id, customer_id, kind, ref, data, at)
			SELECT u.shop_id, u.customer_id, u.kind, u.ref, u.data::jsonb, COALESCE(NULLIF(u.at, '')::timestamptz, now())
			FROM unnest($1::bigint[], $2::bigint[], $3::text[], $4::text[], $5::text[], $6::text[]) WITH ORDINALITY
			     AS u(shop_id, customer_id, kind, ref, data, at, n)
			JOIN customers c ON c.id = u.customer_id AND c.shop_id = u.shop_id
			ORDER BY u.n
			RETURNING shop_id, customer_id
		)
		SELECT DISTINCT shop_id, customer_id FROM ins`,
		pq.Array(shops), pq.Array(custs), pq.Array(kinds), pq.Array(refs), pq.Array(data), pq.Array(ats))
	if err != nil {
		return nil, fmt.Errorf("signals: record %d signals: %w", n, err)
	}
	defer rows.Close()
	stored := map[customerKey]bool{}
	for rows.Next() {
		var k customerKey
		if err := rows.Scan(&k.shop, &k.customer); err != nil {
			return nil, fmt.Errorf("signals: record %d signals: %w", n, err)
		}
		stored[k] = true
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("signals: record %d signals: %w", n, err)
	}
	return stored, nil
}

// Data marshals a small map for Signal.Data (only strings and bools are
// used; it can't fail).
func Data(kv map[string]any) json.RawMessage {
	b, err := json.Marshal(kv)
	if err != nil {
		return nil
	}
	return b
}

// fastManyInserter is River's bulk insert (no per-job results).
type fastManyInserter interface {
	InsertManyFastTx(ctx context.Context, tx *sql.Tx, params []river.InsertManyParams) (int, error)
}

// RecordBulk is Record for set-based writers that change many customers
// at once without holding their profile locks (a full segment refresh):
// the signals are inserted in one statement and every customer gets a
// consumer job of its own, not merged with another (a job of the current
// window may already be running, and only a new job is sure to run after
// this commit). Signals of customers not found in their shop are dropped.
func RecordBulk(ctx context.Context, tx *sql.Tx, ins jobs.Inserter, sigs []Signal) error {
	if len(sigs) == 0 {
		return nil
	}
	if ins == nil {
		return errNoInserter
	}
	type key struct{ shop, customer int64 }
	seen := map[key]bool{}
	var params []river.InsertManyParams
	for _, s := range sigs {
		if s.ShopID <= 0 || s.CustomerID <= 0 || s.Kind == "" {
			return fmt.Errorf("signals: record: %q needs a shop, a customer and a kind (got shop %d, customer %d)", s.Kind, s.ShopID, s.CustomerID)
		}
		k := key{s.ShopID, s.CustomerID}
		if !seen[k] {
			seen[k] = true
			params = append(params, river.InsertManyParams{Args: ConsumeArgs{ShopID: s.ShopID, CustomerID: s.CustomerID}})
		}
	}
	stored, err := insertRows(ctx, tx, sigs)
	if err != nil {
		return err
	}
	params = slices.DeleteFunc(params, func(p river.InsertManyParams) bool {
		a := p.Args.(ConsumeArgs)
		return !stored[customerKey{a.ShopID, a.CustomerID}]
	})
	if len(params) == 0 {
		return nil
	}
	if fast, ok := ins.(fastManyInserter); ok {
		if _, err := fast.InsertManyFastTx(ctx, tx, params); err != nil {
			return fmt.Errorf("signals: schedule %d consumers: %w", len(params), err)
		}
		return nil
	}
	for _, p := range params {
		if _, err := ins.InsertTx(ctx, tx, p.Args, nil); err != nil {
			return fmt.Errorf("signals: schedule consumer of customer %d: %w", p.Args.(ConsumeArgs).CustomerID, err)
		}
	}
	return nil
}
