package web_test

import (
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"testing"
)

func validSettings() url.Values {
	return url.Values{
		"sender_name":            {"Acme Outfitters"},
		"sender_email":           {"hello@acme.test"},
		"reply_to":               {""},
		"postal_address":         {"1 Main Street\nSpringfield, IL 62701\nUSA"},
		"timezone":               {""},
		"attribution_click_days": {"5"},
		"attribution_open_days":  {"1"},
		"marketing_cap_hours":    {"16"},
		"campaign_skip_days":     {"7"},
		"daily_send_limit":       {"0"},
	}
}

func TestSettingsDefaultsSaveAndValidate(t *testing.T) {
	h := newHarness(t, harnessOpts{})
	const shop = "settings-store.myshopify.com"
	sh := h.install(shop)
	h.db.MustExec("UPDATE shops SET iana_timezone = 'Europe/Paris' WHERE id = $1", sh.ID)
	auth := []string{"Authorization", "Bearer " + h.token(shop)}

	// Defaults: click 5 days, open 1 day, 16 h cap, 7 day automation skip,
	// and the shop's own timezone.
	resp, body := h.get("/app/settings", auth...)
	if resp.StatusCode != 200 {
		t.Fatal(resp.StatusCode)
	}
	for _, want := range []string{`name="attribution_click_days"`, `value="5"`, `value="16"`, `value="7"`, `<option value="" selected>Store timezone (Europe/Paris)</option>`} {
		if !strings.Contains(body, want) {
			t.Errorf("settings page lacks %s", want)
		}
	}

	// The theme editor deep link turns on the app embed for this shop.
	if !strings.Contains(body, `href="https://settings-store.myshopify.com/admin/themes/current/editor?activateAppId=test-api-key%2Fcartwheel-embed&amp;context=apps"`) {
		t.Error("settings lack the theme editor deep link for the app embed")
	}

	// Invalid input: 422 with a message per field, nothing stored.
	bad := validSettings()
	bad.Set("sender_email", "not-an-email")
	bad.Set("postal_address", "  ")
	bad.Set("marketing_cap_hours", "-3")
	bad.Set("timezone", "Mars/Olympus")
	bad.Set("sender_name", "Acme <script>alert(1)</script>")
	resp, body = h.postForm("/app/settings", bad, append(auth, "HX-Request", "true")...)
	if resp.StatusCode != http.StatusUnprocessableEntity {
		t.Fatalf("invalid settings: want 422, got %d", resp.StatusCode)
	}
	for _, want := range []string{"valid email address", "postal address", "from 0 to 720", "Choose a timezone", "angle brackets"} {
		if !strings.Contains(body, want) {
			t.Errorf("validation message missing: %q", want)
		}
	}
	if strings.Contains(body, "<script>alert(1)</script>") {
		t.Fatal("typed input echoed without escaping")
	}
	if strings.Contains(body, "<html") {
		t.Fatal("htmx should get the form fragment, not a page")
	}
	if n := h.count("SELECT count(*) FROM shops WHERE id = $1 AND sender_email <> ''", sh.ID); n != 0 {
		t.Fatal("invalid settings were partly stored")
	}

	// Valid input is stored and shown back with a saved banner.
	good := validSettings()
	good.Set("timezone", "America/New_York")
	resp, body = h.postForm("/app/settings", good, append(auth, "HX-Request", "true")...)
	if resp.StatusCode != 200 || !strings.Contains(body, "hello@acme.test") {
		t.Fatalf("save: %d", resp.StatusCode)
	}
	st, err := h.app.Shops.Settings(t.Context(), sh.ID)
	if err != nil {
		t.Fatal(err)
	}
	if st.SenderName != "Acme Outfitters" || st.PostalAddress != "1 Main Street\nSpringfield, IL 62701\nUSA" || st.EffectiveTimezone() != "America/New_York" || st.MarketingCapHours != 16 {
		t.Fatalf("stored settings wrong: %+v", st)
	}
	// The dashboard's checklist no longer asks for settings.
	_, body = h.get("/app", auth...)
	if strings.Contains(body, "company postal address") {
		t.Fatal("dashboard still lists completed settings as missing")
	}
}

func TestSettingsTenantIsolation(t *testing.T) {
	h := newHarness(t, harnessOpts{})
	a := h.install("shop-a.myshopify.com")
	b := h.install("shop-b.myshopify.com")
	h.db.MustExec("UPDATE shops SET sender_email = 'owner@shop-b.test', sender_name = 'Shop B' WHERE id = $1", b.ID)
	tokenA := h.token("shop-a.myshopify.com")

	// Reading: A's token shows A's settings, whatever the URL claims.
	_, body := h.get("/app/settings?shop=shop-b.myshopify.com&shop_id="+itoa(b.ID), "Authorization", "Bearer "+tokenA)
	if strings.Contains(body, "owner@shop-b.test") {
		t.Fatal("shop A's session read shop B's settings")
	}

	// Writing: fields naming shop B are ignored; only A changes.
	form := validSettings()
	form.Set("shop", "shop-b.myshopify.com")
	form.Set("shop_id", itoa(b.ID))
	resp, _ := h.postForm("/app/settings?shop=shop-b.myshopify.com", form, "Authorization", "Bearer "+tokenA, "HX-Request", "true")
	if resp.StatusCode != 200 {
		t.Fatalf("save: %d", resp.StatusCode)
	}
	if n := h.count("SELECT count(*) FROM shops WHERE id = $1 AND sender_email = 'hello@acme.test'", a.ID); n != 1 {
		t.Fatal("shop A's settings were not saved")
	}
	if n := h.count("SELECT count(*) FROM shops WHERE id = $1 AND sender_email = 'owner@shop-b.test' AND sender_name = 'Shop B'", b.ID); n != 1 {
		t.Fatal("shop A's session changed shop B's settings")
	}

	// Without a token nothing is read or written.
	resp, _ = h.postForm("/app/settings", validSettings())
	if resp.StatusCode != http.StatusUnauthorized {
		t.Fatalf("post without token: %d", resp.StatusCode)
	}
}

func itoa(n int64) string { return strconv.FormatInt(n, 10) }

// The warm-up box starts the schedule on the shop's today, keeps that day
// on later saves, shows where it stands, and unticking it ends it.
func TestSettingsWarmup(t *testing.T) {
	h := newHarness(t, harnessOpts{})
	shop := h.install("warm.myshopify.com")
	auth := []string{"Authorization", "Bearer " + h.token(shop.Domain)}
	form := validSettings()
	form.Set("warmup", "on")
	resp, body := h.postForm("/app/settings", form, auth...)
	if resp.StatusCode != 200 || !strings.Contains(body, "Day 1 of 13: up to 250 marketing emails today, 500 tomorrow.") {
		t.Fatalf("warm-up on: %d\n%s", resp.StatusCode, body)
	}
	h.db.MustExec(`UPDATE shops SET warmup_started_on = warmup_started_on - 2 WHERE id = $1`, shop.ID)
	if _, body := h.postForm("/app/settings", form, auth...); !strings.Contains(body, "Day 3 of 13: up to 1,000 marketing emails today") {
		t.Fatalf("a later save restarted the warm-up:\n%s", body)
	}
	form.Del("warmup")
	if _, body := h.postForm("/app/settings", form, auth...); strings.Contains(body, `id="settings-warmup-status"`) {
		t.Fatal("unticked, the warm-up still shows")
	}
	if n := h.count(`SELECT count(*) FROM shops WHERE id = $1 AND warmup_started_on IS NULL`, shop.ID); n != 1 {
		t.Fatal("unticked, the warm-up is still stored")
	}
}
