package flows

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/jmoiron/sqlx"

	"github.com/cartwheel/cartwheel/app/email/ledger"
	"github.com/cartwheel/cartwheel/app/shopify"
)

// DefaultMaxLateness applies when a definition doesn't set one.
const DefaultMaxLateness = 24 * time.Hour

func maxLateness(def *loadedDef) time.Duration {
	if def.MaxLateness > 0 {
		return def.MaxLateness.D()
	}
	return DefaultMaxLateness
}

// send executes a send_email step: the flow filters again, the shopper's
// reachability, lateness, quiet hours and the frequency cap (deferring
// within the flow's maximum lateness), then the email is reserved in the
// ledger and its delivery queued, all in the step's transaction.
func (e *Engine) send(ctx context.Context, tx *sqlx.Tx, r *run, def *loadedDef, s *Step, rules shopRules, now time.Time) (bool, error) {
	for _, f := range def.Filters {
		ok, err := e.holds(ctx, tx, r, f, now)
		if err != nil {
			return false, err
		}
		if !ok {
			if err := e.logStep(ctx, tx, r, s.ID, OutcomeSkipped, ReasonFilter, 0, now); err != nil {
				return false, err
			}
			return false, e.end(ctx, tx, r, "exited", ReasonFilter, now)
		}
	}
	skip := func(reason string) (bool, error) {
		if err := e.logStep(ctx, tx, r, s.ID, OutcomeSkipped, reason, 0, now); err != nil {
			return false, err
		}
		return false, e.moveTo(ctx, tx, r, def, def.tree.next(s.ID), now, now)
	}
	due := now
	if r.DueAt.Valid {
		due = r.DueAt.Time
	}
	late := maxLateness(def)
	if now.Sub(due) > late {
		return skip(ReasonTooLate)
	}
	p, err := e.profileOf(ctx, tx, r)
	if err != nil {
		return false, err
	}
	if reason := p.unreachable(); reason != "" {
		return skip(reason)
	}
	defer_ := func(until time.Time, reason string) (bool, error) {
		if until.Sub(due) > late {
			if reason == ReasonFrequencyCap {
				reason = ReasonSmartSending
			}
			return skip(reason)
		}
		if err := e.logStep(ctx, tx, r, s.ID, OutcomeDeferred, reason, 0, now); err != nil {
			return false, err
		}
		r.Phase = phaseWait
		r.WakeAt.Time, r.WakeAt.Valid = until, true
		return true, e.save(ctx, tx, r) // until is after now: the cap or quiet hours hold
	}
	if end, in := quietEnd(now, rules.QuietStart, rules.QuietEnd, r.loc(rules)); in {
		return defer_(end, ReasonQuietHours)
	}
	if rules.CapHours > 0 {
		cap := time.Duration(rules.CapHours) * time.Hour
		var last sql.NullTime
		// The customer's latest marketing email inside the window, other
		// than this run's own: campaigns and flows of at least this
		// priority hold this one back; a lower-priority flow's doesn't.
		// Not prepared: a generic plan can't see that the customer has a
		// handful of emails and scans the shop's (measured: 0.03 ms → 3 ms).
		err := tx.GetContext(ctx, &last, `
			SELECT max(COALESCE(m.sent_at, m.created_at)) FROM email_messages m
			LEFT JOIN flow_runs fr ON fr.id = m.flow_run_id
			WHERE m.shop_id = $1 AND m.customer_id = $2 AND m.marketing AND m.status NOT IN ('skipped', 'failed')
			  AND m.created_at > $3::timestamptz - interval '7 days'
			  AND COALESCE(m.sent_at, m.created_at) > $3 AND m.flow_run_id IS DISTINCT FROM $4
			  AND (m.flow_run_id IS NULL OR fr.priority >= $5)`,
			r.ShopID, r.CustomerID, now.Add(-cap), r.ID, r.Priority)
		if err != nil {
			return false, fmt.Errorf("flows: frequency cap of run %d: %w", r.ID, err)
		}
		if last.Valid {
			return defer_(last.Time.Add(cap), ReasonFrequencyCap)
		}
	}
	if r.Holdout {
		// Everything up to here is what a mailed run goes through; the
		// held-out one stops short of the email and moves on.
		return skip(ReasonHoldout)
	}
	to := p.Email
	// The composer reads the checkout (carts are stored as checkouts too)
	// and the searched term from the row's context.
	msgCtx := map[string]string{}
	if v := r.ctx["checkout_token"]; v != "" {
		msgCtx[ledger.ContextCheckoutToken] = v
	} else if v := r.ctx["cart_token"]; v != "" {
		msgCtx[ledger.ContextCheckoutToken] = v
	}
	if v := r.ctx["search"]; v != "" {
		msgCtx[ledger.ContextSearch] = v
	}
	needsCode := false
	if s.Discount != nil {
		prefix := s.Discount.Prefix
		if prefix == "" {
			prefix = "CW"
		}
		code, err := shopify.NewDiscountCode(prefix)
		if err != nil {
			return false, fmt.Errorf("flows: run %d: %w", r.ID, err)
		}
		msgCtx[ledger.ContextDiscountCode], needsCode = code, true
	}
	if e.Mail == nil {
		return false, errors.New("flows: no mailer wired")
	}
	id, deliver, err := e.Mail.Reserve(ctx, tx, Email{
		ShopID: r.ShopID, CustomerID: r.CustomerID, To: to, FlowID: r.FlowID, Version: r.Version,
		RunID: r.ID, StepID: s.ID, TemplateID: s.TemplateID, Context: msgCtx, NeedsCode: needsCode,
	})
	if err != nil {
		return false, fmt.Errorf("flows: run %d step %s: %w", r.ID, s.ID, err)
	}
	if deliver {
		r.deliver = append(r.deliver, id)
	}
	if err := e.logStep(ctx, tx, r, s.ID, OutcomeSent, "", id, now); err != nil {
		return false, err
	}
	return false, e.moveTo(ctx, tx, r, def, def.tree.next(s.ID), now, now)
}

// updateProfile applies an update_profile step. Setting "suppress" is the
// sunset flow's last step: the address is suppressed with the value as the
// reason.
func (e *Engine) updateProfile(ctx context.Context, tx *sqlx.Tx, r *run, s *Step) error {
	if e.Profiles == nil {
		return errors.New("flows: no profile writer wired")
	}
	r.prof = nil // read again after the change
	if s.AddTag != "" {
		if err := e.Profiles.AddTag(ctx, tx, r.ShopID, r.CustomerID, s.AddTag); err != nil {
			return fmt.Errorf("flows: run %d: %w", r.ID, err)
		}
	}
	if s.SetProperty == "" {
		return nil
	}
	if s.SetProperty == "suppress" {
		if err := e.Profiles.SuppressCustomer(ctx, tx, r.ShopID, r.CustomerID, s.SetValue); err != nil {
			return fmt.Errorf("flows: run %d: %w", r.ID, err)
		}
		return nil
	}
	if err := e.Profiles.SetProperty(ctx, tx, r.ShopID, r.CustomerID, s.SetProperty, s.SetValue); err != nil {
		return fmt.Errorf("flows: run %d: %w", r.ID, err)
	}
	return nil
}
