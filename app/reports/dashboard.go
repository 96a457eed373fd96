package reports

import (
	"cmp"
	"context"
	"fmt"
	"slices"
	"strconv"
	"time"

	"github.com/shopspring/decimal"
)

// Dashboard reads the Admin home's figures for the range and the r.Days()
// days before it, from the rollups only (report_email_daily and
// report_email_customers, report_orders_daily as revenue reads see it,
// and the dashboard's own of migration 00034): a few thousand rows at
// most, whatever the store's size.
func (s *Store) Dashboard(ctx context.Context, shopID int64, r Range) (Dashboard, error) {
	n := r.Days()
	d := Dashboard{Range: r, Compare: Range{From: r.From.AddDate(0, 0, -n), To: r.From.AddDate(0, 0, -1)}}
	cur, err := s.MetricsBrief(ctx, shopID, r, Scope{Kind: ScopeAll})
	if err != nil {
		return d, fmt.Errorf("reports: dashboard: %w", err)
	}
	d.Current = cur.Totals
	if d.Previous, err = s.emailTotals(ctx, shopID, d.Compare, emailScope{scope: ScopeAll}); err != nil {
		return d, fmt.Errorf("reports: dashboard: %w", err)
	}
	for _, l := range cur.Lines {
		if l.Totals.Sent == 0 && l.Totals.Sales.Sign() <= 0 {
			continue
		}
		switch {
		case l.Kind == ScopeCampaign && len(d.TopCampaigns) < TopLines:
			d.TopCampaigns = append(d.TopCampaigns, l)
		case l.Kind == ScopeFlow && len(d.TopFlows) < TopLines:
			d.TopFlows = append(d.TopFlows, l)
		}
	}
	if err := s.dashboardDays(ctx, shopID, &d); err != nil {
		return d, fmt.Errorf("reports: dashboard: %w", err)
	}
	if err := s.dashboardEngagement(ctx, shopID, &d); err != nil {
		return d, fmt.Errorf("reports: dashboard: %w", err)
	}
	return d, nil
}

// dashboardDays fills Days and the subscriber totals of both periods.
func (s *Store) dashboardDays(ctx context.Context, shopID int64, d *Dashboard) error {
	d.Days = make([]DayPoint, d.Range.Days())
	for i := range d.Days {
		d.Days[i] = DayPoint{Day: d.Range.From.AddDate(0, 0, i), AttributedSales: decimal.Zero, StoreSales: decimal.Zero}
	}
	at := func(day time.Time) *DayPoint {
		i := int(day.Sub(d.Range.From) / (24 * time.Hour))
		if i < 0 || i >= len(d.Days) {
			return nil
		}
		return &d.Days[i]
	}
	// Every attributed order has one email, a campaign's or a flow's (see
	// emailTotals).
	var attr []storeDay
	if err := s.DB.SelectContext(ctx, &attr, `SELECT day, sum(orders) AS orders, sum(sales) AS sales FROM `+ordersDailySource+` o
		WHERE shop_id = $1 AND scope IN ('campaign', 'flow') AND day BETWEEN $2 AND $3 GROUP BY day`,
		shopID, d.Range.From, d.Range.To); err != nil {
		return fmt.Errorf("attributed days: %w", err)
	}
	for _, x := range attr {
		if p := at(x.Day); p != nil {
			p.AttributedOrders, p.AttributedSales = x.Orders, x.Sales
		}
	}
	var store []storeDay
	if err := s.DB.SelectContext(ctx, &store, `SELECT day, sum(orders) AS orders, sum(sales) AS sales FROM report_store_daily
		WHERE shop_id = $1 AND day BETWEEN $2 AND $3 GROUP BY day`, shopID, d.Range.From, d.Range.To); err != nil {
		return fmt.Errorf("store days: %w", err)
	}
	for _, x := range store {
		if p := at(x.Day); p != nil {
			p.StoreOrders, p.StoreSales = x.Orders, x.Sales
		}
	}
	// Both periods' days, and the net change of every day before them: the
	// list size at a day's end is the running total up to it.
	var subs []struct {
		Day          time.Time `db:"day"`
		Subscribed   int64     `db:"subscribed"`
		FromWheel    int64     `db:"from_wheel"`
		Unsubscribed int64     `db:"unsubscribed"`
	}
	if err := s.DB.SelectContext(ctx, &subs, `SELECT day, sum(subscribed) AS subscribed, sum(from_wheel) AS from_wheel,
			sum(unsubscribed) AS unsubscribed
		FROM report_subscribers_daily WHERE shop_id = $1 AND day BETWEEN $2 AND $3 GROUP BY day
		UNION ALL
		SELECT $2::date - 1, COALESCE(sum(subscribed), 0), 0, COALESCE(sum(unsubscribed), 0)
		FROM report_subscribers_daily WHERE shop_id = $1 AND day < $2`, shopID, d.Compare.From, d.Range.To); err != nil {
		return fmt.Errorf("subscriber days: %w", err)
	}
	var before int64
	for _, x := range subs {
		if x.Day.Before(d.Compare.From) { // every day before both periods
			before += x.Subscribed - x.Unsubscribed
			continue
		}
		t := &d.Subscribers
		if x.Day.Before(d.Range.From) {
			t = &d.PrevSubscribers
		} else if p := at(x.Day); p != nil {
			p.Subscribed, p.Unsubscribed = x.Subscribed, x.Unsubscribed
		}
		t.New += x.Subscribed
		t.FromWheel += x.FromWheel
		t.Left += x.Unsubscribed
	}
	d.PrevSubscribers.ListSize = before + d.PrevSubscribers.New - d.PrevSubscribers.Left
	d.Subscribers.ListSize = d.PrevSubscribers.ListSize + d.Subscribers.New - d.Subscribers.Left
	return nil
}

// dashboardEngagement fills WeekHour, Devices and Clients.
func (s *Store) dashboardEngagement(ctx context.Context, shopID int64, d *Dashboard) error {
	var rows []struct {
		Day     time.Time `db:"day"`
		Dim     string    `db:"dim"`
		Key     string    `db:"key"`
		Opened  int64     `db:"opened"`
		Clicked int64     `db:"clicked"`
	}
	// Hours per day (the weekday is the day's); devices and clients over
	// the range.
	if err := s.DB.SelectContext(ctx, &rows, `SELECT CASE WHEN dim = 'hour' THEN day ELSE $2 END AS day, dim, key,
			sum(opened) AS opened, sum(clicked) AS clicked
		FROM report_engagement_daily WHERE shop_id = $1 AND day BETWEEN $2 AND $3
		GROUP BY 1, 2, 3`, shopID, d.Range.From, d.Range.To); err != nil {
		return fmt.Errorf("engagement: %w", err)
	}
	devices, clients := map[string]*Share{}, map[string]*Share{}
	for _, x := range rows {
		e := Engagement{Opened: x.Opened, Clicked: x.Clicked}
		switch x.Dim {
		case engHour:
			h, err := strconv.Atoi(x.Key)
			if err != nil || h < 0 || h > 23 {
				continue
			}
			w := &d.WeekHour[x.Day.Weekday()][h]
			w.Opened += e.Opened
			w.Clicked += e.Clicked
		case engDevice, engClient:
			m := devices
			if x.Dim == engClient {
				m = clients
			}
			sh := m[x.Key]
			if sh == nil {
				sh = &Share{Key: x.Key}
				m[x.Key] = sh
			}
			sh.Opened += e.Opened
			sh.Clicked += e.Clicked
		}
	}
	sorted := func(m map[string]*Share) []Share {
		out := make([]Share, 0, len(m))
		for _, sh := range m {
			out = append(out, *sh)
		}
		slices.SortFunc(out, func(a, b Share) int {
			return cmp.Or(cmp.Compare(b.Opened, a.Opened), cmp.Compare(b.Clicked, a.Clicked), cmp.Compare(a.Key, b.Key))
		})
		return out
	}
	d.Devices, d.Clients = sorted(devices), sorted(clients)
	return nil
}
