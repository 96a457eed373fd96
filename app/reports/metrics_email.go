package reports

import (
	"context"
	"database/sql"
	"fmt"

	"github.com/shopspring/decimal"
)

// Metrics of every email, a flow (or one step) and a template, read from
// the rollups of migration 00032 (apply_email.go) and report_orders_daily.
// Unique customers are COUNT(DISTINCT customer) over the range's days of
// report_email_customers, so a customer delivered on three days counts once.

// emailScope is a scope of report_email_daily: scope, optional id and
// optional variant (the flow step).
type emailScope struct {
	scope   string
	id      sql.NullInt64
	variant sql.NullString
}

func (sc Scope) email() (emailScope, bool) {
	switch sc.Kind {
	case ScopeAll:
		return emailScope{scope: ScopeAll}, true
	case ScopeFlow, ScopeTemplate:
		e := emailScope{scope: sc.Kind, id: sql.NullInt64{Int64: sc.ID, Valid: true}}
		if sc.Kind == ScopeFlow && sc.VariantSet {
			e.variant = sql.NullString{String: sc.Variant, Valid: true}
		}
		return e, true
	}
	return emailScope{}, false
}

// emailTotals sums a scope's rollups for the range.
func (s *Store) emailTotals(ctx context.Context, shopID int64, r Range, e emailScope) (Totals, error) {
	var t Totals
	var c EmailCounts
	if err := s.DB.GetContext(ctx, &c, `SELECT COALESCE(sum(sent), 0) AS sent, COALESCE(sum(delivered), 0) AS delivered,
			COALESCE(sum(bounced), 0) AS bounced, COALESCE(sum(opened), 0) AS opened, COALESCE(sum(clicked), 0) AS clicked,
			COALESCE(sum(clicks), 0) AS clicks, COALESCE(sum(unsubscribed), 0) AS unsubscribed, COALESCE(sum(complained), 0) AS complained
		FROM report_email_daily WHERE shop_id = $1 AND scope = $2 AND ($3::bigint IS NULL OR scope_id = $3)
			AND ($4::text IS NULL OR variant = $4) AND day BETWEEN $5 AND $6`,
		shopID, e.scope, e.id, e.variant, r.From, r.To); err != nil {
		return t, fmt.Errorf("reports: %s counts: %w", e.scope, err)
	}
	// These rollups don't split bounces into hard and soft: BouncedHard
	// holds them all (Bounced() is what the metrics use).
	t.Counts = Counts{Sent: c.Sent, Delivered: c.Delivered, BouncedHard: c.Bounced, Opened: c.Opened, Clicked: c.Clicked,
		Clicks: c.Clicks, Unsubscribed: c.Unsubscribed, Complained: c.Complained}
	if e.scope == ScopeAll {
		// All email: from report_email_reach, whatever the range's
		// customer-days (see migration 00034).
		if err := s.DB.QueryRowxContext(ctx, `SELECT COALESCE(sum(customers) FILTER (WHERE flag = 'delivered'), 0),
				COALESCE(sum(customers) FILTER (WHERE flag = 'unsubscribed'), 0), COALESCE(sum(customers) FILTER (WHERE flag = 'complained'), 0)
			FROM report_email_reach WHERE shop_id = $1 AND day BETWEEN $2 AND $3 AND prev_day < $2`,
			shopID, r.From, r.To).Scan(&t.Customers, &t.UnsubCustomers, &t.ComplainedCustomers); err != nil {
			return t, fmt.Errorf("reports: %s customers: %w", e.scope, err)
		}
	} else if err := s.DB.QueryRowxContext(ctx, `SELECT count(*) FILTER (WHERE d), count(*) FILTER (WHERE u), count(*) FILTER (WHERE c)
		FROM (SELECT bool_or(delivered) AS d, bool_or(unsubscribed) AS u, bool_or(complained) AS c
			FROM report_email_customers WHERE shop_id = $1 AND scope = $2 AND ($3::bigint IS NULL OR scope_id = $3)
				AND ($4::text IS NULL OR variant = $4) AND day BETWEEN $5 AND $6
			GROUP BY customer_id) x`,
		shopID, e.scope, e.id, e.variant, r.From, r.To).Scan(&t.Customers, &t.UnsubCustomers, &t.ComplainedCustomers); err != nil {
		return t, fmt.Errorf("reports: %s customers: %w", e.scope, err)
	}
	// Every attributed order has one email, a campaign's or a flow's: all
	// email is those two scopes (templates hold the same orders again).
	var rev struct {
		Orders int64           `db:"orders"`
		Sales  decimal.Decimal `db:"sales"`
	}
	if err := s.DB.GetContext(ctx, &rev, `SELECT COALESCE(sum(orders), 0) AS orders, COALESCE(sum(sales), 0) AS sales
		FROM `+ordersDailySource+` o WHERE shop_id = $1
			AND CASE WHEN $2 = 'all' THEN scope IN ('campaign', 'flow') ELSE scope = $2 END
			AND ($3::bigint IS NULL OR scope_id = $3) AND ($4::text IS NULL OR variant = $4) AND day BETWEEN $5 AND $6`,
		shopID, e.scope, e.id, e.variant, r.From, r.To); err != nil {
		return t, fmt.Errorf("reports: %s orders: %w", e.scope, err)
	}
	t.Revenue = Revenue{Orders: rev.Orders, Sales: rev.Sales}
	return t, nil
}

// flowLines are the flows with figures in the range.
func (s *Store) flowLines(ctx context.Context, shopID int64, r Range, customers bool) ([]Line, error) {
	var rows []struct {
		ID int64 `db:"scope_id"`
		EmailCounts
		Customers int64 `db:"customers"`
		Unsub     int64 `db:"unsub"`
		Complain  int64 `db:"complain"`
	}
	// Without customers the join is left out of the statement, not just
	// false: a generic plan would still read every customer-day.
	join := `LEFT JOIN (SELECT NULL::bigint AS scope_id, 0 AS customers, 0 AS unsub, 0 AS complain) c ON false`
	if customers {
		join = `LEFT JOIN (SELECT scope_id, count(*) FILTER (WHERE d) AS customers, count(*) FILTER (WHERE u) AS unsub,
				count(*) FILTER (WHERE cm) AS complain
			FROM (SELECT scope_id, bool_or(delivered) AS d, bool_or(unsubscribed) AS u, bool_or(complained) AS cm
				FROM report_email_customers WHERE shop_id = $1 AND scope = 'flow' AND day BETWEEN $2 AND $3
				GROUP BY scope_id, customer_id) pc
			GROUP BY scope_id) c
			ON c.scope_id = d.scope_id`
	}
	if err := s.DB.SelectContext(ctx, &rows, `SELECT d.scope_id, d.sent, d.delivered, d.bounced, d.opened, d.clicked, d.clicks,
			d.unsubscribed, d.complained, COALESCE(c.customers, 0) AS customers, COALESCE(c.unsub, 0) AS unsub, COALESCE(c.complain, 0) AS complain
		FROM (SELECT scope_id, sum(sent) AS sent, sum(delivered) AS delivered, sum(bounced) AS bounced, sum(opened) AS opened,
				sum(clicked) AS clicked, sum(clicks) AS clicks, sum(unsubscribed) AS unsubscribed, sum(complained) AS complained
			FROM report_email_daily WHERE shop_id = $1 AND scope = 'flow' AND day BETWEEN $2 AND $3 GROUP BY scope_id) d
		`+join, shopID, r.From, r.To); err != nil {
		return nil, fmt.Errorf("reports: flow lines: %w", err)
	}
	by := map[int64]*Line{}
	for _, x := range rows {
		c := x.EmailCounts
		by[x.ID] = &Line{Kind: ScopeFlow, ID: x.ID, Totals: Totals{
			Counts: Counts{Sent: c.Sent, Delivered: c.Delivered, BouncedHard: c.Bounced, Opened: c.Opened, Clicked: c.Clicked,
				Clicks: c.Clicks, Unsubscribed: c.Unsubscribed, Complained: c.Complained},
			Customers: x.Customers, UnsubCustomers: x.Unsub, ComplainedCustomers: x.Complain}}
	}
	var os []struct {
		ID     int64           `db:"scope_id"`
		Orders int64           `db:"orders"`
		Sales  decimal.Decimal `db:"sales"`
	}
	if err := s.DB.SelectContext(ctx, &os, `SELECT scope_id, sum(orders) AS orders, sum(sales) AS sales FROM `+ordersDailySource+` o
		WHERE shop_id = $1 AND scope = 'flow' AND day BETWEEN $2 AND $3 GROUP BY scope_id`, shopID, r.From, r.To); err != nil {
		return nil, fmt.Errorf("reports: flow orders: %w", err)
	}
	for _, o := range os {
		if by[o.ID] == nil {
			by[o.ID] = &Line{Kind: ScopeFlow, ID: o.ID}
		}
		by[o.ID].Totals.Revenue = Revenue{Orders: o.Orders, Sales: o.Sales}
	}
	var names []struct {
		ID   int64  `db:"id"`
		Name string `db:"name"`
	}
	ids := make([]int64, 0, len(by))
	for id := range by {
		ids = append(ids, id)
	}
	if len(ids) == 0 {
		return nil, nil
	}
	if err := s.DB.SelectContext(ctx, &names, `SELECT id, name FROM flows WHERE shop_id = $1 AND id = ANY($2)`, shopID, int64Array(ids)); err != nil {
		return nil, fmt.Errorf("reports: flow names: %w", err)
	}
	out := make([]Line, 0, len(names))
	for _, n := range names {
		l := by[n.ID]
		l.Name = n.Name
		out = append(out, *l)
	}
	return out, nil
}

// flowSteps are the steps of a flow with figures in the range.
func (s *Store) flowSteps(ctx context.Context, shopID, flowID int64, r Range) ([]string, error) {
	var out []string
	if err := s.DB.SelectContext(ctx, &out, `SELECT DISTINCT variant FROM report_email_daily
		WHERE shop_id = $1 AND scope = 'flow' AND scope_id = $2 AND day BETWEEN $3 AND $4 ORDER BY variant`, shopID, flowID, r.From, r.To); err != nil {
		return nil, fmt.Errorf("reports: flow steps: %w", err)
	}
	return out, nil
}

// TemplateChoices lists the shop's templates for the scope picker.
func (s *Store) TemplateChoices(ctx context.Context, shopID int64) ([]Line, error) {
	var rows []Line
	if err := s.DB.SelectContext(ctx, &rows, `SELECT 'template' AS kind, id, name FROM email_templates WHERE shop_id = $1 ORDER BY name, id LIMIT 500`, shopID); err != nil {
		return nil, fmt.Errorf("reports: templates: %w", err)
	}
	return rows, nil
}
