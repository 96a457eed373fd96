package reports

import (
	"context"
	"encoding/json"
	"strconv"

	"github.com/jmoiron/sqlx"

	"github.com/cartwheel/cartwheel/app/signals"
)

// Handler is the signals consumer's Reports handler: it counts the
// email_sent and email_event signals into the rollups, in the consumer's
// transaction. HandleSignals collects each customer's; FinishSignals counts
// them all at once (a handful of statements per consumer transaction, not
// per customer).
type Handler struct{}

// signalData is what an email_event signal carries.
type signalData struct {
	Status string `json:"status"`
	Event  int64  `json:"event"` // the email_events row; 0 in signals recorded before it was carried
}

// pending is what a consumer transaction has collected so far.
type pending struct{ items []item }

const memoKey = "reports"

// HandleSignals implements signals.Handler: it collects the customer's
// email signals for FinishSignals (or, without a Memo to keep them in,
// counts them at once).
func (h Handler) HandleSignals(ctx context.Context, tx *sqlx.Tx, b *signals.Batch) error {
	var items []item
	for _, s := range b.Signals {
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
	if len(items) == 0 {
		return nil
	}
	if b.Memo == nil {
		return h.count(ctx, tx, b.ShopID, items)
	}
	p, _ := b.Memo.Get(memoKey)
	pend, _ := p.(*pending)
	if pend == nil {
		pend = &pending{}
		b.Memo.Set(memoKey, pend)
	}
	pend.items = append(pend.items, items...)
	return nil
}

// FinishSignals implements signals.Finisher: it counts what the
// transaction's customers' signals collected.
func (h Handler) FinishSignals(ctx context.Context, tx *sqlx.Tx, shopID int64, memo *signals.Memo) error {
	p, _ := memo.Get(memoKey)
	pend, _ := p.(*pending)
	if pend == nil || len(pend.items) == 0 {
		return nil
	}
	items := pend.items
	pend.items = nil
	return h.count(ctx, tx, shopID, items)
}

func (Handler) count(ctx context.Context, tx *sqlx.Tx, shopID int64, items []item) error {
	loc, err := shopZone(ctx, tx, shopID)
	if err != nil {
		return err
	}
	slot, err := claimSlot(ctx, tx, shopID)
	if err != nil {
		return err
	}
	return count(ctx, tx, shopID, loc, slot, items)
}
