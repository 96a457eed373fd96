package web_test

import (
	"fmt"
	"net/http"
	"net/url"
	"reflect"
	"strings"
	"sync"
	"testing"

	"github.com/cartwheel/cartwheel/app/email/render"
	"github.com/cartwheel/cartwheel/views"
)

// A new shop edits a template before filling in Settings: the editor and
// both previews work, with a placeholder (and a link to Settings) where the
// postal address goes.
func TestTemplatePreviewWithoutPostalAddress(t *testing.T) {
	h := newHarness(t, harnessOpts{})
	const shop = "tpl-noaddr.myshopify.com"
	h.install(shop)
	auth := []string{"Authorization", "Bearer " + h.token(shop)}

	resp, _ := h.postForm("/app/templates", url.Values{"starter": {"welcome"}, "locale": {"en"}}, auth...)
	if resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("use starter: %d", resp.StatusCode)
	}
	edit := resp.Header.Get("Location")

	resp, body := h.get(edit, auth...)
	if resp.StatusCode != http.StatusOK || !strings.Contains(body, `id="tpl-no-address"`) || !strings.Contains(body, `href="/app/settings#f-postal_address"`) {
		t.Fatalf("editor without an address: %d\n%s", resp.StatusCode, body)
	}
	// The editor's enhancements are hooked on plain markup that works without them.
	for _, want := range []string{`class="cw-Editor"`, `data-richtext`, `data-save-bar`, `data-save-bar-for="template-form"`, `data-merge-chips`, `data-merge-tags=`, `class="cw-SaveBar__fallback"`, `name="cartwheel-editor"`} {
		if !strings.Contains(body, want) {
			t.Errorf("editor page lacks %s", want)
		}
	}

	resp, body = h.get(edit+"/preview", auth...)
	if resp.StatusCode != http.StatusOK || !strings.Contains(body, "Your postal address — set it in Settings") ||
		!strings.Contains(body, `data-address-placeholder`) || strings.Contains(body, "CARTWHEEL-POSTAL-ADDRESS-PLACEHOLDER") ||
		!strings.Contains(body, "unsubscribe") {
		t.Fatalf("saved preview without an address: %d\n%s", resp.StatusCode, body)
	}
	live := url.Values{"name": {"Welcome"}, "locale": {"en"}, "subject": {"Hi {{ first_name }}"}, "block_count": {"2"},
		"blocks[0].type": {"text"}, "blocks[0].html": {"<p><strong>Typed</strong> just now</p>"}, "blocks[1].type": {"footer"}}
	resp, body = h.postForm(edit+"/preview", live, auth...)
	if resp.StatusCode != http.StatusOK || !strings.Contains(body, "Your postal address — set it in Settings") || !strings.Contains(body, "Typed") {
		t.Fatalf("live preview without an address: %d\n%s", resp.StatusCode, body)
	}
	// Sending still refuses: the placeholder is for the preview only.
	h.db.MustExec(`UPDATE shops SET sender_email = 'a@b.test' WHERE domain = $1`, shop)
	resp, body = h.postForm(edit+"/test", url.Values{"to": {"me@example.com"}}, append([]string{"HX-Request", "true"}, auth...)...)
	if resp.StatusCode != http.StatusUnprocessableEntity || strings.Contains(body, "Test email sent") {
		t.Fatalf("test send without an address: %d\n%s", resp.StatusCode, body)
	}

	// Once set, the real address shows and the banner is gone.
	if resp, _ := h.postForm("/app/settings", validSettings(), append([]string{"HX-Request", "true"}, auth...)...); resp.StatusCode != http.StatusOK {
		t.Fatalf("settings: %d", resp.StatusCode)
	}
	if _, body := h.get(edit+"/preview", auth...); !strings.Contains(body, "Springfield, IL") || strings.Contains(body, "set it in Settings") {
		t.Errorf("preview with an address:\n%s", body)
	}
	if _, body := h.get(edit, auth...); strings.Contains(body, `id="tpl-no-address"`) {
		t.Errorf("the missing-address banner stays after the address is set")
	}

	// Starter thumbnails render; an unknown starter is 404.
	if resp, body := h.get("/app/starters/win_back/preview?locale=zh-CN", auth...); resp.StatusCode != http.StatusOK || !strings.Contains(body, "<table") ||
		!strings.Contains(resp.Header.Get("Content-Security-Policy"), "default-src 'none'") {
		t.Errorf("starter preview: %d", resp.StatusCode)
	}
	if resp, _ := h.get("/app/starters/nope/preview?locale=en", auth...); resp.StatusCode != http.StatusNotFound {
		t.Errorf("unknown starter preview: %d", resp.StatusCode)
	}
}

// The merge tags the editor offers are exactly the ones templates accept.
func TestEditorMergeTagsMatchRenderer(t *testing.T) {
	var got []string
	for _, o := range views.MergeTags {
		got = append(got, o.Value)
	}
	if !reflect.DeepEqual(got, render.KnownTags()) {
		t.Fatalf("views.MergeTags %v, render.KnownTags %v", got, render.KnownTags())
	}
}

func TestTemplateGalleryRenameDuplicateDelete(t *testing.T) {
	h := newHarness(t, harnessOpts{})
	const shop = "tpl-gallery.myshopify.com"
	sh := h.install(shop)
	other := h.install("tpl-gallery-other.myshopify.com")
	auth := []string{"Authorization", "Bearer " + h.token(shop)}
	hx := append([]string{"HX-Request", "true"}, auth...)
	otherHX := []string{"HX-Request", "true", "Authorization", "Bearer " + h.token(other.Domain)}

	newTemplate := func(starter, locale string) int64 {
		t.Helper()
		resp, _ := h.postForm("/app/templates", url.Values{"starter": {starter}, "locale": {locale}}, auth...)
		var id int64
		if _, err := fmt.Sscanf(resp.Header.Get("Location"), "/app/templates/%d", &id); err != nil || resp.StatusCode != http.StatusSeeOther {
			t.Fatalf("use starter %s: %d %v", starter, resp.StatusCode, err)
		}
		return id
	}
	welcome := newTemplate("welcome", "en")
	cart := newTemplate("abandoned_cart_1", "zh-CN")

	// Cards grouped by purpose, the language in words.
	resp, body := h.get("/app/templates", auth...)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("gallery: %d", resp.StatusCode)
	}
	for _, want := range []string{fmt.Sprintf(`data-template="%d"`, welcome), fmt.Sprintf(`data-template="%d"`, cart), `id="tg-welcome"`, `id="tg-cart"`,
		"English", "简体中文", `id="sg-winback"`, fmt.Sprintf(`data-auth-src="/app/templates/%d/preview"`, welcome),
		`data-auth-src="/app/starters/welcome/preview?locale=zh-CN"`} {
		if !strings.Contains(body, want) {
			t.Errorf("gallery lacks %s", want)
		}
	}
	if strings.Count(body, "data-starter=") != 24 {
		t.Errorf("%d starter cards, want 24", strings.Count(body, "data-starter="))
	}

	// Rename: bad names are refused with the reason, nothing changes.
	path := func(id int64, action string) string { return fmt.Sprintf("/app/templates/%d/%s", id, action) }
	for _, bad := range []struct{ name, why string }{
		{"", "Give the template a name"},
		{strings.Repeat("x", 201), "too long"},
	} {
		resp, body := h.postForm(path(welcome, "rename"), url.Values{"name": {bad.name}}, hx...)
		if resp.StatusCode != http.StatusUnprocessableEntity || !strings.Contains(body, bad.why) || !strings.Contains(body, `id="templates-error"`) {
			t.Errorf("rename to %.10q: %d, want 422 with %q", bad.name, resp.StatusCode, bad.why)
		}
	}
	resp, body = h.postForm(path(welcome, "rename"), url.Values{"name": {"  Hello new friends  "}}, hx...)
	if resp.StatusCode != http.StatusOK || !strings.Contains(body, "Renamed to “Hello new friends”") {
		t.Fatalf("rename: %d\n%s", resp.StatusCode, body)
	}
	if n := h.count(`SELECT count(*) FROM email_templates WHERE id = $1 AND name = 'Hello new friends' AND doc->>'name' = 'Hello new friends'`, welcome); n != 1 {
		t.Errorf("rename not stored in the row and its document")
	}
	// Without htmx: a redirect back to the gallery.
	if resp, _ := h.postForm(path(welcome, "rename"), url.Values{"name": {"Hello again"}}, auth...); resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != "/app/templates" {
		t.Errorf("plain rename: %d %s", resp.StatusCode, resp.Header.Get("Location"))
	}

	// Duplicate: a copy with the same content.
	resp, body = h.postForm(path(welcome, "duplicate"), nil, hx...)
	if resp.StatusCode != http.StatusOK || !strings.Contains(body, "Copied “Hello again”") || !strings.Contains(body, "Hello again (copy)") {
		t.Fatalf("duplicate: %d\n%s", resp.StatusCode, body)
	}
	var copyID int64
	if err := h.db.Get(&copyID, `SELECT id FROM email_templates WHERE shop_id = $1 AND name = 'Hello again (copy)'`, sh.ID); err != nil {
		t.Fatal(err)
	}
	if n := h.count(`SELECT count(*) FROM email_templates a JOIN email_templates b ON a.doc->'blocks' = b.doc->'blocks' AND a.starter_key = b.starter_key WHERE a.id = $1 AND b.id = $2`, welcome, copyID); n != 1 {
		t.Errorf("the copy's blocks differ from the original's")
	}

	// Another shop can't touch them: 404, nothing changed.
	for _, a := range []string{"rename", "duplicate", "delete"} {
		if resp, _ := h.postForm(path(welcome, a), url.Values{"name": {"Stolen"}}, otherHX...); resp.StatusCode != http.StatusNotFound {
			t.Errorf("other shop %s: %d", a, resp.StatusCode)
		}
	}
	if n := h.count(`SELECT count(*) FROM email_templates WHERE shop_id = $1`, sh.ID); n != 3 {
		t.Errorf("%d templates after the other shop's attempts, want 3", n)
	}
	if resp, _ := h.postForm("/app/templates/0/delete", nil, hx...); resp.StatusCode != http.StatusNotFound {
		t.Errorf("delete of id 0: %d", resp.StatusCode)
	}

	// Delete is refused while a flow (in a nested step of its draft) or a
	// campaign that may still send (its A/B variant) uses the template;
	// a sent campaign doesn't hold it.
	var flowID, campID int64
	if err := h.db.Get(&flowID, `INSERT INTO flows (shop_id, name, draft) VALUES ($1, 'Welcome series',
		jsonb_build_object('steps', jsonb_build_array(jsonb_build_object('id', 's1', 'type', 'branch', 'yes',
			jsonb_build_array(jsonb_build_object('id', 's2', 'type', 'send_email', 'template_id', $2::bigint)))))) RETURNING id`, sh.ID, welcome); err != nil {
		t.Fatal(err)
	}
	if err := h.db.Get(&campID, `INSERT INTO campaigns (shop_id, name, status, ab) VALUES ($1, 'December sale', 'draft',
		jsonb_build_object('variants', jsonb_build_array(jsonb_build_object('key', 'A'), jsonb_build_object('key', 'B', 'template_id', $2::bigint)))) RETURNING id`, sh.ID, welcome); err != nil {
		t.Fatal(err)
	}
	h.db.MustExec(`INSERT INTO campaigns (shop_id, name, status, template_id) VALUES ($1, 'Old newsletter', 'sent', $2)`, sh.ID, welcome)
	h.db.MustExec(`INSERT INTO campaigns (shop_id, name, status, template_id) VALUES ($1, 'Someone else''s', 'draft', $2)`, other.ID, welcome)

	resp, body = h.postForm(path(welcome, "delete"), nil, hx...)
	if resp.StatusCode != http.StatusConflict || !strings.Contains(body, `id="templates-in-use"`) ||
		!strings.Contains(body, fmt.Sprintf(`href="/app/flows/%d"`, flowID)) || !strings.Contains(body, "Welcome series") ||
		!strings.Contains(body, fmt.Sprintf(`href="/app/campaigns/%d"`, campID)) || !strings.Contains(body, "December sale") ||
		strings.Contains(body, "Old newsletter") || strings.Contains(body, "Someone else") {
		t.Fatalf("delete of a template in use: %d\n%s", resp.StatusCode, body)
	}
	if n := h.count(`SELECT count(*) FROM email_templates WHERE id = $1`, welcome); n != 1 {
		t.Fatal("a template in use was deleted")
	}
	// A live version counts too, even when the draft moved on.
	h.db.MustExec(`UPDATE campaigns SET status = 'cancelled' WHERE id = $1`, campID)
	h.db.MustExec(`INSERT INTO flow_versions (shop_id, flow_id, version, definition) SELECT shop_id, id, 1, draft FROM flows WHERE id = $1`, flowID)
	h.db.MustExec(`UPDATE flows SET draft = '{"steps":[]}', status = 'live', live_version = 1 WHERE id = $1`, flowID)
	resp, body = h.postForm(path(welcome, "delete"), nil, hx...)
	if resp.StatusCode != http.StatusConflict || !strings.Contains(body, "Welcome series") || strings.Contains(body, "December sale") {
		t.Fatalf("delete of a template a live flow sends: %d\n%s", resp.StatusCode, body)
	}
	h.db.MustExec(`UPDATE flows SET status = 'off', live_version = NULL WHERE id = $1`, flowID)

	// Unused: deleted. Many deletes at once: one wins, the rest find nothing.
	var wg sync.WaitGroup
	codes := make(chan int, 8)
	for i := 0; i < 8; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			resp, _ := h.postForm(path(welcome, "delete"), nil, hx...)
			codes <- resp.StatusCode
		}()
	}
	wg.Wait()
	close(codes)
	got := map[int]int{}
	for c := range codes {
		got[c]++
	}
	if got[http.StatusOK] != 1 || got[http.StatusNotFound] != 7 {
		t.Fatalf("concurrent deletes: %v, want one 200 and seven 404", got)
	}
	if n := h.count(`SELECT count(*) FROM email_templates WHERE shop_id = $1`, sh.ID); n != 2 {
		t.Errorf("%d templates left, want 2", n)
	}
	if resp, body := h.get("/app/templates", auth...); resp.StatusCode != http.StatusOK || strings.Contains(body, fmt.Sprintf(`data-template="%d"`, welcome)) {
		t.Errorf("deleted template still listed")
	}
}

// The product block's picker searches the shop's synced catalog (with
// thumbnail and price) and the editor shows the picked products by name.
func TestTemplateProductPicker(t *testing.T) {
	h := newHarness(t, harnessOpts{})
	const shop = "tpl-picker.myshopify.com"
	sh := h.install(shop)
	other := h.install("tpl-picker-other.myshopify.com")
	auth := []string{"Authorization", "Bearer " + h.token(shop)}
	hx := append([]string{"HX-Request", "true"}, auth...)
	h.db.MustExec(`UPDATE shops SET currency = 'USD' WHERE id = $1`, sh.ID)
	h.db.MustExec(`INSERT INTO products (shop_id, shopify_id, title, image_url, price_min, price_max, status) VALUES
		($1, 101, 'Organic Hoodie', 'https://cdn.example/hoodie.png', 42, 42, 'active'),
		($1, 102, 'Cozy Hoodie <b>', '', 10, 15.5, 'active'),
		($1, 103, 'Old Hoodie', '', 5, 5, 'archived'),
		($1, 104, 'Mug', '', 8, 8, 'active'),
		($2, 201, 'Other shop hoodie', '', 1, 1, 'active')`, sh.ID, other.ID)

	resp, body := h.get("/app/catalog/products?q=hood", hx...)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("picker: %d\n%s", resp.StatusCode, body)
	}
	for _, want := range []string{`data-pick-product="101"`, `src="https://cdn.example/hoodie.png"`, "$42.00", `data-pick-product="102"`, "$10.00 – $15.50", "Cozy Hoodie &lt;b&gt;"} {
		if !strings.Contains(body, want) {
			t.Errorf("picker results lack %s:\n%s", want, body)
		}
	}
	for _, not := range []string{`"103"`, `"104"`, `"201"`, "Other shop"} {
		if strings.Contains(body, not) {
			t.Errorf("picker results include %s (archived, not matching, or another shop's)", not)
		}
	}
	if _, body := h.get("/app/catalog/products?q=nothing-like-this", hx...); !strings.Contains(body, "data-picker-empty") {
		t.Errorf("no match: %s", body)
	}
	if resp, body := h.get("/app/catalog/products?q="+strings.Repeat("a", 101), hx...); resp.StatusCode != http.StatusUnprocessableEntity || !strings.Contains(body, "at most 100") {
		t.Errorf("long search: %d %s", resp.StatusCode, body)
	}

	// Picked products show by name in the editor after a save.
	resp, _ = h.postForm("/app/templates", url.Values{"starter": {"newsletter"}, "locale": {"en"}}, auth...)
	edit := resp.Header.Get("Location")
	form := url.Values{"name": {"News"}, "locale": {"en"}, "subject": {"News"}, "block_count": {"2"},
		"blocks[0].type": {"products"}, "blocks[0].source": {"manual"}, "blocks[0].count": {"2"}, "blocks[0].text": {"Picked"},
		"blocks[0].product_ids": {"102, 101"}, "blocks[1].type": {"footer"}}
	resp, body = h.postForm(edit, form, hx...)
	if resp.StatusCode != http.StatusOK || !strings.Contains(body, `data-picked-id="102"`) || !strings.Contains(body, `data-picked-id="101"`) ||
		strings.Index(body, `data-picked-id="102"`) > strings.Index(body, `data-picked-id="101"`) {
		t.Fatalf("save with picked products: %d\n%s", resp.StatusCode, body)
	}
	if _, body := h.get(edit, auth...); !strings.Contains(body, "Organic Hoodie") || !strings.Contains(body, `for="pp-0"`) {
		t.Errorf("editor lacks the picked product or the picker's label")
	}
}
