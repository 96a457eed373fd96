package reports

import (
	"time"

	"github.com/shopspring/decimal"
)

// The dashboard (Admin home, issue 13 §3): money first, trends, what works.
// Every figure comes from daily rollups kept from the signal stream, for a
// range and the period before it of the same length (the comparison).

// Dashboard is what the Admin home shows for a range.
type Dashboard struct {
	Range, Compare Range

	// Every email's totals (ScopeAll) for the range and the comparison:
	// attributed sales and orders, conversion, revenue per recipient,
	// delivered, open and click rates come from Compute of these.
	Current, Previous Totals

	// Subscribers: profiles that became subscribed in the range (from the
	// wheel among them), those that left, and the list size (subscribed
	// profiles) at the end of the range and at the end of the comparison.
	Subscribers, PrevSubscribers SubscriberTotals

	// One point per day of the range, oldest first, with zeroes on quiet
	// days.
	Days []DayPoint

	// Opened and clicked messages by weekday (0 = Sunday) and hour in the
	// shop's timezone, over the range.
	WeekHour [7][24]Engagement

	// Opened and clicked messages by device (Device*: desktop, mobile,
	// tablet, unknown) and opened ones by mail client (Client*) over the
	// range, most opened first.
	Devices, Clients []Share

	// The campaigns and flows with the most attributed sales in the range,
	// most first (at most TopLines of each kind).
	TopCampaigns, TopFlows []Line
}

// TopLines is how many campaigns and flows the dashboard ranks.
const TopLines = 5

// SubscriberTotals counts consent changes over a range.
type SubscriberTotals struct {
	New       int64 // became subscribed
	FromWheel int64 // of New, through the signup wheel
	Left      int64 // stopped being subscribed (unsubscribed, bounced out, …)
	ListSize  int64 // subscribed profiles at the end of the range
}

// DayPoint is one day of the dashboard's charts.
type DayPoint struct {
	Day              time.Time
	AttributedSales  decimal.Decimal
	AttributedOrders int64
	StoreSales       decimal.Decimal // every order's paid total that day, for scale
	StoreOrders      int64
	Subscribed       int64 // profiles that became subscribed that day
	Unsubscribed     int64 // profiles that stopped being subscribed that day
}

// Engagement counts messages opened and clicked (each once).
type Engagement struct{ Opened, Clicked int64 }

// Share is one row of a split (device or mail client).
type Share struct {
	Key string
	Engagement
}
