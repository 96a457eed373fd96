package views

import (
	"bytes"
	"context"
	"regexp"
	"strings"
	"testing"

	"github.com/a-h/templ"
)

func render(t *testing.T, c templ.Component) string {
	t.Helper()
	var b bytes.Buffer
	if err := c.Render(context.Background(), &b); err != nil {
		t.Fatalf("render: %v", err)
	}
	return b.String()
}

func testPage(production bool) Page {
	return Page{
		Title:      "Settings",
		Shop:       "demo.myshopify.com",
		APIKey:     "key123",
		Production: production,
		Dev:        !production,
		Active:     "settings",
		Assets: Assets{
			PolarisCSS: "/static/dist/polaris.css?v=1",
			AppCSS:     "/static/dist/app.css?v=2",
			AdminJS:    "/static/dist/admin.js?v=3",
			HtmxJS:     "/static/dist/htmx.min.js?v=4",
		},
	}
}

var scriptTag = regexp.MustCompile(`<script\b[^>]*>`)

func headOf(t *testing.T, html string) string {
	t.Helper()
	start, end := strings.Index(html, "<head>"), strings.Index(html, "</head>")
	if start < 0 || end < start {
		t.Fatalf("no <head> in output")
	}
	return html[start:end]
}

func TestLayoutAppBridgeOnlyInProductionAndFirst(t *testing.T) {
	prod := render(t, ComingSoon(testPage(true), "Customers", "soon"))
	head := headOf(t, prod)
	scripts := scriptTag.FindAllString(head, -1)
	if len(scripts) == 0 || !strings.Contains(scripts[0], `src="https://cdn.shopify.com/shopifycloud/app-bridge.js"`) {
		t.Fatalf("App Bridge must be the first script in <head>; scripts: %q", scripts)
	}
	if !strings.Contains(head, `<meta name="shopify-api-key" content="key123">`) {
		t.Errorf("missing shopify-api-key meta")
	}
	if strings.Index(head, `name="shopify-api-key"`) > strings.Index(head, "app-bridge.js") {
		t.Errorf("shopify-api-key meta must precede App Bridge")
	}
	if strings.Contains(head, "cartwheel-dev-shop") {
		t.Errorf("dev shim meta must not be in production")
	}
	if !strings.Contains(prod, "<ui-nav-menu>") || !strings.Contains(prod, `<a href="/app/reports">Reports</a>`) {
		t.Errorf("production layout must emit <ui-nav-menu> with the nav links")
	}

	dev := render(t, ComingSoon(testPage(false), "Customers", "soon"))
	if strings.Contains(dev, "app-bridge.js") {
		t.Errorf("App Bridge must not load outside production")
	}
	if strings.Contains(dev, "<ui-nav-menu") {
		t.Errorf("ui-nav-menu must not be emitted outside production")
	}
	if !strings.Contains(headOf(t, dev), `<meta name="cartwheel-dev-shop" content="demo.myshopify.com">`) {
		t.Errorf("dev layout must carry the dev shop meta")
	}
	// admin.js is loaded before htmx, both deferred.
	ds := scriptTag.FindAllString(headOf(t, dev), -1)
	if len(ds) != 2 || !strings.Contains(ds[0], "admin.js") || !strings.Contains(ds[1], "htmx.min.js") {
		t.Errorf("want admin.js then htmx.min.js, got %q", ds)
	}
	for _, href := range []string{"/static/dist/polaris.css?v=1", "/static/dist/app.css?v=2"} {
		if !strings.Contains(dev, `<link rel="stylesheet" href="`+href+`">`) {
			t.Errorf("missing stylesheet %s", href)
		}
	}
}

func TestLayoutNav(t *testing.T) {
	html := render(t, ComingSoon(testPage(false), "Customers", "soon"))
	if !strings.Contains(html, `<nav class="Polaris-Navigation" aria-label="Main">`) {
		t.Errorf("missing main nav landmark")
	}
	for _, href := range []string{"/app", "/app/customers", "/app/segments", "/app/flows", "/app/campaigns", "/app/templates", "/app/wheel", "/app/reports", "/app/settings"} {
		if !strings.Contains(html, `href="`+href+`"`) {
			t.Errorf("nav link %s missing", href)
		}
	}
	current := regexp.MustCompile(`<a [^>]*aria-current="page"[^>]*>`).FindAllString(html, -1)
	if len(current) != 1 || !strings.Contains(current[0], `href="/app/settings"`) || !strings.Contains(current[0], "Polaris-Navigation__Item--selected") {
		t.Errorf("want exactly the settings link marked current, got %q", current)
	}
}

func TestSettingsFormErrorsAndEscaping(t *testing.T) {
	f := SettingsForm{
		SenderName:        `Evil <script>alert(1)</script>`,
		SenderEmail:       "bad@",
		PostalAddress:     "</textarea><script>x()</script>",
		Timezone:          "Europe/Paris",
		MarketingCapHours: "24",
		Errors: map[string]string{
			"sender_email":   "Enter a valid email <b>address</b>.",
			"postal_address": "Enter your postal address.",
		},
		Timezones:    []string{"UTC", "Europe/Paris"},
		ShopTimezone: "America/New_York",
	}
	html := render(t, Settings(testPage(false), f, []PrivacyRequest{
		{ID: 7, Kind: "Data request", CustomerRef: "Customer #1", ReceivedAt: "today", DownloadURL: "/app/privacy/7/download"},
		{ID: 8, Kind: "Customer redacted", CustomerRef: "Customer #2", ReceivedAt: "yesterday"},
	}, SenderVerification{}))

	for _, name := range []string{"sender_name", "sender_email", "reply_to", "postal_address", "timezone", "attribution_click_days", "attribution_open_days", "marketing_cap_hours", "campaign_skip_days", "daily_send_limit", "send_rate_per_second"} {
		if !strings.Contains(html, `name="`+name+`"`) {
			t.Errorf("field %s missing", name)
		}
		if !strings.Contains(html, `<label id="f-`+name+`-label" for="f-`+name+`"`) {
			t.Errorf("field %s has no label", name)
		}
	}
	if strings.Contains(html, "<script>alert(1)") || strings.Contains(html, "<script>x()") || strings.Contains(html, "<b>address</b>") {
		t.Errorf("user input not escaped")
	}
	if !strings.Contains(html, `value="Evil &lt;script&gt;alert(1)&lt;/script&gt;"`) {
		t.Errorf("sender name not re-shown escaped")
	}
	// Inline error under the field, wired with aria-invalid and aria-describedby.
	emailInput := regexp.MustCompile(`<input[^>]*name="sender_email"[^>]*>`).FindString(html)
	if !strings.Contains(emailInput, `aria-invalid="true"`) || !strings.Contains(emailInput, `aria-describedby="f-sender_email-error f-sender_email-help"`) {
		t.Errorf("sender_email input lacks error wiring: %s", emailInput)
	}
	if !strings.Contains(html, `<div id="f-sender_email-error" class="Polaris-InlineError">`) {
		t.Errorf("missing Polaris inline error for sender_email")
	}
	if !strings.Contains(html, `Enter a valid email &lt;b&gt;address&lt;/b&gt;.`) {
		t.Errorf("error message missing or unescaped")
	}
	nameInput := regexp.MustCompile(`<input[^>]*name="sender_name"[^>]*>`).FindString(html)
	if !strings.Contains(nameInput, `aria-invalid="false"`) {
		t.Errorf("valid field marked invalid: %s", nameInput)
	}
	textarea := regexp.MustCompile(`<textarea[^>]*name="postal_address"[^>]*>`).FindString(html)
	if !strings.Contains(textarea, `aria-invalid="true"`) || !strings.Contains(textarea, `aria-describedby="f-postal_address-error f-postal_address-help"`) {
		t.Errorf("postal_address lacks error wiring: %s", textarea)
	}
	for _, s := range []string{
		"Required by anti-spam law; printed in every email footer.",
		"No more than one marketing email per 24 hours.",
		"Campaigns skip people who got a marketing email in the last N days.", "Daily sending limit",
		"Your store&#39;s timezone in Shopify is America/New_York.",
		`<option value="Europe/Paris" selected>Europe/Paris</option>`,
		`hx-post="/app/settings"`, `hx-target="this"`, `hx-swap="outerHTML"`,
		"2 fields need your attention",
		"Privacy requests",
		`<a class="Polaris-Link" href="/app/privacy/7/download">Download</a>`,
	} {
		if !strings.Contains(html, s) {
			t.Errorf("missing %q", s)
		}
	}
	if strings.Count(html, ">Download</a>") != 1 {
		t.Errorf("want one Download link (only requests with a URL)")
	}
	if strings.Contains(html, "Settings saved") {
		t.Errorf("saved banner shown without Saved")
	}
}

func TestSettingsFormFragmentSaved(t *testing.T) {
	html := render(t, SettingsFormFragment(SettingsForm{Saved: true, Timezone: "UTC", Timezones: []string{"UTC"}}))
	if !strings.HasPrefix(strings.TrimSpace(html), "<form") || !strings.HasSuffix(strings.TrimSpace(html), "</form>") {
		t.Errorf("fragment must be the <form> alone")
	}
	if strings.Contains(html, "<html") || strings.Contains(html, "<nav") {
		t.Errorf("fragment must not include the layout")
	}
	if !strings.Contains(html, "Settings saved") || !strings.Contains(html, "Polaris-Banner") {
		t.Errorf("missing success banner")
	}
	if strings.Contains(html, "Polaris-InlineError") || strings.Contains(html, `aria-invalid="true"`) {
		t.Errorf("no errors expected")
	}
}

func TestSelectKeepsUnknownValue(t *testing.T) {
	html := render(t, SettingsFormFragment(SettingsForm{Timezone: "Mars/Olympus", Timezones: []string{"UTC"}}))
	if !strings.Contains(html, `<option value="Mars/Olympus" selected>`) {
		t.Errorf("typed value not in the select: the form would silently change it")
	}
}

func TestDashboardChecklist(t *testing.T) {
	p := testPage(false)
	p.Active = "dashboard"
	html := render(t, Dashboard(p, DashboardData{ShopName: "Demo & Co", MissingSettings: []string{"sender email", "postal address"}}))
	for _, s := range []string{"Complete your settings (sender, address)", `href="/app/settings"`, "Still missing: sender email, postal address.", "Demo &amp; Co"} {
		if !strings.Contains(html, s) {
			t.Errorf("missing %q", s)
		}
	}
	// Once set-up is done the checklist leaves the dashboard to the figures.
	done := render(t, Dashboard(p, DashboardData{SettingsComplete: true}))
	if strings.Contains(done, `id="getting-started"`) || strings.Contains(done, "Go to settings") {
		t.Errorf("completed checklist still shown")
	}
}

func TestComingSoonAndError(t *testing.T) {
	p := testPage(false)
	p.Active, p.Title = "customers", ""
	html := render(t, ComingSoon(p, "Customers", "Your customers will be listed here."))
	if !strings.Contains(html, "Your customers will be listed here.") || !strings.Contains(html, "<title>Customers · Cartwheel</title>") {
		t.Errorf("coming soon page incomplete")
	}
	p.Title = ""
	e := render(t, ErrorPage(p, 404, "No such <page>"))
	if !strings.Contains(e, "Not Found") || !strings.Contains(e, "No such &lt;page&gt;") {
		t.Errorf("error page incomplete: %s", e)
	}
}

func TestBounce(t *testing.T) {
	html := render(t, Bounce(testPage(true)))
	if !strings.Contains(html, "<body data-bounce>") {
		t.Errorf("bounce body must carry data-bounce")
	}
	scripts := scriptTag.FindAllString(headOf(t, html), -1)
	if len(scripts) == 0 || !strings.Contains(scripts[0], "app-bridge.js") {
		t.Errorf("bounce must load App Bridge first in production")
	}
	body := html[strings.Index(html, "<body"):]
	text := regexp.MustCompile(`<[^>]+>`).ReplaceAllString(body, "")
	if strings.TrimSpace(text) != "Loading…" {
		t.Errorf("bounce must show only Loading…, got %q", text)
	}
	dev := render(t, Bounce(testPage(false)))
	if !strings.Contains(dev, "cartwheel-dev-shop") || strings.Contains(dev, "app-bridge.js") {
		t.Errorf("dev bounce must use the dev shim")
	}
}
