package flows

import (
	"context"
	"fmt"

	"github.com/jmoiron/sqlx"

	"github.com/cartwheel/cartwheel/app/email/ledger"
	"github.com/cartwheel/cartwheel/app/email/sender"
	"github.com/cartwheel/cartwheel/app/jobs"
)

// LedgerMailer is the Mailer of the app: it reserves the email in the
// ledger (unique per run and step, the last guard against a second send)
// and queues its delivery on the email queue, in the step's transaction.
// Nothing personal goes into the job: the deliver worker composes the
// message from the template, the profile and the row's context.
type LedgerMailer struct {
	Jobs jobs.Inserter
}

// Reserve implements Mailer.
func (m *LedgerMailer) Reserve(ctx context.Context, tx *sqlx.Tx, e Email) (int64, bool, error) {
	id, existed, err := ledger.Reserve(ctx, tx, ledger.Reservation{
		ShopID: e.ShopID, CustomerID: e.CustomerID, To: e.To, Kind: ledger.KindFlow, Marketing: true,
		Source:  ledger.Source{FlowID: e.FlowID, FlowVersion: e.Version, FlowRunID: e.RunID, FlowStep: e.StepID, TemplateID: e.TemplateID},
		Context: ledger.Context(e.Context),
	})
	if err != nil {
		return 0, false, fmt.Errorf("flows: reserve email: %w", err)
	}
	if existed || m.Jobs == nil {
		// existed: the step ran before and its delivery is queued already.
		return id, false, nil
	}
	if e.NeedsCode {
		if _, err := m.Jobs.InsertTx(ctx, tx.Tx, DiscountArgs{ShopID: e.ShopID, MessageID: id}, nil); err != nil {
			return 0, false, fmt.Errorf("flows: queue discount code: %w", err)
		}
		return id, false, nil
	}
	return id, true, nil
}

// Deliver implements Mailer: one deliver job for the chunk's emails (the
// sender reads the shop once per job).
func (m *LedgerMailer) Deliver(ctx context.Context, tx *sqlx.Tx, shopID int64, ids []int64) error {
	if m.Jobs == nil || len(ids) == 0 {
		return nil
	}
	if err := sender.EnqueueDeliver(ctx, tx.Tx, m.Jobs, shopID, ids...); err != nil {
		return fmt.Errorf("flows: queue delivery: %w", err)
	}
	return nil
}
