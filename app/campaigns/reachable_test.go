package campaigns_test

import (
	"errors"
	"fmt"
	"slices"
	"sort"
	"strings"
	"sync"
	"testing"

	"github.com/cartwheel/cartwheel/app/campaigns"
)

// The reachable count by reason, and the customers behind each number,
// equal a one-customer-at-a-time computation over the same rows, for
// several audiences, daily limits and both send orders.
func TestReachableMatchesOracle(t *testing.T) {
	e := newEnv(t)
	w := e.seedWorld(600, 1)
	if w.sentToday == 0 {
		t.Fatal("the seed sent nothing today: the daily limit would not be exercised")
	}
	audiences := []campaigns.Audience{
		{Include: []int64{w.segA}},
		{Include: []int64{w.segA, w.segB}, Exclude: []int64{w.segX}},
		{Include: []int64{w.segB}, Exclude: []int64{w.segX, w.segA}, MostEngagedFirst: true},
		{Include: []int64{w.segA, w.segB}, Exclude: []int64{w.segX}, MostEngagedFirst: true},
		{Include: []int64{}},
	}
	for _, limit := range []int{0, w.sentToday + 15, w.sentToday / 2} {
		e.exec(`UPDATE shops SET daily_send_limit = $1 WHERE id = 1`, limit)
		for ai, a := range audiences {
			name := fmt.Sprintf("limit %d audience %d", limit, ai)
			want, _ := w.oracle(a, limit)
			b, err := e.store.Reachable(e.ctx, 1, a, w.now)
			if err != nil {
				t.Fatalf("%s: %v", name, err)
			}
			got := map[string]int{}
			sum := 0
			for _, l := range b.Lines() {
				got[l.Reason] = l.N
				if l.Reason != campaigns.ReasonInSegments {
					sum += l.N
				}
			}
			if sum != b.InSegments {
				t.Errorf("%s: the reasons add up to %d, not %d: %+v", name, sum, b.InSegments, b)
			}
			for r, ids := range want {
				if got[r] != len(ids) {
					t.Errorf("%s: %s = %d, want %d", name, r, got[r], len(ids))
				}
			}
			for r, n := range got {
				if n != len(want[r]) {
					t.Errorf("%s: %s = %d, want %d", name, r, n, len(want[r]))
				}
			}
			if b.DailyLimit != limit || b.WindowDays != 7 || (limit > 0 && b.SentToday != w.sentToday) {
				t.Errorf("%s: settings read back as %+v (sent today want %d)", name, b, w.sentToday)
			}
			// Every number lists exactly its customers, across pages.
			for _, l := range b.Lines() {
				ids := members(t, e, a, l.Reason, w)
				exp := append([]int64(nil), want[l.Reason]...)
				sort.Slice(exp, func(i, j int) bool { return exp[i] > exp[j] })
				if !slices.Equal(ids, exp) {
					t.Errorf("%s: members of %s: got %d %v, want %d %v", name, l.Reason, len(ids), head(ids), len(exp), head(exp))
				}
			}
		}
	}
	// Every reason occurs in the seeded data, or the test proves little.
	want, _ := w.oracle(campaigns.Audience{Include: []int64{w.segA, w.segB}, Exclude: []int64{w.segX}}, w.sentToday+15)
	for _, r := range []string{campaigns.ReasonExcluded, campaigns.ReasonNoEmail, campaigns.ReasonNotSubscribed,
		campaigns.ReasonSuppressed + "hard_bounce", campaigns.ReasonSuppressed + "complaint", campaigns.ReasonFrequencyWindow,
		campaigns.ReasonDailyLimit, campaigns.ReasonReachable} {
		if len(want[r]) == 0 {
			t.Errorf("the seeded data has nobody under %s", r)
		}
	}
	if _, err := e.store.Members(e.ctx, 1, audiences[0], "bogus", 0, 10, w.now); err == nil {
		t.Error("an unknown reason was accepted")
	}
}

func members(t *testing.T, e *env, a campaigns.Audience, reason string, w *world) []int64 {
	t.Helper()
	var ids []int64
	after := int64(0)
	for pages := 0; ; pages++ {
		p, err := e.store.Members(e.ctx, 1, a, reason, after, 37, w.now)
		if err != nil {
			t.Fatalf("members %s: %v", reason, err)
		}
		for _, m := range p.Members {
			ids = append(ids, m.ID)
		}
		if p.Next == 0 {
			return ids
		}
		if pages > 100 {
			t.Fatal("members never ends")
		}
		after = p.Next
	}
}

func head(ids []int64) []int64 {
	if len(ids) > 8 {
		return ids[:8]
	}
	return ids
}

// Snapshot writes the reachable recipients (and those over the daily limit,
// carried over) in send order with a reproducible variant split, after
// refreshing the segments; a second call, concurrent or later, adds nothing.
func TestSnapshot(t *testing.T) {
	e := newEnv(t)
	w := e.seedWorld(500, 2)
	e.exec(`UPDATE shops SET daily_send_limit = $1 WHERE id = 1`, w.sentToday+20)
	tpl := e.template(1)
	d := campaigns.Draft{Name: "Summer sale", TemplateID: tpl, Subject: "Sale",
		Audience: campaigns.Audience{Include: []int64{w.segA, w.segB}, Exclude: []int64{w.segX}, MostEngagedFirst: true},
		AB: campaigns.AB{Variants: []campaigns.Variant{{Key: "A", Subject: "One"}, {Key: "B", Subject: "Two"}, {Key: "C", Subject: "Three"}},
			TestPercent: 30, WaitHours: 4, HoldoutPercent: 10}}
	c, err := e.store.Create(e.ctx, 1, d)
	if err != nil {
		t.Fatal(err)
	}
	// A customer tagged after the segments' last refresh: the snapshot
	// refreshes them first, so they are in.
	var late int64
	if err := e.db.Get(&late, `INSERT INTO customers (shop_id, email, email_consent, tags) VALUES (1, 'late@example.com', 'subscribed', '{b}') RETURNING id`); err != nil {
		t.Fatal(err)
	}
	w.customers = append(w.customers, customer{id: late, tags: []string{"b"}, validEmail: true, consent: "subscribed"})
	want, order := w.oracle(c.Audience, w.sentToday+20)
	if len(want[campaigns.ReasonDailyLimit]) == 0 {
		t.Fatal("nobody over the daily limit: carry-over not exercised")
	}

	var wg sync.WaitGroup
	errs := make([]error, 6)
	for i := range errs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, errs[i] = e.store.Snapshot(e.ctx, 1, c.ID, w.now)
		}()
	}
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	got, err := e.store.Get(e.ctx, 1, c.ID)
	if err != nil {
		t.Fatal(err)
	}
	if got.SnapshotAt == nil || !got.SnapshotAt.Equal(w.now) || got.AudienceSize != len(order) {
		t.Fatalf("snapshot: at %v size %d, want %v and %d", got.SnapshotAt, got.AudienceSize, w.now, len(order))
	}
	rs, err := e.store.Recipients(e.ctx, 1, c.ID, 0, 100000)
	if err != nil {
		t.Fatal(err)
	}
	if len(rs) != len(order) {
		t.Fatalf("%d recipients, want %d", len(rs), len(order))
	}
	// The send order is the oracle's, the A/B test's share (and the
	// holdout) first: the rest wait for the winner.
	variantOf := map[int64]string{}
	for _, r := range rs {
		variantOf[r.CustomerID] = r.Variant
	}
	var first, rest []int64
	for _, id := range order {
		if variantOf[id] == campaigns.VariantRest {
			rest = append(rest, id)
		} else {
			first = append(first, id)
		}
	}
	order = append(first, rest...)
	variants := map[string]int{}
	for i, r := range rs {
		if r.Position != i+1 || r.CustomerID != order[i] {
			t.Fatalf("position %d: customer %d at %d, want %d", i+1, r.CustomerID, r.Position, order[i])
		}
		variants[r.Variant]++
		if (r.Variant == campaigns.VariantHoldout) != (r.Status == "skipped" && r.Reason == "holdout") || (r.Variant != "holdout" && r.Status != "pending") {
			t.Errorf("recipient %+v: holdout must be skipped, everyone else pending", r)
		}
	}
	n := len(order)
	hold, test := n*10/100, n*30/100
	if variants["holdout"] != hold || variants["A"]+variants["B"]+variants["C"] != test || variants[""] != n-hold-test {
		t.Errorf("split of %d: %v, want holdout %d, test %d", n, variants, hold, test)
	}
	for _, k := range []string{"A", "B", "C"} {
		if d := variants[k] - test/3; d < 0 || d > 1 {
			t.Errorf("variant %s has %d of %d: not an even split", k, variants[k], test)
		}
	}

	// Idempotent: later calls, even after the audience changed, add nothing.
	e.exec(`UPDATE customers SET tags = '{a}' WHERE shop_id = 1 AND NOT (tags && '{a,b}') AND deleted_at IS NULL`)
	again, err := e.store.Snapshot(e.ctx, 1, c.ID, w.now.Add(1))
	if err != nil || again.AudienceSize != n || !again.SnapshotAt.Equal(w.now) {
		t.Fatalf("second snapshot: %+v %v", again, err)
	}
	if k := e.count(`SELECT count(*) FROM campaign_recipients WHERE campaign_id = $1`, c.ID); k != n {
		t.Fatalf("second snapshot wrote %d rows, want %d", k, n)
	}
	// A snapshotted draft can't be edited any more.
	var se campaigns.StatusError
	if _, err := e.store.Update(e.ctx, 1, c.ID, d); !errors.As(err, &se) {
		t.Errorf("editing a snapshotted draft: %v", err)
	}
}

// The same seed draws the same split; another seed another one.
func TestSnapshotSplitIsDeterministic(t *testing.T) {
	e := newEnv(t)
	w := e.seedWorld(300, 3)
	d := campaigns.Draft{Name: "x", Audience: campaigns.Audience{Include: []int64{w.segA, w.segB}},
		AB: campaigns.AB{Variants: []campaigns.Variant{{Key: "A"}, {Key: "B"}}, TestPercent: 50, WaitHours: 2, HoldoutPercent: 20}}
	split := func(seed int64) string {
		c, err := e.store.Create(e.ctx, 1, d)
		if err != nil {
			t.Fatal(err)
		}
		e.exec(`UPDATE campaigns SET seed = $1 WHERE id = $2`, seed, c.ID)
		if _, err := e.store.Snapshot(e.ctx, 1, c.ID, w.now); err != nil {
			t.Fatal(err)
		}
		rs, err := e.store.Recipients(e.ctx, 1, c.ID, 0, 100000)
		if err != nil {
			t.Fatal(err)
		}
		var b strings.Builder
		for _, r := range rs {
			fmt.Fprintf(&b, "%d:%s,", r.CustomerID, r.Variant)
		}
		return b.String()
	}
	one, two, other := split(42), split(42), split(43)
	if one != two {
		t.Error("the same seed drew a different split")
	}
	if one == other {
		t.Error("another seed drew the same split")
	}
	// Without most-engaged-first the send order is by customer id: the
	// test's share first, then the rest.
	var ordered bool
	if err := e.db.Get(&ordered, `SELECT bool_and(ok) FROM (SELECT customer_id > lag(customer_id, 1, 0::bigint) OVER (PARTITION BY variant = '' ORDER BY position) AS ok
		FROM campaign_recipients WHERE campaign_id = (SELECT max(id) FROM campaigns)) s`); err != nil || !ordered {
		t.Errorf("send order by id: %v %v", ordered, err)
	}
}

func TestSnapshotRefusals(t *testing.T) {
	e := newEnv(t)
	w := e.seedWorld(20, 4)
	c, err := e.store.Create(e.ctx, 1, campaigns.Draft{Name: "empty"})
	if err != nil {
		t.Fatal(err)
	}
	var fe campaigns.FieldErrors
	if _, err := e.store.Snapshot(e.ctx, 1, c.ID, w.now); !errors.As(err, &fe) || fe["include_segments"] == "" {
		t.Errorf("no audience: %v", err)
	}
	if _, err := e.store.Snapshot(e.ctx, 2, c.ID, w.now); !errors.Is(err, campaigns.ErrNotFound) {
		t.Errorf("another shop's campaign: %v", err)
	}
	c2, err := e.store.Create(e.ctx, 1, campaigns.Draft{Name: "done", Audience: campaigns.Audience{Include: []int64{w.segA}}})
	if err != nil {
		t.Fatal(err)
	}
	e.exec(`UPDATE campaigns SET status = 'cancelled' WHERE id = $1`, c2.ID)
	var se campaigns.StatusError
	if _, err := e.store.Snapshot(e.ctx, 1, c2.ID, w.now); !errors.As(err, &se) {
		t.Errorf("cancelled campaign: %v", err)
	}
	c3, err := e.store.Create(e.ctx, 1, campaigns.Draft{Name: "gone", Audience: campaigns.Audience{Include: []int64{w.segA}, Exclude: []int64{w.segX}}})
	if err != nil {
		t.Fatal(err)
	}
	e.exec(`DELETE FROM segments WHERE id = $1`, w.segX)
	if _, err := e.store.Snapshot(e.ctx, 1, c3.ID, w.now); !errors.As(err, &fe) || fe["exclude_segments"] == "" {
		t.Errorf("a deleted excluded segment: %v", err)
	}
	if e.count(`SELECT count(*) FROM campaign_recipients`) != 0 {
		t.Error("a refused snapshot wrote recipients")
	}
}

// campaign_recipients has no foreign keys (see migration 00025): its
// statement triggers must remove what ON DELETE CASCADE would have.
func TestRecipientsGoWithTheirCustomerCampaignAndShop(t *testing.T) {
	e := newEnv(t)
	w := e.seedWorld(120, 5)
	snap := func(name string) int64 {
		c, err := e.store.Create(e.ctx, 1, campaigns.Draft{Name: name, Audience: campaigns.Audience{Include: []int64{w.segA, w.segB}}})
		if err != nil {
			t.Fatal(err)
		}
		if c, err = e.store.Snapshot(e.ctx, 1, c.ID, w.now); err != nil || c.AudienceSize < 3 {
			t.Fatalf("snapshot: %+v %v", c, err)
		}
		return c.ID
	}
	one, two := snap("one"), snap("two")
	total := e.count(`SELECT count(*) FROM campaign_recipients`)
	// A redacted customer: gone from both campaigns, nobody else.
	var victim int64
	if err := e.db.Get(&victim, `SELECT customer_id FROM campaign_recipients WHERE campaign_id = $1 ORDER BY position LIMIT 1`, one); err != nil {
		t.Fatal(err)
	}
	e.exec(`DELETE FROM customers WHERE shop_id = 1 AND id = $1`, victim)
	if n := e.count(`SELECT count(*) FROM campaign_recipients WHERE customer_id = $1`, victim); n != 0 {
		t.Errorf("the deleted customer is still a recipient %d times", n)
	}
	if n := e.count(`SELECT count(*) FROM campaign_recipients`); n != total-2 {
		t.Errorf("%d recipients left, want %d", n, total-2)
	}
	// A deleted campaign takes its recipients (Delete refuses a snapshotted
	// draft's edits, not its deletion).
	if err := e.store.Delete(e.ctx, 1, one); err != nil {
		t.Fatal(err)
	}
	if n := e.count(`SELECT count(*) FROM campaign_recipients WHERE campaign_id = $1`, one); n != 0 {
		t.Errorf("a deleted campaign left %d recipients", n)
	}
	if e.count(`SELECT count(*) FROM campaign_recipients WHERE campaign_id = $1`, two) == 0 {
		t.Error("deleting one campaign emptied another")
	}
	// Shop erasure: everything, through the cascades.
	e.exec(`DELETE FROM shops WHERE id = 1`)
	if n := e.count(`SELECT count(*) FROM campaign_recipients`); n != 0 {
		t.Errorf("shop erasure left %d recipients", n)
	}
}

// Without an A/B test or holdout the snapshot takes a shorter path: the same
// send order, everyone pending with no variant.
func TestPlainSnapshot(t *testing.T) {
	e := newEnv(t)
	w := e.seedWorld(300, 6)
	a := campaigns.Audience{Include: []int64{w.segA}, Exclude: []int64{w.segB}, MostEngagedFirst: true}
	c, err := e.store.Create(e.ctx, 1, campaigns.Draft{Name: "plain", Audience: a})
	if err != nil {
		t.Fatal(err)
	}
	if c, err = e.store.Snapshot(e.ctx, 1, c.ID, w.now); err != nil {
		t.Fatal(err)
	}
	_, order := w.oracle(a, 0)
	rs, err := e.store.Recipients(e.ctx, 1, c.ID, 0, 100000)
	if err != nil {
		t.Fatal(err)
	}
	if len(rs) != len(order) || c.AudienceSize != len(order) || len(order) == 0 {
		t.Fatalf("%d recipients, size %d, want %d", len(rs), c.AudienceSize, len(order))
	}
	for i, r := range rs {
		if r.CustomerID != order[i] || r.Position != i+1 || r.Variant != "" || r.Status != "pending" {
			t.Fatalf("recipient %d: %+v, want customer %d", i+1, r, order[i])
		}
	}
}
