package segments

import (
	"context"
	"fmt"
	"math"
	"sort"
	"strings"
	"time"

	"github.com/jmoiron/sqlx"
	"github.com/lib/pq"
)

// RFM: each buyer (at least one order) gets a recency, a frequency and a
// monetary score from 1 to 5 — one plus the number of the shop's quintile
// boundaries (20/40/60/80th percentiles over all buyers) their last order
// time, order count and total spent are above. Ties therefore share a score,
// which matters for frequency, where most buyers have one order. The grid
// below places a buyer by recency (rows) and by the rounded-up mean of
// frequency and monetary (columns).

// RFM cells, in display order.
const (
	RFMChampions   = "champions"
	RFMLoyal       = "loyal"
	RFMPotential   = "potential"
	RFMNew         = "new"
	RFMAtRisk      = "at_risk"
	RFMCantLose    = "cant_lose"
	RFMHibernating = "hibernating"
	RFMLost        = "lost"
)

// RFMCells lists the cells; RFMLabels names them for merchants.
var (
	RFMCells  = []string{RFMChampions, RFMLoyal, RFMPotential, RFMNew, RFMAtRisk, RFMCantLose, RFMHibernating, RFMLost}
	RFMLabels = map[string]string{RFMChampions: "Champions", RFMLoyal: "Loyal", RFMPotential: "Potential loyalists",
		RFMNew: "New customers", RFMAtRisk: "At risk", RFMCantLose: "Can't lose them", RFMHibernating: "Hibernating", RFMLost: "Lost"}
)

// rfmGrid[(r-1)*5 + (fm-1)] is the cell of recency score r and
// frequency-monetary score fm.
var rfmGrid = []string{
	// fm: 1            2               3               4               5
	RFMLost, RFMLost, RFMAtRisk, RFMAtRisk, RFMCantLose, // r = 1
	RFMHibernating, RFMHibernating, RFMAtRisk, RFMAtRisk, RFMCantLose, // r = 2
	RFMHibernating, RFMHibernating, RFMLoyal, RFMLoyal, RFMLoyal, // r = 3
	RFMNew, RFMPotential, RFMPotential, RFMLoyal, RFMLoyal, // r = 4
	RFMNew, RFMPotential, RFMPotential, RFMChampions, RFMChampions, // r = 5
}

// rfmFractions are the quintile boundaries.
var rfmFractions = []float64{0.2, 0.4, 0.6, 0.8}

// RFMThresholds are a shop's stored boundaries (rfm_thresholds).
type RFMThresholds struct {
	Recency   []time.Time
	Frequency []int
	Monetary  []int64 // cents
}

// score is 1 + how many boundaries v is above.
func score(above func(i int) bool) int {
	s := 1
	for i := 0; i < 4; i++ {
		if above(i) {
			s++
		}
	}
	return s
}

// Cell returns the RFM cell of a buyer (false for someone with no orders).
func (t *RFMThresholds) Cell(orders int, spentCents int64, last *time.Time) (string, bool) {
	if t == nil || orders <= 0 || last == nil {
		return "", false
	}
	r := score(func(i int) bool { return last.After(t.Recency[i]) })
	f := score(func(i int) bool { return orders > t.Frequency[i] })
	m := score(func(i int) bool { return spentCents > t.Monetary[i] })
	return rfmGrid[(r-1)*5+(f+m+1)/2-1], true
}

// ComputeRFMThresholds derives the boundaries from buyers the way
// PostgreSQL's percentile_disc does (the first value whose position reaches
// the fraction), so tests can check the stored ones.
func ComputeRFMThresholds(buyers []SnapCustomer) *RFMThresholds {
	var rec []time.Time
	var freq []int
	var mon []int64
	for _, c := range buyers {
		if c.OrdersCount > 0 && c.LastOrderAt != nil {
			rec, freq, mon = append(rec, *c.LastOrderAt), append(freq, c.OrdersCount), append(mon, c.TotalSpentCents)
		}
	}
	if len(rec) == 0 {
		return nil
	}
	sort.Slice(rec, func(i, j int) bool { return rec[i].Before(rec[j]) })
	sort.Ints(freq)
	sort.Slice(mon, func(i, j int) bool { return mon[i] < mon[j] })
	t := &RFMThresholds{}
	for _, p := range rfmFractions {
		i := max(int(math.Ceil(p*float64(len(rec))))-1, 0)
		t.Recency, t.Frequency, t.Monetary = append(t.Recency, rec[i]), append(t.Frequency, freq[i]), append(t.Monetary, mon[i])
	}
	return t
}

// rfmSQL computes and stores the shop's boundaries (or removes them when
// the shop has no buyers).
const rfmSQL = `WITH b AS (
	SELECT percentile_disc($2::float8[]) WITHIN GROUP (ORDER BY last_order_at) AS recency,
	       percentile_disc($2::float8[]) WITHIN GROUP (ORDER BY orders_count) AS frequency,
	       percentile_disc($2::float8[]) WITHIN GROUP (ORDER BY total_spent) AS monetary,
	       count(*) AS n
	FROM customers WHERE shop_id = $1 AND deleted_at IS NULL AND orders_count > 0 AND last_order_at IS NOT NULL),
gone AS (DELETE FROM rfm_thresholds WHERE shop_id = $1 AND (SELECT n FROM b) = 0)
INSERT INTO rfm_thresholds (shop_id, recency, frequency, monetary, computed_at)
SELECT $1, recency, frequency, monetary, $3 FROM b WHERE n > 0
ON CONFLICT (shop_id) DO UPDATE SET recency = EXCLUDED.recency, frequency = EXCLUDED.frequency,
	monetary = EXCLUDED.monetary, computed_at = EXCLUDED.computed_at`

// refreshRFM recomputes the shop's boundaries inside tx.
func refreshRFM(ctx context.Context, tx sqlx.ExecerContext, shopID int64, now time.Time) error {
	if _, err := tx.ExecContext(ctx, rfmSQL, shopID, pq.Float64Array(rfmFractions), now); err != nil {
		return fmt.Errorf("segments: rfm boundaries: %w", err)
	}
	return nil
}

// usesRFM reports whether any of segs has an RFM condition.
func usesRFM(segs []Segment) bool {
	found := false
	for _, s := range segs {
		s.Rules.Walk(func(c Condition) { found = found || c.Field == FieldRFM })
	}
	return found
}

// rfmScoreSQL is the score expression of col against the boundary array arr.
func rfmScoreSQL(col, arr string) string {
	var b strings.Builder
	b.WriteString("(1")
	for i := 1; i <= 4; i++ {
		fmt.Fprintf(&b, " + (%s > %s[%d])::int", col, arr, i)
	}
	b.WriteString(")")
	return b.String()
}

// rfmCellSQL is the cell of customer c against the thresholds row alias a;
// grid is the placeholder carrying rfmGrid.
func rfmCellSQL(a, grid string) string {
	r := rfmScoreSQL("c.last_order_at", a+".recency")
	f := rfmScoreSQL("c.orders_count", a+".frequency")
	m := rfmScoreSQL("c.total_spent", a+".monetary")
	return "(" + grid + "::text[])[(" + r + " - 1) * 5 + (" + f + " + " + m + " + 1) / 2]"
}
