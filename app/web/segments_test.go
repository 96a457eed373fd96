package web_test

import (
	"encoding/csv"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"
)

const (
	buyersRules  = `{"version":1,"root":{"op":"and","items":[{"condition":{"field":"orders_count","op":"gte","number":1}}]}}`
	badDaysRules = `{"version":1,"root":{"op":"and","items":[{"condition":{"field":"orders_count","op":"gte","number":1}},` +
		`{"group":{"op":"or","items":[{"condition":{"field":"created_at","op":"within","window":{"kind":"last_days","days":0}}}]}}]}}`
)

func (h *harness) postSegment(shop, path, name, rules string) (*http.Response, string) {
	h.t.Helper()
	return h.postForm(path, url.Values{"name": {name}, "rules": {rules}}, "Authorization", "Bearer "+h.token(shop))
}

func (h *harness) preview(shop string, body string) (*http.Response, map[string]any) {
	h.t.Helper()
	resp, b := h.do(http.MethodPost, "/api/segments/preview", strings.NewReader(body),
		"Authorization", "Bearer "+h.token(shop), "Content-Type", "application/json")
	var out map[string]any
	if err := json.Unmarshal([]byte(b), &out); err != nil {
		h.t.Fatalf("preview answered %d with non-JSON: %s", resp.StatusCode, b)
	}
	return resp, out
}

var segmentIDRe = regexp.MustCompile(`^/app/segments/(\d+)$`)

func TestSegmentsAdmin(t *testing.T) {
	h := newHarness(t, harnessOpts{})
	a := h.install("seg-a.myshopify.com")
	b := h.install("seg-b.myshopify.com")
	// Shop A: two buyers and someone who never ordered; shop B: one buyer.
	h.db.MustExec(`INSERT INTO customers (shop_id, email, first_name, orders_count) VALUES
		($1, 'none@example.com', 'Nora', 0), ($1, 'two@example.com', 'Tom', 2), ($1, 'five@example.com', 'Fay', 5)`, a.ID)
	h.db.MustExec(`INSERT INTO customers (shop_id, email, first_name, orders_count) VALUES ($1, 'other@example.com', 'Otto', 3)`, b.ID)
	authA := []string{"Authorization", "Bearer " + h.token(a.Domain)}
	authB := []string{"Authorization", "Bearer " + h.token(b.Domain)}

	// Empty list.
	resp, body := h.get("/app/segments", authA...)
	if resp.StatusCode != 200 || !strings.Contains(body, "No segments yet") || !strings.Contains(body, `href="/app/segments/new"`) {
		t.Fatalf("empty list: %d\n%s", resp.StatusCode, body)
	}

	// Invalid rules: 422 with the validator's message, the input kept, nothing stored.
	resp, body = h.postSegment(a.Domain, "/app/segments", "Buyers", badDaysRules)
	if resp.StatusCode != http.StatusUnprocessableEntity || !strings.Contains(body, "needs a number of days from 1 to 3650") ||
		!strings.Contains(body, "Rule 2 › 1") || !strings.Contains(body, `value="Buyers"`) || !strings.Contains(body, "&#34;days&#34;: 0") &&
		!strings.Contains(body, `&#34;days&#34;:0`) {
		t.Fatalf("invalid create: %d\n%s", resp.StatusCode, body)
	}
	if !strings.Contains(body, `root.items[1].items[0].window.days`) {
		t.Fatal("the builder should get the error paths to show them inline")
	}
	resp, body = h.postSegment(a.Domain, "/app/segments", "Buyers", `{"version":1,"root":`)
	if resp.StatusCode != http.StatusUnprocessableEntity || !strings.Contains(body, "could not be read as JSON") {
		t.Fatalf("unreadable rules: %d\n%s", resp.StatusCode, body)
	}
	resp, body = h.postSegment(a.Domain, "/app/segments", "  ", buyersRules)
	if resp.StatusCode != http.StatusUnprocessableEntity || !strings.Contains(body, "Enter a name for the segment.") {
		t.Fatalf("no name: %d\n%s", resp.StatusCode, body)
	}
	// htmx gets the form alone.
	resp, body = h.postForm("/app/segments", url.Values{"name": {""}, "rules": {buyersRules}}, append(authA, "HX-Request", "true")...)
	if resp.StatusCode != http.StatusUnprocessableEntity || strings.Contains(body, "<html") || !strings.Contains(body, `id="segment-form"`) {
		t.Fatalf("htmx invalid create: %d\n%s", resp.StatusCode, body)
	}
	if n := h.count("SELECT count(*) FROM segments"); n != 0 {
		t.Fatalf("invalid creates stored %d segments", n)
	}

	// Valid: stored, membership computed, redirect to the detail page.
	resp, _ = h.postSegment(a.Domain, "/app/segments", "Buyers", buyersRules)
	m := segmentIDRe.FindStringSubmatch(resp.Header.Get("Location"))
	if resp.StatusCode != http.StatusSeeOther || m == nil {
		t.Fatalf("create: %d %q", resp.StatusCode, resp.Header.Get("Location"))
	}
	buyers := m[1]
	if n := h.count("SELECT count(*) FROM segment_members WHERE segment_id = $1", buyers); n != 2 {
		t.Fatalf("members after create: %d, want 2", n)
	}
	resp, _ = h.postForm("/app/segments", url.Values{"name": {"Buyers again"}, "rules": {buyersRules}}, append(authA, "HX-Request", "true")...)
	if resp.StatusCode != 200 || !segmentIDRe.MatchString(resp.Header.Get("HX-Redirect")) {
		t.Fatalf("htmx create: %d %q", resp.StatusCode, resp.Header.Get("HX-Redirect"))
	}
	again := segmentIDRe.FindStringSubmatch(resp.Header.Get("HX-Redirect"))[1]

	// The list: sizes, trend, summary.
	h.db.MustExec(`INSERT INTO segment_sizes (shop_id, segment_id, day, size) VALUES ($1, $2, current_date - 8, 1)`, a.ID, buyers)
	resp, body = h.get("/app/segments", authA...)
	if resp.StatusCode != 200 || !strings.Contains(body, `href="/app/segments/`+buyers+`"`) ||
		!regexp.MustCompile(`data-size>2<`).MatchString(body) || !strings.Contains(body, "+1 this week") ||
		!strings.Contains(body, "Customers who placed at least 1 order") || !strings.Contains(body, ">new<") {
		t.Fatalf("list: %d\n%s", resp.StatusCode, body)
	}
	_, body = h.get("/app/segments?q=again", authA...)
	if !strings.Contains(body, "Buyers again") || strings.Contains(body, `href="/app/segments/`+buyers+`"`) {
		t.Fatal("q should filter by name")
	}
	_, body = h.get("/app/segments", authB...)
	if strings.Contains(body, "Buyers") {
		t.Fatal("shop B sees shop A's segments")
	}

	// Preview: count, sample and summary, or the problems with their paths.
	resp, out := h.preview(a.Domain, `{"rules":`+buyersRules+`,"self_id":0}`)
	if resp.StatusCode != 200 || out["count"] != float64(2) || out["summary"] != "Customers who placed at least 1 order" ||
		len(out["sample"].([]any)) != 2 {
		t.Fatalf("preview: %d %v", resp.StatusCode, out)
	}
	if n := h.count("SELECT count(*) FROM segments"); n != 2 {
		t.Fatalf("preview stored something: %d segments", n)
	}
	resp, out = h.preview(a.Domain, `{"rules":`+badDaysRules+`}`)
	errs, _ := out["errors"].([]any)
	if resp.StatusCode != http.StatusUnprocessableEntity || len(errs) != 1 ||
		errs[0].(map[string]any)["path"] != "root.items[1].items[0].window.days" {
		t.Fatalf("invalid preview: %d %v", resp.StatusCode, out)
	}
	resp, _ = h.preview(a.Domain, `{"rules": [`)
	if resp.StatusCode != http.StatusBadRequest {
		t.Fatalf("bad JSON preview: %d", resp.StatusCode)
	}
	resp, _ = h.preview(b.Domain, `{"rules":`+buyersRules+`,"self_id":`+buyers+`}`)
	if resp.StatusCode != http.StatusNotFound {
		t.Fatalf("preview as another shop's segment: %d", resp.StatusCode)
	}
	resp, out = h.preview(b.Domain, `{"rules":`+buyersRules+`}`)
	if resp.StatusCode != 200 || out["count"] != float64(1) {
		t.Fatalf("shop B's preview counts shop B's customers only: %v", out)
	}

	// Builder pages.
	resp, body = h.get("/app/segments/new", authA...)
	if resp.StatusCode != 200 || !strings.Contains(body, `id="segment-builder-config"`) || !strings.Contains(body, "product_viewed") {
		t.Fatalf("new: %d\n%s", resp.StatusCode, body)
	}
	resp, body = h.get("/app/segments/"+buyers+"/edit", authA...)
	if resp.StatusCode != 200 || !strings.Contains(body, `value="Buyers"`) || !strings.Contains(body, "orders_count") ||
		!strings.Contains(body, `"name":"Buyers again"`) {
		t.Fatalf("edit: %d\n%s", resp.StatusCode, body)
	}

	// Save: invalid keeps everything, valid recomputes membership.
	resp, body = h.postSegment(a.Domain, "/app/segments/"+buyers, "Big buyers", badDaysRules)
	if resp.StatusCode != http.StatusUnprocessableEntity || !strings.Contains(body, "needs a number of days") || !strings.Contains(body, `value="Big buyers"`) {
		t.Fatalf("invalid save: %d\n%s", resp.StatusCode, body)
	}
	if n := h.count("SELECT count(*) FROM segments WHERE id = $1 AND name = 'Buyers'", buyers); n != 1 {
		t.Fatal("an invalid save changed the segment")
	}
	resp, _ = h.postSegment(a.Domain, "/app/segments/"+buyers, "Big buyers",
		`{"version":1,"root":{"op":"and","items":[{"condition":{"field":"orders_count","op":"gte","number":3}}]}}`)
	if resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != "/app/segments/"+buyers {
		t.Fatalf("save: %d %q", resp.StatusCode, resp.Header.Get("Location"))
	}
	if n := h.count("SELECT count(*) FROM segment_members WHERE segment_id = $1", buyers); n != 1 {
		t.Fatalf("members after save: %d, want 1", n)
	}

	// Detail with keyset paging: 60 more buyers make two pages.
	h.db.MustExec(`INSERT INTO customers (shop_id, email, first_name, orders_count)
		SELECT $1, 'bulk' || g || '@example.com', 'Bulk' || g, 4 FROM generate_series(1, 60) g`, a.ID)
	resp, _ = h.postSegment(a.Domain, "/app/segments/"+buyers, "Big buyers",
		`{"version":1,"root":{"op":"and","items":[{"condition":{"field":"orders_count","op":"gte","number":3}}]}}`)
	if resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("resave: %d", resp.StatusCode)
	}
	resp, body = h.get("/app/segments/"+buyers, authA...)
	for _, want := range []string{"61 customers", "Customers who placed at least 3 orders", `id="size-chart"`, `data-chart="{&#34;format&#34;:&#34;number&#34;`,
		`href="/app/segments/` + buyers + `/export.csv"`, `href="/app/segments/` + buyers + `/edit"`} {
		if resp.StatusCode != 200 || !strings.Contains(body, want) {
			t.Fatalf("detail: %d, missing %q", resp.StatusCode, want)
		}
	}
	if n := strings.Count(body, `href="/app/customers/`); n != 50 {
		t.Fatalf("first page shows %d members, want 50", n)
	}
	next := regexp.MustCompile(`href="(/app/segments/` + buyers + `\?after=\d+)"`).FindStringSubmatch(body)
	if next == nil {
		t.Fatal("no next page link")
	}
	_, body = h.get(next[1], authA...)
	if n := strings.Count(body, `href="/app/customers/`); n != 11 || !strings.Contains(body, "Fay") || !strings.Contains(body, "First page") {
		t.Fatalf("second page shows %d members", n)
	}
	// A segment with one day of history (its creation) has no chart yet.
	_, body = h.get("/app/segments/"+again, authA...)
	if !strings.Contains(body, "History starts with the first daily refresh") || strings.Contains(body, "<polyline") {
		t.Fatal("with less than two days of history the detail page should say when the chart starts")
	}

	// Export.
	resp, body = h.get("/app/segments/"+buyers+"/export.csv", authA...)
	if resp.StatusCode != 200 || !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/csv") ||
		!strings.HasPrefix(resp.Header.Get("Content-Disposition"), "attachment;") || resp.Header.Get("Cache-Control") != "no-store" {
		t.Fatalf("export: %d %v", resp.StatusCode, resp.Header)
	}
	rows, err := csv.NewReader(strings.NewReader(body)).ReadAll()
	if err != nil || len(rows) != 62 || rows[0][0] != "Customer ID" || !strings.Contains(body, "five@example.com") || strings.Contains(body, "two@example.com") {
		t.Fatalf("export body (%v): %d rows\n%s", err, len(rows), body)
	}

	// Another shop's segment is not there, whatever the route.
	for _, path := range []string{"/app/segments/" + buyers, "/app/segments/" + buyers + "/edit", "/app/segments/" + buyers + "/export.csv"} {
		resp, body := h.get(path, authB...)
		if resp.StatusCode != http.StatusNotFound || strings.Contains(body, "five@example.com") {
			t.Fatalf("shop B GET %s: %d", path, resp.StatusCode)
		}
	}
	resp, _ = h.postSegment(b.Domain, "/app/segments/"+buyers, "Taken", buyersRules)
	if resp.StatusCode != http.StatusNotFound {
		t.Fatalf("shop B saving A's segment: %d", resp.StatusCode)
	}
	resp, _ = h.postForm("/app/segments/"+buyers+"/delete", nil, authB...)
	if resp.StatusCode != http.StatusNotFound {
		t.Fatalf("shop B deleting A's segment: %d", resp.StatusCode)
	}
	if n := h.count("SELECT count(*) FROM segments WHERE id = $1 AND name = 'Big buyers'", buyers); n != 1 {
		t.Fatal("shop B changed shop A's segment")
	}
	resp, _ = h.get("/app/segments/999999", authA...)
	if resp.StatusCode != http.StatusNotFound {
		t.Fatalf("unknown id: %d", resp.StatusCode)
	}

	// Delete: refused while another segment uses it, naming that segment.
	resp, _ = h.postSegment(a.Domain, "/app/segments", "Buyers who are big",
		fmt.Sprintf(`{"version":1,"root":{"op":"and","items":[{"condition":{"field":"segment","op":"in","segment_id":%s}}]}}`, buyers))
	if resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("create dependent: %d", resp.StatusCode)
	}
	user := segmentIDRe.FindStringSubmatch(resp.Header.Get("Location"))[1]
	resp, body = h.postForm("/app/segments/"+buyers+"/delete", nil, append(authA, "HX-Request", "true")...)
	if resp.StatusCode != http.StatusUnprocessableEntity || !strings.Contains(body, "The segment was not deleted") ||
		!strings.Contains(body, "Buyers who are big") {
		t.Fatalf("delete in use: %d\n%s", resp.StatusCode, body)
	}
	if n := h.count("SELECT count(*) FROM segments WHERE id = $1", buyers); n != 1 {
		t.Fatal("a segment in use was deleted")
	}
	for _, id := range []string{user, buyers, again} {
		resp, _ = h.postForm("/app/segments/"+id+"/delete", nil, append(authA, "HX-Request", "true")...)
		if resp.StatusCode != 200 || resp.Header.Get("HX-Redirect") != "/app/segments" {
			t.Fatalf("delete %s: %d", id, resp.StatusCode)
		}
	}
	if n := h.count("SELECT count(*) FROM segments"); n != 0 {
		t.Fatalf("%d segments left after deleting all", n)
	}
}

func TestSegmentsNeedASession(t *testing.T) {
	h := newHarness(t, harnessOpts{})
	h.install("seg-auth.myshopify.com")
	resp, body := h.get("/app/segments")
	if resp.StatusCode != 200 || !strings.Contains(body, "data-bounce") {
		t.Fatalf("document without a token should bounce: %d", resp.StatusCode)
	}
	for _, path := range []string{"/app/segments", "/app/segments/1", "/app/segments/1/delete", "/api/segments/preview"} {
		resp, _ := h.do(http.MethodPost, path, strings.NewReader("{}"), "Content-Type", "application/json")
		if resp.StatusCode != http.StatusUnauthorized {
			t.Fatalf("POST %s without a token: %d", path, resp.StatusCode)
		}
	}
	for _, path := range []string{"/app/segments/1/export.csv", "/api/segments/catalog?kind=product"} {
		resp, _ := h.get(path, "HX-Request", "true")
		if resp.StatusCode != http.StatusUnauthorized {
			t.Fatalf("GET %s without a token: %d", path, resp.StatusCode)
		}
	}
	if n := h.count("SELECT count(*) FROM segments"); n != 0 {
		t.Fatal("unauthenticated requests stored segments")
	}
}

func TestSegmentCatalogPicker(t *testing.T) {
	h := newHarness(t, harnessOpts{})
	a := h.install("pick-a.myshopify.com")
	b := h.install("pick-b.myshopify.com")
	h.db.MustExec(`INSERT INTO products (shop_id, shopify_id, title) VALUES ($1, 11, 'Linen shirt'), ($1, 12, 'Wool hat'), ($2, 21, 'Other shirt')`, a.ID, b.ID)
	h.db.MustExec(`INSERT INTO products (shop_id, shopify_id, title, deleted_at) VALUES ($1, 13, 'Gone shirt', now())`, a.ID)
	h.db.MustExec(`INSERT INTO collections (shop_id, shopify_id, title) VALUES ($1, 31, 'Summer 100%')`, a.ID)
	auth := []string{"Authorization", "Bearer " + h.token(a.Domain)}
	resp, body := h.get("/api/segments/catalog?kind=product&q=SHIRT", auth...)
	if resp.StatusCode != 200 || body != `{"items":[{"id":11,"title":"Linen shirt"}]}` {
		t.Fatalf("product search: %d %s", resp.StatusCode, body)
	}
	_, body = h.get("/api/segments/catalog?kind=collection&q=100%25", auth...)
	if body != `{"items":[{"id":31,"title":"Summer 100%"}]}` {
		t.Fatalf("collection search: %s", body)
	}
	_, body = h.get("/api/segments/catalog?kind=collection&q=_", auth...)
	if body != `{"items":[]}` {
		t.Fatalf("LIKE wildcards must be literal: %s", body)
	}
	resp, _ = h.get("/api/segments/catalog?kind=variants", auth...)
	if resp.StatusCode != http.StatusBadRequest {
		t.Fatalf("bad kind: %d", resp.StatusCode)
	}
	// The builder names the products a saved segment uses.
	resp, _ = h.postSegment(a.Domain, "/app/segments", "Shirt buyers",
		`{"version":1,"root":{"op":"and","items":[{"condition":{"field":"bought_product","op":"has","ids":[11]}}]}}`)
	if resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("create: %d", resp.StatusCode)
	}
	_, body = h.get(resp.Header.Get("Location")+"/edit", auth...)
	if !strings.Contains(body, `"titles":{"product":{"11":"Linen shirt"}}`) {
		t.Fatalf("edit page should carry product titles\n%s", body)
	}
	// Summaries name products and collections too (another shop's product
	// is not named: it is not this shop's).
	_, body = h.get(resp.Header.Get("Location"), auth...)
	if !strings.Contains(body, "bought &#34;Linen shirt&#34;") && !strings.Contains(body, "bought &quot;Linen shirt&quot;") {
		t.Fatalf("detail summary should name the product\n%s", body)
	}
	_, out := h.preview(a.Domain, `{"rules":{"version":1,"root":{"op":"or","items":[`+
		`{"condition":{"field":"bought_collection","op":"has","ids":[31]}},`+
		`{"condition":{"field":"event","op":"did","event":"product_viewed","filter":{"kind":"product","value":"21"}}}]}}}`)
	if want := `Customers who bought from "Summer 100%", or viewed a product (product 21) at least once`; out["summary"] != want {
		t.Fatalf("preview summary %q, want %q", out["summary"], want)
	}
}
