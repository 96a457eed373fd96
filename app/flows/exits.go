package flows

import (
	"context"
	"time"

	"github.com/jmoiron/sqlx"
	"github.com/lib/pq"
)

// Abandonment triggers (isAbandonment, validate.go) stop on conversion
// whatever exits the merchant set: an abandoned-cart email after the order
// is the one mistake never made.

// converted: the shopper did what an abandonment flow asks for.
func (e *Engine) converted(ctx context.Context, tx *sqlx.Tx, r *run, trigger string) (bool, error) {
	switch trigger {
	case TriggerCheckoutAbandoned:
		return e.checkoutConverted(ctx, tx, r.ShopID, r.CustomerID, r.TriggerRef, r.StartedAt)
	case TriggerCartAbandoned, TriggerBrowseAbandoned, TriggerSearchAbandoned:
		return e.orderSince(ctx, tx, r.ShopID, r.CustomerID, r.StartedAt)
	}
	return false, nil
}

// exitReason is why the run must end now ("" to go on): the profile is
// gone, the shopper converted, or one of the flow's exits holds.
func (e *Engine) exitReason(ctx context.Context, tx *sqlx.Tx, r *run, def *loadedDef, now time.Time) (string, error) {
	p, err := e.profileOf(ctx, tx, r)
	if err != nil {
		return "", err
	}
	if p.Missing || p.Deleted {
		return ReasonDeleted, nil
	}
	if isAbandonment(def.Trigger.Type) {
		if ok, err := e.converted(ctx, tx, r, def.Trigger.Type); err != nil || ok {
			return ReasonConverted, err
		}
	}
	for _, x := range def.Exits {
		var hit bool
		var err error
		switch x.Kind {
		case ExitOrderPlaced:
			hit, err = e.orderSince(ctx, tx, r.ShopID, r.CustomerID, r.StartedAt)
		case ExitUnsubscribed:
			why := p.unreachable()
			hit = why == ReasonNotSubscribed || why == "suppressed"
		case ExitLeftSegment:
			if def.Trigger.SegmentID != 0 {
				var in bool
				in, err = e.inSegment(ctx, tx, r.ShopID, r.CustomerID, def.Trigger.SegmentID)
				hit = !in
			}
		case ExitAddedToCart:
			hit, err = e.eventSince(ctx, tx, r.ShopID, r.CustomerID, r.StartedAt, "product_added_to_cart")
		case ExitCheckout:
			hit, err = e.checkoutSince(ctx, tx, r.ShopID, r.CustomerID, r.StartedAt)
		case ExitCondition:
			if x.Condition != nil {
				hit, err = e.holds(ctx, tx, r, *x.Condition, now)
			}
		}
		if err != nil {
			return "", err
		}
		if hit {
			return x.Kind, nil
		}
	}
	return "", nil
}

// triggerHolds: at the end of an abandonment trigger's delay, the shopper
// still hasn't done it (state read now, whatever order the webhooks came in).
func (e *Engine) triggerHolds(ctx context.Context, tx *sqlx.Tx, r *run, def *loadedDef, now time.Time) (bool, error) {
	switch def.Trigger.Type {
	case TriggerCartAbandoned:
		since := r.StartedAt
		if t, err := time.Parse(time.RFC3339Nano, r.ctx["activity_at"]); err == nil {
			since = t
		}
		started, err := e.checkoutSince(ctx, tx, r.ShopID, r.CustomerID, since)
		return !started, err
	case TriggerBrowseAbandoned, TriggerSearchAbandoned:
		added, err := e.eventSince(ctx, tx, r.ShopID, r.CustomerID, r.StartedAt, "product_added_to_cart")
		return !added, err
	}
	return true, nil
}

// eventHappened: the event a wait_for_event step waits for came, since the
// step was entered (a signal marks it at once; the state check catches one
// that raced the wait's start).
func (e *Engine) eventHappened(ctx context.Context, tx *sqlx.Tx, r *run, s *Step, now time.Time) (bool, error) {
	if r.ctx["hit:"+s.ID] != "" {
		return true, nil
	}
	since := r.StartedAt
	if t, err := time.Parse(time.RFC3339Nano, r.ctx["since:"+s.ID]); err == nil {
		since = t
	} else {
		since = now
		r.ctx["since:"+s.ID] = now.UTC().Format(time.RFC3339Nano)
	}
	switch s.Event {
	case EventCheckoutCompleted:
		if r.ctx["checkout_token"] != "" {
			return e.checkoutConverted(ctx, tx, r.ShopID, r.CustomerID, r.ctx["checkout_token"], since)
		}
		return e.orderSince(ctx, tx, r.ShopID, r.CustomerID, since)
	case EventOrderPlaced:
		return e.orderSince(ctx, tx, r.ShopID, r.CustomerID, since)
	case EventAddedToCart:
		return e.eventSince(ctx, tx, r.ShopID, r.CustomerID, since, "product_added_to_cart")
	case EventEmailOpened, EventEmailClicked:
		kinds := []string{"open", "click"}
		if s.Event == EventEmailClicked {
			kinds = []string{"click"}
		}
		return e.exists(ctx, tx, "run email engagement", `SELECT 1 FROM email_messages m JOIN email_events ev ON ev.message_id = m.id
			WHERE m.shop_id = $1 AND m.flow_run_id = $2 AND ev.kind = ANY($3) AND ev.occurred_at >= $4`, r.ShopID, r.ID, pq.Array(kinds), since)
	}
	return false, nil
}
