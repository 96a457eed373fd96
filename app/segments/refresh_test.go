package segments

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand"
	"reflect"
	"sort"
	"testing"
	"time"

	"github.com/jmoiron/sqlx"
	"github.com/lib/pq"

	"github.com/cartwheel/cartwheel/app/db/dbtest"
)

// seedStore seeds n customers and drops the seed's placeholder segments
// (their rules are not real rules), with shop 1 in New York.
func seedStore(t *testing.T, n int, seedN int64) (*sqlx.DB, *Store, *Snapshot, *time.Location) {
	t.Helper()
	d := dbtest.New(t)
	snap := seed(t, d, n, seedN, testNow)
	mustExec(t, d, "DELETE FROM segments")
	mustExec(t, d, "UPDATE shops SET iana_timezone = 'America/New_York' WHERE id = 1")
	loc, _ := time.LoadLocation("America/New_York")
	return d, NewStore(d), snap, loc
}

func members(t testing.TB, d *sqlx.DB, segID int64) []int64 {
	t.Helper()
	var ids []int64
	if err := d.Select(&ids, "SELECT customer_id FROM segment_members WHERE segment_id = $1 ORDER BY customer_id", segID); err != nil {
		t.Fatal(err)
	}
	return ids
}

func eqIDs(a, b []int64) bool {
	if len(a) == 0 && len(b) == 0 {
		return true
	}
	return reflect.DeepEqual(a, b)
}

func TestPresetsValidateAndCompile(t *testing.T) {
	keys := map[string]bool{}
	for _, p := range Presets() {
		if keys[p.Key] {
			t.Fatalf("duplicate preset key %s", p.Key)
		}
		keys[p.Key] = true
		if err := Validate(p.Rules, 0, nil); err != nil {
			t.Fatalf("%s: %v", p.Key, err)
		}
		sql, _, err := Compile(seedShop, p.Rules, testNow, time.UTC)
		if err != nil {
			t.Fatalf("%s: %v", p.Key, err)
		}
		checkParameterised(t, p.Rules, sql)
	}
	if len(keys) != 23 {
		t.Fatalf("%d presets, want 23 (11 CartSee + visitors 7/30/90 + opened-not-clicked + 8 RFM)", len(keys))
	}
}

func TestPresetsRefreshMatchEval(t *testing.T) {
	ctx := context.Background()
	d, st, snap, loc := seedStore(t, 1500, 21)
	if err := st.EnsurePresets(ctx, seedShop, testNow); err != nil {
		t.Fatal(err)
	}
	if err := st.EnsurePresets(ctx, seedShop, testNow); err != nil { // idempotent
		t.Fatal(err)
	}
	segs, err := st.List(ctx, seedShop)
	if err != nil {
		t.Fatal(err)
	}
	if len(segs) != len(Presets()) {
		t.Fatalf("%d segments after EnsurePresets twice, want %d", len(segs), len(Presets()))
	}
	for _, sg := range segs {
		got, want := members(t, d, sg.ID), Eval(snap, sg.Rules, testNow, loc)
		if !eqIDs(got, want) {
			t.Errorf("preset %s: %d members, eval %d", sg.PresetKey.String, len(got), len(want))
		}
		var entered int
		d.Get(&entered, "SELECT count(*) FROM segment_changes WHERE segment_id = $1 AND change = 'entered'", sg.ID)
		if entered != len(got) {
			t.Errorf("preset %s: %d entered changes for %d members", sg.PresetKey.String, entered, len(got))
		}
		t.Logf("%-28s %4d", sg.PresetKey.String, len(got))
	}
	// Presets stay editable.
	vip := segs[9]
	if vip.PresetKey.String != "vip" {
		t.Fatalf("segment 10 is %s", vip.PresetKey.String)
	}
	r := vip.Rules
	r.Root.Items[0].Condition.Number = fptr(3)
	if _, err := st.Save(ctx, seedShop, vip.ID, "VIPs (3+)", r, testNow); err != nil {
		t.Fatal(err)
	}
	if got, want := members(t, d, vip.ID), Eval(snap, r, testNow, loc); !eqIDs(got, want) {
		t.Errorf("edited vip: %d members, eval %d", len(got), len(want))
	}
	// Other shops see nothing of shop 1's segments.
	if _, err := st.Get(ctx, 2, vip.ID); !errors.Is(err, ErrNotFound) {
		t.Errorf("shop 2 got shop 1's segment: %v", err)
	}
}

func TestRefreshRecordsChanges(t *testing.T) {
	ctx := context.Background()
	d, st, _, _ := seedStore(t, 300, 5)
	vipRules := all(cond(Condition{Field: FieldOrdersCount, Op: "gte", Number: fptr(5)}),
		cond(Condition{Field: FieldUnsubscribed, Op: "is_not"}), cond(Condition{Field: FieldSuppressed, Op: "is_not"}))
	vip, err := st.Create(ctx, seedShop, "VIP", vipRules, testNow)
	if err != nil {
		t.Fatal(err)
	}
	inVIP, err := st.Create(ctx, seedShop, "In VIP", all(cond(Condition{Field: FieldSegment, Op: "in", SegmentID: vip.ID})), testNow)
	if err != nil {
		t.Fatal(err)
	}
	// A cycle is refused.
	if _, err := st.Save(ctx, seedShop, vip.ID, "VIP", all(cond(Condition{Field: FieldSegment, Op: "in", SegmentID: inVIP.ID})), testNow); err == nil {
		t.Fatal("cycle accepted")
	}
	var cid int64
	if err := d.Get(&cid, `SELECT id FROM customers c WHERE shop_id = 1 AND deleted_at IS NULL AND orders_count < 5
		AND email_consent = 'subscribed' AND email IS NOT NULL
		AND NOT EXISTS (SELECT 1 FROM suppressions s WHERE s.shop_id = 1 AND s.email = lower(c.email)) ORDER BY id LIMIT 1`); err != nil {
		t.Fatal(err)
	}
	changes := func(seg int64) []string {
		var out []string
		if err := d.Select(&out, "SELECT change || '@' || to_char(at AT TIME ZONE 'UTC', 'HH24:MI') FROM segment_changes WHERE segment_id = $1 AND customer_id = $2 ORDER BY id", seg, cid); err != nil {
			t.Fatal(err)
		}
		return out
	}
	t1, t2, t3 := testNow.Add(time.Minute), testNow.Add(2*time.Minute), testNow.Add(3*time.Minute)
	mustExec(t, d, "UPDATE customers SET orders_count = 7 WHERE id = $1", cid)
	if err := st.Refresh(ctx, seedShop, vip.ID, t1); err != nil {
		t.Fatal(err)
	}
	// Saved unchanged: refreshed anyway, and nothing new to log.
	if _, err := st.Save(ctx, seedShop, vip.ID, "VIP", vipRules, t2); err != nil {
		t.Fatal(err)
	}
	mustExec(t, d, "UPDATE customers SET email_consent = 'unsubscribed' WHERE id = $1", cid)
	if _, err := st.Save(ctx, seedShop, vip.ID, "VIP", vipRules, t3); err != nil {
		t.Fatal(err)
	}
	want := []string{"entered@03:31", "exited@03:33"}
	if got := changes(vip.ID); !reflect.DeepEqual(got, want) {
		t.Errorf("vip changes %v, want %v", got, want)
	}
	// The dependent segment followed (refreshed after VIP in the same run).
	if got := changes(inVIP.ID); !reflect.DeepEqual(got, want) {
		t.Errorf("in-vip changes %v, want %v", got, want)
	}
	// Incremental path: resubscribe, then one customer's refresh.
	mustExec(t, d, "UPDATE customers SET email_consent = 'subscribed' WHERE id = $1", cid)
	if err := st.RefreshCustomer(ctx, seedShop, cid, t3.Add(time.Minute)); err != nil {
		t.Fatal(err)
	}
	want = append(want, "entered@03:34")
	if got := changes(inVIP.ID); !reflect.DeepEqual(got, want) {
		t.Errorf("in-vip changes after RefreshCustomer %v, want %v", got, want)
	}
}

func TestLastTwoAM(t *testing.T) {
	ny, _ := time.LoadLocation("America/New_York")
	now := time.Date(2026, 6, 15, 5, 59, 0, 0, time.UTC) // 01:59 in New York
	if got := lastTwoAM(now, ny); !got.Equal(time.Date(2026, 6, 14, 6, 0, 0, 0, time.UTC)) {
		t.Errorf("got %v", got)
	}
	now = now.Add(time.Minute)
	if got := lastTwoAM(now, ny); !got.Equal(now) {
		t.Errorf("got %v", got)
	}
}

func TestRefreshDue(t *testing.T) {
	ctx := context.Background()
	d, st, _, _ := seedStore(t, 100, 9)
	if err := st.EnsurePresets(ctx, seedShop, testNow); err != nil {
		t.Fatal(err)
	}
	// Shop 2 stands for a shop installed before presets existed; keep it in
	// UTC, where 02:00 has passed at testNow.
	mustExec(t, d, "UPDATE shops SET iana_timezone = 'UTC', timezone = '' WHERE id = 2")
	// testNow is 23:30 in New York: due (never refreshed); shop 2 too.
	if n, err := st.RefreshDue(ctx, testNow); err != nil || n != 2 {
		t.Fatalf("first sweep: %d, %v", n, err)
	}
	var presets2 int
	d.Get(&presets2, "SELECT count(*) FROM segments WHERE shop_id = 2 AND preset_key IS NOT NULL")
	if presets2 != len(Presets()) {
		t.Fatalf("shop 2 got %d presets from the sweep, want %d", presets2, len(Presets()))
	}
	if n, err := st.RefreshDue(ctx, testNow.Add(15*time.Minute)); err != nil || n != 0 {
		t.Fatalf("second sweep: %d, %v", n, err)
	}
	// A preset the merchant deletes stays deleted.
	var lost int64
	d.Get(&lost, "SELECT id FROM segments WHERE shop_id = 1 AND preset_key = 'rfm_lost'")
	if err := st.Delete(ctx, seedShop, lost); err != nil {
		t.Fatal(err)
	}
	// 02:00 New York the next day (06:00 UTC) passes: due again.
	if n, err := st.RefreshDue(ctx, time.Date(2026, 6, 15, 6, 5, 0, 0, time.UTC)); err != nil || n != 1 {
		t.Fatalf("after 02:00: %d, %v", n, err)
	}
	var back int
	d.Get(&back, "SELECT count(*) FROM segments WHERE shop_id = 1 AND preset_key = 'rfm_lost'")
	if back != 0 {
		t.Fatal("a deleted preset came back")
	}
}

// TestIncrementalMatchesFull is the acceptance test: after a random stream
// of changes, each followed by RefreshCustomer for the touched customer,
// memberships equal a full recompute and the change log is consistent.
func TestIncrementalMatchesFull(t *testing.T) {
	ctx := context.Background()
	d, st, _, loc := seedStore(t, 600, 77)
	if err := st.EnsurePresets(ctx, seedShop, testNow); err != nil {
		t.Fatal(err)
	}
	// Random merchant segments, some "in segment" presets 1 and 2, some
	// on top of each other.
	g := newRandGen(99, testNow)
	for i := 0; i < 12; i++ {
		r := g.rules()
		if _, err := st.Create(ctx, seedShop, fmt.Sprintf("random %d", i), r, testNow); err != nil {
			t.Fatalf("random %d: %v", i, err)
		}
	}
	segs, _ := st.List(ctx, seedShop)
	for i := 0; i < 3; i++ {
		base := segs[len(segs)-1-i]
		r := all(cond(Condition{Field: FieldSegment, Op: "in", SegmentID: base.ID}),
			cond(Condition{Field: FieldSegment, Op: "not_in", SegmentID: segs[i].ID}))
		if _, err := st.Create(ctx, seedShop, fmt.Sprintf("stacked %d", i), r, testNow); err != nil {
			t.Fatal(err)
		}
	}
	if err := st.RefreshShop(ctx, seedShop, testNow); err != nil {
		t.Fatal(err)
	}

	rng := rand.New(rand.NewSource(2024))
	var custIDs []int64
	d.Select(&custIDs, "SELECT id FROM customers WHERE shop_id = 1 ORDER BY id")
	var other int64
	d.Get(&other, "SELECT id FROM customers WHERE shop_id = 2 ORDER BY id LIMIT 1")
	var nextMsg, nextOrder int64
	d.Get(&nextMsg, "SELECT COALESCE(max(id), 0) + 1000 FROM email_messages")
	d.Get(&nextOrder, "SELECT COALESCE(max(shopify_id), 0) + 1000 FROM orders")
	ago := func(days int) time.Time {
		return testNow.Add(-time.Duration(rng.Int63n(int64(days) * int64(24*time.Hour)))).Truncate(time.Second)
	}
	kinds := map[string]int{}
	const steps = 200
	for step := 0; step < steps; step++ {
		cid := custIDs[rng.Intn(len(custIDs))]
		shop := seedShop
		var kind string
		switch rng.Intn(11) {
		case 0:
			kind = "order"
			nextOrder++
			mustExec(t, d, `INSERT INTO orders (shop_id, shopify_id, customer_id, discount_codes) VALUES (1, $1, $2, $3)`,
				nextOrder, cid, fmt.Sprintf("{%s}", poolCodes[rng.Intn(3)]))
			mustExec(t, d, `UPDATE customers SET orders_count = orders_count + 1, total_spent = total_spent + 25,
				first_order_at = COALESCE(first_order_at, $2), last_order_at = $2 WHERE id = $1`, cid, ago(400))
		case 1:
			kind = "event"
			name := pick(g, []string{"page_viewed", "product_viewed", "collection_viewed", "search_submitted", "product_added_to_cart"})
			data, _ := json.Marshal(map[string]any{"collection": map[string]any{"id": fmt.Sprint(poolColls[rng.Intn(4)])}})
			mustExec(t, d, `INSERT INTO events (shop_id, event_id, customer_id, name, occurred_at, source, data) VALUES (1, $1, $2, $3, $4, 'pixel', $5)`,
				fmt.Sprintf("stream-%d", step), cid, name, ago(100), string(data))
		case 2:
			kind = "email_sent"
			nextMsg++
			mustExec(t, d, `INSERT INTO email_messages (id, shop_id, customer_id, to_email, kind, dedupe_key, sent_at) VALUES ($1, 1, $2, 'x@example.com', $3, $4, $5)`,
				nextMsg, cid, pick(g, []string{"campaign", "flow", "test"}), fmt.Sprintf("s%d", nextMsg), ago(120))
		case 3:
			kind = "email_event"
			var mid int64
			if err := d.Get(&mid, "SELECT COALESCE(max(id), 0) FROM email_messages WHERE customer_id = $1", cid); err != nil || mid == 0 {
				nextMsg++
				mid = nextMsg
				mustExec(t, d, `INSERT INTO email_messages (id, shop_id, customer_id, to_email, kind, dedupe_key, sent_at) VALUES ($1, 1, $2, 'x@example.com', 'campaign', $3, $4)`,
					mid, cid, fmt.Sprintf("s%d", mid), ago(120))
			}
			mustExec(t, d, `INSERT INTO email_events (shop_id, message_id, source, kind, machine, occurred_at) VALUES (1, $1, 'pixel', $2, $3, $4)`,
				mid, pick(g, []string{"open", "click", "open"}), rng.Intn(5) == 0, ago(100))
		case 4, 5:
			kind = "consent"
			mustExec(t, d, `UPDATE customers SET email_consent = $2, email_consent_updated_at = $3 WHERE id = $1`,
				cid, consentStates[rng.Intn(len(consentStates))], ago(200))
		case 6:
			kind = "profile"
			mustExec(t, d, `UPDATE customers SET country = $2, city = $3, tags = $4, properties = $5 WHERE id = $1`, cid,
				poolCountries[rng.Intn(4)], poolCities[rng.Intn(4)], fmt.Sprintf("{%q}", poolTags[rng.Intn(len(poolTags))]),
				fmt.Sprintf(`{"plan": %q}`, poolPropVals[rng.Intn(2)]))
		case 7:
			kind = "suppression"
			if rng.Intn(3) == 0 {
				mustExec(t, d, `DELETE FROM suppressions s USING customers c WHERE c.id = $1 AND s.shop_id = 1 AND s.email = lower(c.email)`, cid)
			} else {
				mustExec(t, d, `INSERT INTO suppressions (shop_id, email, reason) SELECT 1, lower(email), 'hard_bounce' FROM customers WHERE id = $1 AND email IS NOT NULL ON CONFLICT DO NOTHING`, cid)
			}
		case 8:
			kind = "purchase"
			mustExec(t, d, `INSERT INTO customer_products (shop_id, customer_id, product_id, quantity) VALUES (1, $1, $2, 1) ON CONFLICT DO NOTHING`,
				cid, poolProducts[rng.Intn(len(poolProducts))])
		case 9:
			kind = "delete_or_restore"
			mustExec(t, d, `UPDATE customers SET deleted_at = CASE WHEN deleted_at IS NULL THEN $2::timestamptz END WHERE id = $1`, cid, testNow)
		case 10:
			kind = "other_shop"
			shop, cid = 2, other
			mustExec(t, d, `UPDATE customers SET orders_count = orders_count + 1 WHERE id = $1`, cid)
		}
		kinds[kind]++
		at := testNow.Add(time.Duration(step+1) * time.Second)
		if err := st.RefreshCustomer(ctx, shop, cid, at); err != nil {
			t.Fatalf("step %d (%s): %v", step, kind, err)
		}
		if shop == 2 { // and the touched shop-2 customer is refreshed against shop 1 too: no effect
			if err := st.RefreshCustomer(ctx, seedShop, cid, at); err != nil {
				t.Fatal(err)
			}
		}
	}
	t.Logf("stream: %v", kinds)

	// Memberships equal a fresh full recompute, segment by segment.
	segs, _ = st.List(ctx, seedShop)
	ordered, err := order(segs)
	if err != nil {
		t.Fatal(err)
	}
	total := 0
	for _, sg := range ordered {
		sql, args, err := Compile(seedShop, sg.Rules, testNow, loc)
		if err != nil {
			t.Fatal(err)
		}
		got, want := members(t, d, sg.ID), query(t, d, sql, args)
		if !eqIDs(got, want) {
			t.Errorf("segment %d %q: incremental %d members, full recompute %d", sg.ID, sg.Name, len(got), len(want))
		}
		total += len(got)
	}
	// A full refresh now finds nothing to change — except in RFM groups
	// (and segments built on them): a full refresh also recomputes the
	// quintile boundaries, which one customer's refresh keeps as they were.
	rfm := map[int64]bool{}
	for _, sg := range ordered {
		sg.Rules.Walk(func(c Condition) {
			rfm[sg.ID] = rfm[sg.ID] || c.Field == FieldRFM || (c.Field == FieldSegment && rfm[c.SegmentID])
		})
	}
	var plain pq.Int64Array
	for _, sg := range ordered {
		if !rfm[sg.ID] {
			plain = append(plain, sg.ID)
		}
	}
	if len(plain) == len(ordered) {
		t.Fatal("no RFM segment in the test")
	}
	var before, after int
	const countPlain = "SELECT count(*) FROM segment_changes WHERE segment_id = ANY($1)"
	d.Get(&before, countPlain, plain)
	// (Same day in New York as the stream, so the same relative windows.)
	if err := st.RefreshShop(ctx, seedShop, testNow.Add(time.Duration(steps+1)*time.Second)); err != nil {
		t.Fatal(err)
	}
	d.Get(&after, countPlain, plain)
	if after != before {
		t.Errorf("full refresh after the stream logged %d changes; incremental path missed them", after-before)
	}
	// The change log alternates entered/exited per member, starting with
	// entered, and ends in "entered" exactly for current members.
	type key struct{ seg, cust int64 }
	var log []struct {
		Seg    int64  `db:"segment_id"`
		Cust   int64  `db:"customer_id"`
		Change string `db:"change"`
	}
	d.Select(&log, "SELECT segment_id, customer_id, change FROM segment_changes ORDER BY id")
	last := map[key]string{}
	changed := 0
	for _, l := range log {
		k := key{l.Seg, l.Cust}
		prev := last[k]
		if (prev == "" || prev == "exited") != (l.Change == "entered") {
			t.Fatalf("segment %d customer %d: %s after %q", l.Seg, l.Cust, l.Change, prev)
		}
		last[k] = l.Change
	}
	var rows []struct {
		Seg  int64 `db:"segment_id"`
		Cust int64 `db:"customer_id"`
	}
	d.Select(&rows, "SELECT segment_id, customer_id FROM segment_members")
	inMem := map[key]bool{}
	for _, r := range rows {
		inMem[key{r.Seg, r.Cust}] = true
	}
	var keys []key
	for k, v := range last {
		if (v == "entered") != inMem[k] {
			keys = append(keys, k)
		}
	}
	for k := range inMem {
		if last[k] == "" {
			keys = append(keys, k)
		}
	}
	sort.Slice(keys, func(i, j int) bool { return keys[i].seg < keys[j].seg })
	if len(keys) > 0 {
		t.Errorf("change log disagrees with membership for %d pairs, e.g. %+v", len(keys), keys[0])
	}
	d.Get(&changed, "SELECT count(*) FROM segment_changes WHERE at > $1", testNow)
	t.Logf("%d segments, %d memberships, %d changes logged by the stream", len(ordered), total, changed)
	if changed == 0 {
		t.Error("the stream changed no membership; it tests nothing")
	}
}
