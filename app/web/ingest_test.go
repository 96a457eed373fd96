package web_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/jmoiron/sqlx"

	"github.com/cartwheel/cartwheel/app/db"
	"github.com/cartwheel/cartwheel/app/shopify"
	"github.com/cartwheel/cartwheel/app/shopify/shopifytest"
)

func ingestEvent(id, name, data string) string {
	return fmt.Sprintf(`{"id": %q, "name": %q, "timestamp": %q, "context": {"url": "https://s.example/p"}, "data": %s}`,
		id, name, time.Now().UTC().Add(-time.Second).Format(time.RFC3339Nano), data)
}

func ingestBody(shop, visitor string, evs ...string) string {
	return fmt.Sprintf(`{"shop": %q, "visitor_id": %q, "events": [%s]}`, shop, visitor, strings.Join(evs, ","))
}

func (h *harness) ingest(body string, headers ...string) (*http.Response, string) {
	h.t.Helper()
	return h.do(http.MethodPost, "/ingest", strings.NewReader(body), append([]string{"Content-Type", "text/plain"}, headers...)...)
}

// proxyPost sends a POST through a simulated app proxy: Shopify's query
// parameters, signed with the app secret.
func (h *harness) proxyPost(path, shop string, customerID int64, body string) (*http.Response, string) {
	h.t.Helper()
	q := url.Values{"shop": {shop}, "path_prefix": {"/apps/cartwheel"}, "timestamp": {strconv.FormatInt(time.Now().Unix(), 10)},
		"logged_in_customer_id": {""}}
	if customerID > 0 {
		q.Set("logged_in_customer_id", strconv.FormatInt(customerID, 10))
	}
	q = shopify.SignProxyQuery(q, apiSecret)
	return h.do(http.MethodPost, path+"?"+q.Encode(), strings.NewReader(body), "Content-Type", "application/json")
}

type ingestAnswer struct {
	Accepted   int    `json:"accepted"`
	Duplicates int    `json:"duplicates"`
	Error      string `json:"error"`
	Rejected   []struct {
		Index int    `json:"index"`
		Error string `json:"error"`
	} `json:"rejected"`
}

func decodeAnswer(t *testing.T, body string) ingestAnswer {
	t.Helper()
	var a ingestAnswer
	if err := json.Unmarshal([]byte(body), &a); err != nil {
		t.Fatalf("answer %q: %v", body, err)
	}
	return a
}

func TestIngestAcceptsDedupsAndRejectsWithReasons(t *testing.T) {
	h := newHarness(t, harnessOpts{})
	sh := h.install("ing.myshopify.com")
	body := ingestBody(sh.Domain, "v_ingest_001",
		ingestEvent("e1", "page_viewed", `{}`),
		ingestEvent("e2", "product_viewed", `{"productVariant": {"id": "1", "product": {"id": "2", "title": "Tee"}, "junk": 1}}`),
		ingestEvent("e3", "product_viewed", `{"productVariant": {"title": "no id"}}`),
		ingestEvent("e4", "search_submitted", `{"searchResult": {"query": ["not", "text"]}}`))
	resp, out := h.ingest(body, "Origin", "https://ing.myshopify.com")
	if resp.StatusCode != http.StatusAccepted {
		t.Fatalf("status %d: %s", resp.StatusCode, out)
	}
	if got := resp.Header.Get("Access-Control-Allow-Origin"); got != "https://ing.myshopify.com" {
		t.Errorf("ACAO = %q", got)
	}
	a := decodeAnswer(t, out)
	if a.Accepted != 2 || len(a.Rejected) != 2 || a.Rejected[0].Index != 2 || !strings.Contains(a.Rejected[0].Error, "data.productVariant.id is required") ||
		!strings.Contains(a.Rejected[1].Error, "must be a string") {
		t.Errorf("answer = %s", out)
	}
	// 202 means durable: the rows are there now.
	if n := h.count(`SELECT count(*) FROM events WHERE shop_id = $1`, sh.ID); n != 2 {
		t.Errorf("%d rows stored, want 2", n)
	}
	if n := h.count(`SELECT count(*) FROM events WHERE shop_id = $1 AND data::text LIKE '%junk%'`, sh.ID); n != 0 {
		t.Error("unknown field stored")
	}
	resp, out = h.ingest(body, "Origin", "https://ing.myshopify.com")
	if a := decodeAnswer(t, out); resp.StatusCode != http.StatusAccepted || a.Accepted != 0 || a.Duplicates != 2 {
		t.Errorf("replay: %d %s", resp.StatusCode, out)
	}
	if n := h.count(`SELECT count(*) FROM events WHERE shop_id = $1`, sh.ID); n != 2 {
		t.Errorf("replay stored more rows: %d", n)
	}
}

func TestIngestBadInput(t *testing.T) {
	h := newHarness(t, harnessOpts{})
	sh := h.install("bad.myshopify.com")
	good := ingestEvent("g1", "page_viewed", `{}`)
	big := ingestEvent("big", "search_submitted", fmt.Sprintf(`{"searchResult": {"query": %q}}`, strings.Repeat("x", 70_000)))
	many := make([]string, 51)
	for i := range many {
		many[i] = ingestEvent(fmt.Sprintf("m%d", i), "page_viewed", `{}`)
	}
	h.db.MustExec(`INSERT INTO shops (domain, installed_at, uninstalled_at) VALUES ('gone.myshopify.com', now() - interval '2 days', now() - interval '1 day')`)
	cases := []struct {
		name   string
		body   string
		status int
		want   string
	}{
		{"uninstalled shop", ingestBody("gone.myshopify.com", "v_bad_00001", good), 404, "not installed"},
		{"unknown shop", ingestBody("never.myshopify.com", "v_bad_00001", good), 404, "not installed"},
		{"shop not myshopify", ingestBody("evil.example.com", "v_bad_00001", good), 400, "myshopify.com"},
		{"over 64 KB", ingestBody(sh.Domain, "v_bad_00001", big), 413, "64 KB"},
		{"51 events", ingestBody(sh.Domain, "v_bad_00001", many...), 413, "at most 50"},
		{"not JSON", `{"shop": "bad.myshopify.com", "visitor_id": `, 400, "not a JSON batch"},
		{"events wrong type", `{"shop": "bad.myshopify.com", "visitor_id": "v_bad_00001", "events": "page_viewed"}`, 400, "events"},
		{"bad visitor id", ingestBody(sh.Domain, "<script>", good), 400, "visitor_id"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			resp, out := h.ingest(c.body)
			if resp.StatusCode != c.status || !strings.Contains(out, c.want) {
				t.Errorf("status %d %s, want %d containing %q", resp.StatusCode, out, c.status, c.want)
			}
		})
	}
	if n := h.count(`SELECT count(*) FROM events`); n != 0 {
		t.Errorf("%d rows stored from bad input", n)
	}
	// A future timestamp is refused for that event only.
	future := fmt.Sprintf(`{"id": "f1", "name": "page_viewed", "timestamp": %q, "data": {}}`, time.Now().Add(10*time.Minute).UTC().Format(time.RFC3339))
	resp, out := h.ingest(ingestBody(sh.Domain, "v_bad_00001", future))
	if a := decodeAnswer(t, out); resp.StatusCode != 202 || a.Accepted != 0 || len(a.Rejected) != 1 || !strings.Contains(a.Rejected[0].Error, "future") {
		t.Errorf("future event: %d %s", resp.StatusCode, out)
	}
}

func TestIngestCORS(t *testing.T) {
	h := newHarness(t, harnessOpts{})
	sh := h.install("cors.myshopify.com")
	h.install("rival.myshopify.com")
	if err := h.app.Shops.SetStorefrontOrigins(context.Background(), sh.ID, []string{"https://www.cors-shop.example"}); err != nil {
		t.Fatal(err)
	}
	preflight := func(origin string) *http.Response {
		resp, _ := h.do(http.MethodOptions, "/ingest", nil, "Origin", origin, "Access-Control-Request-Method", "POST",
			"Access-Control-Request-Headers", "content-type")
		return resp
	}
	for _, o := range []string{"https://cors.myshopify.com", "https://www.cors-shop.example"} {
		if r := preflight(o); r.StatusCode != http.StatusNoContent || r.Header.Get("Access-Control-Allow-Origin") != o {
			t.Errorf("preflight %s: %d %q", o, r.StatusCode, r.Header.Get("Access-Control-Allow-Origin"))
		}
	}
	for _, o := range []string{"https://attacker.example", "http://cors.myshopify.com", "null"} {
		if r := preflight(o); r.StatusCode != http.StatusForbidden || r.Header.Get("Access-Control-Allow-Origin") != "" {
			t.Errorf("preflight %s: %d %q", o, r.StatusCode, r.Header.Get("Access-Control-Allow-Origin"))
		}
	}
	body := ingestBody(sh.Domain, "v_cors_0001", ingestEvent("c1", "page_viewed", `{}`))
	resp, _ := h.ingest(body, "Origin", "https://www.cors-shop.example")
	if resp.StatusCode != 202 || resp.Header.Get("Access-Control-Allow-Origin") != "https://www.cors-shop.example" {
		t.Errorf("custom domain: %d %q", resp.StatusCode, resp.Header.Get("Access-Control-Allow-Origin"))
	}
	// Another shop's storefront can't post for this shop.
	body = ingestBody(sh.Domain, "v_cors_0001", ingestEvent("c2", "page_viewed", `{}`))
	resp, _ = h.ingest(body, "Origin", "https://rival.myshopify.com")
	if resp.StatusCode != http.StatusForbidden || resp.Header.Get("Access-Control-Allow-Origin") != "" {
		t.Errorf("foreign origin: %d %q", resp.StatusCode, resp.Header.Get("Access-Control-Allow-Origin"))
	}
	if n := h.count(`SELECT count(*) FROM events WHERE event_id = 'c2'`); n != 0 {
		t.Error("event from a foreign origin stored")
	}
}

func TestIngestRateLimitPerVisitor(t *testing.T) {
	// The default burst with a refill too slow to matter: at the default
	// 5/s, 60 requests slower than 200 ms each (a busy machine) were never
	// limited.
	h := newHarness(t, harnessOpts{visitorRefill: 0.001})
	sh := h.install("rl.myshopify.com")
	var limited *http.Response
	for i := range 60 {
		resp, _ := h.ingest(ingestBody(sh.Domain, "v_rate_0001", ingestEvent(fmt.Sprintf("r%d", i), "page_viewed", `{}`)))
		if resp.StatusCode == http.StatusTooManyRequests {
			limited = resp
			break
		}
		if resp.StatusCode != 202 {
			t.Fatalf("request %d: %d", i, resp.StatusCode)
		}
	}
	if limited == nil {
		t.Fatal("60 quick batches from one visitor were never limited")
	}
	if ra, err := strconv.Atoi(limited.Header.Get("Retry-After")); err != nil || ra < 1 {
		t.Errorf("Retry-After = %q", limited.Header.Get("Retry-After"))
	}
	// Another visitor is not held back by the first.
	resp, _ := h.ingest(ingestBody(sh.Domain, "v_rate_0002", ingestEvent("other", "page_viewed", `{}`)))
	if resp.StatusCode != 202 {
		t.Errorf("second visitor: %d", resp.StatusCode)
	}
}

func TestProxyEventsSignatureAndStitching(t *testing.T) {
	h := newHarness(t, harnessOpts{})
	sh := h.install("px.myshopify.com")
	anon := ingestBody(sh.Domain, "v_proxy_001", ingestEvent("p1", "search_submitted", `{"searchResult": {"query": "<script>alert(1)</script>"}}`))

	// Forged: right shape, wrong secret.
	q := shopify.SignProxyQuery(url.Values{"shop": {sh.Domain}, "timestamp": {strconv.FormatInt(time.Now().Unix(), 10)}, "logged_in_customer_id": {"55"}}, "not-the-secret")
	resp, _ := h.do(http.MethodPost, "/proxy/events?"+q.Encode(), strings.NewReader(anon))
	if resp.StatusCode != http.StatusUnauthorized {
		t.Errorf("forged signature: %d", resp.StatusCode)
	}
	if n := h.count(`SELECT count(*) FROM events`); n != 0 {
		t.Fatal("forged request stored events")
	}

	// Anonymous browsing first, through the proxy.
	resp, out := h.proxyPost("/proxy/events", sh.Domain, 0, anon)
	if resp.StatusCode != 202 || decodeAnswer(t, out).Accepted != 1 {
		t.Fatalf("anonymous: %d %s", resp.StatusCode, out)
	}
	// A body shop that differs from the signed one is refused.
	resp, _ = h.proxyPost("/proxy/events", sh.Domain, 0, ingestBody("other.myshopify.com", "v_proxy_001", ingestEvent("p9", "page_viewed", `{}`)))
	if resp.StatusCode != http.StatusBadRequest {
		t.Errorf("mismatched shop: %d", resp.StatusCode)
	}
	// The theme-only wheel impression is accepted here, not on /ingest.
	resp, out = h.proxyPost("/proxy/events", sh.Domain, 0, ingestBody("", "v_proxy_001", ingestEvent("w1", "wheel_viewed", `{"wheel_id": 1}`)))
	if resp.StatusCode != 202 || decodeAnswer(t, out).Accepted != 1 {
		t.Errorf("wheel_viewed via proxy: %d %s", resp.StatusCode, out)
	}

	// Then the shopper logs in: Shopify signs logged_in_customer_id.
	var custID int64
	err := db.InTx(context.Background(), h.db, func(tx *sqlx.Tx) error {
		return tx.Get(&custID, `INSERT INTO customers (shop_id, shopify_id, email, first_name) VALUES ($1, 7001, 'px@example.com', 'Pia') RETURNING id`, sh.ID)
	})
	if err != nil {
		t.Fatal(err)
	}
	resp, out = h.proxyPost("/proxy/events", sh.Domain, 7001, ingestBody("", "v_proxy_001", ingestEvent("p2", "product_added_to_cart",
		`{"cartLine": {"quantity": 2, "cost": {"totalAmount": {"amount": 40, "currencyCode": "EUR"}}, "merchandise": {"id": "11", "product": {"id": "12", "title": "Wool socks"}}}}`)))
	if resp.StatusCode != 202 {
		t.Fatalf("logged in: %d %s", resp.StatusCode, out)
	}
	if n := h.count(`SELECT count(*) FROM events WHERE shop_id = $1 AND customer_id = $2`, sh.ID, custID); n != 3 {
		t.Errorf("%d events on the profile, want 3 (earlier anonymous ones joined)", n)
	}
	if n := h.count(`SELECT count(*) FROM visitors WHERE shop_id = $1 AND visitor_id = 'v_proxy_001' AND customer_id = $2 AND identified_by = 'proxy_login'`, sh.ID, custID); n != 1 {
		t.Error("visitor not stitched by proxy login")
	}

	// The profile shows the storefront events, with the search text escaped.
	resp, page := h.get(fmt.Sprintf("/app/customers/%d", custID), "Authorization", "Bearer "+h.token(sh.Domain))
	if resp.StatusCode != 200 {
		t.Fatalf("profile: %d", resp.StatusCode)
	}
	for _, want := range []string{"Added Wool socks to cart", "Saw the signup wheel", "Searched “&lt;script&gt;alert(1)&lt;/script&gt;”"} {
		if !strings.Contains(page, want) {
			t.Errorf("profile page lacks %q", want)
		}
	}
	if strings.Contains(page, "<script>alert(1)") {
		t.Error("search text rendered as HTML")
	}
}

// The attack from the issue: anonymous POST /ingest with someone's email
// in checkout_contact_info_submitted. Nothing is linked and no profile is
// made; the same checkout's token is linked only once Shopify's signed
// checkouts/create webhook names it.
func TestIngestCheckoutEmailLinksOnlyThroughSignedWebhook(t *testing.T) {
	h := newHarness(t, harnessOpts{workers: true})
	sh := h.install("co.myshopify.com")
	var victim int64
	h.db.Get(&victim, `INSERT INTO customers (shop_id, email) VALUES ($1, 'victim@example.com') RETURNING id`, sh.ID)
	for i := range 20 {
		email := fmt.Sprintf("minted%d@example.com", i)
		if i == 0 {
			email = "victim@example.com"
		}
		body := ingestBody(sh.Domain, "v_attacker1", ingestEvent(fmt.Sprint("x", i), "checkout_contact_info_submitted",
			fmt.Sprintf(`{"checkout": {"token": "guess-%d", "email": %q}}`, i, email)))
		if resp, out := h.ingest(body); resp.StatusCode != 202 {
			t.Fatalf("%d %s", resp.StatusCode, out)
		}
	}
	if n := h.count(`SELECT count(*) FROM customers WHERE shop_id = $1`, sh.ID); n != 1 {
		t.Fatalf("%d profiles after the attack, want 1", n)
	}
	if n := h.count(`SELECT count(*) FROM visitors WHERE shop_id = $1 AND customer_id IS NOT NULL`, sh.ID); n != 0 {
		t.Fatal("the attacker's visitor was linked to a profile")
	}

	// The real shopper: browsing, then checkout (the pixel carries the
	// token); then Shopify's signed webhook for that checkout.
	h.ingest(ingestBody(sh.Domain, "v_checkout1", ingestEvent("k0", "product_viewed", `{"productVariant": {"id": "1", "product": {"id": "2", "title": "Lamp"}}}`)))
	body := ingestBody(sh.Domain, "v_checkout1", ingestEvent("k1", "checkout_contact_info_submitted",
		`{"checkout": {"token": "123123123", "email": "Buyer@Example.com", "currencyCode": "EUR", "totalPrice": {"amount": 30}}}`))
	if resp, out := h.do(http.MethodPost, "/ingest", bytes.NewBufferString(body)); resp.StatusCode != 202 {
		t.Fatalf("%d %s", resp.StatusCode, out)
	}
	if n := h.count(`SELECT count(*) FROM visitors WHERE visitor_id = 'v_checkout1' AND customer_id IS NOT NULL`); n != 0 {
		t.Fatal("linked before the webhook confirmed the checkout")
	}
	checkout := fmt.Sprintf(`{"id": 450789469, "token": "123123123", "cart_token": "c1", "email": "buyer@example.com",
		"created_at": %q, "updated_at": %q, "currency": "EUR", "total_price": "30.00", "line_items": []}`,
		time.Now().UTC().Format(time.RFC3339), time.Now().UTC().Format(time.RFC3339))
	if code, out := h.sendWebhook(shopifytest.Webhook{Topic: "checkouts/create", Shop: sh.Domain, Body: []byte(checkout)}); code != 200 {
		t.Fatalf("webhook: %d %s", code, out)
	}
	var custID int64
	h.eventually("the visitor linked by the webhook", func() bool {
		return h.db.Get(&custID, `SELECT v.customer_id FROM visitors v JOIN customers c ON c.id = v.customer_id
			WHERE v.shop_id = $1 AND v.visitor_id = 'v_checkout1' AND lower(c.email) = 'buyer@example.com' AND c.source = 'checkout'`, sh.ID) == nil
	})
	if n := h.count(`SELECT count(*) FROM events WHERE customer_id = $1`, custID); n != 2 {
		t.Errorf("%d events on the profile, want 2", n)
	}
	if n := h.count(`SELECT count(*) FROM events WHERE data::text ILIKE '%buyer@%'`); n != 0 {
		t.Error("checkout email stored in event data")
	}
}
