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
