package web_test

import (
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/cartwheel/cartwheel/app/reports"
)

// A merchant changes the click window: the save queues the recompute; until
// it finishes, Settings shows its progress and the campaign report shows a
// note with the figures from before the change; afterwards the report shows
// the new rule's figures. A campaign with a holdout shows the
// incrementality lines beside last-touch revenue.
func TestWindowChangeRecomputesAndHoldoutLine(t *testing.T) {
	h := newHarness(t, harnessOpts{})
	a := h.install("recompute.myshopify.com")
	auth := []string{"Authorization", "Bearer " + h.token(a.Domain)}
	sentAt := time.Now().Add(-10 * 24 * time.Hour).Truncate(time.Second)
	var cid int64
	if err := h.db.Get(&cid, `INSERT INTO campaigns (shop_id, name, status, audience_size, snapshot_at, started_at)
		VALUES ($1, 'Spring sale', 'sent', 4, $2, $2) RETURNING id`, a.ID, sentAt); err != nil {
		t.Fatal(err)
	}
	cust := make([]int64, 4)
	for i := range cust {
		if err := h.db.Get(&cust[i], `INSERT INTO customers (shop_id, email, email_consent) VALUES ($1, $2, 'subscribed') RETURNING id`,
			a.ID, "r"+strconv.Itoa(i)+"@example.com"); err != nil {
			t.Fatal(err)
		}
	}
	// Customers 0 and 1 are mailed, 2 and 3 held out.
	for i, c := range cust[:2] {
		h.db.MustExec(`INSERT INTO campaign_recipients (shop_id, campaign_id, customer_id, position, status) VALUES ($1, $2, $3, $4, 'sent')`, a.ID, cid, c, i)
		var msg int64
		if err := h.db.Get(&msg, `INSERT INTO email_messages (shop_id, customer_id, to_email, kind, dedupe_key, marketing, status, sent_at, campaign_id)
			VALUES ($1, $2, 'r@example.com', 'campaign', $3, true, 'sent', $4, $5) RETURNING id`, a.ID, c, "c"+strconv.Itoa(i), sentAt, cid); err != nil {
			t.Fatal(err)
		}
		// Customer 0 clicks 4 days before ordering: inside a 5-day window,
		// outside a 3-day one.
		h.db.MustExec(`INSERT INTO email_events (shop_id, message_id, source, kind, user_agent, occurred_at)
			VALUES ($1, $2, 'redirect', 'click', 'Mozilla/5.0', $3)`, a.ID, msg, sentAt.Add(time.Hour))
	}
	for i, c := range cust[2:] {
		h.db.MustExec(`INSERT INTO campaign_recipients (shop_id, campaign_id, customer_id, position, variant, status, reason)
			VALUES ($1, $2, $3, $4, 'holdout', 'skipped', 'holdout')`, a.ID, cid, c, i+2)
	}
	order := func(id int64, c int64, at time.Time, total string) {
		h.db.MustExec(`INSERT INTO orders (shop_id, shopify_id, name, customer_id, currency, total_price, financial_status, processed_at, shopify_created_at)
			VALUES ($1, $2, $3, $4, $5, $6, 'paid', $7, $7)`, a.ID, id, "#"+strconv.FormatInt(id, 10), c, a.Currency, total, at)
	}
	order(2001, cust[0], sentAt.Add(97*time.Hour), "100.00") // 4 days after the click
	order(2002, cust[2], sentAt.Add(time.Hour), "30.00")     // held out
	if err := reports.Attribute(t.Context(), h.db, a.ID, []int64{2001, 2002}); err != nil {
		t.Fatal(err)
	}
	reportHref := "/app/campaigns/" + strconv.FormatInt(cid, 10) + "/report"
	_, body := h.get(reportHref, auth...)
	cur := a.Currency
	for metric, want := range map[string]string{
		"orders": "1", "sales": "100.00 " + cur,
		// (100 / 2) − (30 / 2) = 35 per recipient, × 2 mailed.
		"incremental_per_recipient": "35.00 " + cur, "incremental_revenue": "70.00 " + cur,
	} {
		if got := reportCell(t, body, `data-metric="`+metric+`"`, "data-count"); got != want {
			t.Errorf("before: %s %q, want %q", metric, got, want)
		}
	}
	if strings.Contains(body, "report-recomputing") {
		t.Error("a recompute note with no recompute")
	}

	form := validSettings()
	form.Set("attribution_click_days", "3")
	if resp, body := h.postForm("/app/settings", form, append(auth, "HX-Request", "true")...); resp.StatusCode != 200 {
		t.Fatalf("save: %d\n%s", resp.StatusCode, body)
	}
	var gen int64
	if err := h.db.Get(&gen, `SELECT (args->>'generation')::bigint FROM river_job WHERE kind = 'reports.recompute_attribution'
		AND (args->>'shop_id')::bigint = $1`, a.ID); err != nil {
		t.Fatalf("no recompute job queued: %v", err)
	}
	_, body = h.get("/app/settings", auth...)
	if !strings.Contains(body, `id="settings-attribution-status"`) || !strings.Contains(body, "click 3 days, open 1 day): 0% done") {
		t.Error("settings don't show the recompute's progress")
	}
	_, body = h.get(reportHref, auth...)
	if !strings.Contains(body, `id="report-recomputing"`) || reportCell(t, body, `data-metric="orders"`, "data-count") != "1" {
		t.Error("while recomputing, the report doesn't show the previous figures with a note")
	}
	// A second save that keeps the windows queues nothing more.
	if resp, _ := h.postForm("/app/settings", form, append(auth, "HX-Request", "true")...); resp.StatusCode != 200 {
		t.Fatal(resp.StatusCode)
	}
	var jobs int
	h.db.Get(&jobs, `SELECT count(*) FROM river_job WHERE kind = 'reports.recompute_attribution'`)
	if jobs != 1 {
		t.Errorf("%d recompute jobs, want 1", jobs)
	}

	for {
		done, err := reports.RecomputeStep(t.Context(), h.db, a.ID, gen, 1)
		if err != nil {
			t.Fatal(err)
		}
		if done {
			break
		}
	}
	_, body = h.get(reportHref, auth...)
	if strings.Contains(body, "report-recomputing") {
		t.Error("the note stays after the recompute")
	}
	for metric, want := range map[string]string{"orders": "0", "sales": "0.00 " + cur,
		// The holdout window is now 3 days: customer 0's order is outside.
		"incremental_per_recipient": "-15.00 " + cur} {
		if got := reportCell(t, body, `data-metric="`+metric+`"`, "data-count"); got != want {
			t.Errorf("after: %s %q, want %q", metric, got, want)
		}
	}
	_, body = h.get("/app/settings", auth...)
	if strings.Contains(body, `id="settings-attribution-status"`) {
		t.Error("settings still show a recompute")
	}
}
