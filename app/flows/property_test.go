package flows_test

import (
	"fmt"
	"math/rand/v2"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/cartwheel/cartwheel/app/flows"
	"github.com/cartwheel/cartwheel/app/signals"
)

// The property test drives random flows with random streams of checkouts
// and orders on a clock that ticks every 10 minutes, and compares every
// email the engine queued (who, which step, when) with a model of the same
// rules written the plain way: for each trigger, walk the steps adding up
// the waits, and stop at the first order the rules say ends the run.

const tick = 10 * time.Minute

type mFlow struct {
	id        int64
	def       flows.Definition
	orderExit bool
}

type mEvent struct {
	at       time.Time
	customer int
	checkout string // "" for an order
}

func randomFlow(r *rand.Rand, tmpl int64) mFlow {
	var f mFlow
	d := &f.def
	if r.IntN(2) == 0 {
		d.Trigger = flows.Trigger{Type: flows.TriggerOrderPlaced}
	} else {
		d.Trigger = flows.Trigger{Type: flows.TriggerCheckoutAbandoned, Delay: flows.Duration(time.Duration(1+r.IntN(3)) * time.Hour)}
	}
	if r.IntN(2) == 0 {
		d.Exits = []flows.Exit{{Kind: flows.ExitOrderPlaced}}
		f.orderExit = true
	}
	switch r.IntN(3) {
	case 0:
		d.ReEntry = flows.ReEntry{Mode: flows.ReEntryNever}
	case 1:
		d.ReEntry = flows.ReEntry{Mode: flows.ReEntryEveryTime}
	default:
		d.ReEntry = flows.ReEntry{Mode: flows.ReEntryAfter, Days: 2}
	}
	d.Priority, d.MaxLateness = 50, dur("12h")
	for i := 0; i < 1+r.IntN(3); i++ {
		if w := r.IntN(4); w > 0 {
			d.Steps = append(d.Steps, flows.Step{ID: fmt.Sprintf("w%d", i), Type: flows.StepWait, Wait: flows.Duration(time.Duration(w*(3+r.IntN(30))) * tick)})
		}
		d.Steps = append(d.Steps, flows.Step{ID: fmt.Sprintf("s%d", i), Type: flows.StepSendEmail, TemplateID: tmpl})
	}
	return f
}

// model returns "customer/flow/step@minutes" for every email the rules give.
func model(fs []mFlow, evs []mEvent, customers int, horizon time.Time) []string {
	var out []string
	for c := 0; c < customers; c++ {
		var orders []time.Time
		var mine []mEvent
		for _, e := range evs {
			if e.customer == c {
				mine = append(mine, e)
				if e.checkout == "" {
					orders = append(orders, e.at)
				}
			}
		}
		orderIn := func(from time.Time, fromIncl bool, to time.Time) bool {
			for _, o := range orders {
				if (o.After(from) || fromIncl && o.Equal(from)) && !o.After(to) {
					return true
				}
			}
			return false
		}
		for fi, f := range fs {
			var starts []time.Time
			for _, e := range mine {
				abandon := f.def.Trigger.Type == flows.TriggerCheckoutAbandoned
				if abandon != (e.checkout != "") {
					continue
				}
				blocked := false
				for _, s := range starts {
					switch f.def.ReEntry.Mode {
					case flows.ReEntryNever:
						blocked = true
					case flows.ReEntryAfter:
						if s.After(e.at.Add(-time.Duration(f.def.ReEntry.Days) * 24 * time.Hour)) {
							blocked = true
						}
					}
				}
				if blocked {
					continue
				}
				starts = append(starts, e.at)
				t := e.at
				if abandon {
					t = e.at.Add(f.def.Trigger.Delay.D())
					if orderIn(e.at, true, t) {
						continue
					}
				}
				for _, s := range f.def.Steps {
					t = t.Add(s.Wait.D())
					if t.After(horizon) {
						break
					}
					if abandon && orderIn(e.at, true, t) || f.orderExit && orderIn(e.at, false, t) {
						break
					}
					if s.Type == flows.StepSendEmail {
						out = append(out, fmt.Sprintf("%d/%d/%s@%d", c, fi, s.ID, int(t.Sub(t0).Minutes())))
					}
				}
			}
		}
	}
	sort.Strings(out)
	return out
}

func TestEngineMatchesModel(t *testing.T) {
	for trial := 0; trial < 6; trial++ {
		seed := uint64(time.Now().UnixNano()) + uint64(trial)
		t.Run(fmt.Sprint(seed), func(t *testing.T) { checkAgainstModel(t, seed) })
	}
}

func checkAgainstModel(t *testing.T, seed uint64) {
	r := rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15))
	v := newEng(t)
	var fs []mFlow
	for i := 0; i < 1+r.IntN(3); i++ {
		f := randomFlow(r, v.tmpl)
		f.id = v.publish(f.def)
		fs = append(fs, f)
	}
	const customers = 6
	ids := make([]int64, customers)
	for i := range ids {
		ids[i] = v.customer(fmt.Sprintf("m%d-%d@example.com", seed, i))
	}
	var evs []mEvent
	used := map[string]bool{}
	for i := 0; i < 4+r.IntN(14); i++ {
		e := mEvent{customer: r.IntN(customers), at: t0.Add(time.Duration(r.IntN(6*24*6)) * tick)}
		key := fmt.Sprintf("%d@%v", e.customer, e.at)
		if used[key] {
			continue // one event per customer and tick keeps "same instant" out of the model
		}
		used[key] = true
		if r.IntN(2) == 0 {
			e.checkout = fmt.Sprintf("tok-%d-%d", seed, i)
		}
		evs = append(evs, e)
	}
	sort.Slice(evs, func(i, j int) bool { return evs[i].at.Before(evs[j].at) })
	horizon := t0.Add(10 * 24 * time.Hour)

	// The engine: apply each tick's events, then run what is due; jump
	// straight to the next tick where something happens.
	next := 0
	for now := t0; !now.After(horizon); {
		v.at(now.Sub(t0))
		for next < len(evs) && !evs[next].at.After(now) {
			e := evs[next]
			c := ids[e.customer]
			if e.checkout != "" {
				v.checkout(c, e.checkout, e.at, "20.00")
				v.signal(c, signals.CheckoutStarted, e.checkout, "")
			} else {
				ref := v.order(c, e.at)
				v.signal(c, signals.OrderPlaced, ref, "")
			}
			next++
		}
		v.runDue()
		following := horizon.Add(tick)
		if next < len(evs) {
			following = evs[next].at
		}
		var wake *time.Time
		if err := v.db.Get(&wake, `SELECT min(wake_at) FROM flow_runs WHERE shop_id = $1 AND status = 'active'`, v.shopID); err != nil {
			t.Fatal(err)
		}
		if wake != nil && wake.Before(following) {
			following = *wake
		}
		if following.Sub(t0)%tick != 0 {
			following = t0.Add((following.Sub(t0)/tick + 1) * tick)
		}
		if !following.After(now) {
			following = now.Add(tick)
		}
		now = following
	}

	var rows []struct {
		Customer int64     `db:"customer_id"`
		Flow     int64     `db:"flow_id"`
		Step     string    `db:"step_id"`
		At       time.Time `db:"at"`
	}
	if err := v.db.Select(&rows, `SELECT r.customer_id, s.flow_id, s.step_id, s.at FROM flow_run_steps s JOIN flow_runs r ON r.id = s.run_id
		WHERE s.shop_id = $1 AND s.outcome = 'sent'`, v.shopID); err != nil {
		t.Fatal(err)
	}
	var msgs int
	v.db.Get(&msgs, `SELECT count(*) FROM email_messages WHERE shop_id = $1`, v.shopID)
	var got []string
	for _, row := range rows {
		ci, fi := -1, -1
		for i, id := range ids {
			if id == row.Customer {
				ci = i
			}
		}
		for i, f := range fs {
			if f.id == row.Flow {
				fi = i
			}
		}
		got = append(got, fmt.Sprintf("%d/%d/%s@%d", ci, fi, row.Step, int(row.At.Sub(t0).Minutes())))
	}
	sort.Strings(got)
	want := model(fs, evs, customers, horizon)
	t.Logf("%d flows, %d events: %d emails", len(fs), len(evs), len(got))
	if strings.Join(got, " ") != strings.Join(want, " ") || msgs != len(got) {
		var desc []string
		for i, f := range fs {
			desc = append(desc, fmt.Sprintf("flow %d: %s exits=%v reentry=%+v steps=%v", i, f.def.Trigger.Type, f.orderExit, f.def.ReEntry, stepDesc(f.def)))
		}
		for _, e := range evs {
			desc = append(desc, fmt.Sprintf("event c%d @%d checkout=%q", e.customer, int(e.at.Sub(t0).Minutes()), e.checkout))
		}
		t.Fatalf("seed %d: engine sent (%d ledger rows)\n  %v\nmodel says\n  %v\n%s", seed, msgs, got, want, strings.Join(desc, "\n"))
	}
}

func stepDesc(d flows.Definition) string {
	var s []string
	for _, st := range d.Steps {
		if st.Type == flows.StepWait {
			s = append(s, st.ID+":"+st.Wait.D().String())
		} else {
			s = append(s, st.ID)
		}
	}
	return fmt.Sprintf("delay=%s %s", d.Trigger.Delay.D(), strings.Join(s, ","))
}
