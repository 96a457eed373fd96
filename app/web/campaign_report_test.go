package web_test

import (
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/lib/pq"

	"github.com/cartwheel/cartwheel/app/reports"
)

// cell is the text of the first element carrying attr inside the table row
// that has rowAttr.
func reportCell(t *testing.T, body, rowAttr, attr string) string {
	t.Helper()
	re := regexp.MustCompile(regexp.QuoteMeta(rowAttr) + `[^>]*>[\s\S]*?` + regexp.QuoteMeta(attr) + `[^>]*>([^<]*)<`)
	m := re.FindStringSubmatch(body)
	if m == nil {
		t.Fatalf("no %s in the %s row", attr, rowAttr)
	}
	return strings.TrimSpace(m[1])
}

// A merchant opens a sending campaign's report from the list and from the
// campaign page: the figures, rates, A/B variants with the holdout, links,
// devices and clients are the campaign's; the page refreshes itself while
// sending and not once sent; another shop gets 404.
func TestCampaignReportPage(t *testing.T) {
	h := newHarness(t, harnessOpts{})
	a := h.install("rep-a.myshopify.com")
	b := h.install("rep-b.myshopify.com")
	authA := []string{"Authorization", "Bearer " + h.token(a.Domain)}
	authB := []string{"Authorization", "Bearer " + h.token(b.Domain)}
	sentAt := time.Now().Add(-3 * time.Hour).Truncate(time.Second)

	var cid int64
	if err := h.db.Get(&cid, `INSERT INTO campaigns (shop_id, name, status, audience_size, snapshot_at, started_at)
		VALUES ($1, 'Winter sale', 'sending', 10, $2, $2) RETURNING id`, a.ID, sentAt); err != nil {
		t.Fatal(err)
	}
	h.db.MustExec(`UPDATE campaigns SET ab_winner = 'B' WHERE id = $1`, cid)
	links := []string{"https://rep-a.example/sale", "https://rep-a.example/boots"}
	// 10 recipients: 4 in A, 4 in B, 2 held out.
	msgs := map[string][]int64{}
	for i := range 10 {
		variant := []string{"A", "B", "A", "B", "A", "B", "A", "B", "holdout", "holdout"}[i]
		var cust int64
		if err := h.db.Get(&cust, `INSERT INTO customers (shop_id, email, email_consent) VALUES ($1, $2, 'subscribed') RETURNING id`,
			a.ID, "r"+strconv.Itoa(i)+"@example.com"); err != nil {
			t.Fatal(err)
		}
		h.db.MustExec(`INSERT INTO campaign_recipients (shop_id, campaign_id, customer_id, position, variant, status) VALUES ($1, $2, $3, $4, $5, 'sent')`,
			a.ID, cid, cust, i+1, variant)
		if variant == "holdout" {
			continue
		}
		var m int64
		if err := h.db.Get(&m, `INSERT INTO email_messages (shop_id, customer_id, to_email, kind, dedupe_key, links, marketing, status, sent_at, campaign_id, campaign_variant)
			VALUES ($1, $2, $3, 'campaign', $4, $5, true, 'sent', $6, $7, $8) RETURNING id`,
			a.ID, cust, "r"+strconv.Itoa(i)+"@example.com", "campaign:"+strconv.FormatInt(cid, 10)+":customer:"+strconv.FormatInt(cust, 10),
			pq.Array(links), sentAt, cid, variant); err != nil {
			t.Fatal(err)
		}
		msgs[variant] = append(msgs[variant], m)
	}
	event := func(m int64, kind, ua string, link int, machine bool, after time.Duration) {
		var li any
		u := ""
		if link >= 0 {
			li, u = link, links[link]
		}
		h.db.MustExec(`INSERT INTO email_events (shop_id, message_id, source, kind, link_index, url, user_agent, machine, occurred_at)
			VALUES ($1, $2, 'redirect', $3, $4, $5, $6, $7, $8)`, a.ID, m, kind, li, u, ua, machine, sentAt.Add(after))
	}
	iphone := "Mozilla/5.0 (iPhone; CPU iPhone OS 17_1 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Mobile/15E148"
	gmail := "Mozilla/5.0 (Windows NT 5.1; rv:11.0) Gecko Firefox/11.0 (via ggpht.com GoogleImageProxy)"
	chrome := "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0 Safari/537.36"
	for _, m := range append(msgs["A"], msgs["B"]...) {
		event(m, "delivered", "", -1, false, time.Minute)
		event(m, "open", "Mozilla/5.0", -1, true, 2*time.Minute) // Apple's prefetch: not an open
	}
	// A: one opener (iPhone) who clicks the sale link twice. B: two
	// openers (Gmail, iPhone), one clicks boots once; a scanner clicks too.
	event(msgs["A"][0], "open", iphone, -1, false, 30*time.Minute)
	event(msgs["A"][0], "click", chrome, 0, false, 31*time.Minute)
	event(msgs["A"][0], "click", chrome, 0, false, 90*time.Minute)
	event(msgs["B"][0], "open", gmail, -1, false, 2*time.Hour+5*time.Minute)
	event(msgs["B"][1], "open", iphone, -1, false, 10*time.Minute)
	event(msgs["B"][1], "click", iphone, 1, false, 11*time.Minute)
	event(msgs["B"][2], "click", "Mozilla/5.0 (compatible; Barracuda)", 1, true, time.Minute)
	event(msgs["B"][3], "unsubscribe", "", -1, false, time.Hour)
	if err := reports.Rebuild(t.Context(), h.db, a.ID, cid); err != nil {
		t.Fatal(err)
	}

	// The list shows sent, open and click rate, and links to the report.
	resp, body := h.get("/app/campaigns", authA...)
	if resp.StatusCode != 200 {
		t.Fatalf("list: %d", resp.StatusCode)
	}
	row := `data-campaign="Winter sale"`
	if got := reportCell(t, body, row, "data-sent"); got != "8" {
		t.Errorf("list sent %q, want 8", got)
	}
	if got := reportCell(t, body, row, "data-open-rate"); got != "37.5 %" { // 3 opened of 8 delivered
		t.Errorf("list open rate %q, want 37.5 %%", got)
	}
	reportHref := "/app/campaigns/" + strconv.FormatInt(cid, 10) + "/report"
	if !strings.Contains(body, `href="`+reportHref+`"`) {
		t.Error("the list doesn't link to the report")
	}
	_, body = h.get("/app/campaigns/"+strconv.FormatInt(cid, 10), authA...)
	if !strings.Contains(body, `href="`+reportHref+`"`) {
		t.Error("the campaign page doesn't link to the report")
	}

	resp, body = h.get(reportHref, authA...)
	if resp.StatusCode != 200 {
		t.Fatalf("report: %d\n%s", resp.StatusCode, body)
	}
	for metric, want := range map[string][2]string{
		"sent":          {"8", ""},
		"delivered":     {"8", "100.0 %"},
		"opened":        {"3", "37.5 %"},
		"clicks":        {"3", "37.5 %"},
		"clicked":       {"2", "25.0 %"},
		"click_to_open": {"", "66.7 %"},
		"unsubscribed":  {"1", "12.5 %"},
		"complained":    {"0", "0.0 %"},
		"bounced":       {"0", "0.0 %"},
	} {
		r := `data-metric="` + metric + `"`
		if got := reportCell(t, body, r, "data-count"); got != want[0] {
			t.Errorf("%s count %q, want %q", metric, got, want[0])
		}
		if got := reportCell(t, body, r, "data-rate"); got != want[1] {
			t.Errorf("%s rate %q, want %q", metric, got, want[1])
		}
	}
	if m := regexp.MustCompile(`Held out: <strong data-holdout>(\d+)<`).FindStringSubmatch(body); m == nil || m[1] != "2" {
		t.Errorf("holdout shown: %v", m)
	}
	// Per variant, with the holdout's size.
	for v, want := range map[string][3]string{"A": {"4", "25.0 %", "50.0 %"}, "B": {"4", "50.0 %", "25.0 %"}} {
		r := `data-variant="` + v + `"`
		if got := reportCell(t, body, r, "data-sent"); got != want[0] {
			t.Errorf("variant %s sent %q", v, got)
		}
		if got := reportCell(t, body, r, "data-open-rate"); got != want[1] {
			t.Errorf("variant %s open rate %q, want %q", v, got, want[1])
		}
		if got := reportCell(t, body, r, "data-click-rate"); got != want[2] {
			t.Errorf("variant %s click rate %q, want %q", v, got, want[2])
		}
	}
	if got := reportCell(t, body, `data-variant="holdout"`, "data-recipients"); got != "2" {
		t.Errorf("holdout recipients %q", got)
	}
	winnerRow := regexp.MustCompile(`data-variant="B"[^>]*>\s*<th scope="row">[^<]*<span[^>]*><span[^>]*>Winner<`)
	if !winnerRow.MatchString(body) {
		t.Errorf("B is not marked the winner")
	}
	// Links: total and unique.
	if got := reportCell(t, body, `data-key="`+links[0]+`"`, "data-clicks"); got != "2" {
		t.Errorf("sale link clicks %q", got)
	}
	if got := reportCell(t, body, `data-key="`+links[0]+`"`, "data-clicked"); got != "1" {
		t.Errorf("sale link clickers %q", got)
	}
	if got := reportCell(t, body, `data-key="`+links[1]+`"`, "data-clicks"); got != "1" {
		t.Errorf("boots link clicks %q (the scanner's click counted?)", got)
	}
	// Devices and clients (opens).
	if got := reportCell(t, body, `data-key="Apple Mail"`, "data-opens"); got != "2" {
		t.Errorf("Apple Mail opens %q", got)
	}
	if got := reportCell(t, body, `data-key="Gmail"`, "data-opens"); got != "1" {
		t.Errorf("Gmail opens %q", got)
	}
	if got := reportCell(t, body, `data-key="mobile"`, "data-clicks"); got != "1" {
		t.Errorf("mobile clicks %q", got)
	}
	// By hour since sending: hour 0 has two opens, hour 2 the Gmail one.
	if !strings.Contains(body, `data-hour="2–3 h"`) {
		t.Error("no hour rows")
	}
	if !strings.Contains(body, `hx-trigger="every 5s"`) {
		t.Error("a sending campaign's report doesn't refresh itself")
	}
	// Once sent, it stops refreshing.
	h.db.MustExec(`UPDATE campaigns SET status = 'sent' WHERE id = $1`, cid)
	_, body = h.get(reportHref, authA...)
	if strings.Contains(body, `hx-trigger="every 5s"`) {
		t.Error("a sent campaign's report still polls")
	}

	// Another shop: 404, nothing of the campaign shown.
	resp, body = h.get(reportHref, authB...)
	if resp.StatusCode != 404 || strings.Contains(body, "Winter sale") {
		t.Errorf("other shop: %d", resp.StatusCode)
	}
	if resp, _ := h.get("/app/campaigns/abc/report", authA...); resp.StatusCode != 404 {
		t.Errorf("unreadable id: %d", resp.StatusCode)
	}

	// Each table as CSV, with exact figures; the same refusals.
	resp, body = h.get(reportHref+".csv?table=clients", authA...)
	if resp.StatusCode != 200 || !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/csv") || !strings.Contains(body, "Apple Mail,2,") {
		t.Errorf("clients csv: %d %q", resp.StatusCode, body)
	}
	if _, body = h.get(reportHref+".csv?table=links", authA...); !strings.Contains(body, links[1]+",0,0,1,1") {
		t.Errorf("links csv: %q", body)
	}
	if resp, body := h.get(reportHref+".csv?table=nope", authA...); resp.StatusCode != 422 || !strings.Contains(body, "table must be one of") {
		t.Errorf("unknown table: %d", resp.StatusCode)
	}
	if resp, body := h.get(reportHref+".csv?table=figures", authB...); resp.StatusCode != 404 || strings.Contains(body, "sent,") {
		t.Errorf("other shop's csv: %d", resp.StatusCode)
	}
}
