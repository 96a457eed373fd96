package web_test

import (
	"context"
	"fmt"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/cartwheel/cartwheel/app/customers"
	"github.com/cartwheel/cartwheel/app/lifecycle"
	"github.com/cartwheel/cartwheel/app/orders"
	"github.com/cartwheel/cartwheel/app/segments"
	"github.com/cartwheel/cartwheel/app/shops"
)

// cardCell is the text of the cell marked attr in the row marked row.
func cardCell(t *testing.T, body, row, attr string) string {
	t.Helper()
	m := regexp.MustCompile(`(?s)` + regexp.QuoteMeta(row) + `.*?` + regexp.QuoteMeta(attr) + `>(?:<a[^>]*>)?([^<]*)<`).FindStringSubmatch(body)
	if m == nil {
		t.Fatalf("no %s %s in %s", row, attr, body)
	}
	return strings.TrimSpace(m[1])
}

// lifecycleShop writes a shop's customers: buyers active in the last days,
// one reached, engaged, ordered and ordered again; the other prospects.
func lifecycleShop(t *testing.T, h *harness, sh shops.Shop, prospects int) (buyer int64) {
	t.Helper()
	now := time.Now()
	n := 0
	customer := func(active bool) int64 {
		n++
		var id int64
		if err := h.db.Get(&id, `INSERT INTO customers (shop_id, shopify_id, email, email_consent, shopify_created_at)
			VALUES ($1, $2, $3, 'subscribed', $4) RETURNING id`, sh.ID, n, fmt.Sprintf("p%d@%s", n, sh.Domain), now.AddDate(-1, 0, 0)); err != nil {
			t.Fatal(err)
		}
		if active {
			h.db.MustExec(`INSERT INTO events (shop_id, event_id, customer_id, name, occurred_at, source) VALUES ($1, $2, $3, 'product_viewed', $4, 'pixel')`,
				sh.ID, fmt.Sprintf("e%d", n), id, now.AddDate(0, 0, -10))
		}
		return id
	}
	buyer = customer(true)
	var m int64
	if err := h.db.Get(&m, `INSERT INTO email_messages (shop_id, customer_id, to_email, kind, dedupe_key, status, marketing, sent_at)
		VALUES ($1, $2, 'b@example.com', 'campaign', 'k1', 'sent', true, $3) RETURNING id`, sh.ID, buyer, now.AddDate(0, 0, -5)); err != nil {
		t.Fatal(err)
	}
	h.db.MustExec(`INSERT INTO email_events (shop_id, message_id, source, kind, occurred_at) VALUES ($1, $2, 'sendgrid', 'delivered', $3), ($1, $2, 'redirect', 'click', $4)`,
		sh.ID, m, now.AddDate(0, 0, -5), now.AddDate(0, 0, -4))
	h.db.MustExec(`INSERT INTO orders (shop_id, shopify_id, customer_id, processed_at, total_price) VALUES ($1, 1, $2, $3, 20), ($1, 2, $2, $4, 30)`,
		sh.ID, buyer, now.AddDate(0, 0, -3), now.AddDate(0, 0, -2))
	for range prospects - 1 {
		customer(true)
	}
	customer(false) // inactive: not a prospect, in the composition's prospects
	if err := orders.NewStore(h.db, customers.NewStore(h.db)).RefreshAllCustomers(context.Background(), sh.ID); err != nil {
		t.Fatal(err)
	}
	if err := segments.NewStore(h.db).RebuildActivity(context.Background(), sh.ID); err != nil {
		t.Fatal(err)
	}
	return buyer
}

// The lifecycle card: the shop's own funnel only, conversion from the
// previous level, each count linking to the prefilled builder, the chart's
// JSON escaped in its attribute, the CSV, and a refused window end as 422
// with the reason.
func TestLifecycleCard(t *testing.T) {
	h := newHarness(t, harnessOpts{})
	a := h.install("life-a.myshopify.com")
	b := h.install("life-b.myshopify.com")
	authA := []string{"Authorization", "Bearer " + h.token(a.Domain)}
	authB := []string{"Authorization", "Bearer " + h.token(b.Domain)}
	lifecycleShop(t, h, a, 2)
	lifecycleShop(t, h, b, 5)

	resp, body := h.get("/app/dashboard/lifecycle", authA...)
	if resp.StatusCode != 200 {
		t.Fatalf("card: %d %s", resp.StatusCode, body)
	}
	want := map[string][2]string{"prospects": {"2", ""}, "reached": {"1", "50.0 %"}, "engaged": {"1", "100.0 %"},
		"ordered": {"1", "100.0 %"}, "repurchased": {"1", "100.0 %"}}
	for level, w := range want {
		row := `data-level="` + level + `"`
		if got := cardCell(t, body, row, "data-count"); got != w[0] {
			t.Errorf("%s: count %q, want %q", level, got, w[0])
		}
		if got := cardCell(t, body, row, "data-conversion"); got != w[1] {
			t.Errorf("%s: conversion %q, want %q", level, got, w[1])
		}
	}
	loc, _ := time.LoadLocation("Europe/Paris")
	today := time.Now().In(loc).Format(time.DateOnly)
	if !strings.Contains(body, `href="/app/segments/new?lifecycle=engaged&amp;to=`+today+`"`) {
		t.Error("the engaged count does not link to its customers")
	}
	if !strings.Contains(body, `data-chart="{&#34;kind&#34;:&#34;bars&#34;,&#34;x&#34;:[&#34;Prospects&#34;`) ||
		!strings.Contains(body, `&#34;values&#34;:[2,1,1,1,1]`) {
		t.Errorf("chart data missing or unescaped: %s", body)
	}
	if !strings.Contains(body, `<label for="cw-lifecycle-to"`) || !strings.Contains(body, `id="cw-lifecycle-to"`) {
		t.Error("the window picker has no label")
	}
	// The other shop sees its own funnel.
	_, bodyB := h.get("/app/dashboard/lifecycle", authB...)
	if got := cardCell(t, bodyB, `data-level="prospects"`, "data-count"); got != "5" {
		t.Errorf("shop b prospects %q", got)
	}
	// A window before any activity is empty.
	_, old := h.get("/app/dashboard/lifecycle?to="+time.Now().AddDate(0, 0, -60).In(loc).Format(time.DateOnly), authA...)
	if got := cardCell(t, old, `data-level="reached"`, "data-count"); got != "0" {
		t.Errorf("old window reached %q", got)
	}
	for to, reason := range map[string]string{"yesterday": "is not a date", "2026-13-01": "is not a date",
		time.Now().AddDate(0, 0, 3).Format(time.DateOnly): "is after today", "1999-12-31": "2000 or later"} {
		resp, body := h.get("/app/dashboard/lifecycle?to="+url.QueryEscape(to), authA...)
		if resp.StatusCode != 422 || !strings.Contains(body, reason) {
			t.Errorf("to=%s: %d, want 422 with %q: %s", to, resp.StatusCode, reason, body)
		}
		if resp, _ := h.get("/app/dashboard/lifecycle.csv?to="+url.QueryEscape(to), authA...); resp.StatusCode != 422 {
			t.Errorf("csv to=%s: %d", to, resp.StatusCode)
		}
	}
	resp, csvBody := h.get("/app/dashboard/lifecycle.csv", authA...)
	if resp.StatusCode != 200 || !strings.Contains(csvBody, ",prospects,2,,") || !strings.Contains(csvBody, ",reached,1,0.5000,") {
		t.Errorf("csv: %d %s", resp.StatusCode, csvBody)
	}
	// Without a session: the session bounce page, no figures.
	if _, body := h.get("/app/dashboard/lifecycle"); strings.Contains(body, "data-level") {
		t.Error("figures without a session")
	}
	// The count's link opens the builder on the level.
	resp, page := h.get("/app/segments/new?lifecycle=ordered&to="+today, authA...)
	if resp.StatusCode != 200 || !strings.Contains(page, "Lifecycle: Ordered (last 30 days)") || !strings.Contains(page, "&#34;lifecycle&#34;") {
		t.Errorf("prefilled builder: %d", resp.StatusCode)
	}
	if resp, _ := h.get("/app/segments/new?lifecycle=vip", authA...); resp.StatusCode != 422 {
		t.Errorf("bad level: %d", resp.StatusCode)
	}
}

// "Save as segment" creates a segment whose members are the level's
// customers: rolling for a window ending today, fixed otherwise.
func TestLifecycleSaveAsSegment(t *testing.T) {
	h := newHarness(t, harnessOpts{})
	a := h.install("lseg-a.myshopify.com")
	b := h.install("lseg-b.myshopify.com")
	authA := []string{"Authorization", "Bearer " + h.token(a.Domain)}
	buyer := lifecycleShop(t, h, a, 3)
	lifecycleShop(t, h, b, 2)
	loc, _ := time.LoadLocation("Europe/Paris")
	for _, to := range []string{"", time.Now().In(loc).AddDate(0, 0, -1).Format(time.DateOnly)} {
		resp, body := h.postForm("/app/dashboard/lifecycle/segment", url.Values{"level": {"engaged"}, "to": {to}}, authA...)
		if resp.StatusCode != 303 {
			t.Fatalf("save: %d %s", resp.StatusCode, body)
		}
		var id int64
		if _, err := fmt.Sscanf(resp.Header.Get("Location"), "/app/segments/%d", &id); err != nil {
			t.Fatalf("redirect %q", resp.Header.Get("Location"))
		}
		var members []int64
		if err := h.db.Select(&members, `SELECT customer_id FROM segment_members WHERE segment_id = $1 AND shop_id = $2`, id, a.ID); err != nil {
			t.Fatal(err)
		}
		if len(members) != 1 || members[0] != buyer {
			t.Errorf("to=%q: members %v, want [%d]", to, members, buyer)
		}
		var rules string
		if err := h.db.Get(&rules, `SELECT rules::text FROM segments WHERE id = $1 AND shop_id = $2`, id, a.ID); err != nil {
			t.Fatal(err)
		}
		if kind := map[bool]string{true: `"last_days"`, false: `"between"`}[to == ""]; !strings.Contains(rules, kind) {
			t.Errorf("to=%q: rules %s", to, rules)
		}
	}
	for _, f := range []url.Values{{"level": {"vip"}}, {"level": {"engaged"}, "to": {"soon"}}} {
		if resp, body := h.postForm("/app/dashboard/lifecycle/segment", f, authA...); resp.StatusCode != 422 {
			t.Errorf("%v: %d %s", f, resp.StatusCode, body)
		}
	}
}

// The composition card: the shop's groups now, the weekly history once the
// job has run, its chart and CSV; another shop's customers never count.
func TestCompositionCard(t *testing.T) {
	h := newHarness(t, harnessOpts{})
	a := h.install("comp-a.myshopify.com")
	b := h.install("comp-b.myshopify.com")
	authA := []string{"Authorization", "Bearer " + h.token(a.Domain)}
	lifecycleShop(t, h, a, 2)
	lifecycleShop(t, h, b, 6)
	resp, body := h.get("/app/dashboard/composition", authA...)
	if resp.StatusCode != 200 {
		t.Fatalf("card: %d %s", resp.StatusCode, body)
	}
	// a: the buyer (two recent orders) and two without orders.
	for g, want := range map[string]string{"prospects": "2", "first_time": "0", "repeat": "1", "lapsed": "0"} {
		if got := cardCell(t, body, `data-group="`+g+`"`, "data-count"); got != want {
			t.Errorf("%s: %q, want %q", g, got, want)
		}
	}
	if got := cardCell(t, body, `data-group="repeat"`, "data-share"); got != "33.3 %" {
		t.Errorf("repeat share %q", got)
	}
	if !strings.Contains(body, "The history is being computed") {
		t.Error("no history note before the first snapshot")
	}
	if err := (&lifecycle.Store{DB: h.db}).SnapshotAll(context.Background(), time.Now()); err != nil {
		t.Fatal(err)
	}
	_, body = h.get("/app/dashboard/composition", authA...)
	if !strings.Contains(body, `data-chart="{&#34;kind&#34;:&#34;stacked&#34;`) || strings.Count(body, "<tr data-day=") != lifecycle.HistoryWeeks+1 {
		t.Errorf("history: %s", body)
	}
	// 26 weeks ago nobody had ordered; today's repeat buyer is the change.
	if got := cardCell(t, body, `data-group="repeat"`, "data-change"); got != "+33.3 pts" {
		t.Errorf("repeat change %q", got)
	}
	resp, csvBody := h.get("/app/dashboard/composition.csv", authA...)
	if resp.StatusCode != 200 || !strings.Contains(csvBody, "current,2,0,1,0,0.6667,0.0000,0.3333,0.0000,3") {
		t.Errorf("csv: %d %s", resp.StatusCode, csvBody)
	}
}
