package flows

import (
	"fmt"
	"regexp"
	"sort"
	"strings"
	"time"
)

// Problems are what stops a definition from going live, in words a merchant
// understands: flow-level problems (trigger, settings, "no email at all") and
// problems of one step, keyed by step id, so the editor can put a red dot on
// that step.
type Problems struct {
	Flow  []string            `json:"flow,omitempty"`
	Steps map[string][]string `json:"steps,omitempty"`
}

// Empty reports whether there is nothing to fix.
func (p Problems) Empty() bool { return len(p.Flow) == 0 && len(p.Steps) == 0 }

// Count is the number of problems.
func (p Problems) Count() int {
	n := len(p.Flow)
	for _, l := range p.Steps {
		n += len(l)
	}
	return n
}

// Error lets Publish refuse with the problems themselves (errors.As).
func (p Problems) Error() string {
	parts := append([]string(nil), p.Flow...)
	ids := make([]string, 0, len(p.Steps))
	for id := range p.Steps {
		ids = append(ids, id)
	}
	sort.Strings(ids)
	for _, id := range ids {
		for _, m := range p.Steps[id] {
			parts = append(parts, "step "+id+": "+m)
		}
	}
	return "flows: not ready to go live: " + strings.Join(parts, "; ")
}

func (p *Problems) flow(format string, a ...any) { p.Flow = append(p.Flow, fmt.Sprintf(format, a...)) }

func (p *Problems) step(id, format string, a ...any) {
	if p.Steps == nil {
		p.Steps = map[string][]string{}
	}
	p.Steps[id] = append(p.Steps[id], fmt.Sprintf(format, a...))
}

// Refs answers whether the things a definition points at exist in the shop.
// The store fills it from the database (see LoadRefs); tests use RefSet.
type Refs interface {
	TemplateExists(id int64) bool
	SegmentExists(id int64) bool
	CollectionExists(id int64) bool
}

// RefSet is Refs over sets of ids.
type RefSet struct {
	Templates, Segments, Collections map[int64]bool
}

func (r RefSet) TemplateExists(id int64) bool   { return r.Templates[id] }
func (r RefSet) SegmentExists(id int64) bool    { return r.Segments[id] }
func (r RefSet) CollectionExists(id int64) bool { return r.Collections[id] }

// Limits of a definition.
const (
	MinTriggerDelay = time.Minute
	MinMaxLateness  = time.Hour
	MaxSteps        = 200
	MaxDepth        = 10
)

var (
	stepIDPattern = regexp.MustCompile(`^[a-z0-9][a-z0-9_-]{0,39}$`)
	clockPattern  = regexp.MustCompile(`^([01][0-9]|2[0-3]):[0-5][0-9]$`)
)

func known(v string, list ...string) bool {
	for _, x := range list {
		if v == x {
			return true
		}
	}
	return false
}

func isAbandonment(trigger string) bool {
	return known(trigger, TriggerCartAbandoned, TriggerCheckoutAbandoned, TriggerBrowseAbandoned, TriggerSearchAbandoned)
}

// Validate checks a definition before it goes live. It never stops at the
// first problem: the editor shows them all at once.
func Validate(d Definition, refs Refs) Problems {
	var p Problems
	v := validator{p: &p, refs: refs, d: &d}
	v.trigger()
	for _, c := range d.Filters {
		if m := v.condition(c, false); m != "" {
			p.flow("Flow filter: %s", m)
		}
	}
	v.exits()
	switch d.ReEntry.Mode {
	case ReEntryNever, ReEntryEveryTime:
	case ReEntryAfter:
		if d.ReEntry.Days < 1 {
			p.flow("Re-entry after a number of days needs at least 1 day.")
		}
	default:
		p.flow("Choose whether customers can enter the flow again.")
	}
	if d.Priority < 1 || d.Priority > 100 {
		p.flow("Priority must be a whole number from 1 to 100.")
	}
	if d.MaxLateness.D() < MinMaxLateness {
		p.flow("Maximum lateness must be at least 1 hour.")
	}
	if d.HoldoutPercent < 0 || d.HoldoutPercent > MaxHoldoutPercent {
		p.flow("The holdout must be a whole number from 0 to %d percent.", MaxHoldoutPercent)
	}
	v.steps(d.Steps, 1)
	if v.count > MaxSteps {
		p.flow("A flow can have at most %d steps; this one has %d.", MaxSteps, v.count)
	}
	if v.sends == 0 {
		p.flow("The flow sends no email: add a Send email step.")
	}
	return p
}

type validator struct {
	p     *Problems
	refs  Refs
	d     *Definition
	seen  map[string]bool
	sends int
	count int
}

func (v *validator) trigger() {
	t := v.d.Trigger
	if !known(t.Type, TriggerTypes...) {
		if t.Type == "" {
			v.p.flow("Choose what starts the flow (the trigger).")
		} else {
			v.p.flow("The trigger %q is not one Cartwheel knows.", t.Type)
		}
		return
	}
	if isAbandonment(t.Type) && t.Delay.D() < MinTriggerDelay {
		v.p.flow("The trigger's waiting time must be at least 1 minute, so a shopper who is still active isn't emailed.")
	}
	for _, src := range t.Sources {
		if !known(src, SourceWheel, SourceCheckout, SourceAdmin, SourceShopify, SourceImport) {
			v.p.flow("The subscription source %q is not one Cartwheel knows.", src)
		}
	}
	switch t.Type {
	case TriggerSegmentEntered, TriggerSegmentExited:
		if t.SegmentID == 0 {
			v.p.flow("Choose the segment that starts the flow.")
		} else if !v.refs.SegmentExists(t.SegmentID) {
			v.p.flow("The trigger's segment no longer exists: choose another one.")
		}
	case TriggerDateProperty:
		switch t.DateProperty {
		case DateBirthday, DateSignupAnniversary:
		case DateDaysAfterLastOrder:
			if t.Days < 1 {
				v.p.flow("Enter how many days after the last order the flow starts (at least 1).")
			}
		default:
			v.p.flow("Choose the date that starts the flow (birthday, signup anniversary or days after the last order).")
		}
	}
	for _, c := range t.Filters {
		if m := v.condition(c, true); m != "" {
			v.p.flow("Trigger filter: %s", m)
		}
	}
}

func (v *validator) exits() {
	for _, e := range v.d.Exits {
		switch e.Kind {
		case ExitOrderPlaced, ExitUnsubscribed, ExitAddedToCart, ExitCheckout:
		case ExitLeftSegment:
			if v.d.Trigger.Type != TriggerSegmentEntered {
				v.p.flow("\"Left the segment\" exits only apply to flows started by entering a segment.")
			}
		case ExitCondition:
			if e.Condition == nil {
				v.p.flow("A custom exit needs a condition.")
			} else if m := v.condition(*e.Condition, false); m != "" {
				v.p.flow("Exit condition: %s", m)
			}
		default:
			v.p.flow("The exit %q is not one Cartwheel knows.", e.Kind)
		}
	}
}

// condition returns what is wrong with c, or "". atEntry: a trigger filter,
// checked before any run exists, so run-scoped fields make no sense there.
func (v *validator) condition(c Condition, atEntry bool) string {
	numeric := func(what string) string {
		if !known(c.Op, "eq", "gte", "lte") {
			return what + " needs a comparison (equal to, at least, at most)."
		}
		if c.Number < 0 {
			return what + " can't be compared with a negative number."
		}
		return ""
	}
	switch c.Field {
	case CondCartValue:
		return numeric("Cart value")
	case CondProductInCart:
		if c.CollectionID == 0 || !v.refs.CollectionExists(c.CollectionID) {
			return "choose a collection that exists in your store."
		}
	case CondSource:
		if c.Text == "" {
			return "choose the subscription source."
		}
	case CondInSegment, CondNotInSegment:
		if c.SegmentID == 0 || !v.refs.SegmentExists(c.SegmentID) {
			return "choose a segment that exists."
		}
	case CondOrdersSinceStart, CondOpenedRunEmail, CondClickedRunEmail:
		if atEntry {
			return "this condition is about the run, so it can't be a trigger filter."
		}
		if c.Field == CondOrdersSinceStart {
			return numeric("Orders since the flow started")
		}
		if c.StepID != "" {
			if s := v.d.Find(c.StepID); s == nil || s.Type != StepSendEmail {
				return "the email it refers to is no longer in the flow."
			}
		}
	case CondHasTag:
		if strings.TrimSpace(c.Text) == "" {
			return "enter the tag."
		}
	case CondOrdersCount:
		return numeric("Number of orders")
	case CondLastOrderDaysAgo:
		return numeric("Days since the last order")
	case CondAverageOrderValue:
		return numeric("Average order value")
	case CondBoughtProduct:
		if c.ProductID == 0 {
			return "choose the product."
		}
	case CondNoAutomationEmail, CondNoEngagementDays:
		if c.Number < 1 {
			return "enter a number of days (at least 1)."
		}
	case "":
		return "choose what the condition checks."
	default:
		return fmt.Sprintf("%q is not a condition Cartwheel knows.", c.Field)
	}
	return ""
}

func (v *validator) steps(list []Step, depth int) {
	if depth > MaxDepth {
		v.p.flow("Branches can be nested at most %d levels deep.", MaxDepth)
		return
	}
	exited := false
	for i := range list {
		s := &list[i]
		v.count++
		id := s.ID
		switch {
		case id == "":
			v.p.flow("A %s step has no id; remove it and add it again.", stepLabel(s.Type))
			id = ""
		case !stepIDPattern.MatchString(id):
			v.p.flow("The step id %q is not valid (lowercase letters, digits, - and _).", id)
			id = ""
		case v.seen[id]:
			v.p.step(id, "Another step has the same id; remove one of them and add it again.")
		default:
			if v.seen == nil {
				v.seen = map[string]bool{}
			}
			v.seen[id] = true
		}
		mark := func(format string, a ...any) {
			if id == "" {
				v.p.flow(format, a...)
				return
			}
			v.p.step(id, format, a...)
		}
		if exited {
			mark("No one reaches this step: it comes after an Exit.")
		}
		v.step(s, mark)
		if s.Type == StepExit {
			exited = true
		}
		for b := range s.Branches {
			v.steps(s.Branches[b].Steps, depth+1)
		}
	}
}

func stepLabel(t string) string {
	switch t {
	case StepWait:
		return "Wait"
	case StepWaitForEvent:
		return "Wait for an event"
	case StepCondition:
		return "Condition"
	case StepRandomSplit:
		return "Random split"
	case StepSendEmail:
		return "Send email"
	case StepUpdate:
		return "Update profile"
	case StepExit:
		return "Exit"
	}
	return "unknown"
}

func (v *validator) step(s *Step, mark func(string, ...any)) {
	branches := 0
	switch s.Type {
	case StepWait:
		if s.Wait.D() < 0 {
			mark("A wait can't be negative.")
		}
		if s.Wait.D() == 0 && s.UntilTime == "" && len(s.UntilDays) == 0 {
			mark("This wait is zero: enter how long to wait, or a day or time to wait until.")
		}
		if s.UntilTime != "" && !clockPattern.MatchString(s.UntilTime) {
			mark("Enter the time of day as HH:MM, such as 09:00.")
		}
		for _, d := range s.UntilDays {
			if d < 0 || d > 6 {
				mark("Weekdays are numbered 0 (Sunday) to 6 (Saturday).")
				break
			}
		}
	case StepWaitForEvent:
		branches = 2
		if !known(s.Event, EventCheckoutCompleted, EventOrderPlaced, EventAddedToCart, EventEmailOpened, EventEmailClicked) {
			mark("Choose the event to wait for.")
		}
		if s.Timeout.D() <= 0 {
			mark("Enter how long to wait for the event before giving up (the timeout).")
		}
	case StepCondition:
		branches = 2
		if len(s.Conditions) == 0 {
			mark("Add at least one condition to check.")
		}
		for _, c := range s.Conditions {
			if m := v.condition(c, false); m != "" {
				mark("Condition: %s", m)
			}
		}
	case StepRandomSplit:
		if len(s.Branches) < 2 {
			mark("A random split needs at least 2 paths.")
		}
		sum := 0
		for _, b := range s.Branches {
			if b.Percent < 1 {
				mark("Every path of a random split needs a share of at least 1%%.")
				break
			}
		}
		for _, b := range s.Branches {
			sum += b.Percent
		}
		if sum != 100 {
			mark("The shares of a random split must add up to 100%% (now %d%%).", sum)
		}
	case StepSendEmail:
		v.sends++
		if s.TemplateID == 0 {
			mark("Choose the email template to send.")
		} else if !v.refs.TemplateExists(s.TemplateID) {
			mark("The template of this email no longer exists: choose another one.")
		}
		if dc := s.Discount; dc != nil {
			switch dc.Kind {
			case "percentage":
				if dc.Value <= 0 || dc.Value > 100 {
					mark("A percentage discount needs a value from 1 to 100.")
				}
			case "fixed_amount":
				if dc.Value <= 0 {
					mark("A fixed-amount discount needs a value above 0.")
				}
			case "free_shipping":
			default:
				mark("Choose the kind of discount (percentage, fixed amount or free shipping).")
			}
			switch dc.Scope {
			case "all":
			case "collection":
				if dc.CollectionID == 0 || !v.refs.CollectionExists(dc.CollectionID) {
					mark("Choose the collection the discount applies to.")
				}
			default:
				mark("Choose what the discount applies to (all products or a collection).")
			}
			if dc.Expiry.D() < time.Hour {
				mark("The discount code must stay valid for at least 1 hour.")
			}
		}
	case StepUpdate:
		if strings.TrimSpace(s.AddTag) == "" && strings.TrimSpace(s.SetProperty) == "" {
			mark("Enter a tag to add or a property to set.")
		}
		if s.SetProperty != "" && s.SetValue == "" {
			mark("Enter the value to set the property to.")
		}
	case StepExit:
	default:
		mark("This step's type %q is not one Cartwheel knows.", s.Type)
	}
	if s.Type == StepRandomSplit {
		branches = len(s.Branches)
	}
	if branches != len(s.Branches) {
		if branches == 0 {
			mark("This step can't have branches.")
		} else {
			mark("This step needs exactly %d branches.", branches)
		}
	}
	for i, b := range s.Branches {
		if len(b.Steps) == 0 {
			mark("The %s branch leads nowhere: add a step or an Exit.", branchName(s, i))
		}
	}
}

// branchName is how the editor labels a branch.
func branchName(s *Step, i int) string {
	if i < len(s.Branches) && s.Branches[i].Label != "" {
		return "“" + s.Branches[i].Label + "”"
	}
	switch s.Type {
	case StepCondition:
		if i == 0 {
			return "“Yes”"
		}
		return "“No”"
	case StepWaitForEvent:
		if i == 0 {
			return "“Happened”"
		}
		return "“Timed out”"
	}
	return fmt.Sprintf("path %c", 'A'+rune(i%26))
}
