package views

import (
	"fmt"

	"github.com/a-h/templ"
)

// CampaignReport is a campaign's report, prepared for display.
type CampaignReport struct {
	Name, Href, CampaignHref, Status, StatusTone string
	Live                                         bool // refresh itself (the campaign is sending)
	Audience, Holdout                            string
	Metrics                                      []ReportMetric
	// Revenue is the attributed orders, sales, conversion, average order
	// and revenue per recipient; Orders the latest attributed orders with
	// why each is credited.
	Revenue []ReportMetric
	Orders  []ReportOrder
	// Recomputing is the progress of a recompute of past attribution
	// after a window change ("" when none runs): Revenue is then frozen.
	Recomputing string
	// A/B: one row per variant (the rest last) when the campaign has a
	// test or a holdout.
	Variants    []ReportVariant
	HasVariants bool
	Links       []ReportRow
	Hours       []ReportHour // hours since sending, 0 … 72 (later)
	HoursMax    int64        // the largest opens+clicks in Hours, for the chart
	WeekHours   [7]ReportWeekday
	WeekMax     int64
	Devices     []ReportRow
	Clients     []ReportRow
	Empty       bool // nothing sent yet
}

// ReportMetric is one line of the figures: its count, rate and what it
// counts.
type ReportMetric struct {
	Key, Label, Count, Rate, Definition string
}

// ReportVariant is one A/B variant (or the holdout).
type ReportVariant struct {
	Key, Label, Recipients, Sent, Delivered, OpenRate, ClickRate, UniqueClickRate, UnsubscribeRate string
	Orders, Sales                                                                                  string
	Winner, Holdout                                                                                bool
}

// ReportOrder is one attributed order and the reason it is credited.
type ReportOrder struct {
	Name, Href, At, Amount, Reason string
	Cancelled                      bool
}

// ReportRow is one line of a breakdown.
type ReportRow struct {
	Key, Label, Opens, Opened, Clicks, Clicked, Share string
}

// ReportHour is one hour after sending.
type ReportHour struct {
	Label                          string
	Opens, Opened, Clicks, Clicked int64
}

// ReportWeekday is one weekday's 24 hours.
type ReportWeekday struct {
	Label string
	Hours [24]int64 // opens + clicks
}

// barHeight is a chart bar's height in percent of the tallest.
func barHeight(n, max int64) templ.SafeCSS {
	p := 0
	if max > 0 {
		p = int(n * 100 / max)
	}
	return templ.SafeCSS(fmt.Sprintf("flex:1 1 0;height:%d%%;background:var(--p-color-bg-fill-info, #91d0ff);min-height:%dpx", p, min(p, 1)))
}

// heatCell shades a weekday × hour cell by its share of the busiest.
func heatCell(n, max int64) templ.SafeCSS {
	a := 0.0
	if max > 0 {
		a = float64(n) / float64(max)
	}
	return templ.SafeCSS(fmt.Sprintf("background:rgba(0,91,211,%.2f);color:%s;text-align:center;padding:2px 4px;min-width:1.75rem",
		a*0.85, map[bool]string{true: "#fff", false: "inherit"}[a > 0.5]))
}

func hourLabel(h int) string { return fmt.Sprintf("%02d", h) }
