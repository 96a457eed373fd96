package flows

import (
	"context"
	"fmt"
	"time"

	"github.com/riverqueue/river"

	"github.com/cartwheel/cartwheel/app/customers"
)

// Date triggers (birthday, signup anniversary, N days after the last order)
// have no event: once a day per flow, after DateHour in the shop's
// timezone, the customers whose date is today start a run. flow_date_checks
// records the days done, so a retried or repeated pass starts nobody twice.

// DateHour is the local hour from which the day's date runs start.
const DateHour = 9

// datesQuery selects today's customers for one date property, with the
// parameters named once in p: the shop, today's "MM-DD", today's local
// date, the trigger's Days and the shop's timezone.
const datesParams = `WITH p AS (SELECT $1::bigint AS shop, $2::text AS md, $3::date AS today, $4::int AS days, $5::text AS tz)
	SELECT c.id FROM customers c, p WHERE c.shop_id = p.shop AND c.deleted_at IS NULL AND c.email_consent = 'subscribed' AND `

var datesQuery = map[string]string{
	// "1990-05-17" or "05-17".
	DateBirthday: datesParams + `right(c.properties->>'birthday', 5) = p.md`,
	DateSignupAnniversary: datesParams + `to_char(c.email_consent_updated_at AT TIME ZONE p.tz, 'MM-DD') = p.md
		AND (c.email_consent_updated_at AT TIME ZONE p.tz)::date < p.today`,
	DateDaysAfterLastOrder: datesParams + `(c.last_order_at AT TIME ZONE p.tz)::date = p.today - p.days`,
}

// StartDateRuns starts today's date-triggered runs of every live flow of
// the shop, once per flow and local day, and returns how many started.
func (e *Engine) StartDateRuns(ctx context.Context, shopID int64, now time.Time) (int, error) {
	now = dbTime(now)
	rules, err := e.rules(ctx, e.DB, shopID)
	if err != nil {
		return 0, err
	}
	local := now.In(rules.Loc)
	if local.Hour() < DateHour {
		return 0, nil
	}
	today := local.Format("2006-01-02")
	var flows []liveFlow
	if err := e.DB.SelectContext(ctx, &flows, `SELECT f.id, f.live_version FROM flows f WHERE f.shop_id = $1 AND f.status = 'live'
		AND f.trigger_type = $2 AND f.live_version IS NOT NULL
		AND NOT EXISTS (SELECT 1 FROM flow_date_checks d WHERE d.flow_id = f.id AND d.day = $3::date)`, shopID, TriggerDateProperty, today); err != nil {
		return 0, fmt.Errorf("flows: date flows of shop %d: %w", shopID, err)
	}
	started := 0
	for _, f := range flows {
		d, err := e.version(ctx, e.DB, shopID, f.ID, f.Version)
		if err != nil {
			return started, err
		}
		f.def = d
		q, ok := datesQuery[d.Trigger.DateProperty]
		if !ok {
			continue
		}
		var ids []int64
		if err := e.DB.SelectContext(ctx, &ids, q, shopID, local.Format("01-02"), today, d.Trigger.Days, rules.Loc.String()); err != nil {
			return started, fmt.Errorf("flows: date trigger of flow %d: %w", f.ID, err)
		}
		for _, id := range ids {
			n, err := e.startOne(ctx, shopID, id, f, entry{trigger: TriggerDateProperty, ref: today, ctx: map[string]string{}, at: now}, now)
			if err != nil {
				return started, err
			}
			started += n
		}
		if _, err := e.DB.ExecContext(ctx, `INSERT INTO flow_date_checks (shop_id, flow_id, day) VALUES ($1, $2, $3) ON CONFLICT DO NOTHING`,
			shopID, f.ID, today); err != nil {
			return started, fmt.Errorf("flows: date check of flow %d: %w", f.ID, err)
		}
	}
	return started, nil
}

// startOne starts one run in its own transaction under the profile lock.
func (e *Engine) startOne(ctx context.Context, shopID, customerID int64, f liveFlow, en entry, now time.Time) (int, error) {
	tx, err := e.DB.BeginTxx(ctx, nil)
	if err != nil {
		return 0, err
	}
	defer tx.Rollback()
	if _, err := customers.LockProfiles(ctx, tx, shopID, []int64{customerID}); err != nil {
		return 0, fmt.Errorf("flows: start for %d: %w", customerID, err)
	}
	var before int
	if err := e.get(ctx, tx, &before, `SELECT count(*) FROM flow_runs WHERE shop_id = $1 AND flow_id = $2 AND customer_id = $3`, shopID, f.ID, customerID); err != nil {
		return 0, err
	}
	if err := e.start(ctx, tx, nil, nil, shopID, customerID, f, en, now); err != nil {
		return 0, err
	}
	var after int
	if err := e.get(ctx, tx, &after, `SELECT count(*) FROM flow_runs WHERE shop_id = $1 AND flow_id = $2 AND customer_id = $3`, shopID, f.ID, customerID); err != nil {
		return 0, err
	}
	return after - before, tx.Commit()
}

// DatesArgs is the hourly job that starts date-triggered runs.
type DatesArgs struct{}

// Kind implements river.JobArgs.
func (DatesArgs) Kind() string { return "flows.dates" }

// DatesPeriodicJob is registered with the River client.
func DatesPeriodicJob() *river.PeriodicJob {
	return river.NewPeriodicJob(river.PeriodicInterval(time.Hour),
		func() (river.JobArgs, *river.InsertOpts) { return DatesArgs{}, &river.InsertOpts{Queue: Queue} },
		&river.PeriodicJobOpts{RunOnStart: true})
}

// DatesWorker runs DatesArgs for every shop with a live date flow.
type DatesWorker struct {
	river.WorkerDefaults[DatesArgs]
	E *Engine
}

// Timeout lets large shops finish.
func (w *DatesWorker) Timeout(*river.Job[DatesArgs]) time.Duration { return 30 * time.Minute }

// Work implements river.Worker.
func (w *DatesWorker) Work(ctx context.Context, _ *river.Job[DatesArgs]) error {
	var shops []int64
	if err := w.E.DB.SelectContext(ctx, &shops, `SELECT DISTINCT shop_id FROM flows WHERE status = 'live' AND trigger_type = $1`, TriggerDateProperty); err != nil {
		return fmt.Errorf("flows: date shops: %w", err)
	}
	var first error
	for _, id := range shops {
		if _, err := w.E.StartDateRuns(ctx, id, w.E.now()); err != nil && first == nil {
			first = err
		}
	}
	return first
}
