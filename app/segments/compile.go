package segments

import (
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/lib/pq"

	"github.com/cartwheel/cartwheel/app/lifecycle"
)

// The SQL text is assembled only from these fixed fragments and from
// placeholders; every value a merchant supplied travels in args.
//
// Conditions on other tables (orders, events, emails, suppressions, other
// segments) compile in one of two shapes:
//   - for a whole shop (Compile), a LEFT JOIN of one set-based subquery each,
//     grouped by customer: each table is read once (hash joins) instead of
//     being probed once per customer;
//   - for one customer (compileCustomer), a correlated subquery each, so that
//     every segment of the shop can be tested in one short statement whose
//     subqueries are index lookups on that customer.
//
// Both shapes are checked against Eval by the same property tests.
const (
	sqlSelect        = "SELECT c.id FROM customers c"
	sqlWhere         = " WHERE c.shop_id = $1 AND c.deleted_at IS NULL AND ("
	sqlEmailDomain   = "COALESCE(lower(split_part(c.email, '@', 2)), '')"
	sqlLanguage      = "lower(split_part(replace(c.locale, '_', '-'), '-', 1))"
	sqlOrdersFrom    = " FROM orders o WHERE o.shop_id = $1 AND o.customer_id IS NOT NULL AND o.cancelled_at IS NULL AND NOT o.test"
	sqlEventsFrom    = " FROM events e WHERE e.shop_id = $1 AND e.customer_id IS NOT NULL"
	sqlMessagesFrom  = " FROM email_messages m WHERE m.shop_id = $1 AND m.customer_id IS NOT NULL"
	sqlEngagedFrom   = " FROM email_messages m JOIN email_events ev ON ev.message_id = m.id WHERE m.shop_id = $1 AND m.customer_id IS NOT NULL AND NOT ev.machine"
	sqlBoughtFrom    = " FROM customer_products cp WHERE cp.shop_id = $1 AND cp.product_id = ANY("
	sqlBoughtColl    = " FROM customer_products cp JOIN products p ON p.shop_id = cp.shop_id AND p.shopify_id = cp.product_id WHERE cp.shop_id = $1 AND p.collection_ids && "
	sqlFilterProduct = "(COALESCE(e.data->'productVariant'->'product'->>'id', e.data->'cartLine'->'merchandise'->'product'->>'id') = "
)

// tally is a kind of per-customer count: the rows of from (its customer
// id in col) counted with agg.
type tally struct {
	key, from, col, agg string
}

var (
	tallyEvents   = tally{"le", sqlEventsFrom, "e.customer_id", "count(*)"}
	tallyMessages = tally{"lm", sqlMessagesFrom, "m.customer_id", "count(*)"}
	tallyEngaged  = tally{"lg", sqlEngagedFrom, "m.customer_id", "count(DISTINCT m.id)"}
	tallies       = []tally{tallyEvents, tallyMessages, tallyEngaged}
)

var numericColumn = map[string]string{
	FieldOrdersCount: "c.orders_count",
	FieldTotalSpent:  "c.total_spent",
	FieldAOV:         "c.average_order_value",
}

var timeColumn = map[string]string{
	FieldCreatedAt:    "COALESCE(c.shopify_created_at, c.created_at)",
	FieldSubscribedAt: "c.email_consent_updated_at",
	FieldFirstOrderAt: "c.first_order_at",
	FieldLastOrderAt:  "c.last_order_at",
}

var cmpSQL = map[string]string{"gte": " >= ", "lte": " <= ", "eq": " = ", "gt": " > ", "lt": " < "}
var countSQL = map[string]string{"at_least": " >= ", "at_most": " <= ", "exactly": " = "}

// Compile turns valid rules into one query returning the ids of the shop's
// matching customers. Relative windows are resolved against now in loc.
// Rules are validated first; invalid rules return the validation error.
func Compile(shopID int64, r Rules, now time.Time, loc *time.Location) (string, []any, error) {
	if loc == nil {
		loc = time.UTC
	}
	if err := Validate(r, 0, nil); err != nil {
		return "", nil, err
	}
	sql, args := compile(shopID, r, now, loc)
	return sql, args, nil
}

// compile builds the whole-shop query for rules already validated.
func compile(shopID int64, r Rules, now time.Time, loc *time.Location) (string, []any) {
	return compileMode(shopID, r, now, loc, false)
}

// compileMode builds the member query in either shape (see above).
func compileMode(shopID int64, r Rules, now time.Time, loc *time.Location, correlated bool) (string, []any) {
	b := &builder{args: []any{shopID}, now: now, loc: loc, correlated: correlated}
	b.group(r.Root)
	return sqlSelect + b.joins.String() + b.laterals() + sqlWhere + b.sb.String() + ")", b.args
}

// compileCustomer builds one statement that tests one customer against
// several rule trees at once (correlated shape). It returns a row with
// "hits", a boolean per tree in order, when the customer exists in the shop
// and is not deleted, and no row otherwise. $1 is the shop; the customer's
// placeholder is returned.
func compileCustomer(shopID int64, rules []Rules, now time.Time, loc *time.Location, customerID int64) (sql string, args []any, custArg string) {
	b := &builder{args: []any{shopID, customerID}, now: now, loc: loc, correlated: true}
	b.w("SELECT ARRAY[")
	for i, r := range rules {
		if i > 0 {
			b.w(", ")
		}
		b.group(r.Root)
	}
	b.w("]::boolean[] AS hits FROM customers c" + b.laterals() + " WHERE c.shop_id = $1 AND c.id = $2 AND c.deleted_at IS NULL")
	return b.sb.String(), b.args, "$2"
}

// builder writes the WHERE expression into sb and, in the whole-shop shape,
// the joins it needs into joins; both share args, so placeholders are
// numbered in the order values were added, whichever part of the text they
// land in.
type builder struct {
	sb         strings.Builder
	joins      strings.Builder
	args       []any
	now        time.Time
	loc        *time.Location
	correlated bool
	n          int // aliases so far: j1, j2, …
	// In the correlated shape, all counts of one tally share one LATERAL
	// aggregate over the customer's rows (one index scan, one subplan to
	// plan): its aggregates, keyed by tally.key.
	aggs map[string][]string
}

// laterals writes the correlated shape's LATERAL aggregates.
func (b *builder) laterals() string {
	var out strings.Builder
	for _, t := range tallies {
		if aggs := b.aggs[t.key]; len(aggs) > 0 {
			out.WriteString(" LEFT JOIN LATERAL (SELECT " + strings.Join(aggs, ", ") + t.from + " AND " + t.col + " = c.id) " + t.key + " ON true")
		}
	}
	return out.String()
}

// arg appends a value and writes its placeholder.
func (b *builder) arg(v any) {
	b.args = append(b.args, v)
	b.sb.WriteString("$" + strconv.Itoa(len(b.args)))
}

func (b *builder) w(s string) { b.sb.WriteString(s) }

func (b *builder) alias() string {
	b.n++
	return "j" + strconv.Itoa(b.n)
}

// toJoins runs write with its output diverted to the join text.
func (b *builder) toJoins(write func()) {
	where := b.sb
	b.sb = strings.Builder{}
	write()
	b.joins.WriteString(b.sb.String())
	b.sb = where
}

// exists is "some row of from relates to the customer" (col is that row's
// customer id; from writes " FROM … WHERE …").
func (b *builder) exists(col string, from func()) {
	if b.correlated {
		b.w("EXISTS (SELECT 1")
		from()
		b.w(" AND " + col + " = c.id)")
		return
	}
	a := b.alias()
	b.toJoins(func() {
		b.w(" LEFT JOIN (SELECT DISTINCT " + col + " AS customer_id")
		from()
		b.w(") " + a + " ON " + a + ".customer_id = c.id")
	})
	b.w(a + ".customer_id IS NOT NULL")
}

// counts is "the number of rows of t that pass filter passes c" (no row:
// zero). filter writes a condition on t's rows.
func (b *builder) counts(t tally, filter func(), c *Count) {
	if b.correlated {
		where := b.sb
		b.sb = strings.Builder{}
		b.w(t.agg + " FILTER (WHERE ")
		filter()
		b.w(")")
		if b.aggs == nil {
			b.aggs = map[string][]string{}
		}
		name := "n" + strconv.Itoa(len(b.aggs[t.key])+1)
		b.aggs[t.key] = append(b.aggs[t.key], b.sb.String()+" AS "+name)
		b.sb = where
		b.w(t.key + "." + name)
		b.count(c)
		return
	}
	a := b.alias()
	b.toJoins(func() {
		b.w(" LEFT JOIN (SELECT " + t.col + " AS customer_id, " + t.agg + " AS n" + t.from + " AND ")
		filter()
		b.w(" GROUP BY " + t.col + ") " + a + " ON " + a + ".customer_id = c.id")
	})
	b.w("COALESCE(" + a + ".n, 0)")
	b.count(c)
}

// keyed is a test on the row of table that on selects (at most one per
// customer, by the table's key); test must fail when there is no row.
func (b *builder) keyed(table string, on, test func(a string)) {
	a := b.alias()
	if b.correlated {
		b.w("EXISTS (SELECT 1 FROM " + table + " " + a + " WHERE ")
		on(a)
		b.w(" AND ")
		test(a)
		b.w(")")
		return
	}
	b.toJoins(func() {
		b.w(" LEFT JOIN " + table + " " + a + " ON ")
		on(a)
	})
	test(a)
}

// activity writes a count condition answered from customer_activity
// (name is the activity), when activityShape allows; false otherwise.
func (b *builder) activity(name string, c Condition) bool {
	switch activityShape(c) {
	case "recent":
		// The window goes into the join, so only recent rows are read.
		b.keyed("customer_activity", func(a string) {
			b.w(a + ".customer_id = c.id AND " + a + ".shop_id = $1 AND " + a + ".name = ")
			b.arg(name)
			b.w(" AND ")
			b.window(a+".last_at", c.Window)
		}, func(a string) { b.w(a + ".customer_id IS NOT NULL") })
		return true
	case "total":
		// No row is a count of zero, which "at most" and "exactly 0" match.
		if b.correlated {
			b.w("COALESCE((SELECT a.n FROM customer_activity a WHERE a.customer_id = c.id AND a.shop_id = $1 AND a.name = ")
			b.arg(name)
			b.w("), 0)")
		} else {
			a := b.alias()
			b.toJoins(func() {
				b.w(" LEFT JOIN customer_activity " + a + " ON " + a + ".customer_id = c.id AND " + a + ".shop_id = $1 AND " + a + ".name = ")
				b.arg(name)
			})
			b.w("COALESCE(" + a + ".n, 0)")
		}
		b.count(c.Count)
		return true
	}
	return false
}

func (b *builder) group(g Group) {
	joiner := " AND "
	if g.Op == "or" {
		joiner = " OR "
	}
	b.w("(")
	for i, n := range g.Items {
		if i > 0 {
			b.w(joiner)
		}
		if n.Group != nil {
			b.group(*n.Group)
		} else {
			b.cond(*n.Condition)
		}
	}
	b.w(")")
}

func negated(op string) bool {
	return oneOf(op, "is_not", "not_in", "has_none", "not_within", "has_not", "did_not", "not_equals", "not_exists")
}

// cond writes the condition; COALESCE makes a NULL column count as "does
// not match", so that the negated form matches it (as Eval does).
func (b *builder) cond(c Condition) {
	if negated(c.Op) {
		b.w("NOT ")
	}
	b.w("COALESCE((")
	b.positive(c)
	b.w("), false)")
}

// positive writes the condition's positive form; cond negates it.
func (b *builder) positive(c Condition) {
	switch c.Field {
	case FieldEmailDomain:
		b.w(sqlEmailDomain + " = ")
		b.arg(c.Value)
	case FieldCountry:
		b.w("c.country = ANY(")
		b.arg(pq.StringArray(c.Values))
		b.w("::text[])")
	case FieldCity:
		b.w("lower(c.city) = ANY(")
		b.arg(pq.StringArray(lowerAll(c.Values)))
		b.w("::text[])")
	case FieldLanguage:
		b.w(sqlLanguage + " = ANY(")
		b.arg(pq.StringArray(c.Values))
		b.w("::text[])")
	case FieldSource:
		b.w("c.source = ANY(")
		b.arg(pq.StringArray(c.Values))
		b.w("::text[])")
	case FieldConsent:
		b.w("c.email_consent = ANY(")
		b.arg(pq.StringArray(c.Values))
		b.w("::text[])")
	case FieldTags:
		b.w("c.tags && ")
		b.arg(pq.StringArray(c.Values))
		b.w("::text[]")
	case FieldCreatedAt, FieldSubscribedAt, FieldFirstOrderAt, FieldLastOrderAt:
		if c.Field == FieldSubscribedAt {
			b.w("c.email_consent = ")
			b.arg("subscribed")
			b.w(" AND ")
		}
		b.window(timeColumn[c.Field], c.Window)
	case FieldProperty:
		switch c.Op {
		case "equals", "not_equals":
			b.w("c.properties->>")
			b.arg(c.Key)
			b.w(" = ")
			b.arg(c.Value)
		default:
			b.w("jsonb_exists(c.properties, ")
			b.arg(c.Key)
			b.w(")")
		}
	case FieldOrdersCount, FieldTotalSpent, FieldAOV:
		b.w(numericColumn[c.Field] + cmpSQL[c.Op])
		b.arg(strconv.FormatFloat(*c.Number, 'f', 2, 64))
		b.w("::numeric")
	case FieldRFM:
		b.w("c.orders_count > 0 AND c.last_order_at IS NOT NULL AND ")
		b.keyed("rfm_thresholds", func(a string) { b.w(a + ".shop_id = $1") }, func(a string) {
			b.args = append(b.args, pq.StringArray(rfmGrid))
			b.w(a + ".shop_id IS NOT NULL AND " + rfmCellSQL(a, ph(len(b.args))) + " = ANY(")
			b.arg(pq.StringArray(c.Values))
			b.w("::text[])")
		})
	case FieldBoughtProd:
		b.exists("cp.customer_id", func() {
			b.w(sqlBoughtFrom)
			b.arg(pq.Int64Array(c.IDs))
			b.w("::bigint[])")
		})
	case FieldBoughtColl:
		b.exists("cp.customer_id", func() {
			b.w(sqlBoughtColl)
			b.arg(pq.Int64Array(c.IDs))
			b.w("::bigint[]")
		})
	case FieldUsedDiscount:
		b.exists("o.customer_id", func() {
			b.w(sqlOrdersFrom)
			if c.Value == "" {
				b.w(" AND cardinality(o.discount_codes) > 0")
			} else {
				b.w(" AND EXISTS (SELECT 1 FROM unnest(o.discount_codes) AS d(code) WHERE lower(d.code) = ")
				b.arg(strings.ToLower(c.Value))
				b.w(")")
			}
		})
	case FieldEvent:
		if b.activity(c.Event, c) {
			return
		}
		b.counts(tallyEvents, func() {
			b.w("e.name = ")
			b.arg(c.Event)
			b.w(" AND ")
			b.window("e.occurred_at", c.Window)
			if f := c.Filter; f != nil {
				b.w(" AND ")
				switch f.Kind {
				case "product":
					b.w(sqlFilterProduct)
					b.arg(f.Value)
					b.w(")")
				case "collection":
					b.w("e.data->'collection'->>'id' = ")
					b.arg(f.Value)
				case "search_term":
					b.w("strpos(lower(e.data->'searchResult'->>'query'), ")
					b.arg(strings.ToLower(f.Value))
					b.w(") > 0")
				}
			}
		}, c.Count)
	case FieldEmailReceived:
		if b.activity(ActivityReceived, c) {
			return
		}
		b.counts(tallyMessages, func() {
			b.w("m.kind = ANY(")
			b.arg(pq.StringArray{"campaign", "flow"})
			b.w("::text[]) AND m.sent_at IS NOT NULL AND ")
			b.window("m.sent_at", c.Window)
		}, c.Count)
	case FieldEmailOpened, FieldEmailClicked:
		kind := "open"
		if c.Field == FieldEmailClicked {
			kind = "click"
		}
		if b.activity(map[string]string{"open": ActivityOpen, "click": ActivityClick}[kind], c) {
			return
		}
		b.counts(tallyEngaged, func() {
			b.w("ev.kind = ")
			b.arg(kind)
			b.w(" AND ")
			b.window("ev.occurred_at", c.Window)
		}, c.Count)
	case FieldOpenedNoClick:
		b.exists("m.customer_id", func() {
			b.w(sqlEngagedFrom + " AND ev.kind = ")
			b.arg("open")
			b.w(" AND ")
			b.window("ev.occurred_at", c.Window)
			b.w(" AND NOT EXISTS (SELECT 1 FROM email_events ck WHERE ck.message_id = m.id AND NOT ck.machine AND ck.kind = ")
			b.arg("click")
			b.w(")")
		})
	case FieldSuppressed:
		// (shop_id, email) is the key: at most one row per customer.
		b.keyed("suppressions", func(a string) {
			b.w(a + ".shop_id = $1 AND " + a + ".email = lower(c.email)")
			if len(c.Values) > 0 {
				b.w(" AND " + a + ".reason = ANY(")
				b.arg(pq.StringArray(c.Values))
				b.w("::text[])")
			}
		}, func(a string) { b.w(a + ".email IS NOT NULL") })
	case FieldUnsubscribed:
		b.w("c.email_consent = ")
		b.arg("unsubscribed")
	case FieldSegment:
		// (segment_id, customer_id) is the key: at most one row.
		b.keyed("segment_members", func(a string) {
			b.w(a + ".shop_id = $1 AND " + a + ".customer_id = c.id AND " + a + ".segment_id = ")
			b.arg(c.SegmentID)
		}, func(a string) { b.w(a + ".customer_id IS NOT NULL") })
	case FieldLifecycle:
		l, _ := lifecycle.ParseLevel(c.Value)
		w := LifecycleWindow(c.Window, b.now, b.loc)
		add := func(v any) string {
			b.args = append(b.args, v)
			return ph(len(b.args))
		}
		// The funnel's own query, so members equal the level's customers;
		// for one customer it is restricted to them.
		if b.correlated {
			b.w("EXISTS (SELECT 1 FROM (" + lifecycle.MembersSQL(l, w, "$1", add, " AND lc.id = c.id") + ") lm)")
		} else {
			b.w("c.id IN (" + lifecycle.MembersSQL(l, w, "$1", add, "") + ")")
		}
	default:
		panic(fmt.Sprintf("segments: unvalidated field %q", c.Field))
	}
}

func (b *builder) count(c *Count) {
	if c == nil {
		c = &Count{Op: "at_least", N: 1}
	}
	b.w(countSQL[c.Op])
	b.arg(c.N)
}

// window writes "col in [lo, hi)" (TRUE for ever).
func (b *builder) window(col string, w *Window) {
	lo, hi := Bounds(w, b.now, b.loc)
	if lo.IsZero() && hi.IsZero() {
		b.w("TRUE")
		return
	}
	b.w("(")
	if !lo.IsZero() {
		b.w(col + " >= ")
		b.arg(lo)
	}
	if !hi.IsZero() {
		if !lo.IsZero() {
			b.w(" AND ")
		}
		b.w(col + " < ")
		b.arg(hi)
	}
	b.w(")")
}

// Bounds resolves a window to [lo, hi) instants; a zero time means open.
// "Within the last N days" starts at midnight, in loc, of the day N-1 days
// before today (so "the last 1 day" is today in the shop's timezone);
// "between" covers both whole days; "since" starts at that day's midnight.
func Bounds(w *Window, now time.Time, loc *time.Location) (lo, hi time.Time) {
	if w == nil {
		return
	}
	day := func(s string, plus int) time.Time {
		t, _ := time.Parse(time.DateOnly, s)
		return time.Date(t.Year(), t.Month(), t.Day()+plus, 0, 0, 0, 0, loc).UTC()
	}
	switch w.Kind {
	case "last_days":
		n := now.In(loc)
		lo = time.Date(n.Year(), n.Month(), n.Day()-(w.Days-1), 0, 0, 0, 0, loc).UTC()
	case "between":
		lo, hi = day(w.From, 0), day(w.To, 1)
	case "since":
		lo = day(w.From, 0)
	}
	return
}

// LifecycleWindow is the funnel window of a lifecycle condition's window
// (validated): the 30 days ending today in loc, or ending on its last day.
func LifecycleWindow(w *Window, now time.Time, loc *time.Location) lifecycle.Window {
	if w != nil && w.Kind == "between" {
		to, _ := time.Parse(time.DateOnly, w.To)
		return lifecycle.WindowEnding(time.Date(to.Year(), to.Month(), to.Day(), 12, 0, 0, 0, loc), loc)
	}
	return lifecycle.WindowEnding(now, loc)
}

func lowerAll(s []string) []string {
	out := make([]string, len(s))
	for i, x := range s {
		out[i] = strings.ToLower(x)
	}
	return out
}
