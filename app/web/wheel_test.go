package web_test

import (
	"encoding/json"
	"html"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/cartwheel/cartwheel/app/shopify"
)

// proxyURL signs path's query the way Shopify's app proxy does.
func proxyURL(shop, path string, extra url.Values, at time.Time) string {
	q := url.Values{"shop": {shop}, "path_prefix": {"/apps/cartwheel"}, "timestamp": {strconv.FormatInt(at.Unix(), 10)},
		"logged_in_customer_id": {""}}
	for k, v := range extra {
		q[k] = v
	}
	return path + "?" + shopify.SignProxyQuery(q, apiSecret).Encode()
}

func (h *harness) spin(shop, body string) (*http.Response, map[string]any) {
	h.t.Helper()
	resp, b := h.do(http.MethodPost, proxyURL(shop, "/proxy/spin", nil, time.Now()), strings.NewReader(body), "Content-Type", "application/json")
	var out map[string]any
	json.Unmarshal([]byte(b), &out)
	return resp, out
}

func TestWheelStorefront(t *testing.T) {
	h := newHarness(t, harnessOpts{})
	const shop = "wheel-shop.myshopify.com"
	sh := h.install(shop)

	resp, body := h.get(proxyURL(shop, "/proxy/wheel", url.Values{"visitor_id": {"v_abcdefgh12"}}, time.Now()))
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET /proxy/wheel: %d %s", resp.StatusCode, body)
	}
	var disp struct {
		Show  bool `json:"show"`
		Wheel struct {
			Slices []map[string]any `json:"slices"`
		} `json:"wheel"`
	}
	if err := json.Unmarshal([]byte(body), &disp); err != nil || !disp.Show || len(disp.Wheel.Slices) < 2 {
		t.Fatalf("wheel config: %s", body)
	}
	if strings.Contains(body, "weight") || strings.Contains(body, "prize_kind") {
		t.Fatalf("the storefront must not see odds or prizes: %s", body)
	}

	resp, out := h.spin(shop, `{"email":"Shopper@Example.com","first_name":"Sam","consent":true,"visitor_id":"v_abcdefgh12"}`)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("spin: %d %v", resp.StatusCode, out)
	}
	if _, ok := out["slice_index"].(float64); !ok || out["spin_id"] == nil || out["code_status"] == nil {
		t.Fatalf("spin answer: %v", out)
	}
	if n := h.count(`SELECT count(*) FROM customers WHERE shop_id = $1 AND lower(email) = 'shopper@example.com' AND email_consent = 'subscribed'`, sh.ID); n != 1 {
		t.Fatalf("subscribed customers: %d", n)
	}
	if n := h.count(`SELECT count(*) FROM river_job WHERE kind = 'customers.push_consent'`); n != 1 {
		t.Fatalf("consent push jobs: %d", n)
	}
	if n := h.count(`SELECT count(*) FROM events WHERE shop_id = $1 AND name = 'subscribed'`, sh.ID); n != 1 {
		t.Fatalf("subscribed events: %d", n)
	}

	// Same email, other case and spacing.
	resp, out = h.spin(shop, `{"email":"  shopper@EXAMPLE.com ","consent":true,"visitor_id":"v_otherdevice1"}`)
	if resp.StatusCode != http.StatusConflict || out["error"] != "already_spun" {
		t.Fatalf("repeat spin: %d %v", resp.StatusCode, out)
	}
	// Disposable address.
	resp, out = h.spin(shop, `{"email":"x@mailinator.com","consent":true,"visitor_id":"v_abcdefgh13"}`)
	if resp.StatusCode != http.StatusUnprocessableEntity || out["field"] != "email" {
		t.Fatalf("disposable: %d %v", resp.StatusCode, out)
	}
	// Oversized body.
	resp, _ = h.spin(shop, `{"email":"a@example.com","first_name":"`+strings.Repeat("a", 9000)+`"}`)
	if resp.StatusCode != http.StatusRequestEntityTooLarge {
		t.Fatalf("oversized body: %d", resp.StatusCode)
	}

	// The spin can be polled by its visitor only, and only in its shop.
	var spinID int64
	h.db.Get(&spinID, `SELECT id FROM spins WHERE shop_id = $1`, sh.ID)
	path := "/proxy/spin/" + strconv.FormatInt(spinID, 10)
	if resp, b := h.get(proxyURL(shop, path, url.Values{"visitor_id": {"v_abcdefgh12"}}, time.Now())); resp.StatusCode != http.StatusOK {
		t.Fatalf("poll own spin: %d %s", resp.StatusCode, b)
	}
	if resp, _ := h.get(proxyURL(shop, path, url.Values{"visitor_id": {"v_intruder_99"}}, time.Now())); resp.StatusCode != http.StatusNotFound {
		t.Fatalf("other visitor polled the spin: %d", resp.StatusCode)
	}
	const other = "other-shop.myshopify.com"
	h.install(other)
	if resp, _ := h.get(proxyURL(other, path, url.Values{"visitor_id": {"v_abcdefgh12"}}, time.Now())); resp.StatusCode != http.StatusNotFound {
		t.Fatalf("shop B read shop A's spin: %d", resp.StatusCode)
	}

	// Forged and stale signatures.
	forged := strings.Replace(proxyURL(shop, "/proxy/spin", nil, time.Now()), "shop="+shop, "shop="+other, 1)
	resp, _ = h.do(http.MethodPost, forged, strings.NewReader(`{"email":"f@example.com","consent":true,"visitor_id":"v_abcdefgh14"}`))
	if resp.StatusCode != http.StatusUnauthorized {
		t.Fatalf("forged signature: %d", resp.StatusCode)
	}
	resp, _ = h.do(http.MethodPost, proxyURL(shop, "/proxy/spin", nil, time.Now().Add(-time.Hour)),
		strings.NewReader(`{"email":"s@example.com","consent":true,"visitor_id":"v_abcdefgh15"}`))
	if resp.StatusCode != http.StatusUnauthorized {
		t.Fatalf("stale signature: %d", resp.StatusCode)
	}
	if n := h.count(`SELECT count(*) FROM spins`); n != 1 {
		t.Fatalf("%d spins, want 1", n)
	}
}

func wheelForm(label string) url.Values {
	f := url.Values{
		"enabled": {"on"}, "headline": {"Spin!"}, "consent": {"I agree to emails."}, "button": {"Spin"},
		"background": {"#FFFFFF"}, "text_color": {"#111111"}, "button_color": {"#111111"}, "button_text_color": {"#FFFFFF"},
		"delay_seconds": {"5"}, "scroll_percent": {"0"}, "pages_mode": {"all"}, "frequency_days": {"7"}, "prize_expiry_days": {"14"},
		"slice_label":  {label, "No luck"},
		"slice_color":  {"#F6C445", "#222222"},
		"slice_kind":   {"percentage", "none"},
		"slice_value":  {"10", ""},
		"slice_weight": {"3", "1"},
	}
	return f
}

func TestWheelAdmin(t *testing.T) {
	h := newHarness(t, harnessOpts{})
	const shop = "wheel-admin.myshopify.com"
	h.install(shop)
	auth := []string{"Authorization", "Bearer " + h.token(shop), "HX-Request", "true"}

	// Invalid: negative and all-zero weights are refused with messages, nothing saved.
	bad := wheelForm("10% off")
	bad["slice_weight"] = []string{"-1", "0"}
	resp, body := h.postForm("/app/wheel", bad, auth...)
	if resp.StatusCode != http.StatusUnprocessableEntity || !strings.Contains(body, "can&#39;t be negative") {
		t.Fatalf("negative weight: %d %s", resp.StatusCode, body)
	}
	bad["slice_weight"] = []string{"0", "0"}
	resp, body = h.postForm("/app/wheel", bad, auth...)
	if resp.StatusCode != http.StatusUnprocessableEntity || !strings.Contains(body, "weight above 0") {
		t.Fatalf("all zero: %d %s", resp.StatusCode, body)
	}
	if n := h.count(`SELECT count(*) FROM wheels WHERE config::text LIKE '%Spin!%'`); n != 0 {
		t.Fatal("an invalid form was saved")
	}

	// Script in a label: saved, shown escaped in the admin, plain string in JSON.
	label := `<script>alert(1)</script>`
	resp, body = h.postForm("/app/wheel", wheelForm(label), auth...)
	if resp.StatusCode != http.StatusOK || !strings.Contains(body, "Wheel saved") {
		t.Fatalf("save: %d %s", resp.StatusCode, body)
	}
	if strings.Contains(body, label) || !strings.Contains(body, html.EscapeString(label)) {
		t.Fatalf("label not escaped in the form")
	}
	resp, body = h.get("/app/wheel", "Authorization", "Bearer "+h.token(shop))
	if resp.StatusCode != http.StatusOK || strings.Contains(body, label) || !strings.Contains(body, "75.0%") {
		t.Fatalf("admin page: %d (raw label present: %v, odds shown: %v)", resp.StatusCode, strings.Contains(body, label), strings.Contains(body, "75.0%"))
	}
	resp, body = h.get(proxyURL(shop, "/proxy/wheel", nil, time.Now()))
	var disp struct {
		Wheel struct {
			Slices []struct {
				Label string `json:"label"`
			} `json:"slices"`
		} `json:"wheel"`
	}
	if err := json.Unmarshal([]byte(body), &disp); err != nil || len(disp.Wheel.Slices) != 2 || disp.Wheel.Slices[0].Label != label {
		t.Fatalf("storefront JSON: %s", body)
	}

	// The preview page is session-authenticated and frameable by the editor.
	resp, body = h.get("/app/wheel/preview?id_token=" + h.token(shop))
	if resp.StatusCode != http.StatusOK || !strings.Contains(resp.Header.Get("Content-Security-Policy"), "'self'") ||
		!strings.Contains(body, "/static/dist/storefront/wheel.js") || strings.Contains(body, label) {
		t.Fatalf("preview: %d %s", resp.StatusCode, resp.Header.Get("Content-Security-Policy"))
	}
	if _, b := h.get("/app/wheel/preview"); strings.Contains(b, "cw-wheel-config") {
		t.Fatal("preview served without a session")
	}
}

// "Send the code by email" is refused until the sender email is confirmed
// (the sender sends nothing before that, so shoppers would wait for an
// email that never comes); nothing is saved, and other problems of the
// form are reported alongside. Once confirmed, it saves.
func TestWheelEmailCodeNeedsConfirmedSender(t *testing.T) {
	h := newHarness(t, harnessOpts{})
	const shop = "wheel-email-code.myshopify.com"
	sh := h.install(shop)
	auth := []string{"Authorization", "Bearer " + h.token(shop), "HX-Request", "true"}
	form := wheelForm("10% off")
	form.Set("email_code", "on")
	form["slice_weight"] = []string{"-1", "1"}
	resp, body := h.postForm("/app/wheel", form, auth...)
	if resp.StatusCode != http.StatusUnprocessableEntity || !strings.Contains(body, "Confirm your sender email in Settings first") ||
		!strings.Contains(body, "can&#39;t be negative") {
		t.Fatalf("unconfirmed sender: %d %s", resp.StatusCode, body)
	}
	form["slice_weight"] = []string{"1", "1"}
	if resp, body = h.postForm("/app/wheel", form, auth...); resp.StatusCode != http.StatusUnprocessableEntity {
		t.Fatalf("unconfirmed sender, valid form: %d %s", resp.StatusCode, body)
	}
	if n := h.count(`SELECT count(*) FROM wheels WHERE config->>'email_code' = 'true'`); n != 0 {
		t.Fatal("email_code was saved without a confirmed sender")
	}
	if resp, _ := h.postForm("/app/settings", validSettings(), auth...); resp.StatusCode != http.StatusOK {
		t.Fatalf("settings: %d", resp.StatusCode)
	}
	if resp, _ := h.do(http.MethodPost, "/app/settings/sender/verify", nil, auth...); resp.StatusCode != http.StatusOK {
		t.Fatalf("verify: %d", resp.StatusCode)
	}
	h.db.MustExec(`UPDATE sender_verifications SET verified_at = now() WHERE shop_id = $1`, sh.ID)
	if resp, body = h.postForm("/app/wheel", form, auth...); resp.StatusCode != http.StatusOK || !strings.Contains(body, "Wheel saved") {
		t.Fatalf("confirmed sender: %d %s", resp.StatusCode, body)
	}
	if n := h.count(`SELECT count(*) FROM wheels WHERE config->>'email_code' = 'true'`); n != 1 {
		t.Fatal("email_code not saved once the sender was confirmed")
	}
}
