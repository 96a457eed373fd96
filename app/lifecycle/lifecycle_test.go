package lifecycle_test

import (
	"context"
	"math/rand/v2"
	"slices"
	"testing"
	"time"

	"github.com/cartwheel/cartwheel/app/lifecycle"
)

func ev(kind string, at time.Time) mEmailEvent { return mEmailEvent{kind: kind, at: at} }

// workedStore is a small New York store whose funnel for the 30 days
// ending 2026-06-30 and whose composition were computed by hand (see the
// comments on each customer).
type workedStore struct {
	*shop
	byName map[string]*mCustomer
}

func newWorkedStore(t *testing.T) workedStore {
	s := newShop(t, nil, "worked.myshopify.com", "America/New_York")
	d := func(y int, m time.Month, day, h int) time.Time { return time.Date(y, m, day, h, 0, 0, 0, s.loc) }
	old := d(2025, 1, 1, 9)
	w := workedStore{shop: s, byName: map[string]*mCustomer{}}
	add := func(name string, c *mCustomer) *mCustomer { w.byName[name] = c; return c }
	// A: viewed a product in March (within 180 days), nothing else: prospect.
	a := add("A", s.customer(old, "not_subscribed", nil, false))
	s.event(a, "product_viewed", d(2026, 3, 1, 12))
	// B: no storefront activity but subscribed in the window; a campaign
	// delivered on 06-10, never opened: reached.
	sub := d(2026, 6, 10, 8)
	b := add("B", s.customer(old, "subscribed", &sub, false))
	s.message(b, "campaign", d(2026, 6, 10, 10), ev("delivered", d(2026, 6, 10, 11)))
	// C: signed up in February (active); flow delivered 06-05 with a machine
	// open (no engagement), human open 06-20, first order 06-25, second
	// 07-01 (within 30 days of 06-05): repurchased.
	c := add("C", s.customer(d(2026, 2, 1, 9), "subscribed", nil, false))
	s.message(c, "flow", d(2026, 6, 5, 9), ev("delivered", d(2026, 6, 5, 9)), mEmailEvent{kind: "open", machine: true, at: d(2026, 6, 5, 10)},
		ev("open", d(2026, 6, 20, 10)))
	s.order(c, d(2026, 6, 25, 10), false, false)
	s.order(c, d(2026, 7, 1, 10), false, false)
	// D: active, delivered 06-02, clicked 06-03, ordered only 08-01: engaged.
	dd := add("D", s.customer(old, "subscribed", nil, false))
	s.event(dd, "page_viewed", d(2026, 6, 1, 12))
	s.message(dd, "campaign", d(2026, 6, 2, 9), ev("delivered", d(2026, 6, 2, 9)), ev("click", d(2026, 6, 3, 9)))
	s.order(dd, d(2026, 8, 1, 10), false, false)
	// E: ordered before the window (05-20): not a prospect.
	e := add("E", s.customer(old, "subscribed", nil, false))
	s.event(e, "page_viewed", d(2026, 6, 1, 12))
	s.order(e, d(2026, 5, 20, 10), false, false)
	s.message(e, "campaign", d(2026, 6, 2, 9), ev("delivered", d(2026, 6, 2, 9)))
	// F: first order 06-03, before being reached on 06-10 (opened 06-11),
	// again 06-12: engaged, not ordered (the first order wasn't after the
	// reach).
	f := add("F", s.customer(old, "subscribed", nil, false))
	s.event(f, "product_added_to_cart", d(2026, 5, 1, 12))
	s.order(f, d(2026, 6, 3, 10), false, false)
	s.message(f, "campaign", d(2026, 6, 10, 9), ev("delivered", d(2026, 6, 10, 9)), ev("open", d(2026, 6, 11, 9)))
	s.order(f, d(2026, 6, 12, 10), false, false)
	// G: last active in 2025-06 (more than 180 days before the window
	// ends): not a prospect.
	g := add("G", s.customer(d(2024, 1, 1, 9), "subscribed", nil, false))
	s.event(g, "page_viewed", d(2025, 6, 1, 12))
	// H: deleted.
	h := add("H", s.customer(old, "subscribed", nil, true))
	s.event(h, "page_viewed", d(2026, 6, 1, 12))
	// I: a message delivered 05-01 and opened in the window: its delivery
	// was before the window, so not reached; active on 06-15: prospect.
	i := add("I", s.customer(old, "subscribed", nil, false))
	s.event(i, "page_viewed", d(2026, 6, 15, 12))
	s.message(i, "campaign", d(2026, 5, 1, 9), ev("delivered", d(2026, 5, 1, 9)), ev("open", d(2026, 6, 2, 9)))
	// J: only a test send delivered: prospect.
	j := add("J", s.customer(old, "subscribed", nil, false))
	s.event(j, "page_viewed", d(2026, 6, 15, 12))
	s.message(j, "test", d(2026, 6, 15, 9), ev("delivered", d(2026, 6, 15, 9)), ev("open", d(2026, 6, 15, 10)))
	// K: a cancelled and a test order before the window don't count;
	// reached 06-15, clicked 06-16, ordered 06-20; a cancelled order 06-21
	// is no repurchase: ordered.
	k := add("K", s.customer(old, "subscribed", nil, false))
	s.event(k, "page_viewed", d(2026, 6, 15, 8))
	s.order(k, d(2026, 5, 1, 10), true, false)
	s.order(k, d(2026, 5, 2, 10), false, true)
	s.message(k, "flow", d(2026, 6, 15, 9), ev("delivered", d(2026, 6, 15, 9)), ev("click", d(2026, 6, 16, 9)))
	s.order(k, d(2026, 6, 20, 10), false, false)
	s.order(k, d(2026, 6, 21, 10), true, false)
	// L: no delivered event, a human open on 06-29 proves delivery: reached
	// and engaged.
	l := add("L", s.customer(old, "subscribed", nil, false))
	s.event(l, "page_viewed", d(2026, 6, 15, 8))
	s.message(l, "campaign", d(2026, 6, 28, 20), ev("open", d(2026, 6, 29, 9)))
	// M: delivered 07-01 00:30 New York time, after the window: prospect.
	m := add("M", s.customer(old, "subscribed", nil, false))
	s.event(m, "page_viewed", d(2026, 6, 15, 8))
	s.message(m, "campaign", d(2026, 6, 30, 23), ev("delivered", time.Date(2026, 7, 1, 0, 30, 0, 0, s.loc)))
	// N: lapsed buyer (last order 2025-12-01).
	n := add("N", s.customer(old, "subscribed", nil, false))
	s.order(n, d(2025, 6, 1, 10), false, false)
	s.order(n, d(2025, 12, 1, 10), false, false)
	// O: created after the window (and after the composition's "now").
	o := add("O", s.customer(d(2026, 10, 1, 9), "subscribed", nil, false))
	s.event(o, "page_viewed", d(2026, 10, 1, 10))
	s.figures()
	return w
}

func (w workedStore) ids(names ...string) []int64 {
	var out []int64
	for _, n := range names {
		out = append(out, w.byName[n].id)
	}
	slices.Sort(out)
	return out
}

func TestLifecycleWorkedExample(t *testing.T) {
	w := newWorkedStore(t)
	ctx := context.Background()
	st := w.store()
	// Any instant of 2026-06-30 in New York picks the same window (this one
	// is already 07-01 in UTC).
	f, err := st.Lifecycle(ctx, w.id, time.Date(2026, 7, 1, 2, 0, 0, 0, time.UTC))
	if err != nil {
		t.Fatal(err)
	}
	if got := f.Window.First.Format(time.DateOnly) + ".." + f.Window.Last.Format(time.DateOnly); got != "2026-06-01..2026-06-30" {
		t.Fatalf("window %s", got)
	}
	want := map[lifecycle.Level][]string{
		lifecycle.Prospects:   {"A", "B", "C", "D", "F", "I", "J", "K", "L", "M"},
		lifecycle.Reached:     {"B", "C", "D", "F", "K", "L"},
		lifecycle.Engaged:     {"C", "D", "F", "K", "L"},
		lifecycle.Ordered:     {"C", "K"},
		lifecycle.Repurchased: {"C"},
	}
	conv := []float64{1, 0.6, 5.0 / 6, 0.4, 0.5}
	for i, s := range f.Steps {
		if s.Count != int64(len(want[s.Level])) {
			t.Errorf("%s: count %d, want %d", s.Level.Key(), s.Count, len(want[s.Level]))
		}
		if d := s.Conversion - conv[i]; d > 1e-9 || d < -1e-9 {
			t.Errorf("%s: conversion %v, want %v", s.Level.Key(), s.Conversion, conv[i])
		}
		got, err := st.Members(ctx, w.id, s.Level, f.Window)
		if err != nil {
			t.Fatal(err)
		}
		if !slices.Equal(got, w.ids(want[s.Level]...)) {
			t.Errorf("%s: members %v, want %v", s.Level.Key(), got, w.ids(want[s.Level]...))
		}
	}
	// The model agrees with the hand computation.
	for _, l := range lifecycle.Levels {
		if got := modelMembers(w.modelLevels(f.Window), l); !slices.Equal(got, w.ids(want[l]...)) {
			t.Errorf("model %s: %v", l.Key(), got)
		}
	}
}

func TestCompositionWorkedExample(t *testing.T) {
	w := newWorkedStore(t)
	ctx := context.Background()
	st := w.store()
	now := time.Date(2026, 9, 1, 12, 0, 0, 0, w.loc)
	c, err := st.Composition(ctx, w.id, now)
	if err != nil {
		t.Fatal(err)
	}
	// Prospects A B G I J L M; first-time D E K; repeat C F; lapsed N.
	if want := (lifecycle.Counts{7, 3, 2, 1}); c.Current != want {
		t.Fatalf("current %v, want %v", c.Current, want)
	}
	if len(c.History) != 0 {
		t.Fatalf("history before any snapshot: %v", c.History)
	}
	n, err := st.Snapshot(ctx, w.id, now)
	if err != nil {
		t.Fatal(err)
	}
	if n != lifecycle.HistoryWeeks+1 {
		t.Fatalf("backfill wrote %d points", n)
	}
	if n, err := st.Snapshot(ctx, w.id, now.Add(time.Hour)); err != nil || n != 0 {
		t.Fatalf("second run wrote %d points (%v)", n, err)
	}
	c, err = st.Composition(ctx, w.id, now)
	if err != nil {
		t.Fatal(err)
	}
	if len(c.History) != lifecycle.HistoryWeeks+1 {
		t.Fatalf("history has %d points", len(c.History))
	}
	last := c.History[len(c.History)-1]
	if last.Day.Format(time.DateOnly) != "2026-09-01" || last.Counts != (lifecycle.Counts{7, 3, 2, 1}) {
		t.Fatalf("today's point %s %v", last.Day.Format(time.DateOnly), last.Counts)
	}
	// 2026-06-30 00:00: C has one order (06-25), D none yet; F two; N's
	// last order (2025-12-01) is before 2026-01-01.
	p := c.History[len(c.History)-1-9]
	if p.Day.Format(time.DateOnly) != "2026-06-30" || p.Counts != (lifecycle.Counts{8, 3, 1, 1}) {
		t.Fatalf("point %s %v", p.Day.Format(time.DateOnly), p.Counts)
	}
	if s := c.Current.Share(lifecycle.GroupProspects); s < 7.0/13-1e-9 || s > 7.0/13+1e-9 {
		t.Fatalf("share %v", s)
	}
}

// randomShop fills a shop with random customers, activity, emails and
// orders around 2026-06 (New York), including every edge the definitions
// name: windows' borders, machine events, test sends, cancelled and test
// orders, deleted profiles, consent in and out of windows.
func randomShop(t *testing.T, s *shop, r *rand.Rand, n int) {
	base := time.Date(2026, 1, 1, 0, 0, 0, 0, s.loc)
	at := func() time.Time {
		// Mostly 2025-12..2026-04 (where the windows are), sometimes far
		// out, sometimes on a midnight.
		t := base.AddDate(0, 0, r.IntN(120)-30)
		if r.IntN(10) == 0 {
			t = base.AddDate(0, 0, r.IntN(450)-220)
		}
		if r.IntN(4) == 0 {
			return t
		}
		return t.Add(time.Duration(r.IntN(86400)) * time.Second)
	}
	for range n {
		var consentAt *time.Time
		consent := []string{"subscribed", "not_subscribed", "unsubscribed"}[r.IntN(3)]
		if r.IntN(2) == 0 {
			x := at()
			consentAt = &x
		}
		c := s.customer(at().AddDate(0, 0, -r.IntN(200)), consent, consentAt, r.IntN(15) == 0)
		for range r.IntN(4) {
			s.event(c, []string{"page_viewed", "product_viewed", "product_added_to_cart"}[r.IntN(3)], at())
		}
		for range r.IntN(3) {
			o := at()
			s.order(c, o, r.IntN(8) == 0, r.IntN(12) == 0)
			if r.IntN(3) == 0 { // a quick second order
				s.order(c, o.Add(time.Duration(r.IntN(40*24))*time.Hour), false, false)
			}
		}
		for range r.IntN(5) {
			sent := at()
			var evs []mEmailEvent
			for range r.IntN(4) {
				kind := []string{"delivered", "open", "click", "bounce"}[r.IntN(4)]
				after := time.Duration(r.IntN(72)) * time.Hour // mostly soon after sending
				if r.IntN(4) == 0 {
					after = time.Duration(r.IntN(80*24)-24) * time.Hour
				}
				evs = append(evs, mEmailEvent{kind: kind, machine: r.IntN(5) == 0, at: sent.Add(after)})
			}
			s.message(c, []string{"campaign", "flow", "flow", "test"}[r.IntN(4)], sent, evs...)
		}
	}
	s.figures()
}

// TestLifecycleMatchesModel compares the funnel (counts and members of
// every level) with the model on random stores and windows, and checks
// that each level is a subset of the one before.
func TestLifecycleMatchesModel(t *testing.T) {
	r := rand.New(rand.NewPCG(13, 1))
	s := newShop(t, nil, "rand.myshopify.com", "America/New_York")
	randomShop(t, s, r, 150)
	// Another shop's rows must never count.
	other := newShop(t, s.db, "other.myshopify.com", "UTC")
	randomShop(t, other, r, 40)
	ctx := context.Background()
	st := s.store()
	for range 8 {
		end := time.Date(2026, 1, 1, 0, 0, 0, 0, s.loc).AddDate(0, 0, r.IntN(90)).Add(time.Duration(r.IntN(86400)) * time.Second)
		f, err := st.Lifecycle(ctx, s.id, end)
		if err != nil {
			t.Fatal(err)
		}
		levels := s.modelLevels(f.Window)
		var prev []int64
		for i, step := range f.Steps {
			want := modelMembers(levels, step.Level)
			got, err := st.Members(ctx, s.id, step.Level, f.Window)
			if err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(got, want) || step.Count != int64(len(want)) {
				t.Fatalf("window ending %s, %s: count %d members %v, model %v", end, step.Level.Key(), step.Count, got, want)
			}
			for _, id := range got {
				if i > 0 && !slices.Contains(prev, id) {
					t.Fatalf("%s: %d is not in the level before", step.Level.Key(), id)
				}
			}
			prev = got
		}
		t.Logf("window ending %s: %v", f.Window.Last.Format(time.DateOnly), f.Steps)
	}
}

// TestCompositionMatchesModel compares the live composition and every
// snapshot point with the model on a random store.
func TestCompositionMatchesModel(t *testing.T) {
	r := rand.New(rand.NewPCG(13, 4))
	s := newShop(t, nil, "comp.myshopify.com", "America/New_York")
	randomShop(t, s, r, 150)
	other := newShop(t, s.db, "other.myshopify.com", "UTC")
	randomShop(t, other, r, 40)
	ctx := context.Background()
	st := s.store()
	// After every order of the store, so the profiles' figures (which
	// know no future) and the model agree.
	now := time.Date(2026, 12, 20, 15, 0, 0, 0, s.loc)
	if _, err := st.Snapshot(ctx, s.id, now); err != nil {
		t.Fatal(err)
	}
	c, err := st.Composition(ctx, s.id, now)
	if err != nil {
		t.Fatal(err)
	}
	live, err := st.CurrentAt(ctx, s.id, now, s.loc)
	if err != nil {
		t.Fatal(err)
	}
	if want := s.modelComposition(now); live != want {
		t.Fatalf("live %v, model %v", live, want)
	}
	// Once kept, today's point is the current figure.
	if last := c.History[len(c.History)-1]; c.Current != last.Counts || !c.At.Equal(last.Day) {
		t.Fatalf("current %v at %s, today's point %v", c.Current, c.At, last)
	}
	if len(c.History) != lifecycle.HistoryWeeks+1 {
		t.Fatalf("%d points", len(c.History))
	}
	for _, p := range c.History {
		if want := s.modelComposition(p.Day); p.Counts != want {
			t.Fatalf("%s: %v, model %v", p.Day.Format(time.DateOnly), p.Counts, want)
		}
	}
	t.Logf("current %v", live)
}

// A counted funnel is kept: a window still open is shown as counted for
// MaxAge, then counted again; a final one (its follow-up over) never
// changes.
func TestFunnelKept(t *testing.T) {
	w := newWorkedStore(t)
	ctx := context.Background()
	clock := time.Date(2026, 6, 30, 12, 0, 0, 0, w.loc)
	st := &lifecycle.Store{DB: w.db, Now: func() time.Time { return clock }}
	open, err := st.Lifecycle(ctx, w.id, clock)
	if err != nil {
		t.Fatal(err)
	}
	final, err := st.Lifecycle(ctx, w.id, time.Date(2026, 3, 31, 12, 0, 0, 0, w.loc))
	if err != nil {
		t.Fatal(err)
	}
	// A new prospect, active in March and in June.
	c := w.customer(time.Date(2025, 1, 1, 0, 0, 0, 0, w.loc), "not_subscribed", nil, false)
	w.event(c, "page_viewed", time.Date(2026, 3, 10, 12, 0, 0, 0, w.loc))
	w.event(c, "page_viewed", time.Date(2026, 6, 10, 12, 0, 0, 0, w.loc))
	w.figures()
	prospects := func(end time.Time) int64 {
		f, err := st.Lifecycle(ctx, w.id, end)
		if err != nil {
			t.Fatal(err)
		}
		return f.Steps[0].Count
	}
	clock = clock.Add(10 * time.Minute)
	if got := prospects(clock); got != open.Steps[0].Count {
		t.Fatalf("kept open window: %d, want %d", got, open.Steps[0].Count)
	}
	clock = clock.Add(lifecycle.MaxAge)
	if got := prospects(clock); got != open.Steps[0].Count+1 {
		t.Fatalf("open window after MaxAge: %d, want %d", got, open.Steps[0].Count+1)
	}
	if got := prospects(time.Date(2026, 3, 31, 12, 0, 0, 0, w.loc)); got != final.Steps[0].Count {
		t.Fatalf("final window: %d, want %d", got, final.Steps[0].Count)
	}
	// Counting it again (Count) sees the new prospect.
	f, err := st.Count(ctx, w.id, final.Window)
	if err != nil || f.Steps[0].Count != final.Steps[0].Count+1 {
		t.Fatalf("count: %v %v", f.Steps, err)
	}
}

// Several job runs at once (two workers, a retried job) and card loads
// keeping the same funnel: no error, one row per point and window.
func TestConcurrentSnapshots(t *testing.T) {
	w := newWorkedStore(t)
	ctx := context.Background()
	now := time.Date(2026, 9, 1, 12, 0, 0, 0, w.loc)
	st := &lifecycle.Store{DB: w.db, Now: func() time.Time { return now }}
	errs := make(chan error, 8)
	for i := range 8 {
		go func() {
			if i%2 == 0 {
				errs <- st.SnapshotAll(ctx, now)
				return
			}
			_, err := st.Keep(ctx, w.id, lifecycle.WindowEnding(now, w.loc))
			errs <- err
		}()
	}
	for range 8 {
		if err := <-errs; err != nil {
			t.Fatal(err)
		}
	}
	var points, funnels int
	if err := w.db.Get(&points, `SELECT count(*) FROM lifecycle_composition WHERE shop_id = $1`, w.id); err != nil {
		t.Fatal(err)
	}
	if err := w.db.Get(&funnels, `SELECT count(*) FROM lifecycle_funnel WHERE shop_id = $1`, w.id); err != nil {
		t.Fatal(err)
	}
	if points != lifecycle.HistoryWeeks+1 || funnels != 1 {
		t.Fatalf("%d points, %d funnels", points, funnels)
	}
	c, err := st.Composition(ctx, w.id, now)
	if err != nil || c.History[len(c.History)-1].Counts != (lifecycle.Counts{7, 3, 2, 1}) {
		t.Fatalf("%v %v", c.History, err)
	}
}
