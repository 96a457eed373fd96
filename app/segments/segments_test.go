package segments

import (
	"encoding/json"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/cartwheel/cartwheel/app/db/dbtest"
)

var testNow = time.Date(2026, 6, 15, 3, 30, 0, 0, time.UTC) // 23:30 the day before in New York

func cond(c Condition) Node   { return Node{Condition: &c} }
func all(items ...Node) Rules { return Rules{Version: Version, Root: Group{Op: "and", Items: items}} }
func fptr(f float64) *float64 { return &f }

// TestSQLMatchesEval is the property test: random valid trees over seeded
// data give exactly the customers the in-memory evaluator picks.
func TestSQLMatchesEval(t *testing.T) {
	d := dbtest.New(t)
	snap := seed(t, d, 600, 42, testNow)
	loc, _ := time.LoadLocation("America/New_York")
	g := newRandGen(7, testNow)
	const trees = 400
	nonTrivial := 0
	for i := 0; i < trees; i++ {
		r := g.rules()
		if err := Validate(r, 0, nil); err != nil {
			t.Fatalf("tree %d invalid: %v", i, err)
		}
		sql, args, err := Compile(seedShop, r, testNow, loc)
		if err != nil {
			t.Fatal(err)
		}
		got := query(t, d, sql, args)
		want := Eval(snap, r, testNow, loc)
		if len(got) == 0 && len(want) == 0 {
			got, want = nil, nil
		}
		if !reflect.DeepEqual(got, want) {
			b, _ := json.MarshalIndent(r, "", " ")
			t.Fatalf("tree %d: SQL %d customers, eval %d\n%s\n%s", i, len(got), len(want), b, sql)
		}
		// The one-customer shape, run over everyone, agrees too.
		csql, cargs := compileMode(seedShop, r, testNow, loc, true)
		if cgot := query(t, d, csql, cargs); !eqIDs(cgot, want) {
			b, _ := json.MarshalIndent(r, "", " ")
			t.Fatalf("tree %d: correlated SQL %d customers, eval %d\n%s\n%s", i, len(cgot), len(want), b, csql)
		}
		if len(got) > 0 && len(got) < len(snap.Customers) {
			nonTrivial++
		}
	}
	t.Logf("%d random trees compared over %d customers (%d with a non-trivial result)", trees, len(snap.Customers), nonTrivial)
	if nonTrivial < trees/3 {
		t.Errorf("only %d of %d trees select a proper subset; the generator is too weak", nonTrivial, trees)
	}
}

// Every single condition kind, each checked alone against the evaluator, so a
// mismatch points at one compiler case.
func TestEachConditionMatchesEval(t *testing.T) {
	d := dbtest.New(t)
	snap := seed(t, d, 600, 3, testNow)
	loc, _ := time.LoadLocation("Asia/Tokyo")
	g := newRandGen(11, testNow)
	for i := 0; i < 600; i++ {
		c := g.condition()
		r := all(cond(c))
		sql, args, err := Compile(seedShop, r, testNow, loc)
		if err != nil {
			t.Fatalf("%+v: %v", c, err)
		}
		got, want := query(t, d, sql, args), Eval(snap, r, testNow, loc)
		if len(got)+len(want) > 0 && !reflect.DeepEqual(got, want) {
			b, _ := json.Marshal(c)
			t.Fatalf("%s: SQL %d, eval %d\n%s", b, len(got), len(want), sql)
		}
		csql, cargs := compileMode(seedShop, r, testNow, loc, true)
		if cgot := query(t, d, csql, cargs); !eqIDs(cgot, want) {
			b, _ := json.Marshal(c)
			t.Fatalf("%s: correlated SQL %d, eval %d\n%s", b, len(cgot), len(want), csql)
		}
	}
}

func checkParameterised(t testing.TB, r Rules, sql string) {
	t.Helper()
	twin, _ := compile(seedShop, blank(r), testNow, time.UTC)
	if twin != sql {
		t.Fatalf("SQL text depends on values:\n%s\n%s", sql, twin)
	}
	c1, _ := compileMode(seedShop, r, testNow, time.UTC, true)
	c2, _ := compileMode(seedShop, blank(r), testNow, time.UTC, true)
	if c1 != c2 {
		t.Fatalf("correlated SQL text depends on values:\n%s\n%s", c1, c2)
	}
	for _, s := range userStrings(r) {
		// (the twin check above is the real guarantee; this names the culprit.
		// Strings made only of placeholder syntax like "$2::text" are skipped.)
		if len(s) >= 3 && strings.Contains(sql, s) && !strings.Contains(sqlVocabulary, s) && !strings.HasPrefix(s, "$") {
			t.Fatalf("value %q appears in SQL: %s", s, sql)
		}
	}
}

// Everything the compiler may write on its own (fragments, not values).
var sqlVocabulary = sqlSelect + sqlWhere + sqlEmailDomain + sqlLanguage + sqlOrdersFrom + sqlEventsFrom + sqlMessagesFrom + sqlEngagedFrom + sqlBoughtFrom + sqlBoughtColl + sqlFilterProduct

func TestHostileStringsStayParameters(t *testing.T) {
	d := dbtest.New(t)
	seed(t, d, 50, 1, testNow)
	for _, h := range hostile {
		r := all(
			cond(Condition{Field: FieldCity, Op: "in", Values: []string{h}}),
			Node{Group: &Group{Op: "or", Items: []Node{
				cond(Condition{Field: FieldTags, Op: "has_none", Values: []string{h, "vip"}}),
				cond(Condition{Field: FieldProperty, Op: "not_equals", Key: "plan", Value: h}),
				cond(Condition{Field: FieldUsedDiscount, Op: "has_not", Value: h}),
				cond(Condition{Field: FieldEvent, Op: "did_not", Event: "search_submitted", Filter: &Filter{Kind: "search_term", Value: h}}),
			}}},
		)
		if strings.ContainsRune(h, '\n') { // still valid text
			_ = h
		}
		sql, args, err := Compile(seedShop, r, testNow, time.UTC)
		if err != nil {
			t.Fatalf("%q: %v", h, err)
		}
		checkParameterised(t, r, sql)
		query(t, d, sql, args)
		var n int
		d.Get(&n, "SELECT count(*) FROM customers")
		if n == 0 {
			t.Fatal("customers table emptied")
		}
	}
}

func FuzzCompile(f *testing.F) {
	for _, s := range []string{"", "\x00\x01\x02", "hello world, segments!", strings.Repeat("\xff\x10\x07", 40),
		"\x03\x01\x05\x09\x11\x13\x17\x19\x23\x29\x31", strings.Repeat("abcdefghijklmnopqrstuvwxyz", 10)} {
		f.Add([]byte(s), "'; DROP TABLE customers; --")
	}
	f.Add([]byte{1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12}, "%\\_")
	f.Add([]byte{200, 100, 50, 25, 12, 6, 3}, "東京 🙂")
	d := dbtest.New(f)
	seed(f, d, 100, 5, testNow)
	loc, _ := time.LoadLocation("Europe/Berlin")
	f.Fuzz(func(t *testing.T, b []byte, extra string) {
		g := &gen{r: &byteChooser{b: b}, now: testNow, hostile: true}
		r := g.rules()
		// Plant the fuzzer's own string somewhere a merchant could type.
		r.Root.Items = append(r.Root.Items, cond(Condition{Field: FieldCity, Op: "not_in", Values: []string{extra}}))
		err := Validate(r, 0, nil)
		sql, args, cerr := Compile(seedShop, r, testNow, loc)
		if (err == nil) != (cerr == nil) {
			t.Fatalf("Validate and Compile disagree: %v / %v", err, cerr)
		}
		if err != nil {
			var fe Errors
			if e, ok := err.(Errors); !ok || len(e) == 0 {
				t.Fatalf("validation error of type %T", err)
			} else {
				fe = e
			}
			for _, e := range fe {
				if e.Path == "" || e.Message == "" {
					t.Fatalf("empty path or message: %+v", e)
				}
			}
			return
		}
		checkParameterised(t, r, sql)
		query(t, d, sql, args)
	})
}

func TestValidationMessages(t *testing.T) {
	cases := []struct {
		name string
		r    Rules
		path string
		msg  string
	}{
		{"days zero", all(cond(Condition{Field: FieldLastOrderAt, Op: "within", Window: &Window{Kind: "last_days", Days: 0}})),
			"root.items[0].window.days", `"Within the last" needs a number of days from 1 to 3650.`},
		{"days too many", all(cond(Condition{Field: FieldEvent, Op: "did", Event: "page_viewed", Window: &Window{Kind: "last_days", Days: 3651}})),
			"root.items[0].window.days", `"Within the last" needs a number of days from 1 to 3650.`},
		{"unknown field", all(cond(Condition{Field: "password", Op: "is"})), "root.items[0].field", "Choose what this condition looks at."},
		{"bad group op", Rules{Version: 1, Root: Group{Op: "xor", Items: []Node{cond(Condition{Field: FieldSuppressed, Op: "is"})}}}, "root.op", `Choose whether all ("and") or any ("or") of the conditions must match.`},
		{"empty", Rules{Version: 1, Root: Group{Op: "and"}}, "root", "This group is empty; add a condition or remove the group."},
		{"country code", all(cond(Condition{Field: FieldCountry, Op: "in", Values: []string{"Germany"}})), "root.items[0].values[0]", "Use two-letter country codes like US or DE."},
		{"dates reversed", all(cond(Condition{Field: FieldCreatedAt, Op: "within", Window: &Window{Kind: "between", From: "2026-02-01", To: "2026-01-01"}})),
			"root.items[0].window.to", "The end date must be on or after the start date."},
		{"unknown event", all(cond(Condition{Field: FieldEvent, Op: "did", Event: "'; DROP"})), "root.items[0].event", "Choose an activity from the list (for example product_viewed)."},
		{"cents", all(cond(Condition{Field: FieldTotalSpent, Op: "gte", Number: fptr(1.234)})), "root.items[0].number", "Amounts can have at most two decimal places."},
		{"search on wrong event", all(cond(Condition{Field: FieldEvent, Op: "did", Event: "page_viewed", Filter: &Filter{Kind: "search_term", Value: "x"}})),
			"root.items[0].filter.kind", "A search term can only narrow the search_submitted activity."},
		{"nested path", all(cond(Condition{Field: FieldSuppressed, Op: "is"}), Node{Group: &Group{Op: "or", Items: []Node{cond(Condition{Field: FieldSource, Op: "in", Values: []string{"fax"}})}}}),
			"root.items[1].items[0].values[0]", `"fax" is not a signup source; choose one of shopify, wheel, import.`},
		{"version", Rules{Version: 9, Root: Group{Op: "and", Items: []Node{cond(Condition{Field: FieldSuppressed, Op: "is"})}}}, "version", "These rules were saved in a format this version of the app can't read (version 9)."},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			err := Validate(tc.r, 0, nil)
			errs, ok := err.(Errors)
			if !ok {
				t.Fatalf("got %v", err)
			}
			for _, e := range errs {
				if e.Path == tc.path && e.Message == tc.msg {
					return
				}
			}
			t.Fatalf("want %s: %s; got %v", tc.path, tc.msg, errs)
		})
	}
	// Depth and count limits.
	deep := Group{Op: "and", Items: []Node{cond(Condition{Field: FieldSuppressed, Op: "is"})}}
	for i := 0; i < MaxDepth; i++ {
		g := deep
		deep = Group{Op: "or", Items: []Node{{Group: &g}}}
	}
	if err := Validate(Rules{Version: 1, Root: deep}, 0, nil); err == nil || !strings.Contains(err.Error(), "at most 5 levels") {
		t.Fatalf("depth: %v", err)
	}
	var many []Node
	for i := 0; i < MaxConditions+1; i++ {
		many = append(many, cond(Condition{Field: FieldSuppressed, Op: "is"}))
	}
	if err := Validate(all(many...), 0, nil); err == nil || !strings.Contains(err.Error(), "at most 50 conditions") {
		t.Fatalf("count: %v", err)
	}
}

func TestCyclesRejected(t *testing.T) {
	in := func(id int64) Rules { return all(cond(Condition{Field: FieldSegment, Op: "in", SegmentID: id})) }
	stored := map[int64]Rules{
		1: in(2),
		2: in(3),
		3: all(cond(Condition{Field: FieldSuppressed, Op: "is"})),
		4: in(4),
	}
	lookup := func(id int64) (Rules, bool) { r, ok := stored[id]; return r, ok }
	// Saving segment 3 as "in segment 1" closes 3 → 1 → 2 → 3.
	err := Validate(in(1), 3, lookup)
	if err == nil || !strings.Contains(err.Error(), "can't include itself") || !strings.Contains(err.Error(), "segment 3 → segment 1 → segment 2 → segment 3") {
		t.Fatalf("cycle: %v", err)
	}
	if err := Validate(in(3), 3, lookup); err == nil {
		t.Fatal("self reference accepted")
	}
	if err := Validate(in(4), 0, lookup); err == nil {
		t.Fatal("loop among others accepted")
	}
	if err := Validate(in(1), 5, lookup); err != nil {
		t.Fatalf("no cycle: %v", err)
	}
	if err := Validate(in(99), 5, lookup); err == nil || !strings.Contains(err.Error(), "no longer exists") {
		t.Fatalf("missing: %v", err)
	}
}

// "Within the last 1 day" is today in the shop's timezone, not in UTC.
func TestWithinLastDayUsesShopTimezone(t *testing.T) {
	d := dbtest.New(t)
	mustExec(t, d, `INSERT INTO shops (id, domain) VALUES (1, 'one.myshopify.com')`)
	ny, _ := time.LoadLocation("America/New_York")
	now := time.Date(2026, 3, 10, 0, 30, 0, 0, ny) // 04:30 UTC
	mustExec(t, d, `INSERT INTO customers (id, shop_id, email, last_order_at) VALUES
		(1, 1, 'before@x.com', $1), (2, 1, 'after@x.com', $2), (3, 1, 'none@x.com', NULL)`,
		time.Date(2026, 3, 9, 23, 50, 0, 0, ny), // yesterday in New York, same UTC day as now
		time.Date(2026, 3, 10, 0, 10, 0, 0, ny))
	r := all(cond(Condition{Field: FieldLastOrderAt, Op: "within", Window: &Window{Kind: "last_days", Days: 1}}))
	sql, args, err := Compile(1, r, now, ny)
	if err != nil {
		t.Fatal(err)
	}
	if got := query(t, d, sql, args); !reflect.DeepEqual(got, []int64{2}) {
		t.Fatalf("New York: %v", got)
	}
	sql, args, _ = Compile(1, r, now, time.UTC)
	if got := query(t, d, sql, args); !reflect.DeepEqual(got, []int64{1, 2}) {
		t.Fatalf("UTC: %v", got)
	}
	r.Root.Items[0].Condition.Op = "not_within"
	sql, args, _ = Compile(1, r, now, ny)
	if got := query(t, d, sql, args); !reflect.DeepEqual(got, []int64{1, 3}) {
		t.Fatalf("not within: %v", got)
	}
	// Across a DST change the window still starts at local midnight.
	lo, _ := Bounds(&Window{Kind: "last_days", Days: 3}, now, ny)
	if want := time.Date(2026, 3, 8, 0, 0, 0, 0, ny); !lo.Equal(want) {
		t.Fatalf("DST: %v want %v", lo, want)
	}
}

func TestSummary(t *testing.T) {
	r := all(
		cond(Condition{Field: FieldOrdersCount, Op: "gte", Number: fptr(1)}),
		cond(Condition{Field: FieldLastOrderAt, Op: "not_within", Window: &Window{Kind: "last_days", Days: 180}}),
		Node{Group: &Group{Op: "or", Items: []Node{
			cond(Condition{Field: FieldEvent, Op: "did", Event: "product_viewed", Count: &Count{Op: "at_least", N: 3}, Window: &Window{Kind: "last_days", Days: 7},
				Filter: &Filter{Kind: "product", Value: "42"}}),
			cond(Condition{Field: FieldSegment, Op: "not_in", SegmentID: 4}),
		}}},
		cond(Condition{Field: FieldBoughtColl, Op: "has_not", IDs: []int64{7, 8}}),
		cond(Condition{Field: FieldEvent, Op: "did_not", Event: "checkout_started", Window: &Window{Kind: "last_days", Days: 30}}),
	)
	got := Summary(r, Names{
		Segment:    func(int64) string { return "VIPs" },
		Product:    func(id int64) string { return map[int64]string{42: "Linen shirt"}[id] },
		Collection: func(id int64) string { return map[int64]string{7: "Summer"}[id] },
	})
	want := `Customers who placed at least 1 order, and did not place their last order in the last 180 days, and ` +
		`(either viewed a product ("Linen shirt") at least 3 times in the last 7 days, or are not in "VIPs"), and ` +
		`never bought from "Summer" or collection 8, and did not start a checkout at least once in the last 30 days`
	if got != want {
		t.Fatalf("got  %s\nwant %s", got, want)
	}
}

func TestJSONRoundTrip(t *testing.T) {
	g := newRandGen(1, testNow)
	for i := 0; i < 50; i++ {
		r := g.rules()
		b, err := json.Marshal(r)
		if err != nil {
			t.Fatal(err)
		}
		back, err := Parse(b)
		if err != nil || !reflect.DeepEqual(back, r) {
			t.Fatalf("round trip: %v\n%s", err, b)
		}
	}
}
