package reports

import (
	"context"
	"encoding/json"
	"strconv"
	"time"

	"github.com/jmoiron/sqlx"

	"github.com/cartwheel/cartwheel/app/signals"
)

// Handler is the signals consumer's Reports handler: it counts the
// email_sent and email_event signals of a customer into the rollups, in
// the consumer's transaction.
type Handler struct{}

// signalData is what an email_event signal carries.
type signalData struct {
	Status string `json:"status"`
	Event  int64  `json:"event"` // the email_events row; 0 in signals recorded before it was carried
}

// HandleSignals implements signals.Handler.
func (Handler) HandleSignals(ctx context.Context, tx *sqlx.Tx, b *signals.Batch) error {
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
	loc, slot, err := perTx(ctx, tx, b)
	if err != nil {
		return err
	}
	return count(ctx, tx, b.ShopID, loc, slot, items)
}

type txMemo struct {
	loc  *time.Location
	slot int
}

// perTx reads the shop's zone and claims a slot once per consumer
// transaction (the batch's Memo is shared by its customers).
func perTx(ctx context.Context, tx *sqlx.Tx, b *signals.Batch) (*time.Location, int, error) {
	const key = "reports"
	if v, ok := b.Memo.Get(key); ok {
		m := v.(txMemo)
		return m.loc, m.slot, nil
	}
	loc, err := shopZone(ctx, tx, b.ShopID)
	if err != nil {
		return nil, 0, err
	}
	slot, err := claimSlot(ctx, tx, b.ShopID)
	if err != nil {
		return nil, 0, err
	}
	b.Memo.Set(key, txMemo{loc, slot})
	return loc, slot, nil
}
