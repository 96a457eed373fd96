package segments

import (
	"math"
	"strings"
	"time"
)

// Snapshot is a shop's data in memory, for Eval. Tests load it and compare
// Eval with the compiled SQL; production code uses Compile.
type Snapshot struct {
	Customers    []SnapCustomer
	Orders       []SnapOrder       // by customer
	Bought       map[int64][]int64 // customer -> product ids (customer_products)
	ProductColls map[int64][]int64 // product id -> collection ids
	Events       []SnapEvent
	Messages     []SnapMessage
	EmailEvents  []SnapEmailEvent
	Suppressed   map[string]string        // lower(email) -> reason
	Members      map[int64]map[int64]bool // segment -> customer
	RFM          *RFMThresholds           // nil: no buyers
}

type SnapCustomer struct {
	ID                            int64
	Email                         *string
	Country, City, Locale, Source string
	Consent                       string
	ConsentAt                     *time.Time
	Tags                          []string
	Properties                    map[string]string
	CreatedAt                     time.Time
	ShopifyCreatedAt              *time.Time
	OrdersCount                   int
	TotalSpentCents, AOVCents     int64
	FirstOrderAt, LastOrderAt     *time.Time
}

type SnapOrder struct {
	CustomerID    int64
	Cancelled     bool
	Test          bool
	DiscountCodes []string
}

type SnapEvent struct {
	CustomerID   int64
	Name         string
	OccurredAt   time.Time
	ProductID    string // productVariant.product.id or cartLine.merchandise.product.id
	CollectionID string
	SearchQuery  *string
}

type SnapMessage struct {
	ID, CustomerID int64
	Kind           string
	SentAt         *time.Time
}

type SnapEmailEvent struct {
	MessageID  int64
	Kind       string
	Machine    bool
	OccurredAt time.Time
}

// Eval returns the ids of customers matching r, in snapshot order.
func Eval(s *Snapshot, r Rules, now time.Time, loc *time.Location) []int64 {
	e := &evaluator{s: s, now: now, loc: loc, msgs: map[int64]SnapMessage{}}
	for _, m := range s.Messages {
		e.msgs[m.ID] = m
	}
	var out []int64
	for i := range s.Customers {
		if e.group(&s.Customers[i], r.Root) {
			out = append(out, s.Customers[i].ID)
		}
	}
	return out
}

type evaluator struct {
	s    *Snapshot
	now  time.Time
	loc  *time.Location
	msgs map[int64]SnapMessage
}

func (e *evaluator) group(c *SnapCustomer, g Group) bool {
	for _, n := range g.Items {
		var v bool
		if n.Group != nil {
			v = e.group(c, *n.Group)
		} else {
			v = e.cond(c, *n.Condition)
		}
		if g.Op == "or" && v {
			return true
		}
		if g.Op == "and" && !v {
			return false
		}
	}
	return g.Op == "and"
}

func (e *evaluator) cond(c *SnapCustomer, k Condition) bool {
	v := e.positive(c, k)
	if negated(k.Op) {
		return !v
	}
	return v
}

func (e *evaluator) in(w *Window, t *time.Time) bool {
	if t == nil {
		return false
	}
	lo, hi := Bounds(w, e.now, e.loc)
	return (lo.IsZero() || !t.Before(lo)) && (hi.IsZero() || t.Before(hi))
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

func countOK(c *Count, n int) bool {
	if c == nil {
		return n >= 1
	}
	switch c.Op {
	case "at_least":
		return n >= c.N
	case "at_most":
		return n <= c.N
	}
	return n == c.N
}

func (e *evaluator) positive(c *SnapCustomer, k Condition) bool {
	switch k.Field {
	case FieldEmailDomain:
		d := ""
		if c.Email != nil {
			if i := strings.Index(*c.Email, "@"); i >= 0 {
				d = strings.ToLower(strings.SplitN((*c.Email)[i+1:], "@", 2)[0])
			}
		}
		return d == k.Value
	case FieldCountry:
		return contains(k.Values, c.Country)
	case FieldCity:
		return contains(lowerAll(k.Values), strings.ToLower(c.City))
	case FieldLanguage:
		l := strings.ToLower(strings.SplitN(strings.ReplaceAll(c.Locale, "_", "-"), "-", 2)[0])
		return contains(k.Values, l)
	case FieldSource:
		return contains(k.Values, c.Source)
	case FieldConsent:
		return contains(k.Values, c.Consent)
	case FieldTags:
		for _, t := range c.Tags {
			if contains(k.Values, t) {
				return true
			}
		}
		return false
	case FieldCreatedAt:
		t := c.CreatedAt
		if c.ShopifyCreatedAt != nil {
			t = *c.ShopifyCreatedAt
		}
		return e.in(k.Window, &t)
	case FieldSubscribedAt:
		return c.Consent == "subscribed" && e.in(k.Window, c.ConsentAt)
	case FieldFirstOrderAt:
		return e.in(k.Window, c.FirstOrderAt)
	case FieldLastOrderAt:
		return e.in(k.Window, c.LastOrderAt)
	case FieldProperty:
		v, ok := c.Properties[k.Key]
		if k.Op == "equals" || k.Op == "not_equals" {
			return ok && v == k.Value
		}
		return ok
	case FieldOrdersCount, FieldTotalSpent, FieldAOV:
		want := int64(math.Round(*k.Number * 100))
		have := int64(c.OrdersCount) * 100
		if k.Field == FieldTotalSpent {
			have = c.TotalSpentCents
		} else if k.Field == FieldAOV {
			have = c.AOVCents
		}
		switch k.Op {
		case "gte":
			return have >= want
		case "lte":
			return have <= want
		case "gt":
			return have > want
		case "lt":
			return have < want
		}
		return have == want
	case FieldRFM:
		cell, ok := e.s.RFM.Cell(c.OrdersCount, c.TotalSpentCents, c.LastOrderAt)
		return ok && contains(k.Values, cell)
	case FieldBoughtProd:
		for _, p := range e.s.Bought[c.ID] {
			for _, id := range k.IDs {
				if p == id {
					return true
				}
			}
		}
		return false
	case FieldBoughtColl:
		for _, p := range e.s.Bought[c.ID] {
			for _, col := range e.s.ProductColls[p] {
				for _, id := range k.IDs {
					if col == id {
						return true
					}
				}
			}
		}
		return false
	case FieldUsedDiscount:
		for _, o := range e.s.Orders {
			if o.CustomerID != c.ID || o.Cancelled || o.Test {
				continue
			}
			if k.Value == "" && len(o.DiscountCodes) > 0 {
				return true
			}
			for _, d := range o.DiscountCodes {
				if k.Value != "" && strings.ToLower(d) == strings.ToLower(k.Value) {
					return true
				}
			}
		}
		return false
	case FieldEvent:
		n := 0
		for _, ev := range e.s.Events {
			if ev.CustomerID != c.ID || ev.Name != k.Event || !e.in(k.Window, &ev.OccurredAt) {
				continue
			}
			if f := k.Filter; f != nil {
				switch f.Kind {
				case "product":
					if ev.ProductID != f.Value {
						continue
					}
				case "collection":
					if ev.CollectionID != f.Value {
						continue
					}
				case "search_term":
					if ev.SearchQuery == nil || !strings.Contains(strings.ToLower(*ev.SearchQuery), strings.ToLower(f.Value)) {
						continue
					}
				}
			}
			n++
		}
		return countOK(k.Count, n)
	case FieldEmailReceived:
		n := 0
		for _, m := range e.s.Messages {
			if m.CustomerID == c.ID && (m.Kind == "campaign" || m.Kind == "flow") && m.SentAt != nil && e.in(k.Window, m.SentAt) {
				n++
			}
		}
		return countOK(k.Count, n)
	case FieldEmailOpened, FieldEmailClicked:
		kind := "open"
		if k.Field == FieldEmailClicked {
			kind = "click"
		}
		seen := map[int64]bool{}
		for _, ev := range e.s.EmailEvents {
			if m, ok := e.msgs[ev.MessageID]; ok && m.CustomerID == c.ID && ev.Kind == kind && !ev.Machine && e.in(k.Window, &ev.OccurredAt) {
				seen[ev.MessageID] = true
			}
		}
		return countOK(k.Count, len(seen))
	case FieldOpenedNoClick:
		opened, clicked := map[int64]bool{}, map[int64]bool{}
		for _, ev := range e.s.EmailEvents {
			m, ok := e.msgs[ev.MessageID]
			if !ok || m.CustomerID != c.ID || ev.Machine {
				continue
			}
			if ev.Kind == "open" && e.in(k.Window, &ev.OccurredAt) {
				opened[ev.MessageID] = true
			}
			if ev.Kind == "click" {
				clicked[ev.MessageID] = true
			}
		}
		for id := range opened {
			if !clicked[id] {
				return true
			}
		}
		return false
	case FieldSuppressed:
		if c.Email == nil {
			return false
		}
		reason, ok := e.s.Suppressed[strings.ToLower(*c.Email)]
		return ok && (len(k.Values) == 0 || contains(k.Values, reason))
	case FieldUnsubscribed:
		return c.Consent == "unsubscribed"
	case FieldSegment:
		return e.s.Members[k.SegmentID][c.ID]
	}
	return false
}
