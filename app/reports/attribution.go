package reports

import (
	"cmp"
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strconv"
	"time"

	"github.com/jmoiron/sqlx"
	"github.com/lib/pq"
	"github.com/shopspring/decimal"

	"github.com/cartwheel/cartwheel/app/db"
)

// # Attribution
//
// Last touch, per order: the most recent human click on a Cartwheel email
// (a campaign's or a flow's) by the order's customer within the shop's
// click window before the order, else the most recent human open within
// the open window (0 days: opens never count). Machine opens (Apple Mail
// Privacy Protection's prefetch) and scanner clicks are flagged by tracking
// and never count; a click is a click, not also an open. An event at the
// window's first instant or at the order's own time is inside it; of two
// events at the same time the later recorded wins. The order's time is its
// processed_at (else Shopify's created_at); test orders and orders of no
// customer are never attributed.
//
// The decision is taken when the consumer first sees the order (its
// OrderPlaced signal, or an OrderUpdated of an order not decided yet) and
// stored with its reason in order_attributions; after that only the
// order's paid total follows (sales + tax + shipping − discounts −
// refunds, that is total_price − total_refunded), on every OrderUpdated.
// A cancelled order stays attributed: it counts as an order, at what it
// still paid. The rollup report_orders_daily gets +1 order and the paid
// total on the order's day when decided, then each change of the paid
// total on that same day, so re-delivered signals add nothing.

// Touch kinds.
const (
	TouchClick = "click"
	TouchOpen  = "open"
)

// orderRefs is what a consumer transaction collected of order signals.
type orderRefs struct{ ids []int64 }

const ordersMemoKey = "reports:orders"

// orderRef is the order's key an order signal carries (Ref), or 0.
func orderRef(ref string) int64 {
	id, err := strconv.ParseInt(ref, 10, 64)
	if err != nil || id <= 0 {
		return 0
	}
	return id
}

type attrSettings struct {
	ClickDays int    `db:"attribution_click_days"`
	OpenDays  int    `db:"attribution_open_days"`
	Zone      string `db:"zone"`
}

func loadAttrSettings(ctx context.Context, q sqlx.QueryerContext, shopID int64) (attrSettings, error) {
	var s attrSettings
	if err := sqlx.GetContext(ctx, q, &s, `SELECT attribution_click_days, attribution_open_days,
		COALESCE(NULLIF(timezone, ''), NULLIF(iana_timezone, ''), 'UTC') AS zone FROM shops WHERE id = $1`, shopID); err != nil {
		return s, fmt.Errorf("reports: shop %d attribution settings: %w", shopID, err)
	}
	if _, err := time.LoadLocation(s.Zone); err != nil {
		s.Zone = "UTC"
	}
	return s, nil
}

// qDecide attributes the listed orders that have no attribution yet: for
// each, the best touch (clicks before opens, then newest, then last
// recorded) among its customer's campaign and flow emails, read by the
// ledger's customer index and the events' (message, kind, time) index.
// Orders without a touch get no row. $3/$4 are the click and open windows
// in days (of 24 hours), $5 the shop's timezone (the order's day).
const qDecide = `
WITH o AS (
	SELECT o.shopify_id, o.customer_id, COALESCE(o.processed_at, o.shopify_created_at) AS at, o.currency,
		o.total_price - o.total_refunded AS paid, o.cancelled_at IS NOT NULL AS cancelled
	FROM orders o
	WHERE o.shop_id = $1 AND o.shopify_id = ANY($2) AND NOT o.test AND o.customer_id IS NOT NULL
	  AND COALESCE(o.processed_at, o.shopify_created_at) IS NOT NULL
	  AND NOT EXISTS (SELECT 1 FROM order_attributions a WHERE a.shop_id = $1 AND a.order_id = o.shopify_id)
)
INSERT INTO order_attributions AS a (shop_id, order_id, customer_id, ordered_at, day, message_id, event_id, touch, touched_at,
	window_days, email_kind, campaign_id, campaign_variant, flow_id, flow_version, flow_step, template_id, currency, amount, cancelled)
SELECT $1, o.shopify_id, o.customer_id, o.at, (o.at AT TIME ZONE $5)::date, t.message_id, t.event_id, t.kind, t.occurred_at,
	CASE t.kind WHEN 'click' THEN $3 ELSE $4 END, t.email_kind, t.campaign_id, t.variant, t.flow_id, t.flow_version, t.flow_step,
	t.template_id, o.currency, o.paid, o.cancelled
FROM o CROSS JOIN LATERAL (
	SELECT m.id AS message_id, e.id AS event_id, e.kind, e.occurred_at, m.kind AS email_kind, m.campaign_id,
		COALESCE(m.campaign_variant, '') AS variant, m.flow_id, m.flow_version, COALESCE(m.flow_step, '') AS flow_step, m.template_id
	FROM email_messages m
	JOIN email_events e ON e.message_id = m.id AND e.kind IN ('click', 'open') AND NOT e.machine
		AND e.occurred_at <= o.at
		AND ((e.kind = 'click' AND e.occurred_at >= o.at - make_interval(hours => 24 * $3))
		  OR (e.kind = 'open' AND $4 > 0 AND e.occurred_at >= o.at - make_interval(hours => 24 * $4)))
	WHERE m.customer_id = o.customer_id AND m.shop_id = $1 AND m.kind IN ('campaign', 'flow')
	ORDER BY e.kind = 'click' DESC, e.occurred_at DESC, e.id DESC
	LIMIT 1
) t
ON CONFLICT (shop_id, order_id) DO NOTHING
RETURNING a.order_id, a.day, a.amount, a.campaign_id, a.campaign_variant, a.flow_id, a.flow_step, a.template_id`

// qFollow brings attributed orders to their current paid total and
// cancellation, returning what changed by how much. The consumer holds
// the order's customer, whose writers hold it too, so the order read here
// is the newest committed; the attribution rows are locked first so the
// old amount is the one the rollups hold.
const qFollow = `
WITH cur AS (
	SELECT a.order_id, a.amount AS old, o.total_price - o.total_refunded AS paid, o.cancelled_at IS NOT NULL AS cancelled
	FROM order_attributions a JOIN orders o ON o.shop_id = a.shop_id AND o.shopify_id = a.order_id
	WHERE a.shop_id = $1 AND a.order_id = ANY($2)
)
UPDATE order_attributions a SET amount = cur.paid, cancelled = cur.cancelled, updated_at = now()
FROM cur
WHERE a.shop_id = $1 AND a.order_id = cur.order_id AND (a.amount <> cur.paid OR a.cancelled <> cur.cancelled)
RETURNING a.order_id, a.day, cur.paid - cur.old AS amount, a.campaign_id, a.campaign_variant, a.flow_id, a.flow_step, a.template_id`

// counted is an attribution's change to the rollups.
type counted struct {
	OrderID    int64           `db:"order_id"`
	Day        time.Time       `db:"day"`
	Amount     decimal.Decimal `db:"amount"`
	CampaignID *int64          `db:"campaign_id"`
	Variant    string          `db:"campaign_variant"`
	FlowID     *int64          `db:"flow_id"`
	Step       string          `db:"flow_step"`
	TemplateID *int64          `db:"template_id"`
}

// attribute decides the orders not decided yet and brings every listed
// attributed order to its paid total, adding the changes into slot's
// rollup rows.
func attribute(ctx context.Context, tx *sqlx.Tx, shopID int64, slot int, orderIDs []int64) error {
	if len(orderIDs) == 0 {
		return nil
	}
	orderIDs = slices.Compact(slices.Sorted(slices.Values(orderIDs)))
	set, err := loadAttrSettings(ctx, tx, shopID)
	if err != nil {
		return err
	}
	var added []counted
	if err := tx.SelectContext(ctx, &added, qDecide, shopID, pq.Array(orderIDs), set.ClickDays, set.OpenDays, set.Zone); err != nil {
		return fmt.Errorf("reports: attribute orders: %w", err)
	}
	if _, err := tx.ExecContext(ctx, `SELECT 1 FROM order_attributions WHERE shop_id = $1 AND order_id = ANY($2)
		ORDER BY order_id FOR UPDATE`, shopID, pq.Array(orderIDs)); err != nil {
		return fmt.Errorf("reports: lock attributions: %w", err)
	}
	var changed []counted
	if err := tx.SelectContext(ctx, &changed, qFollow, shopID, pq.Array(orderIDs)); err != nil {
		return fmt.Errorf("reports: follow attributed orders: %w", err)
	}
	return addOrders(ctx, tx, shopID, slot, added, changed)
}

type ordersKey struct {
	scope   string
	id      int64
	variant string
	day     string
}

type ordersDelta struct {
	Scope   string          `json:"scope"`
	ScopeID int64           `json:"scope_id"`
	Variant string          `json:"variant"`
	Day     string          `json:"day"`
	Orders  int64           `json:"orders"`
	Sales   decimal.Decimal `json:"sales"`
}

// addOrders adds new attributions (an order and its amount each) and
// changes (their amount only) into the scopes' daily rows of slot.
func addOrders(ctx context.Context, tx *sqlx.Tx, shopID int64, slot int, added, changed []counted) error {
	deltas := map[ordersKey]*ordersDelta{}
	add := func(c counted, orders int64) {
		day := c.Day.Format(time.DateOnly)
		var keys []ordersKey
		if c.CampaignID != nil {
			keys = append(keys, ordersKey{ScopeCampaign, *c.CampaignID, c.Variant, day})
		}
		if c.FlowID != nil {
			keys = append(keys, ordersKey{ScopeFlow, *c.FlowID, c.Step, day})
		}
		if c.TemplateID != nil {
			keys = append(keys, ordersKey{ScopeTemplate, *c.TemplateID, "", day})
		}
		for _, k := range keys {
			d := deltas[k]
			if d == nil {
				d = &ordersDelta{Scope: k.scope, ScopeID: k.id, Variant: k.variant, Day: k.day}
				deltas[k] = d
			}
			d.Orders += orders
			d.Sales = d.Sales.Add(c.Amount)
		}
	}
	for _, c := range added {
		add(c, 1)
	}
	for _, c := range changed {
		add(c, 0)
	}
	if len(deltas) == 0 {
		return nil
	}
	rows := make([]*ordersDelta, 0, len(deltas))
	for _, d := range deltas {
		if d.Orders != 0 || !d.Sales.IsZero() {
			rows = append(rows, d)
		}
	}
	if len(rows) == 0 {
		return nil
	}
	slices.SortFunc(rows, func(a, b *ordersDelta) int {
		return cmp.Or(cmp.Compare(a.Scope, b.Scope), cmp.Compare(a.ScopeID, b.ScopeID), cmp.Compare(a.Variant, b.Variant), cmp.Compare(a.Day, b.Day))
	})
	js, err := json.Marshal(rows)
	if err != nil {
		return fmt.Errorf("reports: %w", err)
	}
	if _, err := tx.ExecContext(ctx, `
		INSERT INTO report_orders_daily AS t (shop_id, scope, scope_id, variant, day, slot, orders, sales)
		SELECT $1, scope, scope_id, variant, day, $2, orders, sales
		FROM jsonb_to_recordset($3::jsonb) AS r(scope text, scope_id bigint, variant text, day date, orders bigint, sales numeric)
		ON CONFLICT (shop_id, scope, scope_id, variant, day, slot) DO UPDATE SET
			orders = t.orders + excluded.orders, sales = t.sales + excluded.sales`, shopID, slot, string(js)); err != nil {
		return fmt.Errorf("reports: attributed orders: %w", err)
	}
	return nil
}

// Attribute decides and follows the listed orders of the shop in a
// transaction of its own, exactly as the signal handler does: for orders
// that arrive without a signal (a bulk import) and for tests.
func Attribute(ctx context.Context, d *sqlx.DB, shopID int64, orderIDs []int64) error {
	return db.InTx(ctx, d, func(tx *sqlx.Tx) error {
		slot, err := claimSlot(ctx, tx, shopID)
		if err != nil {
			return err
		}
		return attribute(ctx, tx, shopID, slot, orderIDs)
	})
}
