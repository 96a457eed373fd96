package web_test

import (
	"strings"
	"testing"
	"time"
)

// Admin › Reports reads a shop's rollups for the range: the metrics with
// their definitions, the campaigns table linking to each report, and its
// CSV; a bad range or scope is 422 with the reason; another shop sees
// none of it.
func TestReportsPage(t *testing.T) {
	h := newHarness(t, harnessOpts{})
	a := h.install("rng-a.myshopify.com")
	b := h.install("rng-b.myshopify.com")
	authA := []string{"Authorization", "Bearer " + h.token(a.Domain)}
	authB := []string{"Authorization", "Bearer " + h.token(b.Domain)}
	var cid int64
	if err := h.db.Get(&cid, `INSERT INTO campaigns (shop_id, name, status) VALUES ($1, '=Spring sale', 'sent') RETURNING id`, a.ID); err != nil {
		t.Fatal(err)
	}
	today := time.Now().UTC().Truncate(24 * time.Hour)
	recent, old := today.AddDate(0, 0, -2), today.AddDate(0, 0, -40)
	// Two slots on a recent day (a report sums them) and one long ago.
	for _, r := range []struct {
		day                                                     time.Time
		slot, sent, delivered, bounced, opened, clicked, clicks int
	}{{recent, 0, 6, 5, 1, 2, 1, 3}, {recent, 3, 4, 3, 0, 2, 1, 2}, {old, 1, 100, 100, 0, 0, 0, 0}} {
		h.db.MustExec(`INSERT INTO report_daily (shop_id, scope, scope_id, variant, day, slot, sent, delivered, bounced_hard, opened, clicked, clicks, unsubscribed, complained)
			VALUES ($1, 'campaign', $2, 'A', $3, $4, $5, $6, $7, $8, $9, $10, 1, 0)`, a.ID, cid, r.day, r.slot, r.sent, r.delivered, r.bounced, r.opened, r.clicked, r.clicks)
	}
	h.db.MustExec(`INSERT INTO report_orders_daily (shop_id, scope, scope_id, variant, day, slot, orders, sales) VALUES
		($1, 'campaign', $2, 'A', $3, 0, 2, 45.55), ($1, 'campaign', $2, 'A', $4, 0, 9, 900)`, a.ID, cid, recent, old)

	var flow int64
	if err := h.db.Get(&flow, `INSERT INTO flows (shop_id, name, draft) VALUES ($1, 'Welcome', '{}') RETURNING id`, a.ID); err != nil {
		t.Fatal(err)
	}
	// Every email: 3 sent, 3 delivered to 2 customers (one got two); one of them unsubscribed.
	h.db.MustExec(`INSERT INTO report_email_daily (shop_id, scope, scope_id, variant, day, slot, sent, delivered, unsubscribed) VALUES
		($1, 'all', 0, '', $3, 0, 3, 3, 1), ($1, 'flow', $2, 's1', $3, 0, 3, 3, 1)`, a.ID, flow, recent)
	h.db.MustExec(`INSERT INTO report_email_customers (shop_id, scope, scope_id, variant, day, customer_id, delivered, unsubscribed) VALUES
		($1, 'all', 0, '', $3, 1, true, true), ($1, 'all', 0, '', $3, 2, true, false), ($1, 'all', 0, '', $4, 2, true, false),
		($1, 'flow', $2, 's1', $3, 1, true, true), ($1, 'flow', $2, 's1', $3, 2, true, false)`, a.ID, flow, recent, today.AddDate(0, 0, -1))
	// All email's unique customers are read from report_email_reach, which
	// the handler keeps beside report_email_customers: each customer-day
	// with the customer's previous one (1970-01-01: none).
	h.db.MustExec(`INSERT INTO report_email_reach (shop_id, flag, day, prev_day, slot, customers) VALUES
		($1, 'delivered', $2, '1970-01-01', 0, 2), ($1, 'delivered', $3, $2, 0, 1), ($1, 'unsubscribed', $2, '1970-01-01', 0, 1)`,
		a.ID, recent, today.AddDate(0, 0, -1))
	resp, body := h.get("/app/reports?preset=7", authA...)
	if resp.StatusCode != 200 {
		t.Fatalf("reports: %d %s", resp.StatusCode, body)
	}
	// All email by default: unique delivered customers are 2, so 1 of 2 unsubscribed.
	if got := reportCell(t, body, `data-metric="unsubscribe_rate"`, "data-value"); got != "50.0 %" {
		t.Errorf("all email unsubscribe rate = %q", got)
	}
	if !strings.Contains(body, `href="/app/flows/`+itoa(flow)+`"`) {
		t.Error("the table does not list the flow")
	}
	if _, body := h.get("/app/reports?preset=7&scope=flow:"+itoa(flow)+"&variant=s1", authA...); reportCell(t, body, `data-metric="sent"`, "data-value") != "3" {
		t.Error("a flow step's figures are not shown")
	}

	resp, body = h.get("/app/reports?preset=7&scope=campaigns", authA...)
	if resp.StatusCode != 200 {
		t.Fatalf("reports: %d %s", resp.StatusCode, body)
	}
	// 10 sent, 8 delivered, 1 bounced, 4 opened, 5 clicks, 2 unsubscribed; 2 orders, 45.55.
	for metric, want := range map[string]string{"sent": "10", "delivered": "8", "bounced": "1", "opened": "4", "clicks": "5",
		"unsubscribes": "2", "orders": "2", "delivery_rate": "80.0 %", "open_rate": "50.0 %", "click_rate": "62.5 %",
		"unique_click": "25.0 %", "click_to_open": "50.0 %", "unsubscribe_rate": "25.0 %", "conversion": "25.0 %"} {
		if got := reportCell(t, body, `data-metric="`+metric+`"`, "data-value"); got != want {
			t.Errorf("%s = %q, want %q", metric, got, want)
		}
	}
	if got := reportCell(t, body, `data-metric="sales"`, "data-value"); !strings.HasPrefix(got, "45.55") {
		t.Errorf("sales = %q", got)
	}
	if !strings.Contains(body, `title="Open rate: opened ÷ delivered."`) {
		t.Error("the open rate's definition is not on hover")
	}
	if !strings.Contains(body, `href="/app/campaigns/`) || !strings.Contains(body, "=Spring sale") {
		t.Error("the campaigns table does not link to the campaign's report")
	}
	// 90 days takes the old day in too.
	if _, body := h.get("/app/reports?preset=90&scope=campaigns", authA...); reportCell(t, body, `data-metric="sent"`, "data-value") != "110" {
		t.Error("90 days does not include the day 40 days ago")
	}
	// Custom range of the old day only, and one campaign's variant scope.
	from := old.Format(time.DateOnly)
	if _, body := h.get("/app/reports?preset=custom&from="+from+"&to="+from+"&scope=campaign:"+itoa(cid)+"&variant=A", authA...); reportCell(t, body, `data-metric="orders"`, "data-value") != "9" {
		t.Error("a custom range of one day does not show that day's orders")
	}

	resp, csv := h.get("/app/reports.csv?preset=7", authA...)
	if resp.StatusCode != 200 || !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/csv") {
		t.Fatalf("csv: %d %s", resp.StatusCode, resp.Header.Get("Content-Type"))
	}
	lines := strings.Split(strings.TrimSpace(csv), "\n")
	if len(lines) != 3 || !strings.HasPrefix(lines[1], "campaign,"+itoa(cid)+",'=Spring sale,10,8,1,4,5,2,0,2,45.55,0.2500,0.5000,0.6250,0.2500,0.2500,0.0000") ||
		!strings.HasPrefix(lines[2], "flow,"+itoa(flow)+",Welcome,3,3,0,0,0,1,0,0,0.00,0.0000,0.0000,0.0000,0.0000,0.5000,0.0000") {
		t.Errorf("csv: %q", csv)
	}

	for q, reason := range map[string]string{
		"preset=14": "preset must be one of",
		"preset=custom&from=2026-02-01&to=2026-01-01": "from must not be after to",
		"preset=custom&from=nope&to=2026-01-01":       "from must be a date",
		"preset=custom&from=2020-01-01&to=2026-01-01": "at most 366 days",
		"scope=campaign:abc":                          "scope must be",
		"scope=everything":                            "scope must be",
	} {
		resp, body := h.get("/app/reports?"+q, authA...)
		if resp.StatusCode != 422 || !strings.Contains(body, reason) {
			t.Errorf("%s: %d, want 422 saying %q", q, resp.StatusCode, reason)
		}
		if resp, _ := h.get("/app/reports.csv?"+q, authA...); resp.StatusCode != 422 {
			t.Errorf("csv %s: %d, want 422", q, resp.StatusCode)
		}
	}

	// Another shop: nothing of shop A's, even naming its campaign.
	resp, body = h.get("/app/reports?preset=90&scope=campaign:"+itoa(cid), authB...)
	if resp.StatusCode != 200 || reportCell(t, body, `data-metric="sent"`, "data-value") != "0" || strings.Contains(body, "Spring sale") || strings.Contains(body, "Welcome") {
		t.Errorf("another shop sees shop A's figures: %d", resp.StatusCode)
	}
	if _, csv := h.get("/app/reports.csv?preset=90", authB...); strings.Count(strings.TrimSpace(csv), "\n") != 0 {
		t.Errorf("another shop's csv: %q", csv)
	}
}
