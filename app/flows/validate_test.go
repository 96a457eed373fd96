package flows_test

import (
	"strings"
	"testing"
	"time"

	"github.com/cartwheel/cartwheel/app/flows"
)

// ok is a definition that passes: the cases below break one thing each.
func ok() flows.Definition {
	return flows.Definition{
		Trigger:     flows.Trigger{Type: flows.TriggerCartAbandoned, Delay: flows.Duration(time.Hour)},
		ReEntry:     flows.ReEntry{Mode: flows.ReEntryEveryTime},
		Priority:    80,
		MaxLateness: flows.Duration(6 * time.Hour),
		Exits:       []flows.Exit{{Kind: flows.ExitOrderPlaced}},
		Steps: []flows.Step{
			{ID: "wait-1", Type: flows.StepWait, Wait: flows.Duration(24 * time.Hour)},
			{ID: "email-1", Type: flows.StepSendEmail, TemplateID: 7},
		},
	}
}

var refs = flows.RefSet{
	Templates:   map[int64]bool{7: true, 8: true},
	Segments:    map[int64]bool{3: true},
	Collections: map[int64]bool{55: true},
}

func TestValidateAcceptsAGoodFlow(t *testing.T) {
	if p := flows.Validate(ok(), refs); !p.Empty() {
		t.Fatalf("problems in a good flow: %v", p)
	}
}

func split(id, typ string, branches ...[]flows.Step) flows.Step {
	s := flows.Step{ID: id, Type: typ}
	for _, b := range branches {
		s.Branches = append(s.Branches, flows.Branch{Steps: b})
	}
	return s
}

func TestValidateFindsEachProblem(t *testing.T) {
	email := func(id string) flows.Step { return flows.Step{ID: id, Type: flows.StepSendEmail, TemplateID: 7} }
	cases := []struct {
		name   string
		change func(d *flows.Definition)
		step   string // "" = a flow-level problem
		want   string
	}{
		{"unknown trigger", func(d *flows.Definition) { d.Trigger.Type = "moon_phase" }, "", "not one Cartwheel knows"},
		{"no trigger", func(d *flows.Definition) { d.Trigger.Type = "" }, "", "Choose what starts the flow"},
		{"abandonment delay under a minute", func(d *flows.Definition) { d.Trigger.Delay = flows.Duration(30 * time.Second) }, "", "at least 1 minute"},
		{"segment trigger without segment", func(d *flows.Definition) { d.Trigger = flows.Trigger{Type: flows.TriggerSegmentEntered} }, "", "Choose the segment"},
		{"segment trigger with a deleted segment", func(d *flows.Definition) {
			d.Trigger = flows.Trigger{Type: flows.TriggerSegmentEntered, SegmentID: 99}
		}, "", "no longer exists"},
		{"date trigger without days", func(d *flows.Definition) {
			d.Trigger = flows.Trigger{Type: flows.TriggerDateProperty, DateProperty: flows.DateDaysAfterLastOrder}
		}, "", "how many days after the last order"},
		{"run condition as trigger filter", func(d *flows.Definition) {
			d.Trigger.Filters = []flows.Condition{{Field: flows.CondOrdersSinceStart, Op: "eq"}}
		}, "", "can't be a trigger filter"},
		{"flow filter on a missing segment", func(d *flows.Definition) {
			d.Filters = []flows.Condition{{Field: flows.CondInSegment, SegmentID: 4}}
		}, "", "segment that exists"},
		{"left segment exit on a cart flow", func(d *flows.Definition) { d.Exits = append(d.Exits, flows.Exit{Kind: flows.ExitLeftSegment}) }, "", "entering a segment"},
		{"custom exit without condition", func(d *flows.Definition) { d.Exits = append(d.Exits, flows.Exit{Kind: flows.ExitCondition}) }, "", "needs a condition"},
		{"empty step id", func(d *flows.Definition) { d.Steps[0].ID = "" }, "", "has no id"},
		{"duplicate step id", func(d *flows.Definition) { d.Steps[1].ID = "wait-1" }, "wait-1", "same id"},
		{"missing template", func(d *flows.Definition) { d.Steps[1].TemplateID = 0 }, "email-1", "Choose the email template"},
		{"deleted template", func(d *flows.Definition) { d.Steps[1].TemplateID = 9 }, "email-1", "no longer exists"},
		{"wait of zero", func(d *flows.Definition) { d.Steps[0].Wait = 0 }, "wait-1", "This wait is zero"},
		{"bad until time", func(d *flows.Definition) { d.Steps[0].UntilTime = "25:00" }, "wait-1", "HH:MM"},
		{"wait for event without event", func(d *flows.Definition) {
			d.Steps = append(d.Steps, split("w", flows.StepWaitForEvent, []flows.Step{email("a")}, []flows.Step{email("b")}))
			d.Steps[2].Timeout = flows.Duration(time.Hour)
		}, "w", "Choose the event"},
		{"wait for event without timeout", func(d *flows.Definition) {
			s := split("w", flows.StepWaitForEvent, []flows.Step{email("a")}, []flows.Step{email("b")})
			s.Event = flows.EventCheckoutCompleted
			d.Steps = append(d.Steps, s)
		}, "w", "timeout"},
		{"condition without conditions", func(d *flows.Definition) {
			d.Steps = append(d.Steps, split("c", flows.StepCondition, []flows.Step{email("a")}, []flows.Step{email("b")}))
		}, "c", "at least one condition"},
		{"condition with three branches", func(d *flows.Definition) {
			s := split("c", flows.StepCondition, []flows.Step{email("a")}, []flows.Step{email("b")}, []flows.Step{email("x")})
			s.Conditions = []flows.Condition{{Field: flows.CondHasTag, Text: "vip"}}
			d.Steps = append(d.Steps, s)
		}, "c", "exactly 2 branches"},
		{"random split with one path", func(d *flows.Definition) {
			s := split("r", flows.StepRandomSplit, []flows.Step{email("a")})
			s.Branches[0].Percent = 100
			d.Steps = append(d.Steps, s)
		}, "r", "at least 2 paths"},
		{"random split not summing to 100", func(d *flows.Definition) {
			s := split("r", flows.StepRandomSplit, []flows.Step{email("a")}, []flows.Step{email("b")})
			s.Branches[0].Percent, s.Branches[1].Percent = 50, 40
			d.Steps = append(d.Steps, s)
		}, "r", "add up to 100% (now 90%)"},
		{"branch that leads nowhere", func(d *flows.Definition) {
			s := split("c", flows.StepCondition, []flows.Step{email("a")}, nil)
			s.Conditions = []flows.Condition{{Field: flows.CondHasTag, Text: "vip"}}
			d.Steps = append(d.Steps, s)
		}, "c", "“No” branch leads nowhere"},
		{"branches on a wait", func(d *flows.Definition) {
			d.Steps[0].Branches = []flows.Branch{{Steps: []flows.Step{email("a")}}}
		}, "wait-1", "can't have branches"},
		{"discount without scope", func(d *flows.Definition) {
			d.Steps[1].Discount = &flows.Discount{Kind: "percentage", Value: 10, Expiry: flows.Duration(24 * time.Hour)}
		}, "email-1", "what the discount applies to"},
		{"discount without value", func(d *flows.Definition) {
			d.Steps[1].Discount = &flows.Discount{Kind: "percentage", Scope: "all", Expiry: flows.Duration(24 * time.Hour)}
		}, "email-1", "value from 1 to 100"},
		{"discount on a missing collection", func(d *flows.Definition) {
			d.Steps[1].Discount = &flows.Discount{Kind: "fixed_amount", Value: 5, Scope: "collection", CollectionID: 56, Expiry: flows.Duration(24 * time.Hour)}
		}, "email-1", "collection the discount applies to"},
		{"send after an exit", func(d *flows.Definition) {
			d.Steps = []flows.Step{{ID: "x", Type: flows.StepExit}, email("email-1")}
		}, "email-1", "comes after an Exit"},
		{"priority 0", func(d *flows.Definition) { d.Priority = 0 }, "", "Priority"},
		{"priority 101", func(d *flows.Definition) { d.Priority = 101 }, "", "Priority"},
		{"max lateness under an hour", func(d *flows.Definition) { d.MaxLateness = flows.Duration(30 * time.Minute) }, "", "Maximum lateness"},
		{"re-entry after 0 days", func(d *flows.Definition) { d.ReEntry = flows.ReEntry{Mode: flows.ReEntryAfter} }, "", "at least 1 day"},
		{"no re-entry choice", func(d *flows.Definition) { d.ReEntry = flows.ReEntry{} }, "", "enter the flow again"},
		{"no email at all", func(d *flows.Definition) { d.Steps = d.Steps[:1] }, "", "sends no email"},
		{"update profile with nothing to do", func(d *flows.Definition) {
			d.Steps = append(d.Steps, flows.Step{ID: "u", Type: flows.StepUpdate})
		}, "u", "tag to add or a property"},
		{"unknown step type", func(d *flows.Definition) { d.Steps[0].Type = "teleport" }, "wait-1", "not one Cartwheel knows"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			d := ok()
			c.change(&d)
			p := flows.Validate(d, refs)
			var got []string
			if c.step == "" {
				got = p.Flow
			} else {
				got = p.Steps[c.step]
			}
			for _, m := range got {
				if strings.Contains(m, c.want) {
					return
				}
			}
			t.Fatalf("want a problem containing %q on %q; got %+v", c.want, c.step, p)
		})
	}
}

func TestValidateNestedStepsAreChecked(t *testing.T) {
	d := ok()
	inner := flows.Step{ID: "deep-wait", Type: flows.StepWait}
	s := split("c", flows.StepCondition, []flows.Step{inner, {ID: "deep-send", Type: flows.StepSendEmail, TemplateID: 8}}, []flows.Step{{ID: "end", Type: flows.StepExit}})
	s.Conditions = []flows.Condition{{Field: flows.CondOrdersSinceStart, Op: "eq"}}
	d.Steps = append(d.Steps, s)
	p := flows.Validate(d, refs)
	if len(p.Steps["deep-wait"]) != 1 || len(p.Steps) != 1 || len(p.Flow) != 0 {
		t.Fatalf("want exactly the nested zero wait marked, got %+v", p)
	}
	if p.Count() != 1 || !strings.Contains(p.Error(), "deep-wait") {
		t.Fatalf("Count/Error: %d %q", p.Count(), p.Error())
	}
}
