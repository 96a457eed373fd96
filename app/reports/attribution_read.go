package reports

import (
	"context"
	"fmt"
	"strconv"
	"time"

	"github.com/lib/pq"
	"github.com/shopspring/decimal"
)

// Revenue is attributed orders and their paid total (sales + tax +
// shipping − discounts − refunds).
type Revenue struct {
	Orders int64
	Sales  decimal.Decimal
}

func (r *Revenue) add(o Revenue) {
	r.Orders += o.Orders
	r.Sales = r.Sales.Add(o.Sales)
}

// ConversionRate is attributed orders per delivered message.
func (r Revenue) ConversionRate(c Counts) Rate { return rate(r.Orders, c.Delivered) }

// AverageOrder is attributed sales per attributed order (OK false without
// orders).
func (r Revenue) AverageOrder() (decimal.Decimal, bool) {
	if r.Orders == 0 {
		return decimal.Zero, false
	}
	return r.Sales.Div(decimal.NewFromInt(r.Orders)).Round(2), true
}

// PerRecipient is attributed sales per delivered message (a campaign's
// delivered messages are its unique delivered customers).
func (r Revenue) PerRecipient(c Counts) (decimal.Decimal, bool) {
	if c.Delivered == 0 {
		return decimal.Zero, false
	}
	return r.Sales.Div(decimal.NewFromInt(c.Delivered)).Round(2), true
}

// Attribution is one attributed order with its reason.
type Attribution struct {
	OrderID    int64           `db:"order_id"`
	OrderName  string          `db:"order_name"`
	CustomerID *int64          `db:"customer_id"`
	OrderedAt  time.Time       `db:"ordered_at"`
	Touch      string          `db:"touch"` // click | open
	TouchedAt  time.Time       `db:"touched_at"`
	WindowDays int             `db:"window_days"`
	EmailKind  string          `db:"email_kind"` // campaign | flow
	CampaignID *int64          `db:"campaign_id"`
	Campaign   string          `db:"campaign_name"` // '' when deleted
	Variant    string          `db:"campaign_variant"`
	FlowID     *int64          `db:"flow_id"`
	Flow       string          `db:"flow_name"` // '' when deleted
	Step       string          `db:"flow_step"`
	StepName   string          `db:"step_name"` // the step's name in its flow version, '' without one
	Currency   string          `db:"currency"`
	Amount     decimal.Decimal `db:"amount"`
	Cancelled  bool            `db:"cancelled"`
}

// Source names the email: the campaign (and its A/B variant), or the flow
// and its step.
func (a Attribution) Source() string {
	if a.EmailKind == "flow" {
		name := a.Flow
		if name == "" {
			name = "a deleted flow"
		}
		step := a.StepName
		if step == "" {
			step = a.Step
		}
		if step == "" {
			return name
		}
		return name + " — " + step
	}
	name := a.Campaign
	if name == "" {
		name = "a deleted campaign"
	}
	if a.Variant != "" {
		name += " (variant " + a.Variant + ")"
	}
	return name
}

// Reason says why the order is attributed: "attributed to Abandoned cart —
// Reminder: clicked 2 h 14 min before the order (click window 5 days)".
func (a Attribution) Reason() string {
	verb, window := "opened", "open"
	if a.Touch == TouchClick {
		verb, window = "clicked", "click"
	}
	return fmt.Sprintf("attributed to %s: %s %s before the order (%s window %s)",
		a.Source(), verb, Ago(a.OrderedAt.Sub(a.TouchedAt)), window, plural(a.WindowDays, "day"))
}

// Ago writes a duration the way the reason says it: "less than a minute",
// "45 min", "2 h 14 min", "3 days 4 h".
func Ago(d time.Duration) string {
	switch {
	case d < time.Minute:
		return "less than a minute"
	case d < time.Hour:
		return strconv.Itoa(int(d/time.Minute)) + " min"
	case d < 24*time.Hour:
		h, m := int(d/time.Hour), int(d%time.Hour/time.Minute)
		if m == 0 {
			return strconv.Itoa(h) + " h"
		}
		return fmt.Sprintf("%d h %d min", h, m)
	default:
		days, h := int(d/(24*time.Hour)), int(d%(24*time.Hour)/time.Hour)
		if h == 0 {
			return plural(days, "day")
		}
		return fmt.Sprintf("%s %d h", plural(days, "day"), h)
	}
}

func plural(n int, unit string) string {
	if n == 1 {
		return "1 " + unit
	}
	return strconv.Itoa(n) + " " + unit + "s"
}

// qAttributions reads attributions with the names of what earned them.
const qAttributions = `
SELECT a.order_id, COALESCE(o.name, '') AS order_name, a.customer_id, a.ordered_at, a.touch, a.touched_at, a.window_days,
	a.email_kind, a.campaign_id, COALESCE(c.name, '') AS campaign_name, a.campaign_variant, a.flow_id,
	COALESCE(f.name, '') AS flow_name, a.flow_step,
	COALESCE((SELECT jsonb_path_query_first(v.definition, '$.**.steps[*] ? (@.id == $id).name', jsonb_build_object('id', a.flow_step)) #>> '{}'
		FROM flow_versions v WHERE v.flow_id = a.flow_id AND v.version = a.flow_version), '') AS step_name,
	a.currency, a.amount, a.cancelled
FROM order_attributions a
LEFT JOIN orders o ON o.shop_id = a.shop_id AND o.shopify_id = a.order_id
LEFT JOIN campaigns c ON c.shop_id = a.shop_id AND c.id = a.campaign_id
LEFT JOIN flows f ON f.shop_id = a.shop_id AND f.id = a.flow_id
WHERE a.shop_id = $1 AND `

// OrderAttributions is the attribution of each listed order of the shop
// that has one (the customer page's order rows).
func (s *Store) OrderAttributions(ctx context.Context, shopID int64, orderIDs []int64) (map[int64]Attribution, error) {
	out := map[int64]Attribution{}
	if len(orderIDs) == 0 {
		return out, nil
	}
	var rows []Attribution
	if err := s.DB.SelectContext(ctx, &rows, qAttributions+`a.order_id = ANY($2)`, shopID, pq.Array(orderIDs)); err != nil {
		return nil, fmt.Errorf("reports: order attributions: %w", err)
	}
	for _, r := range rows {
		out[r.OrderID] = r
	}
	return out, nil
}

// CampaignOrders is the campaign's latest attributed orders, newest first
// (at most limit; read by index, never the whole list).
func (s *Store) CampaignOrders(ctx context.Context, shopID, campaignID int64, limit int) ([]Attribution, error) {
	var rows []Attribution
	if err := s.DB.SelectContext(ctx, &rows, qAttributions+`a.campaign_id = $2 ORDER BY a.ordered_at DESC, a.order_id DESC LIMIT $3`,
		shopID, campaignID, limit); err != nil {
		return nil, fmt.Errorf("reports: campaign %d orders: %w", campaignID, err)
	}
	return rows, nil
}

// campaignRevenue is the campaign's attributed orders and sales per
// variant, from the rollup.
func (s *Store) campaignRevenue(ctx context.Context, shopID, campaignID int64) (map[string]Revenue, error) {
	var rows []struct {
		Variant string          `db:"variant"`
		Orders  int64           `db:"orders"`
		Sales   decimal.Decimal `db:"sales"`
	}
	if err := s.DB.SelectContext(ctx, &rows, `SELECT variant, sum(orders) AS orders, sum(sales) AS sales FROM `+ordersDailySource+` o
		WHERE shop_id = $1 AND scope = $2 AND scope_id = $3 GROUP BY variant`, shopID, ScopeCampaign, campaignID); err != nil {
		return nil, fmt.Errorf("reports: campaign %d revenue: %w", campaignID, err)
	}
	out := map[string]Revenue{}
	for _, r := range rows {
		out[r.Variant] = Revenue{Orders: r.Orders, Sales: r.Sales}
	}
	return out, nil
}
