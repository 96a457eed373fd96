package flows

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/jmoiron/sqlx"
	"github.com/lib/pq"
)

// ErrNotFound is returned for a flow (or version) that doesn't exist in the shop.
var ErrNotFound = errors.New("flows: not found")

// StatusError refuses a status change the flow's current status doesn't allow.
type StatusError struct{ Action, Status string }

func (e StatusError) Error() string {
	return fmt.Sprintf("flows: a %s flow can't be %s", e.Status, e.Action)
}

// InputError is bad input a merchant can fix, with the field it concerns.
type InputError struct{ Field, Message string }

func (e InputError) Error() string { return "flows: " + e.Field + ": " + e.Message }

// MaxDefinitionBytes bounds a stored definition.
const MaxDefinitionBytes = 256 << 10

// Lifecycle lets the engine react to status changes inside the transaction
// that makes them, so a pause and the holding of its runs commit together.
type Lifecycle interface {
	Paused(ctx context.Context, tx *sqlx.Tx, shopID, flowID int64) error
	Resumed(ctx context.Context, tx *sqlx.Tx, shopID, flowID int64) error
	TurnedOff(ctx context.Context, tx *sqlx.Tx, shopID, flowID int64) error
	// Published: version is the new live version; moveWaiting asks to move
	// runs waiting on an older version to it where their step still exists.
	Published(ctx context.Context, tx *sqlx.Tx, shopID, flowID int64, version int, moveWaiting bool) error
}

// Numbers the admin shows, implemented by the engine and the ledger. Each is
// optional: nil hides what it would show.
type (
	// ListNumbers is one flow's row on the list.
	ListNumbers struct{ Sent, Ordered int }
	FlowNumbers interface {
		Numbers(ctx context.Context, shopID int64, flowIDs []int64) (map[int64]ListNumbers, error)
	}
	// Waiting counts the runs waiting at each step (step id → runs), for
	// the publish dialog.
	Waiting interface {
		WaitingBySteps(ctx context.Context, shopID, flowID int64) (map[string]int, error)
	}
	// StepCounts are one step's numbers on the canvas; Skipped and Deferred
	// are by reason.
	// StepCounts are one step's numbers; "trigger" holds the runs started
	// (Entered) and those still in the trigger's abandonment delay
	// (Waiting). Queued are emails reserved but not yet handed to the
	// provider (the sender is a job, so they follow a step by moments).
	StepCounts struct {
		Entered, Waiting, Sent, Queued, Opened, Clicked, Ordered int
		Skipped, Deferred                                        map[string]int
	}
	StepNumbers interface {
		StepNumbers(ctx context.Context, shopID, flowID int64) (map[string]StepCounts, error)
	}
	// DevClock runs due steps at once (dev mode), after moving the runs'
	// wake-ups earlier by advance; it returns how many steps ran.
	DevClock interface {
		RunDueNow(ctx context.Context, shopID, flowID int64, advance time.Duration) (int, error)
	}
)

// Store keeps flows and their published versions. Every query filters by
// the shop id the caller took from the verified session or signature.
type Store struct {
	DB *sqlx.DB
	// Lifecycle is called inside status-change transactions (nil: no-op).
	Lifecycle Lifecycle
}

// Flow is one flow row: the draft being edited and the live version.
type Flow struct {
	ID              int64
	ShopID          int64
	Name            string
	Status          string
	TriggerType     string
	PresetKey       string
	Draft           Definition
	LiveVersion     int // 0: never published
	CreatedAt       time.Time
	UpdatedAt       time.Time
	StatusChangedAt time.Time
}

type flowRow struct {
	ID              int64         `db:"id"`
	ShopID          int64         `db:"shop_id"`
	Name            string        `db:"name"`
	Status          string        `db:"status"`
	TriggerType     string        `db:"trigger_type"`
	PresetKey       string        `db:"preset_key"`
	Draft           []byte        `db:"draft"`
	LiveVersion     sql.NullInt64 `db:"live_version"`
	CreatedAt       time.Time     `db:"created_at"`
	UpdatedAt       time.Time     `db:"updated_at"`
	StatusChangedAt time.Time     `db:"status_changed_at"`
}

const flowCols = `id, shop_id, name, status, trigger_type, preset_key, draft, live_version, created_at, updated_at, status_changed_at`

func (r flowRow) flow() (Flow, error) {
	d, err := Parse(r.Draft)
	if err != nil {
		return Flow{}, fmt.Errorf("flows: flow %d: %w", r.ID, err)
	}
	return Flow{ID: r.ID, ShopID: r.ShopID, Name: r.Name, Status: r.Status, TriggerType: r.TriggerType,
		PresetKey: r.PresetKey, Draft: d, LiveVersion: int(r.LiveVersion.Int64), CreatedAt: r.CreatedAt,
		UpdatedAt: r.UpdatedAt, StatusChangedAt: r.StatusChangedAt}, nil
}

// checkName returns the trimmed name or an InputError.
func checkName(name string) (string, error) {
	name = strings.TrimSpace(name)
	switch {
	case name == "":
		return "", InputError{"name", "Enter a name for the flow."}
	case utf8.RuneCountInString(name) > 100:
		return "", InputError{"name", "Keep the name to 100 characters or fewer."}
	case strings.ContainsAny(name, "\x00\r\n"):
		return "", InputError{"name", "The name can't contain line breaks."}
	}
	return name, nil
}

// encode checks the shape a draft must have to be stored at all (drafts may
// be unfinished: Validate runs when going live) and returns its JSON.
func encode(d Definition) ([]byte, error) {
	count, depth := 0, 0
	var walk func(steps []Step, level int)
	walk = func(steps []Step, level int) {
		if level > depth {
			depth = level
		}
		for _, s := range steps {
			count++
			for _, b := range s.Branches {
				walk(b.Steps, level+1)
			}
		}
	}
	walk(d.Steps, 1)
	if count > MaxSteps {
		return nil, InputError{"steps", fmt.Sprintf("A flow can have at most %d steps.", MaxSteps)}
	}
	if depth > MaxDepth+1 {
		return nil, InputError{"steps", fmt.Sprintf("Branches can be nested at most %d levels deep.", MaxDepth)}
	}
	if d.Steps == nil {
		d.Steps = []Step{}
	}
	b, err := json.Marshal(d)
	if err != nil {
		return nil, fmt.Errorf("flows: encode definition: %w", err)
	}
	if len(b) > MaxDefinitionBytes {
		return nil, InputError{"steps", fmt.Sprintf("The flow is too large (%d KB; the limit is %d KB).", len(b)>>10, MaxDefinitionBytes>>10)}
	}
	return b, nil
}

// Create stores a new draft flow.
func (s *Store) Create(ctx context.Context, shopID int64, name string, d Definition) (Flow, error) {
	return s.create(ctx, s.DB, shopID, name, "", d)
}

func (s *Store) create(ctx context.Context, q sqlx.QueryerContext, shopID int64, name, presetKey string, d Definition) (Flow, error) {
	name, err := checkName(name)
	if err != nil {
		return Flow{}, err
	}
	doc, err := encode(d)
	if err != nil {
		return Flow{}, err
	}
	var r flowRow
	err = sqlx.GetContext(ctx, q, &r, `INSERT INTO flows (shop_id, name, trigger_type, preset_key, draft)
		VALUES ($1, $2, $3, $4, $5) RETURNING `+flowCols, shopID, name, d.Trigger.Type, presetKey, doc)
	if err != nil {
		return Flow{}, fmt.Errorf("flows: create: %w", err)
	}
	return r.flow()
}

// Get loads one flow of the shop.
func (s *Store) Get(ctx context.Context, shopID, id int64) (Flow, error) {
	var r flowRow
	err := s.DB.GetContext(ctx, &r, `SELECT `+flowCols+` FROM flows WHERE shop_id = $1 AND id = $2`, shopID, id)
	if errors.Is(err, sql.ErrNoRows) {
		return Flow{}, ErrNotFound
	}
	if err != nil {
		return Flow{}, fmt.Errorf("flows: get %d: %w", id, err)
	}
	return r.flow()
}

// Page is one page of the list; Next is the cursor of the following page (0: last page).
type Page struct {
	Flows []Flow
	Next  int64
}

// List returns the shop's flows, newest first: those with an id below after
// (0: from the start) whose name contains q.
func (s *Store) List(ctx context.Context, shopID, after int64, q string, limit int) (Page, error) {
	if limit <= 0 || limit > 200 {
		limit = 50
	}
	var rows []flowRow
	pattern := "%" + strings.NewReplacer(`\`, `\\`, `%`, `\%`, `_`, `\_`).Replace(strings.TrimSpace(q)) + "%"
	err := s.DB.SelectContext(ctx, &rows, `SELECT `+flowCols+` FROM flows
		WHERE shop_id = $1 AND ($2 = 0 OR id < $2) AND name ILIKE $3
		ORDER BY id DESC LIMIT $4`, shopID, after, pattern, limit+1)
	if err != nil {
		return Page{}, fmt.Errorf("flows: list: %w", err)
	}
	var p Page
	if len(rows) > limit {
		rows = rows[:limit]
		p.Next = rows[limit-1].ID
	}
	for _, r := range rows {
		f, err := r.flow()
		if err != nil {
			return Page{}, err
		}
		p.Flows = append(p.Flows, f)
	}
	return p, nil
}

// SaveDraft replaces the flow's name and draft. A live flow keeps running
// its published version until the draft is published.
func (s *Store) SaveDraft(ctx context.Context, shopID, id int64, name string, d Definition) (Flow, error) {
	name, err := checkName(name)
	if err != nil {
		return Flow{}, err
	}
	doc, err := encode(d)
	if err != nil {
		return Flow{}, err
	}
	var r flowRow
	err = s.DB.GetContext(ctx, &r, `UPDATE flows SET name = $3, draft = $4, updated_at = now(),
			trigger_type = CASE WHEN live_version IS NULL THEN $5 ELSE trigger_type END
		WHERE shop_id = $1 AND id = $2 RETURNING `+flowCols, shopID, id, name, doc, d.Trigger.Type)
	if errors.Is(err, sql.ErrNoRows) {
		return Flow{}, ErrNotFound
	}
	if err != nil {
		return Flow{}, fmt.Errorf("flows: save draft %d: %w", id, err)
	}
	return r.flow()
}

// LoadRefs finds which of the templates, segments and collections d refers
// to exist in the shop.
func LoadRefs(ctx context.Context, q sqlx.QueryerContext, shopID int64, d Definition) (RefSet, error) {
	var tpl, seg, coll []int64
	cond := func(c Condition) {
		if c.SegmentID != 0 {
			seg = append(seg, c.SegmentID)
		}
		if c.CollectionID != 0 {
			coll = append(coll, c.CollectionID)
		}
	}
	if d.Trigger.SegmentID != 0 {
		seg = append(seg, d.Trigger.SegmentID)
	}
	for _, c := range append(append([]Condition(nil), d.Trigger.Filters...), d.Filters...) {
		cond(c)
	}
	for _, e := range d.Exits {
		if e.Condition != nil {
			cond(*e.Condition)
		}
	}
	Walk(d.Steps, func(st *Step) {
		if st.TemplateID != 0 {
			tpl = append(tpl, st.TemplateID)
		}
		if st.Discount != nil && st.Discount.CollectionID != 0 {
			coll = append(coll, st.Discount.CollectionID)
		}
		for _, c := range st.Conditions {
			cond(c)
		}
	})
	set := func(query string, ids []int64) (map[int64]bool, error) {
		out := map[int64]bool{}
		if len(ids) == 0 {
			return out, nil
		}
		var found []int64
		if err := sqlx.SelectContext(ctx, q, &found, query, shopID, pq.Array(ids)); err != nil {
			return nil, fmt.Errorf("flows: refs: %w", err)
		}
		for _, id := range found {
			out[id] = true
		}
		return out, nil
	}
	var r RefSet
	var err error
	if r.Templates, err = set(`SELECT id FROM email_templates WHERE shop_id = $1 AND id = ANY($2)`, tpl); err != nil {
		return RefSet{}, err
	}
	if r.Segments, err = set(`SELECT id FROM segments WHERE shop_id = $1 AND id = ANY($2)`, seg); err != nil {
		return RefSet{}, err
	}
	if r.Collections, err = set(`SELECT shopify_id FROM collections WHERE shop_id = $1 AND shopify_id = ANY($2)`, coll); err != nil {
		return RefSet{}, err
	}
	return r, nil
}

// Check validates the flow's draft against the shop's data, as Publish would.
func (s *Store) Check(ctx context.Context, shopID int64, d Definition) (Problems, error) {
	refs, err := LoadRefs(ctx, s.DB, shopID, d)
	if err != nil {
		return Problems{}, err
	}
	return Validate(d, refs), nil
}

func (s *Store) inTx(ctx context.Context, fn func(tx *sqlx.Tx) error) error {
	tx, err := s.DB.BeginTxx(ctx, nil)
	if err != nil {
		return fmt.Errorf("flows: begin: %w", err)
	}
	defer tx.Rollback() //nolint:errcheck // after Commit it is a no-op
	if err := fn(tx); err != nil {
		return err
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("flows: commit: %w", err)
	}
	return nil
}

// lock reads the flow row for update, so status changes and publishes of
// one flow happen one after the other.
func lock(ctx context.Context, tx *sqlx.Tx, shopID, id int64) (flowRow, error) {
	var r flowRow
	err := tx.GetContext(ctx, &r, `SELECT `+flowCols+` FROM flows WHERE shop_id = $1 AND id = $2 FOR UPDATE`, shopID, id)
	if errors.Is(err, sql.ErrNoRows) {
		return flowRow{}, ErrNotFound
	}
	if err != nil {
		return flowRow{}, fmt.Errorf("flows: lock %d: %w", id, err)
	}
	return r, nil
}

// Publish validates the draft and, when it is ready, freezes it as the next
// version and makes that version live (a paused flow stays paused, on the
// new version). It refuses with Problems (nothing
// written) when the draft isn't ready. moveWaiting is passed on to the
// engine (Lifecycle.Published).
func (s *Store) Publish(ctx context.Context, shopID, flowID int64, moveWaiting bool) (int, error) {
	var version int
	err := s.inTx(ctx, func(tx *sqlx.Tx) error {
		r, err := lock(ctx, tx, shopID, flowID)
		if err != nil {
			return err
		}
		d, err := Parse(r.Draft)
		if err != nil {
			return err
		}
		refs, err := LoadRefs(ctx, tx, shopID, d)
		if err != nil {
			return err
		}
		if p := Validate(d, refs); !p.Empty() {
			return p
		}
		if err := tx.GetContext(ctx, &version, `INSERT INTO flow_versions (shop_id, flow_id, version, definition)
			SELECT $1, $2, COALESCE(MAX(version), 0) + 1, $3 FROM flow_versions WHERE flow_id = $2
			RETURNING version`, shopID, flowID, r.Draft); err != nil {
			return fmt.Errorf("flows: publish %d: %w", flowID, err)
		}
		// A paused flow stays paused: publishing changes doesn't resume it.
		if _, err := tx.ExecContext(ctx, `UPDATE flows SET live_version = $3, trigger_type = $4, updated_at = now(),
				status = CASE WHEN status = 'paused' THEN 'paused' ELSE 'live' END,
				status_changed_at = CASE WHEN status IN ('live', 'paused') THEN status_changed_at ELSE now() END
			WHERE shop_id = $1 AND id = $2`, shopID, flowID, version, d.Trigger.Type); err != nil {
			return fmt.Errorf("flows: publish %d: %w", flowID, err)
		}
		if s.Lifecycle != nil {
			if err := s.Lifecycle.Published(ctx, tx, shopID, flowID, version, moveWaiting); err != nil {
				return fmt.Errorf("flows: publish %d: %w", flowID, err)
			}
		}
		return nil
	})
	if err != nil {
		return 0, err
	}
	return version, nil
}

// setStatus moves the flow from one of from to to and calls hook in the
// same transaction.
func (s *Store) setStatus(ctx context.Context, shopID, flowID int64, action, to string, from []string,
	hook func(context.Context, *sqlx.Tx, int64, int64) error) error {
	return s.inTx(ctx, func(tx *sqlx.Tx) error {
		r, err := lock(ctx, tx, shopID, flowID)
		if err != nil {
			return err
		}
		if !known(r.Status, from...) {
			return StatusError{Action: action, Status: r.Status}
		}
		if _, err := tx.ExecContext(ctx, `UPDATE flows SET status = $3, status_changed_at = now(), updated_at = now()
			WHERE shop_id = $1 AND id = $2`, shopID, flowID, to); err != nil {
			return fmt.Errorf("flows: %s %d: %w", action, flowID, err)
		}
		if s.Lifecycle != nil {
			if err := hook(ctx, tx, shopID, flowID); err != nil {
				return fmt.Errorf("flows: %s %d: %w", action, flowID, err)
			}
		}
		return nil
	})
}

// Pause holds a live flow: nothing sends and wake-ups wait until Resume.
func (s *Store) Pause(ctx context.Context, shopID, flowID int64) error {
	return s.setStatus(ctx, shopID, flowID, "paused", StatusPaused, []string{StatusLive}, func(ctx context.Context, tx *sqlx.Tx, sh, f int64) error {
		return s.Lifecycle.Paused(ctx, tx, sh, f)
	})
}

// Resume makes a paused flow live again.
func (s *Store) Resume(ctx context.Context, shopID, flowID int64) error {
	return s.setStatus(ctx, shopID, flowID, "resumed", StatusLive, []string{StatusPaused}, func(ctx context.Context, tx *sqlx.Tx, sh, f int64) error {
		return s.Lifecycle.Resumed(ctx, tx, sh, f)
	})
}

// TurnOff ends a live or paused flow (the engine ends its runs). It can be
// edited and go live again.
func (s *Store) TurnOff(ctx context.Context, shopID, flowID int64) error {
	return s.setStatus(ctx, shopID, flowID, "turned off", StatusOff, []string{StatusLive, StatusPaused}, func(ctx context.Context, tx *sqlx.Tx, sh, f int64) error {
		return s.Lifecycle.TurnedOff(ctx, tx, sh, f)
	})
}

// Version loads a published version of the flow.
func (s *Store) Version(ctx context.Context, shopID, flowID int64, version int) (Definition, error) {
	var doc []byte
	err := s.DB.GetContext(ctx, &doc, `SELECT definition FROM flow_versions WHERE shop_id = $1 AND flow_id = $2 AND version = $3`,
		shopID, flowID, version)
	if errors.Is(err, sql.ErrNoRows) {
		return Definition{}, ErrNotFound
	}
	if err != nil {
		return Definition{}, fmt.Errorf("flows: version %d of %d: %w", version, flowID, err)
	}
	return Parse(doc)
}

// LiveFlow is a live flow's running version.
type LiveFlow struct {
	FlowID     int64
	Version    int
	Definition Definition
}

// LiveFlows returns the shop's live flows started by one of triggerTypes
// (all live flows when none is given), with their live definitions. q may
// be the engine's transaction.
func LiveFlows(ctx context.Context, q sqlx.QueryerContext, shopID int64, triggerTypes ...string) ([]LiveFlow, error) {
	var rows []struct {
		FlowID     int64  `db:"flow_id"`
		Version    int    `db:"version"`
		Definition []byte `db:"definition"`
	}
	err := sqlx.SelectContext(ctx, q, &rows, `SELECT f.id AS flow_id, v.version, v.definition
		FROM flows f JOIN flow_versions v ON v.flow_id = f.id AND v.version = f.live_version
		WHERE f.shop_id = $1 AND f.status = 'live' AND (cardinality($2::text[]) = 0 OR f.trigger_type = ANY($2))
		ORDER BY f.id`, shopID, pq.Array(triggerTypes))
	if err != nil {
		return nil, fmt.Errorf("flows: live flows: %w", err)
	}
	out := make([]LiveFlow, 0, len(rows))
	for _, r := range rows {
		d, err := Parse(r.Definition)
		if err != nil {
			return nil, fmt.Errorf("flows: live flow %d v%d: %w", r.FlowID, r.Version, err)
		}
		out = append(out, LiveFlow{FlowID: r.FlowID, Version: r.Version, Definition: d})
	}
	return out, nil
}

// LiveFlows is the package function on the store's database.
func (s *Store) LiveFlows(ctx context.Context, q sqlx.QueryerContext, shopID int64, triggerTypes ...string) ([]LiveFlow, error) {
	if q == nil {
		q = s.DB
	}
	return LiveFlows(ctx, q, shopID, triggerTypes...)
}
