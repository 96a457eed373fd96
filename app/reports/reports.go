// Package reports keeps the rollups reports read and reads them: per
// campaign (and variant) the once-per-message counts, and engagement by
// hour since sending, weekday × hour, device, mail client and link. The
// rollups are kept current from the signal stream (Handler, the signals
// consumer's Reports handler) so that a report page reads a few hundred
// rows, never a campaign's messages and events.
//
// # Counting
//
// Each message counts at most once as sent, delivered, bounced (hard or
// soft: SendGrid's "blocked" is soft), dropped, opened, clicked,
// unsubscribed and complained; clicks and opens also count every time.
// A message counts as delivered when the provider says so, or when its
// recipient opens, clicks, unsubscribes or complains (SMTP reports no
// deliveries); a click counts as an open too (images may be blocked).
// Machine opens (Apple Mail Privacy Protection) and scanner clicks are
// flagged by tracking and never counted. Days, weekdays and hours are the
// shop's timezone when the event is counted.
//
// # Exactly once
//
// The consumer hands a customer's signals to the handler in record order,
// with the customer's profile locked; the events of one message are written
// under the same lock, so they reach the handler in event id order. Each
// message's row in report_messages keeps what was counted and the newest
// event applied: a signal handed twice finds its event already applied and
// counts nothing. Counters are added into rows of the transaction's own
// slot (see claimSlot), so concurrent consumers never contend for a row.
package reports

import (
	"math"
	"time"
)

// Scope of a rollup row. Issue 13 adds the shop's total.
const (
	ScopeCampaign = "campaign"
	ScopeFlow     = "flow"     // attributed orders only so far (variant = the step's id)
	ScopeTemplate = "template" // attributed orders only so far
)

// Counts are a scope's once-per-message counts plus every open and click.
type Counts struct {
	Sent         int64 `db:"sent"`
	Delivered    int64 `db:"delivered"`
	BouncedHard  int64 `db:"bounced_hard"`
	BouncedSoft  int64 `db:"bounced_soft"`
	Dropped      int64 `db:"dropped"`
	Opened       int64 `db:"opened"`  // messages opened (or clicked)
	Clicked      int64 `db:"clicked"` // messages clicked
	Clicks       int64 `db:"clicks"`  // every click
	Opens        int64 `db:"opens"`   // every open
	Unsubscribed int64 `db:"unsubscribed"`
	Complained   int64 `db:"complained"`
}

// Bounced is hard plus soft bounces.
func (c Counts) Bounced() int64 { return c.BouncedHard + c.BouncedSoft }

func (c *Counts) add(o Counts) {
	c.Sent += o.Sent
	c.Delivered += o.Delivered
	c.BouncedHard += o.BouncedHard
	c.BouncedSoft += o.BouncedSoft
	c.Dropped += o.Dropped
	c.Opened += o.Opened
	c.Clicked += o.Clicked
	c.Clicks += o.Clicks
	c.Opens += o.Opens
	c.Unsubscribed += o.Unsubscribed
	c.Complained += o.Complained
}

// Rate is a share; OK is false when its denominator is zero (shown "—").
type Rate struct {
	Value float64 // 0.253 = 25.3 %
	OK    bool
}

func rate(n, d int64) Rate {
	if d <= 0 {
		return Rate{}
	}
	return Rate{Value: float64(n) / float64(d), OK: true}
}

// Percent is the rate in percent rounded to one decimal.
func (r Rate) Percent() float64 { return math.Round(r.Value*1000) / 10 }

// The rates of issue 13 §2. A campaign sends one message per customer, so
// its delivered messages are its unique delivered customers.
func (c Counts) DeliveryRate() Rate    { return rate(c.Delivered, c.Sent) }
func (c Counts) BounceRate() Rate      { return rate(c.Bounced(), c.Sent) }
func (c Counts) OpenRate() Rate        { return rate(c.Opened, c.Delivered) }
func (c Counts) ClickRate() Rate       { return rate(c.Clicks, c.Delivered) }
func (c Counts) UniqueClickRate() Rate { return rate(c.Clicked, c.Delivered) }
func (c Counts) ClickToOpenRate() Rate { return rate(c.Clicked, c.Opened) }
func (c Counts) UnsubscribeRate() Rate { return rate(c.Unsubscribed, c.Delivered) }
func (c Counts) ComplaintRate() Rate   { return rate(c.Complained, c.Delivered) }

// Row is one line of a breakdown.
type Row struct {
	Key     string `db:"key"`
	Opens   int64  `db:"opens"`
	Opened  int64  `db:"opened"`
	Clicks  int64  `db:"clicks"`
	Clicked int64  `db:"clicked"`
}

// Breakdown dimensions (report_breakdowns.dim).
const (
	DimSince    = "since"
	DimWeekHour = "weekhour"
	DimDevice   = "device"
	DimClient   = "client"
	DimLink     = "link"
)

// SinceHours is how many hours after sending are broken down one by one;
// later engagement is counted in hour SinceHours.
const SinceHours = 72

// Variant is one A/B variant's figures (” is the rest of the audience,
// who get the winner).
type Variant struct {
	Key        string
	Recipients int64 // in the snapshot
	Counts
	Revenue Revenue // attributed orders and sales
	Winner  bool
}

// CampaignReport is everything the campaign report shows.
type CampaignReport struct {
	CampaignID int64
	Total      Counts
	Revenue    Revenue // attributed orders and sales, every variant
	// Variants in key order, the rest ('') last; empty without messages.
	Variants []Variant
	// Audience is the snapshot's size; Holdout how many of it were held
	// out (sent nothing, to compare against).
	Audience, Holdout int64
	Winner            string // the A/B winner's key, '' = none yet
	// Since[h] is engagement h hours after each message was sent
	// (Since[SinceHours]: later).
	Since [SinceHours + 1]Row
	// WeekHour[weekday][hour] in the shop's timezone (weekday 0 = Sunday).
	WeekHour [7][24]Row
	Devices  []Row // most opens first
	Clients  []Row // most opens first
	Links    []Row // most clicks first
}

// dayOf is the date of t in loc as a time at UTC midnight (a date column).
func dayOf(t time.Time, loc *time.Location) time.Time {
	y, m, d := t.In(loc).Date()
	return time.Date(y, m, d, 0, 0, 0, 0, time.UTC)
}
