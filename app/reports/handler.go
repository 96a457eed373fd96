package reports

import (
	"cmp"
	"context"
	"encoding/json"
	"maps"
	"strconv"
	"time"

	"github.com/jmoiron/sqlx"

	"github.com/cartwheel/cartwheel/app/signals"
)

// Handler is the signals consumer's Reports handler: it counts the
// email_sent and email_event signals into the rollups, attributes the
// orders of order_placed and order_updated signals (see attribution.go) and
// counts them into the store's, and brings the subscriber counts up to date
// on consent_changed, customer_created and profile_changed signals
// (apply_dashboard.go), in the consumer's transaction. HandleSignals collects each customer's; FinishSignals counts
// them all at once (a handful of statements per consumer transaction, not
// per customer).
type Handler struct{}

// signalData is what an email_event signal carries.
type signalData struct {
	Status string `json:"status"`
	Event  int64  `json:"event"` // the email_events row; 0 in signals recorded before it was carried
}

// pending is what a consumer transaction has collected so far: email
// items, and the profiles whose consent may have changed with the time of
// their newest such signal.
type pending struct {
	items   []item
	consent map[int64]time.Time
}

const memoKey = "reports"

// HandleSignals implements signals.Handler: it collects the customer's
// email signals for FinishSignals (or, without a Memo to keep them in,
// counts them at once).
func (h Handler) HandleSignals(ctx context.Context, tx *sqlx.Tx, b *signals.Batch) error {
	var items []item
	var orderIDs []int64
	var consentAt time.Time
	for _, s := range b.Signals {
		if s.Kind == signals.ConsentChanged || s.Kind == signals.CustomerCreated || s.Kind == signals.ProfileChanged {
			consentAt = cmp.Or(s.At, b.Now, time.Now())
			continue
		}
		if s.Kind == signals.OrderPlaced || s.Kind == signals.OrderUpdated {
			if id := orderRef(s.Ref); id > 0 {
				orderIDs = append(orderIDs, id)
			}
			continue
		}
		if s.Kind != signals.EmailSent && s.Kind != signals.EmailEvent {
			continue
		}
		id, err := strconv.ParseInt(s.Ref, 10, 64)
		if err != nil || id <= 0 {
			continue
		}
		it := item{Message: id, At: s.At, Status: "sent"}
		if s.Kind == signals.EmailEvent {
			var d signalData
			if len(s.Data) > 0 {
				_ = json.Unmarshal(s.Data, &d) // a malformed one counts as status-less: nothing
			}
			it.Status, it.Event = d.Status, d.Event
		}
		items = append(items, it)
	}
	var consent map[int64]time.Time
	if !consentAt.IsZero() {
		consent = map[int64]time.Time{b.CustomerID: consentAt}
	}
	if len(items) == 0 && len(orderIDs) == 0 && consent == nil {
		return nil
	}
	if b.Memo == nil {
		if err := h.count(ctx, tx, b.ShopID, items, consent); err != nil {
			return err
		}
		return h.attribute(ctx, tx, b.ShopID, orderIDs)
	}
	if len(orderIDs) > 0 {
		o, _ := b.Memo.Get(ordersMemoKey)
		refs, _ := o.(*orderRefs)
		if refs == nil {
			refs = &orderRefs{}
			b.Memo.Set(ordersMemoKey, refs)
		}
		refs.ids = append(refs.ids, orderIDs...)
	}
	if len(items) == 0 && consent == nil {
		return nil
	}
	p, _ := b.Memo.Get(memoKey)
	pend, _ := p.(*pending)
	if pend == nil {
		pend = &pending{consent: map[int64]time.Time{}}
		b.Memo.Set(memoKey, pend)
	}
	pend.items = append(pend.items, items...)
	maps.Copy(pend.consent, consent)
	return nil
}

// FinishSignals implements signals.Finisher: it counts what the
// transaction's customers' signals collected and attributes their orders.
func (h Handler) FinishSignals(ctx context.Context, tx *sqlx.Tx, shopID int64, memo *signals.Memo) error {
	p, _ := memo.Get(memoKey)
	if pend, _ := p.(*pending); pend != nil && (len(pend.items) > 0 || len(pend.consent) > 0) {
		items, consent := pend.items, pend.consent
		pend.items, pend.consent = nil, map[int64]time.Time{}
		if err := h.count(ctx, tx, shopID, items, consent); err != nil {
			return err
		}
	}
	o, _ := memo.Get(ordersMemoKey)
	if refs, _ := o.(*orderRefs); refs != nil && len(refs.ids) > 0 {
		ids := refs.ids
		refs.ids = nil
		return h.attribute(ctx, tx, shopID, ids)
	}
	return nil
}

func (Handler) attribute(ctx context.Context, tx *sqlx.Tx, shopID int64, orderIDs []int64) error {
	if len(orderIDs) == 0 {
		return nil
	}
	return attributeIn(ctx, tx, shopID, orderIDs)
}

func (Handler) count(ctx context.Context, tx *sqlx.Tx, shopID int64, items []item, consent map[int64]time.Time) error {
	if len(items) == 0 && len(consent) == 0 {
		return nil
	}
	loc, err := shopZone(ctx, tx, shopID)
	if err != nil {
		return err
	}
	slot, err := claimSlot(ctx, tx, shopID)
	if err != nil {
		return err
	}
	if err := countSubscribers(ctx, tx, shopID, loc, slot, consent); err != nil { // apply_dashboard.go
		return err
	}
	if len(items) == 0 {
		return nil
	}
	if err := count(ctx, tx, shopID, loc, slot, items); err != nil {
		return err
	}
	return countEmails(ctx, tx, shopID, loc, slot, items) // every email: apply_email.go
}
