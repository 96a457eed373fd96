package web_test

import (
	"fmt"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"
)

// devStoreCookies are the dev storefront's shop and a cart with one
// Alpine Jacket (size S), as its pages leave them.
func devStoreCookies(shop string) []string {
	return []string{"Cookie", "cw_dev_shop=" + shop + "; cw_dev_cart=44610569208040x1"}
}

// A checkout in the dev store with the marketing box ticked reaches the app
// as Shopify's signed checkouts/create, subscribes the buyer and starts the
// live abandoned-checkout flow, whose day-1 email goes out a day later.
func TestDevCheckoutStartsAnAbandonedCheckoutRun(t *testing.T) {
	clock := &testClock{now: time.Now()}
	h := newHarness(t, harnessOpts{dev: true, workers: true, now: clock.Now})
	sh := h.install("devcheckout.myshopify.com")
	flowID := readyToSend(t, h, sh.ID)

	resp, body := h.postForm("/dev/storefront/checkout", url.Values{"email": {"jo@example.com"}, "buyer_accepts_marketing": {"1"}}, devStoreCookies(sh.Domain)...)
	if resp.StatusCode != http.StatusOK || !strings.Contains(body, `data-checkout="started"`) {
		t.Fatalf("checkout: %d\n%s", resp.StatusCode, body)
	}
	if n := h.count(`SELECT count(*) FROM webhook_deliveries WHERE shop_domain = $1 AND topic = 'checkouts/create' AND webhook_id <> '' AND event_id <> '' AND api_version <> '' AND triggered_at IS NOT NULL`, sh.Domain); n != 1 {
		t.Fatalf("%d checkouts/create deliveries with Shopify's headers stored, want 1", n)
	}
	h.eventually("the buyer subscribed by the checkout, with the Alpine Jacket in the checkout", func() bool {
		return h.count(`SELECT count(*) FROM customers WHERE shop_id = $1 AND email = 'jo@example.com' AND email_consent = 'subscribed' AND shopify_id IS NOT NULL`, sh.ID) == 1 &&
			h.count(`SELECT count(*) FROM checkouts WHERE shop_id = $1 AND kind = 'checkout' AND total_price = 149 AND completed_at IS NULL`, sh.ID) == 1
	})
	var cust int64
	h.db.Get(&cust, `SELECT id FROM customers WHERE shop_id = $1 AND email = 'jo@example.com'`, sh.ID)
	h.eventually("the abandoned-checkout run for the buyer", func() bool {
		return h.count(`SELECT count(*) FROM flow_runs r JOIN checkouts k ON k.shop_id = r.shop_id AND k.token = r.trigger_ref
			WHERE r.flow_id = $1 AND r.customer_id = $2 AND r.status = 'active'`, flowID, cust) == 1
	})
	// The merchant watches it on the flow page: the trigger holds the run
	// for its hour; each "Skip waits by 1 day" moves it on, and the day-1
	// email's numbers show it sent once the sender's job has run.
	// The session token is minted on the real clock: catch the app's up.
	clock.advance(time.Since(clock.Now()))
	auth := []string{"Authorization", "Bearer " + h.token(sh.Domain)}
	page := fmt.Sprintf("/app/flows/%d", flowID)
	if _, body := h.get(page, auth...); !strings.Contains(body, "1 entered · 1 waiting") {
		t.Fatalf("the trigger's numbers don't show the run:\n%s", body)
	}
	for range 2 {
		if resp, body := h.postForm(page+"/dev/run-due", url.Values{"advance": {"24h"}}, auth...); resp.StatusCode != http.StatusSeeOther {
			t.Fatalf("run due steps now: %d %s", resp.StatusCode, body)
		}
	}
	h.eventually("the day-1 email to the buyer", func() bool {
		return h.count(`SELECT count(*) FROM email_messages WHERE flow_id = $1 AND customer_id = $2 AND flow_step = 'email-1' AND status = 'sent'`, flowID, cust) == 1
	})
	stepNumbers := regexp.MustCompile(`data-step="email-1"[\s\S]*?data-step-numbers>([^<]*)<`)
	_, body = h.get(page, auth...)
	if m := stepNumbers.FindStringSubmatch(body); m == nil || !strings.HasPrefix(m[1], "1 entered · 0 waiting · 1 sent ·") {
		t.Fatalf("the day-1 step's numbers: %q", m)
	}
	if strings.Contains(body, "data-sending") {
		t.Fatal("the canvas still polls with nothing left to send")
	}

	// Unticked: the buyer is known, not subscribed, and gets no run.
	resp, _ = h.postForm("/dev/storefront/checkout", url.Values{"email": {"quiet@example.com"}}, devStoreCookies(sh.Domain)...)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("unticked checkout: %d", resp.StatusCode)
	}
	h.eventually("the unticked buyer's checkout applied", func() bool {
		return h.count(`SELECT count(*) FROM customers WHERE shop_id = $1 AND email = 'quiet@example.com' AND email_consent = 'not_subscribed'`, sh.ID) == 1 &&
			h.count(`SELECT count(*) FROM webhook_deliveries WHERE shop_domain = $1 AND processed_at IS NULL`, sh.Domain) == 0 &&
			h.count(`SELECT count(*) FROM customer_signals WHERE shop_id = $1`, sh.ID) == 0
	})
	if n := h.count(`SELECT count(*) FROM flow_runs r JOIN customers c ON c.id = r.customer_id WHERE r.flow_id = $1 AND c.email = 'quiet@example.com'`, flowID); n != 0 {
		t.Fatalf("%d runs for a buyer who didn't tick the box", n)
	}

	// Completing the order: checkouts/update with completed_at, then
	// orders/create; the run ends and the cart empties.
	resp, body = h.postForm("/dev/storefront/checkout", url.Values{"email": {"jo@example.com"}, "buyer_accepts_marketing": {"1"}}, devStoreCookies(sh.Domain)...)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("second checkout: %d %s", resp.StatusCode, body)
	}
	var started string
	for _, c := range resp.Cookies() {
		if c.Name == "cw_dev_checkout" {
			started = c.Value
		}
	}
	if started == "" {
		t.Fatal("the started checkout is not remembered")
	}
	resp, body = h.do(http.MethodPost, "/dev/storefront/checkout/complete", nil,
		"Cookie", "cw_dev_shop="+sh.Domain+"; cw_dev_cart=44610569208040x1; cw_dev_checkout="+started)
	if resp.StatusCode != http.StatusOK || !strings.Contains(body, `data-checkout="completed"`) {
		t.Fatalf("complete: %d\n%s", resp.StatusCode, body)
	}
	h.eventually("the order stored and every run of the buyer ended", func() bool {
		return h.count(`SELECT count(*) FROM orders WHERE shop_id = $1 AND customer_id = $2`, sh.ID, cust) == 1 &&
			h.count(`SELECT count(*) FROM flow_runs WHERE flow_id = $1 AND customer_id = $2 AND status = 'active'`, flowID, cust) == 0
	})
}

// Bad input gets a 422 naming the problem, and nothing reaches the app.
func TestDevCheckoutRefusesBadInput(t *testing.T) {
	h := newHarness(t, harnessOpts{dev: true})
	sh := h.install("devcheckout-bad.myshopify.com")
	resp, body := h.postForm("/dev/storefront/checkout", url.Values{"email": {"not-an-address"}}, devStoreCookies(sh.Domain)...)
	if resp.StatusCode != http.StatusUnprocessableEntity || !strings.Contains(body, "valid email address") {
		t.Fatalf("bad email: %d\n%s", resp.StatusCode, body)
	}
	resp, body = h.postForm("/dev/storefront/checkout", url.Values{"email": {"jo@example.com"}}, "Cookie", "cw_dev_shop="+sh.Domain)
	if resp.StatusCode != http.StatusUnprocessableEntity || !strings.Contains(body, "cart is empty") {
		t.Fatalf("empty cart: %d\n%s", resp.StatusCode, body)
	}
	if resp, _ := h.do(http.MethodPost, "/dev/storefront/checkout/complete", nil, devStoreCookies(sh.Domain)...); resp.StatusCode != http.StatusBadRequest {
		t.Fatalf("completing without a checkout: %d", resp.StatusCode)
	}
	if n := h.count(`SELECT count(*) FROM webhook_deliveries`); n != 0 {
		t.Fatalf("%d webhook deliveries after refused checkouts", n)
	}
}

// The dev checkout exists only in dev, for loopback clients.
func TestDevCheckoutIsDevAndLoopbackOnly(t *testing.T) {
	form := url.Values{"email": {"jo@example.com"}, "buyer_accepts_marketing": {"1"}}
	prod := newHarness(t, harnessOpts{})
	sh := prod.install("devcheckout-prod.myshopify.com")
	for _, p := range []string{"/dev/storefront/checkout", "/dev/storefront/checkout/complete"} {
		if resp, _ := prod.postForm(p, form, devStoreCookies(sh.Domain)...); resp.StatusCode != http.StatusNotFound {
			t.Fatalf("production %s: %d, want 404", p, resp.StatusCode)
		}
	}
	dev := newHarness(t, harnessOpts{dev: true})
	sh = dev.install("devcheckout-proxied.myshopify.com")
	proxied := append(devStoreCookies(sh.Domain), "X-Forwarded-For", "203.0.113.9")
	if resp, _ := dev.postForm("/dev/storefront/checkout", form, proxied...); resp.StatusCode != http.StatusForbidden {
		t.Fatalf("dev checkout through a proxy: %d, want 403", resp.StatusCode)
	}
	for _, h := range []*harness{prod, dev} {
		if n := h.count(`SELECT count(*) FROM webhook_deliveries`); n != 0 {
			t.Fatalf("%d webhook deliveries from refused checkouts", n)
		}
	}
}
