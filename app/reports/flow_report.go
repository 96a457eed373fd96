package reports

import (
	"context"
	"database/sql"
	"fmt"
	"time"

	"github.com/jmoiron/sqlx"
	"github.com/lib/pq"
	"github.com/shopspring/decimal"
)

// A flow's report (issue 13): the flow's figures for a range and each
// step's, from the same rollups and with the same counting as Metrics with
// Scope{Kind: ScopeFlow, ID} (and VariantSet per step), read in a handful
// of grouped queries instead of one Metrics call per step (each of which
// would also read every campaign's and flow's lines).

// FlowReport is a flow's figures for a range.
type FlowReport struct {
	Range  Range
	Totals Totals
	Steps  map[string]Totals // by step id; steps without figures are absent
}

// FlowReport reads the flow's totals and each step's for the range.
func (s *Store) FlowReport(ctx context.Context, shopID, flowID int64, r Range) (FlowReport, error) {
	out := FlowReport{Range: r, Steps: map[string]Totals{}}
	t, err := s.emailTotals(ctx, shopID, r, emailScope{scope: ScopeFlow, id: sql.NullInt64{Int64: flowID, Valid: true}})
	if err != nil {
		return out, fmt.Errorf("reports: flow %d report: %w", flowID, err)
	}
	out.Totals = t
	get := func(step string) Totals { return out.Steps[step] }
	var cs []struct {
		Step string `db:"variant"`
		EmailCounts
	}
	if err := s.DB.SelectContext(ctx, &cs, `SELECT variant, sum(sent) AS sent, sum(delivered) AS delivered, sum(bounced) AS bounced,
			sum(opened) AS opened, sum(clicked) AS clicked, sum(clicks) AS clicks, sum(unsubscribed) AS unsubscribed, sum(complained) AS complained
		FROM report_email_daily WHERE shop_id = $1 AND scope = 'flow' AND scope_id = $2 AND day BETWEEN $3 AND $4 GROUP BY variant`,
		shopID, flowID, r.From, r.To); err != nil {
		return out, fmt.Errorf("reports: flow %d step counts: %w", flowID, err)
	}
	for _, c := range cs {
		x := get(c.Step)
		x.Counts = Counts{Sent: c.Sent, Delivered: c.Delivered, BouncedHard: c.Bounced, Opened: c.Opened, Clicked: c.Clicked,
			Clicks: c.Clicks, Unsubscribed: c.Unsubscribed, Complained: c.Complained}
		out.Steps[c.Step] = x
	}
	var us []struct {
		Step       string `db:"variant"`
		Customers  int64  `db:"customers"`
		Unsub      int64  `db:"unsub"`
		Complained int64  `db:"complained"`
	}
	if err := s.DB.SelectContext(ctx, &us, `SELECT variant, count(*) FILTER (WHERE d) AS customers, count(*) FILTER (WHERE u) AS unsub,
			count(*) FILTER (WHERE c) AS complained
		FROM (SELECT variant, bool_or(delivered) AS d, bool_or(unsubscribed) AS u, bool_or(complained) AS c
			FROM report_email_customers WHERE shop_id = $1 AND scope = 'flow' AND scope_id = $2 AND day BETWEEN $3 AND $4
			GROUP BY variant, customer_id) x
		GROUP BY variant`, shopID, flowID, r.From, r.To); err != nil {
		return out, fmt.Errorf("reports: flow %d step customers: %w", flowID, err)
	}
	for _, u := range us {
		x := get(u.Step)
		x.Customers, x.UnsubCustomers, x.ComplainedCustomers = u.Customers, u.Unsub, u.Complained
		out.Steps[u.Step] = x
	}
	rev, err := s.scopeRevenue(ctx, shopID, ScopeFlow, []int64{flowID}, r)
	if err != nil {
		return out, err
	}
	for step, v := range rev[flowID] {
		x := get(step)
		x.Revenue = v
		out.Steps[step] = x
	}
	return out, nil
}

// AllTime is a range covering every day a rollup can hold.
var AllTime = Range{From: time.Date(1, 1, 1, 0, 0, 0, 0, time.UTC), To: time.Date(9999, 12, 31, 0, 0, 0, 0, time.UTC)}

// FlowRevenue is each listed flow's attributed orders and sales for the
// range, per step (the flows list sums them; the flow page shows each).
// One query for the whole list.
func (s *Store) FlowRevenue(ctx context.Context, shopID int64, flowIDs []int64, r Range) (map[int64]map[string]Revenue, error) {
	return s.scopeRevenue(ctx, shopID, ScopeFlow, flowIDs, r)
}

// CampaignRevenue is each listed campaign's attributed orders and sales
// over its whole life, every variant together (the campaigns list). One
// query for the whole list.
func (s *Store) CampaignRevenue(ctx context.Context, shopID int64, campaignIDs []int64) (map[int64]Revenue, error) {
	by, err := s.scopeRevenue(ctx, shopID, ScopeCampaign, campaignIDs, AllTime)
	if err != nil {
		return nil, err
	}
	out := make(map[int64]Revenue, len(by))
	for id, vs := range by {
		out[id] = Sum(vs)
	}
	return out, nil
}

// Sum is the revenue of every variant or step together.
func Sum(by map[string]Revenue) Revenue {
	var t Revenue
	for _, v := range by {
		t.add(v)
	}
	return t
}

// scopeRevenue reads the attributed orders and sales of the listed ids of
// one scope for the range, per id and variant (the frozen figures while a
// recompute runs, like every revenue read).
func (s *Store) scopeRevenue(ctx context.Context, shopID int64, scope string, ids []int64, r Range) (map[int64]map[string]Revenue, error) {
	out := map[int64]map[string]Revenue{}
	if len(ids) == 0 {
		return out, nil
	}
	var rows []struct {
		ID      int64           `db:"scope_id"`
		Variant string          `db:"variant"`
		Orders  int64           `db:"orders"`
		Sales   decimal.Decimal `db:"sales"`
	}
	if err := s.DB.SelectContext(ctx, &rows, `SELECT scope_id, variant, sum(orders) AS orders, sum(sales) AS sales FROM `+ordersDailySource+` o
		WHERE shop_id = $1 AND scope = $2 AND scope_id = ANY($3) AND day BETWEEN $4 AND $5 GROUP BY scope_id, variant`,
		shopID, scope, pq.Array(ids), r.From, r.To); err != nil {
		return nil, fmt.Errorf("reports: %s revenue: %w", scope, err)
	}
	for _, x := range rows {
		if out[x.ID] == nil {
			out[x.ID] = map[string]Revenue{}
		}
		out[x.ID][x.Variant] = Revenue{Orders: x.Orders, Sales: x.Sales}
	}
	return out, nil
}

// FlowOrders is the flow's latest attributed orders of the range (the
// order's day in the shop's timezone), newest first, at most limit.
func (s *Store) FlowOrders(ctx context.Context, shopID, flowID int64, r Range, limit int) ([]Attribution, error) {
	var rows []Attribution
	if err := s.DB.SelectContext(ctx, &rows, qAttributions+`a.flow_id = $2 AND a.day BETWEEN $3 AND $4
		ORDER BY a.ordered_at DESC, a.order_id DESC LIMIT $5`, shopID, flowID, r.From, r.To, limit); err != nil {
		return nil, fmt.Errorf("reports: flow %d orders: %w", flowID, err)
	}
	return rows, nil
}

// CampaignVariantSales is what the orders attributed to each A/B variant
// of a campaign paid, every day so far (the frozen figures while a
// recompute runs). q lets the A/B decision read it in its transaction.
func (s *Store) CampaignVariantSales(ctx context.Context, q sqlx.QueryerContext, shopID, campaignID int64) (map[string]decimal.Decimal, error) {
	var rows []struct {
		Variant string          `db:"variant"`
		Sales   decimal.Decimal `db:"sales"`
	}
	if err := sqlx.SelectContext(ctx, q, &rows, `SELECT variant, sum(sales) AS sales FROM `+ordersDailySource+` o
		WHERE shop_id = $1 AND scope = $2 AND scope_id = $3 GROUP BY variant`, shopID, ScopeCampaign, campaignID); err != nil {
		return nil, fmt.Errorf("reports: campaign %d variant sales: %w", campaignID, err)
	}
	out := make(map[string]decimal.Decimal, len(rows))
	for _, r := range rows {
		out[r.Variant] = r.Sales
	}
	return out, nil
}
