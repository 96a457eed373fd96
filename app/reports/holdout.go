package reports

import (
	"context"
	"fmt"
	"time"

	"github.com/shopspring/decimal"
)

// # Holdout incrementality (campaigns)
//
// A campaign with a holdout keeps a random share of its audience from
// getting the email (campaign_recipients with variant 'holdout'). What the
// email added is the difference in revenue per recipient between the two
// groups, whatever last touch says:
//
//   - mailed: recipients the campaign sent to (status 'sent', any variant
//     but the holdout); held out: the holdout rows;
//   - revenue: what each group's orders paid (total − refunds, cancelled
//     orders at what they still paid, test orders never), of orders placed
//     from the campaign's start to its start plus the shop's click window
//     (both ends included, like the attribution window), attributed to an
//     email or not;
//   - per recipient: the group's revenue ÷ its size; incremental revenue
//     per recipient: mailed − held out (negative when the held-out group
//     spent more: noise, or an email that put people off), and the
//     incremental revenue: that × the mailed recipients.

// Incrementality is a campaign's mailed-vs-holdout comparison.
type Incrementality struct {
	From, To               time.Time
	WindowDays             int
	Mailed, Held           int64
	MailedSales, HeldSales decimal.Decimal
}

// MailedPerRecipient is the mailed group's revenue per recipient.
func (i Incrementality) MailedPerRecipient() decimal.Decimal { return perHead(i.MailedSales, i.Mailed) }

// HeldPerRecipient is the held-out group's revenue per recipient.
func (i Incrementality) HeldPerRecipient() decimal.Decimal { return perHead(i.HeldSales, i.Held) }

// Lift is the incremental revenue per recipient (mailed − held out),
// computed unrounded and rounded to cents.
func (i Incrementality) Lift() decimal.Decimal { return i.lift().Round(2) }

func (i Incrementality) lift() decimal.Decimal {
	if i.Mailed == 0 || i.Held == 0 {
		return decimal.Zero
	}
	return i.MailedSales.DivRound(decimal.NewFromInt(i.Mailed), 16).Sub(i.HeldSales.DivRound(decimal.NewFromInt(i.Held), 16))
}

// Incremental is the revenue the email added over its mailed recipients.
func (i Incrementality) Incremental() decimal.Decimal {
	return i.lift().Mul(decimal.NewFromInt(i.Mailed)).Round(2)
}

func perHead(sales decimal.Decimal, n int64) decimal.Decimal {
	if n == 0 {
		return decimal.Zero
	}
	return sales.DivRound(decimal.NewFromInt(n), 2)
}

// qIncrementality reads both groups' sizes and revenue; one row per group
// that has recipients. The orders are read per recipient by the orders'
// customer index.
const qIncrementality = `
WITH c AS (
	SELECT cp.started_at AS "from", cp.started_at + make_interval(days => s.attribution_click_days) AS "to", s.attribution_click_days AS days
	FROM campaigns cp JOIN shops s ON s.id = cp.shop_id
	WHERE cp.shop_id = $1 AND cp.id = $2 AND cp.started_at IS NOT NULL
),
g AS (
	SELECT r.customer_id, r.variant = 'holdout' AS held
	FROM campaign_recipients r
	WHERE r.shop_id = $1 AND r.campaign_id = $2 AND (r.variant = 'holdout' OR r.status = 'sent')
)
SELECT c."from", c."to", c.days, g.held, count(*) AS recipients, COALESCE(sum(x.paid), 0) AS sales
FROM c CROSS JOIN g CROSS JOIN LATERAL (
	SELECT sum(CASE WHEN o.financial_status = 'voided' THEN 0 ELSE o.total_price - o.total_refunded END) AS paid FROM orders o
	WHERE o.shop_id = $1 AND o.customer_id = g.customer_id AND NOT o.test
	  AND COALESCE(o.processed_at, o.shopify_created_at) BETWEEN c."from" AND c."to"
) x
GROUP BY 1, 2, 3, 4`

// CampaignIncrementality compares the campaign's mailed and held-out
// recipients; ok is false when it has no holdout, sent nothing yet or
// hasn't started.
func (s *Store) CampaignIncrementality(ctx context.Context, shopID, campaignID int64) (Incrementality, bool, error) {
	var rows []struct {
		From       time.Time       `db:"from"`
		To         time.Time       `db:"to"`
		Days       int             `db:"days"`
		Held       bool            `db:"held"`
		Recipients int64           `db:"recipients"`
		Sales      decimal.Decimal `db:"sales"`
	}
	if err := s.DB.SelectContext(ctx, &rows, qIncrementality, shopID, campaignID); err != nil {
		return Incrementality{}, false, fmt.Errorf("reports: campaign %d incrementality: %w", campaignID, err)
	}
	var out Incrementality
	for _, r := range rows {
		out.From, out.To, out.WindowDays = r.From, r.To, r.Days
		if r.Held {
			out.Held, out.HeldSales = r.Recipients, r.Sales
		} else {
			out.Mailed, out.MailedSales = r.Recipients, r.Sales
		}
	}
	return out, out.Mailed > 0 && out.Held > 0, nil
}

// # Holdout incrementality (flows)
//
// A flow with a holdout runs a random share of its entrants through its
// steps without sending them anything (flow_runs.holdout; each send step
// they reach is logged skipped with reason 'holdout'). The comparison is
// the campaigns' one, per run:
//
//   - mailed: runs that started in the range, not held out, that were sent
//     at least one of the flow's emails; held out: held-out runs that
//     reached at least one send step (so both groups got as far as an
//     email, and one got it);
//   - revenue: what the run's customer's orders paid (total − refunds,
//     voided orders nothing, test orders never) from the run's start to
//     its end (now while it is still running) plus the shop's click
//     window, attributed to an email or not;
//   - per recipient: the group's revenue ÷ its runs; the lift: mailed −
//     held out.

// qFlowIncrementality reads both groups' sizes and revenue, one row per
// group that has runs. $3, $4: the range's bounds as instants in the
// shop's timezone ([from, to)); $5: now.
const qFlowIncrementality = `
WITH s AS (SELECT attribution_click_days AS days FROM shops WHERE id = $1),
g AS (
	SELECT r.customer_id, r.holdout AS held, r.started_at, COALESCE(r.ended_at, $5) AS ended_at
	FROM flow_runs r
	WHERE r.shop_id = $1 AND r.flow_id = $2 AND r.started_at >= $3 AND r.started_at < $4
	  AND EXISTS (SELECT 1 FROM flow_run_steps x WHERE x.run_id = r.id
		AND CASE WHEN r.holdout THEN x.outcome = 'skipped' AND x.reason = 'holdout' ELSE x.outcome = 'sent' END)
)
SELECT s.days, g.held, count(*) AS recipients, COALESCE(sum(x.paid), 0) AS sales
FROM s CROSS JOIN g CROSS JOIN LATERAL (
	SELECT sum(CASE WHEN o.financial_status = 'voided' THEN 0 ELSE o.total_price - o.total_refunded END) AS paid FROM orders o
	WHERE o.shop_id = $1 AND o.customer_id = g.customer_id AND NOT o.test
	  AND COALESCE(o.processed_at, o.shopify_created_at) BETWEEN g.started_at AND g.ended_at + make_interval(days => s.days)
) x
GROUP BY 1, 2`

// FlowIncrementality compares the flow's mailed and held-out runs that
// started in the range (days in the shop's timezone); From and To are the
// range's bounds. ok is false unless both groups have runs.
func (s *Store) FlowIncrementality(ctx context.Context, shopID, flowID int64, r Range, now time.Time) (Incrementality, bool, error) {
	loc, err := shopZone(ctx, s.DB, shopID)
	if err != nil {
		return Incrementality{}, false, err
	}
	from := time.Date(r.From.Year(), r.From.Month(), r.From.Day(), 0, 0, 0, 0, loc)
	to := time.Date(r.To.Year(), r.To.Month(), r.To.Day()+1, 0, 0, 0, 0, loc)
	var rows []struct {
		Days       int             `db:"days"`
		Held       bool            `db:"held"`
		Recipients int64           `db:"recipients"`
		Sales      decimal.Decimal `db:"sales"`
	}
	if err := s.DB.SelectContext(ctx, &rows, qFlowIncrementality, shopID, flowID, from, to, now); err != nil {
		return Incrementality{}, false, fmt.Errorf("reports: flow %d incrementality: %w", flowID, err)
	}
	out := Incrementality{From: from, To: to}
	for _, x := range rows {
		out.WindowDays = x.Days
		if x.Held {
			out.Held, out.HeldSales = x.Recipients, x.Sales
		} else {
			out.Mailed, out.MailedSales = x.Recipients, x.Sales
		}
	}
	return out, out.Mailed > 0 && out.Held > 0, nil
}
