package consistency_test

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/cartwheel/cartwheel/app/segments"
)

// The oracle: every derived value recomputed from the raw rows, written
// here independently of the code under test, and compared with what is
// stored. Each check returns one line per wrong value.

func (h *harness) mismatches(q string, args ...any) []string {
	h.t.Helper()
	var out []string
	if err := h.db.Select(&out, q, args...); err != nil {
		h.t.Fatalf("oracle: %v\n%s", err, q)
	}
	return out
}

// wrongRefunded: an order's refunded total is its refunds' sum, capped at
// the order's total.
func (h *harness) wrongRefunded() []string {
	return h.mismatches(`SELECT format('order %s: refunded %s, refunds say %s', o.shopify_id, o.total_refunded, x.r)
		FROM orders o, LATERAL (SELECT LEAST(o.total_price, COALESCE(sum(f.amount), 0)) AS r
			FROM refunds f WHERE f.shop_id = o.shop_id AND f.order_id = o.shopify_id) x
		WHERE o.shop_id = $1 AND o.total_refunded <> x.r`, h.shopID)
}

// wrongFigures: orders count, net total spent, first and last order of the
// orders that are neither cancelled nor tests.
func (h *harness) wrongFigures() []string {
	return h.mismatches(`SELECT format('customer %s: stored (%s, %s, %s, %s), orders say (%s, %s, %s, %s)', c.id,
			c.orders_count, c.total_spent, c.first_order_at, c.last_order_at, x.n, x.spent, x.first_at, x.last_at)
		FROM customers c, LATERAL (
			SELECT count(*) AS n, COALESCE(sum(o.total_price - LEAST(o.total_price,
					(SELECT COALESCE(sum(f.amount), 0) FROM refunds f WHERE f.shop_id = o.shop_id AND f.order_id = o.shopify_id))), 0) AS spent,
				min(o.processed_at) AS first_at, max(o.processed_at) AS last_at
			FROM orders o WHERE o.shop_id = c.shop_id AND o.customer_id = c.id AND o.cancelled_at IS NULL AND NOT o.test) x
		WHERE c.shop_id = $1
		  AND (c.orders_count, c.total_spent, c.first_order_at, c.last_order_at) IS DISTINCT FROM (x.n, x.spent, x.first_at, x.last_at)`, h.shopID)
}

// wrongProducts: per customer and product, quantity and first/last time
// bought in counted orders.
func (h *harness) wrongProducts() []string {
	return h.mismatches(`WITH want AS (
			SELECT o.customer_id, li.product_id, sum(li.quantity) AS q, min(o.processed_at) AS f, max(o.processed_at) AS l
			FROM orders o JOIN order_line_items li ON li.shop_id = o.shop_id AND li.order_id = o.shopify_id
			WHERE o.shop_id = $1 AND o.customer_id IS NOT NULL AND li.product_id IS NOT NULL
			  AND o.cancelled_at IS NULL AND NOT o.test
			GROUP BY 1, 2),
		have AS (SELECT * FROM customer_products WHERE shop_id = $1)
		SELECT format('customer %s product %s: stored %s, orders say %s',
			COALESCE(want.customer_id, have.customer_id), COALESCE(want.product_id, have.product_id), have.quantity, want.q)
		FROM want FULL JOIN have ON have.customer_id = want.customer_id AND have.product_id = want.product_id
		WHERE (want.q, want.f, want.l) IS DISTINCT FROM (have.quantity, have.first_bought_at, have.last_bought_at)`, h.shopID)
}

// wrongActivity: per customer, each storefront event name and the email
// activities (campaign and flow mail received; human opens and clicks,
// counted per message): count, first and last time.
func (h *harness) wrongActivity() []string {
	return h.mismatches(`WITH want AS (
			SELECT customer_id, name, count(*) AS n, min(occurred_at) AS f, max(occurred_at) AS l
			FROM events WHERE shop_id = $1 AND customer_id IS NOT NULL GROUP BY 1, 2
			UNION ALL
			SELECT customer_id, 'email:received', count(*), min(sent_at), max(sent_at)
			FROM email_messages WHERE shop_id = $1 AND customer_id IS NOT NULL AND kind IN ('campaign', 'flow') AND sent_at IS NOT NULL
			GROUP BY 1
			UNION ALL
			SELECT m.customer_id, 'email:' || ev.kind, count(DISTINCT m.id), min(ev.occurred_at), max(ev.occurred_at)
			FROM email_messages m JOIN email_events ev ON ev.message_id = m.id
			WHERE m.shop_id = $1 AND m.customer_id IS NOT NULL AND NOT ev.machine AND ev.kind IN ('open', 'click')
			GROUP BY 1, 2),
		have AS (SELECT * FROM customer_activity WHERE shop_id = $1)
		SELECT format('customer %s %s: stored %s, rows say %s', COALESCE(want.customer_id, have.customer_id),
			COALESCE(want.name, have.name), have.n, want.n)
		FROM want FULL JOIN have ON have.customer_id = want.customer_id AND have.name = want.name
		WHERE (want.n, want.f, want.l) IS DISTINCT FROM (have.n, have.first_at, have.last_at)`, h.shopID)
}

// wrongMembership: each segment's members against its rule evaluated now
// over the whole shop (with the activity totals checked above).
func (h *harness) wrongMembership(now time.Time) []string {
	h.t.Helper()
	ctx := context.Background()
	segs, err := h.segments.List(ctx, h.shopID)
	if err != nil {
		h.t.Fatal(err)
	}
	loc, err := segments.Location(ctx, h.db, h.shopID)
	if err != nil {
		h.t.Fatal(err)
	}
	var out []string
	for _, s := range segs {
		q, args, err := segments.Compile(h.shopID, s.Rules, now, loc)
		if err != nil {
			h.t.Fatal(err)
		}
		var want, have []int64
		if err := h.db.Select(&want, `SELECT id FROM (`+q+`) m ORDER BY 1`, args...); err != nil {
			h.t.Fatalf("segment %q: %v", s.Name, err)
		}
		if err := h.db.Select(&have, `SELECT customer_id FROM segment_members WHERE segment_id = $1 ORDER BY 1`, s.ID); err != nil {
			h.t.Fatal(err)
		}
		if !slices.Equal(want, have) {
			out = append(out, fmt.Sprintf("segment %q: members %v, rule says %v", s.Name, have, want))
		}
	}
	return out
}

// wrongStreaks replays the SendGrid events in the order they were stored,
// one at a time, as the soft-bounce rule states it: a delivery ends the
// streak, a message's first deferral or block adds one.
func (h *harness) wrongStreaks() []string {
	h.t.Helper()
	var rows []struct {
		Email   string `db:"email"`
		Message int64  `db:"message_id"`
		Kind    string `db:"kind"`
		Detail  string `db:"detail"`
	}
	if err := h.db.Select(&rows, `SELECT lower(m.to_email) AS email, ev.message_id, ev.kind, ev.detail
		FROM email_events ev JOIN email_messages m ON m.id = ev.message_id
		WHERE ev.shop_id = $1 ORDER BY ev.id`, h.shopID); err != nil {
		h.t.Fatal(err)
	}
	want := map[string]int{}
	softSeen := map[int64]bool{}
	for _, r := range rows {
		switch {
		case r.Kind == "delivered":
			want[r.Email] = 0
		case r.Kind == "deferred" || (r.Kind == "bounce" && strings.HasPrefix(r.Detail, "blocked")):
			if !softSeen[r.Message] {
				softSeen[r.Message] = true
				want[r.Email]++
			}
		}
	}
	var stored []struct {
		Email  string `db:"email"`
		Streak int    `db:"streak"`
	}
	if err := h.db.Select(&stored, `SELECT email, streak FROM email_soft_bounces WHERE shop_id = $1`, h.shopID); err != nil {
		h.t.Fatal(err)
	}
	have := map[string]int{}
	for _, s := range stored {
		have[s.Email] = s.Streak
	}
	var out []string
	for _, c := range h.customers {
		e := strings.ToLower(c.Email)
		if have[e] != want[e] {
			out = append(out, fmt.Sprintf("%s: streak %d, events say %d", e, have[e], want[e]))
		}
	}
	return out
}

// wrong runs every check.
func (h *harness) wrong(now time.Time) map[string][]string {
	out := map[string][]string{}
	for kind, w := range map[string][]string{
		"refunded totals": h.wrongRefunded(),
		"figures":         h.wrongFigures(),
		"products bought": h.wrongProducts(),
		"activity":        h.wrongActivity(),
		"soft bounces":    h.wrongStreaks(),
	} {
		if len(w) > 0 {
			out[kind] = w
		}
	}
	// Memberships are only as right as the data they are computed from.
	if len(out) == 0 {
		if w := h.wrongMembership(now); len(w) > 0 {
			out["membership"] = w
		}
	}
	return out
}
