package web_test

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"mime/multipart"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/cartwheel/cartwheel/app/email/render"
	"github.com/cartwheel/cartwheel/app/flows"
	"github.com/cartwheel/cartwheel/app/segments"
)

// hostileValues are what an attacker (or a broken client) sends in place of
// ordinary text and numbers.
var hostileValues = []struct{ name, v string }{
	{"NUL", "a\x00b"},
	{"invalid UTF-8", "caf\xe9\xff"},
	{"huge int", "99999999999999999999"},
	{"NaN", "NaN"},
	{"Inf", "Inf"},
	{"-Inf", "-Inf"},
}

// deepRules nests groups levels deep (3,000 levels is about 96 KB).
func deepRules(levels int) string {
	var b strings.Builder
	b.WriteString(`{"version":1,"root":{"op":"and","items":[`)
	for i := 1; i < levels; i++ {
		b.WriteString(`{"group":{"op":"or","items":[`)
	}
	b.WriteString(`{"condition":{"field":"suppressed","op":"is"}}`)
	for i := 1; i < levels; i++ {
		b.WriteString(`]}}`)
	}
	b.WriteString(`]}}`)
	return b.String()
}

// writtenState is every table an admin or public request could write, so a
// refused request can be shown to have left no trace.
func writtenState(h *harness) string {
	h.t.Helper()
	var parts []string
	for _, q := range []string{
		`SELECT count(*) FROM segments`,
		`SELECT coalesce(sum(hashtext(name || rules::text)), 0) FROM segments`,
		`SELECT count(*) FROM email_templates`,
		`SELECT coalesce(sum(hashtext(name || doc::text)), 0) FROM email_templates`,
		`SELECT count(*) FROM wheels`,
		`SELECT coalesce(sum(hashtext(config::text)), 0) FROM wheels`,
		`SELECT coalesce(sum(hashtext(sender_name || sender_email || reply_to || postal_address)), 0) FROM shops`,
		`SELECT count(*) FROM csv_imports`,
		`SELECT count(*) FROM customers`,
		`SELECT count(*) FROM suppressions`,
		`SELECT count(*) FROM events`,
		`SELECT count(*) FROM outbox_messages`,
		`SELECT count(*) FROM webhook_deliveries`,
	} {
		var n int64
		if err := h.db.Get(&n, q); err != nil {
			h.t.Fatalf("%s: %v", q, err)
		}
		parts = append(parts, fmt.Sprintf("%s=%d", q, n))
	}
	return strings.Join(parts, "\n")
}

type hostileReq struct {
	name   string
	method string
	path   string
	form   url.Values // urlencoded body
	json   string     // JSON body
	ctype  string
	body   []byte
}

// TestHostileInputGets4xx sends NUL bytes, invalid UTF-8, huge integers,
// NaN and infinities to every admin and public route that takes input, and
// expects a 4xx (never a 500, never a 200 with an empty body) and nothing
// written.
func TestHostileInputGets4xx(t *testing.T) {
	h := newHarness(t, harnessOpts{})
	sh := h.install("hostile.myshopify.com")
	ctx := context.Background()
	seg, err := segments.NewStore(h.db).Create(ctx, sh.ID, "Buyers", segments.Rules{Version: 1, Root: segments.Group{Op: "and",
		Items: []segments.Node{{Condition: &segments.Condition{Field: segments.FieldUnsubscribed, Op: "is"}}}}}, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	tplID, err := render.NewStore(h.db).FromStarter(ctx, sh.ID, render.StarterWelcome, render.LocaleEN)
	if err != nil {
		t.Fatal(err)
	}
	segPath := fmt.Sprintf("/app/segments/%d", seg.ID)
	flow, err := (&flows.Store{DB: h.db}).CreateFromPreset(ctx, sh.ID, flows.PresetAbandonedCart, render.LocaleEN)
	if err != nil {
		t.Fatal(err)
	}
	flowPath := fmt.Sprintf("/app/flows/%d", flow.ID)
	tplPath := fmt.Sprintf("/app/templates/%d", tplID)
	validRules := `{"version":1,"root":{"op":"and","items":[{"condition":{"field":"email_domain","op":"is","value":"example.com"}}]}}`
	wheelForm := func(field, v string) url.Values {
		f := url.Values{"enabled": {"on"}, "headline": {"Spin"}, "subtext": {"Win"}, "consent": {"I agree"}, "button": {"Spin"},
			"no_prize": {"Next time"}, "background": {"#ffffff"}, "text_color": {"#000000"}, "button_color": {"#000000"},
			"button_text_color": {"#ffffff"}, "delay_seconds": {"3"}, "scroll_percent": {"0"}, "pages_mode": {"all"},
			"frequency_days": {"7"}, "prize_expiry_days": {"30"}, "min_order": {""}, "prize_cap": {""},
			"slice_label": {"10% off", "No luck"}, "slice_color": {"#ff0000", "#00ff00"}, "slice_kind": {"percentage", "none"},
			"slice_value": {"10", ""}, "slice_weight": {"1", "1"}}
		if strings.HasPrefix(field, "slice_") {
			f[field] = []string{v, f[field][1]}
		} else {
			f.Set(field, v)
		}
		return f
	}
	settingsForm := func(field, v string) url.Values {
		f := url.Values{"sender_name": {"Shop"}, "sender_email": {"shop@example.com"}, "reply_to": {""},
			"postal_address": {"1 Main St"}, "timezone": {"Europe/Paris"}, "attribution_click_days": {"5"},
			"attribution_open_days": {"1"}, "marketing_cap_hours": {"16"}, "campaign_skip_days": {"7"}, "daily_send_limit": {"0"}}
		f.Set(field, v)
		return f
	}
	templateForm := func(field, v string) url.Values {
		f := url.Values{"name": {"Welcome"}, "locale": {"en"}, "subject": {"Hi"}, "preheader": {""}, "block_count": {"2"},
			"blocks[0].type": {"heading"}, "blocks[0].text": {"Hello"}, "blocks[1].type": {"spacer"}, "blocks[1].height": {"20"}}
		f.Set(field, v)
		return f
	}

	var reqs []hostileReq
	for _, hv := range hostileValues {
		q := url.QueryEscape(hv.v)
		get := func(path string) {
			reqs = append(reqs, hostileReq{name: hv.name + " GET " + path, method: http.MethodGet, path: path})
		}
		post := func(path string, f url.Values) {
			reqs = append(reqs, hostileReq{name: hv.name + " POST " + path + " " + f.Encode(), method: http.MethodPost, path: path, form: f})
		}
		onlyText := hv.name == "NUL" || hv.name == "invalid UTF-8"
		// Lists and searches: q, filters and keyset cursors.
		if onlyText {
			get("/app/customers?q=" + q)
			get("/app/customers?country=" + q)
			get("/app/customers?tag=" + q)
			get("/app/customers?consent=" + q)
			get("/app/customers/export.csv?q=" + q)
			get("/app/customers/suppressed?after=" + q)
			get("/app/segments?q=" + q)
			get("/api/segments/catalog?kind=product&q=" + q)
			get("/app/settings?shop=" + q)
			get("/app/wheel/preview?x=" + q)
			post("/app/customers/suppressed/lift?email="+q, url.Values{})
			post("/app/segments", url.Values{"name": {hv.v}, "rules": {validRules}})
			post(segPath, url.Values{"name": {hv.v}, "rules": {validRules}})
			post("/app/templates", url.Values{"starter": {hv.v}, "locale": {"en"}})
			get("/app/flows?q=" + q)
			post("/app/flows", url.Values{"preset": {hv.v}, "locale": {"en"}})
			post(flowPath+"/steps", url.Values{"type": {"wait"}, "after": {hv.v}})
			post(flowPath+"/steps/wait-1", url.Values{"name": {hv.v}, "wait": {"1d"}})
			post(flowPath+"/settings", url.Values{"name": {hv.v}, "trigger": {"cart_abandoned"}, "priority": {"50"}})
			post(tplPath+"/test", url.Values{"to": {"x" + hv.v + "@example.com"}})
			for _, f := range []string{"sender_name", "sender_email", "reply_to", "postal_address", "timezone"} {
				post("/app/settings", settingsForm(f, hv.v))
			}
			for _, f := range []string{"headline", "consent", "slice_label", "slice_color", "paths"} {
				post("/app/wheel", wheelForm(f, hv.v))
			}
			for _, f := range []string{"name", "subject", "preheader", "locale"} {
				post(tplPath, templateForm(f, hv.v))
			}
			// Public pages.
			get("/u/" + q)
			post("/u/"+q, url.Values{"List-Unsubscribe": {"One-Click"}})
			get("/t/c/" + q)
			get("/t/o/" + q)
			get("/email/verify/" + q)
		} else {
			get("/app/customers/" + q)
		}
		get("/app/customers?after=" + q)
		get(segPath + "?after=" + q)
		get("/app/customers/import/" + q)
		get("/app/segments/" + q)
		get("/app/templates/" + q)
		get("/app/flows/" + q)
		get("/app/flows?after=" + q)
		post(flowPath+"/steps/wait-1", url.Values{"wait": {hv.v}})
		post(flowPath+"/settings", url.Values{"name": {"Cart"}, "trigger": {"cart_abandoned"}, "priority": {hv.v}})
		get(tplPath + "/preview?customer_id=" + q)
		post("/app/wheel", wheelForm("slice_weight", hv.v))
		post("/app/wheel/preview", wheelForm("slice_weight", hv.v))
		post("/app/wheel", wheelForm("delay_seconds", hv.v))
		post("/app/wheel", wheelForm("slice_value", hv.v))
		post("/app/wheel", wheelForm("min_order", hv.v))
		post("/app/wheel/preview", wheelForm("min_order", hv.v))
		post("/app/wheel/preview", wheelForm("slice_value", hv.v))
		post("/app/wheel", wheelForm("prize_cap", hv.v))
		for _, f := range []string{"attribution_click_days", "attribution_open_days", "marketing_cap_hours", "campaign_skip_days", "daily_send_limit"} {
			post("/app/settings", settingsForm(f, hv.v))
		}
		post(tplPath, templateForm("block_count", hv.v))
		post(tplPath, templateForm("blocks[1].height", hv.v))
		post(tplPath+"/blocks", url.Values{"op": {"remove:" + hv.v}, "block_count": {"1"}, "blocks[0].type": {"spacer"}})
		post(tplPath+"/preview", url.Values{"customer_id": {hv.v}})
	}
	// JSON bodies: \u0000 is valid JSON and decodes to a NUL byte.
	nulRules := strings.Replace(validRules, "example.com", `exa\u0000mple.com`, 1)
	for _, r := range []string{nulRules, deepRules(3000), deepRules(segments.MaxDepth + 1),
		strings.Replace(validRules, `"is","value":"example.com"`, `"in","values":["\u0000"]`, 1)} {
		reqs = append(reqs,
			hostileReq{name: "segment preview " + r[:min(len(r), 120)], method: http.MethodPost, path: "/api/segments/preview",
				json: `{"rules":` + r + `}`},
			hostileReq{name: "segment create " + r[:min(len(r), 120)], method: http.MethodPost, path: "/app/segments",
				form: url.Values{"name": {"Deep"}, "rules": {r}}})
	}
	// Bodies over the admin limit, with and without a declared length.
	big := bytes.Repeat([]byte("x"), 3<<20)
	var mp bytes.Buffer
	mw := multipart.NewWriter(&mp)
	fw, _ := mw.CreateFormFile("logo", "big.bin")
	fw.Write(big)
	mw.WriteField("name", "x")
	mw.Close()
	reqs = append(reqs,
		hostileReq{name: "3 MB multipart", method: http.MethodPost, path: "/app/settings", ctype: mw.FormDataContentType(), body: mp.Bytes()},
		hostileReq{name: "3 MB form", method: http.MethodPost, path: tplPath, form: url.Values{"name": {string(big)}}},
		hostileReq{name: "3 MB JSON", method: http.MethodPost, path: "/api/segments/preview", json: `{"rules":"` + string(big) + `"}`},
	)

	auth := "Bearer " + h.token(sh.Domain)
	// The forms the hostile values are put into are accepted as they are,
	// so a refusal below is the hostile value's doing.
	for path, f := range map[string]url.Values{"/app/wheel/preview": wheelForm("headline", "Spin"),
		"/app/settings": settingsForm("sender_name", "Shop"), tplPath: templateForm("name", "Welcome")} {
		resp, body := h.postForm(path, f, "Authorization", auth)
		if resp.StatusCode != http.StatusOK && resp.StatusCode != http.StatusSeeOther {
			t.Fatalf("baseline %s: %d\n%s", path, resp.StatusCode, body)
		}
	}
	before := writtenState(h)
	for _, rq := range reqs {
		var body io.Reader
		headers := []string{"Authorization", auth}
		switch {
		case rq.form != nil:
			body = strings.NewReader(rq.form.Encode())
			headers = append(headers, "Content-Type", "application/x-www-form-urlencoded")
		case rq.json != "":
			body = strings.NewReader(rq.json)
			headers = append(headers, "Content-Type", "application/json")
		case rq.body != nil:
			body = bytes.NewReader(rq.body)
			headers = append(headers, "Content-Type", rq.ctype)
		}
		// Paths with raw bytes must reach the server as sent.
		path := rq.path
		resp, respBody := h.do(rq.method, path, body, headers...)
		if resp.StatusCode < 400 || resp.StatusCode >= 500 {
			t.Errorf("%.200q: got %d, want 4xx\n%.300s", rq.name, resp.StatusCode, respBody)
		}
		if strings.TrimSpace(respBody) == "" && rq.method != http.MethodHead {
			t.Errorf("%.200q: %d with an empty body; say what was wrong", rq.name, resp.StatusCode)
		}
	}
	// CSV uploads: NUL and invalid UTF-8 in headers and cells, a huge cell.
	for _, csv := range []string{"Email,No\x00te\nann@example.com,x\n", "Email,Note\nann@example.com,a\x00b\n",
		"Email,N\xffote\nann@example.com,x\n", "Email,Note\nann@example.com," + strings.Repeat("x", 2<<20) + "\n"} {
		resp, b := h.upload(sh.Domain, "profiles", "hostile.csv", strings.NewReader(csv))
		if resp.StatusCode != http.StatusUnprocessableEntity || !strings.Contains(b, "line ") {
			t.Errorf("CSV upload %.40q: %d %.300s", csv, resp.StatusCode, b)
		}
	}
	// Storefront JSON: \u0000 decodes to a NUL byte.
	ts := time.Now().UTC().Add(-time.Second).Format(time.RFC3339)
	for _, body := range []string{
		`{"shop":"hostile.myshopify.com\u0000","visitor_id":"v_abcdefgh12","events":[{"id":"e1","name":"page_viewed","timestamp":"` + ts + `","data":{}}]}`,
		`{"shop":"hostile\u0000.myshopify.com","visitor_id":"v_abcdefgh12","events":[{"id":"e1","name":"page_viewed","timestamp":"` + ts + `","data":{}}]}`,
		`{"shop":"hostile.myshopify.com","visitor_id":"v_abcdefgh12","events":[{"id":"e\u0000","name":"page_viewed","timestamp":"` + ts + `","data":{}}]}`,
		`{"shop":"hostile.myshopify.com","visitor_id":"v_abcdefgh12","events":[{"id":"e2","name":"product_viewed","timestamp":"` + ts + `","data":{"productVariant":{"id":"1\u0000"}}}]}`,
	} {
		resp, b := h.ingest(body, "Origin", "https://hostile.myshopify.com")
		if resp.StatusCode >= 500 || (resp.StatusCode < 400 && !strings.Contains(b, `"rejected":[{`)) {
			t.Errorf("ingest %.120s: %d %s", body, resp.StatusCode, b)
		}
		resp, b = h.proxyPost("/proxy/events", sh.Domain, 0, body)
		if resp.StatusCode >= 500 || (resp.StatusCode < 400 && !strings.Contains(b, `"rejected":[{`)) {
			t.Errorf("proxy events %.120s: %d %s", body, resp.StatusCode, b)
		}
	}
	// (A NUL in first_name is dropped by the wheel with other control
	// characters, as a shopper's typing slip; the rest is refused.)
	for _, body := range []string{
		`{"email":"a\u0000@example.com","visitor_id":"v_abcdefgh12","consent":true}`,
		`{"email":"a@example.com","phone":"\u0000","visitor_id":"v_abcdefgh12","consent":true}`,
		`{"email":"a@example.com","visitor_id":"v_abcdefgh12\u0000","consent":true}`,
	} {
		resp, b := h.proxyPost("/proxy/spin", sh.Domain, 0, body)
		if resp.StatusCode < 400 || resp.StatusCode >= 500 {
			t.Errorf("spin %s: %d %s", body, resp.StatusCode, b)
		}
	}
	if after := writtenState(h); after != before {
		t.Fatalf("hostile requests wrote something:\nbefore:\n%s\nafter:\n%s", before, after)
	}
}
