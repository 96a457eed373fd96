package flows

import (
	"context"
	"fmt"
	"time"

	"github.com/jmoiron/sqlx"
	"github.com/lib/pq"
)

// What the engine does when a flow changes state (called by Store in the
// transaction that changes it).

// Paused holds the flow's runs: RunDue only executes runs of live flows,
// so nothing is needed but the status itself.
func (e *Engine) Paused(ctx context.Context, tx *sqlx.Tx, shopID, flowID int64) error { return nil }

// Resumed wakes the shop now: runs that came due while paused continue,
// and their sends past the maximum lateness are skipped as too late.
func (e *Engine) Resumed(ctx context.Context, tx *sqlx.Tx, shopID, flowID int64) error {
	return e.scheduleWake(ctx, tx, shopID, e.now())
}

// TurnedOff ends every active run of the flow.
func (e *Engine) TurnedOff(ctx context.Context, tx *sqlx.Tx, shopID, flowID int64) error {
	_, err := e.exec(ctx, tx, `UPDATE flow_runs SET status = 'ended', end_reason = $3, ended_at = $4, wake_at = NULL, updated_at = now()
		WHERE shop_id = $1 AND flow_id = $2 AND status = 'active'`, shopID, flowID, ReasonTurnedOff, e.now())
	if err != nil {
		return fmt.Errorf("flows: end runs of flow %d: %w", flowID, err)
	}
	return nil
}

// Published moves the flow's waiting runs to the new version when asked,
// for every run whose current step still exists in it (runs still in the
// trigger's delay always can); the others stay on the version they entered
// with.
func (e *Engine) Published(ctx context.Context, tx *sqlx.Tx, shopID, flowID int64, version int, moveWaiting bool) error {
	if !moveWaiting {
		return e.scheduleWake(ctx, tx, shopID, e.now())
	}
	d, err := e.version(ctx, tx, shopID, flowID, version)
	if err != nil {
		return err
	}
	ids := make([]string, 0, len(d.tree.step))
	for id := range d.tree.step {
		ids = append(ids, id)
	}
	_, err = e.exec(ctx, tx, `UPDATE flow_runs SET version = $3, priority = $5, updated_at = now()
		WHERE shop_id = $1 AND flow_id = $2 AND status = 'active' AND version <> $3 AND (phase = 'trigger' OR step_id = ANY($4))`,
		shopID, flowID, version, pq.Array(ids), d.Priority)
	if err != nil {
		return fmt.Errorf("flows: move runs of flow %d to version %d: %w", flowID, version, err)
	}
	return nil
}

// WaitingBySteps counts the flow's active runs by the step they wait at
// ("trigger" for runs still in the trigger's delay).
func (e *Engine) WaitingBySteps(ctx context.Context, shopID, flowID int64) (map[string]int, error) {
	var rows []struct {
		Step string `db:"step"`
		N    int    `db:"n"`
	}
	err := e.DB.SelectContext(ctx, &rows, `SELECT CASE WHEN phase = 'trigger' THEN 'trigger' ELSE step_id END AS step, count(*) AS n
		FROM flow_runs WHERE shop_id = $1 AND flow_id = $2 AND status = 'active' GROUP BY 1`, shopID, flowID)
	if err != nil {
		return nil, fmt.Errorf("flows: waiting runs of flow %d: %w", flowID, err)
	}
	out := make(map[string]int, len(rows))
	for _, r := range rows {
		out[r.Step] = r.N
	}
	return out, nil
}

// StepNumbers are the per-step numbers of a flow, all versions together
// (step ids are stable across versions).
func (e *Engine) StepNumbers(ctx context.Context, shopID, flowID int64) (map[string]StepCounts, error) {
	out := map[string]StepCounts{}
	get := func(id string) StepCounts {
		c := out[id]
		if c.Skipped == nil {
			c.Skipped, c.Deferred = map[string]int{}, map[string]int{}
		}
		return c
	}
	// Entered and deferred come from the runs' step log; sent and skipped
	// from the ledger too, which knows what the sender did at send time.
	var logs []struct {
		Step    string `db:"step_id"`
		Outcome string `db:"outcome"`
		Reason  string `db:"reason"`
		N       int    `db:"n"`
	}
	if err := e.DB.SelectContext(ctx, &logs, `SELECT step_id, outcome, reason, count(*) AS n FROM flow_run_steps
		WHERE shop_id = $1 AND flow_id = $2 AND outcome IN ('entered', 'skipped', 'deferred') GROUP BY 1, 2, 3
		UNION ALL
		SELECT flow_step, CASE WHEN status IN ('skipped', 'failed') THEN 'skipped' WHEN status IN ('queued', 'sending') THEN 'queued' ELSE 'sent' END,
		       CASE WHEN status = 'failed' THEN 'failed' WHEN status IN ('queued', 'sending') THEN '' ELSE skip_reason END, count(*)
		FROM email_messages WHERE shop_id = $1 AND flow_id = $2 GROUP BY 1, 2, 3
		UNION ALL
		SELECT 'trigger', 'entered', '', count(*) FROM flow_runs WHERE shop_id = $1 AND flow_id = $2 HAVING count(*) > 0`, shopID, flowID); err != nil {
		return nil, fmt.Errorf("flows: step numbers of flow %d: %w", flowID, err)
	}
	for _, l := range logs {
		c := get(l.Step)
		switch l.Outcome {
		case OutcomeEntered:
			c.Entered += l.N
		case OutcomeSent:
			c.Sent += l.N
		case "queued":
			c.Queued += l.N
		case OutcomeSkipped:
			c.Skipped[l.Reason] += l.N
		case OutcomeDeferred:
			c.Deferred[l.Reason] += l.N
		}
		out[l.Step] = c
	}
	waiting, err := e.WaitingBySteps(ctx, shopID, flowID)
	if err != nil {
		return nil, err
	}
	for id, n := range waiting {
		c := get(id)
		c.Waiting = n
		out[id] = c
	}
	var mail []struct {
		Step    string `db:"flow_step"`
		Opened  int    `db:"opened"`
		Clicked int    `db:"clicked"`
		Ordered int    `db:"ordered"`
	}
	// Ordered: the recipient placed an order within the shop's click
	// attribution window after the email went out.
	if err := e.DB.SelectContext(ctx, &mail, `
		SELECT m.flow_step,
		  count(*) FILTER (WHERE EXISTS (SELECT 1 FROM email_events ev WHERE ev.message_id = m.id AND ev.kind IN ('open', 'click'))) AS opened,
		  count(*) FILTER (WHERE EXISTS (SELECT 1 FROM email_events ev WHERE ev.message_id = m.id AND ev.kind = 'click')) AS clicked,
		  count(*) FILTER (WHERE m.sent_at IS NOT NULL AND EXISTS (SELECT 1 FROM orders o WHERE o.shop_id = m.shop_id AND o.customer_id = m.customer_id
		      AND NOT o.test AND COALESCE(o.processed_at, o.shopify_created_at) BETWEEN m.sent_at AND m.sent_at + make_interval(days => s.attribution_click_days))) AS ordered
		FROM email_messages m JOIN shops s ON s.id = m.shop_id
		WHERE m.shop_id = $1 AND m.flow_id = $2 GROUP BY 1`, shopID, flowID); err != nil {
		return nil, fmt.Errorf("flows: email numbers of flow %d: %w", flowID, err)
	}
	for _, m := range mail {
		c := get(m.Step)
		c.Opened, c.Clicked, c.Ordered = m.Opened, m.Clicked, m.Ordered
		out[m.Step] = c
	}
	return out, nil
}

// RunDueNow is the dev-mode "run due steps now": the flow's waiting runs
// are moved up to advance earlier, never past now (wake-up and due time
// together), then everything due runs. It returns how many steps executed.
// Stopping at now matters: the step after a wait is due when the wait
// ended, so a wake-up moved into the past would make that step late, and
// a full day late is past the default maximum lateness (skipped as
// too_late) — a demo of a series would lose its emails.
func (e *Engine) RunDueNow(ctx context.Context, shopID, flowID int64, advance time.Duration) (int, error) {
	now := dbTime(e.now())
	if advance > 0 {
		_, err := e.DB.ExecContext(ctx, `UPDATE flow_runs SET wake_at = wake_at - m.shift, due_at = due_at - m.shift, updated_at = now()
			FROM (SELECT id, LEAST($3::interval, GREATEST(wake_at - $4, interval '0')) AS shift FROM flow_runs
			      WHERE shop_id = $1 AND flow_id = $2 AND status = 'active' AND wake_at > $4) m
			WHERE flow_runs.id = m.id AND flow_runs.shop_id = $1`, shopID, flowID, fmt.Sprintf("%d seconds", int64(advance.Seconds())), now)
		if err != nil {
			return 0, fmt.Errorf("flows: move runs of flow %d: %w", flowID, err)
		}
	}
	return e.RunDue(ctx, shopID, now)
}

// Numbers are the flows list's figures: emails sent, and orders placed by
// their recipients within the shop's click attribution window after one.
func (e *Engine) Numbers(ctx context.Context, shopID int64, flowIDs []int64) (map[int64]ListNumbers, error) {
	var rows []struct {
		Flow    int64 `db:"flow_id"`
		Sent    int   `db:"sent"`
		Ordered int   `db:"ordered"`
	}
	err := e.DB.SelectContext(ctx, &rows, `
		SELECT m.flow_id, count(*) FILTER (WHERE m.sent_at IS NOT NULL) AS sent,
		  count(*) FILTER (WHERE m.sent_at IS NOT NULL AND EXISTS (SELECT 1 FROM orders o WHERE o.shop_id = m.shop_id AND o.customer_id = m.customer_id
		      AND NOT o.test AND COALESCE(o.processed_at, o.shopify_created_at) BETWEEN m.sent_at AND m.sent_at + make_interval(days => s.attribution_click_days))) AS ordered
		FROM email_messages m JOIN shops s ON s.id = m.shop_id
		WHERE m.shop_id = $1 AND m.flow_id = ANY($2) GROUP BY 1`, shopID, pq.Array(flowIDs))
	if err != nil {
		return nil, fmt.Errorf("flows: list numbers: %w", err)
	}
	out := make(map[int64]ListNumbers, len(rows))
	for _, r := range rows {
		out[r.Flow] = ListNumbers{Sent: r.Sent, Ordered: r.Ordered}
	}
	return out, nil
}
