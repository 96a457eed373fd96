package web_test

import (
	"bytes"
	"io"
	"mime/multipart"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"
)

var inlineScriptRe = regexp.MustCompile(`<script\b[^>]*>`)

func TestSecurityHeaders(t *testing.T) {
	h := newHarness(t, harnessOpts{env: map[string]string{"METRICS_TOKEN": "0123456789abcdef-metrics"}})
	const shop = "headers.myshopify.com"
	h.install(shop)
	auth := []string{"Authorization", "Bearer " + h.token(shop)}

	// nosniff everywhere, HSTS in production.
	for _, p := range []string{"/healthz", "/app/settings", "/static/nothing.js", "/u/not-a-token", "/nowhere"} {
		resp, _ := h.get(p, auth...)
		if resp.Header.Get("X-Content-Type-Options") != "nosniff" {
			t.Errorf("%s: X-Content-Type-Options %q", p, resp.Header.Get("X-Content-Type-Options"))
		}
		if !strings.HasPrefix(resp.Header.Get("Strict-Transport-Security"), "max-age=") {
			t.Errorf("%s: no HSTS in production", p)
		}
	}
	// Public pages opened from emails are never framed.
	for _, p := range []string{"/u/not-a-token", "/t/c/not-a-token", "/email/verify/not-a-token"} {
		resp, _ := h.get(p)
		if resp.Header.Get("X-Frame-Options") != "DENY" || !strings.Contains(resp.Header.Get("Content-Security-Policy"), "frame-ancestors 'none'") {
			t.Errorf("%s: X-Frame-Options %q, CSP %q", p, resp.Header.Get("X-Frame-Options"), resp.Header.Get("Content-Security-Policy"))
		}
	}
	// Admin pages: scripts only from here, Shopify's CDN, or with this
	// response's nonce; every inline script carries it.
	nonceRe := regexp.MustCompile(`script-src 'self' https://cdn\.shopify\.com 'nonce-([A-Za-z0-9+/=]+)'`)
	for _, p := range []string{"/app", "/app/customers", "/app/customers/import", "/app/segments", "/app/segments/new",
		"/app/templates", "/app/wheel", "/app/wheel/preview", "/app/settings"} {
		resp, body := h.get(p, auth...)
		csp := resp.Header.Get("Content-Security-Policy")
		m := nonceRe.FindStringSubmatch(csp)
		if resp.StatusCode != http.StatusOK || m == nil || !strings.Contains(csp, "https://"+shop+" https://admin.shopify.com;") {
			t.Errorf("%s: %d, CSP %q", p, resp.StatusCode, csp)
			continue
		}
		if resp.Header.Get("X-Frame-Options") != "" {
			t.Errorf("%s: X-Frame-Options would stop the Shopify admin framing the app", p)
		}
		for _, tag := range inlineScriptRe.FindAllString(body, -1) {
			if strings.Contains(tag, "src=") || strings.Contains(tag, `type="application/json"`) {
				continue
			}
			if !strings.Contains(tag, `nonce="`+m[1]+`"`) {
				t.Errorf("%s: inline script without this response's nonce: %s", p, tag)
			}
		}
	}

	// /metrics needs the token when one is configured.
	if resp, _ := h.get("/metrics"); resp.StatusCode != http.StatusUnauthorized || resp.Header.Get("WWW-Authenticate") == "" {
		t.Errorf("metrics without token: %d", resp.StatusCode)
	}
	if resp, _ := h.get("/metrics", "Authorization", "Bearer wrong-token-wrong-token"); resp.StatusCode != http.StatusUnauthorized {
		t.Errorf("metrics with a wrong token: %d", resp.StatusCode)
	}
	if resp, body := h.get("/metrics", "Authorization", "Bearer 0123456789abcdef-metrics"); resp.StatusCode != http.StatusOK ||
		!strings.Contains(body, "cartwheel_http_requests_total") {
		t.Errorf("metrics with the token: %d", resp.StatusCode)
	}
}

func TestNoHSTSInDev(t *testing.T) {
	h := newHarness(t, harnessOpts{dev: true})
	resp, _ := h.get("/healthz")
	if resp.Header.Get("Strict-Transport-Security") != "" || resp.Header.Get("X-Content-Type-Options") != "nosniff" {
		t.Fatalf("dev headers: %v", resp.Header)
	}
	if resp, _ := h.get("/metrics"); resp.StatusCode != http.StatusOK {
		t.Fatalf("metrics without METRICS_TOKEN: %d", resp.StatusCode)
	}
}

// chunked hides the length, so the limit must hold while reading.
type chunked struct{ r io.Reader }

func (c chunked) Read(p []byte) (int, error) { return c.r.Read(p) }

// Admin bodies are limited to 1 MiB (413, nothing spooled); the CSV upload
// keeps its own limit.
func TestAdminBodyLimit(t *testing.T) {
	h := newHarness(t, harnessOpts{})
	const shop = "limit.myshopify.com"
	sh := h.install(shop)
	auth := []string{"Authorization", "Bearer " + h.token(shop)}
	big := strings.Repeat("x", 3<<20)

	resp, body := h.postForm("/app/settings", url.Values{"sender_name": {big}}, append(auth, "HX-Request", "true")...)
	if resp.StatusCode != http.StatusRequestEntityTooLarge || !strings.Contains(body, "larger than 1024 KB") {
		t.Errorf("3 MB form: %d %.200s", resp.StatusCode, body)
	}
	var mp bytes.Buffer
	mw := multipart.NewWriter(&mp)
	fw, _ := mw.CreateFormFile("logo", "logo.bin")
	fw.Write([]byte(big))
	mw.Close()
	resp, body = h.do(http.MethodPost, "/app/wheel", chunked{bytes.NewReader(mp.Bytes())},
		append(auth, "Content-Type", mw.FormDataContentType(), "HX-Request", "true")...)
	if resp.StatusCode != http.StatusRequestEntityTooLarge || !strings.Contains(body, "larger than") {
		t.Errorf("3 MB multipart without a length: %d %.200s", resp.StatusCode, body)
	}
	resp, body = h.do(http.MethodPost, "/api/segments/preview", chunked{strings.NewReader(`{"rules":"` + big + `"}`)},
		append(auth, "Content-Type", "application/json")...)
	if resp.StatusCode != http.StatusRequestEntityTooLarge && resp.StatusCode != http.StatusBadRequest {
		t.Errorf("3 MB JSON: %d %.200s", resp.StatusCode, body)
	}
	// A 2 MB CSV is still welcome.
	var csv strings.Builder
	csv.WriteString("Email,Note\n")
	for i := 0; csv.Len() < 2<<20; i++ {
		csv.WriteString("user" + strings.Repeat("x", 80) + "@example.com,hello\n")
	}
	resp, body = h.upload(shop, "profiles", "big.csv", strings.NewReader(csv.String()))
	if resp.StatusCode != http.StatusOK && resp.StatusCode != http.StatusSeeOther {
		t.Errorf("2 MB CSV: %d %.300s", resp.StatusCode, body)
	}
	if n := h.count(`SELECT count(*) FROM csv_imports WHERE shop_id = $1`, sh.ID); n != 1 {
		t.Errorf("CSV imports: %d", n)
	}
	if n := h.count(`SELECT count(*) FROM shops WHERE id = $1 AND sender_name <> ''`, sh.ID); n != 0 {
		t.Errorf("the refused form was saved")
	}
}
