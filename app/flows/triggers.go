package flows

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strconv"
	"time"

	"github.com/jmoiron/sqlx"

	"github.com/cartwheel/cartwheel/app/signals"
)

// liveFlow is a live flow with its published definition.
type liveFlow struct {
	ID      int64 `db:"id"`
	Version int   `db:"live_version"`
	def     *loadedDef
}

func (e *Engine) liveFlows(ctx context.Context, tx *sqlx.Tx, shopID int64) ([]liveFlow, error) {
	var fs []liveFlow
	if err := e.sel(ctx, tx, &fs, `SELECT id, live_version FROM flows WHERE shop_id = $1 AND status = 'live' AND live_version IS NOT NULL ORDER BY id`, shopID); err != nil {
		return nil, fmt.Errorf("flows: live flows of shop %d: %w", shopID, err)
	}
	for i := range fs {
		d, err := e.version(ctx, tx, shopID, fs[i].ID, fs[i].Version)
		if err != nil {
			return nil, err
		}
		fs[i].def = d
	}
	return fs, nil
}

// entry is a run a signal asks for.
type entry struct {
	trigger string
	ref     string
	ctx     map[string]string
	at      time.Time
	// segmentID, message: for segment and email triggers.
	segmentID int64
	flowID    int64 // email triggers: the email's flow (0: a campaign's)
	campaign  int64
	source    string
	// startFlows: an import's subscribe whose merchant ticked "start
	// welcome flows" on the import screen.
	startFlows bool
}

type sigData struct {
	State         string `json:"state"`
	Source        string `json:"source"`
	Status        string `json:"status"`
	CheckoutToken string `json:"checkout_token"`
	CartToken     string `json:"cart_token"`
	StartFlows    bool   `json:"start_flows"`
}

// HandleSignals is the flows consumer of a customer's signals (see
// app/signals): it applies exits and event waits to the customer's active
// runs the moment their events arrive, then starts the runs the signals
// trigger. It runs in the consumer's transaction, under the profile lock.
func (e *Engine) HandleSignals(ctx context.Context, tx *sqlx.Tx, b *signals.Batch) error {
	if len(b.Signals) == 0 {
		return nil
	}
	now := dbTime(b.Now)
	if now.IsZero() {
		now = e.now()
	}
	active, err := e.applyToRuns(ctx, tx, b, now)
	if err != nil {
		return err
	}
	var entries []entry
	for _, s := range b.Signals {
		entries = append(entries, e.entries(ctx, tx, b.ShopID, s, now)...)
	}
	if len(entries) == 0 {
		return nil
	}
	// The shop's live flows, read once per consumer transaction.
	var flows []liveFlow
	if v, ok := b.Memo.Get("flows.live"); ok {
		flows = v.([]liveFlow)
	} else {
		if flows, err = e.liveFlows(ctx, tx, b.ShopID); err != nil {
			return err
		}
		b.Memo.Set("flows.live", flows)
	}
	for _, en := range entries {
		for _, f := range flows {
			if !matches(f.def.Trigger, en) {
				continue
			}
			if err := e.start(ctx, tx, b.Memo, active, b.ShopID, b.CustomerID, f, en, now); err != nil {
				return err
			}
		}
	}
	return nil
}

// entries maps one signal to the trigger types it can start.
func (e *Engine) entries(ctx context.Context, tx *sqlx.Tx, shopID int64, s signals.Signal, now time.Time) []entry {
	var d sigData
	if len(s.Data) > 0 {
		_ = json.Unmarshal(s.Data, &d)
	}
	at := s.At
	if at.IsZero() {
		at = now
	}
	one := func(trigger, ref string, c map[string]string) []entry {
		if c == nil {
			c = map[string]string{}
		}
		return []entry{{trigger: trigger, ref: ref, ctx: c, at: at}}
	}
	switch s.Kind {
	case signals.ConsentChanged:
		if d.State == "subscribed" {
			out := one(TriggerSubscribed, "", map[string]string{"source": d.Source})
			out[0].source, out[0].startFlows = d.Source, d.StartFlows
			return out
		}
	case signals.CustomerCreated:
		return one(TriggerCustomerCreated, "", map[string]string{"source": d.Source})
	case signals.CheckoutStarted:
		return one(TriggerCheckoutAbandoned, s.Ref, map[string]string{"checkout_token": s.Ref})
	case signals.CartUpdated:
		return one(TriggerCartAbandoned, "cart", map[string]string{"cart_token": s.Ref})
	case signals.StorefrontEvent:
		switch s.Ref {
		case "product_added_to_cart":
			return one(TriggerCartAbandoned, "cart", nil)
		case "product_viewed":
			return one(TriggerBrowseAbandoned, "", nil)
		case "search_submitted":
			return one(TriggerSearchAbandoned, "", nil)
		}
	case signals.OrderPlaced:
		out := one(TriggerOrderPlaced, s.Ref, map[string]string{"order_id": s.Ref})
		out = append(out, entry{trigger: TriggerFirstOrder, ref: s.Ref, ctx: map[string]string{"order_id": s.Ref}, at: at})
		return out
	case signals.OrderFulfilled:
		return one(TriggerOrderFulfilled, s.Ref, map[string]string{"order_id": s.Ref})
	case signals.SegmentEntered, signals.SegmentExited:
		id, _ := strconv.ParseInt(s.Ref, 10, 64)
		t := TriggerSegmentEntered
		if s.Kind == signals.SegmentExited {
			t = TriggerSegmentExited
		}
		out := one(t, s.Ref, nil)
		out[0].segmentID = id
		return out
	case signals.EmailEvent:
		t := ""
		switch d.Status {
		case "opened":
			t = TriggerEmailOpened
		case "clicked":
			t = TriggerEmailClicked
		default:
			return nil
		}
		var src struct {
			Flow     *int64 `db:"flow_id"`
			Campaign *int64 `db:"campaign_id"`
		}
		if err := e.get(ctx, tx, &src, `SELECT flow_id, campaign_id FROM email_messages WHERE shop_id = $1 AND id = $2`, shopID, s.Ref); err != nil {
			return nil
		}
		out := one(t, s.Ref, nil)
		if src.Flow != nil {
			out[0].flowID = *src.Flow
		}
		if src.Campaign != nil {
			out[0].campaign = *src.Campaign
		}
		return out
	}
	return nil
}

// TakesImports: a subscribed trigger that starts for the people an import
// subscribes, when the merchant asks for it on the import screen (its
// Sources are any, or list imports).
func (t Trigger) TakesImports() bool {
	return t.Type == TriggerSubscribed && (len(t.Sources) == 0 || slices.Contains(t.Sources, SourceImport))
}

// matches: the flow's trigger takes this entry.
func matches(t Trigger, en entry) bool {
	if t.Type != en.trigger {
		return false
	}
	switch t.Type {
	case TriggerSubscribed:
		// An import starts flows only when the merchant asked for it on
		// the import screen (importing 50,000 long-standing subscribers
		// must not start 50,000 welcome series), whatever the flow says.
		if en.source == SourceImport && !en.startFlows {
			return false
		}
		if en.source == SourceImport {
			return t.TakesImports()
		}
		if len(t.Sources) == 0 {
			return true
		}
		return slices.Contains(t.Sources, en.source)
	case TriggerSegmentEntered, TriggerSegmentExited:
		return t.SegmentID == en.segmentID
	case TriggerEmailOpened, TriggerEmailClicked:
		if t.EmailFlowID != 0 && t.EmailFlowID != en.flowID {
			return false
		}
		if t.EmailCampaignID != 0 && t.EmailCampaignID != en.campaign {
			return false
		}
		return true
	}
	return true
}

// start begins a run of flow f for the customer, unless re-entry, the
// trigger's own condition or the filters say no, or a run for the same
// trigger object is already active (then an abandonment's delay restarts
// from this activity).
//
// active is the customer's active runs when the caller has them locked
// (HandleSignals), else nil: start reads and locks the one it needs.
func (e *Engine) start(ctx context.Context, tx *sqlx.Tx, memo *signals.Memo, active activeRuns, shopID, customerID int64, f liveFlow, en entry, now time.Time) error {
	def := f.def
	if en.trigger == TriggerFirstOrder {
		var n int
		if err := e.get(ctx, tx, &n, `SELECT orders_count FROM customers WHERE shop_id = $1 AND id = $2`, shopID, customerID); err != nil {
			return fmt.Errorf("flows: first order of %d: %w", customerID, err)
		}
		if n > 1 {
			return nil
		}
	}
	delay := time.Duration(0)
	if isAbandonment(def.Trigger.Type) {
		delay = def.Trigger.Delay.D()
		if delay <= 0 {
			delay = time.Hour
		}
	}
	// An active run for this trigger object: the shopper is still active,
	// so an abandonment's "for N" counts from now.
	key := activeKey{f.ID, en.ref}
	cur, found := active[key]
	if active == nil {
		err := e.get(ctx, tx, &cur, `SELECT id, phase FROM flow_runs WHERE shop_id = $1 AND flow_id = $2 AND customer_id = $3
			AND trigger_ref = $4 AND status = 'active' FOR UPDATE`, shopID, f.ID, customerID, en.ref)
		if err != nil && !isNoRows(err) {
			return fmt.Errorf("flows: active run of flow %d: %w", f.ID, err)
		}
		found = err == nil
	}
	if found {
		if cur.Phase == phaseTrigger && def.Trigger.Type != TriggerCheckoutAbandoned {
			wake := en.at.Add(delay)
			if _, err := e.exec(ctx, tx, `UPDATE flow_runs SET wake_at = GREATEST(wake_at, $3),
				context = context || jsonb_build_object('activity_at', $4::text), updated_at = now() WHERE shop_id = $1 AND id = $2`,
				shopID, cur.ID, wake, en.at.UTC().Format(time.RFC3339Nano)); err != nil {
				return fmt.Errorf("flows: extend run %d: %w", cur.ID, err)
			}
			return e.scheduleWakeOnce(ctx, tx, memo, shopID, wake)
		}
		return nil
	}
	switch def.ReEntry.Mode {
	case ReEntryNever, "":
		if ok, err := e.exists(ctx, tx, "earlier run", `SELECT 1 FROM flow_runs WHERE shop_id = $1 AND flow_id = $2 AND customer_id = $3`,
			shopID, f.ID, customerID); err != nil || ok {
			return err
		}
	case ReEntryAfter:
		if ok, err := e.exists(ctx, tx, "recent run", `SELECT 1 FROM flow_runs WHERE shop_id = $1 AND flow_id = $2 AND customer_id = $3 AND started_at > $4`,
			shopID, f.ID, customerID, now.AddDate(0, 0, -def.ReEntry.Days)); err != nil || ok {
			return err
		}
	}
	if why, err := e.reachable(ctx, tx, shopID, customerID); err != nil || why != "" {
		return err // nobody to write to: no run
	}
	r := &run{ShopID: shopID, FlowID: f.ID, Version: f.Version, Priority: def.Priority, CustomerID: customerID,
		TriggerRef: en.ref, StartedAt: en.at, ctx: en.ctx}
	if r.ctx == nil {
		r.ctx = map[string]string{}
	}
	if isAbandonment(def.Trigger.Type) {
		if ok, err := e.converted(ctx, tx, r, def.Trigger.Type); err != nil || ok {
			return err
		}
	}
	for _, c := range append(append([]Condition{}, def.Trigger.Filters...), def.Filters...) {
		ok, err := e.holds(ctx, tx, r, c, now)
		if err != nil || !ok {
			return err
		}
	}
	first := def.tree.first()
	phase, step, wake := phaseStep, first, now
	if delay > 0 {
		phase, step, wake = phaseTrigger, "", en.at.Add(delay)
		r.ctx["activity_at"] = en.at.UTC().Format(time.RFC3339Nano)
	}
	if first == "" {
		return nil
	}
	ctxJSON, _ := json.Marshal(r.ctx)
	// With a holdout the run's id is drawn first: whether it is held out
	// is a hash of it, stored on the run from the start.
	var id any
	if def.HoldoutPercent > 0 {
		var n int64
		if err := e.get(ctx, tx, &n, `SELECT nextval(pg_get_serial_sequence('flow_runs', 'id'))`); err != nil {
			return fmt.Errorf("flows: start flow %d for %d: run id: %w", f.ID, customerID, err)
		}
		id, r.Holdout = n, HeldOut(n, def.HoldoutPercent)
	}
	err := e.get(ctx, tx, &r.ID, `
		INSERT INTO flow_runs (id, shop_id, flow_id, version, priority, customer_id, trigger_ref, step_id, phase, wake_at, due_at, context, started_at, holdout)
		VALUES (COALESCE($12::bigint, nextval(pg_get_serial_sequence('flow_runs', 'id'))), $1, $2, $3, $4, $5, $6, $7, $8, $9, $9, $10, $11, $13)
		ON CONFLICT (shop_id, flow_id, customer_id, trigger_ref) WHERE status = 'active' DO NOTHING
		RETURNING id`, shopID, f.ID, f.Version, def.Priority, customerID, en.ref, step, phase, wake, ctxJSON, en.at, id, r.Holdout)
	if err != nil {
		if isNoRows(err) {
			return nil
		}
		return fmt.Errorf("flows: start flow %d for %d: %w", f.ID, customerID, err)
	}
	if active != nil {
		active[key] = activeRun{ID: r.ID, Phase: phase}
	}
	if phase == phaseStep {
		if err := e.logStep(ctx, tx, r, step, OutcomeEntered, "", 0, now); err != nil {
			return err
		}
		if err := e.flushLogs(ctx, tx, r); err != nil {
			return err
		}
	}
	return e.scheduleWakeOnce(ctx, tx, memo, shopID, wake)
}

// activeRuns are a customer's active runs by flow and trigger object.
type activeRuns map[activeKey]activeRun

type activeKey struct {
	flow int64
	ref  string
}

type activeRun struct {
	ID    int64  `db:"id"`
	Phase string `db:"phase"`
}

// applyToRuns applies the batch to the customer's active runs: exits that
// now hold end them at once, and a wait for an event that came wakes now.
// It returns the runs still active, locked.
func (e *Engine) applyToRuns(ctx context.Context, tx *sqlx.Tx, b *signals.Batch, now time.Time) (activeRuns, error) {
	var runs []run
	if err := e.sel(ctx, tx, &runs, `SELECT `+runColumns+` FROM flow_runs WHERE shop_id = $1 AND customer_id = $2 AND status = 'active' ORDER BY id FOR UPDATE`,
		b.ShopID, b.CustomerID); err != nil {
		return nil, fmt.Errorf("flows: runs of %d: %w", b.CustomerID, err)
	}
	active := activeRuns{}
	if len(runs) == 0 {
		return active, nil
	}
	exitish, eventish := false, false
	for _, s := range b.Signals {
		switch s.Kind {
		case signals.OrderPlaced, signals.ConsentChanged, signals.Suppressed, signals.SegmentExited,
			signals.CheckoutStarted, signals.CheckoutCompleted, signals.ProfileChanged:
			exitish, eventish = true, true
		case signals.StorefrontEvent, signals.CartUpdated:
			exitish, eventish = true, true
		case signals.EmailEvent:
			eventish = true
		}
	}
	for i := range runs {
		r := &runs[i]
		r.decode()
		def, err := e.version(ctx, tx, r.ShopID, r.FlowID, r.Version)
		if err != nil {
			return nil, err
		}
		if exitish {
			reason, err := e.exitReason(ctx, tx, r, def, now)
			if err != nil {
				return nil, err
			}
			if reason != "" {
				if err := e.end(ctx, tx, r, "exited", reason, now); err != nil {
					return nil, err
				}
				continue
			}
		}
		active[activeKey{r.FlowID, r.TriggerRef}] = activeRun{ID: r.ID, Phase: r.Phase}
		if eventish && r.Phase == phaseEvent {
			s := def.tree.step[r.StepID]
			if s == nil {
				continue
			}
			hit, err := e.eventHappened(ctx, tx, r, s, now)
			if err != nil {
				return nil, err
			}
			if hit {
				r.ctx["hit:"+s.ID] = "1"
				r.WakeAt.Time, r.WakeAt.Valid = now, true
				if err := e.save(ctx, tx, r); err != nil {
					return nil, err
				}
			}
		}
	}
	return active, nil
}
