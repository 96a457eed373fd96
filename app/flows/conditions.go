package flows

import (
	"context"
	"fmt"
	"strconv"
	"time"

	"github.com/jmoiron/sqlx"
	"github.com/lib/pq"
)

// The state the engine checks is read from the store's own tables at the
// moment of the check, never from the order signals arrived in: an
// orders/create that arrives before the checkout webhook still stops the
// abandoned-checkout email.

func (e *Engine) exists(ctx context.Context, tx *sqlx.Tx, what, q string, args ...any) (bool, error) {
	var ok bool
	if err := e.get(ctx, tx, &ok, `SELECT EXISTS (`+q+`)`, args...); err != nil {
		return false, fmt.Errorf("flows: %s: %w", what, err)
	}
	return ok, nil
}

// orderSince: the customer placed an order after t (strictly: the order
// that started a post-purchase run doesn't end it).
func (e *Engine) orderSince(ctx context.Context, tx *sqlx.Tx, shopID, customerID int64, t time.Time) (bool, error) {
	return e.exists(ctx, tx, "orders since", `SELECT 1 FROM orders WHERE shop_id = $1 AND customer_id = $2
		AND COALESCE(processed_at, shopify_created_at) > $3 AND NOT test`, shopID, customerID, t)
}

// checkoutConverted: the checkout completed, or the customer ordered after
// it was created (the order's webhook may come first).
func (e *Engine) checkoutConverted(ctx context.Context, tx *sqlx.Tx, shopID, customerID int64, token string, since time.Time) (bool, error) {
	return e.exists(ctx, tx, "checkout converted", `
		SELECT 1 FROM checkouts c WHERE c.shop_id = $1 AND c.token = $2 AND c.completed_at IS NOT NULL
		UNION ALL
		SELECT 1 FROM orders o WHERE o.shop_id = $1 AND o.customer_id = $3 AND NOT o.test
		  AND COALESCE(o.processed_at, o.shopify_created_at) >= LEAST($4::timestamptz,
		      COALESCE((SELECT shopify_created_at FROM checkouts WHERE shop_id = $1 AND token = $2), $4::timestamptz))`,
		shopID, token, customerID, since)
}

// checkoutSince: the customer started a checkout at or after t.
func (e *Engine) checkoutSince(ctx context.Context, tx *sqlx.Tx, shopID, customerID int64, t time.Time) (bool, error) {
	ok, err := e.exists(ctx, tx, "checkout since", `SELECT 1 FROM checkouts WHERE shop_id = $1 AND customer_id = $2 AND kind = 'checkout'
		AND COALESCE(shopify_created_at, shopify_updated_at) >= $3`, shopID, customerID, t)
	if err != nil || ok {
		return ok, err
	}
	return e.eventSince(ctx, tx, shopID, customerID, t, "checkout_started")
}

// eventSince: a storefront event of one of the names at or after t.
func (e *Engine) eventSince(ctx context.Context, tx *sqlx.Tx, shopID, customerID int64, t time.Time, names ...string) (bool, error) {
	return e.exists(ctx, tx, "events since", `SELECT 1 FROM events WHERE customer_id = $2 AND shop_id = $1
		AND occurred_at >= $3 AND name = ANY($4)`, shopID, customerID, t, pq.Array(names))
}

// profile is what the engine reads of the customer's profile: whether
// marketing email may go to them (the sender checks again at send time).
type profile struct {
	Missing    bool
	Deleted    bool   `db:"deleted"`
	Consent    string `db:"email_consent"`
	Email      string `db:"email"`
	Suppressed bool   `db:"suppressed"`
}

func (e *Engine) loadProfile(ctx context.Context, tx *sqlx.Tx, shopID, customerID int64) (profile, error) {
	var p profile
	err := e.get(ctx, tx, &p, `SELECT deleted_at IS NOT NULL AS deleted, email_consent, COALESCE(email, '') AS email,
		EXISTS (SELECT 1 FROM suppressions s WHERE s.shop_id = c.shop_id AND s.email = lower(trim(c.email))) AS suppressed
		FROM customers c WHERE shop_id = $1 AND id = $2`, shopID, customerID)
	if isNoRows(err) {
		return profile{Missing: true}, nil
	}
	if err != nil {
		return p, fmt.Errorf("flows: profile %d: %w", customerID, err)
	}
	return p, nil
}

// unreachable is why no marketing email may go to the profile ("" if it may).
func (p profile) unreachable() string {
	switch {
	case p.Missing, p.Deleted:
		return ReasonDeleted
	case p.Email == "":
		return ReasonNoEmail
	case p.Suppressed:
		return "suppressed"
	case p.Consent != "subscribed":
		return ReasonNotSubscribed
	}
	return ""
}

// reachable is loadProfile(…).unreachable().
func (e *Engine) reachable(ctx context.Context, tx *sqlx.Tx, shopID, customerID int64) (string, error) {
	p, err := e.loadProfile(ctx, tx, shopID, customerID)
	if err != nil {
		return "", err
	}
	return p.unreachable(), nil
}

// profileOf is the run's profile, read once per wake-up.
func (e *Engine) profileOf(ctx context.Context, tx *sqlx.Tx, r *run) (profile, error) {
	if r.prof != nil {
		return *r.prof, nil
	}
	p, err := e.loadProfile(ctx, tx, r.ShopID, r.CustomerID)
	if err != nil {
		return p, err
	}
	r.prof = &p
	return p, nil
}

func (e *Engine) inSegment(ctx context.Context, tx *sqlx.Tx, shopID, customerID, segmentID int64) (bool, error) {
	return e.exists(ctx, tx, "segment member", `SELECT 1 FROM segment_members m JOIN segments s ON s.id = m.segment_id
		WHERE s.shop_id = $1 AND m.segment_id = $3 AND m.customer_id = $2`, shopID, customerID, segmentID)
}

func compare(op string, got, want float64) bool {
	switch op {
	case "gte":
		return got >= want
	case "lte":
		return got <= want
	case "gt":
		return got > want
	case "lt":
		return got < want
	default:
		return got == want
	}
}

// holds evaluates one condition for a run (r may have no id yet: a run
// being started).
func (e *Engine) holds(ctx context.Context, tx *sqlx.Tx, r *run, c Condition, now time.Time) (bool, error) {
	ok, err := e.holdsRaw(ctx, tx, r, c, now)
	if err != nil {
		return false, err
	}
	if c.Negate {
		ok = !ok
	}
	return ok, nil
}

func (e *Engine) holdsRaw(ctx context.Context, tx *sqlx.Tx, r *run, c Condition, now time.Time) (bool, error) {
	shop, cust := r.ShopID, r.CustomerID
	num := func(what, q string, args ...any) (float64, error) {
		var v float64
		if err := e.get(ctx, tx, &v, q, args...); err != nil {
			return 0, fmt.Errorf("flows: condition %s: %w", what, err)
		}
		return v, nil
	}
	switch c.Field {
	case CondCartValue:
		token := r.ctx["checkout_token"]
		if token == "" {
			token = r.ctx["cart_token"]
		}
		v, err := num("cart value", `SELECT COALESCE((SELECT total_price FROM checkouts WHERE shop_id = $1 AND token = $2), 0)`, shop, token)
		return compare(c.Op, v, c.Number), err
	case CondProductInCart:
		token := r.ctx["checkout_token"]
		if token == "" {
			token = r.ctx["cart_token"]
		}
		return e.exists(ctx, tx, "product in collection", `
			SELECT 1 FROM checkouts ch, jsonb_array_elements(ch.line_items) li
			JOIN products p ON p.shop_id = $1 AND p.shopify_id = (li->>'product_id')::bigint
			WHERE ch.shop_id = $1 AND ch.token = $2 AND $3 = ANY(p.collection_ids)`, shop, token, c.CollectionID)
	case CondSource:
		return r.ctx["source"] == c.Text, nil
	case CondInSegment:
		return e.inSegment(ctx, tx, shop, cust, c.SegmentID)
	case CondNotInSegment:
		in, err := e.inSegment(ctx, tx, shop, cust, c.SegmentID)
		return !in, err
	case CondOrdersSinceStart:
		v, err := num("orders since start", `SELECT count(*) FROM orders WHERE shop_id = $1 AND customer_id = $2 AND NOT test
			AND COALESCE(processed_at, shopify_created_at) > $3`, shop, cust, r.StartedAt)
		return compare(c.Op, v, c.Number), err
	case CondOpenedRunEmail, CondClickedRunEmail:
		kinds := []string{"open", "click"}
		if c.Field == CondClickedRunEmail {
			kinds = []string{"click"}
		}
		return e.exists(ctx, tx, "run email engagement", `SELECT 1 FROM email_messages m JOIN email_events ev ON ev.message_id = m.id
			WHERE m.shop_id = $1 AND m.flow_run_id = $2 AND ($3 = '' OR m.flow_step = $3) AND ev.kind = ANY($4)`,
			shop, r.ID, c.StepID, pq.Array(kinds))
	case CondHasTag:
		return e.exists(ctx, tx, "tag", `SELECT 1 FROM customers WHERE shop_id = $1 AND id = $2 AND $3 = ANY(tags)`, shop, cust, c.Text)
	case CondOrdersCount:
		v, err := num("orders count", `SELECT orders_count FROM customers WHERE shop_id = $1 AND id = $2`, shop, cust)
		return compare(c.Op, v, c.Number), err
	case CondAverageOrderValue:
		v, err := num("average order value", `SELECT average_order_value FROM customers WHERE shop_id = $1 AND id = $2`, shop, cust)
		return compare(c.Op, v, c.Number), err
	case CondLastOrderDaysAgo:
		v, err := num("last order", `SELECT COALESCE(EXTRACT(EPOCH FROM ($3 - last_order_at)) / 86400, -1) FROM customers WHERE shop_id = $1 AND id = $2`, shop, cust, now)
		if err != nil || v < 0 {
			return false, err // never ordered: no "days ago"
		}
		return compare(c.Op, float64(int(v)), c.Number), nil
	case CondBoughtProduct:
		return e.exists(ctx, tx, "bought product", `SELECT 1 FROM customer_products WHERE shop_id = $1 AND customer_id = $2 AND product_id = $3`, shop, cust, c.ProductID)
	case CondNoAutomationEmail:
		hit, err := existsUnprepared(ctx, tx, "automation email", `SELECT 1 FROM email_messages WHERE shop_id = $1 AND customer_id = $2 AND kind = 'flow'
			AND marketing AND created_at >= $3 AND status <> 'skipped' AND flow_run_id IS DISTINCT FROM $4`,
			shop, cust, now.Add(-time.Duration(c.Number*24)*time.Hour), nullID(r.ID))
		return !hit, err
	case CondNoEngagementDays:
		hit, err := e.exists(ctx, tx, "engagement", `SELECT 1 FROM email_events ev JOIN email_messages m ON m.id = ev.message_id
			WHERE m.shop_id = $1 AND m.customer_id = $2 AND ev.kind IN ('open', 'click') AND ev.occurred_at >= $3`,
			shop, cust, now.Add(-time.Duration(c.Number*24)*time.Hour))
		return !hit, err
	}
	return false, fmt.Errorf("flows: unknown condition %q", c.Field)
}

func nullID(id int64) any {
	if id == 0 {
		return nil
	}
	return id
}

func itoa(n int64) string { return strconv.FormatInt(n, 10) }

// existsUnprepared is exists for queries whose best plan depends on the
// values (a customer's few emails among the shop's millions): planned each
// time instead of prepared.
func existsUnprepared(ctx context.Context, tx *sqlx.Tx, what, q string, args ...any) (bool, error) {
	var ok bool
	if err := tx.GetContext(ctx, &ok, `SELECT EXISTS (`+q+`)`, args...); err != nil {
		return false, fmt.Errorf("flows: %s: %w", what, err)
	}
	return ok, nil
}
