package web_test

import (
	"fmt"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"
)

func TestTemplatesEditorPreviewTestSendOutbox(t *testing.T) {
	h := newHarness(t, harnessOpts{})
	const shop = "tpl-store.myshopify.com"
	sh := h.install(shop)
	other := h.install("tpl-other.myshopify.com")
	auth := []string{"Authorization", "Bearer " + h.token(shop)}
	hx := append([]string{"HX-Request", "true"}, auth...)
	otherAuth := []string{"Authorization", "Bearer " + h.token(other.Domain)}
	var custID int64
	if err := h.db.Get(&custID, `INSERT INTO customers (shop_id, email, first_name, last_name) VALUES ($1, 'ada@example.com', '<b>Ada</b>', 'Lovelace') RETURNING id`, sh.ID); err != nil {
		t.Fatal(err)
	}

	// List and gallery: 12 starters × 2 languages.
	resp, body := h.get("/app/templates", auth...)
	if resp.StatusCode != http.StatusOK || !strings.Contains(body, "templates-empty") || strings.Count(body, "data-starter=") != 24 ||
		!strings.Contains(body, `data-starter="welcome:zh-CN"`) || !strings.Contains(body, "/app/outbox") {
		t.Fatalf("templates page: %d\n%s", resp.StatusCode, body)
	}
	// Use a starter.
	resp, _ = h.postForm("/app/templates", url.Values{"starter": {"welcome"}, "locale": {"en"}}, auth...)
	if resp.StatusCode != http.StatusSeeOther || !strings.HasPrefix(resp.Header.Get("Location"), "/app/templates/") {
		t.Fatalf("use starter: %d %s", resp.StatusCode, resp.Header.Get("Location"))
	}
	edit := resp.Header.Get("Location")
	var id int64
	fmt.Sscanf(edit, "/app/templates/%d", &id)
	if resp, _ := h.postForm("/app/templates", url.Values{"starter": {"nope"}, "locale": {"en"}}, auth...); resp.StatusCode != http.StatusUnprocessableEntity {
		t.Errorf("unknown starter: %d", resp.StatusCode)
	}
	resp, body = h.get(edit, auth...)
	if resp.StatusCode != http.StatusOK || !strings.Contains(body, `id="template-form"`) || !strings.Contains(body, `data-block-type="footer"`) ||
		!regexp.MustCompile(`<iframe[^>]*id="tpl-preview"[^>]*sandbox="allow-popups`).MatchString(body) || strings.Contains(body, "allow-scripts") {
		t.Fatalf("editor: %d\n%s", resp.StatusCode, body)
	}
	if _, body := h.get("/app/templates", auth...); !strings.Contains(body, edit) {
		t.Errorf("template not listed")
	}

	form := url.Values{
		"name": {"My welcome"}, "locale": {"en"}, "subject": {"Hi {{ frist_name }}"}, "preheader": {""},
		"block_count":    {"3"},
		"blocks[2].type": {"button"}, "blocks[2].text": {"Shop now"}, "blocks[2].url": {"https://tpl-store.myshopify.com/collections/all"},
		"blocks[0].type": {"heading"}, "blocks[0].text": {"Hello {{ first_name | default: \"there\" }}"},
		"blocks[1].type": {"text"}, "blocks[1].html": {`<p>Welcome!<script>alert(1)</script></p>`},
	}
	// Unknown merge tag: 422 naming it, nothing saved.
	resp, body = h.postForm(edit, form, hx...)
	if resp.StatusCode != http.StatusUnprocessableEntity || !strings.Contains(body, "{{ frist_name }}") || !strings.Contains(body, "Unknown merge tag") {
		t.Fatalf("unknown tag: %d\n%s", resp.StatusCode, body)
	}
	if n := h.count(`SELECT count(*) FROM email_templates WHERE id = $1 AND name = 'My welcome'`, id); n != 0 {
		t.Errorf("invalid template was saved")
	}
	// Block actions re-render without saving.
	resp, body = h.postForm(edit+"/blocks", withOp(form, "add:button"), hx...)
	if resp.StatusCode != http.StatusOK || strings.Count(body, "data-block-type=") != 5 || strings.Count(body, `data-block-type="button"`) != 2 {
		t.Errorf("add block: %d\n%s", resp.StatusCode, body)
	}
	form.Set("subject", "Hi {{ first_name }}")
	resp, body = h.postForm(edit, form, hx...)
	if resp.StatusCode != http.StatusOK || !strings.Contains(body, "Template saved") {
		t.Fatalf("save: %d\n%s", resp.StatusCode, body)
	}
	var doc string
	h.db.Get(&doc, `SELECT doc::text FROM email_templates WHERE id = $1`, id)
	if strings.Contains(doc, "script") || !strings.Contains(doc, `"footer"`) {
		t.Errorf("saved doc not sanitised or without footer: %s", doc)
	}

	if resp, _ := h.postForm("/app/settings", validSettings(), hx...); resp.StatusCode != http.StatusOK {
		t.Fatalf("settings: %d", resp.StatusCode)
	}
	// Preview with the customer's data, escaped, in a no-script document.
	resp, body = h.get(fmt.Sprintf("%s/preview?customer_id=%d&width=mobile", edit, custID), auth...)
	if resp.StatusCode != http.StatusOK || !strings.Contains(body, "Hello &lt;b&gt;Ada&lt;/b&gt;") || strings.Contains(body, "<b>Ada</b>") ||
		strings.Contains(body, "<script") || !strings.Contains(resp.Header.Get("Content-Security-Policy"), "default-src 'none'") {
		t.Fatalf("preview: %d %s\n%s", resp.StatusCode, resp.Header.Get("Content-Security-Policy"), body)
	}

	// Live preview: the unsaved form renders (nothing saved); an invalid one
	// says what to fix.
	live := url.Values{}
	for k, v := range form {
		live[k] = v
	}
	live.Set("subject", "Unsaved subject {{ first_name }}")
	live.Set("customer_id", fmt.Sprint(custID))
	for k := range live {
		if strings.HasSuffix(k, ".text") {
			live.Set(k, "Typed but not saved")
			break
		}
	}
	resp, body = h.postForm(edit+"/preview", live, auth...)
	if resp.StatusCode != http.StatusOK || !strings.Contains(body, "Typed but not saved") || !strings.Contains(body, "Ada") {
		t.Fatalf("live preview: %d\n%s", resp.StatusCode, body)
	}
	if n := h.count(`SELECT count(*) FROM email_templates WHERE doc::text LIKE '%Typed but not saved%'`); n != 0 {
		t.Fatal("the live preview saved the template")
	}
	live.Set("subject", "Hi {{ nope }}")
	if resp, body := h.postForm(edit+"/preview", live, auth...); resp.StatusCode != http.StatusUnprocessableEntity || !strings.Contains(body, "nope") {
		t.Fatalf("invalid live preview: %d %s", resp.StatusCode, body)
	}

	// Send test: address validated; blocked while the sender is unverified.
	if resp, _ := h.postForm(edit+"/test", url.Values{"to": {"not-an-address"}}, hx...); resp.StatusCode != http.StatusUnprocessableEntity {
		t.Errorf("bad address: %d", resp.StatusCode)
	}
	resp, body = h.postForm(edit+"/test", url.Values{"to": {"me@example.com"}}, hx...)
	if resp.StatusCode != http.StatusUnprocessableEntity || !strings.Contains(body, "not verified") || !strings.Contains(body, `href="/app/settings"`) {
		t.Fatalf("unverified: %d\n%s", resp.StatusCode, body)
	}
	if n := h.count(`SELECT count(*) FROM outbox_messages WHERE shop_id = $1 AND to_email = 'me@example.com'`, sh.ID); n != 0 {
		t.Fatalf("sent while unverified")
	}
	if resp, _ := h.do(http.MethodPost, "/app/settings/sender/verify", nil, hx...); resp.StatusCode != http.StatusOK {
		t.Fatalf("verify: %d", resp.StatusCode)
	}
	h.db.MustExec(`UPDATE sender_verifications SET verified_at = now() WHERE shop_id = $1`, sh.ID)
	resp, body = h.postForm(edit+"/test", url.Values{"to": {"me@example.com"}, "customer_id": {fmt.Sprint(custID)}}, hx...)
	if resp.StatusCode != http.StatusOK || !strings.Contains(body, "Test email sent to me@example.com") {
		t.Fatalf("test send: %d\n%s", resp.StatusCode, body)
	}
	var boxID int64
	var html string
	if err := h.db.QueryRow(`SELECT id, html FROM outbox_messages WHERE shop_id = $1 AND to_email = 'me@example.com'`, sh.ID).Scan(&boxID, &html); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(html, "/t/c/") || !strings.Contains(html, "https://cartwheel.test/u/") || !strings.Contains(html, "Hello &lt;b&gt;Ada") {
		t.Errorf("stored test email lacks tracking or unsubscribe:\n%s", html)
	}
	if n := h.count(`SELECT count(*) FROM email_messages WHERE shop_id = $1 AND kind = 'test' AND marketing = false AND status = 'sent'`, sh.ID); n != 1 {
		t.Errorf("%d test ledger rows", n)
	}

	// Outbox: list, detail, HTML; scoped to the shop.
	resp, body = h.get("/app/outbox", auth...)
	if resp.StatusCode != http.StatusOK || !strings.Contains(body, "me@example.com") || !strings.Contains(body, "[Test] Hi ") {
		t.Fatalf("outbox: %d\n%s", resp.StatusCode, body)
	}
	resp, body = h.get(fmt.Sprintf("/app/outbox/%d", boxID), auth...)
	if resp.StatusCode != http.StatusOK || !strings.Contains(body, "Message-ID") || !strings.Contains(body, `id="outbox-text"`) ||
		!strings.Contains(body, fmt.Sprintf(`data-auth-src="/app/outbox/%d/html"`, boxID)) {
		t.Fatalf("outbox detail: %d\n%s", resp.StatusCode, body)
	}
	resp, body = h.get(fmt.Sprintf("/app/outbox/%d/html", boxID), auth...)
	if resp.StatusCode != http.StatusOK || body != html || !strings.Contains(resp.Header.Get("Content-Security-Policy"), "default-src 'none'") {
		t.Fatalf("outbox html: %d %q", resp.StatusCode, resp.Header.Get("Content-Security-Policy"))
	}

	// Another shop sees none of it.
	for _, p := range []string{edit, edit + "/preview", fmt.Sprintf("/app/outbox/%d", boxID), fmt.Sprintf("/app/outbox/%d/html", boxID)} {
		if resp, _ := h.get(p, otherAuth...); resp.StatusCode != http.StatusNotFound {
			t.Errorf("other shop GET %s: %d", p, resp.StatusCode)
		}
	}
	if resp, _ := h.postForm(edit, form, append([]string{"HX-Request", "true"}, otherAuth...)...); resp.StatusCode != http.StatusNotFound {
		t.Errorf("other shop save: %d", resp.StatusCode)
	}
	if resp, _ := h.postForm(edit+"/preview", form, otherAuth...); resp.StatusCode != http.StatusNotFound {
		t.Errorf("other shop live preview: %d", resp.StatusCode)
	}
	if resp, _ := h.postForm(edit+"/test", url.Values{"to": {"x@example.com"}}, append([]string{"HX-Request", "true"}, otherAuth...)...); resp.StatusCode != http.StatusNotFound {
		t.Errorf("other shop test: %d", resp.StatusCode)
	}
	if _, body := h.get("/app/outbox", otherAuth...); strings.Contains(body, "me@example.com") {
		t.Errorf("other shop sees the outbox")
	}
	if _, body := h.get("/app/templates", otherAuth...); strings.Contains(body, "My welcome") {
		t.Errorf("other shop sees the template")
	}
}

func withOp(v url.Values, op string) url.Values {
	out := url.Values{}
	for k, vs := range v {
		out[k] = vs
	}
	out.Set("op", op)
	return out
}
