// Package catalog keeps the store's products, variants and collections:
// product blocks in emails and "bought from collection Y" segments read them.
package catalog

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/jmoiron/sqlx"
	"github.com/lib/pq"
	"github.com/shopspring/decimal"
)

// ErrInvalid wraps every reason a product is refused.
var ErrInvalid = errors.New("invalid product")

// Store is the storage for the catalog.
type Store struct{ db *sqlx.DB }

// NewStore returns a Store.
func NewStore(db *sqlx.DB) *Store { return &Store{db: db} }

// Product is a product as Shopify describes it.
type Product struct {
	ShopifyID   int64      `json:"shopify_id"`
	Title       string     `json:"title"`
	Handle      string     `json:"handle"`
	Vendor      string     `json:"vendor"`
	ProductType string     `json:"product_type"`
	Tags        []string   `json:"tags"`
	Status      string     `json:"status"` // active, draft, archived
	ImageURL    string     `json:"image_url"`
	PublishedAt *time.Time `json:"published_at"`
	CreatedAt   *time.Time `json:"created_at"`
	UpdatedAt   *time.Time `json:"updated_at"`
	// CollectionIDs is nil when the source doesn't say (webhooks), which
	// keeps the stored collections.
	CollectionIDs []int64   `json:"collection_ids"`
	Variants      []Variant `json:"-"`
	// VariantsComplete says Variants is the whole list (a webhook), so
	// stored variants missing from it are removed.
	VariantsComplete bool `json:"-"`
}

// Variant is one purchasable version of a product.
type Variant struct {
	ShopifyID         int64            `json:"shopify_id"`
	ProductID         int64            `json:"product_id"`
	Title             string           `json:"title"`
	SKU               string           `json:"sku"`
	Price             *decimal.Decimal `json:"price"`
	CompareAtPrice    *decimal.Decimal `json:"compare_at_price"`
	InventoryQuantity *int             `json:"inventory_quantity"`
	ImageURL          string           `json:"image_url"`
}

// Collection is a custom or smart collection.
type Collection struct {
	ShopifyID int64  `json:"shopify_id"`
	Title     string `json:"title"`
	Handle    string `json:"handle"`
}

func (p *Product) validate() error {
	if p.ShopifyID <= 0 {
		return fmt.Errorf("%w: product has no id", ErrInvalid)
	}
	for _, v := range p.Variants {
		if v.ShopifyID <= 0 || (v.Price != nil && v.Price.IsNegative()) {
			return fmt.Errorf("%w: product %d: variant without id or with a negative price", ErrInvalid, p.ShopifyID)
		}
	}
	return nil
}

// Upsert writes products with their variants; older data never overwrites
// newer. Price range is derived from the variants. A product whose
// CollectionIDs is nil keeps its stored collections (webhooks don't carry
// them); an import sets them.
func (s *Store) Upsert(ctx context.Context, tx *sqlx.Tx, shopID int64, batch []Product) error {
	if len(batch) == 0 {
		return nil
	}
	var known, unknown []Product
	var variants []Variant
	var complete []int64
	for _, p := range batch { // copies: the caller's slice is left as it was
		if err := p.validate(); err != nil {
			return err
		}
		if p.Tags == nil {
			p.Tags = []string{}
		}
		if p.Status == "" {
			p.Status = "active"
		}
		for _, v := range p.Variants {
			v.ProductID = p.ShopifyID
			variants = append(variants, v)
		}
		if p.VariantsComplete {
			complete = append(complete, p.ShopifyID)
		}
		if p.CollectionIDs != nil {
			known = append(known, p)
		} else {
			unknown = append(unknown, p)
		}
	}
	var applied []int64
	for _, group := range []struct {
		rows       []Product
		setColumns bool
	}{{known, true}, {unknown, false}} {
		if len(group.rows) == 0 {
			continue
		}
		doc, err := json.Marshal(group.rows)
		if err != nil {
			return fmt.Errorf("catalog: upsert: %w", err)
		}
		var ids []int64
		if err := tx.SelectContext(ctx, &ids, qUpsertProducts, shopID, doc, group.setColumns); err != nil {
			return fmt.Errorf("catalog: upsert: %w", err)
		}
		applied = append(applied, ids...)
	}
	if err := s.UpsertVariants(ctx, tx, shopID, variants); err != nil {
		return err
	}
	if len(complete) > 0 {
		keep := make([]int64, 0, len(variants))
		for _, v := range variants {
			keep = append(keep, v.ShopifyID)
		}
		if _, err := tx.ExecContext(ctx, `DELETE FROM variants WHERE shop_id = $1 AND product_id = ANY($2) AND NOT (shopify_id = ANY($3))`,
			shopID, pq.Array(complete), pq.Array(keep)); err != nil {
			return fmt.Errorf("catalog: prune variants: %w", err)
		}
	}
	return s.refreshPrices(ctx, tx, shopID, applied)
}

// $3 says whether the rows carry their collections.
const qUpsertProducts = `
INSERT INTO products AS p (shop_id, shopify_id, title, handle, vendor, product_type, tags, status, image_url,
	collection_ids, published_at, shopify_created_at, shopify_updated_at, deleted_at)
SELECT $1, r.shopify_id, COALESCE(r.title, ''), COALESCE(r.handle, ''), COALESCE(r.vendor, ''),
	COALESCE(r.product_type, ''), COALESCE(r.tags, '{}'), lower(r.status), COALESCE(r.image_url, ''),
	COALESCE(r.collection_ids, '{}'), r.published_at, r.created_at, r.updated_at, NULL
FROM jsonb_to_recordset($2::jsonb) AS r(shopify_id bigint, title text, handle text, vendor text,
	product_type text, tags text[], status text, image_url text, collection_ids bigint[],
	published_at timestamptz, created_at timestamptz, updated_at timestamptz)
ON CONFLICT (shop_id, shopify_id) DO UPDATE SET
	title = EXCLUDED.title, handle = EXCLUDED.handle, vendor = EXCLUDED.vendor,
	product_type = EXCLUDED.product_type, tags = EXCLUDED.tags, status = EXCLUDED.status,
	image_url = EXCLUDED.image_url, published_at = EXCLUDED.published_at,
	collection_ids = CASE WHEN $3 THEN EXCLUDED.collection_ids ELSE p.collection_ids END,
	shopify_created_at = EXCLUDED.shopify_created_at, shopify_updated_at = EXCLUDED.shopify_updated_at,
	deleted_at = NULL
WHERE p.shopify_updated_at IS NULL OR EXCLUDED.shopify_updated_at IS NULL
   OR EXCLUDED.shopify_updated_at >= p.shopify_updated_at
RETURNING p.shopify_id`

// UpsertVariants writes variants of products already stored.
func (s *Store) UpsertVariants(ctx context.Context, tx *sqlx.Tx, shopID int64, variants []Variant) error {
	if len(variants) == 0 {
		return nil
	}
	doc, err := json.Marshal(variants)
	if err != nil {
		return fmt.Errorf("catalog: variants: %w", err)
	}
	if _, err := tx.ExecContext(ctx, `
		INSERT INTO variants (shop_id, shopify_id, product_id, title, sku, price, compare_at_price, inventory_quantity, image_url)
		SELECT $1, r.shopify_id, r.product_id, COALESCE(r.title, ''), COALESCE(r.sku, ''), r.price, r.compare_at_price,
			r.inventory_quantity, COALESCE(r.image_url, '')
		FROM jsonb_to_recordset($2::jsonb) AS r(shopify_id bigint, product_id bigint, title text, sku text,
			price numeric, compare_at_price numeric, inventory_quantity integer, image_url text)
		WHERE EXISTS (SELECT 1 FROM products p WHERE p.shop_id = $1 AND p.shopify_id = r.product_id)
		ON CONFLICT (shop_id, shopify_id) DO UPDATE SET
			product_id = EXCLUDED.product_id, title = EXCLUDED.title, sku = EXCLUDED.sku, price = EXCLUDED.price,
			compare_at_price = EXCLUDED.compare_at_price, inventory_quantity = EXCLUDED.inventory_quantity,
			image_url = EXCLUDED.image_url`, shopID, doc); err != nil {
		return fmt.Errorf("catalog: variants: %w", err)
	}
	return nil
}

func (s *Store) refreshPrices(ctx context.Context, tx *sqlx.Tx, shopID int64, productIDs []int64) error {
	if len(productIDs) == 0 {
		return nil
	}
	if _, err := tx.ExecContext(ctx, `
		UPDATE products p SET price_min = v.lo, price_max = v.hi
		FROM (SELECT product_id, min(price) AS lo, max(price) AS hi FROM variants
		      WHERE shop_id = $1 AND product_id = ANY($2) GROUP BY product_id) v
		WHERE p.shop_id = $1 AND p.shopify_id = v.product_id`, shopID, pq.Array(productIDs)); err != nil {
		return fmt.Errorf("catalog: prices: %w", err)
	}
	return nil
}

// RefreshAllPrices derives every product's price range (after an import
// that streamed variants separately).
func (s *Store) RefreshAllPrices(ctx context.Context, shopID int64) error {
	if _, err := s.db.ExecContext(ctx, `
		UPDATE products p SET price_min = v.lo, price_max = v.hi
		FROM (SELECT product_id, min(price) AS lo, max(price) AS hi FROM variants WHERE shop_id = $1 GROUP BY product_id) v
		WHERE p.shop_id = $1 AND p.shopify_id = v.product_id`, shopID); err != nil {
		return fmt.Errorf("catalog: prices: %w", err)
	}
	return nil
}

// UpsertCollections writes collections.
func (s *Store) UpsertCollections(ctx context.Context, tx *sqlx.Tx, shopID int64, cs []Collection) error {
	if len(cs) == 0 {
		return nil
	}
	doc, err := json.Marshal(cs)
	if err != nil {
		return fmt.Errorf("catalog: collections: %w", err)
	}
	if _, err := tx.ExecContext(ctx, `
		INSERT INTO collections (shop_id, shopify_id, title, handle)
		SELECT $1, r.shopify_id, COALESCE(r.title, ''), COALESCE(r.handle, '')
		FROM jsonb_to_recordset($2::jsonb) AS r(shopify_id bigint, title text, handle text)
		ON CONFLICT (shop_id, shopify_id) DO UPDATE SET title = EXCLUDED.title, handle = EXCLUDED.handle`,
		shopID, doc); err != nil {
		return fmt.Errorf("catalog: collections: %w", err)
	}
	return nil
}

// MarkDeleted soft-deletes a product (products/delete): order history
// still names it, emails stop showing it.
func (s *Store) MarkDeleted(ctx context.Context, tx *sqlx.Tx, shopID, shopifyID int64, at time.Time) error {
	if _, err := tx.ExecContext(ctx, `
		UPDATE products SET deleted_at = $3
		WHERE shop_id = $1 AND shopify_id = $2 AND (shopify_updated_at IS NULL OR shopify_updated_at <= $3)`,
		shopID, shopifyID, at); err != nil {
		return fmt.Errorf("catalog: delete %d: %w", shopifyID, err)
	}
	return nil
}

// Choice is a product or collection offered by a picker.
type Choice struct {
	ID    int64  `db:"shopify_id" json:"id"`
	Title string `db:"title" json:"title"`
}

// Picker kinds.
const (
	KindProduct    = "product"
	KindCollection = "collection"
)

// SearchLimit is how many choices Search returns at most.
const SearchLimit = 20

// Search finds the shop's products or collections whose title contains q
// (case-insensitive; all when q is empty), by title, at most SearchLimit.
// Deleted products are left out.
func (s *Store) Search(ctx context.Context, shopID int64, kind, q string) ([]Choice, error) {
	like := "%" + escapeLike(strings.TrimSpace(q)) + "%"
	var query string
	switch kind {
	case KindProduct:
		query = `SELECT shopify_id, title FROM products WHERE shop_id = $1 AND deleted_at IS NULL AND title ILIKE $2
			ORDER BY title, shopify_id LIMIT $3`
	case KindCollection:
		query = `SELECT shopify_id, title FROM collections WHERE shop_id = $1 AND title ILIKE $2
			ORDER BY title, shopify_id LIMIT $3`
	default:
		return nil, fmt.Errorf("%w: unknown picker kind %q", ErrInvalid, kind)
	}
	out := []Choice{}
	if err := s.db.SelectContext(ctx, &out, query, shopID, like, SearchLimit); err != nil {
		return nil, fmt.Errorf("catalog: search %ss: %w", kind, err)
	}
	return out, nil
}

// Titles returns the titles of the shop's products or collections with the
// given ids (ids it doesn't know are absent), deleted products included:
// a saved segment may still name them.
func (s *Store) Titles(ctx context.Context, shopID int64, kind string, ids []int64) (map[int64]string, error) {
	out := map[int64]string{}
	if len(ids) == 0 {
		return out, nil
	}
	table := "products"
	switch kind {
	case KindProduct:
	case KindCollection:
		table = "collections"
	default:
		return nil, fmt.Errorf("%w: unknown picker kind %q", ErrInvalid, kind)
	}
	var rows []Choice
	if err := s.db.SelectContext(ctx, &rows, "SELECT shopify_id, title FROM "+table+" WHERE shop_id = $1 AND shopify_id = ANY($2)",
		shopID, pq.Int64Array(ids)); err != nil {
		return nil, fmt.Errorf("catalog: %s titles: %w", kind, err)
	}
	for _, r := range rows {
		out[r.ID] = r.Title
	}
	return out, nil
}

func escapeLike(s string) string {
	return strings.NewReplacer(`\`, `\\`, `%`, `\%`, `_`, `\_`).Replace(s)
}

// ProductCard is a product as the email editor's picker shows it.
type ProductCard struct {
	ID       int64  `db:"shopify_id"`
	Title    string `db:"title"`
	ImageURL string `db:"image_url"`
	PriceMin string `db:"price_min"` // decimal text, "" when unknown
	PriceMax string `db:"price_max"`
}

// SearchProducts is Search for the email editor: the shop's live products
// whose title contains q, with their image and price range.
func (s *Store) SearchProducts(ctx context.Context, shopID int64, q string) ([]ProductCard, error) {
	like := "%" + escapeLike(strings.TrimSpace(q)) + "%"
	out := []ProductCard{}
	err := s.db.SelectContext(ctx, &out, `SELECT shopify_id, title, image_url,
			COALESCE(price_min::text, '') AS price_min, COALESCE(price_max::text, '') AS price_max
		FROM products WHERE shop_id = $1 AND deleted_at IS NULL AND status = 'active' AND title ILIKE $2
		ORDER BY lower(title), shopify_id LIMIT $3`, shopID, like, SearchLimit)
	if err != nil {
		return nil, fmt.Errorf("catalog: search product cards: %w", err)
	}
	return out, nil
}

// ProductCards returns the shop's products with these ids (deleted ones
// included, so a template can show what it still names), in ids order.
func (s *Store) ProductCards(ctx context.Context, shopID int64, ids []int64) ([]ProductCard, error) {
	if len(ids) == 0 {
		return nil, nil
	}
	var rows []ProductCard
	err := s.db.SelectContext(ctx, &rows, `SELECT shopify_id, title, image_url,
			COALESCE(price_min::text, '') AS price_min, COALESCE(price_max::text, '') AS price_max
		FROM products WHERE shop_id = $1 AND shopify_id = ANY($2)`, shopID, pq.Int64Array(ids))
	if err != nil {
		return nil, fmt.Errorf("catalog: product cards: %w", err)
	}
	byID := make(map[int64]ProductCard, len(rows))
	for _, r := range rows {
		byID[r.ID] = r
	}
	out := make([]ProductCard, 0, len(rows))
	for _, id := range ids {
		if r, ok := byID[id]; ok {
			out = append(out, r)
		}
	}
	return out, nil
}
