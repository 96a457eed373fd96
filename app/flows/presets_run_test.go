package flows_test

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/cartwheel/cartwheel/app/flows"
	"github.com/cartwheel/cartwheel/app/signals"
)

// Every ready-made flow runs on the engine here, each with its own story:
// who gets which email, and how long after the trigger.

// livePreset creates the preset in the shop and publishes it.
func (v *eng) livePreset(key string) (int64, flows.Definition) {
	v.t.Helper()
	st := &flows.Store{DB: v.db, Lifecycle: v.e}
	f, err := st.CreateFromPreset(context.Background(), v.shopID, key, "en")
	if err != nil {
		v.t.Fatal(err)
	}
	ver, err := st.Publish(context.Background(), v.shopID, f.ID, false)
	if err != nil {
		v.t.Fatal(err)
	}
	def, err := st.Version(context.Background(), v.shopID, f.ID, ver)
	if err != nil {
		v.t.Fatal(err)
	}
	return f.ID, def
}

// until runs everything due up to d after t0, jumping from wake-up to
// wake-up, and calls between(now) first at each stop if given.
func (v *eng) until(d time.Duration) {
	v.t.Helper()
	end := t0.Add(d)
	for {
		v.runDue()
		var wake *time.Time
		if err := v.db.Get(&wake, `SELECT min(wake_at) FROM flow_runs WHERE shop_id = $1 AND status = 'active'`, v.shopID); err != nil {
			v.t.Fatal(err)
		}
		if wake == nil || wake.After(end) {
			v.at(d)
			v.runDue()
			return
		}
		if wake.After(v.clock()) {
			v.at(wake.Sub(t0))
		}
	}
}

// timeline is "after the trigger at t0: step offsets in hours", e.g.
// "24h,72h,120h", of the customer's flow emails.
func (v *eng) timeline(customerID int64) string {
	v.t.Helper()
	var ats []time.Time
	if err := v.db.Select(&ats, `SELECT s.at FROM flow_run_steps s JOIN flow_runs r ON r.id = s.run_id
		WHERE s.shop_id = $1 AND r.customer_id = $2 AND s.outcome = 'sent' ORDER BY s.at, s.id`, v.shopID, customerID); err != nil {
		v.t.Fatal(err)
	}
	var out []string
	for _, a := range ats {
		out = append(out, fmt.Sprintf("%.0fh", a.Sub(t0).Hours()))
	}
	return strings.Join(out, ",")
}

func TestPresetAbandonedCheckout(t *testing.T) {
	for _, c := range []struct{ key, want string }{
		{flows.PresetAbandonedCheckout, "24h,72h,120h"},
		{flows.PresetAbandonedCheckoutFast, "1h,24h,48h"},
	} {
		t.Run(c.key, func(t *testing.T) {
			v := newEng(t)
			v.livePreset(c.key)
			a, b := v.customer("a@example.com"), v.customer("b@example.com")
			for i, cust := range []int64{a, b} {
				tok := fmt.Sprint("t", i)
				v.checkout(cust, tok, t0, "60.00")
				v.signal(cust, signals.CheckoutStarted, tok, "")
			}
			v.until(30 * time.Hour)
			v.order(b, v.clock()) // b buys after the first email
			v.signal(b, signals.OrderPlaced, "1", "")
			v.until(8 * day)
			if got := v.timeline(a); got != c.want {
				t.Errorf("a (never bought): emails at %s, want %s", got, c.want)
			}
			if got, first := v.timeline(b), strings.Split(c.want, ",")[0]; got != first && !(c.key == flows.PresetAbandonedCheckoutFast && got == "1h,24h") {
				t.Errorf("b (bought at 30 h): emails at %s, want only those before the order", got)
			}
			var code int
			v.db.Get(&code, `SELECT count(*) FROM email_messages WHERE customer_id = $1 AND context ? 'discount_code'`, a)
			if code != 1 {
				t.Errorf("a got %d emails with a code, want the last one", code)
			}
		})
	}
}

func TestPresetAbandonedCart(t *testing.T) {
	v := newEng(t)
	v.livePreset(flows.PresetAbandonedCart)
	a, b := v.customer("a@example.com"), v.customer("b@example.com")
	v.signal(a, signals.CartUpdated, "cart-a", "")
	v.signal(b, signals.CartUpdated, "cart-b", "")
	v.at(30 * time.Minute) // b goes to checkout: the checkout flow's job now
	v.checkout(b, "co-b", v.clock(), "10")
	v.signal(b, signals.CheckoutStarted, "co-b", "")
	v.until(8 * day)
	if got := v.timeline(a); got != "24h,72h,120h" {
		t.Errorf("a: %s", got)
	}
	if got := v.timeline(b); got != "" {
		t.Errorf("b started a checkout: %s, want none from the cart flow", got)
	}
}

func TestPresetBrowseAndSearchAbandonment(t *testing.T) {
	v := newEng(t)
	v.livePreset(flows.PresetBrowseAbandonment)
	v.livePreset(flows.PresetSearchAbandonment)
	browser, searcher := v.customer("br@example.com"), v.customer("se@example.com")
	v.event(browser, "product_viewed", t0)
	v.signal(browser, signals.StorefrontEvent, "product_viewed", "")
	v.event(searcher, "search_submitted", t0)
	v.signal(searcher, signals.StorefrontEvent, "search_submitted", "")
	v.until(8 * day)
	bt, st := v.timeline(browser), v.timeline(searcher)
	if n := len(strings.Split(bt, ",")); bt == "" || n != 3 {
		t.Errorf("browse abandonment: %q, want three emails", bt)
	}
	if st == "" || strings.Contains(st, ",") {
		t.Errorf("search abandonment: %q, want one email", st)
	}
	// Searching again the same day starts nothing; the next day does.
	v.at(8*day + time.Hour)
	v.signal(searcher, signals.StorefrontEvent, "search_submitted", "")
	var runs int
	v.db.Get(&runs, `SELECT count(*) FROM flow_runs WHERE customer_id = $1`, searcher)
	if runs != 2 {
		t.Errorf("searcher has %d runs after searching a week later, want 2", runs)
	}
}

func TestPresetWelcomeSeries(t *testing.T) {
	v := newEng(t)
	v.livePreset(flows.PresetWelcomeSeries)
	a, b, imported := v.customer("a@example.com"), v.customer("b@example.com"), v.customer("i@example.com")
	v.signal(a, signals.ConsentChanged, "", `{"state":"subscribed","source":"wheel"}`)
	v.signal(b, signals.ConsentChanged, "", `{"state":"subscribed","source":"checkout"}`)
	v.signal(imported, signals.ConsentChanged, "", `{"state":"subscribed","source":"import"}`)
	v.runDue() // the welcome email goes at once
	v.at(2 * day)
	v.order(b, v.clock())
	v.until(40 * day)
	at, bt := strings.Split(v.timeline(a), ","), strings.Split(v.timeline(b), ",")
	if len(at) != 5 {
		t.Errorf("a: %v, want five emails", at)
	}
	var offer int
	v.db.Get(&offer, `SELECT count(*) FROM email_messages WHERE customer_id = $1 AND flow_step = 'email-4'`, b)
	if len(bt) != 4 || offer != 0 || at[0] != "0h" {
		t.Errorf("a: %v; b ordered on day 2 and got %v (offer email: %d): want a's first at 0h, b without the offer", at, bt, offer)
	}
	if got := v.timeline(imported); got != "" {
		t.Errorf("an import started the series: %s", got)
	}
}

func TestPresetOrderFollowUp(t *testing.T) {
	v := newEng(t)
	v.livePreset(flows.PresetOrderFollowUp)
	c := v.customer("o@example.com")
	ref := v.order(c, t0)
	v.signal(c, signals.OrderPlaced, ref, "")
	v.until(20 * day)
	if got := v.timeline(c); got != "0h,120h,336h" {
		t.Errorf("follow-up emails at %s, want 0h,120h,336h (thanks, cross-sell day 5, review day 14)", got)
	}
}

func TestPresetRepeatPurchaseAndWinBack(t *testing.T) {
	v := newEng(t)
	v.livePreset(flows.PresetRepeatPurchase)
	v.livePreset(flows.PresetWinBack)
	once, twice, recent := v.customer("once@example.com"), v.customer("twice@example.com"), v.customer("recent@example.com")
	v.exec(`UPDATE customers SET orders_count = 1, last_order_at = $2 WHERE id = $1`, once, t0.AddDate(0, 0, -180))
	v.exec(`UPDATE customers SET orders_count = 3, last_order_at = $2 WHERE id = $1`, twice, t0.AddDate(0, 0, -90))
	v.exec(`UPDATE customers SET orders_count = 1, last_order_at = $2 WHERE id = $1`, recent, t0.AddDate(0, 0, -180))
	// recent had an automated email 3 days ago: the presets' 7-day rule holds it.
	v.exec(`INSERT INTO email_messages (shop_id, customer_id, to_email, kind, dedupe_key, marketing, status, sent_at, created_at)
		VALUES ($1, $2, 'recent@example.com', 'flow', 'flow_run:999:step:x', true, 'sent', $3, $3)`, v.shopID, recent, t0.AddDate(0, 0, -3))
	if _, err := v.e.StartDateRuns(context.Background(), v.shopID, v.clock()); err != nil {
		t.Fatal(err)
	}
	v.until(10 * day)
	if got := v.timeline(once); got == "" {
		t.Error("one-time buyer at 180 days got no repeat-purchase email")
	}
	if got := v.timeline(twice); got == "" {
		t.Error("repeat buyer at 90 days got no win-back email")
	}
	if got := v.timeline(recent); got != "" {
		t.Errorf("customer with an automated email 3 days ago got %s", got)
	}
}

func TestPresetSunset(t *testing.T) {
	v := newEng(t)
	_, def := v.livePreset(flows.PresetSunset)
	quiet, opener := v.customer("quiet@example.com"), v.customer("opener@example.com")
	seg := fmt.Sprint(def.Trigger.SegmentID)
	v.signal(quiet, signals.SegmentEntered, seg, "")
	v.signal(opener, signals.SegmentEntered, seg, "")
	v.runDue()
	// opener opens the goodbye email.
	v.exec(`INSERT INTO email_events (shop_id, message_id, source, kind, occurred_at)
		SELECT shop_id, id, 'pixel', 'open', $2 FROM email_messages WHERE customer_id = $1`, opener, t0.Add(time.Hour))
	v.until(20 * day)
	var suppressed []string
	v.db.Select(&suppressed, `SELECT email || ':' || reason FROM suppressions WHERE shop_id = $1`, v.shopID)
	if len(suppressed) != 1 || suppressed[0] != "quiet@example.com:sunset" {
		t.Errorf("suppressed %v, want only quiet@example.com with reason sunset", suppressed)
	}
	if v.timeline(quiet) == "" || v.timeline(opener) == "" {
		t.Error("the goodbye email didn't go to both")
	}
}

func TestPresetBirthday(t *testing.T) {
	v := newEng(t)
	v.livePreset(flows.PresetBirthday)
	today, other := v.customer("bd@example.com"), v.customer("nobd@example.com")
	v.exec(`UPDATE customers SET properties = '{"birthday": "1991-03-02"}' WHERE id = $1`, today)
	v.exec(`UPDATE customers SET properties = '{"birthday": "1991-07-02"}' WHERE id = $1`, other)
	if _, err := v.e.StartDateRuns(context.Background(), v.shopID, v.clock()); err != nil {
		t.Fatal(err)
	}
	v.until(2 * day)
	var code int
	v.db.Get(&code, `SELECT count(*) FROM email_messages WHERE customer_id = $1 AND context ? 'discount_code'`, today)
	if v.timeline(today) != "0h" || code != 1 || v.timeline(other) != "" {
		t.Errorf("birthday: %q (%d with a code), other: %q", v.timeline(today), code, v.timeline(other))
	}
}
