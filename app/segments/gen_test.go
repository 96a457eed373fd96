package segments

import (
	"fmt"
	"math/rand"
	"strings"
	"time"
)

// chooser is where random choices come from: math/rand for the property
// test, the fuzzer's bytes for FuzzCompile.
type chooser interface{ Intn(n int) int }

type byteChooser struct {
	b []byte
	i int
}

func (c *byteChooser) Intn(n int) int {
	if n <= 1 {
		return 0
	}
	if c.i >= len(c.b) {
		return 0
	}
	v := int(c.b[c.i])
	c.i++
	return v % n
}

var hostile = []string{
	"'; DROP TABLE customers; --", "%", "\\", "_%_", "$1", "$2::text", "O'Brien", `"quoted"`,
	"Zürich", "東京", "🙂 emoji", "a\nb", "\\x00", "e'\\''", "' OR '1'='1", "--", "/*", "$$",
}

// Pools shared by the seed and the generator so that conditions match some
// customers and not others.
var (
	poolDomains   = []string{"gmail.com", "example.com", "shop.co"}
	poolCountries = []string{"US", "DE", "FR", "CN"}
	poolCities    = []string{"Berlin", "paris", "New York", "Zürich"}
	poolLocales   = []string{"en", "en-US", "fr", "de-DE", "zh_CN", ""}
	poolLangs     = []string{"en", "fr", "de", "zh"}
	poolTags      = []string{"vip", "wholesale", "back in stock", "ünï"}
	poolPropKeys  = []string{"plan", "tier"}
	poolPropVals  = []string{"gold", "silver"}
	poolProducts  = []int64{101, 102, 103, 104, 105, 106, 107, 108}
	poolColls     = []int64{11, 12, 13, 14}
	poolCodes     = []string{"SAVE10", "welcome", "spin-5"}
	poolEvents    = []string{"product_viewed", "collection_viewed", "search_submitted", "product_added_to_cart", "subscribed"}
	poolTerms     = []string{"boot", "hat", "100%", "red boot"}
	poolSegments  = []int64{} // filled by the seed
)

type gen struct {
	r       chooser
	now     time.Time
	hostile bool // mix hostile strings into text values
	conds   int
}

func pick[T any](g *gen, xs []T) T { return xs[g.r.Intn(len(xs))] }

func (g *gen) text(pool []string) string {
	if g.hostile && g.r.Intn(3) == 0 {
		return pick(g, hostile)
	}
	return pick(g, pool)
}

func (g *gen) texts(pool []string) []string {
	n := 1 + g.r.Intn(3)
	out := make([]string, n)
	for i := range out {
		out[i] = g.text(pool)
	}
	return out
}

func (g *gen) rules() Rules {
	g.conds = 0
	return Rules{Version: Version, Root: g.group(1)}
}

func (g *gen) group(depth int) Group {
	gr := Group{Op: pick(g, []string{"and", "or"})}
	n := 1 + g.r.Intn(4)
	for i := 0; i < n; i++ {
		if depth < MaxDepth && g.r.Intn(4) == 0 {
			sub := g.group(depth + 1)
			gr.Items = append(gr.Items, Node{Group: &sub})
			continue
		}
		if g.conds >= MaxConditions {
			break
		}
		c := g.condition()
		g.conds++
		gr.Items = append(gr.Items, Node{Condition: &c})
	}
	if len(gr.Items) == 0 {
		c := Condition{Field: FieldUnsubscribed, Op: "is"}
		gr.Items = append(gr.Items, Node{Condition: &c})
	}
	return gr
}

func (g *gen) date(offsetDays int) string {
	return g.now.AddDate(0, 0, offsetDays).Format(time.DateOnly)
}

func (g *gen) window(everOK bool) *Window {
	kinds := []string{"last_days", "between", "since"}
	if everOK {
		kinds = append(kinds, "ever", "nil")
	}
	switch pick(g, kinds) {
	case "nil":
		return nil
	case "ever":
		return &Window{Kind: "ever"}
	case "last_days":
		return &Window{Kind: "last_days", Days: pick(g, []int{1, 2, 3, 7, 30, 90, 365, 3650})}
	case "between":
		a := -g.r.Intn(400)
		b := a + g.r.Intn(200)
		return &Window{Kind: "between", From: g.date(a), To: g.date(b)}
	}
	return &Window{Kind: "since", From: g.date(-g.r.Intn(400))}
}

func (g *gen) count() *Count {
	if g.r.Intn(3) == 0 {
		return nil
	}
	return &Count{Op: pick(g, []string{"at_least", "at_most", "exactly"}), N: g.r.Intn(4)}
}

func (g *gen) condition() Condition {
	fields := []string{FieldEmailDomain, FieldCountry, FieldCity, FieldLanguage, FieldSource, FieldConsent,
		FieldTags, FieldCreatedAt, FieldSubscribedAt, FieldProperty, FieldOrdersCount, FieldTotalSpent, FieldAOV,
		FieldFirstOrderAt, FieldLastOrderAt, FieldBoughtProd, FieldBoughtColl, FieldUsedDiscount, FieldEvent,
		FieldEmailReceived, FieldEmailOpened, FieldEmailClicked, FieldOpenedNoClick, FieldSuppressed,
		FieldUnsubscribed, FieldRFM}
	if len(poolSegments) > 0 {
		fields = append(fields, FieldSegment)
	}
	c := Condition{Field: pick(g, fields)}
	switch c.Field {
	case FieldEmailDomain:
		c.Op, c.Value = pick(g, []string{"is", "is_not"}), pick(g, poolDomains)
	case FieldCountry:
		c.Op, c.Values = pick(g, []string{"in", "not_in"}), g.texts(poolCountries)
		if g.hostile { // countries must be codes; keep the tree valid
			c.Values = []string{pick(g, poolCountries)}
		}
	case FieldCity:
		c.Op, c.Values = pick(g, []string{"in", "not_in"}), g.texts(poolCities)
	case FieldLanguage:
		c.Op, c.Values = pick(g, []string{"in", "not_in"}), []string{pick(g, poolLangs), pick(g, poolLangs)}
	case FieldSource:
		c.Op, c.Values = pick(g, []string{"in", "not_in"}), []string{pick(g, sources)}
	case FieldConsent:
		c.Op, c.Values = pick(g, []string{"in", "not_in"}), []string{pick(g, consentStates), pick(g, consentStates)}
	case FieldTags:
		c.Op, c.Values = pick(g, []string{"has_any", "has_none"}), g.texts(poolTags)
	case FieldCreatedAt, FieldSubscribedAt, FieldFirstOrderAt, FieldLastOrderAt:
		c.Op, c.Window = pick(g, []string{"within", "not_within"}), g.window(false)
	case FieldProperty:
		c.Op, c.Key = pick(g, []string{"equals", "not_equals", "exists", "not_exists"}), pick(g, poolPropKeys)
		if c.Op == "equals" || c.Op == "not_equals" {
			c.Value = g.text(poolPropVals)
		}
	case FieldOrdersCount:
		n := float64(g.r.Intn(5))
		c.Op, c.Number = pick(g, []string{"gte", "lte", "eq", "gt", "lt"}), &n
	case FieldTotalSpent, FieldAOV:
		n := pick(g, []float64{0, 50, 100.5, 250, 19.99})
		c.Op, c.Number = pick(g, []string{"gte", "lte", "eq", "gt", "lt"}), &n
	case FieldBoughtProd:
		c.Op, c.IDs = pick(g, []string{"has", "has_not"}), []int64{pick(g, poolProducts), pick(g, poolProducts)}
	case FieldBoughtColl:
		c.Op, c.IDs = pick(g, []string{"has", "has_not"}), []int64{pick(g, poolColls)}
	case FieldUsedDiscount:
		c.Op = pick(g, []string{"has", "has_not"})
		if g.r.Intn(2) == 0 {
			c.Value = strings.ToUpper(g.text(poolCodes))
		}
	case FieldEvent:
		c.Op, c.Event, c.Count, c.Window = pick(g, []string{"did", "did_not"}), pick(g, poolEvents), g.count(), g.window(true)
		if g.r.Intn(2) == 0 {
			switch c.Event {
			case "product_viewed", "product_added_to_cart":
				c.Filter = &Filter{Kind: "product", Value: fmt.Sprint(pick(g, poolProducts))}
			case "collection_viewed":
				c.Filter = &Filter{Kind: "collection", Value: fmt.Sprint(pick(g, poolColls))}
			case "search_submitted":
				c.Filter = &Filter{Kind: "search_term", Value: g.text(poolTerms)}
			}
		}
	case FieldEmailReceived, FieldEmailOpened, FieldEmailClicked:
		c.Op, c.Count, c.Window = pick(g, []string{"did", "did_not"}), g.count(), g.window(true)
	case FieldOpenedNoClick:
		c.Op, c.Window = pick(g, []string{"did", "did_not"}), g.window(true)
	case FieldSuppressed:
		c.Op = pick(g, []string{"is", "is_not"})
		if g.r.Intn(2) == 0 {
			c.Values = []string{pick(g, SuppressionReasons), pick(g, SuppressionReasons)}
		}
	case FieldUnsubscribed:
		c.Op = pick(g, []string{"is", "is_not"})
	case FieldRFM:
		c.Op, c.Values = pick(g, []string{"in", "not_in"}), []string{pick(g, RFMCells), pick(g, RFMCells)}
	case FieldSegment:
		c.Op, c.SegmentID = pick(g, []string{"in", "not_in"}), pick(g, poolSegments)
	}
	return c
}

func newRandGen(seed int64, now time.Time) *gen {
	return &gen{r: rand.New(rand.NewSource(seed)), now: now}
}

// userStrings lists every merchant-supplied string in r.
func userStrings(r Rules) []string {
	var out []string
	r.Walk(func(c Condition) {
		out = append(out, c.Value, c.Key, c.Event)
		out = append(out, c.Values...)
		if c.Filter != nil {
			out = append(out, c.Filter.Value)
		}
	})
	return out
}

// blank returns r with every user string replaced by a fixed stand-in (empty
// stays empty), so SQL text that depends only on structure is unchanged.
func blank(r Rules) Rules {
	var g func(Group) Group
	g = func(in Group) Group {
		out := Group{Op: in.Op}
		for _, n := range in.Items {
			if n.Group != nil {
				s := g(*n.Group)
				out.Items = append(out.Items, Node{Group: &s})
				continue
			}
			c := *n.Condition
			x := func(s string) string {
				if s == "" {
					return ""
				}
				return "x"
			}
			c.Value, c.Key, c.Event = x(c.Value), x(c.Key), x(c.Event)
			vals := make([]string, len(c.Values))
			for i := range vals {
				vals[i] = "x"
			}
			c.Values = vals
			if c.Filter != nil {
				f := *c.Filter
				f.Value = x(f.Value)
				c.Filter = &f
			}
			out.Items = append(out.Items, Node{Condition: &c})
		}
		return out
	}
	return Rules{Version: r.Version, Root: g(r.Root)}
}
