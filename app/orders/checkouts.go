package orders

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/jmoiron/sqlx"
	"github.com/lib/pq"
	"github.com/shopspring/decimal"
)

// Checkout is an abandoned checkout (kind "checkout") or a cart ("cart"),
// keyed by its token.
type Checkout struct {
	Token             string          `json:"token"`
	Kind              string          `json:"kind"`
	ShopifyID         int64           `json:"shopify_id"`
	CartToken         string          `json:"cart_token"`
	ShopifyCustomerID int64           `json:"shopify_customer_id"`
	Email             string          `json:"email"`
	Currency          string          `json:"currency"`
	Total             decimal.Decimal `json:"total_price"`
	LineItems         []CheckoutLine  `json:"line_items"`
	RecoveryURL       string          `json:"recovery_url"`
	CreatedAt         *time.Time      `json:"created_at"`
	UpdatedAt         *time.Time      `json:"updated_at"`
	CompletedAt       *time.Time      `json:"completed_at"`
}

// CheckoutLine is what the abandoned-cart emails show.
type CheckoutLine struct {
	ProductID    int64           `json:"product_id"`
	VariantID    int64           `json:"variant_id"`
	Title        string          `json:"title"`
	VariantTitle string          `json:"variant_title"`
	Quantity     int             `json:"quantity"`
	Price        decimal.Decimal `json:"price"`
}

// Validate refuses a checkout without a token or with negative money.
func (c *Checkout) Validate() error {
	if c.Token == "" || len(c.Token) > 255 {
		return fmt.Errorf("%w: checkout without a usable token", ErrInvalid)
	}
	if c.Kind != "checkout" && c.Kind != "cart" {
		return fmt.Errorf("%w: checkout kind %q", ErrInvalid, c.Kind)
	}
	if c.Currency != "" && !ValidCurrency(c.Currency) {
		return fmt.Errorf("%w: checkout %s: unknown currency %q", ErrInvalid, c.Token, c.Currency)
	}
	if c.Total.IsNegative() {
		return fmt.Errorf("%w: checkout %s: negative total", ErrInvalid, c.Token)
	}
	for _, l := range c.LineItems {
		if l.Quantity < 0 || l.Price.IsNegative() {
			return fmt.Errorf("%w: checkout %s: negative quantity or price", ErrInvalid, c.Token)
		}
	}
	return nil
}

// UpsertCheckouts writes checkouts and carts; older deliveries never
// overwrite newer ones, and a completed checkout stays completed.
func (s *Store) UpsertCheckouts(ctx context.Context, tx *sqlx.Tx, shopID int64, batch []Checkout) error {
	_, err := s.UpsertCheckoutsWritten(ctx, tx, shopID, batch)
	return err
}

// CheckoutWritten is a checkout or cart a write stored (or completed).
type CheckoutWritten struct {
	Token      string `db:"token"`
	Kind       string `db:"kind"`
	CustomerID int64  `db:"customer_id"` // 0: nobody known
	Completed  bool   `db:"completed"`   // completed by this write (first time)
}

// UpsertCheckoutsWritten is UpsertCheckouts that also returns the rows it
// wrote (not those skipped as stale).
func (s *Store) UpsertCheckoutsWritten(ctx context.Context, tx *sqlx.Tx, shopID int64, batch []Checkout) ([]CheckoutWritten, error) {
	if len(batch) == 0 {
		return nil, nil
	}
	for i := range batch {
		if err := batch[i].Validate(); err != nil {
			return nil, err
		}
		if batch[i].LineItems == nil {
			batch[i].LineItems = []CheckoutLine{}
		}
	}
	doc, err := json.Marshal(batch)
	if err != nil {
		return nil, fmt.Errorf("orders: checkouts: %w", err)
	}
	var written []CheckoutWritten
	// old (read before the upsert) tells a first completion from a repeat.
	if err := tx.SelectContext(ctx, &written, `
		WITH old AS (
			SELECT k.token, k.completed_at FROM checkouts k
			WHERE k.shop_id = $1 AND k.token IN (SELECT r.token FROM jsonb_to_recordset($2::jsonb) AS r(token text))
		)
		INSERT INTO checkouts AS k (shop_id, token, kind, shopify_id, cart_token, customer_id, shopify_customer_id, email,
			currency, total_price, line_items, recovery_url, shopify_created_at, shopify_updated_at, completed_at)
		SELECT $1, r.token, r.kind, NULLIF(r.shopify_id, 0), COALESCE(r.cart_token, ''),
			(SELECT c.id FROM customers c WHERE c.shop_id = $1 AND (
				c.shopify_id = NULLIF(r.shopify_customer_id, 0)
				OR (NULLIF(r.shopify_customer_id, 0) IS NULL AND r.email <> '' AND lower(c.email) = lower(r.email)))
			 ORDER BY c.shopify_id IS NULL LIMIT 1),
			NULLIF(r.shopify_customer_id, 0), NULLIF(r.email, ''), COALESCE(r.currency, ''), r.total_price,
			r.line_items, COALESCE(r.recovery_url, ''), r.created_at, r.updated_at, r.completed_at
		FROM jsonb_to_recordset($2::jsonb) AS r(token text, kind text, shopify_id bigint, cart_token text,
			shopify_customer_id bigint, email text, currency text, total_price numeric, line_items jsonb,
			recovery_url text, created_at timestamptz, updated_at timestamptz, completed_at timestamptz)
		ON CONFLICT (shop_id, token) DO UPDATE SET
			shopify_id = COALESCE(EXCLUDED.shopify_id, k.shopify_id), cart_token = EXCLUDED.cart_token,
			customer_id = COALESCE(EXCLUDED.customer_id, k.customer_id),
			shopify_customer_id = COALESCE(EXCLUDED.shopify_customer_id, k.shopify_customer_id),
			email = COALESCE(EXCLUDED.email, k.email), currency = EXCLUDED.currency, total_price = EXCLUDED.total_price,
			line_items = EXCLUDED.line_items, recovery_url = COALESCE(NULLIF(EXCLUDED.recovery_url, ''), k.recovery_url),
			shopify_updated_at = EXCLUDED.shopify_updated_at,
			completed_at = COALESCE(k.completed_at, EXCLUDED.completed_at)
		WHERE k.shopify_updated_at IS NULL OR EXCLUDED.shopify_updated_at IS NULL
		   OR EXCLUDED.shopify_updated_at >= k.shopify_updated_at
		RETURNING k.token, k.kind, COALESCE(k.customer_id, 0) AS customer_id,
			k.completed_at IS NOT NULL AND NOT EXISTS (SELECT 1 FROM old WHERE old.token = k.token AND old.completed_at IS NOT NULL) AS completed`,
		shopID, doc); err != nil {
		return nil, fmt.Errorf("orders: checkouts: %w", err)
	}
	return written, nil
}

// CompleteCheckouts marks the checkouts an order came from as completed, so
// abandoned-cart flows stop for them, and returns those it completed.
func (s *Store) CompleteCheckouts(ctx context.Context, tx *sqlx.Tx, shopID int64, tokens []string, at time.Time) ([]CheckoutWritten, error) {
	if len(tokens) == 0 {
		return nil, nil
	}
	var done []CheckoutWritten
	if err := tx.SelectContext(ctx, &done, `
		UPDATE checkouts SET completed_at = $3
		WHERE shop_id = $1 AND completed_at IS NULL AND (token = ANY($2) OR (cart_token <> '' AND cart_token = ANY($2)))
		RETURNING token, kind, COALESCE(customer_id, 0) AS customer_id, true AS completed`,
		shopID, pq.Array(tokens), at); err != nil {
		return nil, fmt.Errorf("orders: complete checkouts: %w", err)
	}
	return done, nil
}
