package web_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/cartwheel/cartwheel/app/shopify"
	"github.com/cartwheel/cartwheel/app/shopify/shopifytest"
)

// sendWebhook delivers like Shopify, through the fake's signer.
func (h *harness) sendWebhook(w shopifytest.Webhook) (int, string) {
	h.t.Helper()
	resp, err := h.fake.SendWebhook(h.t.(*testing.T).Context(), h.srv.URL+"/webhooks", w)
	if err != nil {
		h.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// rawWebhook posts with explicit headers, for the malformed cases.
func (h *harness) rawWebhook(body []byte, hmac string, headers ...string) (int, string) {
	h.t.Helper()
	all := append([]string{"Content-Type", "application/json", "X-Shopify-Hmac-Sha256", hmac}, headers...)
	resp, b := h.do(http.MethodPost, "/webhooks", bytes.NewReader(body), all...)
	return resp.StatusCode, b
}

// Shopify's documented compliance payloads.
func dataRequestBody(shop string, customerID int64, email string) []byte {
	return []byte(fmt.Sprintf(`{"shop_id":954889,"shop_domain":%q,"orders_requested":[299938,280263,220458],
		"customer":{"id":%d,"email":%q,"phone":"555-625-1199"},"data_request":{"id":9999}}`, shop, customerID, email))
}

func customerRedactBody(shop string, customerID int64, email string) []byte {
	return []byte(fmt.Sprintf(`{"shop_id":954889,"shop_domain":%q,
		"customer":{"id":%d,"email":%q,"phone":"555-625-1199"},"orders_to_redact":[299938,280263,220458]}`, shop, customerID, email))
}

func shopRedactBody(shop string) []byte {
	return []byte(fmt.Sprintf(`{"shop_id":954889,"shop_domain":%q}`, shop))
}

func TestWebhookRejectsBadInput(t *testing.T) {
	h := newHarness(t, harnessOpts{})
	const shop = "apple.myshopify.com"
	good := fixture(t, "shop.json", "shop") // a real app/uninstalled body (the Shop resource)
	hdr := func(topic, id string) []string {
		return []string{"X-Shopify-Topic", topic, "X-Shopify-Shop-Domain", shop, "X-Shopify-Webhook-Id", id,
			"X-Shopify-API-Version", shopify.APIVersion}
	}
	cases := []struct {
		name    string
		body    []byte
		hmac    string
		headers []string
		want    int
		says    string
	}{
		{"bad hmac", good, shopify.SignWebhook(good, "wrong-secret"), hdr("app/uninstalled", "w1"), 401, "Hmac"},
		{"missing hmac", good, "", hdr("app/uninstalled", "w2"), 401, "Hmac"},
		{"hmac of another body", good, shopify.SignWebhook([]byte(`{}`), apiSecret), hdr("app/uninstalled", "w3"), 401, "Hmac"},
		{"empty body", []byte{}, shopify.SignWebhook([]byte{}, apiSecret), hdr("app/uninstalled", "w4"), 400, "empty"},
		{"non-JSON body", []byte("topic=app/uninstalled"), shopify.SignWebhook([]byte("topic=app/uninstalled"), apiSecret), hdr("app/uninstalled", "w5"), 400, "JSON"},
		{"JSON array body", []byte(`[1,2]`), shopify.SignWebhook([]byte(`[1,2]`), apiSecret), hdr("app/uninstalled", "w6"), 400, "JSON object"},
		{"topic says redact, body is a shop", good, shopify.SignWebhook(good, apiSecret), hdr("customers/redact", "w7"), 400, "customers/redact"},
		{"topic says uninstall, body is a redaction", customerRedactBody(shop, 1, "a@b.c"), shopify.SignWebhook(customerRedactBody(shop, 1, "a@b.c"), apiSecret), hdr("app/uninstalled", "w8"), 400, "app/uninstalled"},
		{"body for another shop", shopRedactBody("other.myshopify.com"), shopify.SignWebhook(shopRedactBody("other.myshopify.com"), apiSecret), hdr("shop/redact", "w9"), 400, "other.myshopify.com"},
		{"missing webhook id", good, shopify.SignWebhook(good, apiSecret), hdr("app/uninstalled", ""), 400, "Webhook-Id"},
		{"missing topic", good, shopify.SignWebhook(good, apiSecret), hdr("", "w10"), 400, "Topic"},
		{"bad shop header", good, shopify.SignWebhook(good, apiSecret), []string{"X-Shopify-Topic", "app/uninstalled", "X-Shopify-Shop-Domain", "evil.com", "X-Shopify-Webhook-Id", "w11"}, 400, "myshopify.com"},
	}
	for _, tc := range cases {
		code, body := h.rawWebhook(tc.body, tc.hmac, tc.headers...)
		if code != tc.want || !strings.Contains(body, tc.says) {
			t.Errorf("%s: want %d mentioning %q, got %d %s", tc.name, tc.want, tc.says, code, body)
		}
	}
	big := append([]byte(`{"pad":"`), bytes.Repeat([]byte("x"), 1<<20)...)
	big = append(big, '"', '}')
	if code, _ := h.rawWebhook(big, shopify.SignWebhook(big, apiSecret), hdr("app/uninstalled", "w12")...); code != http.StatusRequestEntityTooLarge {
		t.Errorf("body over 1 MiB: want 413, got %d", code)
	}
	if n := h.count("SELECT count(*) FROM webhook_deliveries"); n != 0 {
		t.Fatalf("rejected webhooks left %d rows", n)
	}
	if n := h.count("SELECT count(*) FROM river_job"); n != 0 {
		t.Fatalf("rejected webhooks queued %d jobs", n)
	}
}

func TestWebhookDeduplicatedAndProcessedOnce(t *testing.T) {
	h := newHarness(t, harnessOpts{})
	const shop = "apple.myshopify.com"
	h.install(shop)
	body := fixture(t, "shop.json", "shop")
	w := shopifytest.Webhook{Topic: "app/uninstalled", Shop: shop, Body: body, WebhookID: "b5bd0ed4-dup", TriggeredAt: time.Now()}
	for i := 0; i < 3; i++ {
		code, resp := h.sendWebhook(w)
		if code != http.StatusOK {
			t.Fatalf("delivery %d: %d %s", i, code, resp)
		}
		want := "accepted"
		if i > 0 {
			want = "duplicate"
		}
		if !strings.Contains(resp, want) {
			t.Fatalf("delivery %d: want %s, got %s", i, want, resp)
		}
	}
	if n := h.count("SELECT count(*) FROM webhook_deliveries WHERE webhook_id = 'b5bd0ed4-dup'"); n != 1 {
		t.Fatalf("want one stored delivery, got %d", n)
	}
	if n := h.count("SELECT count(*) FROM river_job WHERE kind = 'webhook.process'"); n != 1 {
		t.Fatalf("want one job, got %d", n)
	}
	h.startWorkers()
	h.eventually("processed", func() bool {
		return h.count("SELECT count(*) FROM webhook_deliveries WHERE processed_at IS NOT NULL") == 1
	})
	var outcome string
	var bodyGone bool
	h.db.QueryRow("SELECT outcome, body IS NULL FROM webhook_deliveries").Scan(&outcome, &bodyGone)
	if !strings.HasPrefix(outcome, "uninstalled") || !bodyGone {
		t.Fatalf("outcome %q, body cleared %v", outcome, bodyGone)
	}
	// A fourth delivery after processing is still recognised.
	if code, resp := h.sendWebhook(w); code != 200 || !strings.Contains(resp, "duplicate") {
		t.Fatalf("late duplicate: %d %s", code, resp)
	}
}

func TestAppUninstalled(t *testing.T) {
	h := newHarness(t, harnessOpts{workers: true})
	const shop = "apple.myshopify.com"
	h.install(shop)
	tok := h.token(shop)
	if resp, _ := h.get("/api/session", "Authorization", "Bearer "+tok); resp.StatusCode != 200 {
		t.Fatal("session should work while installed")
	}
	// A stale uninstall from before this installation changes nothing.
	code, _ := h.sendWebhook(shopifytest.Webhook{Topic: "app/uninstalled", Shop: shop, Body: fixture(t, "shop.json", "shop"),
		TriggeredAt: time.Now().Add(-48 * time.Hour)})
	if code != 200 {
		t.Fatal(code)
	}
	h.eventually("stale uninstall processed", func() bool {
		return h.count("SELECT count(*) FROM webhook_deliveries WHERE processed_at IS NOT NULL") == 1
	})
	if n := h.count("SELECT count(*) FROM shops WHERE domain = $1 AND access_token_enc IS NOT NULL AND uninstalled_at IS NULL", shop); n != 1 {
		t.Fatal("a late uninstall from an earlier install removed the current one")
	}

	code, _ = h.sendWebhook(shopifytest.Webhook{Topic: "app/uninstalled", Shop: shop, Body: fixture(t, "shop.json", "shop"), TriggeredAt: time.Now()})
	if code != 200 {
		t.Fatal(code)
	}
	h.eventually("uninstall applied", func() bool {
		return h.count("SELECT count(*) FROM shops WHERE domain = $1 AND access_token_enc IS NULL AND uninstalled_at IS NOT NULL", shop) == 1
	})
	if resp, _ := h.get("/api/session", "Authorization", "Bearer "+tok); resp.StatusCode != http.StatusUnauthorized {
		t.Fatalf("session for an uninstalled shop: %d", resp.StatusCode)
	}
}

func TestComplianceWebhooks(t *testing.T) {
	h := newHarness(t, harnessOpts{workers: true})
	const shop = "privacy-store.myshopify.com"
	const other = "bystander-store.myshopify.com"
	sh := h.install(shop)
	bystander := h.install(other)
	h.db.MustExec(`INSERT INTO customers (shop_id, shopify_id, email, phone, first_name, last_name) VALUES
		($1, 207119551, 'Bob.Norman@example.com', '+16136120707', 'Bob', 'Norman'),
		($1, 1111, 'keep@example.com', NULL, 'Keep', 'Me'),
		($2, 207119551, 'bob.norman@example.com', NULL, 'Bob', 'Elsewhere')`, sh.ID, bystander.ID)

	// customers/data_request → an export the merchant downloads.
	if code, body := h.sendWebhook(shopifytest.Webhook{Topic: "customers/data_request", Shop: shop,
		Body: dataRequestBody(shop, 207119551, "bob.norman@example.com")}); code != 200 {
		t.Fatalf("data request: %d %s", code, body)
	}
	h.eventually("export built", func() bool {
		return h.count("SELECT count(*) FROM privacy_requests WHERE kind = 'data_request' AND export IS NOT NULL") == 1
	})
	var id int64
	h.db.Get(&id, "SELECT id FROM privacy_requests WHERE kind = 'data_request'")
	resp, body := h.get("/app/settings", "Authorization", "Bearer "+h.token(shop))
	link := fmt.Sprintf("/app/settings/privacy/%d/export", id)
	if resp.StatusCode != 200 || !strings.Contains(body, link) {
		t.Fatalf("settings should list the data request with a download link")
	}
	resp, body = h.get(link, "Authorization", "Bearer "+h.token(shop))
	if resp.StatusCode != 200 || !strings.Contains(resp.Header.Get("Content-Disposition"), "attachment") {
		t.Fatalf("download: %d", resp.StatusCode)
	}
	var export struct {
		DataRequestID int64 `json:"data_request_id"`
		Profiles      []struct {
			Email     string `json:"email"`
			FirstName string `json:"first_name"`
		} `json:"profiles"`
		OrdersRequested []int64 `json:"orders_requested"`
	}
	if err := json.Unmarshal([]byte(body), &export); err != nil {
		t.Fatal(err)
	}
	if export.DataRequestID != 9999 || len(export.Profiles) != 1 || export.Profiles[0].Email != "Bob.Norman@example.com" || len(export.OrdersRequested) != 3 {
		t.Fatalf("export content wrong: %+v", export)
	}
	// Another shop can't download it, even knowing the id.
	if resp, _ := h.get(link, "Authorization", "Bearer "+h.token(other)); resp.StatusCode != http.StatusNotFound {
		t.Fatalf("another shop's export: want 404, got %d", resp.StatusCode)
	}

	// customers/redact → the customer's PII and export are gone, others stay.
	if code, _ := h.sendWebhook(shopifytest.Webhook{Topic: "customers/redact", Shop: shop,
		Body: customerRedactBody(shop, 207119551, "bob.norman@example.com")}); code != 200 {
		t.Fatal(code)
	}
	h.eventually("customer redacted", func() bool {
		return h.count("SELECT count(*) FROM privacy_requests WHERE kind = 'customer_redact'") == 1
	})
	if n := h.count("SELECT count(*) FROM customers WHERE shop_id = $1 AND (shopify_id = 207119551 OR email ILIKE 'bob.norman@example.com')", sh.ID); n != 0 {
		t.Fatal("redacted customer still stored")
	}
	if n := h.count("SELECT count(*) FROM privacy_requests WHERE export IS NOT NULL"); n != 0 {
		t.Fatal("the redacted customer's export is still stored")
	}
	if n := h.count("SELECT count(*) FROM customers WHERE shop_id = $1", sh.ID); n != 1 {
		t.Fatal("redaction erased other customers")
	}
	if n := h.count("SELECT count(*) FROM customers WHERE shop_id = $1", bystander.ID); n != 1 {
		t.Fatal("redaction reached into another shop")
	}
	if n := h.count("SELECT count(*) FROM webhook_deliveries WHERE body IS NOT NULL"); n != 0 {
		t.Fatal("processed deliveries still hold payloads with PII")
	}

	// shop/redact → everything of the shop is gone; the bystander is intact.
	if code, _ := h.sendWebhook(shopifytest.Webhook{Topic: "shop/redact", Shop: shop, Body: shopRedactBody(shop), TriggeredAt: time.Now()}); code != 200 {
		t.Fatal(code)
	}
	h.eventually("shop redacted", func() bool { return h.count("SELECT count(*) FROM shops WHERE domain = $1", shop) == 0 })
	for _, q := range []string{
		"SELECT count(*) FROM customers WHERE shop_id = $1",
		"SELECT count(*) FROM privacy_requests WHERE shop_id = $1",
	} {
		if n := h.count(q, sh.ID); n != 0 {
			t.Fatalf("%s: %d rows survived shop/redact", q, n)
		}
	}
	if n := h.count("SELECT count(*) FROM webhook_deliveries WHERE shop_domain = $1", shop); n != 1 {
		t.Fatalf("want only the shop/redact delivery kept (for dedup), got %d", n)
	}
	if n := h.count("SELECT count(*) FROM customers WHERE shop_id = $1", bystander.ID); n != 1 {
		t.Fatal("shop/redact erased another shop's data")
	}
}

func TestShopRedactSkipsAReinstalledShop(t *testing.T) {
	h := newHarness(t, harnessOpts{workers: true})
	const shop = "back-again.myshopify.com"
	h.install(shop) // installed an hour ago
	if code, _ := h.sendWebhook(shopifytest.Webhook{Topic: "shop/redact", Shop: shop, Body: shopRedactBody(shop),
		TriggeredAt: time.Now().Add(-3 * time.Hour)}); code != 200 {
		t.Fatal(code)
	}
	h.eventually("processed", func() bool {
		return h.count("SELECT count(*) FROM webhook_deliveries WHERE processed_at IS NOT NULL") == 1
	})
	if n := h.count("SELECT count(*) FROM shops WHERE domain = $1", shop); n != 1 {
		t.Fatal("a redaction scheduled before the reinstall erased the shop")
	}
}

func TestUnknownTopicAcknowledged(t *testing.T) {
	h := newHarness(t, harnessOpts{workers: true})
	code, _ := h.sendWebhook(shopifytest.Webhook{Topic: "products/update", Shop: "apple.myshopify.com", Body: fixture(t, "product.json", "product")})
	if code != 200 {
		t.Fatalf("unknown topic: %d", code)
	}
	h.eventually("processed", func() bool {
		return h.count("SELECT count(*) FROM webhook_deliveries WHERE outcome LIKE 'ignored%'") == 1
	})
}
