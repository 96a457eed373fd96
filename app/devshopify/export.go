package devshopify

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"

	"github.com/jmoiron/sqlx"

	"github.com/cartwheel/cartwheel/app/shopify/shopifytest"
)

// The demo shop's store, exported from the database in the JSONL shape of
// Shopify's bulk operations (GraphQL field names, API 2025-10): each
// resource's query in storesync/bulk_queries.go, answered with one line per
// object and nested connections as lines with "__parentId" right after
// their parent. Shopify writes DateTime as ISO 8601 in UTC and money as
// MoneyBag strings; the statements do the same.

// ts formats a timestamptz column as Shopify's DateTime (microseconds kept,
// so a re-import carries exactly the stored updated_at).
func ts(col string) string {
	return `to_char(` + col + ` AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"')`
}

// money is a MoneyBag of an amount column in a currency column.
func money(amount, currency string) string {
	return `json_build_object('shopMoney', json_build_object('amount', ` + amount + `::text, 'currencyCode', ` + currency + `))`
}

// The statements are assembled once from constant fragments (no values):
// every value is a bind parameter.
var (
	productsSQL = `
SELECT line FROM (
	SELECT p.shopify_id AS parent, 0 AS k, 0::bigint AS child, json_build_object(
		'id', 'gid://shopify/Product/' || p.shopify_id, 'title', p.title, 'handle', p.handle, 'vendor', p.vendor,
		'productType', p.product_type, 'tags', p.tags, 'status', upper(p.status),
		'createdAt', ` + ts("p.shopify_created_at") + `, 'updatedAt', ` + ts("p.shopify_updated_at") + `,
		'publishedAt', ` + ts("p.published_at") + `,
		'featuredMedia', CASE WHEN p.image_url = '' THEN NULL
			ELSE json_build_object('preview', json_build_object('image', json_build_object('url', p.image_url))) END
	)::text AS line
	FROM products p WHERE p.shop_id = $1 AND p.deleted_at IS NULL
	UNION ALL
	SELECT v.product_id, 1, v.shopify_id, json_build_object(
		'id', 'gid://shopify/ProductVariant/' || v.shopify_id, 'title', v.title, 'sku', NULLIF(v.sku, ''),
		'price', v.price::text, 'compareAtPrice', v.compare_at_price::text, 'inventoryQuantity', v.inventory_quantity,
		'image', CASE WHEN v.image_url = '' THEN NULL ELSE json_build_object('url', v.image_url) END,
		'__parentId', 'gid://shopify/Product/' || v.product_id
	)::text
	FROM variants v JOIN products p ON p.shop_id = v.shop_id AND p.shopify_id = v.product_id AND p.deleted_at IS NULL
	WHERE v.shop_id = $1
	UNION ALL
	SELECT p.shopify_id, 2, c.shopify_id, json_build_object(
		'id', 'gid://shopify/Collection/' || c.shopify_id, 'title', c.title, 'handle', c.handle,
		'__parentId', 'gid://shopify/Product/' || p.shopify_id
	)::text
	FROM products p CROSS JOIN LATERAL unnest(p.collection_ids) AS pc(id)
	JOIN collections c ON c.shop_id = p.shop_id AND c.shopify_id = pc.id
	WHERE p.shop_id = $1 AND p.deleted_at IS NULL
) x ORDER BY parent, k, child`

	customersSQL = `
SELECT json_build_object(
	'id', 'gid://shopify/Customer/' || shopify_id, 'email', email, 'phone', NULLIF(phone, ''),
	'firstName', NULLIF(first_name, ''), 'lastName', NULLIF(last_name, ''), 'locale', NULLIF(locale, ''), 'tags', tags,
	'createdAt', ` + ts("shopify_created_at") + `, 'updatedAt', ` + ts("shopify_updated_at") + `,
	'emailMarketingConsent', CASE WHEN email IS NULL THEN NULL ELSE json_build_object(
		'marketingState', upper(email_consent), 'marketingOptInLevel', NULLIF(upper(email_opt_in_level), ''),
		'consentUpdatedAt', ` + ts("email_consent_updated_at") + `) END,
	'defaultAddress', CASE WHEN city = '' AND country = '' THEN NULL
		ELSE json_build_object('city', NULLIF(city, ''), 'countryCodeV2', NULLIF(country, ''),
			'provinceCode', NULLIF(province_code, '')) END
)::text
FROM customers
WHERE shop_id = $1 AND shopify_id IS NOT NULL AND deleted_at IS NULL AND email_consent <> 'redacted'
ORDER BY shopify_id`

	ordersSQL = `
SELECT line FROM (
	SELECT o.shopify_id AS parent, 0 AS k, 0::bigint AS child, json_build_object(
		'id', 'gid://shopify/Order/' || o.shopify_id, 'name', o.name, 'email', o.email,
		'createdAt', ` + ts("o.shopify_created_at") + `, 'updatedAt', ` + ts("o.shopify_updated_at") + `,
		'processedAt', ` + ts("o.processed_at") + `, 'cancelledAt', ` + ts("o.cancelled_at") + `,
		'test', o.test, 'currencyCode', o.currency, 'displayFinancialStatus', NULLIF(upper(o.financial_status), ''),
		'sourceName', NULLIF(o.source_name, ''), 'landingPageUrl', NULLIF(o.landing_site, ''),
		'referrerUrl', NULLIF(o.referring_site, ''), 'discountCodes', o.discount_codes,
		'customer', CASE WHEN o.shopify_customer_id IS NULL THEN NULL ELSE json_build_object(
			'id', 'gid://shopify/Customer/' || o.shopify_customer_id, 'email', c.email,
			'firstName', NULLIF(c.first_name, ''), 'lastName', NULLIF(c.last_name, '')) END,
		'subtotalPriceSet', ` + money("o.subtotal_price", "o.currency") + `,
		'totalTaxSet', ` + money("o.total_tax", "o.currency") + `,
		'totalShippingPriceSet', ` + money("o.total_shipping", "o.currency") + `,
		'totalDiscountsSet', ` + money("o.total_discounts", "o.currency") + `,
		'totalPriceSet', ` + money("o.total_price", "o.currency") + `,
		'refunds', COALESCE((
			SELECT json_agg(json_build_object('id', 'gid://shopify/Refund/' || r.shopify_id,
				'createdAt', ` + ts("r.created_at") + `, 'totalRefundedSet', ` + money("r.amount", "o.currency") + `) ORDER BY r.shopify_id)
			FROM refunds r WHERE r.shop_id = o.shop_id AND r.order_id = o.shopify_id), '[]'::json)
	)::text AS line
	FROM orders o LEFT JOIN customers c ON c.id = o.customer_id
	WHERE o.shop_id = $1
	UNION ALL
	SELECT li.order_id, 1, li.shopify_id, json_build_object(
		'id', 'gid://shopify/LineItem/' || li.shopify_id, 'title', li.title,
		'variantTitle', NULLIF(li.variant_title, ''), 'sku', NULLIF(li.sku, ''), 'quantity', li.quantity,
		'originalUnitPriceSet', ` + money("li.price", "o.currency") + `,
		'totalDiscountSet', ` + money("li.total_discount", "o.currency") + `,
		'product', CASE WHEN COALESCE(li.product_id, 0) = 0 THEN NULL
			ELSE json_build_object('id', 'gid://shopify/Product/' || li.product_id) END,
		'variant', CASE WHEN COALESCE(li.variant_id, 0) = 0 THEN NULL
			ELSE json_build_object('id', 'gid://shopify/ProductVariant/' || li.variant_id) END,
		'customAttributes', COALESCE((
			SELECT json_agg(json_build_object('key', a->>'name', 'value', a->>'value'))
			FROM jsonb_array_elements(CASE WHEN jsonb_typeof(li.properties) = 'array' THEN li.properties ELSE '[]' END) a), '[]'::json),
		'__parentId', 'gid://shopify/Order/' || li.order_id
	)::text
	FROM order_line_items li JOIN orders o ON o.shop_id = li.shop_id AND o.shopify_id = li.order_id
	WHERE li.shop_id = $1
) x ORDER BY parent, k, child`

	// Abandoned checkouts carry their token only inside the recovery URL
	// (…/checkouts/{token}/recover?key=…), which is how the import keys
	// them; a stored URL of another shape is rebuilt around the token. A
	// checkout first seen by webhook has no GraphQL id yet: a stable number
	// from the token stands in.
	checkoutsSQL = `
WITH k AS (
	SELECT k.*, COALESCE(k.shopify_id, 1 + abs(hashtext(k.token)::bigint)) AS gid,
		CASE WHEN position('/checkouts/' || k.token || '/' IN k.recovery_url) > 0 THEN k.recovery_url
			ELSE 'https://' || s.domain || '/checkouts/' || k.token || '/recover' END AS url
	FROM checkouts k JOIN shops s ON s.id = k.shop_id
	WHERE k.shop_id = $1 AND k.kind = 'checkout'
)
SELECT line FROM (
	SELECT k.gid AS parent, 0 AS n, json_build_object(
		'id', 'gid://shopify/AbandonedCheckout/' || k.gid, 'abandonedCheckoutUrl', k.url,
		'createdAt', ` + ts("k.shopify_created_at") + `, 'updatedAt', ` + ts("k.shopify_updated_at") + `,
		'completedAt', ` + ts("k.completed_at") + `,
		'customer', CASE WHEN k.shopify_customer_id IS NULL THEN NULL ELSE json_build_object(
			'id', 'gid://shopify/Customer/' || k.shopify_customer_id, 'email', k.email,
			'firstName', NULLIF(c.first_name, ''), 'lastName', NULLIF(c.last_name, '')) END,
		'totalPriceSet', ` + money("k.total_price", "k.currency") + `
	)::text AS line
	FROM k LEFT JOIN customers c ON c.id = k.customer_id
	UNION ALL
	SELECT k.gid, li.n, json_build_object(
		'id', 'gid://shopify/AbandonedCheckoutLineItem/' || (k.gid * 100 + li.n), 'title', li.v->>'title',
		'variantTitle', NULLIF(li.v->>'variant_title', ''), 'quantity', (li.v->>'quantity')::int,
		'originalUnitPriceSet', ` + money("(li.v->>'price')", "k.currency") + `,
		'product', CASE WHEN COALESCE((li.v->>'product_id')::bigint, 0) = 0 THEN NULL
			ELSE json_build_object('id', 'gid://shopify/Product/' || (li.v->>'product_id')) END,
		'variant', CASE WHEN COALESCE((li.v->>'variant_id')::bigint, 0) = 0 THEN NULL
			ELSE json_build_object('id', 'gid://shopify/ProductVariant/' || (li.v->>'variant_id')) END,
		'__parentId', 'gid://shopify/AbandonedCheckout/' || k.gid
	)::text
	FROM k CROSS JOIN LATERAL jsonb_array_elements(CASE WHEN jsonb_typeof(k.line_items) = 'array' THEN k.line_items ELSE '[]' END)
		WITH ORDINALITY AS li(v, n)
) x ORDER BY parent, n`
)

// exports maps a bulk query's root field to its statement.
var exports = map[string]string{
	"products":           productsSQL,
	"customers":          customersSQL,
	"orders":             ordersSQL,
	"abandonedCheckouts": checkoutsSQL,
}

// export reads one resource of the shop as JSONL lines. The demo store is
// small (a few thousand lines), so the lines are held in memory; the
// result is the store as it was when the bulk operation started, as on
// Shopify.
func export(ctx context.Context, d *sqlx.DB, shopID int64, key string) (shopifytest.BulkResult, error) {
	q, ok := exports[key]
	if !ok {
		// Shopify answers an empty export for a connection with no objects;
		// a root field the app never queries is simply empty here too.
		return shopifytest.BulkLines(nil), nil
	}
	var lines []string
	if err := d.SelectContext(ctx, &lines, q, shopID); err != nil {
		return shopifytest.BulkResult{}, fmt.Errorf("devshopify: export %s: %w", key, err)
	}
	// PostgreSQL writes json with spaces around ':'; Shopify's lines are
	// compact, and the import relies on it to find "__parentId" cheaply.
	var buf bytes.Buffer
	for i, l := range lines {
		buf.Reset()
		if err := json.Compact(&buf, []byte(l)); err != nil {
			return shopifytest.BulkResult{}, fmt.Errorf("devshopify: export %s: %w", key, err)
		}
		lines[i] = buf.String()
	}
	return shopifytest.BulkLines(lines), nil
}
