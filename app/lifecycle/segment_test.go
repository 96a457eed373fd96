package lifecycle_test

import (
	"context"
	"fmt"
	"math/rand/v2"
	"slices"
	"testing"
	"time"

	"github.com/cartwheel/cartwheel/app/lifecycle"
	"github.com/cartwheel/cartwheel/app/segments"
)

// TestSegmentMembersEqualFunnelLevels saves a segment for every level of
// random windows, rolling and fixed, and checks its members (both the
// whole-shop refresh and the per-customer one) against the model; "is
// not" selects every other profile.
func TestSegmentMembersEqualFunnelLevels(t *testing.T) {
	r := rand.New(rand.NewPCG(13, 7))
	s := newShop(t, nil, "seg.myshopify.com", "America/New_York")
	randomShop(t, s, r, 120)
	other := newShop(t, s.db, "other.myshopify.com", "UTC")
	randomShop(t, other, r, 30)
	ctx := context.Background()
	segs := segments.NewStore(s.db)
	var live []int64
	for _, c := range s.cs {
		if !c.deleted {
			live = append(live, c.id)
		}
	}
	slices.Sort(live)
	members := func(id int64) []int64 {
		var ids []int64
		if err := s.db.Select(&ids, `SELECT customer_id FROM segment_members WHERE shop_id = $1 AND segment_id = $2 ORDER BY 1`, s.id, id); err != nil {
			t.Fatal(err)
		}
		return ids
	}
	for i := range 4 {
		now := time.Date(2026, 1, 1, 0, 0, 0, 0, s.loc).AddDate(0, 0, r.IntN(90)).Add(time.Duration(r.IntN(86400)) * time.Second)
		win := &segments.Window{Kind: "last_days", Days: 30}
		w := lifecycle.WindowEnding(now, s.loc)
		if i%2 == 1 {
			last := now.AddDate(0, 0, -r.IntN(40))
			w = lifecycle.WindowEnding(last, s.loc)
			win = &segments.Window{Kind: "between", From: w.First.Format(time.DateOnly), To: w.Last.Format(time.DateOnly)}
		}
		levels := s.modelLevels(w)
		for _, l := range lifecycle.Levels {
			for _, op := range []string{"is", "is_not"} {
				rules := segments.Rules{Version: segments.Version, Root: segments.Group{Op: "and", Items: []segments.Node{
					{Condition: &segments.Condition{Field: segments.FieldLifecycle, Op: op, Value: l.Key(), Window: win}}}}}
				sg, err := segs.Create(ctx, s.id, fmt.Sprintf("%d %s %s", i, l.Key(), op), rules, now)
				if err != nil {
					t.Fatal(err)
				}
				want := modelMembers(levels, l)
				if op == "is_not" {
					want = slices.DeleteFunc(slices.Clone(live), func(id int64) bool { return slices.Contains(want, id) })
				}
				if got := members(sg.ID); !slices.Equal(got, want) {
					t.Fatalf("%s %s %s (window %s..%s): members %v, model %v", win.Kind, l.Key(), op,
						w.First.Format(time.DateOnly), w.Last.Format(time.DateOnly), got, want)
				}
				if op == "is" && l == lifecycle.Engaged && i == 0 {
					// The per-customer shape (signals) finds the same members.
					if _, err := s.db.Exec(`DELETE FROM segment_members WHERE segment_id = $1`, sg.ID); err != nil {
						t.Fatal(err)
					}
					for _, c := range s.cs {
						if err := segs.RefreshCustomer(ctx, s.id, c.id, now); err != nil {
							t.Fatal(err)
						}
					}
					if got := members(sg.ID); !slices.Equal(got, want) {
						t.Fatalf("per customer, %s %s: members %v, model %v", win.Kind, l.Key(), got, want)
					}
				}
			}
		}
	}
}

func TestSegmentConditionValidation(t *testing.T) {
	cond := func(c segments.Condition) segments.Rules {
		return segments.Rules{Version: segments.Version, Root: segments.Group{Op: "and", Items: []segments.Node{{Condition: &c}}}}
	}
	bad := []segments.Condition{
		{Field: segments.FieldLifecycle, Op: "is", Value: "vip", Window: &segments.Window{Kind: "last_days", Days: 30}},
		{Field: segments.FieldLifecycle, Op: "in", Value: "reached", Window: &segments.Window{Kind: "last_days", Days: 30}},
		{Field: segments.FieldLifecycle, Op: "is", Value: "reached", Window: &segments.Window{Kind: "last_days", Days: 7}},
		{Field: segments.FieldLifecycle, Op: "is", Value: "reached"},
		{Field: segments.FieldLifecycle, Op: "is", Value: "reached", Window: &segments.Window{Kind: "between", From: "2026-06-01", To: "2026-06-29"}},
		{Field: segments.FieldLifecycle, Op: "is", Value: "reached", Window: &segments.Window{Kind: "since", From: "2026-06-01"}},
	}
	for _, c := range bad {
		if err := segments.Validate(cond(c), 0, nil); err == nil {
			t.Errorf("%+v %+v: accepted", c, c.Window)
		}
	}
	good := cond(segments.Condition{Field: segments.FieldLifecycle, Op: "is", Value: "ordered",
		Window: &segments.Window{Kind: "between", From: "2026-06-01", To: "2026-06-30"}})
	if err := segments.Validate(good, 0, nil); err != nil {
		t.Fatal(err)
	}
	if got, want := segments.Summary(good, segments.Names{}), `Customers who are "Ordered" in the lifecycle funnel of 2026-06-01 to 2026-06-30`; got != want {
		t.Errorf("summary %q, want %q", got, want)
	}
}
