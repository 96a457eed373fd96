package flows

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"hash/fnv"
	"log/slog"
	"sync"
	"time"

	"github.com/jmoiron/sqlx"
	"github.com/lib/pq"

	"github.com/cartwheel/cartwheel/app/customers"
	"github.com/cartwheel/cartwheel/app/jobs"
)

// Run end reasons and step outcomes (flow_runs.end_reason,
// flow_run_steps.outcome / reason).
const (
	OutcomeEntered  = "entered"
	OutcomeSent     = "sent"
	OutcomeSkipped  = "skipped"
	OutcomeDeferred = "deferred"
	OutcomeExited   = "exited"
	OutcomeBranched = "branched"
	OutcomeUpdated  = "updated"

	ReasonFrequencyCap  = "frequency_cap"
	ReasonQuietHours    = "quiet_hours"
	ReasonSmartSending  = "smart_sending"
	ReasonTooLate       = "too_late"
	ReasonFilter        = "flow_filter"
	ReasonConverted     = "converted"
	ReasonExitStep      = "exit_step"
	ReasonTurnedOff     = "turned_off"
	ReasonDeleted       = "customer_deleted"
	ReasonNoEmail       = "no_email"
	ReasonMissingStep   = "step_missing"
	ReasonNotSubscribed = "not_subscribed"
	ReasonHoldout       = "holdout" // the run is in the flow's holdout: no email
)

// Email is what a send step hands to the Mailer: references only.
type Email struct {
	ShopID     int64
	CustomerID int64
	To         string
	FlowID     int64
	Version    int
	RunID      int64
	StepID     string
	TemplateID int64
	Context    map[string]string
	// NeedsCode: Context carries a code to create in Shopify before the
	// email may be delivered (see DiscountArgs).
	NeedsCode bool
}

// Mailer reserves a flow email in the step's transaction and queues its
// delivery there too, so the email exists if and only if the step commits.
// Reserve says whether the email still needs Deliver (a code to create
// first, or a step run before, doesn't); Deliver queues one delivery for
// the emails of a whole chunk of runs.
type Mailer interface {
	Reserve(ctx context.Context, tx *sqlx.Tx, e Email) (messageID int64, deliver bool, err error)
	Deliver(ctx context.Context, tx *sqlx.Tx, shopID int64, ids []int64) error
}

// ProfileWriter makes update_profile steps' changes (customers.Store).
type ProfileWriter interface {
	AddTag(ctx context.Context, tx *sqlx.Tx, shopID, customerID int64, tag string) error
	SetProperty(ctx context.Context, tx *sqlx.Tx, shopID, customerID int64, key, value string) error
	SuppressCustomer(ctx context.Context, tx *sqlx.Tx, shopID, customerID int64, reason string) error
}

// Engine runs flows: it starts runs from signals, executes due steps and
// applies exits as their events arrive.
type Engine struct {
	DB       *sqlx.DB
	Mail     Mailer
	Profiles ProfileWriter
	Log      *slog.Logger
	Clock    func() time.Time
	jobs     jobs.Inserter
	// Workers is how many runs execute at once in RunDue (default 4).
	Workers int

	defs  sync.Map // defKey → *loadedDef (versions never change)
	stmts stmtCache
}

type defKey struct {
	flow    int64
	version int
}

type loadedDef struct {
	Definition
	tree *tree
}

// QueueWith sets the job inserter (the River client is built after every
// worker is registered).
func (e *Engine) QueueWith(j jobs.Inserter) { e.jobs = j }

func (e *Engine) now() time.Time {
	if e.Clock != nil {
		return dbTime(e.Clock())
	}
	return dbTime(time.Now())
}

// dbTime rounds t down to PostgreSQL's microseconds: a wake-up computed
// from it and stored is never later than the same clock reading.
func dbTime(t time.Time) time.Time { return t.Truncate(time.Microsecond) }

func (e *Engine) log() *slog.Logger {
	if e.Log == nil {
		return slog.Default()
	}
	return e.Log
}

// version loads a published version's definition (cached: versions are
// immutable).
func (e *Engine) version(ctx context.Context, q sqlx.QueryerContext, shopID, flowID int64, v int) (*loadedDef, error) {
	if d, ok := e.defs.Load(defKey{flowID, v}); ok {
		return d.(*loadedDef), nil
	}
	var raw []byte
	err := sqlx.GetContext(ctx, q, &raw, `SELECT definition FROM flow_versions WHERE shop_id = $1 AND flow_id = $2 AND version = $3`, shopID, flowID, v)
	if err != nil {
		return nil, fmt.Errorf("flows: version %d of flow %d: %w", v, flowID, err)
	}
	var d Definition
	if err := json.Unmarshal(raw, &d); err != nil {
		return nil, fmt.Errorf("flows: version %d of flow %d: %w", v, flowID, err)
	}
	ld := &loadedDef{Definition: d}
	ld.tree = newTree(&ld.Definition)
	e.defs.Store(defKey{flowID, v}, ld)
	return ld, nil
}

// run is one flow_runs row.
type run struct {
	ID         int64             `db:"id"`
	ShopID     int64             `db:"shop_id"`
	FlowID     int64             `db:"flow_id"`
	Version    int               `db:"version"`
	Priority   int               `db:"priority"`
	CustomerID int64             `db:"customer_id"`
	TriggerRef string            `db:"trigger_ref"`
	Status     string            `db:"status"`
	StepID     string            `db:"step_id"`
	Phase      string            `db:"phase"`
	WakeAt     sql.NullTime      `db:"wake_at"`
	DueAt      sql.NullTime      `db:"due_at"`
	ContextRaw []byte            `db:"context"`
	StartedAt  time.Time         `db:"started_at"`
	Holdout    bool              `db:"holdout"`     // held out: its send steps send nothing
	CustomerTZ string            `db:"customer_tz"` // the recipient's IANA zone, "" = unknown
	ctx        map[string]string // decoded ContextRaw
	prof       *profile          // read once per wake-up (profileOf)
	logs       []stepLog         // written by flushLogs
	deliver    []int64           // emails reserved by this wake-up, to queue (deliverAll)
}

// runColumns select from flow_runs; the recipient's timezone comes with the
// run (a primary-key lookup in the same statement, not a query per run).
const runColumns = `id, shop_id, flow_id, version, priority, customer_id, trigger_ref, status, step_id, phase, wake_at, due_at, context, started_at, holdout,
	COALESCE((SELECT cu.timezone FROM customers cu WHERE cu.id = flow_runs.customer_id), '') AS customer_tz`

func (r *run) decode() {
	r.ctx = map[string]string{}
	if len(r.ContextRaw) > 0 {
		_ = json.Unmarshal(r.ContextRaw, &r.ctx)
	}
}

// Phases of an active run.
const (
	phaseTrigger = "trigger" // the trigger's own delay is running
	phaseStep    = "step"    // execute step_id at wake_at
	phaseWait    = "wait"    // step_id is a wait (or a deferred send) being waited out
	phaseEvent   = "event"   // step_id waits for an event until wake_at
)

// RunDue executes every run of the shop that is due at now, in batches,
// Workers at a time, and returns how many steps it executed. Each run's
// step is one transaction; a run that another worker holds is left to it.
func (e *Engine) RunDue(ctx context.Context, shopID int64, now time.Time) (int, error) {
	now = dbTime(now)
	workers := e.Workers
	if workers <= 0 {
		workers = 4
	}
	rules, err := e.rules(ctx, e.DB, shopID)
	if err != nil {
		return 0, err
	}
	total := 0
	var lastID int64
	for {
		var due []dueRun
		// Keyset on id within the due set: a run deferred to later in this
		// pass isn't due any more, and one that failed isn't retried in a loop.
		err := e.DB.SelectContext(ctx, &due, `
			SELECT r.id, r.customer_id FROM flow_runs r JOIN flows f ON f.id = r.flow_id AND f.shop_id = r.shop_id
			WHERE r.shop_id = $1 AND r.status = 'active' AND r.wake_at <= $2 AND f.status = 'live' AND r.id > $3
			ORDER BY r.id LIMIT 500`, shopID, now, lastID)
		if err != nil {
			return total, fmt.Errorf("flows: due runs of shop %d: %w", shopID, err)
		}
		if len(due) == 0 {
			return total, nil
		}
		lastID = due[len(due)-1].ID
		var (
			mu    sync.Mutex
			first error
			wg    sync.WaitGroup
			next  = make(chan []dueRun)
		)
		for w := 0; w < workers; w++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for chunk := range next {
					n, err := e.executeChunk(ctx, shopID, chunk, rules, now)
					mu.Lock()
					total += n
					if err != nil && first == nil {
						first = err
					}
					mu.Unlock()
				}
			}()
		}
		for i := 0; i < len(due); i += chunkSize {
			next <- due[i:min(i+chunkSize, len(due))]
		}
		close(next)
		wg.Wait()
		if first != nil {
			return total, first
		}
		if len(due) < 500 {
			return total, nil
		}
	}
}

// dueRun is a run RunDue found due.
type dueRun struct {
	ID         int64 `db:"id"`
	CustomerID int64 `db:"customer_id"`
}

// chunkSize is how many due runs execute in one transaction: each run's
// steps are the same as alone, but the locks, the commit and its flush to
// disk are shared. A chunk that fails is retried run by run, so one bad run
// doesn't hold up the others.
const chunkSize = 20

func (e *Engine) executeChunk(ctx context.Context, shopID int64, chunk []dueRun, rules shopRules, now time.Time) (int, error) {
	n, err := e.tryChunk(ctx, shopID, chunk, rules, now)
	if err == nil || len(chunk) == 1 {
		return n, err
	}
	var first error
	total := 0
	for _, d := range chunk {
		n, err := e.executeOne(ctx, shopID, d.ID, d.CustomerID, rules, now)
		total += n
		if err != nil && first == nil {
			first = err
		}
	}
	return total, first
}

func (e *Engine) tryChunk(ctx context.Context, shopID int64, chunk []dueRun, rules shopRules, now time.Time) (int, error) {
	tx, err := e.DB.BeginTxx(ctx, nil)
	if err != nil {
		return 0, fmt.Errorf("flows: due runs: %w", err)
	}
	defer tx.Rollback()
	ids, custs := make([]int64, len(chunk)), make([]int64, len(chunk))
	for i, d := range chunk {
		ids[i], custs[i] = d.ID, d.CustomerID
	}
	// Profiles first, then runs, both in ascending order: the order every
	// other writer of a customer's runs takes them.
	if _, err := customers.LockProfiles(ctx, tx, shopID, custs); err != nil {
		return 0, fmt.Errorf("flows: due runs: %w", err)
	}
	var rows []struct {
		run
		Flow string `db:"flow_status"`
	}
	if err := e.sel(ctx, tx, &rows, `SELECT `+runColumns+`, (SELECT status FROM flows f WHERE f.id = flow_id) AS flow_status
		FROM flow_runs WHERE shop_id = $1 AND id = ANY($2) ORDER BY id FOR UPDATE`, shopID, pq.Array(ids)); err != nil {
		return 0, fmt.Errorf("flows: due runs: %w", err)
	}
	total := 0
	var deliver []int64
	for i := range rows {
		r := &rows[i]
		if r.Status != "active" || !r.WakeAt.Valid || r.WakeAt.Time.After(now) || r.Flow != StatusLive {
			continue // moved by another worker, or the flow paused meanwhile
		}
		r.decode()
		n, err := e.advance(ctx, tx, &r.run, rules, now)
		if err != nil {
			return 0, err
		}
		total += n
		deliver = append(deliver, r.deliver...)
	}
	if len(deliver) > 0 {
		if err := e.Mail.Deliver(ctx, tx, shopID, deliver); err != nil {
			return 0, err
		}
	}
	if err := tx.Commit(); err != nil {
		return 0, fmt.Errorf("flows: due runs: commit: %w", err)
	}
	return total, nil
}

// executeOne runs one due run in its own transaction: the profile's lock
// first (the order every writer of the customer's data takes), then the
// run's row, re-read: if another worker moved it meanwhile, nothing is done.
func (e *Engine) executeOne(ctx context.Context, shopID, runID, customerID int64, rules shopRules, now time.Time) (int, error) {
	tx, err := e.DB.BeginTxx(ctx, nil)
	if err != nil {
		return 0, fmt.Errorf("flows: run %d: %w", runID, err)
	}
	defer tx.Rollback()
	if _, err := customers.LockProfiles(ctx, tx, shopID, []int64{customerID}); err != nil {
		return 0, fmt.Errorf("flows: run %d: %w", runID, err)
	}
	var r struct {
		run
		Flow string `db:"flow_status"`
	}
	err = e.get(ctx, tx, &r, `SELECT `+runColumns+`, (SELECT status FROM flows f WHERE f.id = flow_id) AS flow_status
		FROM flow_runs WHERE shop_id = $1 AND id = $2 FOR UPDATE`, shopID, runID)
	if errors.Is(err, sql.ErrNoRows) {
		return 0, nil
	}
	if err != nil {
		return 0, fmt.Errorf("flows: run %d: %w", runID, err)
	}
	if r.Status != "active" || !r.WakeAt.Valid || r.WakeAt.Time.After(now) || r.Flow != StatusLive {
		return 0, nil
	}
	r.decode()
	n, err := e.advance(ctx, tx, &r.run, rules, now)
	if err != nil {
		return 0, err
	}
	if len(r.deliver) > 0 {
		if err := e.Mail.Deliver(ctx, tx, shopID, r.deliver); err != nil {
			return 0, err
		}
	}
	if err := tx.Commit(); err != nil {
		return 0, fmt.Errorf("flows: run %d: commit: %w", runID, err)
	}
	return n, nil
}

// MaxHoldoutPercent bounds a flow's holdout: at least half of the entrants
// get the emails.
const MaxHoldoutPercent = 50

// HeldOut says whether the run is in a holdout of percent: a hash of the
// run's id, so about percent of the runs are, at random across customers,
// and the same run always gets the same answer.
func HeldOut(runID int64, percent int) bool {
	if percent <= 0 {
		return false
	}
	h := fnv.New32a()
	fmt.Fprintf(h, "holdout:%d", runID)
	return int(h.Sum32()%100) < percent
}

// pick chooses a random split's branch, the same way every time for a run
// (a re-executed step takes the same path).
func pick(runID int64, stepID string, branches []Branch) int {
	h := fnv.New32a()
	fmt.Fprintf(h, "%d:%s", runID, stepID)
	v := int(h.Sum32() % 100)
	acc := 0
	for i, b := range branches {
		acc += b.Percent
		if v < acc {
			return i
		}
	}
	return len(branches) - 1
}

func isNoRows(err error) bool { return errors.Is(err, sql.ErrNoRows) }
