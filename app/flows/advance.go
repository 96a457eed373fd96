package flows

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"time"

	"github.com/jmoiron/sqlx"
	"github.com/lib/pq"

	"github.com/cartwheel/cartwheel/app/customers"
)

// maxStepsPerWake bounds the steps one wake-up executes (a definition of
// only conditions and splits ends far sooner; this guards a bad one).
const maxStepsPerWake = 64

// shopRules are the shop's sending rules, read once per pass.
type shopRules struct {
	Loc        *time.Location
	CapHours   int
	QuietStart string
	QuietEnd   string
}

func (e *Engine) rules(ctx context.Context, q sqlx.QueryerContext, shopID int64) (shopRules, error) {
	var row struct {
		TZ, ShopTZ, QS, QE string
		Cap                int
	}
	err := sqlx.GetContext(ctx, q, &row, `SELECT timezone AS tz, iana_timezone AS shoptz, quiet_hours_start AS qs, quiet_hours_end AS qe,
		marketing_cap_hours AS cap FROM shops WHERE id = $1`, shopID)
	if err != nil {
		return shopRules{}, fmt.Errorf("flows: shop %d rules: %w", shopID, err)
	}
	tz := row.TZ
	if tz == "" {
		tz = row.ShopTZ
	}
	loc, ok := customers.Location(tz)
	if !ok {
		loc = time.UTC
	}
	return shopRules{Loc: loc, CapHours: row.Cap, QuietStart: row.QS, QuietEnd: row.QE}, nil
}

// loc is the zone of the run's waits and quiet hours: the recipient's when
// known, else the shop's.
func (r *run) loc(rules shopRules) *time.Location {
	if l, ok := customers.Location(r.CustomerTZ); ok {
		return l
	}
	return rules.Loc
}

// advance executes a due run until it waits, ends, or defers. It returns
// how many steps it executed.
func (e *Engine) advance(ctx context.Context, tx *sqlx.Tx, r *run, rules shopRules, now time.Time) (int, error) {
	def, err := e.version(ctx, tx, r.ShopID, r.FlowID, r.Version)
	if err != nil {
		return 0, err
	}
	if reason, err := e.exitReason(ctx, tx, r, def, now); err != nil || reason != "" {
		if err != nil {
			return 0, err
		}
		return 0, e.end(ctx, tx, r, "exited", reason, now)
	}
	steps := 0
	for i := 0; i < maxStepsPerWake; i++ {
		switch r.Phase {
		case phaseTrigger:
			ok, err := e.triggerHolds(ctx, tx, r, def, now)
			if err != nil {
				return steps, err
			}
			if !ok {
				return steps, e.end(ctx, tx, r, "exited", ReasonConverted, now)
			}
			if err := e.moveTo(ctx, tx, r, def, def.tree.first(), r.WakeAt.Time, now); err != nil {
				return steps, err
			}
		case phaseWait:
			s := def.tree.step[r.StepID]
			if s == nil {
				return steps, e.end(ctx, tx, r, "exited", ReasonMissingStep, now)
			}
			if s.Type == StepWait {
				if err := e.moveTo(ctx, tx, r, def, def.tree.next(s.ID), r.WakeAt.Time, now); err != nil {
					return steps, err
				}
				continue
			}
			r.Phase = phaseStep // a deferred send, due again
		case phaseEvent:
			s := def.tree.step[r.StepID]
			if s == nil {
				return steps, e.end(ctx, tx, r, "exited", ReasonMissingStep, now)
			}
			hit, err := e.eventHappened(ctx, tx, r, s, now)
			if err != nil {
				return steps, err
			}
			b := 1
			if hit {
				b = 0
			}
			steps++
			if err := e.logStep(ctx, tx, r, s.ID, OutcomeBranched, branchLabel(s, b), 0, now); err != nil {
				return steps, err
			}
			if err := e.moveTo(ctx, tx, r, def, def.tree.branch(s.ID, b), now, now); err != nil {
				return steps, err
			}
		case phaseStep:
			if r.Status != "active" {
				return steps, nil
			}
			s := def.tree.step[r.StepID]
			if s == nil {
				return steps, e.end(ctx, tx, r, "exited", ReasonMissingStep, now)
			}
			steps++
			waiting, err := e.execute(ctx, tx, r, def, s, rules, now)
			if err != nil || waiting {
				return steps, err
			}
		}
		if r.Status != "active" {
			return steps, nil
		}
		if r.Phase != phaseStep && r.WakeAt.Time.After(now) {
			return steps, e.save(ctx, tx, r)
		}
	}
	return steps, e.save(ctx, tx, r)
}

// execute runs step s. waiting is true when the run now waits (saved).
func (e *Engine) execute(ctx context.Context, tx *sqlx.Tx, r *run, def *loadedDef, s *Step, rules shopRules, now time.Time) (bool, error) {
	switch s.Type {
	case StepWait:
		// From when the step came due, not from when this pass reached it:
		// a run executed late doesn't drift later at every wait.
		r.Phase = phaseWait
		r.WakeAt.Time, r.WakeAt.Valid = waitUntil(s, dueOr(r, now), r.loc(rules)), true
		return e.wait(ctx, tx, r, now)
	case StepWaitForEvent:
		hit, err := e.eventHappened(ctx, tx, r, s, now)
		if err != nil {
			return false, err
		}
		if hit {
			if err := e.logStep(ctx, tx, r, s.ID, OutcomeBranched, branchLabel(s, 0), 0, now); err != nil {
				return false, err
			}
			return false, e.moveTo(ctx, tx, r, def, def.tree.branch(s.ID, 0), now, now)
		}
		r.Phase = phaseEvent
		r.WakeAt.Time, r.WakeAt.Valid = dueOr(r, now).Add(s.Timeout.D()), true
		return e.wait(ctx, tx, r, now)
	case StepCondition:
		all := true
		for _, c := range s.Conditions {
			ok, err := e.holds(ctx, tx, r, c, now)
			if err != nil {
				return false, err
			}
			if !ok {
				all = false
				break
			}
		}
		b := 1
		if all {
			b = 0
		}
		if err := e.logStep(ctx, tx, r, s.ID, OutcomeBranched, branchLabel(s, b), 0, now); err != nil {
			return false, err
		}
		return false, e.moveTo(ctx, tx, r, def, def.tree.branch(s.ID, b), now, now)
	case StepRandomSplit:
		b := pick(r.ID, s.ID, s.Branches)
		if err := e.logStep(ctx, tx, r, s.ID, OutcomeBranched, branchLabel(s, b), 0, now); err != nil {
			return false, err
		}
		return false, e.moveTo(ctx, tx, r, def, def.tree.branch(s.ID, b), now, now)
	case StepSendEmail:
		return e.send(ctx, tx, r, def, s, rules, now)
	case StepUpdate:
		if err := e.updateProfile(ctx, tx, r, s); err != nil {
			return false, err
		}
		if err := e.logStep(ctx, tx, r, s.ID, OutcomeUpdated, "", 0, now); err != nil {
			return false, err
		}
		return false, e.moveTo(ctx, tx, r, def, def.tree.next(s.ID), now, now)
	case StepExit:
		if err := e.logStep(ctx, tx, r, s.ID, OutcomeExited, ReasonExitStep, 0, now); err != nil {
			return false, err
		}
		return false, e.end(ctx, tx, r, "exited", ReasonExitStep, now)
	}
	return false, fmt.Errorf("flows: run %d: unknown step type %q", r.ID, s.Type)
}

func branchLabel(s *Step, b int) string {
	if b < len(s.Branches) && s.Branches[b].Label != "" {
		return s.Branches[b].Label
	}
	return fmt.Sprintf("branch %d", b+1)
}

// moveTo makes id the run's current step, due at due: the end of the wait
// that led to it, or now after a step that just executed (or completes the
// run when id is "": the end of a branch or of the flow).
func (e *Engine) moveTo(ctx context.Context, tx *sqlx.Tx, r *run, def *loadedDef, id string, due, now time.Time) error {
	if id == "" {
		return e.end(ctx, tx, r, "completed", "", now)
	}
	r.StepID, r.Phase = id, phaseStep
	r.DueAt.Time, r.DueAt.Valid = due, true
	r.WakeAt.Time, r.WakeAt.Valid = now, true
	return e.logStep(ctx, tx, r, id, OutcomeEntered, "", 0, now)
}

// save writes the run's position and schedules its wake-up.
func (e *Engine) save(ctx context.Context, tx *sqlx.Tx, r *run) error {
	if err := e.flushLogs(ctx, tx, r); err != nil {
		return err
	}
	ctxJSON, _ := json.Marshal(r.ctx)
	_, err := e.exec(ctx, tx, `UPDATE flow_runs SET step_id = $3, phase = $4, wake_at = $5, due_at = $6, context = $7, updated_at = now()
		WHERE shop_id = $1 AND id = $2`, r.ShopID, r.ID, r.StepID, r.Phase, r.WakeAt, r.DueAt, ctxJSON)
	if err != nil {
		return fmt.Errorf("flows: save run %d: %w", r.ID, err)
	}
	if r.WakeAt.Valid {
		return e.scheduleWake(ctx, tx, r.ShopID, r.WakeAt.Time)
	}
	return nil
}

// end finishes a run (completed, exited or ended).
func (e *Engine) end(ctx context.Context, tx *sqlx.Tx, r *run, status, reason string, now time.Time) error {
	r.Status = status
	_, err := e.exec(ctx, tx, `UPDATE flow_runs SET status = $3, end_reason = $4, ended_at = $5, wake_at = NULL, updated_at = now()
		WHERE shop_id = $1 AND id = $2`, r.ShopID, r.ID, status, reason, now)
	if err != nil {
		return fmt.Errorf("flows: end run %d: %w", r.ID, err)
	}
	if status == "exited" && r.StepID != "" && reason != ReasonExitStep {
		if err := e.logStep(ctx, tx, r, r.StepID, OutcomeExited, reason, 0, now); err != nil {
			return err
		}
	}
	return e.flushLogs(ctx, tx, r)
}

// logStep notes what happened at a step; the notes are written with the
// run's position (flushLogs), in one statement.
func (e *Engine) logStep(_ context.Context, _ *sqlx.Tx, r *run, stepID, outcome, reason string, messageID int64, now time.Time) error {
	r.logs = append(r.logs, stepLog{step: stepID, outcome: outcome, reason: reason, message: messageID, at: now})
	return nil
}

type stepLog struct {
	step, outcome, reason string
	message               int64
	at                    time.Time
}

func (e *Engine) flushLogs(ctx context.Context, tx *sqlx.Tx, r *run) error {
	if len(r.logs) == 0 {
		return nil
	}
	n := len(r.logs)
	steps, outcomes, reasons := make([]string, n), make([]string, n), make([]string, n)
	msgs, ats := make([]sql.NullInt64, n), make([]time.Time, n)
	for i, l := range r.logs {
		steps[i], outcomes[i], reasons[i], ats[i] = l.step, l.outcome, l.reason, l.at
		msgs[i] = sql.NullInt64{Int64: l.message, Valid: l.message != 0}
	}
	_, err := e.exec(ctx, tx, `INSERT INTO flow_run_steps (shop_id, flow_id, run_id, step_id, outcome, reason, message_id, at)
		SELECT $1, $2, $3, u.step, u.outcome, u.reason, u.msg, u.at
		FROM unnest($4::text[], $5::text[], $6::text[], $7::bigint[], $8::timestamptz[]) WITH ORDINALITY AS u(step, outcome, reason, msg, at, i)
		ORDER BY u.i`, r.ShopID, r.FlowID, r.ID, pq.Array(steps), pq.Array(outcomes), pq.Array(reasons), pq.Array(msgs), pq.Array(ats))
	if err != nil {
		return fmt.Errorf("flows: log steps of run %d: %w", r.ID, err)
	}
	r.logs = r.logs[:0]
	return nil
}

// dueOr is when the run's current step came due (now if not known or in
// the future).
func dueOr(r *run, now time.Time) time.Time {
	if r.DueAt.Valid && r.DueAt.Time.Before(now) {
		return r.DueAt.Time
	}
	return now
}

// wait saves a run that waits past now; one whose wake-up has already
// passed (a late pass) goes on in this one.
func (e *Engine) wait(ctx context.Context, tx *sqlx.Tx, r *run, now time.Time) (bool, error) {
	if !r.WakeAt.Time.After(now) {
		return false, nil
	}
	return true, e.save(ctx, tx, r)
}
