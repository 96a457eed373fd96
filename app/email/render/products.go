package render

import (
	"context"
	"database/sql"
	"fmt"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/jmoiron/sqlx"
	"github.com/lib/pq"
)

// ProductSource loads product blocks' products for one recipient from the
// store's synced data. Every query filters by shop and is parameterised.
// Products that are not active, not published, deleted, or whose tracked
// inventory is all ≤ 0 are skipped (a variant with NULL inventory counts
// as available: Shopify didn't report a quantity).
//
// Shop-wide lists (best sellers, new arrivals, hand-picked) are the same
// for every recipient of a send, so they are cached per shop for CacheTTL.
type ProductSource struct {
	db       *sqlx.DB
	CacheTTL time.Duration

	mu    sync.Mutex
	cache map[cacheKey]cacheEntry
}

type cacheKey struct {
	shopID int64
	key    string
	count  int
}

type cacheEntry struct {
	at       time.Time
	products []Product
}

// NewProductSource returns a ProductSource with a 5-minute cache.
func NewProductSource(db *sqlx.DB) *ProductSource {
	return &ProductSource{db: db, CacheTTL: 5 * time.Minute, cache: map[cacheKey]cacheEntry{}}
}

// Recipient says whose products to load.
type Recipient struct {
	CustomerID int64
	// CheckoutToken picks the checkout an abandoned-cart email is about;
	// empty means the customer's most recently updated open one.
	CheckoutToken string
}

// Loaded is what Load found: products keyed by Need.Key(), and the cart's
// recovery link (empty when there is no open cart).
type Loaded struct {
	Products map[string][]Product
	CartURL  string
}

// Load fills every need of a compiled template.
func (s *ProductSource) Load(ctx context.Context, shopID int64, shop Shop, r Recipient, needs []Need) (Loaded, error) {
	out := Loaded{Products: make(map[string][]Product, len(needs))}
	var cart *cartRow
	loadCart := func() error {
		if cart != nil {
			return nil
		}
		c, err := s.cart(ctx, shopID, r)
		if err != nil {
			return err
		}
		cart = &c
		return nil
	}
	for _, n := range needs {
		var ps []Product
		var err error
		switch n.Source {
		case SourceCart:
			if err = loadCart(); err == nil {
				ps, err = s.cartItems(ctx, shopID, cart)
			}
		case SourceRecentlyViewed:
			ps, err = s.recentlyViewed(ctx, shopID, shop, r.CustomerID, n.Count)
		case SourceBestSellers, SourceNewArrivals, SourceManual:
			ps, err = s.cached(ctx, shopID, shop, n)
		case SourceBoughtTogether:
			if err = loadCart(); err == nil {
				ps, err = s.boughtTogether(ctx, shopID, shop, r.CustomerID, cart, n.Count)
			}
		default:
			err = fmt.Errorf("render: unknown product source %q", n.Source)
		}
		if err != nil {
			return out, err
		}
		if len(ps) > n.Count {
			ps = ps[:n.Count]
		}
		out.Products[n.Key()] = ps
	}
	if cart != nil && safeURL(cart.RecoveryURL) {
		out.CartURL = cart.RecoveryURL
	}
	return out, nil
}

func (s *ProductSource) cached(ctx context.Context, shopID int64, shop Shop, n Need) ([]Product, error) {
	k := cacheKey{shopID: shopID, key: n.Key(), count: n.Count}
	s.mu.Lock()
	e, ok := s.cache[k]
	s.mu.Unlock()
	if ok && time.Since(e.at) < s.CacheTTL {
		return e.products, nil
	}
	var q string
	args := []any{shopID, n.Count}
	switch n.Source {
	case SourceBestSellers:
		q = `WITH sold AS (
			SELECT li.product_id, sum(li.quantity) AS units
			FROM order_line_items li
			JOIN orders o ON o.shop_id = li.shop_id AND o.shopify_id = li.order_id
			WHERE li.shop_id = $1 AND li.product_id IS NOT NULL
			  AND o.processed_at >= now() - interval '30 days'
			  AND o.cancelled_at IS NULL AND NOT o.test
			GROUP BY li.product_id)
		SELECT ` + productCols + ` FROM sold JOIN products p ON p.shop_id = $1 AND p.shopify_id = sold.product_id
		WHERE ` + available + ` ORDER BY sold.units DESC, p.shopify_id LIMIT $2`
	case SourceNewArrivals:
		q = `SELECT ` + productCols + ` FROM products p WHERE p.shop_id = $1 AND ` + available + `
		ORDER BY p.published_at DESC, p.shopify_id DESC LIMIT $2`
	case SourceManual:
		q = `SELECT ` + productCols + ` FROM unnest($3::bigint[]) WITH ORDINALITY AS u(id, ord)
		JOIN products p ON p.shop_id = $1 AND p.shopify_id = u.id
		WHERE ` + available + ` ORDER BY u.ord LIMIT $2`
		args = append(args, pq.Array(n.ProductIDs))
	}
	ps, err := s.products(ctx, shop, q, args...)
	if err != nil {
		return nil, err
	}
	s.mu.Lock()
	if len(s.cache) > 10000 {
		clear(s.cache)
	}
	s.cache[k] = cacheEntry{at: time.Now(), products: ps}
	s.mu.Unlock()
	return ps, nil
}

// available is the condition a product (alias p) must meet to be shown.
const available = `p.status = 'active' AND p.deleted_at IS NULL
	AND p.published_at IS NOT NULL AND p.published_at <= now()
	AND (NOT EXISTS (SELECT 1 FROM variants v WHERE v.shop_id = p.shop_id AND v.product_id = p.shopify_id)
	     OR EXISTS (SELECT 1 FROM variants v WHERE v.shop_id = p.shop_id AND v.product_id = p.shopify_id
	                AND (v.inventory_quantity IS NULL OR v.inventory_quantity > 0)))`

const productCols = `p.shopify_id, p.title, p.handle, p.image_url, COALESCE(p.price_min::text, '')`

func (s *ProductSource) products(ctx context.Context, shop Shop, q string, args ...any) ([]Product, error) {
	rows, err := s.db.QueryContext(ctx, q, args...)
	if err != nil {
		return nil, fmt.Errorf("render: load products: %w", err)
	}
	defer rows.Close()
	var out []Product
	for rows.Next() {
		var p Product
		var handle, price string
		if err := rows.Scan(&p.ID, &p.Title, &handle, &p.ImageURL, &price); err != nil {
			return nil, fmt.Errorf("render: load products: %w", err)
		}
		p.URL = productURL(shop.URL, handle)
		if price != "" {
			p.Price = FormatMoney(price, shop.Currency)
		}
		out = append(out, p)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("render: load products: %w", err)
	}
	return out, nil
}

func productURL(shopURL, handle string) string {
	if shopURL == "" {
		return ""
	}
	if handle == "" {
		return shopURL
	}
	return strings.TrimRight(shopURL, "/") + "/products/" + url.PathEscape(handle)
}

type cartRow struct {
	Token       string
	RecoveryURL string
	Currency    string
	found       bool
}

func (s *ProductSource) cart(ctx context.Context, shopID int64, r Recipient) (cartRow, error) {
	var c cartRow
	if r.CheckoutToken == "" && r.CustomerID == 0 {
		return c, nil
	}
	err := s.db.QueryRowContext(ctx, `SELECT token, recovery_url, currency FROM checkouts
		WHERE shop_id = $1 AND completed_at IS NULL
		  AND (($2 <> '' AND token = $2) OR ($2 = '' AND customer_id = $3))
		ORDER BY shopify_updated_at DESC NULLS LAST LIMIT 1`, shopID, r.CheckoutToken, r.CustomerID).
		Scan(&c.Token, &c.RecoveryURL, &c.Currency)
	if err == sql.ErrNoRows {
		return c, nil
	}
	if err != nil {
		return c, fmt.Errorf("render: load cart: %w", err)
	}
	c.found = true
	return c, nil
}

// cartItems are the checkout's line items that can still be bought, in
// the checkout's order, each linking to the recovery URL.
func (s *ProductSource) cartItems(ctx context.Context, shopID int64, c *cartRow) ([]Product, error) {
	if !c.found {
		return nil, nil
	}
	rows, err := s.db.QueryContext(ctx, `SELECT p.shopify_id, COALESCE(NULLIF(li.item->>'title', ''), p.title),
			COALESCE(li.item->>'variant_title', ''), COALESCE(NULLIF(v.image_url, ''), p.image_url),
			COALESCE(li.item->>'price', ''), COALESCE((li.item->>'quantity')::int, 1)
		FROM checkouts c
		CROSS JOIN LATERAL jsonb_array_elements(c.line_items) WITH ORDINALITY AS li(item, ord)
		JOIN products p ON p.shop_id = c.shop_id AND p.shopify_id = (li.item->>'product_id')::bigint
		LEFT JOIN variants v ON v.shop_id = c.shop_id AND v.shopify_id = (li.item->>'variant_id')::bigint
		WHERE c.shop_id = $1 AND c.token = $2
		  AND jsonb_typeof(c.line_items) = 'array'
		  AND (li.item->>'product_id') ~ '^[0-9]{1,18}$'
		  AND (v.shopify_id IS NULL OR v.inventory_quantity IS NULL OR v.inventory_quantity > 0)
		  AND `+available+`
		ORDER BY li.ord`, shopID, c.Token)
	if err != nil {
		return nil, fmt.Errorf("render: load cart items: %w", err)
	}
	defer rows.Close()
	var out []Product
	for rows.Next() {
		var p Product
		var price string
		if err := rows.Scan(&p.ID, &p.Title, &p.VariantTitle, &p.ImageURL, &price, &p.Quantity); err != nil {
			return nil, fmt.Errorf("render: load cart items: %w", err)
		}
		if p.VariantTitle == "Default Title" {
			p.VariantTitle = ""
		}
		if price != "" {
			p.Price = FormatMoney(price, c.Currency)
		}
		if safeURL(c.RecoveryURL) {
			p.URL = c.RecoveryURL
		}
		out = append(out, p)
	}
	return out, rows.Err()
}

func (s *ProductSource) recentlyViewed(ctx context.Context, shopID int64, shop Shop, customerID int64, n int) ([]Product, error) {
	if customerID == 0 {
		return nil, nil
	}
	return s.products(ctx, shop, `WITH viewed AS (
			SELECT e.pid::bigint AS pid, max(e.occurred_at) AS at
			FROM (SELECT regexp_replace(data->'productVariant'->'product'->>'id', '^.*/', '') AS pid, occurred_at
			      FROM events
			      WHERE shop_id = $1 AND customer_id = $3 AND name = 'product_viewed'
			        AND occurred_at >= now() - interval '30 days') e
			WHERE e.pid ~ '^[0-9]{1,18}$'
			GROUP BY 1)
		SELECT `+productCols+` FROM viewed JOIN products p ON p.shop_id = $1 AND p.shopify_id = viewed.pid
		WHERE `+available+` ORDER BY viewed.at DESC LIMIT $2`, shopID, n, customerID)
}

// boughtTogether recommends products often ordered with the recipient's
// open cart or, without one, their latest order; never one of those.
func (s *ProductSource) boughtTogether(ctx context.Context, shopID int64, shop Shop, customerID int64, c *cartRow, n int) ([]Product, error) {
	var anchors []int64
	var err error
	if c.found {
		err = s.db.SelectContext(ctx, &anchors, `SELECT DISTINCT (li->>'product_id')::bigint FROM checkouts c,
			jsonb_array_elements(CASE WHEN jsonb_typeof(c.line_items) = 'array' THEN c.line_items ELSE '[]' END) li
			WHERE c.shop_id = $1 AND c.token = $2 AND (li->>'product_id') ~ '^[0-9]{1,18}$'`, shopID, c.Token)
	} else if customerID != 0 {
		err = s.db.SelectContext(ctx, &anchors, `SELECT DISTINCT li.product_id FROM order_line_items li
			WHERE li.shop_id = $1 AND li.product_id IS NOT NULL AND li.order_id = (
				SELECT o.shopify_id FROM orders o WHERE o.shop_id = $1 AND o.customer_id = $2
				ORDER BY o.processed_at DESC NULLS LAST LIMIT 1)`, shopID, customerID)
	}
	if err != nil {
		return nil, fmt.Errorf("render: load bought-together anchors: %w", err)
	}
	if len(anchors) == 0 {
		return nil, nil
	}
	return s.products(ctx, shop, `WITH rec AS (
			SELECT pp.other_id, sum(pp.orders) AS score FROM product_pairs pp
			WHERE pp.shop_id = $1 AND pp.product_id = ANY($3::bigint[]) AND NOT (pp.other_id = ANY($3::bigint[]))
			GROUP BY pp.other_id)
		SELECT `+productCols+` FROM rec JOIN products p ON p.shop_id = $1 AND p.shopify_id = rec.other_id
		WHERE `+available+` ORDER BY rec.score DESC, p.shopify_id LIMIT $2`, shopID, n, pq.Array(anchors))
}

var currencySymbols = map[string]string{
	"USD": "$", "CAD": "CA$", "AUD": "A$", "NZD": "NZ$", "EUR": "€", "GBP": "£", "JPY": "¥", "CNY": "¥",
	"HKD": "HK$", "SGD": "S$", "INR": "₹", "KRW": "₩", "TWD": "NT$",
}

// FormatMoney prints a decimal amount ("19.9") in a currency ("USD") the
// way shoppers read it ("$19.90"); unknown currencies get the code after.
func FormatMoney(amount, currency string) string {
	amount = strings.TrimSpace(amount)
	whole, frac, _ := strings.Cut(amount, ".")
	switch {
	case currency == "JPY" || currency == "KRW":
		amount = whole
	case len(frac) == 0:
		amount = whole + ".00"
	case len(frac) == 1:
		amount = whole + "." + frac + "0"
	default:
		amount = whole + "." + frac[:2]
	}
	if sym, ok := currencySymbols[currency]; ok {
		return sym + amount
	}
	if currency == "" {
		return amount
	}
	return amount + " " + currency
}
