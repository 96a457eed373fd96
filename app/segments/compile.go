package segments

import (
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/lib/pq"
)

// The SQL text is assembled only from these fixed fragments and from
// placeholders; every value a merchant supplied travels in args.
//
// Conditions on other tables (orders, events, emails, suppressions, other
// segments) compile to LEFT JOINs of one set-based subquery each, grouped by
// customer, rather than to correlated subqueries: a full refresh then reads
// each table once (hash joins) instead of probing it once per customer, and
// for one customer (CompileFor adds c.id = $n) PostgreSQL pushes that id into
// each subquery's grouping key, so the incremental path stays index lookups.
const (
	sqlSelect        = "SELECT c.id FROM customers c"
	sqlWhere         = " WHERE c.shop_id = $1 AND c.deleted_at IS NULL AND ("
	sqlEmailDomain   = "COALESCE(lower(split_part(c.email, '@', 2)), '')"
	sqlLanguage      = "lower(split_part(replace(c.locale, '_', '-'), '-', 1))"
	sqlOrdersLive    = "o.shop_id = $1 AND o.customer_id IS NOT NULL AND o.cancelled_at IS NULL AND NOT o.test"
	sqlEventCounts   = "SELECT e.customer_id, count(*) AS n FROM events e WHERE e.shop_id = $1 AND e.customer_id IS NOT NULL AND e.name = "
	sqlReceived      = "SELECT m.customer_id, count(*) AS n FROM email_messages m WHERE m.shop_id = $1 AND m.customer_id IS NOT NULL AND m.kind = ANY("
	sqlEngagedFrom   = " FROM email_messages m JOIN email_events ev ON ev.message_id = m.id WHERE m.shop_id = $1 AND m.customer_id IS NOT NULL AND NOT ev.machine AND ev.kind = "
	sqlFilterProduct = "(COALESCE(e.data->'productVariant'->'product'->>'id', e.data->'cartLine'->'merchandise'->'product'->>'id') = "
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

// compile builds the query for rules already validated.
func compile(shopID int64, r Rules, now time.Time, loc *time.Location) (string, []any) {
	b := &builder{args: []any{shopID}, now: now, loc: loc}
	b.group(r.Root)
	return sqlSelect + b.joins.String() + sqlWhere + b.sb.String() + ")", b.args
}

// builder writes the WHERE expression into sb and the joins it needs into
// joins; both share args, so placeholders are numbered in the order values
// were added, whichever part of the text they land in.
type builder struct {
	sb    strings.Builder
	joins strings.Builder
	args  []any
	now   time.Time
	loc   *time.Location
	n     int // joins so far, for aliases j1, j2, …
}

// arg appends a value and writes its placeholder.
func (b *builder) arg(v any) {
	b.args = append(b.args, v)
	b.sb.WriteString("$" + strconv.Itoa(len(b.args)))
}

func (b *builder) w(s string) { b.sb.WriteString(s) }

// join starts a LEFT JOIN of a derived table: body writes its SELECT (with
// b.w/b.arg, which go to the join text meanwhile). The join matches on the
// derived table's customer_id; it returns the alias.
func (b *builder) join(body func()) string {
	b.n++
	alias := "j" + strconv.Itoa(b.n)
	where := b.sb
	b.sb = strings.Builder{}
	b.w(" LEFT JOIN (")
	body()
	b.w(") " + alias + " ON " + alias + ".customer_id = c.id")
	b.joins.WriteString(b.sb.String())
	b.sb = where
	return alias
}

// joinOn is join for a table joined directly (one row per customer at
// most); on writes the ON condition.
func (b *builder) joinOn(table string, on func(alias string)) string {
	b.n++
	alias := "j" + strconv.Itoa(b.n)
	where := b.sb
	b.sb = strings.Builder{}
	b.w(" LEFT JOIN " + table + " " + alias + " ON ")
	on(alias)
	b.joins.WriteString(b.sb.String())
	b.sb = where
	return alias
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

// present writes "alias matched a row".
func (b *builder) present(alias string) { b.w(alias + ".customer_id IS NOT NULL") }

// counted writes the count test on alias.n (no row: zero).
func (b *builder) counted(alias string, c *Count) {
	b.w("COALESCE(" + alias + ".n, 0)")
	b.count(c)
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
		alias := b.joinOn("rfm_thresholds", func(a string) { b.w(a + ".shop_id = $1") })
		b.w("c.orders_count > 0 AND c.last_order_at IS NOT NULL AND " + alias + ".shop_id IS NOT NULL AND ")
		b.args = append(b.args, pq.StringArray(rfmGrid))
		b.w(rfmCellSQL(alias, ph(len(b.args))) + " = ANY(")
		b.arg(pq.StringArray(c.Values))
		b.w("::text[])")
	case FieldBoughtProd:
		b.present(b.join(func() {
			b.w("SELECT DISTINCT cp.customer_id FROM customer_products cp WHERE cp.shop_id = $1 AND cp.product_id = ANY(")
			b.arg(pq.Int64Array(c.IDs))
			b.w("::bigint[])")
		}))
	case FieldBoughtColl:
		b.present(b.join(func() {
			b.w("SELECT DISTINCT cp.customer_id FROM customer_products cp JOIN products p ON p.shop_id = cp.shop_id AND p.shopify_id = cp.product_id WHERE cp.shop_id = $1 AND p.collection_ids && ")
			b.arg(pq.Int64Array(c.IDs))
			b.w("::bigint[]")
		}))
	case FieldUsedDiscount:
		b.present(b.join(func() {
			b.w("SELECT DISTINCT o.customer_id FROM orders o WHERE " + sqlOrdersLive)
			if c.Value == "" {
				b.w(" AND cardinality(o.discount_codes) > 0")
			} else {
				b.w(" AND EXISTS (SELECT 1 FROM unnest(o.discount_codes) AS d(code) WHERE lower(d.code) = ")
				b.arg(strings.ToLower(c.Value))
				b.w(")")
			}
		}))
	case FieldEvent:
		b.counted(b.join(func() {
			b.w(sqlEventCounts)
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
			b.w(" GROUP BY e.customer_id")
		}), c.Count)
	case FieldEmailReceived:
		b.counted(b.join(func() {
			b.w(sqlReceived)
			b.arg(pq.StringArray{"campaign", "flow"})
			b.w("::text[]) AND m.sent_at IS NOT NULL AND ")
			b.window("m.sent_at", c.Window)
			b.w(" GROUP BY m.customer_id")
		}), c.Count)
	case FieldEmailOpened, FieldEmailClicked:
		kind := "open"
		if c.Field == FieldEmailClicked {
			kind = "click"
		}
		b.counted(b.join(func() {
			b.w("SELECT m.customer_id, count(DISTINCT m.id) AS n" + sqlEngagedFrom)
			b.arg(kind)
			b.w(" AND ")
			b.window("ev.occurred_at", c.Window)
			b.w(" GROUP BY m.customer_id")
		}), c.Count)
	case FieldOpenedNoClick:
		b.present(b.join(func() {
			b.w("SELECT DISTINCT m.customer_id" + sqlEngagedFrom)
			b.arg("open")
			b.w(" AND ")
			b.window("ev.occurred_at", c.Window)
			b.w(" AND NOT EXISTS (SELECT 1 FROM email_events ck WHERE ck.message_id = m.id AND NOT ck.machine AND ck.kind = ")
			b.arg("click")
			b.w(")")
		}))
	case FieldSuppressed:
		// (shop_id, email) is the key: at most one row per customer.
		alias := b.joinOn("suppressions", func(a string) {
			b.w(a + ".shop_id = $1 AND " + a + ".email = lower(c.email)")
			if len(c.Values) > 0 {
				b.w(" AND " + a + ".reason = ANY(")
				b.arg(pq.StringArray(c.Values))
				b.w("::text[])")
			}
		})
		b.w(alias + ".email IS NOT NULL")
	case FieldUnsubscribed:
		b.w("c.email_consent = ")
		b.arg("unsubscribed")
	case FieldSegment:
		// (segment_id, customer_id) is the key: at most one row.
		b.present(b.joinOn("segment_members", func(a string) {
			b.w(a + ".shop_id = $1 AND " + a + ".customer_id = c.id AND " + a + ".segment_id = ")
			b.arg(c.SegmentID)
		}))
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

func lowerAll(s []string) []string {
	out := make([]string, len(s))
	for i, x := range s {
		out[i] = strings.ToLower(x)
	}
	return out
}
