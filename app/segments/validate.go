package segments

import (
	"fmt"
	"math"
	"regexp"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/cartwheel/cartwheel/app/events"
	"github.com/cartwheel/cartwheel/app/input"
	"github.com/cartwheel/cartwheel/app/lifecycle"
)

// FieldError is one problem, at a place in the tree ("root.items[2]").
type FieldError struct {
	Path    string `json:"path"`
	Message string `json:"message"`
}

// Errors is every problem found; it is an error when non-empty.
type Errors []FieldError

func (e Errors) Error() string {
	var b strings.Builder
	for i, f := range e {
		if i > 0 {
			b.WriteString("; ")
		}
		b.WriteString(f.Path + ": " + f.Message)
	}
	return b.String()
}

// Lookup returns another segment's rules by id (false: no such segment in
// this shop).
type Lookup func(id int64) (Rules, bool)

var (
	consentStates = []string{"subscribed", "not_subscribed", "unsubscribed", "pending", "redacted", "invalid"}
	sources       = []string{"shopify", "wheel", "import"}
	// SuppressionReasons are the reasons the app records on a suppression
	// (app/email/tracking and app/customers); the first four are bounces
	// and complaints.
	SuppressionReasons = []string{"hard_bounce", "soft_bounces", "bounced", "complaint", "dropped", "unsubscribed", "cleaned", "manual"}
	// ReasonLabels name them for merchants.
	ReasonLabels = map[string]string{"hard_bounce": "a hard bounce", "soft_bounces": "repeated soft bounces",
		"bounced": "a bounce (imported)", "complaint": "a spam complaint", "dropped": "a dropped message",
		"unsubscribed": "unsubscribing", "cleaned": "list cleaning (imported)", "manual": "being added by hand"}
	domainRe    = regexp.MustCompile(`^[a-z0-9]([a-z0-9-]*[a-z0-9])?(\.[a-z0-9]([a-z0-9-]*[a-z0-9])?)+$`)
	keyRe       = regexp.MustCompile(`^[A-Za-z0-9_.-]{1,64}$`)
	numericIDRe = regexp.MustCompile(`^[0-9]{1,19}$`)
)

// Validate checks rules completely. selfID is the segment being saved (0
// when new); lookup resolves "in segment" conditions and may be nil when the
// rules have none.
func Validate(r Rules, selfID int64, lookup Lookup) error {
	v := &validator{lookup: lookup}
	if r.Version != Version {
		v.add("version", fmt.Sprintf("These rules were saved in a format this version of the app can't read (version %d).", r.Version))
	}
	v.group("root", r.Root, 1)
	if v.conds > MaxConditions {
		v.add("root", fmt.Sprintf("A segment can have at most %d conditions; this one has %d.", MaxConditions, v.conds))
	}
	if v.conds == 0 && len(v.errs) == 0 {
		v.add("root", "Add at least one condition.")
	}
	if len(v.errs) == 0 && lookup != nil {
		if path, ok := cycle(r, selfID, lookup); ok {
			v.add("root", "A segment can't include itself, directly or through other segments ("+path+").")
		}
	}
	if len(v.errs) > 0 {
		return v.errs
	}
	return nil
}

type validator struct {
	errs   Errors
	conds  int
	lookup Lookup
}

func (v *validator) add(path, msg string) { v.errs = append(v.errs, FieldError{path, msg}) }

func (v *validator) group(path string, g Group, depth int) {
	if depth > MaxDepth {
		v.add(path, fmt.Sprintf("Groups can be nested at most %d levels deep.", MaxDepth))
		return
	}
	if g.Op != "and" && g.Op != "or" {
		v.add(path+".op", `Choose whether all ("and") or any ("or") of the conditions must match.`)
	}
	if len(g.Items) == 0 {
		v.add(path, "This group is empty; add a condition or remove the group.")
	}
	for i, n := range g.Items {
		p := fmt.Sprintf("%s.items[%d]", path, i)
		switch {
		case n.Group != nil && n.Condition != nil:
			v.add(p, "An item must be either a group or a condition, not both.")
		case n.Group != nil:
			v.group(p, *n.Group, depth+1)
		case n.Condition != nil:
			v.conds++
			if v.conds <= MaxConditions {
				v.condition(p, *n.Condition)
			}
		default:
			v.add(p, "This item is empty.")
		}
	}
}

func oneOf(s string, set ...string) bool {
	for _, x := range set {
		if s == x {
			return true
		}
	}
	return false
}

func (v *validator) text(path, s, what string) {
	switch {
	case strings.TrimSpace(s) == "":
		v.add(path, "Enter "+what+".")
	case input.Problem(s) != "":
		v.add(path, "The "+what+" "+input.Problem(s)+".")
	case utf8.RuneCountInString(s) > MaxTextLen:
		v.add(path, fmt.Sprintf("The %s can be at most %d characters.", what, MaxTextLen))
	}
}

func (v *validator) values(path string, vals []string, what string, allowed []string) {
	if len(vals) == 0 {
		v.add(path+".values", "Choose at least one "+what+".")
		return
	}
	if len(vals) > MaxValues {
		v.add(path+".values", fmt.Sprintf("Choose at most %d values.", MaxValues))
		return
	}
	for i, s := range vals {
		p := fmt.Sprintf("%s.values[%d]", path, i)
		if allowed != nil && !oneOf(s, allowed...) {
			v.add(p, fmt.Sprintf("%q is not a %s; choose one of %s.", s, what, strings.Join(allowed, ", ")))
			continue
		}
		v.text(p, s, what)
	}
}

func (v *validator) op(path string, op string, ops ...string) bool {
	if !oneOf(op, ops...) {
		v.add(path+".op", "Choose one of: "+strings.Join(ops, ", ")+".")
		return false
	}
	return true
}

func (v *validator) condition(path string, c Condition) {
	switch c.Field {
	case FieldEmailDomain:
		v.op(path, c.Op, "is", "is_not")
		d := strings.ToLower(strings.TrimPrefix(strings.TrimSpace(c.Value), "@"))
		if d != c.Value || !domainRe.MatchString(d) || len(d) > 253 {
			v.add(path+".value", `Enter an email domain like "gmail.com" (lower case, without "@").`)
		}
	case FieldCountry:
		v.op(path, c.Op, "in", "not_in")
		v.values(path, c.Values, "country", nil)
		for i, s := range c.Values {
			if len(s) != 2 || strings.ToUpper(s) != s || !isLetters(s) {
				v.add(fmt.Sprintf("%s.values[%d]", path, i), "Use two-letter country codes like US or DE.")
			}
		}
	case FieldCity:
		v.op(path, c.Op, "in", "not_in")
		v.values(path, c.Values, "city", nil)
	case FieldLanguage:
		v.op(path, c.Op, "in", "not_in")
		v.values(path, c.Values, "language", nil)
		for i, s := range c.Values {
			if len(s) < 2 || len(s) > 3 || strings.ToLower(s) != s || !isLetters(s) {
				v.add(fmt.Sprintf("%s.values[%d]", path, i), `Use a language code like "en" or "fr".`)
			}
		}
	case FieldSource:
		v.op(path, c.Op, "in", "not_in")
		v.values(path, c.Values, "signup source", sources)
	case FieldConsent:
		v.op(path, c.Op, "in", "not_in")
		v.values(path, c.Values, "consent state", consentStates)
	case FieldTags:
		v.op(path, c.Op, "has_any", "has_none")
		v.values(path, c.Values, "tag", nil)
	case FieldCreatedAt, FieldSubscribedAt, FieldFirstOrderAt, FieldLastOrderAt:
		v.op(path, c.Op, "within", "not_within")
		if c.Window == nil {
			v.add(path+".window", "Choose when: within the last N days, between two dates, or since a date.")
		} else {
			v.window(path+".window", *c.Window, false)
		}
	case FieldProperty:
		if !keyRe.MatchString(c.Key) {
			v.add(path+".key", "Enter a property name of up to 64 letters, digits, dots, dashes or underscores.")
		}
		if v.op(path, c.Op, "equals", "not_equals", "exists", "not_exists") && (c.Op == "equals" || c.Op == "not_equals") {
			v.text(path+".value", c.Value, "value")
		}
	case FieldOrdersCount, FieldTotalSpent, FieldAOV:
		v.op(path, c.Op, "gte", "lte", "eq", "gt", "lt")
		v.number(path+".number", c.Field, c.Number)
	case FieldRFM:
		v.op(path, c.Op, "in", "not_in")
		v.values(path, c.Values, "RFM group", RFMCells)
	case FieldBoughtProd, FieldBoughtColl:
		v.op(path, c.Op, "has", "has_not")
		what := "product"
		if c.Field == FieldBoughtColl {
			what = "collection"
		}
		if len(c.IDs) == 0 || len(c.IDs) > MaxValues {
			v.add(path+".ids", fmt.Sprintf("Choose between 1 and %d %ss.", MaxValues, what))
		}
		for i, id := range c.IDs {
			if id <= 0 {
				v.add(fmt.Sprintf("%s.ids[%d]", path, i), "Choose a "+what+" from your store.")
			}
		}
	case FieldUsedDiscount:
		v.op(path, c.Op, "has", "has_not")
		if c.Value != "" {
			v.text(path+".value", c.Value, "discount code")
		}
	case FieldEvent:
		v.op(path, c.Op, "did", "did_not")
		if !events.SegmentEvent(c.Event) {
			v.add(path+".event", "Choose an activity from the list (for example product_viewed).")
		}
		v.count(path+".count", c.Count)
		v.optWindow(path+".window", c.Window)
		if c.Filter != nil {
			v.filter(path+".filter", c.Event, *c.Filter)
		}
	case FieldEmailReceived, FieldEmailOpened, FieldEmailClicked:
		v.op(path, c.Op, "did", "did_not")
		v.count(path+".count", c.Count)
		v.optWindow(path+".window", c.Window)
	case FieldOpenedNoClick:
		v.op(path, c.Op, "did", "did_not")
		v.optWindow(path+".window", c.Window)
	case FieldSuppressed:
		v.op(path, c.Op, "is", "is_not")
		if len(c.Values) > 0 {
			v.values(path, c.Values, "suppression reason", SuppressionReasons)
		}
	case FieldUnsubscribed:
		v.op(path, c.Op, "is", "is_not")
	case FieldSegment:
		v.op(path, c.Op, "in", "not_in")
		if c.SegmentID <= 0 {
			v.add(path+".segment_id", "Choose a segment.")
		} else if v.lookup != nil {
			if _, ok := v.lookup(c.SegmentID); !ok {
				v.add(path+".segment_id", "That segment no longer exists; choose another.")
			}
		}
	case FieldLifecycle:
		v.op(path, c.Op, "is", "is_not")
		if _, ok := lifecycle.ParseLevel(c.Value); !ok {
			v.add(path+".value", "Choose a funnel level: prospects, reached, engaged, ordered or repurchased.")
		}
		v.lifecycleWindow(path+".window", c.Window)
	default:
		v.add(path+".field", "Choose what this condition looks at.")
	}
}

// lifecycleWindow accepts the funnel's windows only: the last 30 days, or
// 30 days between two dates (both included).
func (v *validator) lifecycleWindow(path string, w *Window) {
	const msg = "Choose the last %d days, or %d days between two dates (for example 2026-06-01 and 2026-06-30)."
	if w == nil {
		v.add(path, fmt.Sprintf(msg, lifecycle.WindowDays, lifecycle.WindowDays))
		return
	}
	switch w.Kind {
	case "last_days":
		if w.Days != lifecycle.WindowDays {
			v.add(path+".days", fmt.Sprintf("The funnel's window is %d days.", lifecycle.WindowDays))
		}
	case "between":
		from, err1 := time.Parse(time.DateOnly, w.From)
		to, err2 := time.Parse(time.DateOnly, w.To)
		switch {
		case err1 != nil:
			v.add(path+".from", "Enter the first day as YYYY-MM-DD.")
		case err2 != nil:
			v.add(path+".to", "Enter the last day as YYYY-MM-DD.")
		case !from.AddDate(0, 0, lifecycle.WindowDays-1).Equal(to):
			v.add(path+".to", fmt.Sprintf("The funnel's window is %d days: the last day must be %s.", lifecycle.WindowDays,
				from.AddDate(0, 0, lifecycle.WindowDays-1).Format(time.DateOnly)))
		}
	default:
		v.add(path, fmt.Sprintf(msg, lifecycle.WindowDays, lifecycle.WindowDays))
	}
}

func isLetters(s string) bool {
	for _, r := range s {
		if (r < 'a' || r > 'z') && (r < 'A' || r > 'Z') {
			return false
		}
	}
	return true
}

func (v *validator) number(path, field string, n *float64) {
	if n == nil || !input.Finite(*n) {
		v.add(path, "Enter a number.")
		return
	}
	if *n < 0 || *n > 1e9 {
		v.add(path, "Enter a number from 0 to 1,000,000,000.")
		return
	}
	if field == FieldOrdersCount && *n != math.Trunc(*n) {
		v.add(path, "The number of orders must be a whole number.")
	} else if math.Abs(*n*100-math.Round(*n*100)) > 1e-6 {
		v.add(path, "Amounts can have at most two decimal places.")
	}
}

func (v *validator) count(path string, c *Count) {
	if c == nil {
		return
	}
	if !oneOf(c.Op, "at_least", "at_most", "exactly") {
		v.add(path+".op", "Choose at least, at most or exactly.")
	}
	if c.N < 0 || c.N > MaxCount {
		v.add(path+".n", fmt.Sprintf("The number of times must be from 0 to %d.", MaxCount))
	}
}

func (v *validator) optWindow(path string, w *Window) {
	if w != nil {
		v.window(path, *w, true)
	}
}

func (v *validator) window(path string, w Window, everOK bool) {
	switch w.Kind {
	case "ever":
		if !everOK {
			v.add(path+".kind", "Choose within the last N days, between two dates, or since a date.")
		}
	case "last_days":
		if w.Days < 1 || w.Days > MaxDays {
			v.add(path+".days", fmt.Sprintf(`"Within the last" needs a number of days from 1 to %d.`, MaxDays))
		}
	case "between":
		f, okF := v.date(path+".from", w.From)
		t, okT := v.date(path+".to", w.To)
		if okF && okT && t.Before(f) {
			v.add(path+".to", "The end date must be on or after the start date.")
		}
	case "since":
		v.date(path+".from", w.From)
	default:
		v.add(path+".kind", "Choose within the last N days, between two dates, or since a date.")
	}
}

func (v *validator) date(path, s string) (time.Time, bool) {
	t, err := time.Parse(time.DateOnly, s)
	if err != nil || t.Year() < 1990 || t.Year() > 2100 {
		v.add(path, "Enter a date as YYYY-MM-DD (between 1990 and 2100).")
		return time.Time{}, false
	}
	return t, true
}

func (v *validator) filter(path, event string, f Filter) {
	switch f.Kind {
	case "product", "collection":
		if !numericIDRe.MatchString(f.Value) {
			v.add(path+".value", "Choose a "+f.Kind+" from your store.")
		}
	case "search_term":
		if event != "search_submitted" {
			v.add(path+".kind", "A search term can only narrow the search_submitted activity.")
		}
		v.text(path+".value", f.Value, "search term")
	default:
		v.add(path+".kind", "Narrow by product, collection or search term.")
	}
}

// cycle reports whether following "in segment" conditions from r leads back
// to selfID (or into any loop), with the chain of ids for the message.
func cycle(r Rules, selfID int64, lookup Lookup) (string, bool) {
	state := map[int64]int{} // 1 visiting, 2 done
	if selfID != 0 {
		state[selfID] = 1
	}
	var visit func(r Rules, chain []int64) ([]int64, bool)
	visit = func(r Rules, chain []int64) ([]int64, bool) {
		var found []int64
		r.Walk(func(c Condition) {
			if found != nil || c.Field != FieldSegment {
				return
			}
			id := c.SegmentID
			switch state[id] {
			case 1:
				found = append(append([]int64{}, chain...), id)
				return
			case 2:
				return
			}
			other, ok := lookup(id)
			if !ok {
				return
			}
			state[id] = 1
			if f, bad := visit(other, append(chain, id)); bad {
				found = f
				return
			}
			state[id] = 2
		})
		return found, found != nil
	}
	start := []int64{}
	if selfID != 0 {
		start = []int64{selfID}
	}
	chain, bad := visit(r, start)
	if !bad {
		return "", false
	}
	parts := make([]string, len(chain))
	for i, id := range chain {
		parts[i] = fmt.Sprintf("segment %d", id)
	}
	return strings.Join(parts, " → "), true
}
