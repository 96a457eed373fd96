package campaigns_test

import (
	"errors"
	"testing"
	"time"

	"github.com/lib/pq"

	"github.com/cartwheel/cartwheel/app/campaigns"
)

// zoned gives the first n customers of shop 1 (by id) the timezones, one
// each, and returns their ids in the same order.
func (se *sendEnv) zoned(zones ...string) []int64 {
	se.t.Helper()
	var ids []int64
	if err := se.db.Select(&ids, `SELECT id FROM customers WHERE shop_id = 1 ORDER BY id LIMIT $1`, len(zones)); err != nil {
		se.t.Fatal(err)
	}
	for i, z := range zones {
		se.exec(`UPDATE customers SET timezone = $2 WHERE id = $1`, ids[i], z)
	}
	return ids
}

// dueOf reads each recipient's due time (finite ones).
func (se *sendEnv) dueOf(id int64) map[int64]time.Time {
	se.t.Helper()
	var rows []struct {
		Customer int64     `db:"customer_id"`
		Due      time.Time `db:"due_at"`
	}
	if err := se.db.Select(&rows, `SELECT customer_id, due_at FROM campaign_recipients WHERE campaign_id = $1 AND isfinite(due_at)`, id); err != nil {
		se.t.Fatal(err)
	}
	out := map[int64]time.Time{}
	for _, r := range rows {
		out[r.Customer] = r.Due
	}
	return out
}

// sentTo is who has a ledger row of the campaign.
func (se *sendEnv) sentTo(id int64) map[int64]bool {
	se.t.Helper()
	var ids []int64
	if err := se.db.Select(&ids, `SELECT customer_id FROM email_messages WHERE campaign_id = $1`, id); err != nil {
		se.t.Fatal(err)
	}
	out := map[int64]bool{}
	for _, c := range ids {
		out[c] = true
	}
	return out
}

func mustZone(t *testing.T, name string) *time.Location {
	t.Helper()
	l, err := time.LoadLocation(name)
	if err != nil {
		t.Fatal(err)
	}
	return l
}

// Local-time sending on the day New York moves its clocks forward (8 March
// 2026), from a New York shop, at 09:00: each recipient's email is due at
// 09:00 on their own clock that day, computed here with Go's zone rules; a
// recipient without a zone, or with one PostgreSQL doesn't know, gets the
// shop's. The campaign starts when 09:00 comes in the first zone (UTC+14),
// and each batch sends only who is due, then waits for the next zone.
func TestLocalTimeSendingAcrossDST(t *testing.T) {
	se := newSendEnv(t, 10)
	zones := []string{"Pacific/Kiritimati", "Australia/Sydney", "Asia/Shanghai", "Europe/London", "America/New_York", "", "Not/A_Zone", "America/Los_Angeles"}
	ids := se.zoned(zones...)
	ny := mustZone(t, "America/New_York")
	at := time.Date(2026, 3, 8, 9, 0, 0, 0, ny) // 13:00 UTC: New York is on EDT that morning
	c := se.campaign(campaigns.Draft{Schedule: campaigns.Schedule{Mode: campaigns.SendLocal, SendAt: &at}})

	start := time.Date(2026, 3, 7, 12, 0, 0, 0, time.UTC)
	got, err := se.sending.Start(se.ctx, 1, c.ID, start)
	if err != nil {
		t.Fatal(err)
	}
	first := time.Date(2026, 3, 8, 9, 0, 0, 0, time.FixedZone("", 14*3600))
	if got.Status != campaigns.StatusScheduled || got.StartsAt == nil || !got.StartsAt.Equal(first) {
		t.Fatalf("scheduled %s to start at %v, want %v", got.Status, got.StartsAt, first)
	}
	if n, err := se.sending.StartDue(se.ctx, first.Add(-time.Minute)); err != nil || n != 0 {
		t.Fatalf("started early: %d %v", n, err)
	}
	if n, err := se.sending.StartDue(se.ctx, first); err != nil || n != 1 {
		t.Fatalf("start due: %d %v", n, err)
	}

	want := map[int64]time.Time{}
	for i, z := range zones {
		loc := ny // no zone, or an unknown one: the shop's
		if z != "" && z != "Not/A_Zone" {
			loc = mustZone(t, z)
		}
		want[ids[i]] = time.Date(2026, 3, 8, 9, 0, 0, 0, loc)
	}
	// The two customers beyond the list have no zone.
	var rest []int64
	if err := se.db.Select(&rest, `SELECT id FROM customers WHERE shop_id = 1 AND NOT (id = ANY($1)) ORDER BY id`, pq.Array(ids)); err != nil {
		t.Fatal(err)
	}
	for _, id := range rest {
		want[id] = time.Date(2026, 3, 8, 9, 0, 0, 0, ny)
	}
	due := se.dueOf(c.ID)
	if len(due) != 10 {
		t.Fatalf("%d recipients with a due time, want 10", len(due))
	}
	for id, w := range want {
		if !due[id].Equal(w) {
			t.Errorf("customer %d: due %v, want %v", id, due[id].UTC(), w.UTC())
		}
	}

	// Each zone's turn: a batch sends who is due and says when the next are.
	se.clock.Set(first)
	seen := map[int64]bool{}
	for step := 0; step < 20 && se.status(c.ID) == campaigns.StatusSending; step++ {
		now := se.clock.Now()
		se.drain(c.ID, 2)
		for id := range se.sentTo(c.ID) {
			if !seen[id] {
				seen[id] = true
				if want[id].After(now) {
					t.Errorf("customer %d got the email at %v, before their 09:00 (%v)", id, now.UTC(), want[id].UTC())
				}
			}
		}
		r, err := se.sending.SendBatch(se.ctx, 1, c.ID)
		if err != nil {
			t.Fatal(err)
		}
		if r.Finished || r.Stopped == campaigns.StatusSent {
			break
		}
		if r.Until.IsZero() {
			t.Fatalf("a batch that sent nothing, without a time to come back: %+v", r)
		}
		se.clock.Set(r.Until)
	}
	if st := se.status(c.ID); st != campaigns.StatusSent {
		t.Fatalf("status %s at the end", st)
	}
	se.checkOnce(c.ID)
	if len(seen) != 10 {
		t.Fatalf("%d got the email, want 10", len(seen))
	}
}

// Zones where the time has already passed when the campaign starts get it
// the next day at that time — across Europe's DST change (29 March 2026:
// London's 09:00 is 09:00 UTC on the 28th, 08:00 UTC on the 29th) — or at
// once, as the merchant chose.
func TestLocalTimePastZones(t *testing.T) {
	se := newSendEnv(t, 4)
	ids := se.zoned("Europe/London", "Asia/Shanghai", "Australia/Sydney", "America/New_York")
	ny := mustZone(t, "America/New_York")
	at := time.Date(2026, 3, 28, 9, 0, 0, 0, ny)
	start := time.Date(2026, 3, 28, 10, 0, 0, 0, time.UTC) // past 09:00 in London, Shanghai, Sydney
	se.clock.Set(start)
	want := map[string]map[int64]time.Time{
		campaigns.PastZonesNextDay: {
			ids[0]: time.Date(2026, 3, 29, 8, 0, 0, 0, time.UTC),  // 09:00 BST
			ids[1]: time.Date(2026, 3, 29, 1, 0, 0, 0, time.UTC),  // 09:00 CST
			ids[2]: time.Date(2026, 3, 28, 22, 0, 0, 0, time.UTC), // 09:00 AEDT on the 29th
			ids[3]: time.Date(2026, 3, 28, 13, 0, 0, 0, time.UTC), // 09:00 EDT, still ahead
		},
		campaigns.PastZonesNow: {ids[0]: start, ids[1]: start, ids[2]: start, ids[3]: time.Date(2026, 3, 28, 13, 0, 0, 0, time.UTC)},
	}
	for _, past := range []string{campaigns.PastZonesNextDay, campaigns.PastZonesNow} {
		c := se.campaign(campaigns.Draft{Name: past, Schedule: campaigns.Schedule{Mode: campaigns.SendLocal, SendAt: &at, PastZones: past}})
		got, err := se.sending.Start(se.ctx, 1, c.ID, start)
		if err != nil || got.Status != campaigns.StatusSending {
			t.Fatalf("%s: start: %s %v", past, got.Status, err)
		}
		due := se.dueOf(c.ID)
		for id, w := range want[past] {
			if !due[id].Equal(w) {
				t.Errorf("%s: customer %d due %v, want %v", past, id, due[id].UTC(), w.UTC())
			}
		}
		se.drain(c.ID, 1)
		sent := se.sentTo(c.ID)
		for id, w := range want[past] {
			if sent[id] != !w.After(start) {
				t.Errorf("%s: customer %d sent %v at the start, due %v", past, id, sent[id], w.UTC())
			}
		}
		se.exec(`UPDATE campaigns SET status = 'cancelled' WHERE id = $1`, c.ID)
	}
}

// abEnv starts an A/B test of 200 recipients: A and B each get 40 (40 %),
// 20 are held out (10 %), and the rest (100) wait for the winner, picked 4
// hours after the start by winnerBy. It returns the campaign and the test
// recipients' ledger ids by variant, delivered.
func abEnv(t *testing.T, winnerBy string) (*sendEnv, campaigns.Campaign, map[string][]int64) {
	se := newSendEnv(t, 200)
	c := se.campaign(campaigns.Draft{AB: campaigns.AB{
		Variants:    []campaigns.Variant{{Key: "A", Subject: "Subject A"}, {Key: "B", Subject: "Subject B"}},
		TestPercent: 40, WaitHours: 4, HoldoutPercent: 10, WinnerBy: winnerBy}})
	if _, err := se.sending.Start(se.ctx, 1, c.ID, now0); err != nil {
		t.Fatal(err)
	}
	se.drain(c.ID, 2)
	se.exec(`UPDATE email_messages SET status = 'sent', sent_at = $2 WHERE campaign_id = $1`, c.ID, now0)
	by := map[string][]int64{}
	var rows []struct {
		ID      int64  `db:"id"`
		Variant string `db:"campaign_variant"`
	}
	if err := se.db.Select(&rows, `SELECT id, campaign_variant FROM email_messages WHERE campaign_id = $1 ORDER BY id`, c.ID); err != nil {
		t.Fatal(err)
	}
	for _, r := range rows {
		by[r.Variant] = append(by[r.Variant], r.ID)
	}
	if len(by["A"]) != 40 || len(by["B"]) != 40 || len(rows) != 80 {
		t.Fatalf("test sends: A %d, B %d, all %d; want 40, 40, 80", len(by["A"]), len(by["B"]), len(rows))
	}
	return se, c, by
}

// event records n emails' events of a kind (machine or not), each email
// once, plus extra repeats on the first email.
func (se *sendEnv) event(ids []int64, kind string, machine bool, repeats int) {
	se.t.Helper()
	for i, id := range ids {
		k := 1
		if i == 0 {
			k += repeats
		}
		for j := 0; j < k; j++ {
			se.exec(`INSERT INTO email_events (shop_id, message_id, source, kind, machine, occurred_at) VALUES (1, $1, 'redirect', $2, $3, $4)`,
				id, kind, machine, now0.Add(time.Hour))
		}
	}
}

// The winner by click rate counts each email once and never machine
// clicks: A has more clicks in all (one email clicked 30 times) and 30
// scanner clicks, B more emails clicked. B wins; the rest get B only.
func TestABWinnerByClicksGetsTheRest(t *testing.T) {
	se, c, by := abEnv(t, campaigns.WinnerByClicks)
	se.event(by["A"][:5], "click", false, 30)
	se.event(by["A"][5:35], "click", true, 0)
	se.event(by["B"][:8], "click", false, 0)
	// Before its time, the rest wait.
	r, err := se.sending.SendBatch(se.ctx, 1, c.ID)
	if err != nil || r.Reserved != 0 || !r.Until.Equal(now0.Add(4*time.Hour)) {
		t.Fatalf("before the winner's time: %+v %v", r, err)
	}
	se.clock.Set(now0.Add(4 * time.Hour))
	r, err = se.sending.SendBatch(se.ctx, 1, c.ID)
	if err != nil || r.Winner != "B" {
		t.Fatalf("at the winner's time: %+v %v", r, err)
	}
	se.drain(c.ID, 2)
	checkRestGot(t, se, c.ID, "B", "Subject B")
	got, err := se.store.Get(se.ctx, 1, c.ID)
	if err != nil {
		t.Fatal(err)
	}
	want := []campaigns.VariantResult{{Key: "A", Sent: 40, Opened: 5, Clicked: 5, Rate: 5.0 / 40}, {Key: "B", Sent: 40, Opened: 8, Clicked: 8, Rate: 8.0 / 40}}
	if len(got.ABResults) != 2 || got.ABResults[0] != want[0] || got.ABResults[1] != want[1] {
		t.Fatalf("results %+v, want %+v", got.ABResults, want)
	}
}

// The winner by open rate leaves machine opens out: A's 30 Apple Mail
// prefetches don't beat B's 6 real opens.
func TestABWinnerByOpensLeavesMachineOpensOut(t *testing.T) {
	se, c, by := abEnv(t, campaigns.WinnerByOpens)
	se.event(by["A"][:30], "open", true, 0)
	se.event(by["A"][30:34], "open", false, 3)
	se.event(by["B"][:6], "open", false, 0)
	se.clock.Set(now0.Add(5 * time.Hour))
	se.drain(c.ID, 2)
	checkRestGot(t, se, c.ID, "B", "Subject B")
}

// The merchant can pick the winner early — even the one behind — and only
// once; the rest get it at once.
func TestPickWinnerEarly(t *testing.T) {
	se, c, by := abEnv(t, campaigns.WinnerByClicks)
	se.event(by["B"][:8], "click", false, 0)
	var fe campaigns.FieldErrors
	if _, err := se.sending.PickWinner(se.ctx, 1, c.ID, "Z", now0.Add(time.Hour)); !errors.As(err, &fe) {
		t.Fatalf("an unknown variant: %v", err)
	}
	if _, err := se.sending.PickWinner(se.ctx, 2, c.ID, "A", now0.Add(time.Hour)); !errors.Is(err, campaigns.ErrNotFound) {
		t.Fatalf("another shop: %v", err)
	}
	got, err := se.sending.PickWinner(se.ctx, 1, c.ID, "A", now0.Add(time.Hour))
	if err != nil || got.ABWinner != "A" {
		t.Fatalf("pick A: %+v %v", got, err)
	}
	if _, err := se.sending.PickWinner(se.ctx, 1, c.ID, "B", now0.Add(time.Hour)); !errors.Is(err, campaigns.ErrNoTest) {
		t.Fatalf("a second pick: %v", err)
	}
	se.clock.Set(now0.Add(time.Hour))
	se.drain(c.ID, 2)
	checkRestGot(t, se, c.ID, "A", "Subject A")
}

// checkRestGot asserts the campaign is sent, everyone once, and that the
// rest (100) got the winner's subject, with no variant of their own in the
// ledger.
func checkRestGot(t *testing.T, se *sendEnv, id int64, winner, subject string) {
	t.Helper()
	if st := se.status(id); st != campaigns.StatusSent {
		t.Fatalf("status %s", st)
	}
	se.checkOnce(id)
	c, err := se.store.Get(se.ctx, 1, id)
	if err != nil || c.ABWinner != winner {
		t.Fatalf("winner %q, want %q (%v)", c.ABWinner, winner, err)
	}
	if n := se.count(`SELECT count(*) FROM email_messages m JOIN campaign_recipients r ON r.message_id = m.id
		WHERE r.campaign_id = $1 AND r.variant = '' AND m.campaign_variant IS NULL AND m.subject = $2`, id, subject); n != 100 {
		t.Fatalf("%d of the rest got %q, want 100", n, subject)
	}
	if n := se.count(`SELECT count(*) FROM email_messages WHERE campaign_id = $1`, id); n != 180 {
		t.Fatalf("%d emails, want 180 (the holdout's 20 get none)", n)
	}
}

// A new sending domain's warm-up lowers the daily limit: on its second
// day 500 go out (250 doubled), the rest carry over to the next day, when
// the allowance doubles again; the reachable count says the same.
func TestWarmupRampsTheDailyVolume(t *testing.T) {
	se := newSendEnv(t, 1200)
	// now0 is 11:00 on 15 June in New York: the warm-up's second day.
	se.exec(`UPDATE shops SET warmup_started_on = '2026-06-14' WHERE id = 1`)
	c := se.campaign(campaigns.Draft{})
	b, err := se.store.Reachable(se.ctx, 1, c.Audience, now0)
	if err != nil || b.DailyLimit != 500 || b.Reachable != 500 || b.OverDailyLimit != 700 {
		t.Fatalf("reachable on day 2: limit %d, reachable %d, over %d (%v)", b.DailyLimit, b.Reachable, b.OverDailyLimit, err)
	}
	if _, err := se.sending.Start(se.ctx, 1, c.ID, now0); err != nil {
		t.Fatal(err)
	}
	se.drain(c.ID, 2)
	if n := se.count(`SELECT count(*) FROM email_messages WHERE campaign_id = $1`, c.ID); n != 500 {
		t.Fatalf("%d reserved on day 2, want 500", n)
	}
	se.exec(`UPDATE email_messages SET status = 'sent', sent_at = $2 WHERE campaign_id = $1`, c.ID, now0)
	ny := mustZone(t, "America/New_York")
	se.clock.Set(time.Date(2026, 6, 16, 0, 1, 0, 0, ny))
	se.drain(c.ID, 2)
	if n := se.count(`SELECT count(*) FROM email_messages WHERE campaign_id = $1`, c.ID); n != 1200 {
		t.Fatalf("%d reserved by day 3, want all 1200 (day 3 allows 1,000)", n)
	}
	if st := se.status(c.ID); st != campaigns.StatusSent {
		t.Fatalf("status %s", st)
	}
}

// A large audience starts in the background: Start returns at once with
// the campaign scheduled to start now and the start job queued in the same
// transaction; the job snapshots and starts sending.
func TestLargeAudienceStartsInBackground(t *testing.T) {
	se := newSendEnv(t, 30)
	se.sending.BackgroundOver = 20
	c := se.campaign(campaigns.Draft{})
	got, err := se.sending.Start(se.ctx, 1, c.ID, now0)
	if err != nil {
		t.Fatal(err)
	}
	if got.Status != campaigns.StatusScheduled || got.StartsAt == nil || !got.StartsAt.Equal(now0) || got.SnapshotAt != nil {
		t.Fatalf("started: %s at %v, snapshot %v", got.Status, got.StartsAt, got.SnapshotAt)
	}
	if n := se.count(`SELECT count(*) FROM river_job WHERE kind = 'campaigns.start_due' AND state = 'available'`); n != 1 {
		t.Fatalf("%d start jobs queued, want 1", n)
	}
	if n, err := se.sending.StartDue(se.ctx, now0); err != nil || n != 1 {
		t.Fatalf("start due: %d %v", n, err)
	}
	se.drain(c.ID, 1)
	se.checkOnce(c.ID)
	if n := se.count(`SELECT count(*) FROM email_messages WHERE campaign_id = $1`, c.ID); n != 30 {
		t.Fatalf("%d sent, want 30", n)
	}
	// At or under the threshold, Start snapshots itself.
	se.sending.BackgroundOver = 30
	small := se.campaign(campaigns.Draft{Name: "Small"})
	if got, err := se.sending.Start(se.ctx, 1, small.ID, now0); err != nil || got.Status != campaigns.StatusSending || got.SnapshotAt == nil {
		t.Fatalf("small start: %+v %v", got, err)
	}
}

// An A/B test with local-time sending: the test's share gets it at 09:00
// on each one's clock; the winner is picked 2 hours after the first zone's
// test (Shanghai, 01:00 UTC); then the rest get the winner at 09:00 on their
// own clock from then on — the same day where 09:00 is still ahead,
// the next day in Shanghai, where it has passed.
func TestABWithLocalTimeSending(t *testing.T) {
	se := newSendEnv(t, 40)
	zones := []string{"Asia/Shanghai", "Europe/London", "America/New_York", "America/Los_Angeles"}
	var all []string
	for i := 0; i < 10; i++ {
		all = append(all, zones...)
	}
	ids := se.zoned(all...)
	zoneOf := map[int64]string{}
	for i, id := range ids {
		zoneOf[id] = all[i]
	}
	ny := mustZone(t, "America/New_York")
	at := time.Date(2026, 3, 8, 9, 0, 0, 0, ny)
	c := se.campaign(campaigns.Draft{Schedule: campaigns.Schedule{Mode: campaigns.SendLocal, SendAt: &at},
		AB: campaigns.AB{Variants: []campaigns.Variant{{Key: "A", Subject: "Subject A"}, {Key: "B", Subject: "Subject B"}}, TestPercent: 50, WaitHours: 2}})
	first := time.Date(2026, 3, 7, 19, 0, 0, 0, time.UTC) // 09:00 in UTC+14
	if _, err := se.sending.Start(se.ctx, 1, c.ID, first.Add(-time.Hour)); err != nil {
		t.Fatal(err)
	}
	if n, err := se.sending.StartDue(se.ctx, first); err != nil || n != 1 {
		t.Fatalf("start due: %d %v", n, err)
	}
	var test []struct {
		ID      int64  `db:"customer_id"`
		Variant string `db:"variant"`
	}
	if err := se.db.Select(&test, `SELECT customer_id, variant FROM campaign_recipients WHERE campaign_id = $1`, c.ID); err != nil {
		t.Fatal(err)
	}
	inTest := map[int64]bool{}
	firstTest := time.Time{}
	for _, r := range test {
		if r.Variant != "" {
			inTest[r.ID] = true
			d := time.Date(2026, 3, 8, 9, 0, 0, 0, mustZone(t, zoneOf[r.ID]))
			if firstTest.IsZero() || d.Before(firstTest) {
				firstTest = d
			}
		}
	}
	if len(inTest) != 20 {
		t.Fatalf("%d in the test, want 20", len(inTest))
	}
	got, _ := se.store.Get(se.ctx, 1, c.ID)
	decideAt := firstTest.Add(2 * time.Hour)
	if got.ABDecideAt == nil || !got.ABDecideAt.Equal(decideAt) {
		t.Fatalf("winner due %v, want %v", got.ABDecideAt, decideAt)
	}
	want := func(id int64) time.Time {
		loc := mustZone(t, zoneOf[id])
		d := time.Date(2026, 3, 8, 9, 0, 0, 0, loc)
		if !inTest[id] && d.Before(decideAt) {
			d = time.Date(2026, 3, 9, 9, 0, 0, 0, loc)
		}
		return d
	}

	se.clock.Set(first)
	sentAt := map[int64]time.Time{}
	for step := 0; step < 30 && se.status(c.ID) == campaigns.StatusSending; step++ {
		now := se.clock.Now()
		se.drain(c.ID, 2)
		for id := range se.sentTo(c.ID) {
			if _, ok := sentAt[id]; !ok {
				sentAt[id] = now
			}
		}
		r, err := se.sending.SendBatch(se.ctx, 1, c.ID)
		if err != nil {
			t.Fatal(err)
		}
		if r.Finished || r.Stopped == campaigns.StatusSent {
			break
		}
		if r.Until.IsZero() {
			t.Fatalf("a batch that sent nothing, without a time to come back: %+v", r)
		}
		se.clock.Set(r.Until)
	}
	se.checkOnce(c.ID)
	if len(sentAt) != 40 {
		t.Fatalf("%d got it, want 40", len(sentAt))
	}
	for id, at := range sentAt {
		if !at.Equal(want(id)) {
			t.Errorf("customer %d (%s, in test %v) got it at %v, want %v", id, zoneOf[id], inTest[id], at.UTC(), want(id).UTC())
		}
	}
	if n := se.count(`SELECT count(*) FROM email_messages WHERE campaign_id = $1 AND campaign_variant IS NULL AND subject = 'Subject A'`, c.ID); n != 20 {
		t.Fatalf("%d of the rest got the winner (A: nothing was clicked), want 20", n)
	}
}
