package flows_test

import (
	"testing"
	"time"

	"github.com/cartwheel/cartwheel/app/flows"
	"github.com/cartwheel/cartwheel/app/signals"
)

func zone(t *testing.T, name string) *time.Location {
	t.Helper()
	l, err := time.LoadLocation(name)
	if err != nil {
		t.Fatal(err)
	}
	return l
}

func (v *eng) wakeAt(customerID int64) time.Time {
	v.t.Helper()
	var wake time.Time
	if err := v.db.Get(&wake, `SELECT wake_at FROM flow_runs WHERE shop_id = $1 AND customer_id = $2 ORDER BY id DESC LIMIT 1`, v.shopID, customerID); err != nil {
		v.t.Fatal(err)
	}
	return wake
}

// Quiet hours are the recipient's: a shop in New York with quiet hours
// 21:00–08:00, a customer in Shanghai whose send comes due at 22:00 there
// waits until 08:00 Shanghai time, while a customer of unknown zone follows
// New York (09:00 there: sent at once; 22:00 there: moved to 08:00 New York).
func TestQuietHoursAreTheRecipientsWhenKnown(t *testing.T) {
	v := newEng(t)
	v.exec(`UPDATE shops SET quiet_hours_start = '21:00', quiet_hours_end = '08:00', iana_timezone = 'America/New_York' WHERE id = $1`, v.shopID)
	v.publish(sendNow(v.tmpl, flows.TriggerCustomerCreated, 50, "24h"))
	sh, ny := zone(t, "Asia/Shanghai"), zone(t, "America/New_York")
	shanghai := v.customer("shanghai@example.com")
	v.exec(`UPDATE customers SET country = 'CN', timezone = 'Asia/Shanghai' WHERE id = $1`, shanghai)
	unknown := v.customer("unknown@example.com")

	// 14:00 UTC: 22:00 in Shanghai, 09:00 in New York.
	v.at(2 * time.Hour)
	v.signal(shanghai, signals.CustomerCreated, "", "")
	v.signal(unknown, signals.CustomerCreated, "", "")
	v.runDue()
	if got, want := v.wakeAt(shanghai), time.Date(2026, 3, 3, 8, 0, 0, 0, sh); len(v.sent(shanghai)) != 0 || !got.Equal(want) {
		t.Fatalf("Shanghai customer: sent %v, wakes %v; want nothing yet and a wake at %v", v.sent(shanghai), got, want)
	}
	if got := v.sent(unknown); !equal(got, []string{"only"}) {
		t.Fatalf("customer of unknown zone at 09:00 New York time: sent %v, want the email at once", got)
	}
	v.at(12 * time.Hour) // 08:00 Shanghai
	v.runDue()
	if got := v.sent(shanghai); !equal(got, []string{"only"}) {
		t.Fatalf("Shanghai customer after 08:00 there: sent %v", got)
	}

	// 03:00 UTC the next day: 22:00 in New York, 11:00 in Shanghai.
	unknown2 := v.customer("unknown2@example.com")
	shanghai2 := v.customer("shanghai2@example.com")
	v.exec(`UPDATE customers SET timezone = 'Asia/Shanghai' WHERE id = $1`, shanghai2)
	v.at(15 * time.Hour)
	v.signal(unknown2, signals.CustomerCreated, "", "")
	v.signal(shanghai2, signals.CustomerCreated, "", "")
	v.runDue()
	if got, want := v.wakeAt(unknown2), time.Date(2026, 3, 3, 8, 0, 0, 0, ny); len(v.sent(unknown2)) != 0 || !got.Equal(want) {
		t.Fatalf("customer of unknown zone at 22:00 New York: sent %v, wakes %v; want a wake at %v", v.sent(unknown2), got, want)
	}
	if got := v.sent(shanghai2); !equal(got, []string{"only"}) {
		t.Fatalf("Shanghai customer at 11:00 there: sent %v, want the email at once", got)
	}
}

// "Wait until 09:00 on weekdays" lands at 09:00 in each recipient's zone
// (the shop's for a customer of unknown zone), across New York's switch to
// summer time on 8 March 2026.
func TestWaitUntilTimeOfDayIsTheRecipients(t *testing.T) {
	v := newEng(t)
	v.exec(`UPDATE shops SET iana_timezone = 'America/New_York' WHERE id = $1`, v.shopID)
	v.publish(flows.Definition{
		Trigger: flows.Trigger{Type: flows.TriggerCustomerCreated}, ReEntry: flows.ReEntry{Mode: flows.ReEntryEveryTime},
		Priority: 50, MaxLateness: dur("24h"),
		Steps: []flows.Step{
			{ID: "w", Type: flows.StepWait, Wait: dur("24h"), UntilDays: []int{1, 2, 3, 4, 5}, UntilTime: "09:00"},
			{ID: "s", Type: flows.StepSendEmail, TemplateID: v.tmpl},
		},
	})
	who := map[string]int64{}
	for _, tz := range []string{"Asia/Shanghai", "America/Los_Angeles", "Europe/London", ""} {
		c := v.customer("c" + tz + "@example.com")
		v.exec(`UPDATE customers SET timezone = $2 WHERE id = $1`, c, tz)
		who[tz] = c
	}
	// Friday 6 March 12:00 UTC; after 24 h it is Saturday everywhere.
	v.at(4 * 24 * time.Hour)
	for _, c := range who {
		v.signal(c, signals.CustomerCreated, "", "")
	}
	v.runDue()
	for tz, c := range who {
		name := tz
		if name == "" {
			name = "America/New_York" // the shop's
		}
		want := time.Date(2026, 3, 9, 9, 0, 0, 0, zone(t, name)) // Monday 09:00 local
		if got := v.wakeAt(c); !got.Equal(want) {
			t.Errorf("zone %q: wakes %v, want %v", tz, got.In(zone(t, name)), want)
		}
	}
}

// An import's subscribe starts a subscribed-trigger flow only when the
// merchant ticked the box (start_flows in the signal), and then only flows
// whose sources are any or list imports.
func TestImportSubscribesStartFlowsOnlyWhenAsked(t *testing.T) {
	v := newEng(t)
	anySource := v.publish(flows.Definition{Trigger: flows.Trigger{Type: flows.TriggerSubscribed}, Priority: 50,
		Steps: []flows.Step{{ID: "w", Type: flows.StepWait, Wait: dur("24h")}}})
	wheelOnly := v.publish(flows.Definition{Trigger: flows.Trigger{Type: flows.TriggerSubscribed, Sources: []string{flows.SourceWheel}}, Priority: 50,
		Steps: []flows.Step{{ID: "w", Type: flows.StepWait, Wait: dur("24h")}}})
	runs := func(flowID, customerID int64) int {
		var n int
		v.db.Get(&n, `SELECT count(*) FROM flow_runs WHERE flow_id = $1 AND customer_id = $2`, flowID, customerID)
		return n
	}
	off, on, wheel := v.customer("off@example.com"), v.customer("on@example.com"), v.customer("wheel@example.com")
	v.signal(off, signals.ConsentChanged, "", `{"state":"subscribed","source":"import"}`)
	v.signal(on, signals.ConsentChanged, "", `{"state":"subscribed","source":"import","start_flows":true}`)
	v.signal(wheel, signals.ConsentChanged, "", `{"state":"subscribed","source":"wheel"}`)
	for _, c := range []struct {
		name           string
		flow, customer int64
		want           int
	}{
		{"import, box off, any-source flow", anySource, off, 0},
		{"import, box on, any-source flow", anySource, on, 1},
		{"import, box on, wheel-only flow", wheelOnly, on, 0},
		{"wheel, any-source flow", anySource, wheel, 1},
		{"wheel, wheel-only flow", wheelOnly, wheel, 1},
	} {
		if got := runs(c.flow, c.customer); got != c.want {
			t.Errorf("%s: %d runs, want %d", c.name, got, c.want)
		}
	}
}
