package flows_test

import (
	"testing"
	"time"

	"github.com/cartwheel/cartwheel/app/email/render"
	"github.com/cartwheel/cartwheel/app/flows"
)

func TestPresetsAreValidOnceTheirTemplatesExist(t *testing.T) {
	keys := map[string]bool{}
	for _, p := range flows.Presets() {
		keys[p.Key] = true
		tpl := map[string]int64{}
		r := flows.RefSet{Templates: map[int64]bool{}, Segments: map[int64]bool{42: true}}
		for i, e := range p.Emails {
			tpl[e.Slot] = int64(100 + i)
			r.Templates[int64(100+i)] = true
			for _, loc := range render.StarterLocales() {
				tt, ok := e.Template(loc)
				if !ok {
					t.Fatalf("%s: no %s template in %s", p.Key, e.Slot, loc)
				}
				if errs := render.Validate(tt); errs != nil {
					t.Fatalf("%s: %s in %s: %v", p.Key, e.Slot, loc, errs)
				}
			}
		}
		d := p.Definition(tpl, 42)
		if pr := flows.Validate(d, r); !pr.Empty() {
			t.Errorf("%s: %v", p.Key, pr)
		}
		if d.Priority != flows.DefaultPriority(d.Trigger.Type) || d.Trigger.Type != p.Trigger {
			t.Errorf("%s: priority %d trigger %s", p.Key, d.Priority, d.Trigger.Type)
		}
		// Every slot is sent by some step.
		used := map[int64]bool{}
		flows.Walk(d.Steps, func(s *flows.Step) { used[s.TemplateID] = true })
		for slot, id := range tpl {
			if !used[id] {
				t.Errorf("%s: template %s is never sent", p.Key, slot)
			}
		}
	}
	for _, k := range []string{flows.PresetAbandonedCheckout, flows.PresetAbandonedCheckoutFast, flows.PresetAbandonedCart,
		flows.PresetBrowseAbandonment, flows.PresetSearchAbandonment, flows.PresetWelcomeSeries, flows.PresetOrderFollowUp,
		flows.PresetRepeatPurchase, flows.PresetWinBack, flows.PresetSunset, flows.PresetBirthday} {
		if !keys[k] {
			t.Errorf("preset %s missing", k)
		}
	}
}

// sendTimes returns when each email of a straight flow goes out, after the
// trigger fires.
func sendTimes(d flows.Definition) []time.Duration {
	var at time.Duration
	var out []time.Duration
	for _, s := range d.Steps {
		switch s.Type {
		case flows.StepWait:
			at += s.Wait.D()
		case flows.StepSendEmail:
			out = append(out, at)
		}
	}
	return out
}

func TestPresetContent(t *testing.T) {
	get := func(key string) flows.Definition {
		p, ok := flows.PresetByKey(key)
		if !ok {
			t.Fatalf("no preset %s", key)
		}
		tpl := map[string]int64{}
		for i, e := range p.Emails {
			tpl[e.Slot] = int64(i + 1)
		}
		return p.Definition(tpl, 9)
	}
	hasExit := func(d flows.Definition, kind string) bool {
		for _, e := range d.Exits {
			if e.Kind == kind {
				return true
			}
		}
		return false
	}
	day := 24 * time.Hour
	co := get(flows.PresetAbandonedCheckout)
	if got := sendTimes(co); len(got) != 3 || got[0]+time.Hour != day || got[1]+time.Hour != 3*day || got[2]+time.Hour != 5*day {
		t.Errorf("abandoned checkout sends at %v after a 1h trigger delay", got)
	}
	last := co.Steps[len(co.Steps)-1]
	if co.Trigger.Type != flows.TriggerCheckoutAbandoned || co.Trigger.Delay.D() != time.Hour || !hasExit(co, flows.ExitOrderPlaced) ||
		last.Discount == nil || last.Discount.Expiry.D() != day || last.Discount.Scope != "all" {
		t.Errorf("abandoned checkout: %+v", co)
	}
	fast := get(flows.PresetAbandonedCheckoutFast)
	if got := sendTimes(fast); len(got) != 3 || got[0]+time.Hour != time.Hour || got[1]+time.Hour != day || got[2]+time.Hour != 2*day {
		t.Errorf("fast checkout sends at %v", got)
	}
	cart := get(flows.PresetAbandonedCart)
	if cart.Trigger.Type != flows.TriggerCartAbandoned || !hasExit(cart, flows.ExitCheckout) || !hasExit(cart, flows.ExitOrderPlaced) {
		t.Errorf("abandoned cart: %+v", cart)
	}
	br := get(flows.PresetBrowseAbandonment)
	if got := sendTimes(br); len(got) != 3 || got[2]+time.Hour != 5*day || br.ReEntry != (flows.ReEntry{Mode: flows.ReEntryAfter, Days: 14}) ||
		!hasExit(br, flows.ExitAddedToCart) || !hasExit(br, flows.ExitCheckout) || !hasExit(br, flows.ExitOrderPlaced) {
		t.Errorf("browse: %v %+v", got, br)
	}
	if s := get(flows.PresetSearchAbandonment); s.ReEntry != (flows.ReEntry{Mode: flows.ReEntryAfter, Days: 1}) {
		t.Errorf("search re-entry %+v", s.ReEntry)
	}
	w := get(flows.PresetWelcomeSeries)
	sends := 0
	flows.Walk(w.Steps, func(s *flows.Step) {
		if s.Type == flows.StepSendEmail {
			sends++
		}
	})
	cond := w.Steps[len(w.Steps)-1]
	if cond.Type != flows.StepCondition || cond.Conditions[0].Field != flows.CondOrdersSinceStart || cond.Branches[0].Steps[0].Discount == nil {
		t.Errorf("welcome: the offer email must sit behind 'no order since the start': %+v", cond)
	}
	for _, b := range cond.Branches[1].Steps {
		if b.Discount != nil {
			t.Errorf("welcome: a customer who ordered gets an offer (%s)", b.ID)
		}
	}
	if w.Trigger.Type != flows.TriggerSubscribed || sends != 6 { // 5 on each path: 3 shared + 2 on each branch
		t.Errorf("welcome: trigger %s, %d send steps", w.Trigger.Type, sends)
	}
	for _, s := range w.Trigger.Sources {
		if s == flows.SourceImport {
			t.Error("welcome series starts for imported subscribers by default")
		}
	}
	rp := get(flows.PresetRepeatPurchase)
	if rp.Trigger.DateProperty != flows.DateDaysAfterLastOrder || rp.Trigger.Days != 180 ||
		rp.Filters[0] != (flows.Condition{Field: flows.CondOrdersCount, Op: "eq", Number: 1}) ||
		rp.Filters[1] != (flows.Condition{Field: flows.CondNoAutomationEmail, Number: 7}) {
		t.Errorf("repeat purchase: %+v", rp)
	}
	wb := get(flows.PresetWinBack)
	if wb.Trigger.Days != 90 || wb.Filters[0].Op != "gte" || wb.Filters[0].Number != 2 || wb.Filters[1].Number != 7 || wb.Steps[0].Discount == nil {
		t.Errorf("win-back: %+v", wb)
	}
	sun := get(flows.PresetSunset)
	no := sun.Steps[2].Branches[1].Steps[0]
	if sun.Trigger.SegmentID != 9 || sun.Steps[1].Wait.D() != 15*day || no.SetProperty != "suppress" || no.SetValue != "sunset" {
		t.Errorf("sunset: %+v", sun)
	}
	bd := get(flows.PresetBirthday)
	if bd.Trigger.DateProperty != flows.DateBirthday || bd.Steps[0].Discount == nil {
		t.Errorf("birthday: %+v", bd)
	}
}

// Using a preset creates its templates (and segment) in the shop, and the
// draft it makes is ready to go live as it is, in both languages.
func TestCreateFromPreset(t *testing.T) {
	e := newEnv(t)
	for _, loc := range []string{render.LocaleEN, render.LocaleZH} {
		for _, p := range flows.Presets() {
			f, err := e.store.CreateFromPreset(e.ctx, 1, p.Key, loc)
			if err != nil {
				t.Fatalf("%s %s: %v", p.Key, loc, err)
			}
			if f.PresetKey != p.Key || f.Status != flows.StatusDraft || f.Name != p.Name {
				t.Fatalf("%s: %+v", p.Key, f)
			}
			pr, err := e.store.Check(e.ctx, 1, f.Draft)
			if err != nil || !pr.Empty() {
				t.Fatalf("%s %s not ready: %v %v", p.Key, loc, pr, err)
			}
			var locales []string
			flows.Walk(f.Draft.Steps, func(s *flows.Step) {
				if s.TemplateID != 0 {
					var l string
					if err := e.db.Get(&l, `SELECT locale FROM email_templates WHERE shop_id = 1 AND id = $1`, s.TemplateID); err != nil {
						t.Fatal(err)
					}
					locales = append(locales, l)
				}
			})
			for _, l := range locales {
				if l != loc {
					t.Fatalf("%s: template in %s, want %s", p.Key, l, loc)
				}
			}
		}
	}
	if n := e.count(`SELECT count(*) FROM segments WHERE shop_id = 1 AND name = 'No opens or clicks in 180 days'`); n != 1 {
		t.Fatalf("sunset segment created %d times", n)
	}
	if n := e.count(`SELECT count(*) FROM email_templates WHERE shop_id <> 1`); n != 0 {
		t.Fatalf("%d templates in another shop", n)
	}
	var ie flows.InputError
	if _, err := e.store.CreateFromPreset(e.ctx, 1, "nope", "en"); !errorsAs(err, &ie) || ie.Field != "preset" {
		t.Fatalf("unknown preset: %v", err)
	}
	before := e.count(`SELECT count(*) FROM email_templates`)
	if _, err := e.store.CreateFromPreset(e.ctx, 1, flows.PresetAbandonedCart, "fr"); !errorsAs(err, &ie) || ie.Field != "locale" {
		t.Fatalf("unknown locale: %v", err)
	}
	if after := e.count(`SELECT count(*) FROM email_templates`); after != before {
		t.Fatal("a refused preset wrote templates")
	}
}
