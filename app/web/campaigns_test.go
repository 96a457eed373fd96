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

var campaignIDRe = regexp.MustCompile(`^/app/campaigns/(\d+)$`)

// reachCount is the number shown on one line of the reachable count.
func reachCount(t *testing.T, body, reason string) string {
	t.Helper()
	re := regexp.MustCompile(`data-reason="` + regexp.QuoteMeta(reason) + `"[\s\S]*?data-count>(\d+)<`)
	m := re.FindStringSubmatch(body)
	if m == nil {
		t.Fatalf("no %q line in the reachable count", reason)
	}
	return m[1]
}

// A merchant starts a campaign from a segment's page, sees who it can reach
// and why the others can't, leaves a segment out, opens the customers behind
// a number, is refused a time that can't be read (nothing saved), duplicates
// and deletes drafts; another shop can't see or touch any of it.
func TestCampaignsAdmin(t *testing.T) {
	h := newHarness(t, harnessOpts{})
	a := h.install("camp-a.myshopify.com")
	b := h.install("camp-b.myshopify.com")
	authA := []string{"Authorization", "Bearer " + h.token(a.Domain)}
	authB := []string{"Authorization", "Bearer " + h.token(b.Domain)}

	for _, c := range []struct {
		email, consent string
		spent          int
	}{
		{"ada@example.com", "subscribed", 10},
		{"bob@example.com", "not_subscribed", 20},
		{"carol@example.com", "subscribed", 30},
		{"", "subscribed", 40},
		{"eve@example.com", "subscribed", 500},
	} {
		var email any
		if c.email != "" {
			email = c.email
		}
		if _, err := h.db.Exec(`INSERT INTO customers (shop_id, email, email_consent, total_spent) VALUES ($1, $2, $3, $4)`,
			a.ID, email, c.consent, c.spent); err != nil {
			t.Fatal(err)
		}
	}
	h.db.MustExec(`INSERT INTO suppressions (shop_id, email, reason) VALUES ($1, 'carol@example.com', 'bounced')`, a.ID)
	zero, hundred := 0.0, 100.0
	segStore := segments.NewStore(h.db)
	rule := func(n *float64) segments.Rules {
		return segments.Rules{Version: segments.Version, Root: segments.Group{Op: "and", Items: []segments.Node{{Condition: &segments.Condition{
			Field: segments.FieldTotalSpent, Op: "gte", Number: n}}}}}
	}
	everyone, err := segStore.Create(t.Context(), a.ID, "Everyone", rule(&zero), time.Now())
	if err != nil {
		t.Fatal(err)
	}
	big, err := segStore.Create(t.Context(), a.ID, "Big spenders", rule(&hundred), time.Now())
	if err != nil {
		t.Fatal(err)
	}

	resp, body := h.get("/app/campaigns", authA...)
	if resp.StatusCode != 200 || !strings.Contains(body, "No campaigns yet") {
		t.Fatalf("empty list: %d\n%s", resp.StatusCode, body)
	}
	// The segment's page offers a campaign to it.
	_, body = h.get("/app/segments/"+strconv.FormatInt(everyone.ID, 10), authA...)
	if !strings.Contains(body, "Send a campaign to this segment") {
		t.Fatal("the segment page doesn't offer a campaign")
	}
	resp, _ = h.postForm("/app/campaigns", url.Values{"segment_id": {strconv.FormatInt(everyone.ID, 10)}}, authA...)
	m := campaignIDRe.FindStringSubmatch(resp.Header.Get("Location"))
	if resp.StatusCode != http.StatusSeeOther || m == nil {
		t.Fatalf("create: %d %q", resp.StatusCode, resp.Header.Get("Location"))
	}
	href := "/app/campaigns/" + m[1]

	resp, body = h.get(href, authA...)
	if resp.StatusCode != 200 {
		t.Fatalf("editor: %d\n%s", resp.StatusCode, body)
	}
	for reason, want := range map[string]string{"in_segments": "5", "excluded": "0", "no_email": "1", "not_subscribed": "1",
		"suppressed:bounced": "1", "reachable": "2"} {
		if got := reachCount(t, body, reason); got != want {
			t.Errorf("before the exclusion, %s = %s, want %s", reason, got, want)
		}
	}
	if !strings.Contains(body, "Choose a template.") {
		t.Error("what is missing before sending is not shown")
	}

	// Leave out the big spenders: saved, and the counts follow.
	form := url.Values{"name": {"December sale"}, "include": {strconv.FormatInt(everyone.ID, 10)},
		"exclude": {strconv.FormatInt(big.ID, 10)}, "send_mode": {"now"}, "past_zones": {"next_day"}}
	resp, body = h.postForm(href, form, authA...)
	if resp.StatusCode != 200 || !strings.Contains(body, "Draft saved") {
		t.Fatalf("save: %d\n%s", resp.StatusCode, body)
	}
	if got := reachCount(t, body, "excluded"); got != "1" {
		t.Errorf("excluded = %s, want 1", got)
	}
	if got := reachCount(t, body, "reachable"); got != "1" {
		t.Errorf("reachable = %s, want 1", got)
	}
	if n := h.count(`SELECT count(*) FROM campaigns WHERE shop_id = $1 AND name = 'December sale' AND exclude_segments = ARRAY[$2::bigint]`, a.ID, big.ID); n != 1 {
		t.Fatal("the exclusion was not stored")
	}

	// A time that can't be read: 422 naming it, what was typed shown back,
	// nothing saved.
	bad := url.Values{}
	for k, v := range form {
		bad[k] = v
	}
	bad.Set("name", "Renamed")
	bad.Set("send_mode", "at")
	bad.Set("send_at", "tomorrow")
	resp, body = h.postForm(href, bad, authA...)
	if resp.StatusCode != http.StatusUnprocessableEntity || !strings.Contains(body, "Enter a date and time") || !strings.Contains(body, `value="tomorrow"`) {
		t.Fatalf("bad time: %d\n%s", resp.StatusCode, body)
	}
	if n := h.count(`SELECT count(*) FROM campaigns WHERE name = 'Renamed'`); n != 0 {
		t.Fatal("a refused form changed the draft")
	}

	// The customers behind a number.
	resp, body = h.get(href+"/audience?reason=not_subscribed", authA...)
	if resp.StatusCode != 200 || !strings.Contains(body, "bob@example.com") || strings.Contains(body, "ada@example.com") {
		t.Fatalf("not subscribed: %d\n%s", resp.StatusCode, body)
	}
	_, body = h.get(href+"/audience?reason="+url.QueryEscape("suppressed:bounced"), authA...)
	if !strings.Contains(body, "carol@example.com") {
		t.Fatalf("suppressed: %s", body)
	}
	for _, q := range []string{"", "?reason=", "?reason=everyone%27%3B", "?reason=reachable&after=-1"} {
		if resp, _ := h.get(href+"/audience"+q, authA...); resp.StatusCode != http.StatusBadRequest {
			t.Errorf("audience%s: %d, want 400", q, resp.StatusCode)
		}
	}

	// Shop B gets 404 for every route of shop A's campaign.
	for _, path := range []string{href, href + "/audience?reason=reachable"} {
		if resp, _ := h.get(path, authB...); resp.StatusCode != http.StatusNotFound {
			t.Errorf("other shop GET %s: %d", path, resp.StatusCode)
		}
	}
	for _, path := range []string{href, href + "/duplicate", href + "/delete"} {
		if resp, _ := h.postForm(path, form, authB...); resp.StatusCode != http.StatusNotFound {
			t.Errorf("other shop POST %s: %d", path, resp.StatusCode)
		}
	}
	// A segment of another shop can't be sent to.
	resp, _ = h.postForm("/app/campaigns", url.Values{"segment_id": {strconv.FormatInt(everyone.ID, 10)}}, authB...)
	if resp.StatusCode != http.StatusUnprocessableEntity {
		t.Errorf("campaign to another shop's segment: %d", resp.StatusCode)
	}

	// Sending: refused while something is missing, then started, paused,
	// resumed and cancelled from the page; another shop can't.
	resp, body = h.postForm(href+"/start", url.Values{}, authA...)
	if resp.StatusCode != http.StatusUnprocessableEntity || !strings.Contains(body, "Choose a template.") {
		t.Fatalf("start without a template: %d\n%s", resp.StatusCode, body)
	}
	tpl, err := render.NewStore(h.db).FromStarter(t.Context(), a.ID, render.StarterWelcome, render.LocaleEN)
	if err != nil {
		t.Fatal(err)
	}
	form.Set("template_id", strconv.FormatInt(tpl, 10))
	form.Set("subject", "Our December sale")
	if resp, body := h.postForm(href, form, authA...); resp.StatusCode != 200 || !strings.Contains(body, `data-action="start"`) {
		t.Fatalf("save with a template: %d\n%s", resp.StatusCode, body)
	}
	// Review: the email as a customer would get it, with the campaign's
	// preview text, and a test send of it; another shop gets neither.
	form.Set("preheader", "Two days only")
	if resp, _ := h.postForm(href, form, authA...); resp.StatusCode != 200 {
		t.Fatalf("save preheader: %d", resp.StatusCode)
	}
	_, body = h.get(href, authA...)
	if !strings.Contains(body, `data-auth-src="`+href+`/preview"`) || !strings.Contains(body, `action="`+href+`/test"`) {
		t.Fatalf("no review on the campaign page:\n%s", body)
	}
	h.db.MustExec(`UPDATE shops SET sender_email = 'shop@example.com', sender_name = 'Camp A', postal_address = '1 Main St' WHERE id = $1`, a.ID)
	resp, body = h.get(href+"/preview", authA...)
	if resp.StatusCode != 200 || !strings.Contains(body, "Two days only") || !strings.Contains(resp.Header.Get("Content-Security-Policy"), "sandbox") {
		t.Fatalf("preview: %d %q\n%s", resp.StatusCode, resp.Header.Get("Content-Security-Policy"), body)
	}
	if resp, _ := h.get(href+"/preview", authB...); resp.StatusCode != http.StatusNotFound {
		t.Fatalf("other shop's preview: %d", resp.StatusCode)
	}
	if resp, body := h.postForm(href+"/test", url.Values{"to": {"not an address"}}, authA...); resp.StatusCode != http.StatusUnprocessableEntity || !strings.Contains(body, "Enter an email address") {
		t.Fatalf("test to a bad address: %d\n%s", resp.StatusCode, body)
	}
	h.db.MustExec(`INSERT INTO sender_verifications (shop_id, email, token_hash, sent_at, verified_at) VALUES ($1, 'shop@example.com', '\x01', now(), now())`, a.ID)
	if resp, body := h.postForm(href+"/test", url.Values{"to": {"me@example.com"}}, authA...); resp.StatusCode != 200 || !strings.Contains(body, "Test email sent to me@example.com") {
		t.Fatalf("test send: %d\n%s", resp.StatusCode, body)
	}
	if n := h.count(`SELECT count(*) FROM email_messages WHERE shop_id = $1 AND kind = 'test' AND subject = '[Test] Our December sale'`, a.ID); n != 1 {
		t.Fatalf("%d test emails with the campaign's subject", n)
	}
	if resp, _ := h.postForm(href+"/test", url.Values{"to": {"me@example.com"}}, authB...); resp.StatusCode != http.StatusNotFound {
		t.Fatalf("other shop's test send: %d", resp.StatusCode)
	}

	if resp, _ := h.postForm(href+"/start", url.Values{}, authB...); resp.StatusCode != http.StatusNotFound {
		t.Fatalf("other shop starts: %d", resp.StatusCode)
	}
	resp, _ = h.postForm(href+"/start", url.Values{}, authA...)
	if resp.StatusCode != http.StatusSeeOther || !strings.HasSuffix(resp.Header.Get("Location"), "?done=started") {
		t.Fatalf("start: %d %q", resp.StatusCode, resp.Header.Get("Location"))
	}
	_, body = h.get(href+"?done=started", authA...)
	if !strings.Contains(body, `data-status="sending"`) || !strings.Contains(body, `id="campaign-progress"`) || !strings.Contains(body, "data-live") ||
		!regexp.MustCompile(`data-total>1<`).MatchString(body) || !strings.Contains(body, `data-action="pause"`) {
		t.Fatalf("sending page:\n%s", body)
	}
	if n := h.count(`SELECT count(*) FROM campaign_recipients WHERE campaign_id = $1`, m[1]); n != 1 {
		t.Fatalf("snapshot holds %d recipients, want the 1 reachable", n)
	}
	// A sending campaign's draft can't be changed.
	if resp, _ := h.postForm(href, form, authA...); resp.StatusCode != http.StatusConflict {
		t.Fatalf("edit while sending: %d", resp.StatusCode)
	}
	for _, step := range []struct{ action, status string }{{"pause", "paused"}, {"resume", "sending"}, {"cancel", "cancelled"}} {
		resp, _ := h.postForm(href+"/"+step.action, url.Values{}, authA...)
		if resp.StatusCode != http.StatusSeeOther {
			t.Fatalf("%s: %d", step.action, resp.StatusCode)
		}
		if n := h.count(`SELECT count(*) FROM campaigns WHERE id = $1 AND status = $2`, m[1], step.status); n != 1 {
			t.Fatalf("after %s the campaign is not %s", step.action, step.status)
		}
	}
	if resp, body := h.postForm(href+"/resume", url.Values{}, authA...); resp.StatusCode != http.StatusConflict || !strings.Contains(body, "cancelled") {
		t.Fatalf("resume a cancelled campaign: %d\n%s", resp.StatusCode, body)
	}

	// Duplicate, then delete the copy.
	resp, _ = h.postForm(href+"/duplicate", url.Values{}, authA...)
	dm := campaignIDRe.FindStringSubmatch(resp.Header.Get("Location"))
	if resp.StatusCode != http.StatusSeeOther || dm == nil || dm[1] == m[1] {
		t.Fatalf("duplicate: %d %q", resp.StatusCode, resp.Header.Get("Location"))
	}
	_, body = h.get("/app/campaigns", authA...)
	if !strings.Contains(body, "Copy of December sale") || !strings.Contains(body, `data-campaign="December sale"`) {
		t.Fatalf("list after duplicate:\n%s", body)
	}
	resp, _ = h.postForm("/app/campaigns/"+dm[1]+"/delete", url.Values{}, authA...)
	if resp.StatusCode != http.StatusSeeOther || h.count(`SELECT count(*) FROM campaigns WHERE shop_id = $1`, a.ID) != 1 {
		t.Fatalf("delete: %d", resp.StatusCode)
	}
	if n := h.count(`SELECT count(*) FROM campaigns WHERE shop_id = $1`, b.ID); n != 0 {
		t.Fatalf("shop B has %d campaigns", n)
	}
}

// Hostile input to the campaign pages gets a 4xx naming the problem and
// changes nothing: NUL bytes and invalid UTF-8 (400), ids that aren't the
// shop's or aren't numbers, oversized text, impossible times (422).
func TestCampaignFormsRefuseHostileInput(t *testing.T) {
	h := newHarness(t, harnessOpts{})
	a := h.install("hostile-camp.myshopify.com")
	auth := []string{"Authorization", "Bearer " + h.token(a.Domain)}
	resp, _ := h.postForm("/app/campaigns", url.Values{}, auth...)
	href := resp.Header.Get("Location")
	if !campaignIDRe.MatchString(href) {
		t.Fatalf("create: %d %q", resp.StatusCode, href)
	}
	stored := func() string {
		var s string
		if err := h.db.Get(&s, `SELECT name || '|' || subject || '|' || send_mode || '|' || cardinality(include_segments) FROM campaigns WHERE shop_id = $1`, a.ID); err != nil {
			t.Fatal(err)
		}
		return s
	}
	before := stored()
	for _, tc := range []struct {
		form url.Values
		code int
		want string
	}{
		{url.Values{"name": {"a\x00b"}}, http.StatusBadRequest, ""},
		{url.Values{"name": {"a\xffb"}}, http.StatusBadRequest, ""},
		{url.Values{"name": {"x"}, "subject": {strings.Repeat("s", 100000)}}, http.StatusUnprocessableEntity, "200 characters"},
		{url.Values{"name": {"x"}, "include": {"99999999999999999999"}}, http.StatusUnprocessableEntity, "Choose segments from the list."},
		{url.Values{"name": {"x"}, "include": {"123456"}}, http.StatusUnprocessableEntity, "no longer exists"},
		{url.Values{"name": {"x"}, "template_id": {"abc"}}, http.StatusUnprocessableEntity, "Choose a template from the list."},
		{url.Values{"name": {"x"}, "send_mode": {"sometime"}}, http.StatusUnprocessableEntity, "Choose when to send"},
		{url.Values{"name": {"x"}, "send_mode": {"at"}, "send_at": {"9999-99-99T99:99"}}, http.StatusUnprocessableEntity, "Enter a date and time"},
		{url.Values{"name": {"x"}, "ab_versions": {"2"}, "ab_variants.1.subject": {"b\x00"}}, http.StatusBadRequest, ""},
		{url.Values{"name": {"x"}, "ab_versions": {"2"}, "ab_test_percent": {"99999999999999999999"}}, http.StatusUnprocessableEntity, "Enter a whole number."},
		{url.Values{"name": {"x"}, "ab_versions": {"2"}, "ab_test_percent": {"-5"}, "ab_wait_hours": {"4"}}, http.StatusUnprocessableEntity, "test share from 0 to 100"},
		{url.Values{"name": {"x"}, "ab_versions": {"2"}, "ab_test_percent": {"20"}, "ab_wait_hours": {"100000"}}, http.StatusUnprocessableEntity, "Enter a wait from 0 to 168 hours."},
		{url.Values{"name": {"x"}, "ab_versions": {"2"}, "ab_variants.0.template_id": {"-3"}, "ab_test_percent": {"20"}, "ab_wait_hours": {"4"}}, http.StatusUnprocessableEntity, "Choose a template from the list."},
		{url.Values{"name": {"x"}, "ab_versions": {"2"}, "ab_variants.0.template_id": {"777777"}, "ab_test_percent": {"20"}, "ab_wait_hours": {"4"}}, http.StatusUnprocessableEntity, "no longer exists"},
		{url.Values{"name": {"x"}, "ab_versions": {"2"}, "ab_test_percent": {"60"}, "ab_holdout_percent": {"50"}, "ab_wait_hours": {"4"}}, http.StatusUnprocessableEntity, "more than 100 percent"},
	} {
		resp, body := h.postForm(href, tc.form, auth...)
		if resp.StatusCode != tc.code || !strings.Contains(body, tc.want) {
			t.Errorf("%v: %d, want %d with %q", tc.form, resp.StatusCode, tc.code, tc.want)
		}
	}
	if got := stored(); got != before {
		t.Fatalf("refused forms changed the draft: %q, was %q", got, before)
	}
	for path, code := range map[string]int{
		"/app/campaigns?q=%00": http.StatusBadRequest, "/app/campaigns?after=-1": http.StatusBadRequest,
		"/app/campaigns/abc": http.StatusNotFound, "/app/campaigns/99999999999999999999": http.StatusNotFound,
		href + "/audience?reason=suppressed:%00": http.StatusBadRequest, href + "/preview": http.StatusUnprocessableEntity,
		"/app/campaigns/abc/reach": http.StatusNotFound, "/app/campaigns/-1/report": http.StatusNotFound,
	} {
		if resp, _ := h.get(path, auth...); resp.StatusCode != code {
			t.Errorf("GET %s: %d, want %d", path, resp.StatusCode, code)
		}
	}
	// Actions on a draft that has no test or no template: refused with the
	// reason (a NUL byte: 400 before anything), nothing changed.
	for _, tc := range []struct {
		path, winner string
		code         int
	}{
		{href + "/winner", "A", http.StatusConflict},
		{href + "/winner", "A\x00", http.StatusBadRequest},
		{href + "/template-copy", "", http.StatusUnprocessableEntity},
		{"/app/campaigns/0/winner", "A", http.StatusNotFound},
	} {
		if resp, _ := h.postForm(tc.path, url.Values{"winner": {tc.winner}}, auth...); resp.StatusCode != tc.code {
			t.Errorf("POST %s (winner %q): %d, want %d", tc.path, tc.winner, resp.StatusCode, tc.code)
		}
	}
	if got := stored(); got != before {
		t.Fatalf("refused actions changed the draft: %q, was %q", got, before)
	}
}
