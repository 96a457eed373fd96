package web_test

import (
	"encoding/csv"
	"strings"
	"testing"
	"time"
)

// The Admin home shows a shop's figures for the range against the period
// before: KPI cards with their change and definition, the funnel, the top
// campaigns and flows linking to their reports, and a CSV per table; a bad
// range is 422 with the reason; another shop sees none of it.
func TestDashboardFigures(t *testing.T) {
	h := newHarness(t, harnessOpts{})
	a := h.install("dash-a.myshopify.com")
	b := h.install("dash-b.myshopify.com")
	authA := []string{"Authorization", "Bearer " + h.token(a.Domain)}
	authB := []string{"Authorization", "Bearer " + h.token(b.Domain)}
	var cid, flow int64
	if err := h.db.Get(&cid, `INSERT INTO campaigns (shop_id, name, status) VALUES ($1, '=Spring sale', 'sent') RETURNING id`, a.ID); err != nil {
		t.Fatal(err)
	}
	if err := h.db.Get(&flow, `INSERT INTO flows (shop_id, name, draft) VALUES ($1, 'Welcome', '{}') RETURNING id`, a.ID); err != nil {
		t.Fatal(err)
	}
	today := time.Now().UTC().Truncate(24 * time.Hour)
	recent, before := today.AddDate(0, 0, -2), today.AddDate(0, 0, -10) // in the last 7 days, and in the 7 before
	// Every email, this week: 200 sent, 180 delivered to 150 customers,
	// 90 opened, 30 clicked (45 clicks). The week before: 100 delivered, 40 opened.
	h.db.MustExec(`INSERT INTO report_email_daily (shop_id, scope, scope_id, variant, day, slot, sent, delivered, opened, clicked, clicks) VALUES
		($1, 'all', 0, '', $2, 0, 150, 140, 70, 20, 30), ($1, 'all', 0, '', $2, 5, 50, 40, 20, 10, 15),
		($1, 'all', 0, '', $3, 0, 100, 100, 40, 10, 10), ($1, 'flow', $4, 's1', $2, 0, 50, 40, 20, 10, 15)`, a.ID, recent, before, flow)
	h.db.MustExec(`INSERT INTO report_email_customers (shop_id, scope, scope_id, variant, day, customer_id, delivered)
		SELECT $1, 'all', 0, '', $2, g, true FROM generate_series(1, 150) g`, a.ID, recent)
	// As the handler keeps them beside: those 150 customer-days, none with an earlier one.
	h.db.MustExec(`INSERT INTO report_email_reach (shop_id, flag, day, prev_day, slot, customers) VALUES ($1, 'delivered', $2, '1970-01-01', 0, 150)`, a.ID, recent)
	h.db.MustExec(`INSERT INTO report_daily (shop_id, scope, scope_id, variant, day, slot, sent, delivered, opened, clicked, clicks)
		VALUES ($1, 'campaign', $2, '', $3, 0, 150, 140, 70, 20, 30)`, a.ID, cid, recent)
	// Orders: this week 3 for 300.00 (2 from the campaign, 1 from the flow), the week before 2 for 100.00.
	h.db.MustExec(`INSERT INTO report_orders_daily (shop_id, scope, scope_id, variant, day, slot, orders, sales) VALUES
		($1, 'campaign', $2, '', $4, 0, 2, 250.00), ($1, 'flow', $3, 's1', $4, 1, 1, 50.00), ($1, 'campaign', $2, '', $5, 0, 2, 100.00)`,
		a.ID, cid, flow, recent, before)

	resp, body := h.get("/app?preset=7", authA...)
	if resp.StatusCode != 200 {
		t.Fatalf("dashboard: %d %s", resp.StatusCode, body)
	}
	for kpi, want := range map[string]string{"orders": "3", "delivered": "180", "open_rate": "50.0 %", "click_rate": "25.0 %",
		"conversion": "1.7 %"} {
		if got := reportCell(t, body, `data-kpi="`+kpi+`"`, "data-value"); got != want {
			t.Errorf("%s = %q, want %q", kpi, got, want)
		}
	}
	if got := reportCell(t, body, `data-kpi="sales"`, "data-value"); !strings.HasPrefix(got, "300.00") {
		t.Errorf("sales = %q", got)
	}
	// 300 / 150 customers.
	if got := reportCell(t, body, `data-kpi="rpr"`, "data-value"); !strings.HasPrefix(got, "2.00") {
		t.Errorf("revenue per recipient = %q", got)
	}
	// Against the week before: sales 100 → 300 (+200 %), open rate 40 % → 50 % (+10 pts).
	if got := reportCell(t, body, `data-kpi="sales"`, "data-change"); !strings.Contains(got, "▲ +200.0 %") {
		t.Errorf("sales change = %q", got)
	}
	if got := reportCell(t, body, `data-kpi="open_rate"`, "data-change"); !strings.Contains(got, "+10.0 pts") {
		t.Errorf("open rate change = %q", got)
	}
	if !strings.Contains(body, `title="Open rate: opened ÷ delivered."`) {
		t.Error("the open rate's definition is not on hover")
	}
	// The funnel: 200 sent → 180 delivered (90.0 %) → 90 opened (50.0 %) → 30 clicked → 3 ordered (10.0 %).
	for _, want := range []string{">200<", ">180<", "90.0 % of the step before", "10.0 % of the step before"} {
		if !strings.Contains(body, want) {
			t.Errorf("the funnel lacks %q", want)
		}
	}
	if !strings.Contains(body, `href="/app/campaigns/`+itoa(cid)+`/report"`) || !strings.Contains(body, `href="/app/flows/`+itoa(flow)+`/report"`) {
		t.Error("the top campaigns and flows do not link to their reports")
	}
	// A preset shows its own days in the date fields, not dates left in the form.
	if _, body := h.get("/app?preset=7&from=2020-01-01&to=2020-01-31", authA...); !strings.Contains(body, `value="`+today.AddDate(0, 0, -6).Format(time.DateOnly)+`"`) {
		t.Error("the From field keeps a stale date under a preset")
	}
	// Against the same days a year before: 600.00 then, so −50 %.
	h.db.MustExec(`INSERT INTO report_orders_daily (shop_id, scope, scope_id, variant, day, slot, orders, sales) VALUES
		($1, 'campaign', $2, '', $3, 0, 4, 600.00)`, a.ID, cid, recent.AddDate(-1, 0, 0))
	if _, body := h.get("/app?preset=7&compare=year", authA...); reportCell(t, body, `data-kpi="sales"`, "data-change") == "" ||
		!strings.Contains(reportCell(t, body, `data-kpi="sales"`, "data-change"), "▼ −50.0 %") ||
		!strings.Contains(body, "Compared with "+today.AddDate(-1, 0, -6).Format("2 Jan 2006")) {
		t.Errorf("year-ago comparison: sales change %q", reportCell(t, body, `data-kpi="sales"`, "data-change"))
	}
	if resp, body := h.get("/app?preset=custom&from=2025-01-01&to=2026-01-01&compare=year", authA...); resp.StatusCode != 422 || !strings.Contains(body, "can&#39;t be compared with the year before") {
		t.Errorf("a year-long range against the year before: %d", resp.StatusCode)
	}
	// Without a comparison, no change is shown.
	if _, body := h.get("/app?preset=7&compare=none", authA...); strings.Contains(body, "data-change") {
		t.Error("compare=none still shows changes")
	}

	// CSV: exact figures, names never formulas.
	resp, body = h.get("/app/dashboard.csv?table=campaigns&preset=7", authA...)
	if resp.StatusCode != 200 || !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/csv") {
		t.Fatalf("csv: %d %s", resp.StatusCode, resp.Header.Get("Content-Type"))
	}
	rows, err := csv.NewReader(strings.NewReader(body)).ReadAll()
	if err != nil || len(rows) != 2 || rows[1][0] != "'=Spring sale" || rows[1][1] != "250.00" || rows[1][4] != "0.5000" {
		t.Errorf("campaigns csv = %v (%v)", rows, err)
	}
	_, body = h.get("/app/dashboard.csv?table=kpis&preset=7", authA...)
	if !strings.Contains(body, "sales,300.00,100.00") || !strings.Contains(body, "open_rate,0.5000,0.4000") {
		t.Errorf("kpis csv = %s", body)
	}
	if resp, body := h.get("/app/dashboard.csv?table=secrets", authA...); resp.StatusCode != 422 || !strings.Contains(body, "table must be one of") {
		t.Errorf("unknown table: %d %s", resp.StatusCode, body)
	}

	// A bad range is refused with the reason, and nothing else is shown.
	if resp, body := h.get("/app?preset=custom&from=2026-02-01&to=2026-01-01", authA...); resp.StatusCode != 422 || !strings.Contains(body, "from must not be after to") {
		t.Errorf("bad range: %d", resp.StatusCode)
	}
	if resp, body := h.get("/app?compare=lastcentury", authA...); resp.StatusCode != 422 || !strings.Contains(body, "compare must be") {
		t.Errorf("bad compare: %d", resp.StatusCode)
	}

	// Another shop sees none of it.
	_, body = h.get("/app?preset=7", authB...)
	if got := reportCell(t, body, `data-kpi="delivered"`, "data-value"); got != "0" || strings.Contains(body, "Spring sale") {
		t.Errorf("another shop sees shop A's figures: delivered %q", got)
	}
}
