package segments

import (
	"bytes"
	"context"
	"encoding/csv"
	"errors"
	"strconv"
	"testing"
)

func TestMembersPagesAndExport(t *testing.T) {
	ctx := context.Background()
	d, st, snap, loc := seedStore(t, 400, 5)
	r := all(cond(Condition{Field: FieldOrdersCount, Op: "gte", Number: num(1)}))
	sg, err := st.Create(ctx, seedShop, "Buyers", r, testNow)
	if err != nil {
		t.Fatal(err)
	}
	want := Eval(snap, r, testNow, loc)
	if len(want) < 60 {
		t.Fatalf("only %d buyers; the test needs several pages", len(want))
	}
	// Pages of 25, newest first, cover every member once.
	var got []int64
	var after int64
	for pages := 0; ; pages++ {
		p, err := st.Members(ctx, seedShop, sg.ID, after, 25)
		if err != nil {
			t.Fatal(err)
		}
		for i, m := range p.Members {
			if i > 0 && m.ID >= p.Members[i-1].ID {
				t.Fatal("page not in descending id order")
			}
			if m.Since == nil || !m.Since.Equal(testNow) {
				t.Fatalf("member %d since %v, want the refresh time", m.ID, m.Since)
			}
			got = append([]int64{m.ID}, got...)
		}
		if p.Next == 0 {
			break
		}
		if pages > 100 {
			t.Fatal("paging does not end")
		}
		after = p.Next
	}
	if !eqIDs(sortedIDs(got), want) {
		t.Fatalf("pages hold %d members, want %d", len(got), len(want))
	}
	// Another shop's id never sees these members.
	if p, _ := st.Members(ctx, 2, sg.ID, 0, 50); len(p.Members) != 0 {
		t.Fatal("members visible from another shop")
	}

	// The export has a header and one row per member; formula-looking
	// names are defused.
	mustExec(t, d, "UPDATE customers SET first_name = '=cmd()' WHERE id = $1", want[0])
	var buf bytes.Buffer
	n, err := st.ExportCSV(ctx, seedShop, sg.ID, &buf)
	if err != nil {
		t.Fatal(err)
	}
	rows, err := csv.NewReader(&buf).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	if n != len(want) || len(rows) != len(want)+1 || rows[0][0] != "Customer ID" {
		t.Fatalf("export wrote %d (%d rows), want %d members + header", n, len(rows), len(want))
	}
	found := false
	for _, row := range rows[1:] {
		if row[0] == strconv.FormatInt(want[0], 10) {
			found = row[2] == "'=cmd()"
		}
	}
	if !found {
		t.Error("formula in a name was not defused in the export")
	}
}

func sortedIDs(v []int64) []int64 {
	out := append([]int64(nil), v...)
	for i := 1; i < len(out); i++ {
		for j := i; j > 0 && out[j] < out[j-1]; j-- {
			out[j], out[j-1] = out[j-1], out[j]
		}
	}
	return out
}

func TestPreviewCountsWithoutStoring(t *testing.T) {
	ctx := context.Background()
	d, st, snap, loc := seedStore(t, 300, 8)
	r := all(cond(Condition{Field: FieldConsent, Op: "in", Values: []string{"subscribed"}}),
		cond(Condition{Field: FieldEvent, Op: "did", Event: "product_viewed"}))
	p, err := st.Preview(ctx, seedShop, 0, r, testNow, 5)
	if err != nil {
		t.Fatal(err)
	}
	want := Eval(snap, r, testNow, loc)
	if p.Count != len(want) || p.Count == 0 {
		t.Fatalf("preview counts %d, eval %d", p.Count, len(want))
	}
	if len(p.Sample) != min(5, len(want)) {
		t.Fatalf("sample of %d", len(p.Sample))
	}
	in := map[int64]bool{}
	for _, id := range want {
		in[id] = true
	}
	for _, m := range p.Sample {
		if !in[m.ID] {
			t.Fatalf("sample member %d does not match the rules", m.ID)
		}
	}
	var n int
	d.Get(&n, "SELECT count(*) FROM segment_members")
	if n != 0 {
		t.Fatal("preview stored members")
	}
	// Invalid rules come back as Errors with a path, and an unknown segment
	// is caught.
	_, err = st.Preview(ctx, seedShop, 0, all(cond(Condition{Field: FieldSegment, Op: "in", SegmentID: 999})), testNow, 0)
	var fe Errors
	if !errors.As(err, &fe) || fe[0].Path != "root.items[0].segment_id" {
		t.Fatalf("unknown segment: %v", err)
	}
}

func TestSizesHistoryAndTrend(t *testing.T) {
	ctx := context.Background()
	d, st, _, _ := seedStore(t, 200, 9)
	r := all(cond(Condition{Field: FieldOrdersCount, Op: "gte", Number: num(2)}))
	sg, err := st.Create(ctx, seedShop, "Two or more", r, testNow.AddDate(0, 0, -8))
	if err != nil {
		t.Fatal(err)
	}
	// Eight days later fewer qualify.
	mustExec(t, d, "UPDATE customers SET orders_count = 0 WHERE id IN (SELECT customer_id FROM segment_members WHERE segment_id = $1 LIMIT 5)", sg.ID)
	if err := st.Refresh(ctx, seedShop, sg.ID, testNow); err != nil {
		t.Fatal(err)
	}
	sizes, err := st.Sizes(ctx, seedShop)
	if err != nil {
		t.Fatal(err)
	}
	now := len(members(t, d, sg.ID))
	if sizes[sg.ID] != now {
		t.Fatalf("size %d, members %d", sizes[sg.ID], now)
	}
	hist, err := st.History(ctx, seedShop, sg.ID, testNow, 30)
	if err != nil {
		t.Fatal(err)
	}
	if len(hist) != 2 || hist[1].Size != now || hist[0].Size != now+5 {
		t.Fatalf("history %+v, want two days: %d then %d", hist, now+5, now)
	}
	ago, err := st.SizesAgo(ctx, seedShop, testNow, 7)
	if err != nil {
		t.Fatal(err)
	}
	if ago[sg.ID] != now+5 {
		t.Fatalf("size a week ago %d, want %d", ago[sg.ID], now+5)
	}
	if other, _ := st.Sizes(ctx, 2); len(other) != 0 {
		t.Fatal("another shop sees these sizes")
	}
}

func TestDeleteRefusesSegmentInUse(t *testing.T) {
	ctx := context.Background()
	d, st, _, _ := seedStore(t, 50, 10)
	base, err := st.Create(ctx, seedShop, "Base", all(cond(Condition{Field: FieldOrdersCount, Op: "gte", Number: num(1)})), testNow)
	if err != nil {
		t.Fatal(err)
	}
	top, err := st.Create(ctx, seedShop, "On top", all(cond(Condition{Field: FieldSegment, Op: "in", SegmentID: base.ID})), testNow)
	if err != nil {
		t.Fatal(err)
	}
	var inUse ErrInUse
	if err := st.Delete(ctx, seedShop, base.ID); !errors.As(err, &inUse) || inUse.Names[0] != "On top" {
		t.Fatalf("deleting a used segment: %v", err)
	}
	if err := st.Delete(ctx, 2, top.ID); !errors.Is(err, ErrNotFound) {
		t.Fatalf("deleting from another shop: %v", err)
	}
	if err := st.Delete(ctx, seedShop, top.ID); err != nil {
		t.Fatal(err)
	}
	if err := st.Delete(ctx, seedShop, base.ID); err != nil {
		t.Fatal(err)
	}
	var n int
	d.Get(&n, "SELECT (SELECT count(*) FROM segments) + (SELECT count(*) FROM segment_members) + (SELECT count(*) FROM segment_sizes)")
	if n != 0 {
		t.Fatalf("%d rows left after deleting", n)
	}
}
