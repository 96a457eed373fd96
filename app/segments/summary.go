package segments

import (
	"fmt"
	"strconv"
	"strings"
)

// Summary describes rules in plain words: "Customers who placed at least 1
// order, and whose last order was not in the last 180 days".
func Summary(r Rules, segmentName func(id int64) string) string {
	if segmentName == nil {
		segmentName = func(id int64) string { return "segment " + strconv.FormatInt(id, 10) }
	}
	s := summarizer{name: segmentName}
	return "Customers who " + s.group(r.Root, true)
}

type summarizer struct{ name func(int64) string }

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

func idList(ids []int64) string {
	q := make([]string, len(ids))
	for i, x := range ids {
		q[i] = strconv.FormatInt(x, 10)
	}
	return strings.Join(q, ", ")
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
		return not(c.Op, "bought", "never bought") + " product " + idList(c.IDs)
	case FieldBoughtColl:
		return not(c.Op, "bought", "never bought") + " from collection " + idList(c.IDs)
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
		if c.Filter != nil {
			f = fmt.Sprintf(" (%s %q)", strings.ReplaceAll(c.Filter.Kind, "_", " "), c.Filter.Value)
		}
		return fmt.Sprintf("%s %s%s %s%s", not(c.Op, "did", "did not do"), c.Event, f, countText(c.Count), windowText(c.Window))
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
	case FieldSegment:
		return not(c.Op, "are in ", "are not in ") + strconv.Quote(s.name(c.SegmentID))
	}
	return "match an unknown condition"
}
