package web_test

import (
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/cartwheel/cartwheel/app/server"
)

// secondInstance is another app instance (its own router, limiter and
// pools) on the harness's database, as a second `serve` process would be.
func (h *harness) secondInstance() *httptest.Server {
	h.t.Helper()
	app, err := server.New(h.app.Config, h.db, slog.New(slog.NewTextHandler(io.Discard, nil)), server.Options{JobPollInterval: 20 * time.Millisecond})
	if err != nil {
		h.t.Fatal(err)
	}
	srv := httptest.NewServer(app.Handler)
	h.t.Cleanup(srv.Close)
	return srv
}

// send is h.do against another server.
func (h *harness) send(base, method, path, body string, headers ...string) (*http.Response, string) {
	h.t.Helper()
	return h.sendTo(base, method, path, strings.NewReader(body), headers...)
}

// 25 test sends fired at once, through two instances: exactly 10 go out,
// the rest are told to wait with Retry-After.
func TestTestSendsLimitedPerShopAcrossInstances(t *testing.T) {
	h := newHarness(t, harnessOpts{})
	const shop = "limit-tpl.myshopify.com"
	sh := h.install(shop)
	other := h.secondInstance()
	bearer := []string{"Authorization", "Bearer " + h.token(shop)}
	auth := append([]string{"HX-Request", "true"}, bearer...)
	resp, _ := h.postForm("/app/templates", url.Values{"starter": {"welcome"}, "locale": {"en"}}, bearer...)
	edit := resp.Header.Get("Location")
	if resp.StatusCode != http.StatusSeeOther || edit == "" {
		t.Fatalf("create template: %d", resp.StatusCode)
	}
	if resp, _ := h.postForm("/app/settings", validSettings(), auth...); resp.StatusCode != http.StatusOK {
		t.Fatalf("settings: %d", resp.StatusCode)
	}
	if resp, _ := h.do(http.MethodPost, "/app/settings/sender/verify", nil, auth...); resp.StatusCode != http.StatusOK {
		t.Fatalf("verify: %d", resp.StatusCode)
	}
	h.db.MustExec(`UPDATE sender_verifications SET verified_at = now() WHERE shop_id = $1`, sh.ID)

	type answer struct {
		status int
		retry  string
		body   string
	}
	answers := make([]answer, 25)
	var wg sync.WaitGroup
	for i := range answers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			base := h.srv.URL
			if i%2 == 1 {
				base = other.URL
			}
			form := url.Values{"to": {fmt.Sprintf("outsider%d@example.net", i)}}
			resp, body := h.send(base, http.MethodPost, edit+"/test", form.Encode(),
				append([]string{"Content-Type", "application/x-www-form-urlencoded"}, auth...)...)
			answers[i] = answer{resp.StatusCode, resp.Header.Get("Retry-After"), body}
		}()
	}
	wg.Wait()
	sent, limited := 0, 0
	for _, a := range answers {
		switch a.status {
		case http.StatusOK:
			sent++
		case http.StatusTooManyRequests:
			limited++
			if n, err := strconv.Atoi(a.retry); err != nil || n < 1 {
				t.Errorf("429 without Retry-After: %q", a.retry)
			}
			if !strings.Contains(a.body, "10 test emails in the last 10 minutes") {
				t.Errorf("429 without a clear message:\n%s", a.body)
			}
		default:
			t.Errorf("unexpected answer %d:\n%s", a.status, a.body)
		}
	}
	if sent != 10 || limited != 15 {
		t.Fatalf("sent %d, limited %d; want 10 and 15", sent, limited)
	}
	if n := h.count(`SELECT count(*) FROM outbox_messages WHERE shop_id = $1 AND to_email LIKE 'outsider%'`, sh.ID); n != 10 {
		t.Fatalf("%d messages in the outbox, want 10", n)
	}
}

// 30 spins with throwaway addresses from one visitor, half through each
// instance: 3 are taken, the rest get 429 with Retry-After and a message
// for the shopper.
func TestSpinsThrottledPerVisitorAcrossInstances(t *testing.T) {
	h := newHarness(t, harnessOpts{})
	const shop = "limit-wheel.myshopify.com"
	sh := h.install(shop)
	enableWheel(t, h, shop)
	other := h.secondInstance()
	var wg sync.WaitGroup
	var mu sync.Mutex
	codes := map[int]int{}
	for i := range 30 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			base := h.srv.URL
			if i%2 == 1 {
				base = other.URL
			}
			body := fmt.Sprintf(`{"email":"throwaway%d@example.org","consent":true,"visitor_id":"v_attacker0001"}`, i)
			// Each spin from its own address: only the visitor limit applies.
			resp, b := h.send(base, http.MethodPost, proxyURL(shop, "/proxy/spin", nil, time.Now()), body,
				"Content-Type", "application/json", "X-Forwarded-For", fmt.Sprintf("203.0.113.%d", i+1))
			mu.Lock()
			codes[resp.StatusCode]++
			mu.Unlock()
			if resp.StatusCode == http.StatusTooManyRequests {
				var out map[string]string
				json.Unmarshal([]byte(b), &out)
				if resp.Header.Get("Retry-After") == "" || !strings.Contains(out["message"], "wait a few minutes") {
					t.Errorf("429 answer: %q %s", resp.Header.Get("Retry-After"), b)
				}
			}
		}()
	}
	wg.Wait()
	if codes[http.StatusOK] != 3 || codes[http.StatusTooManyRequests] != 27 {
		t.Fatalf("answers %v; want 3 × 200 and 27 × 429", codes)
	}
	if n := h.count(`SELECT count(*) FROM spins WHERE shop_id = $1`, sh.ID); n != 3 {
		t.Fatalf("%d spins stored, want 3", n)
	}
}

// The shopper's address comes from X-Forwarded-For on proxy-signed
// requests: one address is throttled whatever visitor ids it sends, and
// another address keeps its own budget.
func TestSpinsThrottledPerShopperAddress(t *testing.T) {
	h := newHarness(t, harnessOpts{})
	const shop = "limit-ip.myshopify.com"
	h.install(shop)
	enableWheel(t, h, shop)
	spinFrom := func(ip string, i int) int {
		body := fmt.Sprintf(`{"email":"s%d@example.org","consent":true,"visitor_id":"v_visitor%05d"}`, i, i)
		resp, _ := h.do(http.MethodPost, proxyURL(shop, "/proxy/spin", nil, time.Now()), strings.NewReader(body),
			"Content-Type", "application/json", "X-Forwarded-For", ip)
		return resp.StatusCode
	}
	ok := 0
	for i := range 15 {
		if spinFrom("198.51.100.7", i) == http.StatusOK {
			ok++
		}
	}
	if ok != 10 {
		t.Fatalf("%d of 15 spins from one address accepted, want 10", ok)
	}
	if code := spinFrom("198.51.100.8", 100); code != http.StatusOK {
		t.Fatalf("another shopper's address was refused: %d", code)
	}
	// Without Shopify's signature the header is worth nothing: the request
	// is refused before it is read.
	resp, _ := h.do(http.MethodPost, "/proxy/spin?shop="+shop, strings.NewReader(`{}`),
		"Content-Type", "application/json", "X-Forwarded-For", "192.0.2.1")
	if resp.StatusCode != http.StatusUnauthorized {
		t.Fatalf("unsigned spin: %d", resp.StatusCode)
	}
}

// enableWheel turns the shop's default wheel on.
func enableWheel(t *testing.T, h *harness, shop string) {
	t.Helper()
	var id int64
	if err := h.db.Get(&id, `SELECT id FROM shops WHERE domain = $1`, shop); err != nil {
		t.Fatal(err)
	}
	// GET /proxy/wheel creates the default wheel.
	if resp, _ := h.get(proxyURL(shop, "/proxy/wheel", nil, time.Now())); resp.StatusCode != http.StatusOK {
		t.Fatalf("wheel: %d", resp.StatusCode)
	}
	h.db.MustExec(`UPDATE wheels SET enabled = true WHERE shop_id = $1`, id)
}
