package reports

import (
	"context"
	"fmt"
	"slices"
	"strconv"
	"time"

	"github.com/jmoiron/sqlx"
	"github.com/lib/pq"

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
// The decision is taken when the consumer sees the order's OrderPlaced
// signal and stored with its reason in order_attributions; after that only
// the order's paid total follows (sales + tax + shipping − discounts −
// refunds, that is total_price − total_refunded), on every OrderUpdated.
// An order whose payment was voided (cancelled before it was captured)
// paid nothing. A cancelled order stays attributed: it counts as an order, at what it
// still paid. An order without an attribution (none of its customer's
// touches qualified, or it was placed before attribution existed) is
// decided again by the same rule on each OrderUpdated, so a touch recorded
// late (a provider's delayed click event) still credits it. The rollup
// report_orders_daily gets +1 order and the paid total on the order's day
// when decided, then each change of the paid total on that same day, so
// re-delivered signals add nothing.

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

// qAttribute is the whole of attribute in one statement (one round trip
// and one plan for the order's arrival):
//
//   - decided: the listed orders without an attribution get one, from the
//     best touch (clicks before opens, then newest, then last recorded)
//     among their customer's campaign and flow emails, read by the ledger's
//     customer index and the events' (message, kind, time) index; orders
//     without a touch get no row;
//   - followed: the listed orders attributed before are brought to their
//     current paid total and cancellation. Their rows are locked first, so
//     the old amount is the one the rollups hold; the consumer holds the
//     order's customer, whose writers hold it too, so the order read is the
//     newest committed;
//   - the rollup gets +1 order and its amount per new attribution and the
//     change of amount per followed one, on the order's day, per campaign
//     variant, flow step and template, into slot's rows.
//
// $3/$4 are the click and open windows in days (of 24 hours), $5 the
// shop's timezone (the order's day), $6 the slot.
const qAttribute = `
WITH o AS (
	SELECT o.shopify_id, o.customer_id, COALESCE(o.processed_at, o.shopify_created_at) AS at, o.currency,
		CASE WHEN o.financial_status = 'voided' THEN 0 ELSE o.total_price - o.total_refunded END AS paid, o.cancelled_at IS NOT NULL AS cancelled
	FROM orders o
	WHERE o.shop_id = $1 AND o.shopify_id = ANY($2) AND NOT o.test AND o.customer_id IS NOT NULL
	  AND COALESCE(o.processed_at, o.shopify_created_at) IS NOT NULL
	  AND NOT EXISTS (SELECT 1 FROM order_attributions a WHERE a.shop_id = $1 AND a.order_id = o.shopify_id)
),
decided AS (
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
	RETURNING a.day, 1 AS orders, a.amount, a.campaign_id, a.campaign_variant, a.flow_id, a.flow_step, a.template_id
),
cur AS (
	SELECT a.order_id, a.amount AS old, CASE WHEN o.financial_status = 'voided' THEN 0 ELSE o.total_price - o.total_refunded END AS paid, o.cancelled_at IS NOT NULL AS cancelled
	FROM order_attributions a JOIN orders o ON o.shop_id = a.shop_id AND o.shopify_id = a.order_id
	WHERE a.shop_id = $1 AND a.order_id = ANY($2)
	ORDER BY a.order_id
	FOR UPDATE OF a
),
followed AS (
	UPDATE order_attributions a SET amount = cur.paid, cancelled = cur.cancelled, updated_at = now()
	FROM cur
	WHERE a.shop_id = $1 AND a.order_id = cur.order_id AND (a.amount <> cur.paid OR a.cancelled <> cur.cancelled)
	RETURNING a.day, 0 AS orders, cur.paid - cur.old AS amount, a.campaign_id, a.campaign_variant, a.flow_id, a.flow_step, a.template_id
),
changes AS (
	SELECT v.scope, v.scope_id, v.variant, c.day, sum(c.orders) AS orders, sum(c.amount) AS sales
	FROM (SELECT * FROM decided UNION ALL SELECT * FROM followed) c
	CROSS JOIN LATERAL (VALUES ('campaign', c.campaign_id, c.campaign_variant), ('flow', c.flow_id, c.flow_step),
		('template', c.template_id, '')) AS v(scope, scope_id, variant)
	WHERE v.scope_id IS NOT NULL
	GROUP BY 1, 2, 3, 4
)
INSERT INTO report_orders_daily AS t (shop_id, scope, scope_id, variant, day, slot, orders, sales)
SELECT $1, scope, scope_id, variant, day, $6, orders, sales FROM changes
WHERE orders <> 0 OR sales <> 0
ORDER BY scope, scope_id, variant, day
ON CONFLICT (shop_id, scope, scope_id, variant, day, slot) DO UPDATE SET
	orders = t.orders + excluded.orders, sales = t.sales + excluded.sales`

// attribute decides the orders without an attribution and brings every listed
// attributed order to its paid total, adding the changes into slot's
// rollup rows.
func attribute(ctx context.Context, tx *sqlx.Tx, shopID int64, set attrSettings, slot int, orderIDs []int64) error {
	if len(orderIDs) == 0 {
		return nil
	}
	orderIDs = slices.Compact(slices.Sorted(slices.Values(orderIDs)))
	if _, err := tx.ExecContext(ctx, qAttribute, shopID, pq.Array(orderIDs), set.ClickDays, set.OpenDays, set.Zone, slot); err != nil {
		return fmt.Errorf("reports: attribute orders: %w", err)
	}
	return nil
}

// Attribute decides and follows the listed orders of the shop in a
// transaction of its own, exactly as the signal handler does: for orders
// that arrive without a signal (a bulk import) and for tests.
func Attribute(ctx context.Context, d *sqlx.DB, shopID int64, orderIDs []int64) error {
	return db.InTx(ctx, d, func(tx *sqlx.Tx) error { return attributeIn(ctx, tx, shopID, orderIDs) })
}

// attributeIn reads the shop's windows, takes a rollup slot and decides
// and follows the orders, in tx.
func attributeIn(ctx context.Context, tx *sqlx.Tx, shopID int64, orderIDs []int64) error {
	set, err := loadAttrSettings(ctx, tx, shopID)
	if err != nil {
		return err
	}
	slot, err := claimSlot(ctx, tx, shopID)
	if err != nil {
		return err
	}
	if len(orderIDs) == 0 {
		return nil
	}
	orderIDs = slices.Compact(slices.Sorted(slices.Values(orderIDs)))
	if err := attribute(ctx, tx, shopID, set, slot, orderIDs); err != nil {
		return err
	}
	return countStoreOrders(ctx, tx, shopID, set.Zone, slot, orderIDs) // every order, for the dashboard
}

// AttributeTx is Attribute inside the caller's transaction: the bulk import
// (app/storesync) calls it in each batch's transaction once the batch's
// orders are written, so imported orders are decided as if their signals
// had arrived.
//
// The import holds no profile locks, so unlike the consumer it isn't
// ordered against a recompute's chunks by them: the shop's row is share-
// locked before the windows are read instead. A window change (which
// updates that row, then starts the recompute) either committed before,
// and the new windows are read, or waits for this transaction, and the
// recompute that follows re-decides these orders.
func AttributeTx(ctx context.Context, tx *sqlx.Tx, shopID int64, orderIDs []int64) error {
	if _, err := tx.ExecContext(ctx, `SELECT 1 FROM shops WHERE id = $1 FOR SHARE`, shopID); err != nil {
		return fmt.Errorf("reports: lock shop %d: %w", shopID, err)
	}
	return attributeIn(ctx, tx, shopID, orderIDs)
}
