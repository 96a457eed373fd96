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
	return s.DashboardCompared(ctx, shopID, r, PreviousPeriod(r))
}

// PreviousPeriod is the same number of days just before r.
func PreviousPeriod(r Range) Range {
	n := r.Days()
	return Range{From: r.From.AddDate(0, 0, -n), To: r.From.AddDate(0, 0, -1)}
}

// YearBefore is r a year earlier (29 February falls on the 1 March).
func YearBefore(r Range) Range {
	return Range{From: r.From.AddDate(-1, 0, 0), To: r.To.AddDate(-1, 0, 0)}
}

// DashboardCompared is Dashboard against any earlier period cmp (its To
// before r's From).
func (s *Store) DashboardCompared(ctx context.Context, shopID int64, r, cmp Range) (Dashboard, error) {
	d := Dashboard{Range: r, Compare: cmp}
	if !cmp.To.Before(r.From) || cmp.To.Before(cmp.From) {
		return d, fmt.Errorf("reports: dashboard: the comparison %s–%s must end before the range", cmp.From.Format(time.DateOnly), cmp.To.Format(time.DateOnly))
	}
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
	// Both periods' days (and any between them), and the net change of
	// every day before them: the list size at a day's end is the running
	// total up to it.
	var subs []subscriberDay
	if err := s.DB.SelectContext(ctx, &subs, `SELECT $2::date - 1 AS day, COALESCE(sum(subscribed), 0) AS subscribed, 0 AS from_wheel,
			COALESCE(sum(unsubscribed), 0) AS unsubscribed
		FROM report_subscribers_daily WHERE shop_id = $1 AND day < $2
		UNION ALL
		SELECT day, sum(subscribed), sum(from_wheel), sum(unsubscribed)
		FROM report_subscribers_daily WHERE shop_id = $1 AND day BETWEEN $2 AND $3 GROUP BY day`,
		shopID, d.Compare.From, d.Range.To); err != nil {
		return fmt.Errorf("subscriber days: %w", err)
	}
	// The row of the days before comes first: it is dated the day before them.
	slices.SortFunc(subs, func(a, b subscriberDay) int {
		return a.Day.Compare(b.Day)
	})
	var net int64
	for i, x := range subs {
		net += x.Subscribed - x.Unsubscribed
		if i == 0 { // every day before both periods
			d.PrevSubscribers.ListSize, d.Subscribers.ListSize = net, net
			continue
		}
		var t *SubscriberTotals
		switch {
		case !x.Day.After(d.Compare.To):
			t = &d.PrevSubscribers
		case !x.Day.Before(d.Range.From):
			t = &d.Subscribers
			if p := at(x.Day); p != nil {
				p.Subscribed, p.Unsubscribed = x.Subscribed, x.Unsubscribed
			}
		}
		if t != nil {
			t.New += x.Subscribed
			t.FromWheel += x.FromWheel
			t.Left += x.Unsubscribed
		}
		if !x.Day.After(d.Compare.To) {
			d.PrevSubscribers.ListSize = net
		}
		d.Subscribers.ListSize = net
	}
	return nil
}

// subscriberDay is one day's consent changes.
type subscriberDay struct {
	Day          time.Time `db:"day"`
	Subscribed   int64     `db:"subscribed"`
	FromWheel    int64     `db:"from_wheel"`
	Unsubscribed int64     `db:"unsubscribed"`
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
