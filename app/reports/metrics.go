package reports

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/lib/pq"
	"github.com/shopspring/decimal"
)

// Metrics for a date range (issue 13 §2), read from the daily rollups
// (report_daily for the once-per-message counts, report_orders_daily for
// attributed orders and sales), never from raw events. Every day of the
// range, today included, comes from the rollups: the signals consumer keeps
// them current within seconds, so "today" is as fresh as the consumer.
//
// Scope: all email, campaigns (all of them, one, or one A/B variant) from
// report_daily; a flow (or one step) and a template from report_email_daily
// (metrics_email.go).

// Range is an inclusive range of days in the shop's timezone (dates at
// UTC midnight, like a date column).
type Range struct{ From, To time.Time }

// Days is how many days the range covers.
func (r Range) Days() int { return int(r.To.Sub(r.From)/(24*time.Hour)) + 1 }

// MaxRangeDays bounds a custom range (a year and a day covers leap years).
const MaxRangeDays = 366

// ErrBadRange wraps every reason a range is refused.
var ErrBadRange = errors.New("bad date range")

// Presets are the quick ranges: the last N days, today included.
var Presets = []int{7, 30, 90}

// ParseRange reads a preset ("7", "30", "90": the last N days ending
// today) or, when preset is "custom" or empty with dates given, from and to
// as YYYY-MM-DD. today is the shop's current date. No input is the last 30
// days.
func ParseRange(preset, from, to string, today time.Time) (Range, error) {
	y, m, d := today.Date()
	today = time.Date(y, m, d, 0, 0, 0, 0, time.UTC)
	if preset == "" && from == "" && to == "" {
		preset = "30"
	}
	if preset != "" && preset != "custom" {
		n, err := strconv.Atoi(preset)
		if err != nil || !slices.Contains(Presets, n) {
			return Range{}, fmt.Errorf("%w: preset must be one of 7, 30, 90 or custom", ErrBadRange)
		}
		return Range{From: today.AddDate(0, 0, -(n - 1)), To: today}, nil
	}
	f, err := time.Parse(time.DateOnly, strings.TrimSpace(from))
	if err != nil {
		return Range{}, fmt.Errorf("%w: from must be a date like 2026-01-31", ErrBadRange)
	}
	t, err := time.Parse(time.DateOnly, strings.TrimSpace(to))
	if err != nil {
		return Range{}, fmt.Errorf("%w: to must be a date like 2026-01-31", ErrBadRange)
	}
	r := Range{From: f, To: t}
	switch {
	case t.Before(f):
		return Range{}, fmt.Errorf("%w: from must not be after to", ErrBadRange)
	case r.Days() > MaxRangeDays:
		return Range{}, fmt.Errorf("%w: a range covers at most %d days", ErrBadRange, MaxRangeDays)
	}
	return r, nil
}

// Totals are what the metrics are computed from.
type Totals struct {
	Counts
	// Unique delivered customers, and those of them who unsubscribed or
	// complained. A campaign sends one message per customer, so within
	// campaign scopes these are the delivered, unsubscribed and complained
	// messages; summed over campaigns they count a customer once per
	// campaign.
	Customers, UnsubCustomers, ComplainedCustomers int64
	Revenue
}

func (t *Totals) add(o Totals) {
	t.Counts.add(o.Counts)
	t.Customers += o.Customers
	t.UnsubCustomers += o.UnsubCustomers
	t.ComplainedCustomers += o.ComplainedCustomers
	t.Revenue.add(o.Revenue)
}

// Metrics are issue 13 §2's figures, exactly as defined there.
type Metrics struct {
	Sales                                                              decimal.Decimal // attributed orders' paid total, two decimals
	Orders                                                             int64           // attributed orders, cancelled included
	ConversionRate                                                     Rate            // orders / delivered
	AOV                                                                decimal.Decimal // sales / orders (zero without orders)
	AOVOK                                                              bool
	RevenuePerRecip                                                    decimal.Decimal // sales / unique delivered customers
	RevenuePerRecipOK                                                  bool
	Sent, Bounced, Delivered, Opened, Clicks, Complaints, Unsubscribes int64
	DeliveryRate, BounceRate, OpenRate, ClickRate                      Rate
	UnsubscribeRate, ComplaintRate                                     Rate // per unique delivered customer
	UniqueClickRate, ClickToOpenRate                                   Rate
}

// Compute turns totals into the metrics.
func Compute(t Totals) Metrics {
	m := Metrics{
		Sales:  t.Sales.Round(2),
		Orders: t.Orders,
		Sent:   t.Sent, Bounced: t.Bounced(), Delivered: t.Delivered, Opened: t.Opened, Clicks: t.Clicks,
		Complaints: t.Complained, Unsubscribes: t.Unsubscribed,
		ConversionRate:  rate(t.Orders, t.Delivered),
		DeliveryRate:    rate(t.Delivered, t.Sent),
		BounceRate:      rate(t.Bounced(), t.Sent),
		OpenRate:        rate(t.Opened, t.Delivered),
		ClickRate:       rate(t.Clicks, t.Delivered),
		UnsubscribeRate: rate(t.UnsubCustomers, t.Customers),
		ComplaintRate:   rate(t.ComplainedCustomers, t.Customers),
		UniqueClickRate: rate(t.Clicked, t.Delivered),
		ClickToOpenRate: rate(t.Clicked, t.Opened),
	}
	if t.Orders > 0 {
		m.AOV, m.AOVOK = t.Sales.Div(decimal.NewFromInt(t.Orders)).Round(2), true
	}
	if t.Customers > 0 {
		m.RevenuePerRecip, m.RevenuePerRecipOK = t.Sales.Div(decimal.NewFromInt(t.Customers)).Round(2), true
	}
	return m
}

// Definitions are the metrics' definitions, shown on hover (English: the
// admin has no other language yet). Keys are the metric names the page
// uses.
var Definitions = map[string]string{
	"sales":            "Sales from Cartwheel: the total paid of orders attributed to an email (sales + tax + shipping − discounts − refunds), on the order's day.",
	"orders":           "Orders from Cartwheel: orders attributed to an email (last click within the click window, else last open within the open window), cancelled ones included.",
	"conversion":       "Conversion rate: attributed orders ÷ delivered emails.",
	"aov":              "Average order value: attributed sales ÷ attributed orders.",
	"rpr":              "Revenue per recipient: attributed sales ÷ unique customers delivered an email.",
	"sent":             "Sent: emails handed to the provider, each counted once.",
	"delivered":        "Delivered: emails the provider delivered (or that were opened, clicked, unsubscribed from or complained about), each counted once.",
	"bounced":          "Bounced: emails that bounced (hard or soft), each counted once.",
	"opened":           "Opened: emails opened (a click counts as an open) by a person, each counted once; machine opens such as Apple Mail privacy prefetch never count.",
	"clicks":           "Clicks: every click by a person on a link in an email; link scanners never count.",
	"unsubscribes":     "Unsubscribes: emails whose recipient unsubscribed from them, each counted once.",
	"complaints":       "Complaints: emails marked as spam, each counted once.",
	"delivery_rate":    "Delivery rate: delivered ÷ sent.",
	"bounce_rate":      "Bounce rate: bounced ÷ sent.",
	"open_rate":        "Open rate: opened ÷ delivered.",
	"click_rate":       "Click rate: clicks (every click) ÷ delivered.",
	"unique_click":     "Unique click rate: emails clicked at least once ÷ delivered.",
	"click_to_open":    "Click-to-open rate: emails clicked ÷ emails opened.",
	"unsubscribe_rate": "Unsubscribe rate: customers who received an email and unsubscribed ÷ unique delivered customers.",
	"complaint_rate":   "Complaint rate: customers who received an email and complained ÷ unique delivered customers.",
}

// Scope picks what the metrics cover: Kind ScopeAll (every campaign and
// flow email), ScopeCampaign (ID 0: every campaign; else one campaign, or
// one of its A/B variants when VariantSet — "" is the rest of the
// audience), ScopeFlow (one flow, or one step when VariantSet: Variant is
// the step's id) or ScopeTemplate (one template).
type Scope struct {
	Kind       string
	ID         int64
	Variant    string
	VariantSet bool
}

// Line is one campaign's or flow's figures for the range.
type Line struct {
	Kind   string // ScopeCampaign or ScopeFlow
	ID     int64
	Name   string
	Totals Totals
}

// RangeReport is what /app/reports shows.
type RangeReport struct {
	Range    Range
	Scope    Scope
	Totals   Totals
	Lines    []Line   // every campaign, then every flow, with figures in the range, most sales first
	Variants []string // the chosen campaign's variants with figures
}

// Metrics reads the rollups of the shop's campaigns for the range and
// scope.
func (s *Store) Metrics(ctx context.Context, shopID int64, r Range, sc Scope) (RangeReport, error) {
	return s.metrics(ctx, shopID, r, sc, true)
}

// MetricsBrief is Metrics without the flows' unique customers in Lines
// (their unsubscribe and complaint rates and revenue per recipient): the
// page's table doesn't show them and counting them reads every flow's
// customer-days of the range. The scope's own figures are complete.
func (s *Store) MetricsBrief(ctx context.Context, shopID int64, r Range, sc Scope) (RangeReport, error) {
	return s.metrics(ctx, shopID, r, sc, false)
}

func (s *Store) metrics(ctx context.Context, shopID int64, r Range, sc Scope, lineCustomers bool) (RangeReport, error) {
	out := RangeReport{Range: r, Scope: sc}
	es, isEmail := sc.email()
	if isEmail {
		t, err := s.emailTotals(ctx, shopID, r, es)
		if err != nil {
			return out, err
		}
		out.Totals = t
		if sc.Kind == ScopeFlow {
			if out.Variants, err = s.flowSteps(ctx, shopID, sc.ID, r); err != nil {
				return out, err
			}
		}
	} else if sc.Kind != ScopeCampaign {
		return out, fmt.Errorf("reports: unknown scope %q", sc.Kind)
	}
	type key struct {
		campaign int64
		variant  string
	}
	by := map[key]*Totals{}
	get := func(k key) *Totals {
		if by[k] == nil {
			by[k] = &Totals{}
		}
		return by[k]
	}
	var cs []struct {
		Campaign int64  `db:"scope_id"`
		Variant  string `db:"variant"`
		Counts
	}
	if err := s.DB.SelectContext(ctx, &cs, `SELECT scope_id, variant, sum(sent) AS sent, sum(delivered) AS delivered,
			sum(bounced_hard) AS bounced_hard, sum(bounced_soft) AS bounced_soft, sum(dropped) AS dropped, sum(opened) AS opened,
			sum(clicked) AS clicked, sum(clicks) AS clicks, sum(opens) AS opens, sum(unsubscribed) AS unsubscribed,
			sum(complained) AS complained
		FROM report_daily WHERE shop_id = $1 AND scope = $2 AND day BETWEEN $3 AND $4 GROUP BY scope_id, variant`,
		shopID, ScopeCampaign, r.From, r.To); err != nil {
		return out, fmt.Errorf("reports: metrics counts: %w", err)
	}
	for _, c := range cs {
		t := get(key{c.Campaign, c.Variant})
		t.Counts.add(c.Counts)
		// One message per (campaign, customer): messages are customers.
		t.Customers += c.Delivered
		t.UnsubCustomers += c.Unsubscribed
		t.ComplainedCustomers += c.Complained
	}
	var os []struct {
		Campaign int64           `db:"scope_id"`
		Variant  string          `db:"variant"`
		Orders   int64           `db:"orders"`
		Sales    decimal.Decimal `db:"sales"`
	}
	if err := s.DB.SelectContext(ctx, &os, `SELECT scope_id, variant, sum(orders) AS orders, sum(sales) AS sales
		FROM `+ordersDailySource+` o WHERE shop_id = $1 AND scope = $2 AND day BETWEEN $3 AND $4 GROUP BY scope_id, variant`,
		shopID, ScopeCampaign, r.From, r.To); err != nil {
		return out, fmt.Errorf("reports: metrics orders: %w", err)
	}
	for _, o := range os {
		get(key{o.Campaign, o.Variant}).Revenue.add(Revenue{Orders: o.Orders, Sales: o.Sales})
	}
	lines := map[int64]*Line{}
	for k, t := range by {
		l := lines[k.campaign]
		if l == nil {
			l = &Line{Kind: ScopeCampaign, ID: k.campaign}
			lines[k.campaign] = l
		}
		l.Totals.add(*t)
		if !isEmail && (sc.ID == 0 || (sc.ID == k.campaign && (!sc.VariantSet || sc.Variant == k.variant))) {
			out.Totals.add(*t)
		}
		if !isEmail && sc.ID != 0 && sc.ID == k.campaign {
			out.Variants = append(out.Variants, k.variant)
		}
	}
	slices.Sort(out.Variants)
	ids := make([]int64, 0, len(lines))
	for id := range lines {
		ids = append(ids, id)
	}
	names, err := s.campaignNames(ctx, shopID, ids)
	if err != nil {
		return out, err
	}
	for id, l := range lines {
		n, ok := names[id]
		if !ok {
			continue // deleted: its figures still count in the shop's total
		}
		l.Name = n
		out.Lines = append(out.Lines, *l)
	}
	flows, err := s.flowLines(ctx, shopID, r, lineCustomers)
	if err != nil {
		return out, err
	}
	out.Lines = append(out.Lines, flows...)
	slices.SortFunc(out.Lines, func(a, b Line) int {
		return cmp.Or(cmp.Compare(a.Kind, b.Kind), b.Totals.Sales.Cmp(a.Totals.Sales), cmp.Compare(b.Totals.Sent, a.Totals.Sent), cmp.Compare(a.ID, b.ID))
	})
	return out, nil
}

func (s *Store) campaignNames(ctx context.Context, shopID int64, ids []int64) (map[int64]string, error) {
	out := map[int64]string{}
	if len(ids) == 0 {
		return out, nil
	}
	var rows []struct {
		ID   int64  `db:"id"`
		Name string `db:"name"`
	}
	if err := s.DB.SelectContext(ctx, &rows, `SELECT id, name FROM campaigns WHERE shop_id = $1 AND id = ANY($2)`, shopID, pq.Array(ids)); err != nil {
		return nil, fmt.Errorf("reports: campaign names: %w", err)
	}
	for _, r := range rows {
		out[r.ID] = r.Name
	}
	return out, nil
}

// CampaignChoices lists the shop's campaigns for the scope picker, newest first.
func (s *Store) CampaignChoices(ctx context.Context, shopID int64) ([]Line, error) {
	var rows []struct {
		ID   int64  `db:"id"`
		Name string `db:"name"`
	}
	if err := s.DB.SelectContext(ctx, &rows, `SELECT id, name FROM campaigns WHERE shop_id = $1 ORDER BY id DESC LIMIT 500`, shopID); err != nil {
		return nil, fmt.Errorf("reports: campaigns: %w", err)
	}
	out := make([]Line, len(rows))
	for i, r := range rows {
		out[i] = Line{Kind: ScopeCampaign, ID: r.ID, Name: r.Name}
	}
	return out, nil
}

// Today is the shop's current date in its reporting timezone at now.
func (s *Store) Today(ctx context.Context, shopID int64, now time.Time) (time.Time, error) {
	loc, err := shopZone(ctx, s.DB, shopID)
	if err != nil {
		return time.Time{}, err
	}
	return dayOf(now, loc), nil
}

// FlowChoices lists the shop's flows for the scope picker, newest first.
func (s *Store) FlowChoices(ctx context.Context, shopID int64) ([]Line, error) {
	var rows []Line
	if err := s.DB.SelectContext(ctx, &rows, `SELECT 'flow' AS kind, id, name FROM flows WHERE shop_id = $1 ORDER BY id DESC LIMIT 500`, shopID); err != nil {
		return nil, fmt.Errorf("reports: flows: %w", err)
	}
	return rows, nil
}

func int64Array(ids []int64) any { return pq.Array(ids) }
