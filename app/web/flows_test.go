package web_test

import (
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"
)

var flowIDRe = regexp.MustCompile(`^/app/flows/(\d+)`)

// A merchant uses the abandoned-cart preset, breaks a wait, is refused at
// Go live with the mark on that step, fixes it and goes live; another shop
// can't see or touch the flow; bad input is refused with the field named.
func TestFlowsAdmin(t *testing.T) {
	h := newHarness(t, harnessOpts{})
	a := h.install("flow-a.myshopify.com")
	b := h.install("flow-b.myshopify.com")
	authA := []string{"Authorization", "Bearer " + h.token(a.Domain)}
	authB := []string{"Authorization", "Bearer " + h.token(b.Domain)}

	resp, body := h.get("/app/flows", authA...)
	if resp.StatusCode != 200 || !strings.Contains(body, "No flows yet") || !strings.Contains(body, `data-preset="abandoned_cart"`) {
		t.Fatalf("empty list: %d\n%s", resp.StatusCode, body)
	}
	resp, body = h.postForm("/app/flows", url.Values{"preset": {"no_such"}, "locale": {"en"}}, authA...)
	if resp.StatusCode != http.StatusUnprocessableEntity || !strings.Contains(body, "There is no ready-made flow") {
		t.Fatalf("unknown preset: %d", resp.StatusCode)
	}
	resp, _ = h.postForm("/app/flows", url.Values{"preset": {"abandoned_cart"}, "locale": {"en"}}, authA...)
	m := flowIDRe.FindStringSubmatch(resp.Header.Get("Location"))
	if resp.StatusCode != http.StatusSeeOther || m == nil {
		t.Fatalf("use preset: %d %q", resp.StatusCode, resp.Header.Get("Location"))
	}
	href := "/app/flows/" + m[1]

	resp, body = h.get(href, authA...)
	if resp.StatusCode != 200 || !strings.Contains(body, `data-step="email-1"`) || strings.Contains(body, "data-problem-dot") ||
		!strings.Contains(body, `data-action="publish"`) {
		t.Fatalf("editor: %d\n%s", resp.StatusCode, body)
	}
	// Shop B gets 404 for every route of shop A's flow.
	if resp, _ := h.get(href, authB...); resp.StatusCode != http.StatusNotFound {
		t.Fatalf("other shop's flow: %d", resp.StatusCode)
	}
	if resp, _ := h.postForm(href+"/publish", url.Values{}, authB...); resp.StatusCode != http.StatusNotFound {
		t.Fatalf("other shop publishes: %d", resp.StatusCode)
	}

	// Unreadable input: 422 naming the field, nothing saved.
	resp, body = h.postForm(href+"/steps/wait-1", url.Values{"wait": {"soon"}}, authA...)
	if resp.StatusCode != http.StatusUnprocessableEntity || !strings.Contains(body, "Enter a duration such as 30m, 36h or 3d.") || !strings.Contains(body, `value="soon"`) {
		t.Fatalf("bad wait: %d\n%s", resp.StatusCode, body)
	}
	if n := h.count(`SELECT count(*) FROM flows WHERE draft->'steps'->0->>'wait' = '23h0m0s'`); n != 1 {
		t.Fatalf("a refused step form changed the draft (%d)", n)
	}
	// A wait of 0 reads fine, is saved, and marks the step.
	resp, _ = h.postForm(href+"/steps/wait-1", url.Values{"wait": {"0"}}, authA...)
	if resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("zero wait: %d", resp.StatusCode)
	}
	resp, body = h.postForm(href+"/publish", url.Values{}, authA...)
	if resp.StatusCode != http.StatusUnprocessableEntity || !strings.Contains(body, "can&#39;t go live yet") ||
		!strings.Contains(body, "data-problem-dot") || !strings.Contains(body, "This wait is zero") {
		t.Fatalf("refused go live: %d\n%s", resp.StatusCode, body)
	}
	if n := h.count(`SELECT count(*) FROM flow_versions`); n != 0 {
		t.Fatalf("refused publish stored %d versions", n)
	}
	resp, _ = h.postForm(href+"/steps/wait-1", url.Values{"wait": {"1d"}}, authA...)
	if resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("fix wait: %d", resp.StatusCode)
	}
	resp, _ = h.postForm(href+"/publish", url.Values{}, authA...)
	if resp.StatusCode != http.StatusSeeOther || !strings.Contains(resp.Header.Get("Location"), "done=published") {
		t.Fatalf("go live: %d", resp.StatusCode)
	}
	_, body = h.get(href+"?done=published", authA...)
	if !strings.Contains(body, `data-status="live"`) || !strings.Contains(body, "The flow is live (version 1).") || !strings.Contains(body, `data-action="pause"`) ||
		strings.Contains(body, "unpublished changes") || strings.Contains(body, "Publish changes") {
		t.Fatalf("after go live:\n%s", body)
	}

	// Add a condition split after the first email: its empty branches are marked.
	resp, _ = h.postForm(href+"/steps", url.Values{"type": {"condition"}, "after": {"email-1"}}, authA...)
	if resp.StatusCode != http.StatusSeeOther || !strings.Contains(resp.Header.Get("Location"), "step=split-1") {
		t.Fatalf("add step: %d %s", resp.StatusCode, resp.Header.Get("Location"))
	}
	_, body = h.get(href+"?step=split-1", authA...)
	if !strings.Contains(body, "branch leads nowhere") || !strings.Contains(body, `data-step-form="split-1"`) || !strings.Contains(body, "unpublished changes") {
		t.Fatalf("after adding a split:\n%s", body)
	}
	if resp, _ := h.postForm(href+"/steps", url.Values{"type": {"teleport"}}, authA...); resp.StatusCode != http.StatusBadRequest {
		t.Fatalf("unknown step type: %d", resp.StatusCode)
	}
	resp, _ = h.postForm(href+"/steps/split-1/delete", url.Values{}, authA...)
	if resp.StatusCode != http.StatusSeeOther || h.count(`SELECT count(*) FROM flows WHERE draft::text LIKE '%split-1%'`) != 0 {
		t.Fatalf("delete step: %d", resp.StatusCode)
	}

	// A random split takes its shares; a discount without scope is saved and marked.
	h.postForm(href+"/steps", url.Values{"type": {"random_split"}, "after": {"email-3"}}, authA...)
	resp, _ = h.postForm(href+"/steps/random-1", url.Values{"percents": {"70, 20, 10"}}, authA...)
	if resp.StatusCode != http.StatusSeeOther || h.count(`SELECT jsonb_array_length(draft->'steps'->6->'branches') FROM flows`) != 3 {
		t.Fatalf("random split shares: %d", resp.StatusCode)
	}
	if resp, body := h.postForm(href+"/steps/random-1", url.Values{"percents": {"70, x"}}, authA...); resp.StatusCode != http.StatusUnprocessableEntity ||
		!strings.Contains(body, "Enter whole percentages separated by commas") {
		t.Fatalf("bad shares: %d", resp.StatusCode)
	}
	resp, _ = h.postForm(href+"/steps/email-1", url.Values{"template_id": {"999999"}, "discount_kind": {"percentage"}, "discount_value": {"10"},
		"discount_expiry": {"1d"}}, authA...)
	if resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("discount: %d", resp.StatusCode)
	}
	_, body = h.get(href+"?step=email-1", authA...)
	if !strings.Contains(body, "Choose what the discount applies to") || !strings.Contains(body, "The template of this email no longer exists") ||
		!strings.Contains(body, "2 steps need attention") { // email-1, and the random split's empty paths
		t.Fatal("discount and template marks missing")
	}
	h.postForm(href+"/steps/random-1/delete", url.Values{}, authA...)

	// Settings: a bad priority is named; a good one is saved.
	resp, body = h.postForm(href+"/settings", url.Values{"name": {"Cart"}, "trigger": {"cart_abandoned"}, "delay": {"1h"}, "reentry": {"every_time"},
		"priority": {"high"}, "max_lateness": {"6h"}}, authA...)
	if resp.StatusCode != http.StatusUnprocessableEntity || !strings.Contains(body, "Enter a whole number from 1 to 100.") {
		t.Fatalf("bad priority: %d", resp.StatusCode)
	}
	resp, body = h.postForm(href+"/settings", url.Values{"name": {" "}, "trigger": {"cart_abandoned"}, "priority": {"50"}}, authA...)
	if resp.StatusCode != http.StatusUnprocessableEntity || !strings.Contains(body, "Enter a name for the flow.") {
		t.Fatalf("empty name: %d", resp.StatusCode)
	}
	resp, _ = h.postForm(href+"/settings", url.Values{"name": {"Cart recovery"}, "trigger": {"cart_abandoned"}, "delay": {"2h"}, "reentry": {"after"},
		"reentry_days": {"7"}, "priority": {"85"}, "max_lateness": {"6h"}, "exit": {"order_placed"},
		"filter_field": {"cart_value"}, "filter_op": {"gte"}, "filter_value": {"50"}}, authA...)
	if resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("settings: %d", resp.StatusCode)
	}
	if n := h.count(`SELECT count(*) FROM flows WHERE name = 'Cart recovery' AND (draft->>'priority')::int = 85
		AND draft->'reentry'->>'days' = '7' AND draft->'filters'->0->>'field' = 'cart_value'`); n != 1 {
		t.Fatal("settings not stored")
	}

	// Pause, resume, turn off; a second pause of a flow that is off is a conflict.
	for _, step := range []struct{ action, status string }{{"pause", "paused"}, {"resume", "live"}, {"off", "off"}} {
		if resp, _ := h.postForm(href+"/"+step.action, url.Values{}, authA...); resp.StatusCode != http.StatusSeeOther {
			t.Fatalf("%s: %d", step.action, resp.StatusCode)
		}
		if n := h.count(`SELECT count(*) FROM flows WHERE status = $1`, step.status); n != 1 {
			t.Fatalf("after %s: not %s", step.action, step.status)
		}
	}
	if resp, _ := h.postForm(href+"/pause", url.Values{}, authA...); resp.StatusCode != http.StatusConflict {
		t.Fatalf("pausing a flow that is off: %d", resp.StatusCode)
	}
	// The list shows it with its status; B's list doesn't.
	_, body = h.get("/app/flows", authA...)
	if !strings.Contains(body, `data-flow="Cart recovery"`) || !strings.Contains(body, `data-status="off"`) {
		t.Fatalf("list:\n%s", body)
	}
	if _, body := h.get("/app/flows", authB...); strings.Contains(body, "Cart recovery") {
		t.Fatal("shop B lists shop A's flow")
	}
	// The dev clock route exists only in dev.
	if resp, _ := h.postForm(href+"/dev/run-due", url.Values{}, authA...); resp.StatusCode != http.StatusNotFound {
		t.Fatalf("dev route outside dev: %d", resp.StatusCode)
	}
}
