package wheel

import (
	"context"
	"fmt"

	"github.com/jmoiron/sqlx"

	"github.com/cartwheel/cartwheel/app/events"
)

// Events is what the wheel needs from event ingestion (app/events): record
// the server-side `subscribed` event the welcome flow starts on, stitch
// the visitor to the profile, and tell whether a visitor is a known
// subscriber.
type Events interface {
	RecordServer(ctx context.Context, tx *sqlx.Tx, shopID int64, visitorID string, customerID int64, name string, data map[string]any) error
	Identify(ctx context.Context, tx *sqlx.Tx, shopID int64, visitorID string, customerID int64) error
	SubscribedVisitor(ctx context.Context, q sqlx.QueryerContext, shopID int64, visitorID string) (bool, error)
}

// NoEvents records nothing (tests of the wheel alone).
type NoEvents struct{}

func (NoEvents) RecordServer(context.Context, *sqlx.Tx, int64, string, int64, string, map[string]any) error {
	return nil
}
func (NoEvents) Identify(context.Context, *sqlx.Tx, int64, string, int64) error { return nil }
func (NoEvents) SubscribedVisitor(context.Context, sqlx.QueryerContext, int64, string) (bool, error) {
	return false, nil
}

// TableEvents is Events on app/events: its RecordServer and Identify (in
// the spin's transaction), plus a read of its visitors table.
type TableEvents struct{}

// RecordServer appends a server-side event.
func (TableEvents) RecordServer(ctx context.Context, tx *sqlx.Tx, shopID int64, visitorID string, customerID int64, name string, data map[string]any) error {
	return events.RecordServer(ctx, tx, shopID, visitorID, customerID, name, data)
}

// Identify stitches the visitor to the profile (and back-fills its
// anonymous events).
func (TableEvents) Identify(ctx context.Context, tx *sqlx.Tx, shopID int64, visitorID string, customerID int64) error {
	if visitorID == "" {
		return nil
	}
	return events.Identify(ctx, tx, shopID, visitorID, customerID, events.ByWheel)
}

// SubscribedVisitor reports whether the visitor is identified as a
// subscribed profile.
func (TableEvents) SubscribedVisitor(ctx context.Context, q sqlx.QueryerContext, shopID int64, visitorID string) (bool, error) {
	var ok bool
	if err := sqlx.GetContext(ctx, q, &ok, `
		SELECT EXISTS (SELECT 1 FROM visitors v JOIN customers c ON c.id = v.customer_id
		WHERE v.shop_id = $1 AND v.visitor_id = $2 AND c.email_consent = 'subscribed' AND c.deleted_at IS NULL)`,
		shopID, visitorID); err != nil {
		return false, fmt.Errorf("wheel: visitor subscriber check: %w", err)
	}
	return ok, nil
}
