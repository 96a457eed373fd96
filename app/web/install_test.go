package web_test

import (
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/cartwheel/cartwheel/app/segments"
	"github.com/cartwheel/cartwheel/app/shopify"
)

// installQuery is what Shopify sends to /auth: shop, timestamp, hmac.
func installQuery(shop string) url.Values {
	return url.Values{"shop": {shop}, "timestamp": {strconv.FormatInt(time.Now().Unix(), 10)}, "host": {"YWRtaW4uc2hvcGlmeS5jb20vc3RvcmUvYQ"}}
}

// beginAuth runs /auth and returns the state nonce and the cookie.
func beginAuth(t *testing.T, h *harness, shop string) (string, *http.Cookie) {
	t.Helper()
	resp, body := h.get("/auth?" + shopify.SignQuery(installQuery(shop), apiSecret))
	if resp.StatusCode != http.StatusFound {
		t.Fatalf("/auth: %d %s", resp.StatusCode, body)
	}
	loc, err := url.Parse(resp.Header.Get("Location"))
	if err != nil {
		t.Fatal(err)
	}
	if loc.Host != shop || loc.Path != "/admin/oauth/authorize" {
		t.Fatalf("redirect goes to %s", loc)
	}
	q := loc.Query()
	if q.Get("client_id") != apiKey || q.Get("redirect_uri") != "https://cartwheel.test/auth/callback" || q.Get("scope") == "" {
		t.Fatalf("authorize URL params wrong: %v", q)
	}
	var cookie *http.Cookie
	for _, c := range resp.Cookies() {
		if c.Name == "cartwheel_oauth_state" {
			cookie = c
		}
	}
	if cookie == nil || !cookie.HttpOnly || !cookie.Secure {
		t.Fatalf("state cookie missing or not HttpOnly+Secure: %+v", cookie)
	}
	return q.Get("state"), cookie
}

func callbackQuery(shop, code, state string) url.Values {
	q := installQuery(shop)
	q.Set("code", code)
	q.Set("state", state)
	return q
}

func cookieHeader(c *http.Cookie) string { return c.Name + "=" + c.Value }

func TestOAuthInstallHappyPath(t *testing.T) {
	h := newHarness(t, harnessOpts{workers: true})
	const shop = "happy-store.myshopify.com"
	h.fake.AddShop(shopify.ShopInfo{Name: "Happy Store", Email: "owner@happy.test", MyshopifyDomain: shop,
		IanaTimezone: "Asia/Tokyo", CurrencyCode: "JPY", PlanName: "Shopify"})

	state, cookie := beginAuth(t, h, shop)
	code := h.fake.IssueCode(shop)
	resp, body := h.get("/auth/callback?"+shopify.SignQuery(callbackQuery(shop, code, state), apiSecret), "Cookie", cookieHeader(cookie))
	if resp.StatusCode != http.StatusFound {
		t.Fatalf("callback: %d %s", resp.StatusCode, body)
	}
	if got := resp.Header.Get("Location"); got != "https://"+shop+"/admin/apps/"+apiKey {
		t.Fatalf("not redirected into the embedded admin: %s", got)
	}

	// The token is stored encrypted, and decrypts to what Shopify issued.
	var sealed []byte
	if err := h.db.Get(&sealed, "SELECT access_token_enc FROM shops WHERE domain = $1", shop); err != nil {
		t.Fatal(err)
	}
	issued := h.fake.AccessToken(shop)
	if issued == "" || strings.Contains(string(sealed), issued) {
		t.Fatalf("token missing or stored in plain text")
	}
	sh, err := h.app.Shops.Installed(t.Context(), shop)
	if err != nil {
		t.Fatal(err)
	}
	if tok, err := h.app.Shops.AccessToken(t.Context(), sh.ID); err != nil || tok != issued {
		t.Fatalf("decrypted token %q, %v; want %q", tok, err, issued)
	}

	// The post-install job fetched the shop's details and checked webhooks.
	h.eventually("post-install job", func() bool {
		return h.count("SELECT count(*) FROM shops WHERE domain = $1 AND webhooks_checked_at IS NOT NULL", shop) == 1
	})
	// ... and gave the shop its preset segments (before the import, whose
	// full refresh fills them).
	if n := h.count("SELECT count(*) FROM segments WHERE shop_id = $1 AND preset_key IS NOT NULL", sh.ID); n != len(segments.Presets()) {
		t.Fatalf("preset segments: %d, want %d", n, len(segments.Presets()))
	}
	st, _ := h.app.Shops.Settings(t.Context(), sh.ID)
	if st.EffectiveTimezone() != "Asia/Tokyo" {
		t.Fatalf("settings timezone should default to the shop's own (Asia/Tokyo), got %q", st.EffectiveTimezone())
	}
	if n := h.count("SELECT count(*) FROM oauth_states"); n != 0 {
		t.Fatalf("state not consumed: %d left", n)
	}

	// Replaying the same callback URL is refused: the state was used.
	resp, _ = h.get("/auth/callback?"+shopify.SignQuery(callbackQuery(shop, code, state), apiSecret), "Cookie", cookieHeader(cookie))
	if resp.StatusCode != http.StatusForbidden {
		t.Fatalf("replayed callback: want 403, got %d", resp.StatusCode)
	}
}

func TestOAuthRejectsBadShopDomains(t *testing.T) {
	h := newHarness(t, harnessOpts{})
	for _, shop := range []string{"evil.com", "x.myshopify.com.evil.com", "https://x.myshopify.com/", "x.myshopify.com/", "", "x.myshopify.com%00"} {
		for _, path := range []string{"/auth", "/auth/callback"} {
			q := installQuery(shop)
			q.Set("code", "c")
			q.Set("state", "s")
			resp, body := h.get(path + "?" + shopify.SignQuery(q, apiSecret))
			if resp.StatusCode != http.StatusBadRequest || !strings.Contains(body, "myshopify.com domain") {
				t.Errorf("%s shop=%q: want 400 naming the expected domain, got %d", path, shop, resp.StatusCode)
			}
		}
	}
	if n := h.count("SELECT count(*) FROM oauth_states"); n != 0 {
		t.Fatalf("a bad request left %d states behind", n)
	}
}

func TestOAuthQueryHMAC(t *testing.T) {
	h := newHarness(t, harnessOpts{})
	const shop = "hmac-store.myshopify.com"
	signed := shopify.SignQuery(installQuery(shop), apiSecret)

	// Reordered parameters are still valid: the HMAC is over sorted pairs.
	parts := strings.Split(signed, "&")
	for i, j := 0, len(parts)-1; i < j; i, j = i+1, j-1 {
		parts[i], parts[j] = parts[j], parts[i]
	}
	if resp, body := h.get("/auth?" + strings.Join(parts, "&")); resp.StatusCode != http.StatusFound {
		t.Fatalf("reordered params: want 302, got %d %s", resp.StatusCode, body)
	}

	cases := []struct {
		name  string
		query string
		want  int
	}{
		{"missing hmac", installQuery(shop).Encode(), http.StatusBadRequest},
		{"duplicated shop", signed + "&shop=" + shop, http.StatusBadRequest},
		{"duplicated timestamp", signed + "&timestamp=1", http.StatusBadRequest},
		{"wrong hmac", strings.Replace(signed, "hmac=", "hmac=00", 1), http.StatusUnauthorized},
		{"signed with another secret", shopify.SignQuery(installQuery(shop), "other-secret"), http.StatusUnauthorized},
		{"tampered value", strings.Replace(signed, "timestamp=", "timestamp=9", 1), http.StatusUnauthorized},
	}
	for _, tc := range cases {
		for _, path := range []string{"/auth", "/auth/callback"} {
			resp, _ := h.get(path + "?" + tc.query)
			if resp.StatusCode != tc.want {
				t.Errorf("%s %s: want %d, got %d", tc.name, path, tc.want, resp.StatusCode)
			}
		}
	}
	if n := h.count("SELECT count(*) FROM shops"); n != 0 {
		t.Fatalf("bad callbacks stored %d shops", n)
	}
}

func TestOAuthStateChecks(t *testing.T) {
	h := newHarness(t, harnessOpts{})
	const shop = "state-store.myshopify.com"
	const other = "other-store.myshopify.com"
	h.fake.AddShop(shopify.ShopInfo{Name: "S", MyshopifyDomain: shop})
	state, cookie := beginAuth(t, h, shop)
	otherState, otherCookie := beginAuth(t, h, other)
	code := h.fake.IssueCode(shop)

	cases := []struct {
		name, state, cookie string
	}{
		{"no cookie", state, ""},
		{"state not matching the cookie", otherState, cookieHeader(cookie)},
		{"cookie of another shop's install", otherState, cookieHeader(otherCookie)},
		{"forged cookie signature", state, "cartwheel_oauth_state=" + state + ".deadbeef"},
		{"made-up state", "0123456789abcdef", cookieHeader(cookie)},
	}
	for _, tc := range cases {
		headers := []string{}
		if tc.cookie != "" {
			headers = append(headers, "Cookie", tc.cookie)
		}
		resp, _ := h.get("/auth/callback?"+shopify.SignQuery(callbackQuery(shop, code, tc.state), apiSecret), headers...)
		if resp.StatusCode != http.StatusForbidden {
			t.Errorf("%s: want 403, got %d", tc.name, resp.StatusCode)
		}
	}
	if n := h.count("SELECT count(*) FROM shops"); n != 0 {
		t.Fatalf("state failures stored %d shops", n)
	}
	// The genuine state still works after all that.
	resp, body := h.get("/auth/callback?"+shopify.SignQuery(callbackQuery(shop, code, state), apiSecret), "Cookie", cookieHeader(cookie))
	if resp.StatusCode != http.StatusFound {
		t.Fatalf("genuine callback: %d %s", resp.StatusCode, body)
	}
}

func TestOAuthBadCodeStoresNothing(t *testing.T) {
	h := newHarness(t, harnessOpts{})
	const shop = "code-store.myshopify.com"
	h.fake.AddShop(shopify.ShopInfo{Name: "S", MyshopifyDomain: shop})
	state, cookie := beginAuth(t, h, shop)
	resp, _ := h.get("/auth/callback?"+shopify.SignQuery(callbackQuery(shop, "not-a-code", state), apiSecret), "Cookie", cookieHeader(cookie))
	if resp.StatusCode != http.StatusBadGateway {
		t.Fatalf("want 502 when Shopify refuses the code, got %d", resp.StatusCode)
	}
	if n := h.count("SELECT count(*) FROM shops"); n != 0 {
		t.Fatal("a refused code stored a shop")
	}
}

func TestManagedInstallByTokenExchange(t *testing.T) {
	h := newHarness(t, harnessOpts{workers: true})
	const shop = "managed-store.myshopify.com"
	h.fake.AddShop(shopify.ShopInfo{Name: "Managed", MyshopifyDomain: shop, IanaTimezone: "America/Chicago", CurrencyCode: "USD"})
	tok := h.token(shop)
	resp, body := h.get("/?" + url.Values{"shop": {shop}, "host": {"aG9zdA"}, "id_token": {tok}, "embedded": {"1"}}.Encode())
	if resp.StatusCode != http.StatusFound {
		t.Fatalf("embedded entry: %d %s", resp.StatusCode, body)
	}
	loc, _ := url.Parse(resp.Header.Get("Location"))
	if loc.Path != "/app" || loc.Query().Get("id_token") != tok || loc.Query().Get("shop") != shop {
		t.Fatalf("want redirect to /app with the token, got %s", loc)
	}
	sh, err := h.app.Shops.Installed(t.Context(), shop)
	if err != nil {
		t.Fatalf("shop not installed after token exchange: %v", err)
	}
	if tok, _ := h.app.Shops.AccessToken(t.Context(), sh.ID); tok == "" || tok != h.fake.AccessToken(shop) {
		t.Fatalf("offline token not stored: %q", tok)
	}
	// Following the redirect renders the dashboard.
	resp, body = h.get(resp.Header.Get("Location"))
	if resp.StatusCode != http.StatusOK || !strings.Contains(body, "Dashboard") {
		t.Fatalf("dashboard: %d", resp.StatusCode)
	}
	h.eventually("shop details fetched", func() bool {
		return h.count("SELECT count(*) FROM shops WHERE domain = $1 AND iana_timezone = 'America/Chicago'", shop) == 1
	})
}

func TestManagedInstallRefusesBadTokens(t *testing.T) {
	h := newHarness(t, harnessOpts{})
	const shop = "managed-bad.myshopify.com"
	h.fake.AddShop(shopify.ShopInfo{Name: "M", MyshopifyDomain: shop})
	forged, _ := shopify.MintSessionToken(shop, apiKey, "not-the-secret", "1", time.Now(), time.Minute)
	expired, _ := shopify.MintSessionToken(shop, apiKey, apiSecret, "1", time.Now().Add(-10*time.Minute), time.Minute)
	for name, tok := range map[string]string{"forged": forged, "expired": expired, "garbage": "abc.def.ghi"} {
		resp, _ := h.get("/?" + url.Values{"shop": {shop}, "id_token": {tok}}.Encode())
		if resp.StatusCode != http.StatusUnauthorized {
			t.Errorf("%s token: want 401, got %d", name, resp.StatusCode)
		}
	}
	// A valid token whose shop differs from the shop parameter.
	resp, _ := h.get("/?" + url.Values{"shop": {"someone-else.myshopify.com"}, "id_token": {h.token(shop)}}.Encode())
	if resp.StatusCode != http.StatusBadRequest {
		t.Errorf("mismatched shop: want 400, got %d", resp.StatusCode)
	}
	if n := h.count("SELECT count(*) FROM shops"); n != 0 {
		t.Fatalf("bad tokens installed %d shops", n)
	}
	if len(h.fake.Requests()) != 0 {
		t.Fatalf("bad tokens reached Shopify: %d requests", len(h.fake.Requests()))
	}
}
