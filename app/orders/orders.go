// Package orders keeps orders with their line items and refunds, abandoned
// checkouts and carts, and the per-customer figures derived from orders
// (orders count, total spent net of refunds, average order value, first
// and last order, products bought).
package orders

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/jmoiron/sqlx"
	"github.com/lib/pq"
	"github.com/shopspring/decimal"

	"github.com/cartwheel/cartwheel/app/customers"
)

// ErrInvalid wraps every reason an order, refund or checkout is refused;
// such input is reported, never retried.
var ErrInvalid = errors.New("invalid store data")

// Store is the storage for orders, refunds and checkouts.
type Store struct {
	db        *sqlx.DB
	customers *customers.Store
}

// NewStore returns a Store.
func NewStore(db *sqlx.DB, c *customers.Store) *Store { return &Store{db: db, customers: c} }

// Order is an order as Shopify describes it.
type Order struct {
	ShopifyID         int64                      `json:"shopify_id"`
	Name              string                     `json:"name"`
	ShopifyCustomerID int64                      `json:"shopify_customer_id"`
	Customer          *customers.ShopifyCustomer `json:"-"` // the order's embedded customer, for one we never saw
	Email             string                     `json:"email"`
	Currency          string                     `json:"currency"`
	Subtotal          decimal.Decimal            `json:"subtotal_price"`
	Tax               decimal.Decimal            `json:"total_tax"`
	Shipping          decimal.Decimal            `json:"total_shipping"`
	Discounts         decimal.Decimal            `json:"total_discounts"`
	Total             decimal.Decimal            `json:"total_price"`
	FinancialStatus   string                     `json:"financial_status"`
	FulfillmentStatus string                     `json:"fulfillment_status"` // "fulfilled" once every item shipped; "" when not told (bulk import)
	CancelledAt       *time.Time                 `json:"cancelled_at"`
	ProcessedAt       *time.Time                 `json:"processed_at"`
	LandingSite       string                     `json:"landing_site"`
	ReferringSite     string                     `json:"referring_site"`
	SourceName        string                     `json:"source_name"`
	DiscountCodes     []string                   `json:"discount_codes"`
	Test              bool                       `json:"test"`
	CreatedAt         *time.Time                 `json:"created_at"`
	UpdatedAt         *time.Time                 `json:"updated_at"`
	LineItems         []LineItem                 `json:"-"`
	Refunds           []Refund                   `json:"-"`
	// LineItemsComplete says LineItems is the whole list (a webhook), so
	// stored items missing from it are removed. A bulk import streams items
	// separately and leaves it false.
	LineItemsComplete bool `json:"-"`
}

// LineItem is one line of an order.
type LineItem struct {
	ShopifyID     int64           `json:"shopify_id"`
	OrderID       int64           `json:"order_id"`
	ProductID     int64           `json:"product_id"`
	VariantID     int64           `json:"variant_id"`
	Title         string          `json:"title"`
	VariantTitle  string          `json:"variant_title"`
	SKU           string          `json:"sku"`
	Quantity      int             `json:"quantity"`
	Price         decimal.Decimal `json:"price"`
	TotalDiscount decimal.Decimal `json:"total_discount"`
	Properties    json.RawMessage `json:"properties"`
}

// Refund is money returned on an order.
type Refund struct {
	ShopifyID int64           `json:"shopify_id"`
	OrderID   int64           `json:"order_id"`
	Amount    decimal.Decimal `json:"amount"`
	CreatedAt *time.Time      `json:"created_at"`
}

// Validate refuses what would corrupt revenue figures.
func (o *Order) Validate() error {
	if o.ShopifyID <= 0 {
		return fmt.Errorf("%w: order has no id", ErrInvalid)
	}
	if !ValidCurrency(o.Currency) {
		return fmt.Errorf("%w: order %d: unknown currency %q", ErrInvalid, o.ShopifyID, o.Currency)
	}
	for name, v := range map[string]decimal.Decimal{"subtotal_price": o.Subtotal, "total_tax": o.Tax,
		"total_shipping": o.Shipping, "total_discounts": o.Discounts, "total_price": o.Total} {
		if v.IsNegative() {
			return fmt.Errorf("%w: order %d: negative %s %s", ErrInvalid, o.ShopifyID, name, v)
		}
	}
	for _, li := range o.LineItems {
		if li.ShopifyID <= 0 || li.Quantity < 0 || li.Price.IsNegative() {
			return fmt.Errorf("%w: order %d: line item %d has a missing id, negative quantity or price", ErrInvalid, o.ShopifyID, li.ShopifyID)
		}
	}
	for _, r := range o.Refunds {
		if err := r.Validate(); err != nil {
			return err
		}
	}
	return nil
}

// Validate refuses a refund without an id or with a negative amount.
func (r *Refund) Validate() error {
	if r.ShopifyID <= 0 || r.OrderID <= 0 {
		return fmt.Errorf("%w: refund without id or order id", ErrInvalid)
	}
	if r.Amount.IsNegative() {
		return fmt.Errorf("%w: refund %d: negative amount %s", ErrInvalid, r.ShopifyID, r.Amount)
	}
	return nil
}

// Upsert writes a batch of orders with their line items and refunds, links
// them to customer profiles (creating a stub for a customer we never saw),
// and returns the profile ids whose figures need refreshing. A row is only
// overwritten by data at least as new as what is stored.
func (s *Store) Upsert(ctx context.Context, tx *sqlx.Tx, shopID int64, batch []Order) ([]int64, error) {
	ids, _, err := s.UpsertWritten(ctx, tx, shopID, batch)
	return ids, err
}

// Written is an order a write stored (not skipped as stale): what the
// caller needs to say what happened to its customer.
type Written struct {
	ShopifyID  int64 `db:"shopify_id"`  // the order's key in the shop (orders have no other id)
	CustomerID int64 `db:"customer_id"` // 0: no profile
	Inserted   bool  `db:"inserted"`    // first time stored
	Fulfilled  bool  `db:"fulfilled"`   // first time seen fulfilled
}

// UpsertWritten is Upsert that also returns the orders it wrote.
func (s *Store) UpsertWritten(ctx context.Context, tx *sqlx.Tx, shopID int64, batch []Order) ([]int64, []Written, error) {
	ids, written, err := s.upsert(ctx, tx, shopID, batch)
	return ids, written, err
}

func (s *Store) upsert(ctx context.Context, tx *sqlx.Tx, shopID int64, batch []Order) ([]int64, []Written, error) {
	if len(batch) == 0 {
		return nil, nil, nil
	}
	batch = append([]Order(nil), batch...) // defaults below must not leak into the caller's slice
	for i := range batch {
		if err := batch[i].Validate(); err != nil {
			return nil, nil, err
		}
		if batch[i].DiscountCodes == nil {
			batch[i].DiscountCodes = []string{}
		}
	}
	// Customers first, so orders can point at profiles.
	var stubs []customers.ShopifyCustomer
	var shopifyCustomerIDs []int64
	for _, o := range batch {
		if o.ShopifyCustomerID == 0 {
			continue
		}
		shopifyCustomerIDs = append(shopifyCustomerIDs, o.ShopifyCustomerID)
		stub := customers.ShopifyCustomer{ShopifyID: o.ShopifyCustomerID, Email: o.Email}
		if o.Customer != nil {
			stub = *o.Customer
			stub.ShopifyID = o.ShopifyCustomerID
			if stub.Email == "" {
				stub.Email = o.Email
			}
		}
		stub.UpdatedAt = nil // a stub never overrides a real profile
		stubs = append(stubs, stub)
	}
	if len(stubs) > 0 {
		if err := s.ensureCustomers(ctx, tx, shopID, stubs, shopifyCustomerIDs); err != nil {
			return nil, nil, err
		}
	}
	doc, err := json.Marshal(batch)
	if err != nil {
		return nil, nil, fmt.Errorf("orders: upsert: %w", err)
	}
	var written []Written
	if err := tx.SelectContext(ctx, &written, qUpsertOrders, shopID, doc); err != nil {
		return nil, nil, fmt.Errorf("orders: upsert: %w", err)
	}
	applied := make(map[int64]bool, len(written))
	touched := map[int64]bool{}
	for _, w := range written {
		applied[w.ShopifyID] = true
		if w.CustomerID != 0 {
			touched[w.CustomerID] = true
		}
	}
	var items []LineItem
	var complete []int64
	var refunds []Refund
	for _, o := range batch {
		if !applied[o.ShopifyID] {
			continue // stale delivery: its items and refunds are stale too
		}
		for _, li := range o.LineItems {
			li.OrderID = o.ShopifyID
			items = append(items, li)
		}
		if o.LineItemsComplete {
			complete = append(complete, o.ShopifyID)
		}
		for _, r := range o.Refunds {
			r.OrderID = o.ShopifyID
			refunds = append(refunds, r)
		}
	}
	if err := s.UpsertLineItems(ctx, tx, shopID, items); err != nil {
		return nil, nil, err
	}
	if len(complete) > 0 {
		keep := make([]int64, 0, len(items))
		for _, li := range items {
			keep = append(keep, li.ShopifyID)
		}
		if _, err := tx.ExecContext(ctx, `DELETE FROM order_line_items WHERE shop_id = $1 AND order_id = ANY($2) AND NOT (shopify_id = ANY($3))`,
			shopID, pq.Array(complete), pq.Array(keep)); err != nil {
			return nil, nil, fmt.Errorf("orders: prune line items: %w", err)
		}
	}
	if err := s.insertRefunds(ctx, tx, shopID, refunds); err != nil {
		return nil, nil, err
	}
	// Every applied order's refunded total, not only those with refunds in
	// the payload: its total may have changed.
	appliedIDs := make([]int64, 0, len(applied))
	for id := range applied {
		appliedIDs = append(appliedIDs, id)
	}
	refundCustomers, err := s.refreshRefunded(ctx, tx, shopID, appliedIDs)
	if err != nil {
		return nil, nil, err
	}
	for _, id := range refundCustomers {
		touched[id] = true
	}
	ids := make([]int64, 0, len(touched))
	for id := range touched {
		ids = append(ids, id)
	}
	return ids, written, nil
}

// ensureCustomers creates stub profiles for customers only known from
// orders; existing profiles (even soft-deleted ones) are left as they are.
func (s *Store) ensureCustomers(ctx context.Context, tx *sqlx.Tx, shopID int64, stubs []customers.ShopifyCustomer, ids []int64) error {
	var known []int64
	if err := tx.SelectContext(ctx, &known, `SELECT shopify_id FROM customers WHERE shop_id = $1 AND shopify_id = ANY($2)`,
		shopID, pq.Array(ids)); err != nil {
		return fmt.Errorf("orders: known customers: %w", err)
	}
	have := make(map[int64]bool, len(known))
	for _, k := range known {
		have[k] = true
	}
	var missing []customers.ShopifyCustomer
	for _, st := range stubs {
		if !have[st.ShopifyID] {
			have[st.ShopifyID] = true
			missing = append(missing, st)
		}
	}
	if len(missing) == 0 {
		return nil
	}
	_, err := s.customers.UpsertShopify(ctx, tx, shopID, missing)
	return err
}

// old is read before the upsert (one snapshot per statement): whether the
// order was already seen fulfilled.
const qUpsertOrders = `
WITH r AS (
	SELECT * FROM jsonb_to_recordset($2::jsonb) AS r(
		shopify_id bigint, name text, shopify_customer_id bigint, email text, currency text,
		subtotal_price numeric, total_tax numeric, total_shipping numeric, total_discounts numeric,
		total_price numeric, financial_status text, fulfillment_status text, cancelled_at timestamptz, processed_at timestamptz,
		landing_site text, referring_site text, source_name text, discount_codes text[], test boolean,
		created_at timestamptz, updated_at timestamptz)
),
old AS (
	SELECT o.shopify_id, o.fulfilled_at FROM orders o JOIN r ON o.shop_id = $1 AND o.shopify_id = r.shopify_id
)
INSERT INTO orders AS o (shop_id, shopify_id, name, customer_id, shopify_customer_id, email, currency,
	subtotal_price, total_tax, total_shipping, total_discounts, total_price, financial_status, cancelled_at,
	processed_at, landing_site, referring_site, source_name, discount_codes, test, shopify_created_at, shopify_updated_at,
	fulfilled_at)
SELECT $1, r.shopify_id, COALESCE(r.name, ''),
	(SELECT c.id FROM customers c WHERE c.shop_id = $1 AND c.shopify_id = NULLIF(r.shopify_customer_id, 0)),
	NULLIF(r.shopify_customer_id, 0), NULLIF(r.email, ''), r.currency,
	r.subtotal_price, r.total_tax, r.total_shipping, r.total_discounts, r.total_price, COALESCE(r.financial_status, ''),
	r.cancelled_at, COALESCE(r.processed_at, r.created_at), COALESCE(r.landing_site, ''), COALESCE(r.referring_site, ''),
	COALESCE(r.source_name, ''), COALESCE(r.discount_codes, '{}'), COALESCE(r.test, false), r.created_at, r.updated_at,
	CASE WHEN r.fulfillment_status = 'fulfilled' THEN now() END
FROM r
ON CONFLICT (shop_id, shopify_id) DO UPDATE SET
	name = EXCLUDED.name, customer_id = EXCLUDED.customer_id, shopify_customer_id = EXCLUDED.shopify_customer_id,
	email = EXCLUDED.email, currency = EXCLUDED.currency, subtotal_price = EXCLUDED.subtotal_price,
	total_tax = EXCLUDED.total_tax, total_shipping = EXCLUDED.total_shipping, total_discounts = EXCLUDED.total_discounts,
	total_price = EXCLUDED.total_price, financial_status = EXCLUDED.financial_status, cancelled_at = EXCLUDED.cancelled_at,
	processed_at = EXCLUDED.processed_at, landing_site = EXCLUDED.landing_site, referring_site = EXCLUDED.referring_site,
	source_name = EXCLUDED.source_name, discount_codes = EXCLUDED.discount_codes, test = EXCLUDED.test,
	shopify_created_at = EXCLUDED.shopify_created_at, shopify_updated_at = EXCLUDED.shopify_updated_at,
	fulfilled_at = COALESCE(o.fulfilled_at, EXCLUDED.fulfilled_at)
WHERE o.shopify_updated_at IS NULL OR EXCLUDED.shopify_updated_at IS NULL OR EXCLUDED.shopify_updated_at >= o.shopify_updated_at
RETURNING o.shopify_id, COALESCE(o.customer_id, 0) AS customer_id,
	NOT EXISTS (SELECT 1 FROM old WHERE old.shopify_id = o.shopify_id) AS inserted,
	o.fulfilled_at IS NOT NULL AND NOT EXISTS (SELECT 1 FROM old WHERE old.shopify_id = o.shopify_id AND old.fulfilled_at IS NOT NULL) AS fulfilled`

// UpsertLineItems writes line items of orders already stored (a bulk import
// streams them after their orders).
func (s *Store) UpsertLineItems(ctx context.Context, tx *sqlx.Tx, shopID int64, items []LineItem) error {
	if len(items) == 0 {
		return nil
	}
	for i := range items {
		if len(items[i].Properties) == 0 || string(items[i].Properties) == "null" {
			items[i].Properties = json.RawMessage("[]")
		}
	}
	doc, err := json.Marshal(items)
	if err != nil {
		return fmt.Errorf("orders: line items: %w", err)
	}
	if _, err := tx.ExecContext(ctx, `
		INSERT INTO order_line_items (shop_id, shopify_id, order_id, product_id, variant_id, title, variant_title, sku,
			quantity, price, total_discount, properties)
		SELECT $1, r.shopify_id, r.order_id, NULLIF(r.product_id, 0), NULLIF(r.variant_id, 0), COALESCE(r.title, ''),
			COALESCE(r.variant_title, ''), COALESCE(r.sku, ''), r.quantity, r.price, COALESCE(r.total_discount, 0),
			COALESCE(r.properties, '[]')
		FROM jsonb_to_recordset($2::jsonb) AS r(shopify_id bigint, order_id bigint, product_id bigint, variant_id bigint,
			title text, variant_title text, sku text, quantity integer, price numeric, total_discount numeric, properties jsonb)
		WHERE EXISTS (SELECT 1 FROM orders o WHERE o.shop_id = $1 AND o.shopify_id = r.order_id)
		ON CONFLICT (shop_id, shopify_id) DO UPDATE SET
			product_id = EXCLUDED.product_id, variant_id = EXCLUDED.variant_id, title = EXCLUDED.title,
			variant_title = EXCLUDED.variant_title, sku = EXCLUDED.sku, quantity = EXCLUDED.quantity,
			price = EXCLUDED.price, total_discount = EXCLUDED.total_discount, properties = EXCLUDED.properties`,
		shopID, doc); err != nil {
		return fmt.Errorf("orders: line items: %w", err)
	}
	return nil
}

// AddRefunds records refunds (refunds/create) and returns the profiles
// whose total spent changed. A refund for an order we don't have yet is
// kept out: the order's own delivery carries its refunds.
func (s *Store) AddRefunds(ctx context.Context, tx *sqlx.Tx, shopID int64, refunds []Refund) ([]int64, error) {
	ids, _, err := s.AddRefundsWritten(ctx, tx, shopID, refunds)
	return ids, err
}

// AddRefundsWritten is AddRefunds that also returns the orders whose
// refunded total changed (Inserted and Fulfilled are false).
func (s *Store) AddRefundsWritten(ctx context.Context, tx *sqlx.Tx, shopID int64, refunds []Refund) ([]int64, []Written, error) {
	for i := range refunds {
		if err := refunds[i].Validate(); err != nil {
			return nil, nil, err
		}
	}
	return s.addRefunds(ctx, tx, shopID, refunds)
}

func (s *Store) addRefunds(ctx context.Context, tx *sqlx.Tx, shopID int64, refunds []Refund) ([]int64, []Written, error) {
	if len(refunds) == 0 {
		return nil, nil, nil
	}
	if err := s.insertRefunds(ctx, tx, shopID, refunds); err != nil {
		return nil, nil, err
	}
	return s.refreshRefundedWritten(ctx, tx, shopID, orderIDs(refunds))
}

// insertRefunds stores refunds of orders we have.
func (s *Store) insertRefunds(ctx context.Context, tx *sqlx.Tx, shopID int64, refunds []Refund) error {
	if len(refunds) == 0 {
		return nil
	}
	doc, err := json.Marshal(refunds)
	if err != nil {
		return fmt.Errorf("orders: refunds: %w", err)
	}
	if _, err := tx.ExecContext(ctx, `
		INSERT INTO refunds (shop_id, shopify_id, order_id, amount, created_at)
		SELECT $1, r.shopify_id, r.order_id, r.amount, r.created_at
		FROM jsonb_to_recordset($2::jsonb) AS r(shopify_id bigint, order_id bigint, amount numeric, created_at timestamptz)
		WHERE EXISTS (SELECT 1 FROM orders o WHERE o.shop_id = $1 AND o.shopify_id = r.order_id)
		ON CONFLICT (shop_id, shopify_id) DO UPDATE SET amount = EXCLUDED.amount, created_at = EXCLUDED.created_at`,
		shopID, doc); err != nil {
		return fmt.Errorf("orders: refunds: %w", err)
	}
	return nil
}

// refreshRefunded recomputes the refunded total of the orders from their
// refunds (never more than the order was worth) and returns their
// profiles. Two refunds of one order processed at the same moment would
// each sum the refunds their snapshot holds and the later would drop the
// other's: the order rows are locked first (ascending), so the sum runs
// after every earlier writer committed (see customers.LockProfiles for the
// same reasoning on profiles).
func (s *Store) refreshRefunded(ctx context.Context, tx *sqlx.Tx, shopID int64, orderIDs []int64) ([]int64, error) {
	ids, _, err := s.refreshRefundedWritten(ctx, tx, shopID, orderIDs)
	return ids, err
}

// refreshRefundedWritten is refreshRefunded that also returns the orders
// whose refunded total changed.
func (s *Store) refreshRefundedWritten(ctx context.Context, tx *sqlx.Tx, shopID int64, orderIDs []int64) ([]int64, []Written, error) {
	if len(orderIDs) == 0 {
		return nil, nil, nil
	}
	if _, err := tx.ExecContext(ctx, `SELECT 1 FROM orders WHERE shop_id = $1 AND shopify_id = ANY($2)
		ORDER BY shopify_id FOR NO KEY UPDATE`, shopID, pq.Array(orderIDs)); err != nil {
		return nil, nil, fmt.Errorf("orders: lock orders: %w", err)
	}
	var changed []Written
	if err := tx.SelectContext(ctx, &changed, `
		UPDATE orders o SET total_refunded = LEAST(o.total_price,
			(SELECT COALESCE(sum(amount), 0) FROM refunds f WHERE f.shop_id = $1 AND f.order_id = o.shopify_id))
		WHERE o.shop_id = $1 AND o.shopify_id = ANY($2)
		  AND o.total_refunded IS DISTINCT FROM LEAST(o.total_price,
			(SELECT COALESCE(sum(amount), 0) FROM refunds f WHERE f.shop_id = $1 AND f.order_id = o.shopify_id))
		RETURNING o.shopify_id, COALESCE(o.customer_id, 0) AS customer_id, false AS inserted, false AS fulfilled`,
		shopID, pq.Array(orderIDs)); err != nil {
		return nil, nil, fmt.Errorf("orders: refunded totals: %w", err)
	}
	ids := make([]int64, 0, len(changed))
	for _, c := range changed {
		if c.CustomerID != 0 {
			ids = append(ids, c.CustomerID)
		}
	}
	return ids, changed, nil
}

func orderIDs(rs []Refund) []int64 {
	ids := make([]int64, 0, len(rs))
	for _, r := range rs {
		ids = append(ids, r.OrderID)
	}
	return ids
}
