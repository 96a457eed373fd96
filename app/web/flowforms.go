package web

import (
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/cartwheel/cartwheel/app/flows"
	"github.com/cartwheel/cartwheel/app/input"
	"github.com/cartwheel/cartwheel/views"
)

// The flow editor's forms: parsing them into a flows.Definition and back,
// the step tree edits (add, replace, delete) and the words the canvas shows.
// A form that can't be read (a wait of "abc") is refused with the field
// named and nothing saved; a form that reads but isn't ready to go live (a
// wait of 0) is saved and marked by flows.Validate.

var triggerLabels = map[string]string{
	flows.TriggerCheckoutAbandoned: "Checkout abandoned",
	flows.TriggerCartAbandoned:     "Cart abandoned",
	flows.TriggerBrowseAbandoned:   "Browse abandoned",
	flows.TriggerSearchAbandoned:   "Search abandoned",
	flows.TriggerSubscribed:        "Subscribed",
	flows.TriggerCustomerCreated:   "Customer created",
	flows.TriggerOrderPlaced:       "Order placed",
	flows.TriggerFirstOrder:        "First order",
	flows.TriggerOrderFulfilled:    "Order fulfilled",
	flows.TriggerSegmentEntered:    "Entered a segment",
	flows.TriggerSegmentExited:     "Left a segment",
	flows.TriggerDateProperty:      "Date (birthday, anniversary, days after last order)",
	flows.TriggerEmailOpened:       "Opened an email",
	flows.TriggerEmailClicked:      "Clicked an email",
}

func triggerLabel(t string) string {
	if l, ok := triggerLabels[t]; ok {
		return l
	}
	if t == "" {
		return "No trigger"
	}
	return t
}

func triggerOptions() []views.Option {
	out := make([]views.Option, 0, len(flows.TriggerTypes))
	for _, t := range flows.TriggerTypes {
		out = append(out, views.Option{Value: t, Label: triggerLabels[t]})
	}
	return out
}

var (
	dateOptions = []views.Option{{Value: flows.DateBirthday, Label: "Birthday"}, {Value: flows.DateSignupAnniversary, Label: "Signup anniversary"},
		{Value: flows.DateDaysAfterLastOrder, Label: "Days after the last order"}}
	sourceOptions = []views.Option{{Value: flows.SourceWheel, Label: "Signup wheel"}, {Value: flows.SourceCheckout, Label: "Checkout"},
		{Value: flows.SourceAdmin, Label: "Added by you"}, {Value: flows.SourceShopify, Label: "Shopify"}, {Value: flows.SourceImport, Label: "Import (when asked for on the import screen)"}}
	exitOptions = []views.Option{{Value: flows.ExitOrderPlaced, Label: "place an order"}, {Value: flows.ExitUnsubscribed, Label: "unsubscribe or are suppressed"},
		{Value: flows.ExitCheckout, Label: "start a checkout"}, {Value: flows.ExitAddedToCart, Label: "add to cart"},
		{Value: flows.ExitLeftSegment, Label: "leave the trigger's segment"}}
	reEntryOptions = []views.Option{{Value: flows.ReEntryEveryTime, Label: "Every time"}, {Value: flows.ReEntryAfter, Label: "Again after a number of days"},
		{Value: flows.ReEntryNever, Label: "Never"}}
	eventOptions = []views.Option{{Value: flows.EventCheckoutCompleted, Label: "Completed checkout"}, {Value: flows.EventOrderPlaced, Label: "Placed an order"},
		{Value: flows.EventAddedToCart, Label: "Added to cart"}, {Value: flows.EventEmailOpened, Label: "Opened an email of this flow"},
		{Value: flows.EventEmailClicked, Label: "Clicked an email of this flow"}}
	condOptions = []views.Option{
		{Value: flows.CondOrdersSinceStart, Label: "Orders since the flow started"}, {Value: flows.CondOpenedRunEmail, Label: "Opened an email of this flow (step id, or empty for any)"},
		{Value: flows.CondClickedRunEmail, Label: "Clicked an email of this flow (step id, or empty for any)"}, {Value: flows.CondInSegment, Label: "Is in segment (id)"},
		{Value: flows.CondNotInSegment, Label: "Is not in segment (id)"}, {Value: flows.CondHasTag, Label: "Has tag"},
		{Value: flows.CondCartValue, Label: "Cart value"}, {Value: flows.CondOrdersCount, Label: "Number of orders"},
		{Value: flows.CondLastOrderDaysAgo, Label: "Days since the last order"}, {Value: flows.CondAverageOrderValue, Label: "Average order value"},
		{Value: flows.CondNoAutomationEmail, Label: "No automated email in the last (days)"}, {Value: flows.CondNoEngagementDays, Label: "No open or click in the last (days)"},
	}
	opOptions       = []views.Option{{Value: "gte", Label: "at least"}, {Value: "lte", Label: "at most"}, {Value: "eq", Label: "exactly"}}
	discountOptions = []views.Option{{Value: "percentage", Label: "Percentage off"}, {Value: "fixed_amount", Label: "Amount off"}, {Value: "free_shipping", Label: "Free shipping"}}
	scopeOptions    = []views.Option{{Value: "all", Label: "All products"}, {Value: "collection", Label: "A collection"}}
)

func label(opts []views.Option, v string) string {
	for _, o := range opts {
		if o.Value == v {
			return o.Label
		}
	}
	return v
}

var stepTypeLabels = func() map[string]string {
	m := map[string]string{}
	for _, o := range views.StepTypeOptions {
		m[o.Value] = o.Label
	}
	return m
}()

// dur formats a duration the way the forms take it ("1d", "36h", "" for 0).
func dur(d flows.Duration) string {
	if d == 0 {
		return ""
	}
	b, _ := d.MarshalJSON()
	return strings.Trim(string(b), `"`)
}

func num(f float64) string { return strconv.FormatFloat(f, 'f', -1, 64) }

// formErrors collects field → message.
type formErrors map[string]string

func (e formErrors) text(c *gin.Context, field string, max int) string {
	v, err := input.Text(field, c.PostForm(field), max)
	if err != nil {
		e[field] = "This " + input.Problem(c.PostForm(field)) + "."
		if input.Problem(c.PostForm(field)) == "" {
			e[field] = fmt.Sprintf("Keep this to %d characters or fewer.", max)
		}
	}
	return v
}

func (e formErrors) duration(c *gin.Context, field string) flows.Duration {
	v := e.text(c, field, 20)
	if v == "" || e[field] != "" {
		return 0
	}
	d, err := flows.ParseDuration(v)
	if err != nil || d < 0 || d > 3650*24*time.Hour {
		e[field] = "Enter a duration such as 30m, 36h or 3d."
		return 0
	}
	return flows.Duration(d)
}

func (e formErrors) integer(c *gin.Context, field string, min, max int64, msg string) int {
	v := e.text(c, field, 20)
	if v == "" || e[field] != "" {
		return 0
	}
	n, err := input.Int(field, v, min, max)
	if err != nil {
		e[field] = msg
	}
	return int(n)
}

func (e formErrors) number(c *gin.Context, field string) float64 {
	v := e.text(c, field, 30)
	if v == "" || e[field] != "" {
		return 0
	}
	f, err := input.Float(field, v, 0, 1e9)
	if err != nil {
		e[field] = "Enter a number of 0 or more."
	}
	return f
}

func oneOf(e formErrors, field, v string, opts []views.Option, msg string) string {
	if v == "" {
		return ""
	}
	for _, o := range opts {
		if o.Value == v {
			return v
		}
	}
	e[field] = msg
	return ""
}

// parseSettings applies the flow settings form to d; the name comes back
// separately.
func parseSettings(c *gin.Context, d flows.Definition) (string, flows.Definition, formErrors) {
	e := formErrors{}
	name := e.text(c, "name", 100)
	if name == "" && e["name"] == "" {
		e["name"] = "Enter a name for the flow."
	}
	d.Trigger.Type = oneOf(e, "trigger", e.text(c, "trigger", 40), triggerOptions(), "Choose a trigger from the list.")
	d.Trigger.Delay = e.duration(c, "delay")
	d.Trigger.SegmentID = int64(e.integer(c, "segment_id", 1, 1<<53, "Choose a segment from the list."))
	d.Trigger.DateProperty = oneOf(e, "date_property", e.text(c, "date_property", 40), dateOptions, "Choose a date from the list.")
	d.Trigger.Days = e.integer(c, "days", 0, 3650, "Enter a whole number of days from 0 to 3650.")
	d.Trigger.Sources = nil
	for _, v := range c.PostFormArray("source") {
		if src := oneOf(e, "source", v, sourceOptions, "Choose subscription sources from the list."); src != "" {
			d.Trigger.Sources = append(d.Trigger.Sources, src)
		}
	}
	// Custom-condition exits aren't edited here: keep them.
	var exits []flows.Exit
	for _, x := range d.Exits {
		if x.Kind == flows.ExitCondition {
			exits = append(exits, x)
		}
	}
	for _, v := range c.PostFormArray("exit") {
		if k := oneOf(e, "exit", v, exitOptions, "Choose exits from the list."); k != "" {
			exits = append(exits, flows.Exit{Kind: k})
		}
	}
	d.Exits = exits
	d.ReEntry.Mode = oneOf(e, "reentry", e.text(c, "reentry", 20), reEntryOptions, "Choose a re-entry rule from the list.")
	d.ReEntry.Days = e.integer(c, "reentry_days", 0, 3650, "Enter a whole number of days from 0 to 3650.")
	if d.ReEntry.Mode != flows.ReEntryAfter {
		d.ReEntry.Days = 0
	}
	d.Priority = e.integer(c, "priority", 0, 1000, "Enter a whole number from 1 to 100.")
	d.MaxLateness = e.duration(c, "max_lateness")
	d.HoldoutPercent = e.integer(c, "holdout_percent", 0, flows.MaxHoldoutPercent,
		fmt.Sprintf("Enter a holdout share from 0 to %d percent.", flows.MaxHoldoutPercent))

	// Filters: the ticked ones stay, one new one may be added.
	keep := map[int]bool{}
	for _, v := range c.PostFormArray("keep_filter") {
		i, err := strconv.Atoi(v)
		if err != nil || i < 0 || i >= len(d.Filters) {
			e["keep_filter"] = "A filter to keep doesn't exist any more; reload the page."
			continue
		}
		keep[i] = true
	}
	var filters []flows.Condition
	for i, f := range d.Filters {
		if keep[i] {
			filters = append(filters, f)
		}
	}
	if field := oneOf(e, "filter_field", e.text(c, "filter_field", 40), condOptions, "Choose a filter from the list."); field != "" {
		op := oneOf(e, "filter_op", e.text(c, "filter_op", 10), opOptions, "Choose a comparison from the list.")
		if cond, ok := parseCondition(e, "filter_value", field, op, e.text(c, "filter_value", 200)); ok {
			filters = append(filters, cond)
		}
	}
	d.Filters = filters
	return name, d, e
}

// parseCondition reads one condition's value for its field.
func parseCondition(e formErrors, valueField, field, op, value string) (flows.Condition, bool) {
	cd := flows.Condition{Field: field}
	switch field {
	case flows.CondInSegment, flows.CondNotInSegment:
		id, err := input.ID(valueField, value)
		if err != nil {
			e[valueField] = "Enter the segment's id (the number in its address)."
			return cd, false
		}
		cd.SegmentID = id
	case flows.CondHasTag:
		if value == "" {
			e[valueField] = "Enter the tag."
			return cd, false
		}
		cd.Text = value
	case flows.CondOpenedRunEmail, flows.CondClickedRunEmail:
		cd.StepID = value
	case flows.CondNoAutomationEmail, flows.CondNoEngagementDays:
		n, err := input.Int(valueField, value, 1, 3650)
		if err != nil {
			e[valueField] = "Enter a whole number of days from 1 to 3650."
			return cd, false
		}
		cd.Number = float64(n)
	default:
		if op == "" {
			op = "gte"
		}
		f, err := input.Float(valueField, value, 0, 1e9)
		if err != nil {
			e[valueField] = "Enter a number of 0 or more."
			return cd, false
		}
		cd.Op, cd.Number = op, f
	}
	return cd, true
}

func conditionText(cd flows.Condition) string {
	l := label(condOptions, cd.Field)
	switch cd.Field {
	case flows.CondInSegment, flows.CondNotInSegment:
		return fmt.Sprintf("%s %d", l, cd.SegmentID)
	case flows.CondHasTag:
		return l + " “" + cd.Text + "”"
	case flows.CondOpenedRunEmail, flows.CondClickedRunEmail:
		if cd.StepID == "" {
			return strings.SplitN(l, " (", 2)[0]
		}
		return strings.SplitN(l, " (", 2)[0] + " " + cd.StepID
	case flows.CondNoAutomationEmail, flows.CondNoEngagementDays:
		return strings.TrimSuffix(l, " (days)") + " " + num(cd.Number) + " days"
	case flows.CondProductInCart:
		return fmt.Sprintf("Has a product of collection %d", cd.CollectionID)
	case flows.CondBoughtProduct:
		if cd.Negate {
			return fmt.Sprintf("Did not buy product %d", cd.ProductID)
		}
		return fmt.Sprintf("Bought product %d", cd.ProductID)
	case flows.CondSource:
		return "Subscribed through " + cd.Text
	}
	return l + " " + label(opOptions, cd.Op) + " " + num(cd.Number)
}

// stepSummary says what a step does, in a line.
func stepSummary(s flows.Step, templates map[int64]string) string {
	switch s.Type {
	case flows.StepWait:
		out := "Wait " + orText(dur(s.Wait), "0")
		if s.UntilTime != "" {
			out += ", then until " + s.UntilTime
		}
		return out
	case flows.StepWaitForEvent:
		return "Wait up to " + orText(dur(s.Timeout), "?") + " for: " + orText(label(eventOptions, s.Event), "no event chosen")
	case flows.StepCondition:
		parts := make([]string, 0, len(s.Conditions))
		for _, cd := range s.Conditions {
			parts = append(parts, conditionText(cd))
		}
		return "If " + orText(strings.Join(parts, " and "), "(no condition)")
	case flows.StepRandomSplit:
		parts := make([]string, 0, len(s.Branches))
		for _, b := range s.Branches {
			parts = append(parts, strconv.Itoa(b.Percent)+"%")
		}
		return "Split at random: " + strings.Join(parts, " / ")
	case flows.StepSendEmail:
		out := "No template chosen"
		if s.TemplateID != 0 {
			out = "Template: " + orText(templates[s.TemplateID], fmt.Sprintf("#%d (deleted)", s.TemplateID))
		}
		if dc := s.Discount; dc != nil {
			out += " · unique code: " + label(discountOptions, dc.Kind)
			if dc.Kind != "free_shipping" {
				out += " " + num(dc.Value)
			}
			out += ", valid " + orText(dur(dc.Expiry), "0")
		}
		return out
	case flows.StepUpdate:
		var parts []string
		if s.AddTag != "" {
			parts = append(parts, "add tag “"+s.AddTag+"”")
		}
		if s.SetProperty != "" {
			parts = append(parts, "set "+s.SetProperty+" = “"+s.SetValue+"”")
		}
		return "Update profile: " + orText(strings.Join(parts, ", "), "nothing yet")
	case flows.StepExit:
		return "Leave the flow"
	}
	return s.Type
}

func orText(s, def string) string {
	if s == "" {
		return def
	}
	return s
}

// stepValues are the panel's form values for a step.
func stepValues(s flows.Step) map[string]string {
	v := map[string]string{"name": s.Name, "wait": dur(s.Wait), "until_time": s.UntilTime, "event": s.Event,
		"timeout": dur(s.Timeout), "add_tag": s.AddTag, "set_property": s.SetProperty, "set_value": s.SetValue}
	if s.TemplateID != 0 {
		v["template_id"] = strconv.FormatInt(s.TemplateID, 10)
	}
	if len(s.Conditions) > 0 {
		cd := s.Conditions[0]
		v["cond_field"], v["cond_op"] = cd.Field, cd.Op
		switch cd.Field {
		case flows.CondInSegment, flows.CondNotInSegment:
			v["cond_value"] = strconv.FormatInt(cd.SegmentID, 10)
		case flows.CondHasTag:
			v["cond_value"] = cd.Text
		case flows.CondOpenedRunEmail, flows.CondClickedRunEmail:
			v["cond_value"] = cd.StepID
		default:
			v["cond_value"] = num(cd.Number)
		}
	}
	if s.Type == flows.StepRandomSplit {
		parts := make([]string, 0, len(s.Branches))
		for _, b := range s.Branches {
			parts = append(parts, strconv.Itoa(b.Percent))
		}
		v["percents"] = strings.Join(parts, ", ")
	}
	if dc := s.Discount; dc != nil {
		v["discount_kind"], v["discount_value"], v["discount_expiry"] = dc.Kind, num(dc.Value), dur(dc.Expiry)
		v["discount_scope"], v["discount_prefix"] = dc.Scope, dc.Prefix
		if dc.CollectionID != 0 {
			v["discount_collection"] = strconv.FormatInt(dc.CollectionID, 10)
		}
	}
	return v
}

// parseStep applies the panel form to s (whose type doesn't change).
func parseStep(c *gin.Context, s flows.Step) (flows.Step, formErrors) {
	e := formErrors{}
	s.Name = e.text(c, "name", 100)
	switch s.Type {
	case flows.StepWait:
		s.Wait = e.duration(c, "wait")
		s.UntilTime = e.text(c, "until_time", 5)
		if s.UntilTime != "" {
			if t, err := time.Parse("15:04", s.UntilTime); err != nil || t.Format("15:04") != s.UntilTime {
				e["until_time"] = "Enter a time of day as HH:MM, such as 09:00."
			}
		}
	case flows.StepWaitForEvent:
		s.Event = oneOf(e, "event", e.text(c, "event", 40), eventOptions, "Choose an event from the list.")
		s.Timeout = e.duration(c, "timeout")
	case flows.StepCondition:
		field := oneOf(e, "cond_field", e.text(c, "cond_field", 40), condOptions, "Choose what to check from the list.")
		op := oneOf(e, "cond_op", e.text(c, "cond_op", 10), opOptions, "Choose a comparison from the list.")
		if field == "" {
			s.Conditions = nil
		} else if cd, ok := parseCondition(e, "cond_value", field, op, e.text(c, "cond_value", 200)); ok {
			rest := []flows.Condition{}
			if len(s.Conditions) > 1 {
				rest = s.Conditions[1:]
			}
			s.Conditions = append([]flows.Condition{cd}, rest...)
		}
	case flows.StepRandomSplit:
		raw := e.text(c, "percents", 100)
		var pcts []int
		for _, p := range strings.Split(raw, ",") {
			n, err := strconv.Atoi(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(p), "%")))
			if err != nil || n < 0 || n > 100 {
				e["percents"] = "Enter whole percentages separated by commas, such as 50, 50."
				break
			}
			pcts = append(pcts, n)
		}
		if e["percents"] == "" {
			if len(pcts) > 10 {
				e["percents"] = "A random split has at most 10 paths."
				break
			}
			for i := len(pcts); i < len(s.Branches); i++ {
				if len(s.Branches[i].Steps) > 0 {
					e["percents"] = "Delete the steps of the paths you want to remove first."
				}
			}
			if e["percents"] != "" {
				break
			}
			branches := make([]flows.Branch, len(pcts))
			for i, p := range pcts {
				if i < len(s.Branches) {
					branches[i] = s.Branches[i]
				} else {
					branches[i] = flows.Branch{Label: "Path " + string(rune('A'+i)), Steps: []flows.Step{}}
				}
				branches[i].Percent = p
			}
			s.Branches = branches
		}
	case flows.StepSendEmail:
		s.TemplateID = int64(e.integer(c, "template_id", 1, 1<<53, "Choose a template from the list."))
		kind := oneOf(e, "discount_kind", e.text(c, "discount_kind", 20), discountOptions, "Choose a kind of discount from the list.")
		if kind == "" {
			s.Discount = nil
		} else {
			s.Discount = &flows.Discount{Kind: kind, Value: e.number(c, "discount_value"), Expiry: e.duration(c, "discount_expiry"),
				Scope:        oneOf(e, "discount_scope", e.text(c, "discount_scope", 20), scopeOptions, "Choose what the discount applies to."),
				CollectionID: int64(e.integer(c, "discount_collection", 1, 1<<53, "Enter the collection's id.")),
				Prefix:       e.text(c, "discount_prefix", 20)}
		}
	case flows.StepUpdate:
		s.AddTag = e.text(c, "add_tag", 100)
		s.SetProperty = e.text(c, "set_property", 100)
		s.SetValue = e.text(c, "set_value", 200)
	}
	return s, e
}

// newStep makes a step of type t with an id unused in d and sensible
// defaults; splits get their (empty) branches.
func newStep(d *flows.Definition, t string) (flows.Step, bool) {
	prefix := map[string]string{flows.StepSendEmail: "email", flows.StepWait: "wait", flows.StepWaitForEvent: "event",
		flows.StepCondition: "split", flows.StepRandomSplit: "random", flows.StepUpdate: "update", flows.StepExit: "exit"}[t]
	if prefix == "" {
		return flows.Step{}, false
	}
	id := ""
	for n := 1; ; n++ {
		id = prefix + "-" + strconv.Itoa(n)
		if d.Find(id) == nil {
			break
		}
	}
	s := flows.Step{ID: id, Type: t}
	empty := func(labels ...string) []flows.Branch {
		out := make([]flows.Branch, len(labels))
		for i, l := range labels {
			out[i] = flows.Branch{Label: l, Steps: []flows.Step{}}
		}
		return out
	}
	switch t {
	case flows.StepWait:
		s.Wait = flows.Duration(24 * time.Hour)
	case flows.StepWaitForEvent:
		s.Event, s.Timeout = flows.EventOrderPlaced, flows.Duration(24*time.Hour)
		s.Branches = empty("Happened", "Timed out")
	case flows.StepCondition:
		s.Branches = empty("Yes", "No")
	case flows.StepRandomSplit:
		s.Branches = empty("Path A", "Path B")
		s.Branches[0].Percent, s.Branches[1].Percent = 50, 50
	}
	return s, true
}

// locate finds the slice holding the step id and its index.
func locate(steps *[]flows.Step, id string) (*[]flows.Step, int) {
	for i := range *steps {
		if (*steps)[i].ID == id {
			return steps, i
		}
		for b := range (*steps)[i].Branches {
			if l, j := locate(&(*steps)[i].Branches[b].Steps, id); l != nil {
				return l, j
			}
		}
	}
	return nil, -1
}

// insertStep puts s after the step after, at the top of branch of parent,
// or first (both empty). False when the place doesn't exist.
func insertStep(d *flows.Definition, s flows.Step, after, parent string, branch int) bool {
	switch {
	case after != "":
		l, i := locate(&d.Steps, after)
		if l == nil {
			return false
		}
		*l = append((*l)[:i+1], append([]flows.Step{s}, (*l)[i+1:]...)...)
	case parent != "":
		p := d.Find(parent)
		if p == nil || branch < 0 || branch >= len(p.Branches) {
			return false
		}
		p.Branches[branch].Steps = append([]flows.Step{s}, p.Branches[branch].Steps...)
	default:
		d.Steps = append([]flows.Step{s}, d.Steps...)
	}
	return true
}

// deleteStep removes the step (and its branches).
func deleteStep(d *flows.Definition, id string) bool {
	l, i := locate(&d.Steps, id)
	if l == nil {
		return false
	}
	*l = append((*l)[:i], (*l)[i+1:]...)
	return true
}

// replaceStep puts s in place of the step with its id.
func replaceStep(d *flows.Definition, s flows.Step) bool {
	l, i := locate(&d.Steps, s.ID)
	if l == nil {
		return false
	}
	(*l)[i] = s
	return true
}
