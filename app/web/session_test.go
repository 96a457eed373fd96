package web_test

import (
	"crypto/rand"
	"crypto/rsa"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/cartwheel/cartwheel/app/db"
	"github.com/jmoiron/sqlx"
)

func claimsFor(shop string, now time.Time) jwt.MapClaims {
	return jwt.MapClaims{
		"iss": "https://" + shop + "/admin", "dest": "https://" + shop, "aud": apiKey, "sub": "42",
		"exp": now.Add(time.Minute).Unix(), "nbf": now.Add(-time.Second).Unix(), "iat": now.Unix(),
		"jti": "abc", "sid": "sid",
	}
}

func sign(t *testing.T, method jwt.SigningMethod, key any, c jwt.MapClaims) string {
	t.Helper()
	s, err := jwt.NewWithClaims(method, c).SignedString(key)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func TestSessionTokenRejections(t *testing.T) {
	h := newHarness(t, harnessOpts{})
	const shop = "session-store.myshopify.com"
	h.install(shop)
	const gone = "gone-store.myshopify.com"
	goneShop := h.install(gone)
	if err := db.InTx(t.Context(), h.db, func(tx *sqlx.Tx) error {
		_, err := h.app.Shops.MarkUninstalled(t.Context(), tx, gone, time.Now())
		return err
	}); err != nil {
		t.Fatal(err)
	}
	_ = goneShop
	now := time.Now()
	rsaKey, _ := rsa.GenerateKey(rand.Reader, 2048)

	mod := func(f func(jwt.MapClaims)) jwt.MapClaims {
		c := claimsFor(shop, now)
		f(c)
		return c
	}
	cases := map[string]string{
		"expired": sign(t, jwt.SigningMethodHS256, []byte(apiSecret), mod(func(c jwt.MapClaims) {
			c["exp"] = now.Add(-time.Minute).Unix()
		})),
		"not yet valid": sign(t, jwt.SigningMethodHS256, []byte(apiSecret), mod(func(c jwt.MapClaims) {
			c["nbf"] = now.Add(time.Minute).Unix()
		})),
		"another secret": sign(t, jwt.SigningMethodHS256, []byte("another-secret"), claimsFor(shop, now)),
		"alg none":       sign(t, jwt.SigningMethodNone, jwt.UnsafeAllowNoneSignatureType, claimsFor(shop, now)),
		"RS256":          sign(t, jwt.SigningMethodRS256, rsaKey, claimsFor(shop, now)),
		"foreign aud": sign(t, jwt.SigningMethodHS256, []byte(apiSecret), mod(func(c jwt.MapClaims) {
			c["aud"] = "someone-elses-app"
		})),
		"iss and dest differ": sign(t, jwt.SigningMethodHS256, []byte(apiSecret), mod(func(c jwt.MapClaims) {
			c["iss"] = "https://other-store.myshopify.com/admin"
		})),
		"dest not a shop": sign(t, jwt.SigningMethodHS256, []byte(apiSecret), mod(func(c jwt.MapClaims) {
			c["dest"], c["iss"] = "https://evil.com", "https://evil.com/admin"
		})),
		"dest for an uninstalled shop": sign(t, jwt.SigningMethodHS256, []byte(apiSecret), claimsFor(gone, now)),
		"dest for an unknown shop":     sign(t, jwt.SigningMethodHS256, []byte(apiSecret), claimsFor("never-seen.myshopify.com", now)),
		"garbage":                      "not.a.jwt",
	}
	for name, tok := range cases {
		for _, path := range []string{"/api/session", "/app/settings"} {
			resp, body := h.get(path, "Authorization", "Bearer "+tok, "HX-Request", "true")
			if resp.StatusCode != http.StatusUnauthorized {
				t.Errorf("%s on %s: want 401, got %d", name, path, resp.StatusCode)
			}
			if strings.Contains(body, "postal_address") || strings.Contains(body, "Shop "+shop) {
				t.Errorf("%s on %s: 401 body leaks shop data: %s", name, path, body)
			}
		}
		// The same token in the id_token parameter of a page load.
		resp, _ := h.get("/app?id_token=" + tok)
		if resp.StatusCode != http.StatusUnauthorized {
			t.Errorf("%s as id_token: want 401, got %d", name, resp.StatusCode)
		}
	}
	// Within the 10 s leeway an expired token still passes (clock skew).
	skewed := sign(t, jwt.SigningMethodHS256, []byte(apiSecret), mod(func(c jwt.MapClaims) { c["exp"] = now.Add(-5 * time.Second).Unix() }))
	if resp, body := h.get("/api/session", "Authorization", "Bearer "+skewed); resp.StatusCode != http.StatusOK {
		t.Fatalf("token within leeway: %d %s", resp.StatusCode, body)
	}
	// A good token works, and the shop comes from it, not from parameters.
	resp, body := h.get("/api/session?shop=other-store.myshopify.com", "Authorization", "Bearer "+h.token(shop))
	if resp.StatusCode != http.StatusOK || !strings.Contains(body, `"shop":"`+shop+`"`) {
		t.Fatalf("valid token: %d %s", resp.StatusCode, body)
	}
}

func TestAdminPagesFrameAncestorsAndBounce(t *testing.T) {
	h := newHarness(t, harnessOpts{})
	const shop = "frame-store.myshopify.com"
	h.install(shop)
	resp, body := h.get("/app/settings?shop="+shop, "Authorization", "Bearer "+h.token(shop))
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("settings: %d", resp.StatusCode)
	}
	if got := resp.Header.Get("Content-Security-Policy"); !strings.HasPrefix(got, "frame-ancestors https://"+shop+" https://admin.shopify.com;") {
		t.Fatalf("CSP: %q", got)
	}
	if !strings.Contains(body, `name="postal_address"`) {
		t.Fatal("settings form not rendered")
	}
	// Every navigation entry renders for the merchant, with an honest empty state.
	for _, p := range []string{"/app", "/app/customers", "/app/segments", "/app/flows", "/app/campaigns", "/app/templates", "/app/wheel", "/app/reports"} {
		resp, body := h.get(p, "Authorization", "Bearer "+h.token(shop))
		if resp.StatusCode != http.StatusOK || !strings.Contains(body, `href="/app/settings"`) {
			t.Errorf("%s: %d", p, resp.StatusCode)
		}
	}
	// A plain link followed inside the iframe carries no token: the bounce
	// page (App Bridge in production) fetches one and reloads.
	resp, body = h.get("/app/customers?shop=" + shop)
	if resp.StatusCode != http.StatusOK || !strings.Contains(body, "data-bounce") || strings.Contains(body, "Your customers") {
		t.Fatalf("bounce: %d %s", resp.StatusCode, body)
	}
	if !strings.Contains(body, "https://cdn.shopify.com/shopifycloud/app-bridge.js") {
		t.Fatal("production bounce page must load App Bridge")
	}
	// htmx and API requests without a token get 401, never a page.
	if resp, _ := h.get("/app/customers", "HX-Request", "true"); resp.StatusCode != http.StatusUnauthorized {
		t.Fatalf("htmx without token: %d", resp.StatusCode)
	}
	if resp, _ := h.get("/api/session"); resp.StatusCode != http.StatusUnauthorized || resp.Header.Get("X-Shopify-Retry-Invalid-Session-Request") != "1" {
		t.Fatalf("api without token: %d", resp.StatusCode)
	}
}

func TestDevLogin(t *testing.T) {
	prod := newHarness(t, harnessOpts{})
	prod.install("demo.myshopify.com")
	if resp, _ := prod.get("/dev/login?shop=demo.myshopify.com"); resp.StatusCode != http.StatusNotFound {
		t.Fatalf("dev login must not exist in production: %d", resp.StatusCode)
	}
	if resp, _ := prod.get("/dev/token?shop=demo.myshopify.com"); resp.StatusCode != http.StatusNotFound {
		t.Fatalf("dev token must not exist in production: %d", resp.StatusCode)
	}

	dev := newHarness(t, harnessOpts{dev: true})
	dev.install("demo.myshopify.com")
	resp, _ := dev.get("/dev/login?shop=demo.myshopify.com")
	if resp.StatusCode != http.StatusFound {
		t.Fatalf("dev login: %d", resp.StatusCode)
	}
	resp, body := dev.get(resp.Header.Get("Location"))
	if resp.StatusCode != http.StatusOK || !strings.Contains(body, "Dashboard") {
		t.Fatalf("dev login did not open the admin: %d", resp.StatusCode)
	}
	if strings.Contains(body, "app-bridge.js") || !strings.Contains(body, `name="cartwheel-dev-shop"`) {
		t.Fatal("dev pages use the dev shim instead of App Bridge")
	}
	if resp, _ := dev.get("/dev/login?shop=unknown.myshopify.com"); resp.StatusCode != http.StatusNotFound {
		t.Fatalf("dev login for an unknown shop: %d", resp.StatusCode)
	}
	if resp, _ := dev.get("/dev/login?shop=evil.com"); resp.StatusCode != http.StatusBadRequest {
		t.Fatalf("dev login for a bad domain: %d", resp.StatusCode)
	}
	if resp, _ := dev.get("/dev/login?shop=demo.myshopify.com", "X-Forwarded-For", "203.0.113.9"); resp.StatusCode != http.StatusForbidden {
		t.Fatalf("dev login through a proxy must be refused: %d", resp.StatusCode)
	}
}

func TestHealthAndMetrics(t *testing.T) {
	h := newHarness(t, harnessOpts{})
	resp, body := h.get("/healthz")
	if resp.StatusCode != http.StatusOK || !strings.Contains(body, `"database":"ok"`) {
		t.Fatalf("healthz: %d %s", resp.StatusCode, body)
	}
	h.get("/api/session")
	resp, body = h.get("/metrics")
	if resp.StatusCode != http.StatusOK || !strings.Contains(body, `cartwheel_http_requests_total{code="401",method="GET",route="/api/session"} 1`) {
		t.Fatalf("metrics missing request counter:\n%s", body)
	}
	h.db.Close()
	if resp, _ := h.get("/healthz"); resp.StatusCode != http.StatusServiceUnavailable {
		t.Fatalf("healthz with the database gone: %d", resp.StatusCode)
	}
}

// In dev the root URL (where `make dev` points) opens the demo shop's
// admin through the dev login; in production it stays the install entry.
func TestRootURL(t *testing.T) {
	dev := newHarness(t, harnessOpts{dev: true})
	dev.install("demo.myshopify.com")
	resp, _ := dev.get("/")
	if resp.StatusCode != http.StatusFound || resp.Header.Get("Location") != "/dev/login?shop=demo.myshopify.com" {
		t.Fatalf("dev GET /: %d to %q, want 302 to the dev login", resp.StatusCode, resp.Header.Get("Location"))
	}
	resp, _ = dev.get(resp.Header.Get("Location"))
	resp, body := dev.get(resp.Header.Get("Location"))
	if resp.StatusCode != http.StatusOK || !strings.Contains(body, "Dashboard") {
		t.Fatalf("dev GET / did not end in the admin: %d", resp.StatusCode)
	}
	// Shopify's own loads (shop, host, id_token) keep their meaning in dev.
	if resp, body := dev.get("/?shop=demo.myshopify.com"); resp.StatusCode != http.StatusOK || strings.Contains(body, "Dashboard") {
		t.Fatalf("dev GET /?shop=…: %d, want the App Bridge bounce page", resp.StatusCode)
	}

	prod := newHarness(t, harnessOpts{})
	prod.install("demo.myshopify.com")
	resp, body = prod.get("/")
	if resp.StatusCode == http.StatusFound || !strings.Contains(body, "Install it from the Shopify App Store") {
		t.Fatalf("production GET /: %d %q, want the install entry", resp.StatusCode, resp.Header.Get("Location"))
	}
}
