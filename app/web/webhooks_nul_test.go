package web_test

import (
	"bytes"
	"net/http"
	"strings"
	"testing"

	"github.com/cartwheel/cartwheel/app/shopify"
)

// A signed webhook whose JSON holds \u0000 (customer-entered text can) is
// valid JSON that jsonb refuses. It is stored raw, answered 200 so Shopify
// stops retrying, recorded as rejected with the reason, counted, and never
// queued; a redelivery is a duplicate.
func TestWebhookWithNULIsStoredAndRejected(t *testing.T) {
	h := newHarness(t, harnessOpts{})
	const shop = "nul.myshopify.com"
	h.install(shop)
	body := fixture(t, "customer.json", "customer")
	body = bytes.Replace(body, []byte(`"note": `), []byte(`"note": "Bob\u0000Norman", "ignored_note": `), 1)
	if !bytes.Contains(body, []byte(`\u0000`)) {
		t.Fatal("fixture has no note field to put the NUL in")
	}
	hdr := []string{"X-Shopify-Topic", "customers/update", "X-Shopify-Shop-Domain", shop, "X-Shopify-Webhook-Id", "nul-1",
		"X-Shopify-API-Version", shopify.APIVersion}
	for i, want := range []string{"rejected", "duplicate"} {
		code, resp := h.rawWebhook(body, shopify.SignWebhook(body, apiSecret), hdr...)
		if code != http.StatusOK || !strings.Contains(resp, want) {
			t.Fatalf("delivery %d: want 200 %s, got %d %s", i, want, code, resp)
		}
	}
	var row struct {
		Outcome   string `db:"outcome"`
		Processed bool   `db:"processed"`
		Raw       []byte `db:"raw_body"`
	}
	if err := h.db.Get(&row, `SELECT outcome, processed_at IS NOT NULL AS processed, raw_body FROM webhook_deliveries
		WHERE webhook_id = 'nul-1'`); err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(row.Outcome, "rejected: ") || !row.Processed || !bytes.Equal(row.Raw, body) {
		t.Fatalf("delivery: outcome %q, processed %v, raw body kept %v", row.Outcome, row.Processed, bytes.Equal(row.Raw, body))
	}
	if n := h.count("SELECT count(*) FROM river_job"); n != 0 {
		t.Fatalf("a rejected delivery queued %d jobs", n)
	}
	resp, metrics := h.get("/metrics")
	if resp.StatusCode != http.StatusOK ||
		!strings.Contains(metrics, `cartwheel_webhooks_received_total{result="rejected_body",topic="customers/update"} 1`) {
		t.Fatalf("metric not counted: %d", resp.StatusCode)
	}
	// Headers PostgreSQL can't store are a 400, not a 500.
	good := fixture(t, "shop.json", "shop")
	code, resp2 := h.rawWebhook(good, shopify.SignWebhook(good, apiSecret), "X-Shopify-Topic", "app/uninstalled",
		"X-Shopify-Shop-Domain", shop, "X-Shopify-Webhook-Id", "bad-\xff-id")
	if code != http.StatusBadRequest || !strings.Contains(resp2, "UTF-8") {
		t.Fatalf("invalid UTF-8 webhook id: %d %s", code, resp2)
	}
}
