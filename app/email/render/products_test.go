package render_test

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/jmoiron/sqlx"

	"github.com/cartwheel/cartwheel/app/db/dbtest"
	"github.com/cartwheel/cartwheel/app/email/render"
)

func exec(t *testing.T, d *sqlx.DB, q string, args ...any) {
	t.Helper()
	if _, err := d.Exec(q, args...); err != nil {
		t.Fatalf("%v\n%s", err, q)
	}
}

// seed builds two shops whose product ids overlap, so any query missing
// its shop filter shows up.
func seed(t *testing.T, d *sqlx.DB) (shopA, shopB, custA, custB int64) {
	d.Get(&shopA, `INSERT INTO shops (domain, currency) VALUES ('a.myshopify.com', 'EUR') RETURNING id`)
	d.Get(&shopB, `INSERT INTO shops (domain) VALUES ('b.myshopify.com') RETURNING id`)
	d.Get(&custA, `INSERT INTO customers (shop_id, email, first_name) VALUES ($1, 'ada@example.com', 'Ada') RETURNING id`, shopA)
	d.Get(&custB, `INSERT INTO customers (shop_id, email, first_name) VALUES ($1, 'bob@example.com', 'Bob') RETURNING id`, shopB)

	exec(t, d, `INSERT INTO products (shop_id, shopify_id, title, handle, status, image_url, price_min, published_at, deleted_at) VALUES
		($1, 1, 'Rain boots', 'rain-boots', 'active', 'https://cdn.example/1.jpg', 79, now() - interval '10 days', NULL),
		($1, 2, 'Wool socks', 'wool-socks', 'active', 'https://cdn.example/2.jpg', 12.5, now() - interval '5 days', NULL),
		($1, 3, 'Umbrella (sold out)', 'umbrella', 'active', 'https://cdn.example/3.jpg', 25, now() - interval '1 day', NULL),
		($1, 4, 'Draft hat', 'hat', 'draft', '', 30, now() - interval '1 day', NULL),
		($1, 5, 'Unpublished scarf', 'scarf', 'active', '', 40, NULL, NULL),
		($1, 6, 'Raincoat', 'raincoat', 'active', 'https://cdn.example/6.jpg', 120, now() - interval '2 days', NULL),
		($1, 7, 'Deleted gloves', 'gloves', 'active', '', 15, now() - interval '3 days', now()),
		($1, 8, 'Old mug', 'mug', 'active', '', 9, now() - interval '400 days', NULL),
		($2, 1, 'Other shop boots', 'b-boots', 'active', '', 1, now() - interval '1 hour', NULL),
		($2, 9, 'Other shop newest', 'b-new', 'active', '', 1, now(), NULL)`, shopA, shopB)
	exec(t, d, `INSERT INTO variants (shop_id, shopify_id, product_id, title, inventory_quantity, image_url) VALUES
		($1, 11, 1, 'Yellow / 38', 5, 'https://cdn.example/11.jpg'), ($1, 12, 1, 'Red / 39', 0, ''),
		($1, 21, 2, 'Default Title', NULL, ''),
		($1, 31, 3, 'Default Title', 0, ''), ($1, 32, 3, 'Big', -2, ''),
		($1, 61, 6, 'M', 3, '')`, shopA)
	exec(t, d, `INSERT INTO checkouts (shop_id, token, kind, customer_id, currency, line_items, recovery_url, shopify_updated_at, completed_at) VALUES
		($1, 'cart-open', 'checkout', $2, 'EUR', '[
			{"product_id": 1, "variant_id": 11, "title": "Rain boots", "variant_title": "Yellow / 38", "quantity": 1, "price": "79.00"},
			{"product_id": 3, "variant_id": 31, "title": "Umbrella", "variant_title": "", "quantity": 1, "price": "25.00"},
			{"product_id": 5, "variant_id": 51, "title": "Scarf", "variant_title": "", "quantity": 1, "price": "40.00"},
			{"product_id": 1, "variant_id": 12, "title": "Rain boots", "variant_title": "Red / 39", "quantity": 1, "price": "79.00"},
			{"product_id": 2, "variant_id": 21, "title": "Wool socks", "variant_title": "Default Title", "quantity": 2, "price": "12.5"}
		]', 'https://a.myshopify.com/123/checkouts/abc/recover?key=k1', now() - interval '1 day', NULL),
		($1, 'cart-done', 'checkout', $2, 'EUR', '[{"product_id": 6, "variant_id": 61, "quantity": 1, "price": "120"}]',
		 'https://a.myshopify.com/old', now(), now()),
		($3, 'cart-b', 'checkout', $4, 'USD', '[{"product_id": 1, "quantity": 1, "price": "1"}]', 'https://b.myshopify.com/r', now(), NULL)`,
		shopA, custA, shopB, custB)
	exec(t, d, `INSERT INTO orders (shop_id, shopify_id, customer_id, processed_at, cancelled_at, test) VALUES
		($1, 100, $2, now() - interval '3 days', NULL, false),
		($1, 101, NULL, now() - interval '4 days', NULL, false),
		($1, 102, NULL, now() - interval '5 days', NULL, false),
		($1, 103, NULL, now() - interval '60 days', NULL, false),
		($1, 104, NULL, now() - interval '1 days', now(), false),
		($1, 105, NULL, now() - interval '1 days', NULL, true),
		($3, 200, NULL, now() - interval '1 days', NULL, false)`, shopA, custA, shopB)
	exec(t, d, `INSERT INTO order_line_items (shop_id, shopify_id, order_id, product_id, quantity) VALUES
		($1, 1001, 100, 1, 1), ($1, 1002, 100, 6, 1),
		($1, 1011, 101, 1, 1), ($1, 1012, 101, 6, 1), ($1, 1013, 101, 2, 1),
		($1, 1021, 102, 2, 10),
		($1, 1031, 103, 8, 100),
		($1, 1041, 104, 4, 100), ($1, 1042, 104, 8, 100),
		($1, 1051, 105, 8, 100),
		($2, 2001, 200, 1, 1000), ($2, 2002, 200, 9, 1000)`, shopA, shopB)
	exec(t, d, `INSERT INTO events (shop_id, event_id, customer_id, name, occurred_at, source, data) VALUES
		($1, 'e1', $2, 'product_viewed', now() - interval '1 hour', 'pixel', '{"productVariant": {"id": "61", "product": {"id": "gid://shopify/Product/6"}}}'),
		($1, 'e2', $2, 'product_viewed', now() - interval '2 hours', 'pixel', '{"productVariant": {"id": "21", "product": {"id": "2"}}}'),
		($1, 'e3', $2, 'product_viewed', now() - interval '3 hours', 'pixel', '{"productVariant": {"id": "31", "product": {"id": "3"}}}'),
		($1, 'e4', $2, 'product_viewed', now() - interval '4 hours', 'pixel', '{"productVariant": {"id": "x", "product": {"id": "not-a-number"}}}'),
		($1, 'e5', $2, 'product_viewed', now() - interval '5 hours', 'pixel', '{"productVariant": {"id": "21", "product": {"id": "2"}}}'),
		($3, 'e6', $4, 'product_viewed', now() - interval '1 hour', 'pixel', '{"productVariant": {"id": "1", "product": {"id": "9"}}}')`,
		shopA, custA, shopB, custB)
	return
}

func titles(ps []render.Product) string {
	var s []string
	for _, p := range ps {
		s = append(s, p.Title)
	}
	return strings.Join(s, ", ")
}

func TestProductSource(t *testing.T) {
	d := dbtest.New(t)
	ctx := context.Background()
	shopA, shopB, custA, custB := seed(t, d)
	if err := render.RefreshPairs(ctx, d, shopA); err != nil {
		t.Fatal(err)
	}
	if err := render.RefreshPairs(ctx, d, shopB); err != nil {
		t.Fatal(err)
	}
	var pairs int
	d.Get(&pairs, `SELECT orders FROM product_pairs WHERE shop_id = $1 AND product_id = 1 AND other_id = 6`, shopA)
	if pairs != 2 {
		t.Errorf("pair 1-6 counted %d orders, want 2", pairs)
	}

	src := render.NewProductSource(d)
	shop := render.Shop{Name: "A", URL: "https://a.example", PostalAddress: "1 Main St", Currency: "EUR"}
	needs := []render.Need{
		{Source: render.SourceCart, Count: 10},
		{Source: render.SourceRecentlyViewed, Count: 10},
		{Source: render.SourceBestSellers, Count: 10},
		{Source: render.SourceNewArrivals, Count: 10},
		{Source: render.SourceBoughtTogether, Count: 10},
		{Source: render.SourceManual, Count: 10, ProductIDs: []int64{8, 4, 9, 1}},
	}
	got, err := src.Load(ctx, shopA, shop, render.Recipient{CustomerID: custA}, needs)
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]string{
		"cart":             "Rain boots, Wool socks",
		"recently_viewed":  "Raincoat, Wool socks",
		"best_sellers_30d": "Wool socks, Rain boots, Raincoat",
		"new_arrivals":     "Raincoat, Wool socks, Rain boots, Old mug",
		"bought_together":  "Raincoat",
		"manual:8,4,9,1":   "Old mug, Rain boots",
	}
	for k, w := range want {
		if g := titles(got.Products[k]); g != w {
			t.Errorf("%s = %q, want %q", k, g, w)
		}
	}
	recovery := "https://a.myshopify.com/123/checkouts/abc/recover?key=k1"
	if got.CartURL != recovery {
		t.Errorf("cart URL = %q", got.CartURL)
	}
	cart := got.Products["cart"]
	if len(cart) == 2 && (cart[0].URL != recovery || cart[0].ImageURL != "https://cdn.example/11.jpg" || cart[0].Price != "€79.00" ||
		cart[0].VariantTitle != "Yellow / 38" || cart[1].Quantity != 2 || cart[1].VariantTitle != "" || cart[1].Price != "€12.50") {
		t.Errorf("cart items %+v", cart)
	}
	if p := got.Products["new_arrivals"][0]; p.URL != "https://a.example/products/raincoat" || p.Price != "€120.00" {
		t.Errorf("product %+v", p)
	}

	// Shop B sees only its own data.
	gotB, err := src.Load(ctx, shopB, render.Shop{URL: "https://b.example", Currency: "USD"}, render.Recipient{CustomerID: custB}, needs)
	if err != nil {
		t.Fatal(err)
	}
	wantB := map[string]string{
		"cart": "Other shop boots", "recently_viewed": "Other shop newest", "best_sellers_30d": "Other shop boots, Other shop newest",
		"new_arrivals": "Other shop newest, Other shop boots", "bought_together": "Other shop newest", "manual:8,4,9,1": "Other shop newest, Other shop boots",
	}
	for k, w := range wantB {
		if g := titles(gotB.Products[k]); g != w {
			t.Errorf("shop B %s = %q, want %q", k, g, w)
		}
	}
	// A customer of shop B asked for in shop A finds nothing personal.
	gotX, err := src.Load(ctx, shopA, shop, render.Recipient{CustomerID: custB}, needs[:2])
	if err != nil {
		t.Fatal(err)
	}
	if len(gotX.Products["cart"])+len(gotX.Products["recently_viewed"]) != 0 || gotX.CartURL != "" {
		t.Errorf("cross-shop leak: %+v", gotX)
	}
	// Without an open cart, bought-together starts from the latest order (1, 6 → 2).
	exec(t, d, `UPDATE checkouts SET completed_at = now() WHERE shop_id = $1`, shopA)
	got, err = src.Load(ctx, shopA, shop, render.Recipient{CustomerID: custA}, needs[4:5])
	if err != nil {
		t.Fatal(err)
	}
	if g := titles(got.Products["bought_together"]); g != "Wool socks" {
		t.Errorf("bought together from last order = %q", g)
	}

	// End to end: the abandoned-cart starter rendered from the database.
	tpl, _ := render.Starter(render.StarterAbandonedCart2, render.LocaleEN)
	c, err := render.Compile(tpl)
	if err != nil {
		t.Fatal(err)
	}
	exec(t, d, `UPDATE checkouts SET completed_at = NULL WHERE token = 'cart-open'`)
	l, err := src.Load(ctx, shopA, shop, render.Recipient{CustomerID: custA, CheckoutToken: "cart-open"}, c.Needs())
	if err != nil {
		t.Fatal(err)
	}
	out, err := c.Render(&render.RenderData{Shop: shop, Customer: render.Customer{FirstName: "Ada"}, CartURL: l.CartURL, Products: l.Products})
	if err != nil {
		t.Fatal(err)
	}
	for _, w := range []string{"Rain boots", "Wool socks", "Raincoat", `href="https://a.myshopify.com/123/checkouts/abc/recover?key=k1"`} {
		if !strings.Contains(out.HTML, w) {
			t.Errorf("HTML lacks %q", w)
		}
	}
	for _, bad := range []string{"Umbrella", "Scarf", "Draft hat", "Other shop"} {
		if strings.Contains(out.HTML, bad) {
			t.Errorf("HTML shows %q", bad)
		}
	}
}

func TestStore(t *testing.T) {
	d := dbtest.New(t)
	ctx := context.Background()
	var shopA, shopB int64
	d.Get(&shopA, `INSERT INTO shops (domain) VALUES ('a.myshopify.com') RETURNING id`)
	d.Get(&shopB, `INSERT INTO shops (domain) VALUES ('b.myshopify.com') RETURNING id`)
	s := render.NewStore(d)
	id, err := s.FromStarter(ctx, shopA, render.StarterWelcome, render.LocaleZH)
	if err != nil {
		t.Fatal(err)
	}
	got, err := s.Get(ctx, shopA, id)
	if err != nil || got.StarterKey != "welcome" || got.Template.Locale != "zh-CN" || len(got.Template.Blocks) == 0 {
		t.Fatalf("get = %+v, %v", got, err)
	}
	if _, err := s.Get(ctx, shopB, id); err != render.ErrNotFound {
		t.Errorf("other shop's template: %v", err)
	}
	bad := got.Template
	bad.Subject = "Hi {{ foo }}"
	_, err = s.Save(ctx, shopA, id, "", bad)
	var fe render.FieldErrors
	if !errors.As(err, &fe) || !strings.Contains(fe["subject"], "Unknown merge tag {{ foo }} in subject") {
		t.Fatalf("save bad = %v", err)
	}
	if _, err := s.Save(ctx, shopB, id, "", got.Template); err != render.ErrNotFound {
		t.Errorf("update across shops: %v", err)
	}
	got.Template.Name = "Mine"
	if _, err := s.Save(ctx, shopA, id, "", got.Template); err != nil {
		t.Fatal(err)
	}
	if g, _ := s.Get(ctx, shopA, id); g.Template.Name != "Mine" {
		t.Errorf("name = %q", g.Template.Name)
	}
}
