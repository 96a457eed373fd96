package flows

import (
	"context"
	"database/sql"
	"fmt"
	"sort"
	"time"
)

// DryRunDays is how far back a dry run looks.
const DryRunDays = 30

// DryRun is what a definition would have done over the last DryRunDays,
// computed from stored data: who would have entered, and how many emails
// they would have got before converting (or the flow ending).
type DryRun struct {
	Entered int
	Emails  int
	// EmailsByStep counts the emails of each send step.
	EmailsByStep map[string]int
	// Sample is up to ten customer ids that would have entered.
	Sample []int64
	// Note says what the estimate simplifies, for the merchant.
	Note string
}

type candidate struct {
	CustomerID int64        `db:"customer_id"`
	At         time.Time    `db:"at"`
	Converted  sql.NullTime `db:"converted"`
}

// The candidate queries of each trigger: ($1 shop, $2 since, $3 delay in
// seconds). converted is the first order after the entry (abandonment
// triggers count it as the end of the run).
var dryRunQuery = map[string]string{
	TriggerCheckoutAbandoned: `SELECT c.customer_id, COALESCE(c.shopify_created_at, c.shopify_updated_at) AS at,
		(SELECT min(COALESCE(o.processed_at, o.shopify_created_at)) FROM orders o WHERE o.shop_id = c.shop_id AND o.customer_id = c.customer_id
		   AND COALESCE(o.processed_at, o.shopify_created_at) >= COALESCE(c.shopify_created_at, c.shopify_updated_at)) AS converted
		FROM checkouts c WHERE c.shop_id = $1 AND c.kind = 'checkout' AND c.customer_id IS NOT NULL
		AND COALESCE(c.shopify_created_at, c.shopify_updated_at) >= $2 AND $3::int IS NOT NULL`,
	TriggerCartAbandoned: `SELECT c.customer_id, COALESCE(c.shopify_updated_at, c.shopify_created_at) AS at,
		(SELECT min(COALESCE(o.processed_at, o.shopify_created_at)) FROM orders o WHERE o.shop_id = c.shop_id AND o.customer_id = c.customer_id
		   AND COALESCE(o.processed_at, o.shopify_created_at) >= COALESCE(c.shopify_updated_at, c.shopify_created_at)) AS converted
		FROM checkouts c WHERE c.shop_id = $1 AND c.kind = 'cart' AND c.customer_id IS NOT NULL
		AND COALESCE(c.shopify_updated_at, c.shopify_created_at) >= $2 AND $3::int IS NOT NULL`,
	TriggerBrowseAbandoned: eventCandidates("product_viewed"),
	TriggerSearchAbandoned: eventCandidates("search_submitted"),
	TriggerSubscribed: `SELECT customer_id, occurred_at AS at, NULL::timestamptz AS converted FROM consent_events
		WHERE shop_id = $1 AND state = 'subscribed' AND source <> 'import' AND occurred_at >= $2 AND $3::int IS NOT NULL`,
	TriggerCustomerCreated: `SELECT id AS customer_id, created_at AS at, NULL::timestamptz AS converted FROM customers
		WHERE shop_id = $1 AND created_at >= $2 AND $3::int IS NOT NULL`,
	TriggerOrderPlaced: `SELECT customer_id, COALESCE(processed_at, shopify_created_at) AS at, NULL::timestamptz AS converted FROM orders
		WHERE shop_id = $1 AND customer_id IS NOT NULL AND NOT test AND COALESCE(processed_at, shopify_created_at) >= $2 AND $3::int IS NOT NULL`,
	TriggerFirstOrder: `SELECT id AS customer_id, first_order_at AS at, NULL::timestamptz AS converted FROM customers
		WHERE shop_id = $1 AND first_order_at >= $2 AND $3::int IS NOT NULL`,
}

// eventCandidates: one entry per customer and day they did name, unless
// they added to cart within the delay.
func eventCandidates(name string) string {
	return `SELECT customer_id, min(occurred_at) AS at,
		(SELECT min(COALESCE(o.processed_at, o.shopify_created_at)) FROM orders o WHERE o.shop_id = $1 AND o.customer_id = e.customer_id
		   AND COALESCE(o.processed_at, o.shopify_created_at) >= min(e.occurred_at)) AS converted
		FROM events e WHERE e.shop_id = $1 AND e.customer_id IS NOT NULL AND e.name = '` + name + `' AND e.occurred_at >= $2
		AND NOT EXISTS (SELECT 1 FROM events a WHERE a.customer_id = e.customer_id AND a.shop_id = $1 AND a.name = 'product_added_to_cart'
		   AND a.occurred_at >= e.occurred_at AND a.occurred_at < e.occurred_at + make_interval(secs => $3))
		GROUP BY customer_id, date_trunc('day', occurred_at)`
}

// DryRun estimates def over the last DryRunDays for the shop, as of now.
// Splits follow their first branch (a random split its largest); the
// flow's filters and conditions on later behaviour aren't replayed.
func (e *Engine) DryRun(ctx context.Context, shopID int64, def Definition, now time.Time) (DryRun, error) {
	out := DryRun{EmailsByStep: map[string]int{},
		Note: "Estimated from the last 30 days of your store's data for customers subscribed today. Splits follow their first branch; a random split its largest."}
	q, ok := dryRunQuery[def.Trigger.Type]
	if !ok {
		out.Note = "A dry run isn't available for this trigger yet."
		return out, nil
	}
	delay := def.Trigger.Delay.D()
	if isAbandonment(def.Trigger.Type) && delay <= 0 {
		delay = time.Hour
	}
	var cands []candidate
	err := e.DB.SelectContext(ctx, &cands, `SELECT x.customer_id, x.at, x.converted FROM (`+q+`) x
		JOIN customers c ON c.id = x.customer_id AND c.shop_id = $1
		WHERE c.deleted_at IS NULL AND c.email_consent = 'subscribed' AND COALESCE(c.email, '') <> ''
		ORDER BY x.at`, shopID, now.AddDate(0, 0, -DryRunDays), int(delay.Seconds()))
	if err != nil {
		return out, fmt.Errorf("flows: dry run: %w", err)
	}
	path := mainPath(def.Steps)
	last := map[int64]time.Time{}
	for _, c := range cands {
		if prev, ok := last[c.CustomerID]; ok {
			switch def.ReEntry.Mode {
			case ReEntryNever, "":
				continue
			case ReEntryAfter:
				if c.At.Sub(prev) < time.Duration(def.ReEntry.Days)*24*time.Hour {
					continue
				}
			}
		}
		t := c.At.Add(delay)
		if t.After(now) {
			continue // still inside the trigger's delay
		}
		if isAbandonment(def.Trigger.Type) && c.Converted.Valid && !c.Converted.Time.After(t) {
			continue
		}
		last[c.CustomerID] = c.At
		out.Entered++
		if len(out.Sample) < 10 {
			out.Sample = append(out.Sample, c.CustomerID)
		}
		for _, s := range path {
			if s.Type == StepWait {
				t = t.Add(s.Wait.D())
			}
			if s.Type == StepWaitForEvent {
				t = t.Add(s.Timeout.D())
			}
			if t.After(now) || (c.Converted.Valid && !c.Converted.Time.After(t) && stopsOnOrder(def)) {
				break
			}
			if s.Type == StepSendEmail {
				out.Emails++
				out.EmailsByStep[s.ID]++
			}
			if s.Type == StepExit {
				break
			}
		}
	}
	return out, nil
}

// stopsOnOrder: an order ends the flow's runs.
func stopsOnOrder(def Definition) bool {
	if isAbandonment(def.Trigger.Type) {
		return true
	}
	for _, x := range def.Exits {
		if x.Kind == ExitOrderPlaced {
			return true
		}
	}
	return false
}

// mainPath is the steps a run takes through splits' first (or largest)
// branch.
func mainPath(steps []Step) []Step {
	var out []Step
	for _, s := range steps {
		out = append(out, s)
		if len(s.Branches) == 0 {
			continue
		}
		b := 0
		if s.Type == StepRandomSplit {
			bs := append([]Branch(nil), s.Branches...)
			idx := make([]int, len(bs))
			for i := range idx {
				idx[i] = i
			}
			sort.SliceStable(idx, func(i, j int) bool { return bs[idx[i]].Percent > bs[idx[j]].Percent })
			b = idx[0]
		}
		return append(out, mainPath(s.Branches[b].Steps)...)
	}
	return out
}
