package segments

import (
	"fmt"
	"strconv"
	"strings"

	"github.com/cartwheel/cartwheel/app/lifecycle"
)

// Names resolves the ids a rule refers to, for Summary; a nil function (or
// an unknown id) falls back to the id.
type Names struct {
	Segment    func(id int64) string
	Product    func(id int64) string
	Collection func(id int64) string
}

func (n Names) name(fn func(int64) string, what string, id int64) string {
	if fn != nil {
		if s := fn(id); s != "" {
			return strconv.Quote(s)
		}
	}
	return what + " " + strconv.FormatInt(id, 10)
}

// Summary describes rules in plain words: "Customers who placed at least 1
// order, and whose last order was not in the last 180 days".
func Summary(r Rules, names Names) string {
	s := summarizer{names}
	return "Customers who " + s.group(r.Root, true)
}

// eventPhrases say what a storefront event means, after "did"/"did not".
var eventPhrases = map[string][2]string{
	"page_viewed":                      {"viewed a page", "view a page"},
	"product_viewed":                   {"viewed a product", "view a product"},
	"collection_viewed":                {"viewed a collection", "view a collection"},
	"search_submitted":                 {"searched the store", "search the store"},
	"product_added_to_cart":            {"added a product to the cart", "add a product to the cart"},
	"product_removed_from_cart":        {"removed a product from the cart", "remove a product from the cart"},
	"cart_viewed":                      {"viewed the cart", "view the cart"},
	"checkout_started":                 {"started a checkout", "start a checkout"},
	"checkout_contact_info_submitted":  {"entered contact details at checkout", "enter contact details at checkout"},
	"checkout_address_info_submitted":  {"entered an address at checkout", "enter an address at checkout"},
	"checkout_shipping_info_submitted": {"chose shipping at checkout", "choose shipping at checkout"},
	"payment_info_submitted":           {"entered payment details", "enter payment details"},
	"checkout_completed":               {"completed a checkout", "complete a checkout"},
	"wheel_spun":                       {"spun the signup wheel", "spin the signup wheel"},
}

// EventLabel names an event for the builder's picker ("Viewed a product").
func EventLabel(name string) string {
	if p, ok := eventPhrases[name]; ok {
		return strings.ToUpper(p[0][:1]) + p[0][1:]
	}
	return strings.ReplaceAll(name, "_", " ")
}

type summarizer struct{ names Names }

func (s summarizer) group(g Group, top bool) string {
	joiner := ", and "
	if g.Op == "or" {
		joiner = ", or "
	}
	parts := make([]string, 0, len(g.Items))
	for _, n := range g.Items {
		switch {
		case n.Group != nil:
			parts = append(parts, "("+s.group(*n.Group, false)+")")
		case n.Condition != nil:
			parts = append(parts, s.cond(*n.Condition))
		}
	}
	out := strings.Join(parts, joiner)
	if !top && len(parts) > 1 && g.Op == "or" {
		out = "either " + out
	}
	return out
}

func quoteList(v []string, conj string) string {
	q := make([]string, len(v))
	for i, x := range v {
		q[i] = strconv.Quote(x)
	}
	if len(q) <= 1 {
		return strings.Join(q, "")
	}
	return strings.Join(q[:len(q)-1], ", ") + " " + conj + " " + q[len(q)-1]
}

// list names ids joined with "or".
func (s summarizer) list(ids []int64, fn func(int64) string, what string) string {
	q := make([]string, len(ids))
	for i, id := range ids {
		q[i] = s.names.name(fn, what, id)
	}
	if len(q) <= 1 {
		return strings.Join(q, "")
	}
	return strings.Join(q[:len(q)-1], ", ") + " or " + q[len(q)-1]
}

func windowText(w *Window) string {
	if w == nil {
		return ""
	}
	switch w.Kind {
	case "last_days":
		if w.Days == 1 {
			return " today"
		}
		return fmt.Sprintf(" in the last %d days", w.Days)
	case "between":
		return fmt.Sprintf(" between %s and %s", w.From, w.To)
	case "since":
		return " since " + w.From
	}
	return ""
}

func countText(c *Count) string {
	if c == nil {
		return "at least once"
	}
	times := "times"
	if c.N == 1 {
		times = "time"
	}
	return fmt.Sprintf("%s %d %s", strings.ReplaceAll(c.Op, "_", " "), c.N, times)
}

func not(op string, yes, no string) string {
	if negated(op) {
		return no
	}
	return yes
}

func (s summarizer) cond(c Condition) string {
	switch c.Field {
	case FieldEmailDomain:
		return not(c.Op, "have", "don't have") + " an email address at " + strconv.Quote(c.Value)
	case FieldCountry, FieldCity, FieldLanguage, FieldSource, FieldConsent:
		what := map[string]string{FieldCountry: "country", FieldCity: "city", FieldLanguage: "language",
			FieldSource: "signup source", FieldConsent: "email consent"}[c.Field]
		return "have " + what + not(c.Op, " ", " other than ") + quoteList(c.Values, "or")
	case FieldTags:
		return not(c.Op, "are tagged ", "are not tagged ") + quoteList(c.Values, "or")
	case FieldCreatedAt:
		return not(c.Op, "were created", "were not created") + windowText(c.Window)
	case FieldSubscribedAt:
		return not(c.Op, "subscribed", "did not subscribe") + windowText(c.Window)
	case FieldFirstOrderAt:
		return not(c.Op, "placed their first order", "did not place their first order") + windowText(c.Window)
	case FieldLastOrderAt:
		return not(c.Op, "placed their last order", "did not place their last order") + windowText(c.Window)
	case FieldProperty:
		switch c.Op {
		case "equals":
			return fmt.Sprintf("have %s set to %q", strconv.Quote(c.Key), c.Value)
		case "not_equals":
			return fmt.Sprintf("don't have %s set to %q", strconv.Quote(c.Key), c.Value)
		}
		return not(c.Op, "have ", "don't have ") + "the property " + strconv.Quote(c.Key)
	case FieldOrdersCount, FieldTotalSpent, FieldAOV:
		cmp := map[string]string{"gte": "at least", "lte": "at most", "eq": "exactly", "gt": "more than", "lt": "less than"}[c.Op]
		switch c.Field {
		case FieldOrdersCount:
			n := int(*c.Number)
			if n == 1 {
				return fmt.Sprintf("placed %s 1 order", cmp)
			}
			return fmt.Sprintf("placed %s %d orders", cmp, n)
		case FieldTotalSpent:
			return fmt.Sprintf("spent %s %.2f in total", cmp, *c.Number)
		}
		return fmt.Sprintf("have an average order value of %s %.2f", cmp, *c.Number)
	case FieldBoughtProd:
		return not(c.Op, "bought ", "never bought ") + s.list(c.IDs, s.names.Product, "product")
	case FieldBoughtColl:
		return not(c.Op, "bought from ", "never bought from ") + s.list(c.IDs, s.names.Collection, "collection")
	case FieldRFM:
		labels := make([]string, len(c.Values))
		for i, v := range c.Values {
			labels[i] = strconv.Quote(RFMLabels[v])
		}
		return not(c.Op, "are in the RFM group ", "are not in the RFM group ") + strings.Join(labels, " or ")
	case FieldUsedDiscount:
		code := "a discount code"
		if c.Value != "" {
			code = "the discount code " + strconv.Quote(c.Value)
		}
		return not(c.Op, "used ", "never used ") + code
	case FieldEvent:
		f := ""
		if fl := c.Filter; fl != nil {
			switch fl.Kind {
			case "product", "collection":
				fn := s.names.Product
				if fl.Kind == "collection" {
					fn = s.names.Collection
				}
				id, _ := strconv.ParseInt(fl.Value, 10, 64)
				f = " (" + s.names.name(fn, fl.Kind, id) + ")"
			default:
				f = fmt.Sprintf(" (search term %q)", fl.Value)
			}
		}
		phrase, ok := eventPhrases[c.Event]
		if !ok {
			phrase = [2]string{"did " + c.Event, "do " + c.Event}
		}
		verb := not(c.Op, phrase[0], "did not "+phrase[1])
		return fmt.Sprintf("%s%s %s%s", verb, f, countText(c.Count), windowText(c.Window))
	case FieldEmailReceived, FieldEmailOpened, FieldEmailClicked:
		verb := map[string]string{FieldEmailReceived: "received", FieldEmailOpened: "opened", FieldEmailClicked: "clicked"}[c.Field]
		return fmt.Sprintf("%s%s an email %s%s", not(c.Op, "", "did not "), verb, countText(c.Count), windowText(c.Window))
	case FieldOpenedNoClick:
		return not(c.Op, "opened an email but did not click it", "did not open an email without clicking it") + windowText(c.Window)
	case FieldSuppressed:
		why := ""
		if len(c.Values) > 0 {
			labels := make([]string, len(c.Values))
			for i, v := range c.Values {
				labels[i] = ReasonLabels[v]
			}
			why = " for " + strings.Join(labels, " or ")
		}
		return not(c.Op, "are", "are not") + " on the suppression list" + why
	case FieldUnsubscribed:
		return not(c.Op, "have", "have not") + " unsubscribed"
	case FieldLifecycle:
		l, _ := lifecycle.ParseLevel(c.Value)
		when := fmt.Sprintf("the last %d days", lifecycle.WindowDays)
		if c.Window != nil && c.Window.Kind == "between" {
			when = c.Window.From + " to " + c.Window.To
		}
		return not(c.Op, "are", "are not") + " " + strconv.Quote(l.Label()) + " in the lifecycle funnel of " + when
	case FieldSegment:
		return not(c.Op, "are in ", "are not in ") + s.names.name(s.names.Segment, "segment", c.SegmentID)
	}
	return "match an unknown condition"
}
