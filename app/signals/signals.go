// Package signals is the one record of "something happened to a customer".
// The transaction that changes a customer (an order, a checkout, a cart, a
// storefront event, an email event, consent, the profile, a suppression, a
// segment entry or exit) records a signal in the same transaction with
// Record; the consumer (Consumer.Run, in every worker process) takes the
// pending signals, many customers per transaction, and hands each
// customer's to every handler (segment refresh, flows). Write
// sites never call those consumers by hand, and a handler that isn't wired
// fails at start-up (NewConsumer).
package signals

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"maps"
	"slices"
	"time"

	"github.com/lib/pq"
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
	EmailEvent        Kind = "email_event"        // Ref = email_messages id; Data {"status": "opened|clicked|bounced|dropped|unsubscribed|complained|delivered|deferred", "event": email_events id}
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

// Record writes the signals in tx, in the caller's transaction: the
// consumer (Consumer.Run, in every worker process) sees them once the
// change commits, and never if it doesn't.
//
// It first locks the profiles (LockProfiles, ascending ids), which the
// consumer also takes before it takes a customer's signals: the consumer
// either waits for (Consume) or skips (a pass) a profile whose writer is
// still at work, so it never hands the handlers a signal before the
// change it describes is visible, and two writers of one customer can't
// interleave their derived data.
//
// Signals of customers that don't exist in their shop are dropped.
func Record(ctx context.Context, tx *sql.Tx, sigs ...Signal) error {
	if len(sigs) == 0 {
		return nil
	}
	byShop := map[int64][]int64{}
	for _, s := range sigs {
		if err := check(s); err != nil {
			return err
		}
		byShop[s.ShopID] = append(byShop[s.ShopID], s.CustomerID)
	}
	// In shop order, so that transactions recording several shops' signals
	// lock in one order and can't deadlock.
	for _, shop := range slices.Sorted(maps.Keys(byShop)) {
		if _, err := LockProfiles(ctx, tx, shop, byShop[shop]); err != nil {
			return fmt.Errorf("signals: record: %w", err)
		}
	}
	return insertRows(ctx, tx, sigs)
}

func check(s Signal) error {
	if s.ShopID <= 0 || s.CustomerID <= 0 || s.Kind == "" {
		return fmt.Errorf("signals: record: %q needs a shop, a customer and a kind (got shop %d, customer %d)", s.Kind, s.ShopID, s.CustomerID)
	}
	return nil
}

type customerKey struct{ shop, customer int64 }

// insertRows writes the signals in one statement, in the given order (ids
// ascend with it), leaving out customers not found in their shop.
func insertRows(ctx context.Context, tx *sql.Tx, sigs []Signal) error {
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
	_, err := tx.ExecContext(ctx, `
		INSERT INTO customer_signals (shop_id, customer_id, kind, ref, data, at)
		SELECT u.shop_id, u.customer_id, u.kind, u.ref, u.data::jsonb, COALESCE(NULLIF(u.at, '')::timestamptz, now())
		FROM unnest($1::bigint[], $2::bigint[], $3::text[], $4::text[], $5::text[], $6::text[]) WITH ORDINALITY
		     AS u(shop_id, customer_id, kind, ref, data, at, n)
		JOIN customers c ON c.id = u.customer_id AND c.shop_id = u.shop_id
		ORDER BY u.n`,
		pq.Array(shops), pq.Array(custs), pq.Array(kinds), pq.Array(refs), pq.Array(data), pq.Array(ats))
	if err != nil {
		return fmt.Errorf("signals: record %d signals: %w", n, err)
	}
	return nil
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

// RecordBulk is Record for set-based writers that change many customers
// at once without holding their profile locks (a full segment refresh,
// which has already applied what the signals say): the signals are
// inserted in one statement. Signals of customers not found in their shop
// are dropped.
func RecordBulk(ctx context.Context, tx *sql.Tx, sigs []Signal) error {
	if len(sigs) == 0 {
		return nil
	}
	for _, s := range sigs {
		if err := check(s); err != nil {
			return err
		}
	}
	return insertRows(ctx, tx, sigs)
}
