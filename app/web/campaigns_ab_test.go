package web_test

import (
	"net/http"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/cartwheel/cartwheel/app/email/render"
	"github.com/cartwheel/cartwheel/app/segments"
)

// A merchant sets up an A/B test from the editor (bad numbers refused on
// their field, nothing saved), starts it, sees the versions' figures with
// a "Pick" button each, and picks B early; the rest are then due at once
// and a second pick is refused. Another shop can't pick.
func TestCampaignABTestAdmin(t *testing.T) {
	h := newHarness(t, harnessOpts{})
	a := h.install("ab-a.myshopify.com")
	b := h.install("ab-b.myshopify.com")
	authA := []string{"Authorization", "Bearer " + h.token(a.Domain)}
	authB := []string{"Authorization", "Bearer " + h.token(b.Domain)}
	h.db.MustExec(`INSERT INTO customers (shop_id, email, email_consent) SELECT $1, 'ab' || g || '@example.com', 'subscribed' FROM generate_series(1, 50) g`, a.ID)
	h.db.MustExec(`UPDATE shops SET sender_email = 'shop@example.com', sender_name = 'AB', postal_address = '1 Main St' WHERE id = $1`, a.ID)
	h.db.MustExec(`INSERT INTO sender_verifications (shop_id, email, token_hash, sent_at, verified_at) VALUES ($1, 'shop@example.com', '\x02', now(), now())`, a.ID)
	zero := 0.0
	seg, err := segments.NewStore(h.db).Create(t.Context(), a.ID, "Everyone", segments.Rules{Version: segments.Version, Root: segments.Group{Op: "and",
		Items: []segments.Node{{Condition: &segments.Condition{Field: segments.FieldTotalSpent, Op: "gte", Number: &zero}}}}}, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	tpl, err := render.NewStore(h.db).FromStarter(t.Context(), a.ID, render.StarterWelcome, render.LocaleEN)
	if err != nil {
		t.Fatal(err)
	}
	resp, _ := h.postForm("/app/campaigns", url.Values{"segment_id": {strconv.FormatInt(seg.ID, 10)}}, authA...)
	m := campaignIDRe.FindStringSubmatch(resp.Header.Get("Location"))
	if m == nil {
		t.Fatalf("create: %d", resp.StatusCode)
	}
	href := "/app/campaigns/" + m[1]
	_, body := h.get(href, authA...)
	for _, want := range []string{`name="ab_versions"`, `name="ab_variants.3.subject"`, `name="ab_test_percent"[^>]*value="20"`, `name="ab_wait_hours"[^>]*value="4"`} {
		if !regexp.MustCompile(want).MatchString(body) {
			t.Fatalf("the editor has no %s", want)
		}
	}
	form := url.Values{"name": {"Subject test"}, "include": {strconv.FormatInt(seg.ID, 10)}, "send_mode": {"now"}, "past_zones": {"next_day"},
		"template_id": {strconv.FormatInt(tpl, 10)}, "subject": {"Our sale"},
		"ab_versions": {"2"}, "ab_variants.0.subject": {"Sale starts now"}, "ab_variants.1.subject": {"Last chance"},
		"ab_variants.1.sender_name": {"Ana at AB"}, "ab_test_percent": {"40"}, "ab_winner_by": {"opens"}, "ab_wait_hours": {"6"}, "ab_holdout_percent": {"10"}}
	for _, c := range []struct{ field, value, want string }{
		{"ab_test_percent", "forty", "Enter a whole number."},
		{"ab_versions", "7", "Choose no test, or 2 to 4 versions."},
		{"ab_winner_by", "profit", "Choose how the winner is picked: click rate, open rate or revenue."},
		{"ab_wait_hours", "0", "Enter how many hours to wait"},
		{"ab_variants.1.sender_name", "Ana <ana@x>", "contain quotes or angle brackets"},
	} {
		bad := url.Values{}
		for k, v := range form {
			bad[k] = v
		}
		bad.Set(c.field, c.value)
		resp, body := h.postForm(href, bad, authA...)
		if resp.StatusCode != http.StatusUnprocessableEntity || !strings.Contains(body, c.want) {
			t.Fatalf("%s=%q: %d, want 422 with %q\n%s", c.field, c.value, resp.StatusCode, c.want, body)
		}
	}
	if n := h.count(`SELECT count(*) FROM campaigns WHERE shop_id = $1 AND ab->'variants'->0 IS NOT NULL`, a.ID); n != 0 {
		t.Fatal("a refused form saved the test")
	}
	if resp, body := h.postForm(href, form, authA...); resp.StatusCode != 200 || !strings.Contains(body, "Draft saved") {
		t.Fatalf("save: %d\n%s", resp.StatusCode, body)
	}
	if n := h.count(`SELECT count(*) FROM campaigns WHERE shop_id = $1 AND jsonb_array_length(ab->'variants') = 2
		AND ab->'variants'->1->>'subject' = 'Last chance' AND ab->'variants'->1->>'sender_name' = 'Ana at AB'
		AND (ab->>'test_percent')::int = 40 AND ab->>'winner_by' = 'opens' AND (ab->>'wait_hours')::int = 6 AND (ab->>'holdout_percent')::int = 10`, a.ID); n != 1 {
		t.Fatal("the A/B test was not stored as typed")
	}
	_, body = h.get(href, authA...)
	if !strings.Contains(body, `value="Last chance"`) || !strings.Contains(body, `<option value="2" selected`) {
		t.Fatal("the stored test is not shown back")
	}
	// The Review card sums it up.
	for _, want := range []string{"Schedule: now, when you send it.", "A/B test: 2 versions to 40% of the audience; after 6 h the best by open rate goes to the rest. 10% held out"} {
		if !strings.Contains(body, want) {
			t.Fatalf("the review lacks %q", want)
		}
	}

	// The winner by revenue is a choice like the others.
	rev := url.Values{}
	for k, v := range form {
		rev[k] = v
	}
	rev.Set("ab_winner_by", "revenue")
	if resp, body := h.postForm(href, rev, authA...); resp.StatusCode != 200 || !strings.Contains(body, "the best by revenue per email sent goes to the rest") {
		t.Fatalf("save by revenue: %d\n%s", resp.StatusCode, body)
	}
	if n := h.count(`SELECT count(*) FROM campaigns WHERE shop_id = $1 AND ab->>'winner_by' = 'revenue'`, a.ID); n != 1 {
		t.Fatal("the winner by revenue was not stored")
	}
	if resp, _ := h.postForm(href, form, authA...); resp.StatusCode != 200 {
		t.Fatalf("save back: %d", resp.StatusCode)
	}

	// "Edit a copy for this campaign": a new template, the draft points at
	// it, the original stays; another shop can't.
	if resp, _ := h.postForm(href+"/template-copy", url.Values{}, authB...); resp.StatusCode != http.StatusNotFound {
		t.Fatalf("another shop copies: %d", resp.StatusCode)
	}
	resp, _ = h.postForm(href+"/template-copy", url.Values{}, authA...)
	loc := resp.Header.Get("Location")
	if resp.StatusCode != http.StatusSeeOther || !strings.HasPrefix(loc, "/app/templates/") {
		t.Fatalf("template copy: %d %q", resp.StatusCode, loc)
	}
	copyID := strings.TrimPrefix(loc, "/app/templates/")
	if n := h.count(`SELECT count(*) FROM campaigns c JOIN email_templates t ON t.id = c.template_id
		WHERE c.id = $1 AND t.id = $2 AND t.id <> $3 AND t.name LIKE '% — Subject test'`, m[1], copyID, tpl); n != 1 {
		t.Fatal("the draft doesn't point at a copy named after the campaign")
	}
	if n := h.count(`SELECT count(*) FROM email_templates WHERE id = $1 AND name NOT LIKE '% — %'`, tpl); n != 1 {
		t.Fatal("the original template changed")
	}
	if resp, _ := h.postForm(href+"/start", url.Values{}, authA...); resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("start: %d", resp.StatusCode)
	}
	if resp, _ := h.postForm(href+"/template-copy", url.Values{}, authA...); resp.StatusCode != http.StatusConflict {
		t.Fatalf("copy once sending: %d", resp.StatusCode)
	}
	_, body = h.get(href, authA...)
	for _, want := range []string{`id="campaign-ab-table"`, `data-variant="A"`, `data-variant="B"`, `data-action="pick-B"`, "The winner by open rate is picked",
		`id="campaign-for-winner"`, `<span data-for-winner>25</span>`} {
		if !strings.Contains(body, want) {
			t.Fatalf("the sending page has no %s\n%s", want, body)
		}
	}
	if resp, _ := h.postForm(href+"/winner", url.Values{"winner": {"B"}}, authB...); resp.StatusCode != http.StatusNotFound {
		t.Fatalf("another shop picks: %d", resp.StatusCode)
	}
	if resp, body := h.postForm(href+"/winner", url.Values{"winner": {"Q"}}, authA...); resp.StatusCode != http.StatusUnprocessableEntity || !strings.Contains(body, "Choose one of this campaign") {
		t.Fatalf("an unknown version: %d\n%s", resp.StatusCode, body)
	}
	resp, _ = h.postForm(href+"/winner", url.Values{"winner": {"B"}}, authA...)
	if resp.StatusCode != http.StatusSeeOther || !strings.HasSuffix(resp.Header.Get("Location"), "?done=winner") {
		t.Fatalf("pick B: %d %q", resp.StatusCode, resp.Header.Get("Location"))
	}
	_, body = h.get(href+"?done=winner", authA...)
	if !strings.Contains(body, "Winner picked") || strings.Contains(body, `data-action="pick-A"`) || strings.Contains(body, `id="campaign-for-winner"`) {
		t.Fatalf("after the pick:\n%s", body)
	}
	if n := h.count(`SELECT count(*) FROM campaign_recipients WHERE campaign_id = $1 AND due_at = 'infinity'`, m[1]); n != 0 {
		t.Fatalf("%d of the rest still wait for a winner", n)
	}
	if resp, _ := h.postForm(href+"/winner", url.Values{"winner": {"A"}}, authA...); resp.StatusCode != http.StatusConflict {
		t.Fatalf("a second pick: %d", resp.StatusCode)
	}
}

// A large audience's editor comes back without counting; its panel loads
// the count from /reach (the same numbers), and another shop gets 404.
func TestCampaignReachOfALargeAudienceLoadsLazily(t *testing.T) {
	h := newHarness(t, harnessOpts{})
	a := h.install("big-a.myshopify.com")
	b := h.install("big-b.myshopify.com")
	authA := []string{"Authorization", "Bearer " + h.token(a.Domain)}
	authB := []string{"Authorization", "Bearer " + h.token(b.Domain)}
	h.db.MustExec(`INSERT INTO customers (shop_id, email, email_consent) SELECT $1, 'big' || g || '@example.com',
		CASE WHEN g % 4 = 0 THEN 'not_subscribed' ELSE 'subscribed' END FROM generate_series(1, 20001) g`, a.ID)
	zero := 0.0
	seg, err := segments.NewStore(h.db).Create(t.Context(), a.ID, "Everyone", segments.Rules{Version: segments.Version, Root: segments.Group{Op: "and",
		Items: []segments.Node{{Condition: &segments.Condition{Field: segments.FieldTotalSpent, Op: "gte", Number: &zero}}}}}, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	resp, _ := h.postForm("/app/campaigns", url.Values{"segment_id": {strconv.FormatInt(seg.ID, 10)}}, authA...)
	m := campaignIDRe.FindStringSubmatch(resp.Header.Get("Location"))
	if m == nil {
		t.Fatalf("create: %d", resp.StatusCode)
	}
	href := "/app/campaigns/" + m[1]
	_, body := h.get(href, authA...)
	if !strings.Contains(body, `hx-get="`+href+`/reach"`) || strings.Contains(body, `id="campaign-reach"`) {
		t.Fatalf("the editor of a large audience counted in the request:\n%s", body)
	}
	resp, body = h.get(href+"/reach", authA...)
	if resp.StatusCode != 200 || reachCount(t, body, "in_segments") != "20001" || reachCount(t, body, "not_subscribed") != "5000" ||
		reachCount(t, body, "reachable") != "15001" || !strings.Contains(body, `id="campaign-reach-body"`) {
		t.Fatalf("reach panel: %d", resp.StatusCode)
	}
	if resp, _ := h.get(href+"/reach", authB...); resp.StatusCode != http.StatusNotFound {
		t.Fatalf("another shop's reach: %d", resp.StatusCode)
	}
}
