package web_test

import (
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/cartwheel/cartwheel/app/reports"
)

// An attributed order shows its reason on the customer's order row and in
// the campaign report, whose orders and revenue card and A/B table read
// the attributed orders and sales (refunds taken off); another shop sees
// none of it.
func TestAttributedOrdersShown(t *testing.T) {
	h := newHarness(t, harnessOpts{})
	a := h.install("attr-a.myshopify.com")
	b := h.install("attr-b.myshopify.com")
	authA := []string{"Authorization", "Bearer " + h.token(a.Domain)}
	authB := []string{"Authorization", "Bearer " + h.token(b.Domain)}
	sentAt := time.Now().Add(-30 * time.Hour).Truncate(time.Second)
	var cid int64
	if err := h.db.Get(&cid, `INSERT INTO campaigns (shop_id, name, status, audience_size, snapshot_at, started_at)
		VALUES ($1, 'Spring sale', 'sent', 3, $2, $2) RETURNING id`, a.ID, sentAt); err != nil {
		t.Fatal(err)
	}
	cust := make([]int64, 3)
	msg := make([]int64, 3)
	for i, variant := range []string{"A", "B", "A"} {
		if err := h.db.Get(&cust[i], `INSERT INTO customers (shop_id, email, email_consent, first_name) VALUES ($1, $2, 'subscribed', 'Ann') RETURNING id`,
			a.ID, "s"+strconv.Itoa(i)+"@example.com"); err != nil {
			t.Fatal(err)
		}
		h.db.MustExec(`INSERT INTO campaign_recipients (shop_id, campaign_id, customer_id, position, variant, status) VALUES ($1, $2, $3, $4, $5, 'sent')`,
			a.ID, cid, cust[i], i+1, variant)
		if err := h.db.Get(&msg[i], `INSERT INTO email_messages (shop_id, customer_id, to_email, kind, dedupe_key, marketing, status, sent_at, campaign_id, campaign_variant)
			VALUES ($1, $2, $3, 'campaign', $4, true, 'sent', $5, $6, $7) RETURNING id`,
			a.ID, cust[i], "s"+strconv.Itoa(i)+"@example.com", "campaign:"+strconv.FormatInt(cid, 10)+":customer:"+strconv.FormatInt(cust[i], 10),
			sentAt, cid, variant); err != nil {
			t.Fatal(err)
		}
		h.db.MustExec(`INSERT INTO email_events (shop_id, message_id, source, kind, occurred_at) VALUES ($1, $2, 'sendgrid', 'delivered', $3)`,
			a.ID, msg[i], sentAt.Add(time.Minute))
	}
	event := func(i int, kind string, machine bool, at time.Time) {
		h.db.MustExec(`INSERT INTO email_events (shop_id, message_id, source, kind, user_agent, machine, occurred_at)
			VALUES ($1, $2, 'redirect', $3, 'Mozilla/5.0 (Windows NT 10.0; Win64; x64) Chrome/120.0', $4, $5)`, a.ID, msg[i], kind, machine, at)
	}
	order := func(id int64, i int, at time.Time, total, refunded string) {
		h.db.MustExec(`INSERT INTO orders (shop_id, shopify_id, name, customer_id, currency, subtotal_price, total_price, total_refunded,
			financial_status, processed_at, shopify_created_at) VALUES ($1, $2, $3, $4, $8, $5, $5, $6, 'paid', $7, $7)`,
			a.ID, id, "#"+strconv.FormatInt(id, 10), cust[i], total, refunded, at, a.Currency)
	}
	// Customer 0 clicks (A) 2 h 14 min before ordering 120.00, 20.00 of it
	// refunded; customer 1 opens (B) 40 min before ordering 30.00;
	// customer 2's only click is a scanner's, so its order is nobody's.
	o1 := sentAt.Add(5 * time.Hour)
	event(0, "click", false, o1.Add(-(2*time.Hour + 14*time.Minute)))
	order(1001, 0, o1, "120.00", "20.00")
	o2 := sentAt.Add(3 * time.Hour)
	event(1, "open", false, o2.Add(-40*time.Minute))
	order(1002, 1, o2, "30.00", "0")
	event(2, "click", true, o2.Add(-time.Minute))
	order(1003, 2, o2, "99.00", "0")
	if err := reports.Rebuild(t.Context(), h.db, a.ID, cid); err != nil {
		t.Fatal(err)
	}
	if err := reports.Attribute(t.Context(), h.db, a.ID, []int64{1001, 1002, 1003}); err != nil {
		t.Fatal(err)
	}

	reason1 := "attributed to Spring sale (variant A): clicked 2 h 14 min before the order (click window 5 days)"
	reportHref := "/app/campaigns/" + strconv.FormatInt(cid, 10) + "/report"
	resp, body := h.get(reportHref, authA...)
	if resp.StatusCode != 200 {
		t.Fatalf("report: %d\n%s", resp.StatusCode, body)
	}
	for metric, want := range map[string][2]string{
		"orders":                {"2", "66.7 %"}, // 2 orders of 3 delivered
		"sales":                 {"130.00 " + a.Currency, ""},
		"average_order":         {"65.00 " + a.Currency, ""},
		"revenue_per_recipient": {"43.33 " + a.Currency, ""},
	} {
		r := `data-metric="` + metric + `"`
		if got := reportCell(t, body, r, "data-count"); got != want[0] {
			t.Errorf("%s %q, want %q", metric, got, want[0])
		}
		if got := reportCell(t, body, r, "data-rate"); got != want[1] {
			t.Errorf("%s rate %q, want %q", metric, got, want[1])
		}
	}
	for v, want := range map[string][2]string{"A": {"1", "100.00 " + a.Currency}, "B": {"1", "30.00 " + a.Currency}} {
		if got := reportCell(t, body, `data-variant="`+v+`"`, "data-orders"); got != want[0] {
			t.Errorf("variant %s orders %q, want %q", v, got, want[0])
		}
		if got := reportCell(t, body, `data-variant="`+v+`"`, "data-sales"); got != want[1] {
			t.Errorf("variant %s sales %q, want %q", v, got, want[1])
		}
	}
	if got := reportCell(t, body, `data-order="#1001"`, "data-reason"); got != reason1 {
		t.Errorf("report reason %q, want %q", got, reason1)
	}
	if !strings.Contains(body, `href="/app/customers/`+strconv.FormatInt(cust[0], 10)+`"`) {
		t.Error("the report's order doesn't link to its customer")
	}
	if strings.Contains(body, `data-order="#1003"`) {
		t.Error("an order after a scanner's click is listed")
	}

	// The customer's order row says why.
	resp, body = h.get("/app/customers/"+strconv.FormatInt(cust[0], 10), authA...)
	if resp.StatusCode != 200 {
		t.Fatalf("customer: %d", resp.StatusCode)
	}
	m := regexp.MustCompile(`data-attribution-of="#1001"[^>]*>\s*<td[^>]*>([^<]*)<`).FindStringSubmatch(body)
	if m == nil || strings.TrimSpace(m[1]) != "A"+reason1[1:] {
		t.Errorf("customer page reason: %v, want %q", m, "A"+reason1[1:])
	}
	_, body = h.get("/app/customers/"+strconv.FormatInt(cust[2], 10), authA...)
	if strings.Contains(body, "data-attribution-of") {
		t.Error("an unattributed order shows a reason")
	}

	// Another shop: nothing.
	if resp, body := h.get(reportHref, authB...); resp.StatusCode != 404 || strings.Contains(body, "#1001") {
		t.Errorf("other shop's report: %d", resp.StatusCode)
	}
	if resp, _ := h.get("/app/customers/"+strconv.FormatInt(cust[0], 10), authB...); resp.StatusCode != 404 {
		t.Errorf("other shop's customer: %d", resp.StatusCode)
	}
}
