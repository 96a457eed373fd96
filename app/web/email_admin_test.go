package web_test

import (
	"net/http"
	"net/url"
	"strings"
	"testing"
)

func TestSettingsSenderVerification(t *testing.T) {
	h := newHarness(t, harnessOpts{})
	const shop = "sender-store.myshopify.com"
	sh := h.install(shop)
	auth := []string{"Authorization", "Bearer " + h.token(shop), "HX-Request", "true"}

	// No sender email yet: asks for one.
	resp, _ := h.do(http.MethodPost, "/app/settings/sender/verify", nil, auth...)
	if resp.StatusCode != http.StatusUnprocessableEntity {
		t.Errorf("verify without sender email: %d", resp.StatusCode)
	}
	if resp, _ := h.postForm("/app/settings", validSettings(), auth...); resp.StatusCode != http.StatusOK {
		t.Fatalf("save settings: %d", resp.StatusCode)
	}
	resp, body := h.get("/app/settings", "Authorization", "Bearer "+h.token(shop))
	if resp.StatusCode != http.StatusOK || !strings.Contains(body, "Not verified") || !strings.Contains(body, "Send confirmation email") ||
		!strings.Contains(body, "s1._domainkey.acme.test") || !strings.Contains(body, "_dmarc.acme.test") {
		t.Fatalf("settings page lacks the sender verification state:\n%s", body)
	}
	resp, body = h.do(http.MethodPost, "/app/settings/sender/verify", nil, auth...)
	if resp.StatusCode != http.StatusOK || !strings.Contains(body, "Confirmation email sent to hello@acme.test") || !strings.Contains(body, "Resend confirmation email") {
		t.Fatalf("verify: %d\n%s", resp.StatusCode, body)
	}
	if n := h.count(`SELECT count(*) FROM outbox_messages WHERE shop_id = $1 AND subject = 'Confirm your Cartwheel sender email'`, sh.ID); n != 1 {
		t.Errorf("%d confirmation emails in the outbox", n)
	}
	// A second click within a minute is refused with a clear message.
	resp, body = h.do(http.MethodPost, "/app/settings/sender/verify", nil, auth...)
	if resp.StatusCode != http.StatusUnprocessableEntity || !strings.Contains(body, "less than a minute ago") {
		t.Errorf("resend too soon: %d\n%s", resp.StatusCode, body)
	}
	// Unauthenticated: refused.
	if resp, _ := h.do(http.MethodPost, "/app/settings/sender/verify", nil); resp.StatusCode != http.StatusUnauthorized {
		t.Errorf("no session: %d", resp.StatusCode)
	}
}

func TestSuppressedListAndLift(t *testing.T) {
	h := newHarness(t, harnessOpts{})
	const shop = "supp-store.myshopify.com"
	sh := h.install(shop)
	other := h.install("other-store.myshopify.com")
	h.db.MustExec(`INSERT INTO suppressions (shop_id, email, reason, source) VALUES
		($1, 'bounced@example.com', 'hard_bounce', 'bounce'), ($1, 'manual@example.com', 'manual', 'manual'),
		($2, 'theirs@example.com', 'manual', 'manual')`, sh.ID, other.ID)
	auth := []string{"Authorization", "Bearer " + h.token(shop)}

	resp, body := h.get("/app/customers/suppressed", auth...)
	if resp.StatusCode != http.StatusOK || !strings.Contains(body, "bounced@example.com") || !strings.Contains(body, "Hard bounce") ||
		!strings.Contains(body, "manual@example.com") || strings.Contains(body, "theirs@example.com") {
		t.Fatalf("list: %d\n%s", resp.StatusCode, body)
	}
	if strings.Count(body, ">Lift<") != 1 {
		t.Errorf("want exactly one Lift button (manual only)")
	}
	lift := func(addr string) int {
		resp, _ := h.do(http.MethodPost, "/app/customers/suppressed/lift?email="+url.QueryEscape(addr), nil, append(auth, "HX-Request", "true")...)
		return resp.StatusCode
	}
	if code := lift("bounced@example.com"); code != http.StatusUnprocessableEntity {
		t.Errorf("lift hard bounce: %d", code)
	}
	if code := lift("theirs@example.com"); code != http.StatusNotFound {
		t.Errorf("lift another shop's suppression: %d", code)
	}
	if code := lift("manual@example.com"); code != http.StatusOK {
		t.Errorf("lift manual: %d", code)
	}
	if n := h.count(`SELECT count(*) FROM suppressions`); n != 2 {
		t.Errorf("%d suppressions left, want 2", n)
	}
	// The customer detail route still works beside /customers/suppressed.
	if resp, _ := h.get("/app/customers/999999", auth...); resp.StatusCode != http.StatusNotFound {
		t.Errorf("customer detail route: %d", resp.StatusCode)
	}
}
