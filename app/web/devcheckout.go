package web

import (
	"bytes"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"hash/fnv"
	"html/template"
	"net/http"
	"net/url"
	"strconv"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/cartwheel/cartwheel/app/customers"
	"github.com/cartwheel/cartwheel/app/shopify"
)

// The dev storefront's checkout plays Shopify's: the shopper gives an email
// (and may tick "Email me with news and offers"), and Shopify tells the
// app with a signed checkouts/create webhook tied to a customer. Here the
// dev store builds that webhook as Shopify shapes it, signs it with the app
// secret and hands it to the real POST /webhooks, so the demo's carts reach
// the flows through the same signed path as a real store's. "Complete
// order" sends checkouts/update with completed_at and orders/create.
const devCheckoutCookie = "cw_dev_checkout"

// devCheckout is a started checkout, remembered in a cookie so the
// shopper can complete it.
type devCheckout struct {
	ID        int64
	Token     string
	CartToken string
	Email     string
	Marketing bool
	CreatedAt time.Time
}

func (k devCheckout) encode() string {
	return url.Values{"id": {strconv.FormatInt(k.ID, 10)}, "t": {k.Token}, "c": {k.CartToken}, "e": {k.Email},
		"m": {strconv.FormatBool(k.Marketing)}, "at": {strconv.FormatInt(k.CreatedAt.Unix(), 10)}}.Encode()
}

func decodeDevCheckout(raw string) (devCheckout, bool) {
	v, err := url.ParseQuery(raw)
	if err != nil {
		return devCheckout{}, false
	}
	id, err1 := strconv.ParseInt(v.Get("id"), 10, 64)
	at, err2 := strconv.ParseInt(v.Get("at"), 10, 64)
	k := devCheckout{ID: id, Token: v.Get("t"), CartToken: v.Get("c"), Email: v.Get("e"), Marketing: v.Get("m") == "true", CreatedAt: time.Unix(at, 0).UTC()}
	return k, err1 == nil && err2 == nil && k.Token != "" && customers.PlausibleEmail(k.Email)
}

// devBuyer is the Shopify customer a checkout carries.
type devBuyer struct {
	ID                   int64
	FirstName, LastName  string
	Consent              string // email_marketing_consent.state
	ConsentUpdatedAt     *time.Time
	AcceptsMarketingSets bool
}

func devRandomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

func devUUID() string {
	h := devRandomHex(16)
	return h[:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:]
}

func (s *server) devCheckoutRoutes(g *gin.RouterGroup, r *gin.Engine) {
	g.GET("/checkout", s.devCheckoutPage)
	g.POST("/checkout", s.devCheckoutStart(r))
	g.POST("/checkout/complete", s.devCheckoutComplete(r))
}

type devCheckoutView struct {
	Base      string
	Shop      string
	Cart      []devCartLine
	Total     int64
	Email     string
	Marketing bool
	Error     string
	Started   *devCheckout
	Completed bool
	Order     int64
}

func (s *server) renderDevCheckout(c *gin.Context, status int, v devCheckoutView) {
	v.Base = devStoreBase
	v.Cart = devCartLines(c)
	for _, l := range v.Cart {
		v.Total += l.Variant.Price * l.Quantity
	}
	c.Header("Cache-Control", "no-store")
	c.Status(status)
	if err := devCheckoutTmpl.Execute(c.Writer, v); err != nil {
		s.Log.Error("dev checkout: render", "err", err)
	}
}

func (s *server) devCheckoutPage(c *gin.Context) {
	shop, _ := c.Cookie(devShopCookie)
	if !shopify.ValidShopDomain(shop) {
		c.String(http.StatusBadRequest, "open "+devStoreBase+"?shop=… first")
		return
	}
	s.renderDevCheckout(c, http.StatusOK, devCheckoutView{Shop: shop})
}

// devCheckoutStart is the checkout's contact step: Shopify creates the
// checkout and sends checkouts/create.
func (s *server) devCheckoutStart(r *gin.Engine) gin.HandlerFunc {
	return func(c *gin.Context) {
		shop, _ := c.Cookie(devShopCookie)
		if !shopify.ValidShopDomain(shop) {
			c.String(http.StatusBadRequest, "open "+devStoreBase+"?shop=… first")
			return
		}
		email := customers.NormalizeEmail(c.PostForm("email"))
		v := devCheckoutView{Shop: shop, Email: email, Marketing: c.PostForm("buyer_accepts_marketing") != ""}
		lines := devCartLines(c)
		if len(lines) == 0 {
			v.Error = "Your cart is empty: add a product before checking out."
			s.renderDevCheckout(c, http.StatusUnprocessableEntity, v)
			return
		}
		if !customers.PlausibleEmail(email) {
			v.Error = "Enter a valid email address, like name@example.com."
			s.renderDevCheckout(c, http.StatusUnprocessableEntity, v)
			return
		}
		sh, err := s.Shops.Installed(c.Request.Context(), shop)
		if err != nil {
			v.Error = "The app is not installed on " + shop + "."
			s.renderDevCheckout(c, http.StatusNotFound, v)
			return
		}
		now := s.Now().UTC().Truncate(time.Second)
		k := devCheckout{ID: 30000000000000 + now.UnixNano()/1000%1e12, Token: devRandomHex(16), CartToken: devRandomHex(16),
			Email: email, Marketing: v.Marketing, CreatedAt: now}
		buyer, err := s.devBuyer(c, sh.ID, email, v.Marketing, now)
		if err != nil {
			s.fail(c, err)
			return
		}
		body, err := devCheckoutPayload(shop, k, lines, buyer, now, nil)
		if err != nil {
			s.fail(c, err)
			return
		}
		if code, out := s.devDeliverWebhook(c, r, shop, "checkouts/create", body, now); code != http.StatusOK {
			v.Error = fmt.Sprintf("The app refused the checkouts/create webhook (%d): %s", code, out)
			s.renderDevCheckout(c, http.StatusBadGateway, v)
			return
		}
		c.SetSameSite(http.SameSiteLaxMode)
		c.SetCookie(devCheckoutCookie, k.encode(), 0, devStoreBase, "", false, true)
		v.Started = &k
		s.renderDevCheckout(c, http.StatusOK, v)
	}
}

// devCheckoutComplete pays for the started checkout: checkouts/update with
// completed_at, then orders/create, as Shopify sends them; the cart empties.
func (s *server) devCheckoutComplete(r *gin.Engine) gin.HandlerFunc {
	return func(c *gin.Context) {
		shop, _ := c.Cookie(devShopCookie)
		raw, _ := c.Cookie(devCheckoutCookie)
		k, ok := decodeDevCheckout(raw)
		if !shopify.ValidShopDomain(shop) || !ok {
			c.String(http.StatusBadRequest, "no checkout started: check out from "+devStoreBase+"/cart first")
			return
		}
		lines := devCartLines(c)
		v := devCheckoutView{Shop: shop, Email: k.Email, Marketing: k.Marketing}
		if len(lines) == 0 {
			v.Error = "Your cart is empty: add a product before checking out."
			s.renderDevCheckout(c, http.StatusUnprocessableEntity, v)
			return
		}
		sh, err := s.Shops.Installed(c.Request.Context(), shop)
		if err != nil {
			v.Error = "The app is not installed on " + shop + "."
			s.renderDevCheckout(c, http.StatusNotFound, v)
			return
		}
		now := s.Now().UTC().Truncate(time.Second)
		buyer, err := s.devBuyer(c, sh.ID, k.Email, k.Marketing, now)
		if err != nil {
			s.fail(c, err)
			return
		}
		body, err := devCheckoutPayload(shop, k, lines, buyer, now, &now)
		if err != nil {
			s.fail(c, err)
			return
		}
		if code, out := s.devDeliverWebhook(c, r, shop, "checkouts/update", body, now); code != http.StatusOK {
			v.Error = fmt.Sprintf("The app refused the checkouts/update webhook (%d): %s", code, out)
			s.renderDevCheckout(c, http.StatusBadGateway, v)
			return
		}
		orderID := 50000000000000 + now.UnixNano()/1000%1e12
		body, err = devOrderPayload(shop, orderID, k, lines, buyer, now)
		if err != nil {
			s.fail(c, err)
			return
		}
		if code, out := s.devDeliverWebhook(c, r, shop, "orders/create", body, now); code != http.StatusOK {
			v.Error = fmt.Sprintf("The app refused the orders/create webhook (%d): %s", code, out)
			s.renderDevCheckout(c, http.StatusBadGateway, v)
			return
		}
		setDevCart(c, nil)
		c.SetCookie(devCheckoutCookie, "", -1, devStoreBase, "", false, true)
		v.Completed, v.Order = true, orderID
		c.Header("Cache-Control", "no-store")
		c.Status(http.StatusOK)
		if err := devCheckoutTmpl.Execute(c.Writer, v); err != nil {
			s.Log.Error("dev checkout: render", "err", err)
		}
	}
}

// devBuyer is the customer Shopify attaches to the checkout: the signed-in
// customer, else the shop's customer with that address (Shopify keeps one
// per address), else a new one. Ticking the marketing box subscribes them,
// as Shopify's checkout does; leaving it unticked changes nothing.
func (s *server) devBuyer(c *gin.Context, shopID int64, email string, marketing bool, now time.Time) (devBuyer, error) {
	b := devBuyer{Consent: "not_subscribed"}
	known, ok, err := s.Customers.ShopifyCustomerByEmail(c.Request.Context(), shopID, email)
	if err != nil {
		return devBuyer{}, err
	}
	if ok {
		b.ID, b.FirstName, b.LastName, b.Consent = known.ShopifyID, known.FirstName, known.LastName, known.Consent
	} else {
		// A stable id per address, in a range the seed doesn't use.
		h := fnv.New64a()
		h.Write([]byte(email))
		b.ID = 9000000000000 + int64(h.Sum64()%1e12)
	}
	if id, err := strconv.ParseInt(func() string { v, _ := c.Cookie(devCustomerCookie); return v }(), 10, 64); err == nil && id > 0 {
		b.ID = id
	}
	if marketing {
		b.Consent, b.ConsentUpdatedAt, b.AcceptsMarketingSets = "subscribed", &now, true
	}
	return b, nil
}

// devDeliverWebhook signs body as Shopify signs webhooks and hands it to
// POST /webhooks in-process; it returns the handler's status and answer.
func (s *server) devDeliverWebhook(c *gin.Context, r *gin.Engine, shop, topic string, body []byte, now time.Time) (int, string) {
	req, err := http.NewRequestWithContext(c.Request.Context(), http.MethodPost, "/webhooks", bytes.NewReader(body))
	if err != nil {
		return http.StatusInternalServerError, err.Error()
	}
	for k, v := range devWebhookHeaders(shop, topic, body, s.Config.ShopifyAPISecret, now) {
		req.Header.Set(k, v)
	}
	req.RemoteAddr = c.Request.RemoteAddr
	rec := &devRecorder{header: http.Header{}, code: http.StatusOK}
	r.ServeHTTP(rec, req)
	return rec.code, rec.body.String()
}

// devRecorder keeps the answer of a request handed to the router in-process.
type devRecorder struct {
	header http.Header
	code   int
	body   bytes.Buffer
}

func (w *devRecorder) Header() http.Header         { return w.header }
func (w *devRecorder) Write(b []byte) (int, error) { return w.body.Write(b) }
func (w *devRecorder) WriteHeader(code int)        { w.code = code }

// devWebhookHeaders are the headers Shopify sends with a webhook.
func devWebhookHeaders(shop, topic string, body []byte, secret string, now time.Time) map[string]string {
	return map[string]string{
		"Content-Type":           "application/json",
		"X-Shopify-Topic":        topic,
		"X-Shopify-Hmac-Sha256":  shopify.SignWebhook(body, secret),
		"X-Shopify-Shop-Domain":  shop,
		"X-Shopify-API-Version":  shopify.APIVersion,
		"X-Shopify-Webhook-Id":   devUUID(),
		"X-Shopify-Event-Id":     devUUID(),
		"X-Shopify-Triggered-At": now.UTC().Format(time.RFC3339Nano),
		"User-Agent":             "Shopify-Captain-Hook",
	}
}

func devMoney(cents int64) string { return fmt.Sprintf("%d.%02d", cents/100, cents%100) }

func devRESTLines(lines []devCartLine) ([]map[string]any, int64) {
	out := make([]map[string]any, 0, len(lines))
	var total int64
	for i, l := range lines {
		total += l.Variant.Price * l.Quantity
		out = append(out, map[string]any{
			"id": int64(i + 1), "key": devRandomHex(16), "product_id": devJacket.ID, "variant_id": l.Variant.ID,
			"title": devJacket.Title, "variant_title": l.Variant.Title, "presentment_title": devJacket.Title, "presentment_variant_title": l.Variant.Title,
			"sku": l.Variant.SKU, "vendor": devJacket.Vendor, "quantity": l.Quantity, "price": devMoney(l.Variant.Price),
			"variant_price": devMoney(l.Variant.Price), "line_price": devMoney(l.Variant.Price * l.Quantity), "compare_at_price": nil,
			"grams": 1200, "requires_shipping": true, "taxable": true, "gift_card": false, "fulfillment_service": "manual",
			"properties": nil, "tax_lines": []any{}, "applied_discounts": []any{}, "discount_allocations": []any{},
			"destination_location_id": nil, "origin_location_id": nil, "user_id": nil, "rank": nil, "unit_price_measurement": nil,
		})
	}
	return out, total
}

func devRESTCustomer(b devBuyer, email string, now time.Time) map[string]any {
	var optIn any
	if b.ConsentUpdatedAt != nil {
		optIn = "single_opt_in"
	}
	return map[string]any{
		"id": b.ID, "email": email, "first_name": nilIfEmpty(b.FirstName), "last_name": nilIfEmpty(b.LastName),
		"accepts_marketing": b.Consent == "subscribed", "accepts_marketing_updated_at": b.ConsentUpdatedAt,
		"marketing_opt_in_level": optIn, "state": "disabled", "note": nil, "verified_email": true, "multipass_identifier": nil,
		"tax_exempt": false, "phone": nil, "tags": "", "currency": "USD", "created_at": now, "updated_at": now,
		"email_marketing_consent": map[string]any{"state": b.Consent, "opt_in_level": "single_opt_in", "consent_updated_at": b.ConsentUpdatedAt},
		"sms_marketing_consent":   nil,
		"admin_graphql_api_id":    fmt.Sprintf("gid://shopify/Customer/%d", b.ID),
	}
}

func nilIfEmpty(s string) any {
	if s == "" {
		return nil
	}
	return s
}

// devCheckoutPayload is a checkouts/create|update body in the shape of
// Shopify's checkout webhook (REST, prices as strings).
func devCheckoutPayload(shop string, k devCheckout, lines []devCartLine, b devBuyer, now time.Time, completedAt *time.Time) ([]byte, error) {
	items, total := devRESTLines(lines)
	p := map[string]any{
		"id": k.ID, "token": k.Token, "cart_token": k.CartToken, "email": k.Email, "gateway": nil,
		"buyer_accepts_marketing": k.Marketing, "buyer_accepts_sms_marketing": false, "sms_marketing_phone": nil,
		"created_at": k.CreatedAt, "updated_at": now, "completed_at": completedAt, "closed_at": nil,
		"landing_site": "/", "note": nil, "note_attributes": []any{}, "referring_site": "", "shipping_lines": []any{},
		"taxes_included": false, "total_weight": 1200, "currency": "USD", "presentment_currency": "USD",
		"user_id": nil, "location_id": nil, "source_identifier": nil, "source_url": nil, "device_id": nil, "phone": nil,
		"customer_locale": "en", "line_items": items, "name": fmt.Sprintf("#%d", k.ID), "source": nil, "source_name": "web",
		"abandoned_checkout_url": fmt.Sprintf("https://%s/checkouts/%s/recover?key=%s", shop, k.Token, devRandomHex(16)),
		"discount_codes":         []any{}, "tax_lines": []any{}, "total_discounts": "0.00", "total_line_items_price": devMoney(total),
		"total_price": devMoney(total), "total_tax": "0.00", "subtotal_price": devMoney(total), "total_duties": nil,
		"billing_address": nil, "shipping_address": nil, "customer": devRESTCustomer(b, k.Email, now),
	}
	body, err := json.Marshal(p)
	if err != nil {
		return nil, fmt.Errorf("dev checkout: payload: %w", err)
	}
	return body, nil
}

// devOrderPayload is the orders/create body of the completed checkout.
func devOrderPayload(shop string, id int64, k devCheckout, lines []devCartLine, b devBuyer, now time.Time) ([]byte, error) {
	items, total := devRESTLines(lines)
	p := map[string]any{
		"id": id, "admin_graphql_api_id": fmt.Sprintf("gid://shopify/Order/%d", id), "name": fmt.Sprintf("#D%d", id%100000),
		"order_number": id % 100000, "email": k.Email, "contact_email": k.Email, "created_at": now, "updated_at": now, "processed_at": now,
		"currency": "USD", "presentment_currency": "USD", "financial_status": "paid", "fulfillment_status": nil,
		"total_price": devMoney(total), "subtotal_price": devMoney(total), "total_line_items_price": devMoney(total),
		"total_discounts": "0.00", "total_tax": "0.00", "taxes_included": false, "test": false, "confirmed": true,
		"buyer_accepts_marketing": k.Marketing, "checkout_token": k.Token, "cart_token": k.CartToken, "token": devRandomHex(16),
		"source_name": "web", "line_items": items, "discount_codes": []any{}, "tax_lines": []any{}, "shipping_lines": []any{},
		"order_status_url": fmt.Sprintf("https://%s/orders/%s/authenticate", shop, devRandomHex(8)),
		"customer":         devRESTCustomer(b, k.Email, now),
	}
	body, err := json.Marshal(p)
	if err != nil {
		return nil, fmt.Errorf("dev checkout: order payload: %w", err)
	}
	return body, nil
}

var devCheckoutTmpl = template.Must(template.New("devcheckout").Funcs(template.FuncMap{
	"money": func(cents int64) string { return "$" + devMoney(cents) },
}).Parse(`<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Checkout – Demo Store (Cartwheel dev storefront)</title>
<style>
body{margin:0;font:16px/1.5 system-ui,sans-serif;color:#1a1a1a;background:#fafafa}
main{max-width:560px;margin:32px auto;padding:24px;background:#fff;border:1px solid #ddd;border-radius:8px}
label{display:block;margin:12px 0 4px}
input[type=email]{font:inherit;padding:8px;width:100%;box-sizing:border-box}
.check{display:flex;gap:8px;align-items:center}
button{font:inherit;padding:10px 18px;background:#1a1a1a;color:#fff;border:0;border-radius:4px;cursor:pointer;margin-top:16px}
.error{color:#8e1f0b}
</style>
</head>
<body>
<main>
  <p><a href="{{.Base}}/cart">← Cart</a></p>
  <h1>Checkout</h1>
  {{if .Cart}}<ul id="checkout-lines">{{range .Cart}}<li>Alpine Jacket – {{.Variant.Title}} × {{.Quantity}}</li>{{end}}</ul>
  <p>Total: <strong>{{money .Total}}</strong></p>{{end}}
  {{if .Completed}}
    <p id="checkout-status" role="status" data-checkout="completed">Thank you! Order {{.Order}} is confirmed (orders/create sent to the app).</p>
    <p><a href="{{.Base}}">Continue shopping</a></p>
  {{else if .Started}}
    <p id="checkout-status" role="status" data-checkout="started" data-checkout-token="{{.Started.Token}}">Checkout started for {{.Started.Email}}{{if .Started.Marketing}}, subscribed to news and offers{{end}} (checkouts/create sent to the app). Leave now to abandon it, or:</p>
    <form method="post" action="{{.Base}}/checkout/complete">
      <button type="submit" data-checkout-complete>Complete order</button>
    </form>
  {{else}}
    {{if .Error}}<p class="error" id="checkout-error" role="alert">{{.Error}}</p>{{end}}
    {{if .Cart}}
    <form method="post" action="{{.Base}}/checkout" id="checkout-form">
      <label for="email">Email</label>
      <input id="email" name="email" type="email" autocomplete="email" required value="{{.Email}}">
      <p class="check"><input id="marketing" name="buyer_accepts_marketing" type="checkbox" value="1"{{if .Marketing}} checked{{end}}> <label for="marketing" style="margin:0">Email me with news and offers</label></p>
      <button type="submit">Continue to shipping</button>
    </form>
    {{else}}<p>Your cart is empty. <a href="{{.Base}}">Add the jacket</a> first.</p>{{end}}
  {{end}}
</main>
</body>
</html>`))
