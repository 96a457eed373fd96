package web_test

import (
	"fmt"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/cartwheel/cartwheel/app/reports"
)

// A merchant opens a flow's report from the flows list and the flow page:
// the flow's metrics for the range with definitions on hover, a line per
// email step, the attributed order with its reason linking to the customer
// (whose page shows the same reason), and its CSV; the flows list, the flow
// page and the campaigns list show attributed revenue; a bad range is 422
// with the reason; another shop gets 404.
func TestFlowReportPage(t *testing.T) {
	h := newHarness(t, harnessOpts{})
	a := h.install("flowrep-a.myshopify.com")
	b := h.install("flowrep-b.myshopify.com")
	authA := []string{"Authorization", "Bearer " + h.token(a.Domain)}
	authB := []string{"Authorization", "Bearer " + h.token(b.Domain)}
	def := `{"trigger": {"type": "checkout_abandoned"}, "reentry": {"mode": "every_time"}, "priority": 50, "max_lateness": "12h",
		"steps": [{"id": "s1", "type": "send_email", "name": "Reminder", "template_id": 1},
		          {"id": "w1", "type": "wait", "wait": "1d"},
		          {"id": "s2", "type": "send_email", "template_id": 1}]}`
	var flow int64
	if err := h.db.Get(&flow, `INSERT INTO flows (shop_id, name, status, trigger_type, draft, live_version)
		VALUES ($1, 'Abandoned cart', 'live', 'checkout_abandoned', $2, 1) RETURNING id`, a.ID, def); err != nil {
		t.Fatal(err)
	}
	h.db.MustExec(`INSERT INTO flow_versions (shop_id, flow_id, version, definition) VALUES ($1, $2, 1, $3)`, a.ID, flow, def)
	var cust int64
	if err := h.db.Get(&cust, `INSERT INTO customers (shop_id, email, email_consent, first_name) VALUES ($1, 'fr@example.com', 'subscribed', 'Flo') RETURNING id`,
		a.ID); err != nil {
		t.Fatal(err)
	}
	sentAt := time.Now().Add(-30 * time.Hour).Truncate(time.Second)
	var msg int64
	if err := h.db.Get(&msg, `INSERT INTO email_messages (shop_id, customer_id, to_email, kind, dedupe_key, marketing, status, sent_at,
			flow_id, flow_version, flow_run_id, flow_step) VALUES ($1, $2, 'fr@example.com', 'flow', 'flow_run:1:step:s1', true, 'sent', $3, $4, 1, 1, 's1')
		RETURNING id`, a.ID, cust, sentAt, flow); err != nil {
		t.Fatal(err)
	}
	ordered := sentAt.Add(5 * time.Hour)
	h.db.MustExec(`INSERT INTO email_events (shop_id, message_id, source, kind, user_agent, occurred_at)
		VALUES ($1, $2, 'redirect', 'click', 'Mozilla/5.0 (Windows NT 10.0; Win64; x64) Chrome/120.0', $3)`, a.ID, msg, ordered.Add(-(2*time.Hour + 14*time.Minute)))
	h.db.MustExec(`INSERT INTO orders (shop_id, shopify_id, name, customer_id, currency, subtotal_price, total_price, total_refunded,
		financial_status, processed_at, shopify_created_at) VALUES ($1, 2001, '#2001', $2, $4, 120, 120, 20, 'partially_refunded', $3, $3)`,
		a.ID, cust, ordered, a.Currency)
	if err := reports.Attribute(t.Context(), h.db, a.ID, []int64{2001}); err != nil {
		t.Fatal(err)
	}
	// The email rollups: s1 sent 4, delivered 4 to 4 customers, 2 opened,
	// 3 clicks; s2 sent 2, 1 delivered.
	loc, _ := time.LoadLocation("Europe/Paris")
	y, m, d := ordered.In(loc).Date()
	day := time.Date(y, m, d, 0, 0, 0, 0, time.UTC)
	h.db.MustExec(`INSERT INTO report_email_daily (shop_id, scope, scope_id, variant, day, slot, sent, delivered, bounced, opened, clicked, clicks) VALUES
		($1, 'flow', $2, 's1', $3, 0, 3, 3, 0, 1, 1, 2), ($1, 'flow', $2, 's1', $3, 2, 1, 1, 0, 1, 1, 1), ($1, 'flow', $2, 's2', $3, 0, 2, 1, 1, 0, 0, 0)`,
		a.ID, flow, day)
	for i := range 4 {
		h.db.MustExec(`INSERT INTO report_email_customers (shop_id, scope, scope_id, variant, day, customer_id, delivered) VALUES ($1, 'flow', $2, 's1', $3, $4, true)`,
			a.ID, flow, day, 100+i)
	}
	h.db.MustExec(`INSERT INTO report_email_customers (shop_id, scope, scope_id, variant, day, customer_id, delivered) VALUES ($1, 'flow', $2, 's2', $3, 100, true)`,
		a.ID, flow, day)

	// The per-step reads are Metrics with the step as variant.
	st := &reports.Store{DB: h.db}
	rg := reports.Range{From: day.AddDate(0, 0, -3), To: day}
	fr, err := st.FlowReport(t.Context(), a.ID, flow, rg)
	if err != nil {
		t.Fatal(err)
	}
	whole, err := st.Metrics(t.Context(), a.ID, rg, reports.Scope{Kind: reports.ScopeFlow, ID: flow})
	if err != nil {
		t.Fatal(err)
	}
	if fmt.Sprintf("%+v", reports.Compute(fr.Totals)) != fmt.Sprintf("%+v", reports.Compute(whole.Totals)) {
		t.Errorf("flow report totals %+v, Metrics %+v", fr.Totals, whole.Totals)
	}
	for _, step := range []string{"s1", "s2"} {
		one, err := st.Metrics(t.Context(), a.ID, rg, reports.Scope{Kind: reports.ScopeFlow, ID: flow, Variant: step, VariantSet: true})
		if err != nil {
			t.Fatal(err)
		}
		if fmt.Sprintf("%+v", reports.Compute(fr.Steps[step])) != fmt.Sprintf("%+v", reports.Compute(one.Totals)) {
			t.Errorf("step %s: flow report %+v, Metrics %+v", step, fr.Steps[step], one.Totals)
		}
	}

	href := "/app/flows/" + itoa(flow) + "/report"
	resp, body := h.get(href+"?preset=30", authA...)
	if resp.StatusCode != 200 {
		t.Fatalf("flow report: %d\n%s", resp.StatusCode, body)
	}
	for metric, want := range map[string]string{"sent": "6", "delivered": "5", "orders": "1", "sales": "100.00 " + a.Currency, "conversion": "20.0 %",
		"open_rate": "40.0 %", "rpr": "25.00 " + a.Currency} {
		if got := reportCell(t, body, `data-metric="`+metric+`"`, "data-value"); got != want {
			t.Errorf("%s = %q, want %q", metric, got, want)
		}
	}
	if !strings.Contains(body, `title="Open rate: opened ÷ delivered."`) {
		t.Error("the open rate's definition is not on hover")
	}
	for step, want := range map[string]map[string]string{
		"s1": {"data-sent": "4", "data-orders": "1", "data-sales": "100.00 " + a.Currency, "data-conversion": "25.0 %", "data-click-rate": "75.0 %"},
		"s2": {"data-sent": "2", "data-delivered": "1", "data-orders": "0", "data-sales": "0.00 " + a.Currency},
	} {
		for attr, w := range want {
			if got := reportCell(t, body, `data-step="`+step+`"`, attr); got != w {
				t.Errorf("step %s %s = %q, want %q", step, attr, got, w)
			}
		}
	}
	if !regexp.MustCompile(`data-step="s1"[^>]*>\s*<th scope="row">Reminder<`).MatchString(body) {
		t.Error("the step is not named")
	}
	reason := "attributed to Abandoned cart — Reminder: clicked 2 h 14 min before the order (click window 5 days)"
	if got := reportCell(t, body, `data-order="#2001"`, "data-reason"); got != reason {
		t.Errorf("reason %q, want %q", got, reason)
	}
	if got := reportCell(t, body, `data-order="#2001"`, "data-paid"); got != "100.00 "+a.Currency {
		t.Errorf("paid %q", got)
	}
	custHref := "/app/customers/" + itoa(cust)
	if !regexp.MustCompile(`id="flow-report-orders"[\s\S]*href="` + custHref + `" data-order-link`).MatchString(body) {
		t.Error("the order row doesn't link to its customer")
	}
	for _, id := range []string{"flow-report-range", "flow-report-metrics", "flow-report-steps", "flow-report-orders", "flow-report-csv"} {
		if !strings.Contains(body, `id="`+id+`"`) {
			t.Errorf("no #%s", id)
		}
	}
	_, cbody := h.get(custHref, authA...)
	if !strings.Contains(cbody, "A"+reason[1:]) {
		t.Error("the customer page doesn't show the reason")
	}
	// A range before the order: no order listed, nothing sent.
	old := day.AddDate(0, 0, -60)
	_, body = h.get(href+"?preset=custom&from="+old.Format(time.DateOnly)+"&to="+old.AddDate(0, 0, 5).Format(time.DateOnly), authA...)
	if strings.Contains(body, `data-order="#2001"`) || reportCell(t, body, `data-metric="sent"`, "data-value") != "0" {
		t.Error("a range before anything happened shows figures")
	}

	// CSV: the flow and each email step.
	resp, csvBody := h.get(href+".csv?preset=30", authA...)
	if resp.StatusCode != 200 || !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/csv") {
		t.Fatalf("csv: %d %s", resp.StatusCode, resp.Header.Get("Content-Type"))
	}
	for _, line := range []string{"flow," + itoa(flow) + ",Abandoned cart,6,5,1,2,3,0,0,1,100.00,0.2000,0.4000,0.6000,0.4000,0.0000,0.0000",
		"step,s1,Reminder,4,4,0,2,3,0,0,1,100.00,0.2500,0.5000,0.7500,0.5000,0.0000,0.0000", "step,s2,Send email (s2),2,1,1,0,0,0,0,0,0.00,"} {
		if !strings.Contains(csvBody, line) {
			t.Errorf("csv lacks %q:\n%s", line, csvBody)
		}
	}

	// Bad range: 422 with the reason.
	resp, body = h.get(href+"?preset=12", authA...)
	if resp.StatusCode != 422 || !strings.Contains(body, "preset must be one of 7, 30, 90 or custom") {
		t.Errorf("bad preset: %d", resp.StatusCode)
	}
	if resp, _ := h.get(href+".csv?preset=custom&from=2026-02-01&to=2026-01-01", authA...); resp.StatusCode != 422 {
		t.Errorf("bad csv range: %d", resp.StatusCode)
	}

	// The flows list and the flow page: last 30 days' revenue and the report link.
	_, body = h.get("/app/flows", authA...)
	if got := reportCell(t, body, `data-flow="Abandoned cart"`, "data-orders30"); got != "1" {
		t.Errorf("list orders %q", got)
	}
	if got := reportCell(t, body, `data-flow="Abandoned cart"`, "data-sales30"); got != "100.00 "+a.Currency {
		t.Errorf("list sales %q", got)
	}
	if !strings.Contains(body, `href="`+href+`" data-flow-report`) {
		t.Error("the flows list doesn't link the report")
	}
	_, body = h.get("/app/flows/"+itoa(flow), authA...)
	if !strings.Contains(body, `href="`+href+`" id="flow-report-link"`) {
		t.Error("the flow page doesn't link the report")
	}
	if !regexp.MustCompile(`data-step="s1"[\s\S]*?data-step-revenue>Last 30 days: 1 attributed orders · 100.00 ` + a.Currency + `<`).MatchString(body) {
		t.Error("the flow page doesn't show the step's revenue")
	}
	if !strings.Contains(body, "Last 30 days: 1 attributed orders, 100.00 "+a.Currency) {
		t.Errorf("the flow page doesn't show the flow's revenue\n%s", body)
	}

	// The campaigns list: attributed sales per campaign, from the rollup.
	var cid int64
	if err := h.db.Get(&cid, `INSERT INTO campaigns (shop_id, name, status) VALUES ($1, 'Autumn', 'sent') RETURNING id`, a.ID); err != nil {
		t.Fatal(err)
	}
	h.db.MustExec(`INSERT INTO report_orders_daily (shop_id, scope, scope_id, variant, day, slot, orders, sales) VALUES
		($1, 'campaign', $2, 'A', $3, 0, 1, 10.50), ($1, 'campaign', $2, '', $3, 1, 2, 31)`, a.ID, cid, day)
	_, body = h.get("/app/campaigns", authA...)
	if got := reportCell(t, body, `data-campaign="Autumn"`, "data-sales"); got != "41.50 "+a.Currency {
		t.Errorf("campaign list sales %q", got)
	}

	// Another shop: 404, nothing of it.
	for _, p := range []string{href, href + ".csv"} {
		if resp, body := h.get(p, authB...); resp.StatusCode != 404 || strings.Contains(body, "#2001") {
			t.Errorf("other shop's %s: %d", p, resp.StatusCode)
		}
	}
}

// The flow editor takes a holdout share of 0 to 50 % (anything else is 422
// on its field, nothing stored), and the flow's report shows the holdout
// comparison: revenue per recipient of the runs mailed minus that of the
// runs held out, with both groups' sizes.
func TestFlowHoldoutSettingAndReport(t *testing.T) {
	h := newHarness(t, harnessOpts{})
	a := h.install("flowhold-a.myshopify.com")
	authA := []string{"Authorization", "Bearer " + h.token(a.Domain)}
	def := `{"trigger": {"type": "customer_created"}, "reentry": {"mode": "every_time"}, "priority": 50, "max_lateness": "12h",
		"steps": [{"id": "s1", "type": "send_email", "template_id": 1}]}`
	var flow int64
	if err := h.db.Get(&flow, `INSERT INTO flows (shop_id, name, status, trigger_type, draft) VALUES ($1, 'Welcome', 'draft', 'customer_created', $2) RETURNING id`,
		a.ID, def); err != nil {
		t.Fatal(err)
	}
	href := "/app/flows/" + itoa(flow)
	form := url.Values{"name": {"Welcome"}, "trigger": {"customer_created"}, "reentry": {"every_time"}, "priority": {"50"}, "max_lateness": {"12h"}}
	for _, bad := range []string{"75", "-1", "ten"} {
		form.Set("holdout_percent", bad)
		resp, body := h.postForm(href+"/settings", form, authA...)
		if resp.StatusCode != http.StatusUnprocessableEntity || !strings.Contains(body, "Enter a holdout share from 0 to 50 percent.") ||
			!strings.Contains(body, `value="`+bad+`"`) {
			t.Fatalf("holdout %q: %d", bad, resp.StatusCode)
		}
	}
	if n := h.count(`SELECT count(*) FROM flows WHERE id = $1 AND draft ? 'holdout_percent'`, flow); n != 0 {
		t.Fatal("a refused holdout was stored")
	}
	form.Set("holdout_percent", "20")
	if resp, _ := h.postForm(href+"/settings", form, authA...); resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("holdout 20: %d", resp.StatusCode)
	}
	if n := h.count(`SELECT count(*) FROM flows WHERE id = $1 AND (draft->>'holdout_percent')::int = 20`, flow); n != 1 {
		t.Fatal("the holdout was not stored")
	}
	_, body := h.get(href, authA...)
	if !strings.Contains(body, `name="holdout_percent"`) || !strings.Contains(body, `value="20"`) || !strings.Contains(body, `for="f-holdout_percent"`) {
		t.Error("the editor doesn't show the holdout")
	}

	// Nobody held out yet: the report says so.
	_, body = h.get(href+"/report", authA...)
	if !strings.Contains(body, `id="flow-report-holdout-note"`) || strings.Contains(body, `id="flow-report-incrementality"`) {
		t.Error("no note without a comparison")
	}
	// Two runs mailed (one bought 60.00), one held out (bought 10.00):
	// 30.00 − 10.00 = 20.00 per recipient, 40.00 in all.
	started := time.Now().Add(-2 * time.Hour).Truncate(time.Second)
	for i, g := range []struct {
		held    bool
		outcome string
		reason  string
		paid    string
	}{{false, "sent", "", "60.00"}, {false, "sent", "", ""}, {true, "skipped", "holdout", "10.00"}} {
		var cust, run int64
		if err := h.db.Get(&cust, `INSERT INTO customers (shop_id, email) VALUES ($1, $2) RETURNING id`, a.ID, "hold"+itoa(int64(i))+"@example.com"); err != nil {
			t.Fatal(err)
		}
		if err := h.db.Get(&run, `INSERT INTO flow_runs (shop_id, flow_id, version, customer_id, status, started_at, ended_at, holdout)
			VALUES ($1, $2, 1, $3, 'completed', $4, $4, $5) RETURNING id`, a.ID, flow, cust, started, g.held); err != nil {
			t.Fatal(err)
		}
		h.db.MustExec(`INSERT INTO flow_run_steps (shop_id, flow_id, run_id, step_id, outcome, reason, at) VALUES ($1, $2, $3, 's1', $4, $5, $6)`,
			a.ID, flow, run, g.outcome, g.reason, started)
		if g.paid != "" {
			h.db.MustExec(`INSERT INTO orders (shop_id, shopify_id, customer_id, total_price, processed_at) VALUES ($1, $2, $3, $4, $5)`,
				a.ID, 7000+i, cust, g.paid, started.Add(time.Hour))
		}
	}
	_, body = h.get(href+"/report", authA...)
	for metric, want := range map[string]string{"mailed": "2", "held": "1", "mailed_per_recipient": "30.00 " + a.Currency,
		"held_per_recipient": "10.00 " + a.Currency, "incremental_per_recipient": "20.00 " + a.Currency, "incremental_revenue": "40.00 " + a.Currency} {
		if got := reportCell(t, body, `data-metric="`+metric+`"`, "data-count"); got != want {
			t.Errorf("%s = %q, want %q", metric, got, want)
		}
	}
}
