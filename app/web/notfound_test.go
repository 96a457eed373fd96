package web_test

import (
	"html"
	"regexp"
	"strings"
	"testing"
)

// An unknown admin address gets the admin's styled not-found page (with the
// navigation back); other unknown paths a plain 404; the favicon the
// layout links to is served.
func TestNotFoundPages(t *testing.T) {
	h := newHarness(t, harnessOpts{})
	resp, body := h.get("/app/no-such-page")
	if resp.StatusCode != 404 || !strings.Contains(body, "Page not found") || !strings.Contains(body, `href="/app/customers"`) {
		t.Errorf("unknown admin page: %d %.300s", resp.StatusCode, body)
	}
	if strings.Contains(body, "demo.myshopify.com") {
		t.Error("the not-found page names a shop")
	}
	if resp, body := h.get("/nothing-here"); resp.StatusCode != 404 || body != "not found" {
		t.Errorf("unknown path: %d %q", resp.StatusCode, body)
	}
	_, page := h.get("/app/no-such-page")
	m := regexp.MustCompile(`<link rel="icon" type="image/svg\+xml" href="([^"]+)"`).FindStringSubmatch(page)
	if m == nil {
		t.Fatal("the layout links no favicon")
	}
	if resp, body := h.get(html.UnescapeString(m[1])); resp.StatusCode != 200 || !strings.HasPrefix(resp.Header.Get("Content-Type"), "image/svg+xml") || !strings.Contains(body, "<svg") {
		t.Errorf("favicon: %d %s", resp.StatusCode, resp.Header.Get("Content-Type"))
	}
}
