package customers

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"time"

	"github.com/shopspring/decimal"
)

// Profile is everything the customer page shows.
type Profile struct {
	Customer   Detail
	Consent    []ConsentEvent
	Orders     []OrderSummary
	Suppressed *Suppression // non-nil when the address is on the suppression list
	Timeline   []TimelineEntry
}

// Detail is a customer's stored attributes.
type Detail struct {
	ListItem
	ShopifyID         *int64          `db:"shopify_id"`
	Phone             *string         `db:"phone"`
	Locale            string          `db:"locale"`
	Timezone          string          `db:"timezone"` // IANA, "" = unknown (the shop's is used)
	OptInLevel        string          `db:"email_opt_in_level"`
	ConsentUpdatedAt  *time.Time      `db:"email_consent_updated_at"`
	Properties        json.RawMessage `db:"properties"`
	AverageOrderValue decimal.Decimal `db:"average_order_value"`
	FirstOrderAt      *time.Time      `db:"first_order_at"`
	UpdatedAt         time.Time       `db:"updated_at"`
}

// PropertyMap decodes the custom properties (from imports) for display.
func (d Detail) PropertyMap() map[string]any {
	m := map[string]any{}
	_ = json.Unmarshal(d.Properties, &m)
	return m
}

// ConsentEvent is one change of email consent.
type ConsentEvent struct {
	State      string    `db:"state"`
	OptInLevel string    `db:"opt_in_level"`
	Source     string    `db:"source"`
	OccurredAt time.Time `db:"occurred_at"`
}

// OrderSummary is one order in the profile's order history.
type OrderSummary struct {
	ShopifyID       int64           `db:"shopify_id"`
	Name            string          `db:"name"`
	ProcessedAt     *time.Time      `db:"processed_at"`
	Currency        string          `db:"currency"`
	Total           decimal.Decimal `db:"total_price"`
	Refunded        decimal.Decimal `db:"total_refunded"`
	FinancialStatus string          `db:"financial_status"`
	Cancelled       bool            `db:"cancelled"`
	Items           int             `db:"items"`
}

// Net is what the order is worth after refunds.
func (o OrderSummary) Net() decimal.Decimal { return o.Total.Sub(o.Refunded) }

// TimelineEntry is one thing that happened to a customer. Later features
// (storefront events, emails) add entries through TimelineSource.
type TimelineEntry struct {
	At     time.Time
	Kind   string // created, consent, order, refund, checkout, …
	Title  string
	Detail string
}

// TimelineSource adds entries from another domain to a profile's timeline;
// it returns at most limit entries, newest first.
type TimelineSource func(ctx context.Context, shopID, customerID int64, limit int) ([]TimelineEntry, error)

// profileOrders bounds the order history shown; the figures (count, total)
// come from the derived columns, which cover every order.
const profileOrders = 50

// Profile loads one customer of the shop with its history. A customer of
// another shop is ErrNotFound, like one that doesn't exist.
func (s *Store) Profile(ctx context.Context, shopID, id int64, extra ...TimelineSource) (Profile, error) {
	var p Profile
	err := s.db.GetContext(ctx, &p.Customer, `
		SELECT `+listColumns+`, shopify_id, phone, locale, timezone, email_opt_in_level, email_consent_updated_at, properties,
			average_order_value, first_order_at, updated_at
		FROM customers WHERE shop_id = $1 AND id = $2 AND deleted_at IS NULL`, shopID, id)
	if errors.Is(err, sql.ErrNoRows) {
		return Profile{}, ErrNotFound
	}
	if err != nil {
		return Profile{}, fmt.Errorf("customers: profile %d: %w", id, err)
	}
	if err := s.db.SelectContext(ctx, &p.Consent, `
		SELECT state, opt_in_level, source, occurred_at FROM consent_events
		WHERE shop_id = $1 AND customer_id = $2 ORDER BY occurred_at DESC, id DESC LIMIT 100`, shopID, id); err != nil {
		return Profile{}, fmt.Errorf("customers: profile %d consent: %w", id, err)
	}
	if err := s.db.SelectContext(ctx, &p.Orders, `
		SELECT o.shopify_id, o.name, o.processed_at, o.currency, o.total_price, o.total_refunded, o.financial_status,
			o.cancelled_at IS NOT NULL AS cancelled,
			(SELECT COALESCE(sum(li.quantity), 0) FROM order_line_items li WHERE li.shop_id = o.shop_id AND li.order_id = o.shopify_id) AS items
		FROM orders o WHERE o.shop_id = $1 AND o.customer_id = $2
		ORDER BY o.processed_at DESC NULLS LAST LIMIT $3`, shopID, id, profileOrders); err != nil {
		return Profile{}, fmt.Errorf("customers: profile %d orders: %w", id, err)
	}
	if p.Customer.Email != nil {
		sup, err := s.Suppression(ctx, shopID, *p.Customer.Email)
		if err != nil && !errors.Is(err, ErrNotFound) {
			return Profile{}, err
		}
		if err == nil {
			p.Suppressed = &sup
		}
	}
	tl, err := s.storeTimeline(ctx, shopID, id, p)
	if err != nil {
		return Profile{}, err
	}
	for _, src := range extra {
		more, err := src(ctx, shopID, id, timelineLimit)
		if err != nil {
			return Profile{}, fmt.Errorf("customers: profile %d timeline: %w", id, err)
		}
		tl = append(tl, more...)
	}
	sort.SliceStable(tl, func(i, j int) bool { return tl[i].At.After(tl[j].At) })
	if len(tl) > timelineLimit {
		tl = tl[:timelineLimit]
	}
	p.Timeline = tl
	return p, nil
}

const timelineLimit = 100

// storeTimeline builds the entries this package knows: the profile's
// creation, consent changes, orders, refunds and abandoned checkouts.
func (s *Store) storeTimeline(ctx context.Context, shopID, id int64, p Profile) ([]TimelineEntry, error) {
	created := p.Customer.CreatedAt
	tl := []TimelineEntry{{At: created, Kind: "created", Title: "Profile created", Detail: "Source: " + p.Customer.Source}}
	for _, c := range p.Consent {
		tl = append(tl, TimelineEntry{At: c.OccurredAt, Kind: "consent", Title: "Email consent: " + ConsentLabel(c.State), Detail: "Source: " + c.Source})
	}
	for _, o := range p.Orders {
		if o.ProcessedAt == nil {
			continue
		}
		tl = append(tl, TimelineEntry{At: *o.ProcessedAt, Kind: "order", Title: "Placed order " + o.Name,
			Detail: o.Total.StringFixed(2) + " " + o.Currency})
	}
	var refunds []struct {
		At       time.Time       `db:"created_at"`
		Amount   decimal.Decimal `db:"amount"`
		Name     string          `db:"name"`
		Currency string          `db:"currency"`
	}
	if err := s.db.SelectContext(ctx, &refunds, `
		SELECT f.created_at, f.amount, o.name, o.currency FROM refunds f
		JOIN orders o ON o.shop_id = f.shop_id AND o.shopify_id = f.order_id
		WHERE o.shop_id = $1 AND o.customer_id = $2 AND f.created_at IS NOT NULL
		ORDER BY f.created_at DESC LIMIT $3`, shopID, id, timelineLimit); err != nil {
		return nil, fmt.Errorf("customers: profile %d refunds: %w", id, err)
	}
	for _, r := range refunds {
		tl = append(tl, TimelineEntry{At: r.At, Kind: "refund", Title: "Refund on order " + r.Name, Detail: r.Amount.StringFixed(2) + " " + r.Currency})
	}
	var checkouts []struct {
		At        time.Time       `db:"at"`
		Total     decimal.Decimal `db:"total_price"`
		Currency  string          `db:"currency"`
		Completed bool            `db:"completed"`
		Kind      string          `db:"kind"`
	}
	if err := s.db.SelectContext(ctx, &checkouts, `
		SELECT COALESCE(shopify_updated_at, shopify_created_at) AS at, total_price, currency, completed_at IS NOT NULL AS completed, kind
		FROM checkouts WHERE shop_id = $1 AND customer_id = $2 AND COALESCE(shopify_updated_at, shopify_created_at) IS NOT NULL
		ORDER BY shopify_updated_at DESC LIMIT $3`, shopID, id, timelineLimit); err != nil {
		return nil, fmt.Errorf("customers: profile %d checkouts: %w", id, err)
	}
	for _, k := range checkouts {
		if k.Completed {
			continue // the order itself is on the timeline
		}
		title := "Abandoned checkout"
		if k.Kind == "cart" {
			title = "Left items in cart"
		}
		tl = append(tl, TimelineEntry{At: k.At, Kind: "checkout", Title: title, Detail: k.Total.StringFixed(2) + " " + k.Currency})
	}
	return tl, nil
}

// ConsentLabel is the merchant-facing name of a consent state.
func ConsentLabel(state string) string {
	switch state {
	case ConsentSubscribed:
		return "Subscribed"
	case ConsentNotSubscribed:
		return "Not subscribed"
	case ConsentUnsubscribed:
		return "Unsubscribed"
	case ConsentPending:
		return "Pending confirmation"
	case ConsentRedacted:
		return "Redacted"
	case ConsentInvalid:
		return "Invalid"
	}
	return state
}
