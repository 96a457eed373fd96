package web

import (
	"bytes"
	"encoding/json"
	"fmt"
	"html/template"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"

	"github.com/gin-gonic/gin"

	"github.com/cartwheel/cartwheel/app/shopify"
)

// The dev storefront stands in for a shop's Online Store theme with the
// Cartwheel app embed turned on, so the wheel and the tracker can be used
// and tested without Shopify. It loads the theme extension's built assets
// from disk (run `npm run build` after editing storefront/), and its
// /dev/storefront/apps/cartwheel/* plays Shopify's app proxy: it signs the
// query exactly as Shopify does and hands the request to /proxy/*.
const (
	devStoreBase      = "/dev/storefront"
	devProxyPrefix    = "/apps/cartwheel"
	devShopCookie     = "cw_dev_shop"
	devCustomerCookie = "cw_dev_customer"
	devCartCookie     = "cw_dev_cart"
)

type devVariant struct {
	ID    int64
	Title string
	SKU   string
	Price int64 // cents, as Shopify's theme objects have it
}

type devProduct struct {
	ID       int64
	Title    string
	Handle   string
	Vendor   string
	Type     string
	Variants []devVariant
}

// devJacket is the one product the dev store sells.
var devJacket = devProduct{
	ID: 8266836345064, Title: "Alpine Jacket", Handle: "alpine-jacket", Vendor: "Demo Outfitters", Type: "Outerwear",
	Variants: []devVariant{
		{ID: 44610569208040, Title: "S", SKU: "AJ-S", Price: 14900},
		{ID: 44610569208041, Title: "M", SKU: "AJ-M", Price: 14900},
		{ID: 44610569208042, Title: "L", SKU: "AJ-L", Price: 15900},
	},
}

func (p devProduct) variant(id int64) (devVariant, bool) {
	for _, v := range p.Variants {
		if v.ID == id {
			return v, true
		}
	}
	return devVariant{}, false
}

// devStorefrontRoutes serves the local storefront used without Shopify
// (APP_ENV=dev, loopback only).
func (s *server) devStorefrontRoutes(r *gin.Engine) {
	g := r.Group(devStoreBase, s.devOnly)
	g.GET("", s.devStorePage("product"))
	g.GET("/products/:handle", s.devStorePage("product"))
	g.GET("/collections/:handle", s.devStorePage("collection"))
	g.GET("/search", s.devStorePage("search"))
	g.GET("/cart", s.devStorePage("cart"))
	g.GET("/cart.js", s.devCartJSON)
	g.POST("/cart/add.js", s.devCartAdd)
	g.POST("/cart/add", s.devCartAdd)
	g.GET("/assets/:file", devThemeAsset)
	s.devCheckoutRoutes(g, r)
	g.Any(devProxyPrefix+"/*path", s.devAppProxy(r))
}

// devStorePage renders one storefront page. ?shop= and ?customer_id= are
// remembered in cookies, as a real shop remembers its domain and login.
func (s *server) devStorePage(kind string) gin.HandlerFunc {
	return func(c *gin.Context) {
		shop := c.Query("shop")
		if shop == "" {
			shop, _ = c.Cookie(devShopCookie)
		}
		if shop == "" {
			shop = "demo.myshopify.com"
		}
		if !shopify.ValidShopDomain(shop) {
			c.String(http.StatusBadRequest, "shop must be a myshopify.com domain")
			return
		}
		customer, _ := c.Cookie(devCustomerCookie)
		if v, ok := c.GetQuery("customer_id"); ok {
			customer = v
		}
		if customer != "" {
			if _, err := strconv.ParseInt(customer, 10, 64); err != nil {
				c.String(http.StatusBadRequest, "customer_id must be a Shopify customer id (digits)")
				return
			}
		}
		c.SetSameSite(http.SameSiteLaxMode)
		c.SetCookie(devShopCookie, shop, 0, devStoreBase, "", false, true)
		c.SetCookie(devCustomerCookie, customer, 0, devStoreBase, "", false, true)

		meta := map[string]any{"currency": "USD", "page": map[string]any{"pageType": kind}}
		if kind == "product" {
			vs := make([]map[string]any, 0, len(devJacket.Variants))
			for _, v := range devJacket.Variants {
				vs = append(vs, map[string]any{"id": v.ID, "price": v.Price, "name": devJacket.Title + " - " + v.Title, "public_title": v.Title, "sku": v.SKU})
			}
			meta["product"] = map[string]any{"id": devJacket.ID, "gid": fmt.Sprintf("gid://shopify/Product/%d", devJacket.ID), "vendor": devJacket.Vendor, "type": devJacket.Type, "variants": vs}
			meta["page"] = map[string]any{"pageType": "product", "resourceType": "product", "resourceId": devJacket.ID}
		}
		metaJSON, err := json.Marshal(meta)
		if err != nil {
			s.fail(c, err)
			return
		}
		c.Header("Cache-Control", "no-store")
		c.Status(http.StatusOK)
		err = devStoreTmpl.Execute(c.Writer, map[string]any{
			"Kind":     kind,
			"Base":     devStoreBase,
			"Proxy":    devStoreBase + devProxyPrefix,
			"Shop":     shop,
			"Customer": customer,
			"Product":  devJacket,
			"Meta":     template.JS(metaJSON),
			"Query":    c.Query("q"),
			"Cart":     devCartLines(c),
		})
		if err != nil {
			s.Log.Error("dev storefront: render", "err", err)
		}
	}
}

// devAppProxy forwards /dev/storefront/apps/cartwheel/<path> to
// /proxy/<path> the way Shopify's app proxy does: the shopper's own query
// parameters are kept, Shopify's are replaced by trusted ones, the query is
// signed with the app secret, cookies are dropped and the body passes
// through untouched.
func (s *server) devAppProxy(r *gin.Engine) gin.HandlerFunc {
	return func(c *gin.Context) {
		shop, _ := c.Cookie(devShopCookie)
		if !shopify.ValidShopDomain(shop) {
			c.JSON(http.StatusBadRequest, gin.H{"error": "open " + devStoreBase + "?shop=… first"})
			return
		}
		customer, _ := c.Cookie(devCustomerCookie)
		q := c.Request.URL.Query()
		for _, k := range []string{"shop", "logged_in_customer_id", "path_prefix", "timestamp", "signature"} {
			q.Del(k)
		}
		q.Set("shop", shop)
		q.Set("logged_in_customer_id", customer)
		q.Set("path_prefix", devProxyPrefix)
		q.Set("timestamp", strconv.FormatInt(s.Now().Unix(), 10))
		signed := shopify.SignProxyQuery(q, s.Config.ShopifyAPISecret)

		body, err := io.ReadAll(http.MaxBytesReader(c.Writer, c.Request.Body, 1<<20))
		if err != nil {
			c.JSON(http.StatusRequestEntityTooLarge, gin.H{"error": "body too large"})
			return
		}
		target := &url.URL{Path: "/proxy" + c.Param("path"), RawQuery: signed.Encode()}
		req, err := http.NewRequestWithContext(c.Request.Context(), c.Request.Method, target.String(), bytes.NewReader(body))
		if err != nil {
			s.fail(c, err)
			return
		}
		for _, h := range []string{"Content-Type", "Accept", "Accept-Language", "User-Agent"} {
			if v := c.GetHeader(h); v != "" {
				req.Header.Set(h, v)
			}
		}
		req.RemoteAddr = c.Request.RemoteAddr
		// Shopify forwards the shopper's address this way.
		req.Header.Set("X-Forwarded-For", c.RemoteIP())
		r.ServeHTTP(c.Writer, req)
		c.Abort()
	}
}

var devAssetName = regexp.MustCompile(`^[a-z0-9-]+\.(js|css)$`)

// devThemeAsset serves extensions/cartwheel-theme/assets/<file> from disk
// at request time, so a rebuild shows up on reload.
func devThemeAsset(c *gin.Context) {
	name := c.Param("file")
	if !devAssetName.MatchString(name) {
		c.String(http.StatusNotFound, "not found")
		return
	}
	dir, err := themeAssetsDir()
	if err != nil {
		c.String(http.StatusNotFound, "theme assets not built: run `npm run build`")
		return
	}
	c.Header("Cache-Control", "no-cache")
	c.File(filepath.Join(dir, name))
}

// themeAssetsDir finds the theme extension's assets from the working
// directory up (cartwheel dev runs from the checkout).
func themeAssetsDir() (string, error) {
	d, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		p := filepath.Join(d, "extensions", "cartwheel-theme", "assets")
		if st, err := os.Stat(p); err == nil && st.IsDir() {
			return p, nil
		}
		parent := filepath.Dir(d)
		if parent == d {
			return "", os.ErrNotExist
		}
		d = parent
	}
}

// --- a fake cart, kept in a cookie as "variant:qty,…".

type devCartLine struct {
	Variant  devVariant
	Quantity int64
}

func devCartLines(c *gin.Context) []devCartLine {
	raw, _ := c.Cookie(devCartCookie)
	var lines []devCartLine
	for _, part := range strings.Split(raw, ".") {
		id, qty, ok := strings.Cut(part, "x")
		vid, err1 := strconv.ParseInt(id, 10, 64)
		n, err2 := strconv.ParseInt(qty, 10, 64)
		v, found := devJacket.variant(vid)
		if ok && err1 == nil && err2 == nil && found && n > 0 {
			lines = append(lines, devCartLine{Variant: v, Quantity: n})
		}
	}
	return lines
}

func setDevCart(c *gin.Context, lines []devCartLine) {
	parts := make([]string, 0, len(lines))
	for _, l := range lines {
		parts = append(parts, fmt.Sprintf("%dx%d", l.Variant.ID, l.Quantity))
	}
	c.SetSameSite(http.SameSiteLaxMode)
	c.SetCookie(devCartCookie, strings.Join(parts, "."), 0, devStoreBase, "", false, true)
}

// devLineItem is a cart line as Shopify's AJAX Cart API returns it.
func devLineItem(l devCartLine) gin.H {
	return gin.H{
		"id": l.Variant.ID, "variant_id": l.Variant.ID, "product_id": devJacket.ID, "quantity": l.Quantity,
		"title": devJacket.Title + " - " + l.Variant.Title, "product_title": devJacket.Title, "variant_title": l.Variant.Title,
		"price": l.Variant.Price, "line_price": l.Variant.Price * l.Quantity, "sku": l.Variant.SKU, "vendor": devJacket.Vendor,
		"product_type": devJacket.Type, "handle": devJacket.Handle, "url": "/products/" + devJacket.Handle + "?variant=" + strconv.FormatInt(l.Variant.ID, 10),
		"image": nil,
	}
}

// devCartAdd is /cart/add.js (JSON answer) and /cart/add (plain form post,
// redirected to the cart like a theme without JavaScript).
func (s *server) devCartAdd(c *gin.Context) {
	var in struct {
		ID       int64 `json:"id" form:"id"`
		Quantity int64 `json:"quantity" form:"quantity"`
	}
	if err := c.ShouldBind(&in); err != nil {
		c.JSON(http.StatusUnprocessableEntity, gin.H{"status": 422, "message": "Cart Error", "description": err.Error()})
		return
	}
	if in.Quantity <= 0 {
		in.Quantity = 1
	}
	v, ok := devJacket.variant(in.ID)
	if !ok {
		c.JSON(http.StatusNotFound, gin.H{"status": 404, "message": "Cart Error", "description": "Cannot find variant"})
		return
	}
	lines := devCartLines(c)
	added := devCartLine{Variant: v, Quantity: in.Quantity}
	for i := range lines {
		if lines[i].Variant.ID == v.ID {
			lines[i].Quantity += in.Quantity
			added.Quantity = lines[i].Quantity
		}
	}
	if added.Quantity == in.Quantity {
		lines = append(lines, added)
	}
	setDevCart(c, lines)
	if strings.HasSuffix(c.Request.URL.Path, ".js") {
		c.JSON(http.StatusOK, devLineItem(added))
		return
	}
	c.Redirect(http.StatusSeeOther, devStoreBase+"/cart")
}

func (s *server) devCartJSON(c *gin.Context) {
	lines := devCartLines(c)
	items := make([]gin.H, 0, len(lines))
	var total, count int64
	for _, l := range lines {
		items = append(items, devLineItem(l))
		total += l.Variant.Price * l.Quantity
		count += l.Quantity
	}
	c.JSON(http.StatusOK, gin.H{"token": "dev-cart", "item_count": count, "total_price": total, "currency": "USD", "items": items})
}

var devStoreTmpl = template.Must(template.New("devstore").Funcs(template.FuncMap{
	"money": func(cents int64) string { return fmt.Sprintf("$%d.%02d", cents/100, cents%100) },
}).Parse(`<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{{if eq .Kind "product"}}{{.Product.Title}}{{else}}{{.Kind}}{{end}} – Demo Store (Cartwheel dev storefront)</title>
<script>window.ShopifyAnalytics = window.ShopifyAnalytics || {}; window.ShopifyAnalytics.meta = {{.Meta}};
window.Shopify = window.Shopify || {}; window.Shopify.shop = {{.Shop}}; window.Shopify.currency = {active: "USD", rate: "1.0"};</script>
<style>
body{margin:0;font:16px/1.5 system-ui,sans-serif;color:#1a1a1a}
header{display:flex;gap:16px;align-items:center;padding:12px 24px;border-bottom:1px solid #ddd}
header a{color:inherit}header .logo{font-weight:700;margin-right:auto;text-decoration:none}
main{max-width:960px;margin:24px auto;padding:0 24px}
.product{display:grid;grid-template-columns:1fr 1fr;gap:32px}
.img{aspect-ratio:1;background:#e9e4dc;display:flex;align-items:center;justify-content:center;color:#555}
button{font:inherit;padding:10px 18px;background:#1a1a1a;color:#fff;border:0;border-radius:4px;cursor:pointer}
select,input{font:inherit;padding:8px}
.spacer{height:1500px}
</style>
</head>
<body>
<header>
  <a class="logo" href="{{.Base}}">Demo Store</a>
  <form action="{{.Base}}/search" method="get" role="search">
    <label for="q">Search</label> <input id="q" name="q" type="search" value="{{.Query}}">
    <button type="submit">Search</button>
  </form>
  <a href="{{.Base}}/collections/outerwear">Outerwear</a>
  <a href="{{.Base}}/cart">Cart</a>
  {{if .Customer}}<span>Signed in (customer {{.Customer}})</span>{{end}}
</header>
<main>
{{if eq .Kind "product"}}
  <div class="product">
    <div class="img" role="img" aria-label="Product image placeholder">Image</div>
    <div>
      <h1>{{.Product.Title}}</h1>
      <p id="price">{{money (index .Product.Variants 0).Price}}</p>
      <form id="add-form" action="{{.Base}}/cart/add" method="post">
        <label for="variant">Size</label>
        <select id="variant" name="id">{{range .Product.Variants}}<option value="{{.ID}}">{{.Title}} – {{money .Price}}</option>{{end}}</select>
        <input type="hidden" name="quantity" value="1">
        <button type="submit">Add to cart</button>
      </form>
      <p id="cart-status" role="status"></p>
    </div>
  </div>
  <script>
  // Like Dawn: add to cart with fetch so the page stays; without JS the form posts.
  document.getElementById('add-form').addEventListener('submit', async (e) => {
    e.preventDefault();
    const r = await fetch(e.target.action + '.js', {method: 'POST', body: new FormData(e.target), headers: {Accept: 'application/json', 'X-Requested-With': 'XMLHttpRequest'}});
    const item = await r.json();
    document.getElementById('cart-status').textContent = r.ok ? 'Added ' + item.title + ' to your cart' : item.description;
  });
  </script>
{{else if eq .Kind "cart"}}
  <h1>Your cart</h1>
  {{if .Cart}}<ul>{{range .Cart}}<li>{{$.Product.Title}} – {{.Variant.Title}} × {{.Quantity}}</li>{{end}}</ul>
  <p><a id="checkout" href="{{.Base}}/checkout">Check out</a></p>{{else}}<p>Your cart is empty.</p>{{end}}
{{else if eq .Kind "search"}}
  <h1>Search results</h1>
  <p>Results for “{{.Query}}”: <a href="{{.Base}}/products/{{.Product.Handle}}">{{.Product.Title}}</a></p>
{{else}}
  <h1>Outerwear</h1>
  <p><a href="{{.Base}}/products/{{.Product.Handle}}">{{.Product.Title}}</a></p>
{{end}}
  <div class="spacer" aria-hidden="true"></div>
</main>
<div id="cartwheel-embed" hidden data-proxy="{{.Proxy}}" data-shop="{{.Shop}}" data-wheel="true" data-tracking="true"{{if .Customer}} data-customer-id="{{.Customer}}"{{end}}></div>
<script src="{{.Base}}/assets/cartwheel-wheel.js" defer></script>
<script src="{{.Base}}/assets/cartwheel-tracker.js" defer></script>
</body>
</html>`))
