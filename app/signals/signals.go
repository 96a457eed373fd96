// PLACEHOLDER in the engine branch (the contract only); the sig branch's
// package replaces it at merge.
package signals

import (
	"context"
	"encoding/json"
	"time"

	"github.com/jmoiron/sqlx"
)

type Kind string

const (
	CustomerCreated   Kind = "customer_created"
	ProfileChanged    Kind = "profile_changed"
	ConsentChanged    Kind = "consent_changed"
	Suppressed        Kind = "suppressed"
	OrderPlaced       Kind = "order_placed"
	OrderUpdated      Kind = "order_updated"
	OrderFulfilled    Kind = "order_fulfilled"
	CheckoutStarted   Kind = "checkout_started"
	CheckoutCompleted Kind = "checkout_completed"
	CartUpdated       Kind = "cart_updated"
	StorefrontEvent   Kind = "storefront_event"
	EmailSent         Kind = "email_sent"
	EmailEvent        Kind = "email_event"
	SegmentEntered    Kind = "segment_entered"
	SegmentExited     Kind = "segment_exited"
)

type Signal struct {
	ID         int64
	ShopID     int64
	CustomerID int64
	Kind       Kind
	Ref        string
	Data       json.RawMessage
	At         time.Time
}

type Handler interface {
	HandleSignals(ctx context.Context, tx *sqlx.Tx, b *Batch) error
}

type Batch struct {
	ShopID, CustomerID int64
	Now                time.Time
	Signals            []Signal
}

func (b *Batch) Add(s Signal) { b.Signals = append(b.Signals, s) }
