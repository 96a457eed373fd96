package flows_test

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/cartwheel/cartwheel/app/flows"
	"github.com/cartwheel/cartwheel/app/signals"
)

const day = 24 * time.Hour

// abandonedCheckout: 1 h after the checkout, then reminders at day 1, 3, 5.
func abandonedCheckout(tmpl int64) flows.Definition {
	return flows.Definition{
		Trigger:     flows.Trigger{Type: flows.TriggerCheckoutAbandoned, Delay: dur("1h")},
		Exits:       []flows.Exit{{Kind: flows.ExitOrderPlaced}},
		ReEntry:     flows.ReEntry{Mode: flows.ReEntryEveryTime},
		Priority:    90,
		MaxLateness: dur("12h"),
		Steps: []flows.Step{
			{ID: "w1", Type: flows.StepWait, Wait: dur("23h")},
			{ID: "day1", Type: flows.StepSendEmail, TemplateID: tmpl},
			{ID: "w2", Type: flows.StepWait, Wait: dur("2d")},
			{ID: "day3", Type: flows.StepSendEmail, TemplateID: tmpl},
			{ID: "w3", Type: flows.StepWait, Wait: dur("2d")},
			{ID: "day5", Type: flows.StepSendEmail, TemplateID: tmpl},
		},
	}
}

func TestAbandonedCheckoutStopsAtTheOrder(t *testing.T) {
	v := newEng(t)
	v.publish(abandonedCheckout(v.tmpl))
	c := v.customer("ann@example.com")
	v.checkout(c, "tok-1", t0, "80.00")
	// Five checkout updates of one checkout make one run.
	for i := 0; i < 5; i++ {
		v.at(time.Duration(i) * time.Minute)
		v.signal(c, signals.CheckoutStarted, "tok-1", "")
	}
	var runs int
	v.db.Get(&runs, `SELECT count(*) FROM flow_runs WHERE customer_id = $1`, c)
	if runs != 1 {
		t.Fatalf("five checkout updates made %d runs, want 1", runs)
	}
	v.at(30 * time.Minute)
	v.runDue()
	if got := v.sent(c); len(got) != 0 {
		t.Fatalf("sent before the trigger's hour: %v", got)
	}
	v.at(day + 5*time.Minute)
	v.runDue()
	v.at(3*day + 5*time.Minute)
	v.runDue()
	if got := v.sent(c); !equal(got, []string{"day1", "day3"}) {
		t.Fatalf("by day 3 sent %v, want day1 day3", got)
	}
	v.at(4 * day)
	v.order(c, v.clock())
	v.signal(c, signals.OrderPlaced, "1", "")
	if st, why := v.runStatus(c); st != "exited" || why != "converted" && why != flows.ExitOrderPlaced {
		t.Fatalf("after the order the run is %s (%s), want exited at once", st, why)
	}
	v.at(6 * day)
	v.runDue()
	if got := v.sent(c); !equal(got, []string{"day1", "day3"}) {
		t.Fatalf("after the order sent %v, want only day1 day3", got)
	}
}

// The order's webhook came before the checkout's: no run at all.
func TestOrderBeforeCheckoutWebhookStartsNothing(t *testing.T) {
	v := newEng(t)
	v.publish(abandonedCheckout(v.tmpl))
	c := v.customer("bo@example.com")
	v.checkout(c, "tok-2", t0, "50.00")
	v.at(10 * time.Minute)
	v.order(c, v.clock())
	v.signal(c, signals.CheckoutStarted, "tok-2", "")
	v.at(7 * day)
	v.runDue()
	if got := v.sent(c); len(got) != 0 {
		t.Fatalf("sent %v after the order", got)
	}
}

// The order's signal never reached the engine (state is read at each step).
func TestOrderWithoutSignalStillStopsTheFlow(t *testing.T) {
	v := newEng(t)
	v.publish(abandonedCheckout(v.tmpl))
	c := v.customer("cy@example.com")
	v.checkout(c, "tok-3", t0, "50.00")
	v.signal(c, signals.CheckoutStarted, "tok-3", "")
	v.at(day + time.Minute)
	v.runDue()
	v.order(c, t0.Add(2*day))
	v.at(6 * day)
	v.runDue()
	if got := v.sent(c); !equal(got, []string{"day1"}) {
		t.Fatalf("sent %v, want day1 only", got)
	}
}

func sendNow(tmpl int64, trigger string, prio int, lateness string) flows.Definition {
	return flows.Definition{
		Trigger: flows.Trigger{Type: trigger}, ReEntry: flows.ReEntry{Mode: flows.ReEntryEveryTime},
		Priority: prio, MaxLateness: dur(lateness),
		Steps: []flows.Step{{ID: "only", Type: flows.StepSendEmail, TemplateID: tmpl}},
	}
}

func TestFrequencyCapDefersThenSkipsLowerPriority(t *testing.T) {
	v := newEng(t)
	v.exec(`UPDATE shops SET marketing_cap_hours = 16 WHERE id = $1`, v.shopID)
	v.publish(sendNow(v.tmpl, flows.TriggerOrderPlaced, 40, "24h"))    // post-purchase: waits up to a day
	v.publish(sendNow(v.tmpl, flows.TriggerCustomerCreated, 30, "2h")) // can't wait 16 h: skipped
	v.publish(sendNow(v.tmpl, flows.TriggerSegmentEntered, 95, "1h"))  // higher than both: goes at once
	c := v.customer("di@example.com")
	// A campaign email an hour ago holds every flow.
	v.exec(`INSERT INTO email_messages (shop_id, customer_id, to_email, kind, dedupe_key, marketing, status, sent_at)
		VALUES ($1, $2, 'di@example.com', 'campaign', 'campaign:1:customer:x', true, 'sent', $3)`, v.shopID, c, t0.Add(-time.Hour))
	v.signal(c, signals.OrderPlaced, "77", "")
	v.signal(c, signals.CustomerCreated, "", `{"source":"admin"}`)
	v.runDue()
	var deferred, skipped int
	v.db.Get(&deferred, `SELECT count(*) FROM flow_run_steps WHERE shop_id = $1 AND outcome = 'deferred' AND reason = 'frequency_cap'`, v.shopID)
	v.db.Get(&skipped, `SELECT count(*) FROM flow_run_steps WHERE shop_id = $1 AND outcome = 'skipped' AND reason = 'smart_sending'`, v.shopID)
	if deferred != 1 || skipped != 1 || len(v.sent(c)) != 0 {
		t.Fatalf("deferred %d (want 1), skipped %d (want 1), sent %v (want none)", deferred, skipped, v.sent(c))
	}
	// 15 h after the campaign: still held.
	v.at(14 * time.Hour)
	v.runDue()
	if len(v.sent(c)) != 0 {
		t.Fatalf("sent inside the cap: %v", v.sent(c))
	}
	v.at(15*time.Hour + time.Second)
	v.runDue()
	if got := v.sent(c); !equal(got, []string{"only"}) {
		t.Fatalf("after the cap sent %v, want the deferred post-purchase email", got)
	}
}

func TestQuietHoursMoveTheSendToTheirEnd(t *testing.T) {
	v := newEng(t)
	v.exec(`UPDATE shops SET quiet_hours_start = '21:00', quiet_hours_end = '08:00', iana_timezone = 'Asia/Shanghai' WHERE id = $1`, v.shopID)
	v.publish(sendNow(v.tmpl, flows.TriggerCustomerCreated, 50, "24h"))
	c := v.customer("ed@example.com")
	// 14:00 UTC = 22:00 in Shanghai.
	v.at(2 * time.Hour)
	v.signal(c, signals.CustomerCreated, "", "")
	v.runDue()
	var wake time.Time
	v.db.Get(&wake, `SELECT wake_at FROM flow_runs WHERE customer_id = $1`, c)
	want := time.Date(2026, 3, 3, 8, 0, 0, 0, time.FixedZone("CST", 8*3600))
	if len(v.sent(c)) != 0 || !wake.Equal(want) {
		t.Fatalf("sent %v, wakes %v; want nothing now and a wake at %v", v.sent(c), wake, want)
	}
	v.at(2*time.Hour + 10*time.Hour) // 08:00 Shanghai
	v.runDue()
	if got := v.sent(c); !equal(got, []string{"only"}) {
		t.Fatalf("after quiet hours sent %v", got)
	}
}

func TestWaitForEventBranchesOnWhatCameFirst(t *testing.T) {
	v := newEng(t)
	def := flows.Definition{
		Trigger: flows.Trigger{Type: flows.TriggerCustomerCreated}, ReEntry: flows.ReEntry{Mode: flows.ReEntryEveryTime},
		Priority: 50, MaxLateness: dur("24h"),
		Steps: []flows.Step{{ID: "wait", Type: flows.StepWaitForEvent, Event: flows.EventOrderPlaced, Timeout: dur("1d"),
			Branches: []flows.Branch{
				{Label: "ordered", Steps: []flows.Step{{ID: "thanks", Type: flows.StepSendEmail, TemplateID: v.tmpl}}},
				{Label: "timed out", Steps: []flows.Step{{ID: "nudge", Type: flows.StepSendEmail, TemplateID: v.tmpl}}},
			}}},
	}
	v.publish(def)
	a, b := v.customer("fa@example.com"), v.customer("fb@example.com")
	v.signal(a, signals.CustomerCreated, "", "")
	v.signal(b, signals.CustomerCreated, "", "")
	v.runDue()
	v.at(3 * time.Hour)
	v.order(a, v.clock())
	v.signal(a, signals.OrderPlaced, "1", "")
	v.runDue()
	if got := v.sent(a); !equal(got, []string{"thanks"}) {
		t.Fatalf("a ordered within the day: sent %v, want thanks at once", got)
	}
	if got := v.sent(b); len(got) != 0 {
		t.Fatalf("b: sent %v before the timeout", got)
	}
	v.at(day + time.Minute)
	v.runDue()
	if got := v.sent(b); !equal(got, []string{"nudge"}) {
		t.Fatalf("b timed out: sent %v, want nudge", got)
	}
}

func TestPauseHoldsAndResumeSkipsTooLate(t *testing.T) {
	v := newEng(t)
	def := sendNow(v.tmpl, flows.TriggerCustomerCreated, 50, "2h")
	def.Steps = append([]flows.Step{{ID: "w", Type: flows.StepWait, Wait: dur("1h")}}, def.Steps...)
	def.Steps = append(def.Steps, flows.Step{ID: "w2", Type: flows.StepWait, Wait: dur("1d")}, flows.Step{ID: "later", Type: flows.StepSendEmail, TemplateID: v.tmpl})
	f := v.publish(def)
	c := v.customer("gi@example.com")
	v.signal(c, signals.CustomerCreated, "", "")
	v.runDue()
	v.exec(`UPDATE flows SET status = 'paused' WHERE id = $1`, f)
	v.at(5 * time.Hour)
	v.runDue()
	if len(v.sent(c)) != 0 {
		t.Fatalf("a paused flow sent %v", v.sent(c))
	}
	v.exec(`UPDATE flows SET status = 'live' WHERE id = $1`, f)
	v.runDue()
	if got := v.sent(c); len(got) != 0 {
		t.Fatalf("4 h late with a 2 h lateness: sent %v, want skipped", got)
	}
	var why string
	v.db.Get(&why, `SELECT reason FROM flow_run_steps WHERE run_id = (SELECT id FROM flow_runs WHERE customer_id = $1) AND outcome = 'skipped'`, c)
	if why != flows.ReasonTooLate {
		t.Fatalf("skip reason %q, want too_late", why)
	}
	v.at(5*time.Hour + day)
	v.runDue()
	if got := v.sent(c); !equal(got, []string{"later"}) {
		t.Fatalf("the next email after resuming: %v", got)
	}
}

func TestRandomSplitIsStableAndFollowsPercentages(t *testing.T) {
	v := newEng(t)
	def := flows.Definition{
		Trigger: flows.Trigger{Type: flows.TriggerCustomerCreated}, ReEntry: flows.ReEntry{Mode: flows.ReEntryEveryTime},
		Priority: 50, MaxLateness: dur("24h"),
		Steps: []flows.Step{{ID: "ab", Type: flows.StepRandomSplit, Branches: []flows.Branch{
			{Percent: 80, Steps: []flows.Step{{ID: "a", Type: flows.StepSendEmail, TemplateID: v.tmpl}}},
			{Percent: 20, Steps: []flows.Step{{ID: "holdout", Type: flows.StepExit}}},
		}}},
	}
	v.publish(def)
	for i := 0; i < 200; i++ {
		c := v.customer(fmt.Sprintf("r%d@example.com", i))
		v.signal(c, signals.CustomerCreated, "", "")
	}
	v.runDue()
	var a int
	v.db.Get(&a, `SELECT count(*) FROM email_messages WHERE shop_id = $1 AND flow_step = 'a'`, v.shopID)
	if a < 130 || a > 190 {
		t.Fatalf("80 %% branch got %d of 200", a)
	}
}

// Two passes racing over the same due runs send each step once.
func TestConcurrentPassesSendEachStepOnce(t *testing.T) {
	v := newEng(t)
	v.publish(sendNow(v.tmpl, flows.TriggerCustomerCreated, 50, "24h"))
	const n = 60
	for i := 0; i < n; i++ {
		c := v.customer(fmt.Sprintf("p%d@example.com", i))
		v.signal(c, signals.CustomerCreated, "", "")
	}
	var wg sync.WaitGroup
	for w := 0; w < 4; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if _, err := v.e.RunDue(context.Background(), v.shopID, v.clock()); err != nil {
				t.Error(err)
			}
		}()
	}
	wg.Wait()
	var msgs, runs int
	v.db.Get(&msgs, `SELECT count(*) FROM email_messages WHERE shop_id = $1 AND kind = 'flow'`, v.shopID)
	v.db.Get(&runs, `SELECT count(*) FROM flow_runs WHERE shop_id = $1 AND status = 'completed'`, v.shopID)
	if msgs != n || runs != n {
		t.Fatalf("%d emails and %d completed runs, want %d each", msgs, runs, n)
	}
}

func TestPublishMovesWaitingRunsWhereTheStepExists(t *testing.T) {
	v := newEng(t)
	def := abandonedCheckout(v.tmpl)
	def.Trigger = flows.Trigger{Type: flows.TriggerCustomerCreated}
	f := v.publish(def)
	a := v.customer("ma@example.com")
	v.signal(a, signals.CustomerCreated, "", "")
	v.runDue() // waits at w1
	def2 := def
	def2.Steps = []flows.Step{{ID: "w1", Type: flows.StepWait, Wait: dur("23h")}, {ID: "new", Type: flows.StepSendEmail, TemplateID: v.tmpl}}
	raw := mustJSON(def2)
	v.exec(`INSERT INTO flow_versions (shop_id, flow_id, version, definition) VALUES ($1, $2, 2, $3)`, v.shopID, f, raw)
	v.exec(`UPDATE flows SET live_version = 2 WHERE id = $1`, f)
	tx := v.db.MustBegin()
	if err := v.e.Published(context.Background(), tx, v.shopID, f, 2, true); err != nil {
		t.Fatal(err)
	}
	tx.Commit()
	v.at(day)
	v.runDue()
	if got := v.sent(a); !equal(got, []string{"new"}) {
		t.Fatalf("moved run sent %v, want the new version's step", got)
	}
}

func TestTurnOffEndsRuns(t *testing.T) {
	v := newEng(t)
	f := v.publish(abandonedCheckout(v.tmpl))
	c := v.customer("to@example.com")
	v.checkout(c, "tok-off", t0, "10")
	v.signal(c, signals.CheckoutStarted, "tok-off", "")
	tx := v.db.MustBegin()
	if err := v.e.TurnedOff(context.Background(), tx, v.shopID, f); err != nil {
		t.Fatal(err)
	}
	tx.Commit()
	if st, why := v.runStatus(c); st != "ended" || why != flows.ReasonTurnedOff {
		t.Fatalf("run %s (%s) after turning off", st, why)
	}
}

func (v *eng) event(customerID int64, name string, at time.Time) {
	v.t.Helper()
	orderSeq++
	v.exec(`INSERT INTO events (shop_id, event_id, customer_id, name, occurred_at, source) VALUES ($1, $2, $3, $4, $5, 'pixel')`,
		v.shopID, fmt.Sprintf("ev-%d", orderSeq), customerID, name, at)
}

func browse(tmpl int64) flows.Definition {
	return flows.Definition{
		Trigger:  flows.Trigger{Type: flows.TriggerBrowseAbandoned, Delay: dur("1h")},
		Exits:    []flows.Exit{{Kind: flows.ExitAddedToCart}, {Kind: flows.ExitCheckout}, {Kind: flows.ExitOrderPlaced}},
		ReEntry:  flows.ReEntry{Mode: flows.ReEntryAfter, Days: 14},
		Priority: 70, MaxLateness: dur("12h"),
		Steps: []flows.Step{{ID: "b1", Type: flows.StepSendEmail, TemplateID: tmpl},
			{ID: "w", Type: flows.StepWait, Wait: dur("2d")}, {ID: "b3", Type: flows.StepSendEmail, TemplateID: tmpl}},
	}
}

func TestBrowseAbandonmentExitsOnAddToCartAndReentersAfter14Days(t *testing.T) {
	v := newEng(t)
	v.publish(browse(v.tmpl))
	a, b := v.customer("ba@example.com"), v.customer("bb@example.com")
	for _, c := range []int64{a, b} {
		v.event(c, "product_viewed", v.clock())
		v.signal(c, signals.StorefrontEvent, "product_viewed", "")
	}
	// b adds to cart within the hour: no browse email at all.
	v.at(20 * time.Minute)
	v.event(b, "product_added_to_cart", v.clock())
	v.signal(b, signals.StorefrontEvent, "product_added_to_cart", "")
	v.at(time.Hour + time.Minute)
	v.runDue()
	if !equal(v.sent(a), []string{"b1"}) || len(v.sent(b)) != 0 {
		t.Fatalf("after the hour: a got %v (want b1), b got %v (want none)", v.sent(a), v.sent(b))
	}
	// a adds to cart on day 2: the run ends at once.
	v.at(2 * day)
	v.event(a, "product_added_to_cart", v.clock())
	v.signal(a, signals.StorefrontEvent, "product_added_to_cart", "")
	if st, why := v.runStatus(a); st != "exited" {
		t.Fatalf("a's run is %s (%s) after adding to cart", st, why)
	}
	// Views within 14 days don't start it again; after 14 days they do.
	v.at(5 * day)
	v.signal(a, signals.StorefrontEvent, "product_viewed", "")
	v.at(16 * day)
	v.signal(a, signals.StorefrontEvent, "product_viewed", "")
	var runs int
	v.db.Get(&runs, `SELECT count(*) FROM flow_runs WHERE customer_id = $1`, a)
	if runs != 2 {
		t.Fatalf("a has %d runs, want 2 (re-entry after 14 days only)", runs)
	}
}

func TestCartActivityRestartsTheAbandonmentClock(t *testing.T) {
	v := newEng(t)
	v.publish(flows.Definition{
		Trigger: flows.Trigger{Type: flows.TriggerCartAbandoned, Delay: dur("1h")}, ReEntry: flows.ReEntry{Mode: flows.ReEntryEveryTime},
		Priority: 80, MaxLateness: dur("12h"),
		Steps: []flows.Step{{ID: "c1", Type: flows.StepSendEmail, TemplateID: v.tmpl}},
	})
	c := v.customer("ca@example.com")
	v.signal(c, signals.CartUpdated, "cart-1", "")
	v.at(50 * time.Minute)
	v.signal(c, signals.CartUpdated, "cart-1", "")
	v.at(61 * time.Minute)
	v.runDue()
	if len(v.sent(c)) != 0 {
		t.Fatalf("sent %v 11 minutes after the last cart activity", v.sent(c))
	}
	v.at(111 * time.Minute)
	v.runDue()
	if !equal(v.sent(c), []string{"c1"}) {
		t.Fatalf("an hour after the last activity sent %v, want c1", v.sent(c))
	}
}

func TestUnsubscribedCustomersStartNothingAndLeaveRuns(t *testing.T) {
	v := newEng(t)
	def := sendNow(v.tmpl, flows.TriggerCustomerCreated, 50, "24h")
	def.Exits = []flows.Exit{{Kind: flows.ExitUnsubscribed}}
	def.Steps = append([]flows.Step{{ID: "w", Type: flows.StepWait, Wait: dur("1h")}}, def.Steps...)
	v.publish(def)
	a, b := v.customer("ua@example.com"), v.customer("ub@example.com")
	v.exec(`UPDATE customers SET email_consent = 'not_subscribed' WHERE id = $1`, b)
	v.signal(a, signals.CustomerCreated, "", "")
	v.signal(b, signals.CustomerCreated, "", "")
	v.runDue()
	v.exec(`UPDATE customers SET email_consent = 'unsubscribed' WHERE id = $1`, a)
	v.signal(a, signals.ConsentChanged, "", `{"state":"unsubscribed","source":"admin"}`)
	if st, why := v.runStatus(a); st != "exited" || why != flows.ExitUnsubscribed {
		t.Fatalf("a's run %s (%s) after unsubscribing", st, why)
	}
	var runs int
	v.db.Get(&runs, `SELECT count(*) FROM flow_runs WHERE customer_id = $1`, b)
	if runs != 0 {
		t.Fatal("a run started for a customer who isn't subscribed")
	}
}

func TestDateTriggersStartOncePerDay(t *testing.T) {
	v := newEng(t)
	v.publish(flows.Definition{
		Trigger: flows.Trigger{Type: flows.TriggerDateProperty, DateProperty: flows.DateBirthday}, ReEntry: flows.ReEntry{Mode: flows.ReEntryEveryTime},
		Priority: 30, MaxLateness: dur("12h"),
		Steps: []flows.Step{{ID: "bday", Type: flows.StepSendEmail, TemplateID: v.tmpl}},
	})
	v.publish(flows.Definition{
		Trigger: flows.Trigger{Type: flows.TriggerDateProperty, DateProperty: flows.DateDaysAfterLastOrder, Days: 30}, ReEntry: flows.ReEntry{Mode: flows.ReEntryEveryTime},
		Priority: 30, MaxLateness: dur("12h"),
		Steps: []flows.Step{{ID: "d30", Type: flows.StepSendEmail, TemplateID: v.tmpl}},
	})
	a, b, c := v.customer("da@example.com"), v.customer("db@example.com"), v.customer("dc@example.com")
	v.exec(`UPDATE customers SET properties = '{"birthday": "1990-03-02"}' WHERE id = $1`, a)
	v.exec(`UPDATE customers SET properties = '{"birthday": "03-03"}' WHERE id = $1`, b)
	v.exec(`UPDATE customers SET last_order_at = $2 WHERE id = $1`, c, t0.AddDate(0, 0, -30))
	ctx := context.Background()
	v.at(-4 * time.Hour) // 08:00 UTC: before the hour
	if n, _ := v.e.StartDateRuns(ctx, v.shopID, v.clock()); n != 0 {
		t.Fatalf("started %d runs before %d:00", n, flows.DateHour)
	}
	v.at(0)
	for i := 0; i < 2; i++ {
		if _, err := v.e.StartDateRuns(ctx, v.shopID, v.clock()); err != nil {
			t.Fatal(err)
		}
		v.runDue()
	}
	if !equal(v.sent(a), []string{"bday"}) || len(v.sent(b)) != 0 || !equal(v.sent(c), []string{"d30"}) {
		t.Fatalf("a %v (want bday), b %v (want none), c %v (want d30)", v.sent(a), v.sent(b), v.sent(c))
	}
}

func TestDryRunCountsWhoWouldHaveEnteredAndTheirEmails(t *testing.T) {
	v := newEng(t)
	def := abandonedCheckout(v.tmpl)
	a, b, c, d := v.customer("xa@example.com"), v.customer("xb@example.com"), v.customer("xc@example.com"), v.customer("xd@example.com")
	v.exec(`UPDATE customers SET email_consent = 'unsubscribed' WHERE id = $1`, d)
	v.checkout(a, "k-a", t0.AddDate(0, 0, -20), "10") // never ordered: all three emails
	v.checkout(b, "k-b", t0.AddDate(0, 0, -20), "10") // ordered on day 2: the day-1 email only
	v.order(b, t0.AddDate(0, 0, -18))
	v.checkout(c, "k-c", t0.AddDate(0, 0, -20), "10") // ordered within the hour: not entered
	v.order(c, t0.AddDate(0, 0, -20).Add(30*time.Minute))
	v.checkout(d, "k-d", t0.AddDate(0, 0, -20), "10")  // not subscribed: not counted
	v.checkout(a, "k-a2", t0.AddDate(0, 0, -40), "10") // too old
	dr, err := v.e.DryRun(context.Background(), v.shopID, def, t0)
	if err != nil {
		t.Fatal(err)
	}
	if dr.Entered != 2 || dr.Emails != 4 || dr.EmailsByStep["day1"] != 2 || dr.EmailsByStep["day5"] != 1 {
		t.Fatalf("dry run: %+v; want 2 entered, 4 emails (day1 ×2, day3 ×1, day5 ×1)", dr)
	}
}

func TestStepNumbers(t *testing.T) {
	v := newEng(t)
	v.exec(`UPDATE shops SET marketing_cap_hours = 16 WHERE id = $1`, v.shopID)
	def := sendNow(v.tmpl, flows.TriggerCustomerCreated, 50, "24h")
	def.Steps = append(def.Steps, flows.Step{ID: "w", Type: flows.StepWait, Wait: dur("1d")}, flows.Step{ID: "two", Type: flows.StepSendEmail, TemplateID: v.tmpl})
	f := v.publish(def)
	a, b := v.customer("na@example.com"), v.customer("nb@example.com")
	v.exec(`INSERT INTO email_messages (shop_id, customer_id, to_email, kind, dedupe_key, marketing, status, sent_at)
		VALUES ($1, $2, 'nb@example.com', 'campaign', 'campaign:9:customer:b', true, 'sent', $3)`, v.shopID, b, t0.Add(-time.Hour))
	v.signal(a, signals.CustomerCreated, "", "")
	v.signal(b, signals.CustomerCreated, "", "")
	v.runDue()
	// Before the sender's job: a's email is reserved, not yet sent; the
	// trigger counts both runs.
	n, err := v.e.StepNumbers(context.Background(), v.shopID, f)
	if err != nil {
		t.Fatal(err)
	}
	if n["only"].Queued != 1 || n["only"].Sent != 0 || n["trigger"].Entered != 2 {
		t.Fatalf("numbers before sending %+v", n)
	}
	// The sender's outcome: a's first email went out.
	v.exec(`UPDATE email_messages SET status = 'sent', sent_at = $2 WHERE customer_id = $1 AND flow_step = 'only'`, a, t0)
	n, err = v.e.StepNumbers(context.Background(), v.shopID, f)
	if err != nil {
		t.Fatal(err)
	}
	if n["only"].Entered != 2 || n["only"].Sent != 1 || n["only"].Queued != 0 || n["only"].Deferred[flows.ReasonFrequencyCap] != 1 || n["w"].Waiting != 1 || n["only"].Waiting != 1 {
		t.Fatalf("numbers %+v", n)
	}
}

// The dev "Skip waits by 1 day" moves waiting runs up to a day earlier but
// never into the past: the step after a short wait goes out on time instead
// of a day late (past this flow's 2 h lateness: skipped), a two-day wait
// takes two presses, and another flow's runs stay where they are.
func TestRunDueNowSkipsWaitsWithoutMakingStepsLate(t *testing.T) {
	v := newEng(t)
	def := flows.Definition{
		Trigger: flows.Trigger{Type: flows.TriggerCustomerCreated}, ReEntry: flows.ReEntry{Mode: flows.ReEntryNever},
		Priority: 50, MaxLateness: dur("2h"),
		Steps: []flows.Step{
			{ID: "wait-1", Type: flows.StepWait, Wait: dur("1h")},
			{ID: "email-1", Type: flows.StepSendEmail, TemplateID: v.tmpl},
			{ID: "wait-2", Type: flows.StepWait, Wait: dur("2d")},
			{ID: "email-2", Type: flows.StepSendEmail, TemplateID: v.tmpl},
		},
	}
	f := v.publish(def)
	other := def
	other.Steps = []flows.Step{{ID: "later", Type: flows.StepWait, Wait: dur("1h")}, {ID: "x", Type: flows.StepSendEmail, TemplateID: v.tmpl}}
	g := v.publish(other)
	c := v.customer("dc@example.com")
	v.signal(c, signals.CustomerCreated, "", "")
	v.runDue()
	press := func() {
		t.Helper()
		if _, err := v.e.RunDueNow(context.Background(), v.shopID, f, 24*time.Hour); err != nil {
			t.Fatal(err)
		}
	}
	press()
	if got := v.sent(c); !equal(got, []string{"email-1"}) {
		t.Fatalf("after one press: %v, want [email-1]", got)
	}
	press()
	if got := v.sent(c); !equal(got, []string{"email-1"}) {
		t.Fatalf("after two presses (one day of a two-day wait): %v", got)
	}
	press()
	if got := v.sent(c); !equal(got, []string{"email-1", "email-2"}) {
		t.Fatalf("after three presses: %v, want [email-1 email-2]", got)
	}
	var late, waitingElsewhere int
	v.db.Get(&late, `SELECT count(*) FROM flow_run_steps WHERE shop_id = $1 AND outcome = 'skipped'`, v.shopID)
	v.db.Get(&waitingElsewhere, `SELECT count(*) FROM flow_runs WHERE shop_id = $1 AND flow_id = $2 AND status = 'active' AND wake_at = $3`, v.shopID, g, t0.Add(time.Hour))
	if late != 0 || waitingElsewhere != 1 {
		t.Fatalf("%d steps skipped (want 0); the other flow's run still at its hour: %d (want 1)", late, waitingElsewhere)
	}
}
