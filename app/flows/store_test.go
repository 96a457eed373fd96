package flows_test

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"sync"
	"testing"
	"time"

	"github.com/jmoiron/sqlx"

	"github.com/cartwheel/cartwheel/app/db/dbtest"
	"github.com/cartwheel/cartwheel/app/email/render"
	"github.com/cartwheel/cartwheel/app/flows"
)

type env struct {
	t     *testing.T
	db    *sqlx.DB
	store *flows.Store
	ctx   context.Context
}

func newEnv(t *testing.T) *env {
	d := dbtest.New(t)
	e := &env{t: t, db: d, store: &flows.Store{DB: d}, ctx: context.Background()}
	e.exec(`INSERT INTO shops (id, domain) VALUES (1, 'one.myshopify.com'), (2, 'two.myshopify.com')`)
	return e
}

func (e *env) exec(q string, args ...any) {
	e.t.Helper()
	if _, err := e.db.Exec(q, args...); err != nil {
		e.t.Fatal(err)
	}
}

func (e *env) count(q string, args ...any) int {
	e.t.Helper()
	var n int
	if err := e.db.Get(&n, q, args...); err != nil {
		e.t.Fatal(err)
	}
	return n
}

// template stores a starter in the shop and returns its id.
func (e *env) template(shopID int64) int64 {
	e.t.Helper()
	id, err := render.NewStore(e.db).FromStarter(e.ctx, shopID, render.StarterAbandonedCart1, render.LocaleEN)
	if err != nil {
		e.t.Fatal(err)
	}
	return id
}

// good is a definition ready to go live in shop (its template exists).
func (e *env) good(shopID int64) flows.Definition {
	d := ok()
	d.Steps[1].TemplateID = e.template(shopID)
	return d
}

func TestStoreCreateGetListSave(t *testing.T) {
	e := newEnv(t)
	var ids []int64
	for i := 0; i < 5; i++ {
		f, err := e.store.Create(e.ctx, 1, fmt.Sprintf("Flow %d", i), ok())
		if err != nil {
			t.Fatal(err)
		}
		if f.Status != flows.StatusDraft || f.TriggerType != flows.TriggerCartAbandoned || f.LiveVersion != 0 {
			t.Fatalf("new flow: %+v", f)
		}
		ids = append(ids, f.ID)
	}
	if _, err := e.store.Create(e.ctx, 2, "Other shop's flow 1", ok()); err != nil {
		t.Fatal(err)
	}
	// Keyset pages: newest first, 2 at a time, never the other shop's.
	var seen []int64
	var after int64
	for {
		p, err := e.store.List(e.ctx, 1, after, "", 2)
		if err != nil {
			t.Fatal(err)
		}
		for _, f := range p.Flows {
			seen = append(seen, f.ID)
		}
		if p.Next == 0 {
			break
		}
		after = p.Next
	}
	if len(seen) != 5 || seen[0] != ids[4] || seen[4] != ids[0] {
		t.Fatalf("pages: %v, created %v", seen, ids)
	}
	p, err := e.store.List(e.ctx, 1, 0, "flow 3", 10)
	if err != nil || len(p.Flows) != 1 || p.Flows[0].ID != ids[3] {
		t.Fatalf("search: %+v %v", p, err)
	}
	if p, _ := e.store.List(e.ctx, 1, 0, "%", 10); len(p.Flows) != 0 {
		t.Fatalf("%% is a literal in search, got %d flows", len(p.Flows))
	}

	d := ok()
	d.Steps[0].Wait = flows.Duration(48 * time.Hour)
	f, err := e.store.SaveDraft(e.ctx, 1, ids[0], "  Renamed  ", d)
	if err != nil {
		t.Fatal(err)
	}
	got, err := e.store.Get(e.ctx, 1, ids[0])
	if err != nil || got.Name != "Renamed" || got.Draft.Steps[0].Wait.D() != 48*time.Hour || f.UpdatedAt.Before(f.CreatedAt) {
		t.Fatalf("saved draft: %+v %v", got, err)
	}
	// Shop isolation: shop 2 can neither read nor write shop 1's flow.
	if _, err := e.store.Get(e.ctx, 2, ids[0]); !errors.Is(err, flows.ErrNotFound) {
		t.Fatalf("get across shops: %v", err)
	}
	if _, err := e.store.SaveDraft(e.ctx, 2, ids[0], "Hijack", ok()); !errors.Is(err, flows.ErrNotFound) {
		t.Fatalf("save across shops: %v", err)
	}
	if _, err := e.store.Publish(e.ctx, 2, ids[0], false); !errors.Is(err, flows.ErrNotFound) {
		t.Fatalf("publish across shops: %v", err)
	}
	if err := e.store.Pause(e.ctx, 2, ids[0]); !errors.Is(err, flows.ErrNotFound) {
		t.Fatalf("pause across shops: %v", err)
	}
	if got, _ := e.store.Get(e.ctx, 1, ids[0]); got.Name != "Renamed" {
		t.Fatalf("shop 2 changed shop 1's flow: %q", got.Name)
	}
}

func TestStoreRefusesBadInput(t *testing.T) {
	e := newEnv(t)
	var ie flows.InputError
	if _, err := e.store.Create(e.ctx, 1, "  ", ok()); !errors.As(err, &ie) || ie.Field != "name" {
		t.Fatalf("empty name: %v", err)
	}
	big := ok()
	for i := 0; i < flows.MaxSteps+1; i++ {
		big.Steps = append(big.Steps, flows.Step{ID: fmt.Sprintf("w%d", i), Type: flows.StepWait})
	}
	if _, err := e.store.Create(e.ctx, 1, "Big", big); !errors.As(err, &ie) || ie.Field != "steps" {
		t.Fatalf("too many steps: %v", err)
	}
	if n := e.count(`SELECT count(*) FROM flows`); n != 0 {
		t.Fatalf("%d flows written by refused creates", n)
	}
}

// lifecycle records the hook calls and can fail them.
type lifecycle struct {
	mu    sync.Mutex
	calls []string
	fail  error
}

func (l *lifecycle) rec(s string) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.calls = append(l.calls, s)
	return l.fail
}
func (l *lifecycle) Paused(_ context.Context, _ *sqlx.Tx, shopID, flowID int64) error {
	return l.rec(fmt.Sprintf("paused %d/%d", shopID, flowID))
}
func (l *lifecycle) Resumed(_ context.Context, _ *sqlx.Tx, shopID, flowID int64) error {
	return l.rec(fmt.Sprintf("resumed %d/%d", shopID, flowID))
}
func (l *lifecycle) TurnedOff(_ context.Context, _ *sqlx.Tx, shopID, flowID int64) error {
	return l.rec(fmt.Sprintf("off %d/%d", shopID, flowID))
}
func (l *lifecycle) Published(_ context.Context, _ *sqlx.Tx, shopID, flowID int64, v int, move bool) error {
	return l.rec(fmt.Sprintf("published %d/%d v%d move=%v", shopID, flowID, v, move))
}

func TestStorePublishVersionsAndStatuses(t *testing.T) {
	e := newEnv(t)
	lc := &lifecycle{}
	e.store.Lifecycle = lc
	d := e.good(1)
	d.Steps[0].Wait = 0 // not ready
	f, err := e.store.Create(e.ctx, 1, "Cart", d)
	if err != nil {
		t.Fatal(err)
	}
	_, err = e.store.Publish(e.ctx, 1, f.ID, false)
	var p flows.Problems
	if !errors.As(err, &p) || len(p.Steps["wait-1"]) == 0 {
		t.Fatalf("publishing a zero wait: %v", err)
	}
	if n := e.count(`SELECT count(*) FROM flow_versions`); n != 0 || len(lc.calls) != 0 {
		t.Fatalf("refused publish wrote %d versions, hooks %v", n, lc.calls)
	}
	if err := e.store.Pause(e.ctx, 1, f.ID); !errors.As(err, new(flows.StatusError)) {
		t.Fatalf("pausing a draft: %v", err)
	}

	d.Steps[0].Wait = flows.Duration(time.Hour)
	if _, err := e.store.SaveDraft(e.ctx, 1, f.ID, "Cart", d); err != nil {
		t.Fatal(err)
	}
	v, err := e.store.Publish(e.ctx, 1, f.ID, false)
	if err != nil || v != 1 {
		t.Fatalf("publish: v%d %v", v, err)
	}
	live, err := e.store.LiveFlows(e.ctx, nil, 1, flows.TriggerCartAbandoned)
	if err != nil || len(live) != 1 || live[0].Version != 1 || live[0].Definition.Steps[0].Wait.D() != time.Hour {
		t.Fatalf("live flows: %+v %v", live, err)
	}
	// Editing the draft of a live flow changes nothing that runs.
	d.Steps[0].Wait = flows.Duration(3 * time.Hour)
	if _, err := e.store.SaveDraft(e.ctx, 1, f.ID, "Cart", d); err != nil {
		t.Fatal(err)
	}
	if v1, _ := e.store.Version(e.ctx, 1, f.ID, 1); v1.Steps[0].Wait.D() != time.Hour {
		t.Fatal("saving the draft changed version 1")
	}
	v, err = e.store.Publish(e.ctx, 1, f.ID, true)
	if err != nil || v != 2 {
		t.Fatalf("second publish: v%d %v", v, err)
	}
	if v2, _ := e.store.Version(e.ctx, 1, f.ID, 2); v2.Steps[0].Wait.D() != 3*time.Hour {
		t.Fatal("version 2 isn't the edited draft")
	}
	if _, err := e.store.Version(e.ctx, 2, f.ID, 2); !errors.Is(err, flows.ErrNotFound) {
		t.Fatalf("version across shops: %v", err)
	}
	if none, _ := e.store.LiveFlows(e.ctx, nil, 1, flows.TriggerCheckoutAbandoned); len(none) != 0 {
		t.Fatalf("live flows of another trigger: %+v", none)
	}
	if other, _ := e.store.LiveFlows(e.ctx, nil, 2); len(other) != 0 {
		t.Fatalf("shop 2 sees shop 1's live flows: %+v", other)
	}

	for _, step := range []struct {
		do     func(context.Context, int64, int64) error
		status string
	}{{e.store.Pause, flows.StatusPaused}, {func(ctx context.Context, sh, id int64) error {
		// Publishing changes to a paused flow keeps it paused.
		_, err := e.store.Publish(ctx, sh, id, false)
		return err
	}, flows.StatusPaused}, {e.store.Resume, flows.StatusLive}, {e.store.TurnOff, flows.StatusOff}} {
		if err := step.do(e.ctx, 1, f.ID); err != nil {
			t.Fatal(err)
		}
		if got, _ := e.store.Get(e.ctx, 1, f.ID); got.Status != step.status {
			t.Fatalf("status %s, want %s", got.Status, step.status)
		}
	}
	if live, _ := e.store.LiveFlows(e.ctx, nil, 1); len(live) != 0 {
		t.Fatalf("a flow that is off is live: %+v", live)
	}
	if err := e.store.Resume(e.ctx, 1, f.ID); !errors.As(err, new(flows.StatusError)) {
		t.Fatalf("resuming a flow that is off: %v", err)
	}
	want := []string{
		fmt.Sprintf("published 1/%d v1 move=false", f.ID), fmt.Sprintf("published 1/%d v2 move=true", f.ID),
		fmt.Sprintf("paused 1/%d", f.ID), fmt.Sprintf("published 1/%d v3 move=false", f.ID), fmt.Sprintf("resumed 1/%d", f.ID),
		fmt.Sprintf("off 1/%d", f.ID),
	}
	if fmt.Sprint(lc.calls) != fmt.Sprint(want) {
		t.Fatalf("hooks %v, want %v", lc.calls, want)
	}

	// A failing hook rolls the status change back.
	if _, err := e.store.Publish(e.ctx, 1, f.ID, false); err != nil {
		t.Fatal(err)
	}
	lc.fail = errors.New("engine down")
	if err := e.store.Pause(e.ctx, 1, f.ID); err == nil {
		t.Fatal("pause succeeded with a failing hook")
	}
	if got, _ := e.store.Get(e.ctx, 1, f.ID); got.Status != flows.StatusLive || got.LiveVersion != 4 {
		t.Fatalf("after a failed pause: %s v%d", got.Status, got.LiveVersion)
	}
	if _, err := e.store.Publish(e.ctx, 1, f.ID, false); err == nil {
		t.Fatal("publish succeeded with a failing hook")
	}
	if n := e.count(`SELECT count(*) FROM flow_versions WHERE flow_id = $1`, f.ID); n != 4 {
		t.Fatalf("a failed publish left a version: %d versions", n)
	}
}

// Many merchants' tabs publishing the same flow at once get distinct,
// gapless versions, and the flow points at the highest.
func TestStoreConcurrentPublishes(t *testing.T) {
	e := newEnv(t)
	f, err := e.store.Create(e.ctx, 1, "Cart", e.good(1))
	if err != nil {
		t.Fatal(err)
	}
	const n = 16
	versions := make([]int, n)
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := 0; i < n; i++ {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			versions[i], errs[i] = e.store.Publish(e.ctx, 1, f.ID, false)
		}(i)
	}
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	sort.Ints(versions)
	for i, v := range versions {
		if v != i+1 {
			t.Fatalf("versions %v, want 1..%d", versions, n)
		}
	}
	if got, _ := e.store.Get(e.ctx, 1, f.ID); got.LiveVersion != n || got.Status != flows.StatusLive {
		t.Fatalf("flow after concurrent publishes: v%d %s", got.LiveVersion, got.Status)
	}
}

// A template of another shop doesn't make a flow ready.
func TestStorePublishChecksRefsInTheShop(t *testing.T) {
	e := newEnv(t)
	d := e.good(2) // template in shop 2
	f, err := e.store.Create(e.ctx, 1, "Cart", d)
	if err != nil {
		t.Fatal(err)
	}
	_, err = e.store.Publish(e.ctx, 1, f.ID, false)
	var p flows.Problems
	if !errors.As(err, &p) || len(p.Steps["email-1"]) == 0 {
		t.Fatalf("publishing with another shop's template: %v", err)
	}
}

func errorsAs(err error, target any) bool { return errors.As(err, target) }
