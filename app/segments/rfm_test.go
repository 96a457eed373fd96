package segments

import (
	"testing"
	"time"
)

func TestRFMCells(t *testing.T) {
	day := func(d int) time.Time { return testNow.AddDate(0, 0, -d) }
	th := &RFMThresholds{
		Recency:   []time.Time{day(400), day(200), day(100), day(30)},
		Frequency: []int{1, 1, 2, 4},
		Monetary:  []int64{2000, 5000, 10000, 30000},
	}
	at := func(d int) *time.Time { t := day(d); return &t }
	cases := []struct {
		name   string
		orders int
		cents  int64
		last   *time.Time
		want   string
	}{
		{"recent, frequent, big spender", 9, 90000, at(1), RFMChampions},
		{"recent first order, small", 1, 1500, at(2), RFMNew},
		{"recent, a few orders", 2, 6000, at(3), RFMPotential},
		{"lapsed big spender", 9, 90000, at(700), RFMCantLose},
		{"lapsed one-off", 1, 1000, at(700), RFMLost},
		{"lapsed mid", 3, 12000, at(300), RFMAtRisk},
		{"quiet one-off", 1, 1000, at(300), RFMHibernating},
		{"steady buyer, some while ago", 5, 40000, at(150), RFMLoyal},
	}
	for _, c := range cases {
		got, ok := th.Cell(c.orders, c.cents, c.last)
		if !ok || got != c.want {
			t.Errorf("%s: cell %q, want %q", c.name, got, c.want)
		}
	}
	if _, ok := th.Cell(0, 0, nil); ok {
		t.Error("a customer with no orders has an RFM cell")
	}
	if len(rfmGrid) != 25 {
		t.Fatalf("grid has %d cells", len(rfmGrid))
	}
	seen := map[string]bool{}
	for _, c := range rfmGrid {
		seen[c] = true
	}
	for _, c := range RFMCells {
		if !seen[c] {
			t.Errorf("cell %s is never reached", c)
		}
	}
}

// Ties share a score: with most buyers on one order, "one order" is the
// lowest frequency score, not spread over several quintiles.
func TestRFMThresholdsLikePercentileDisc(t *testing.T) {
	var cs []SnapCustomer
	last := testNow
	for i, n := range []int{1, 1, 1, 1, 1, 1, 2, 2, 3, 7} {
		cs = append(cs, SnapCustomer{ID: int64(i + 1), OrdersCount: n, TotalSpentCents: int64(n * 1000), LastOrderAt: &last})
	}
	cs = append(cs, SnapCustomer{ID: 99}) // no orders: not a buyer
	th := ComputeRFMThresholds(cs)
	if want := []int{1, 1, 1, 2}; !equalInts(th.Frequency, want) {
		t.Fatalf("frequency boundaries %v, want %v", th.Frequency, want)
	}
	if s := score(func(i int) bool { return 1 > th.Frequency[i] }); s != 1 {
		t.Errorf("one order scores %d", s)
	}
	if ComputeRFMThresholds([]SnapCustomer{{ID: 1}}) != nil {
		t.Error("boundaries without buyers")
	}
}

func equalInts(a, b []int) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}
