package web

import (
	"encoding/json"
	"testing"
	"time"

	goshopify "github.com/bold-commerce/go-shopify/v4"

	"github.com/cartwheel/cartwheel/app/shopify"
)

// The dev store's checkout webhook is signed as Shopify signs (base64
// HMAC-SHA256 of the raw body with the app secret), carries Shopify's
// headers, and parses with go-shopify's checkout and customer structs.
func TestDevCheckoutWebhookVerifiesWithTheAppSecret(t *testing.T) {
	now := time.Date(2026, 12, 3, 14, 0, 0, 0, time.UTC)
	k := devCheckout{ID: 30000000000001, Token: "tok123", CartToken: "cart123", Email: "jo@example.com", Marketing: true, CreatedAt: now}
	lines := []devCartLine{{Variant: devJacket.Variants[2], Quantity: 2}}
	body, err := devCheckoutPayload("demo.myshopify.com", k, lines, devBuyer{ID: 9000000000042, Consent: "subscribed", ConsentUpdatedAt: &now}, now, nil)
	if err != nil {
		t.Fatal(err)
	}
	hdr := devWebhookHeaders("demo.myshopify.com", "checkouts/create", body, "the-app-secret", now)
	if !shopify.VerifyWebhookHMAC(body, hdr["X-Shopify-Hmac-Sha256"], "the-app-secret") {
		t.Fatal("the webhook doesn't verify with the app secret")
	}
	if shopify.VerifyWebhookHMAC(body, hdr["X-Shopify-Hmac-Sha256"], "another-secret") {
		t.Fatal("the webhook verifies with another secret")
	}
	if shopify.VerifyWebhookHMAC(append(body[:len(body)-1:len(body)-1], ' ', '}'), hdr["X-Shopify-Hmac-Sha256"], "the-app-secret") {
		t.Fatal("the signature doesn't cover the raw bytes")
	}
	for name, want := range map[string]string{"X-Shopify-Topic": "checkouts/create", "X-Shopify-Shop-Domain": "demo.myshopify.com",
		"X-Shopify-API-Version": shopify.APIVersion, "X-Shopify-Triggered-At": "2026-12-03T14:00:00Z"} {
		if hdr[name] != want {
			t.Errorf("%s = %q, want %q", name, hdr[name], want)
		}
	}
	if len(hdr["X-Shopify-Webhook-Id"]) != 36 || len(hdr["X-Shopify-Event-Id"]) != 36 || hdr["X-Shopify-Webhook-Id"] == devWebhookHeaders("demo.myshopify.com", "checkouts/create", body, "s", now)["X-Shopify-Webhook-Id"] {
		t.Errorf("webhook and event ids must be fresh UUIDs: %q %q", hdr["X-Shopify-Webhook-Id"], hdr["X-Shopify-Event-Id"])
	}

	var c struct {
		goshopify.AbandonedCheckout
		LineItems []struct {
			ProductID uint64 `json:"product_id"`
			VariantID uint64 `json:"variant_id"`
			Quantity  int    `json:"quantity"`
			Price     string `json:"price"`
		} `json:"line_items"`
		Customer struct {
			goshopify.Customer
			MarketingOptInLevel any `json:"marketing_opt_in_level"`
		} `json:"customer"`
	}
	if err := json.Unmarshal(body, &c); err != nil {
		t.Fatalf("payload doesn't parse as Shopify's checkout: %v", err)
	}
	if c.Token != "tok123" || c.CartToken != "cart123" || c.Email != "jo@example.com" || !c.BuyerAcceptsMarketing ||
		c.AbandonedCheckoutUrl == "" || c.TotalPrice == nil || c.TotalPrice.String() != "318" || c.CreatedAt == nil || c.CompletedAt != nil {
		t.Errorf("checkout fields: %+v", c.AbandonedCheckout)
	}
	if len(c.LineItems) != 1 || c.LineItems[0].VariantID != 44610569208042 || c.LineItems[0].ProductID != uint64(devJacket.ID) ||
		c.LineItems[0].Quantity != 2 || c.LineItems[0].Price != "159.00" {
		t.Errorf("line items: %+v", c.LineItems)
	}
	if c.Customer.Id != 9000000000042 || c.Customer.EmailMarketingConsent == nil || c.Customer.EmailMarketingConsent.State != "subscribed" ||
		c.Customer.EmailMarketingConsent.ConsentUpdatedAt == nil {
		t.Errorf("customer: %+v", c.Customer.Customer)
	}
}
