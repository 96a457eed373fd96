package web_test

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/cartwheel/cartwheel/app/flows"
)

// liveSubscribedFlow stores a live flow started by "subscribed" (any
// source) whose first step waits a day, so a run shows as it starts.
func liveSubscribedFlow(t *testing.T, h *harness, shopID int64) int64 {
	t.Helper()
	var tmpl, id int64
	if err := h.db.Get(&tmpl, `INSERT INTO email_templates (shop_id, name, locale, doc) VALUES ($1, 'Welcome', 'en', '{}') RETURNING id`, shopID); err != nil {
		t.Fatal(err)
	}
	def := flows.Definition{
		Trigger: flows.Trigger{Type: flows.TriggerSubscribed}, Priority: 50,
		Steps: []flows.Step{{ID: "w", Type: flows.StepWait, Wait: flows.Duration(24 * time.Hour)}, {ID: "s", Type: flows.StepSendEmail, TemplateID: tmpl}},
	}
	raw, _ := json.Marshal(def)
	if err := h.db.Get(&id, `INSERT INTO flows (shop_id, name, status, trigger_type, draft, live_version) VALUES ($1, 'Welcome', 'live', 'subscribed', $2, 1) RETURNING id`,
		shopID, raw); err != nil {
		t.Fatal(err)
	}
	h.db.MustExec(`INSERT INTO flow_versions (shop_id, flow_id, version, definition) VALUES ($1, $2, 1, $3)`, shopID, id, raw)
	return id
}

// importFile uploads a profiles file and starts it with the form given,
// then waits until the import is done and its signals are consumed.
func importFile(t *testing.T, h *harness, domain string, shopID int64, csv string, form url.Values) (page string) {
	t.Helper()
	resp, body := h.upload(domain, "profiles", "subscribers.csv", strings.NewReader(csv))
	loc := resp.Header.Get("HX-Redirect")
	if resp.StatusCode != 200 || !strings.HasPrefix(loc, "/app/customers/import/") {
		t.Fatalf("upload: %d %q\n%s", resp.StatusCode, loc, body)
	}
	auth := []string{"Authorization", "Bearer " + h.token(domain)}
	resp, page = h.get(loc, auth...)
	if resp.StatusCode != 200 {
		t.Fatalf("preview: %d", resp.StatusCode)
	}
	resp, body = h.do(http.MethodPost, loc+"/start", strings.NewReader(form.Encode()), append(auth, "HX-Request", "true",
		"Content-Type", "application/x-www-form-urlencoded")...)
	if resp.StatusCode != 200 {
		t.Fatalf("start: %d\n%s", resp.StatusCode, body)
	}
	h.eventually("import done", func() bool {
		_, body := h.get(loc+"/progress", append(auth, "HX-Request", "true")...)
		return strings.Contains(body, "Import finished")
	})
	h.eventually("the import's signals consumed", func() bool {
		return h.count(`SELECT count(*) FROM customer_signals WHERE shop_id = $1`, shopID) == 0
	})
	return page
}

// With the box off (the default) an import's subscribes start no flow; on,
// they start subscribed-trigger flows for the people the file newly
// subscribes only, as of the file's consent time. Both through the real
// import, the signal consumer and the flow engine.
func TestImportStartsWelcomeFlowsOnlyWhenAsked(t *testing.T) {
	h := newHarness(t, harnessOpts{workers: true})
	sh := h.install("import-flows.myshopify.com")
	flowID := liveSubscribedFlow(t, h, sh.ID)
	h.db.MustExec(`INSERT INTO customers (shop_id, email, email_consent, email_consent_updated_at) VALUES
		($1, 'old1@example.com', 'subscribed', '2020-01-01'), ($1, 'old2@example.com', 'subscribed', '2020-01-01')`, sh.ID)
	runs := func(email string) int {
		return h.count(`SELECT count(*) FROM flow_runs r JOIN customers c ON c.id = r.customer_id
			WHERE r.flow_id = $1 AND lower(c.email) = $2`, flowID, email)
	}

	// Off: three rows, two of them newly subscribed; nothing starts.
	page := importFile(t, h, sh.Domain, sh.ID, "Email,Email Marketing Consent,Email Marketing Consent Timestamp\n"+
		"old1@example.com,SUBSCRIBED,2024-05-01 10:00:00\n"+
		"a@example.com,SUBSCRIBED,2024-05-01 10:00:00\n"+
		"b@example.com,SUBSCRIBED,\n", url.Values{})
	if !strings.Contains(page, `name="start_flows"`) || strings.Contains(page, `name="start_flows" value="on" checked`) ||
		!strings.Contains(page, "1 live flow starts when someone subscribes") {
		t.Fatalf("the import screen should offer the box, unticked, with the number of flows:\n%s", page)
	}
	if n := h.count(`SELECT count(*) FROM consent_events WHERE shop_id = $1 AND source = 'import' AND state = 'subscribed'`, sh.ID); n != 2 {
		t.Fatalf("%d consent changes recorded, want 2 (the import did not run as expected)", n)
	}
	if n := h.count(`SELECT count(*) FROM flow_runs WHERE flow_id = $1`, flowID); n != 0 {
		t.Fatalf("with the box off the import started %d runs", n)
	}

	// On: two newly subscribed start; the one subscribed before doesn't.
	importFile(t, h, sh.Domain, sh.ID, "Email,Email Marketing Consent,Email Marketing Consent Timestamp\n"+
		"old2@example.com,SUBSCRIBED,2024-05-01 10:00:00\n"+
		"c@example.com,SUBSCRIBED,2024-05-01 10:00:00\n"+
		"d@example.com,SUBSCRIBED,\n", url.Values{"start_flows": {"on"}})
	h.eventually("runs for the newly subscribed", func() bool { return runs("c@example.com") == 1 && runs("d@example.com") == 1 })
	if n := runs("old2@example.com"); n != 0 {
		t.Fatalf("a customer subscribed before the import got %d runs", n)
	}
	if n := h.count(`SELECT count(*) FROM flow_runs WHERE flow_id = $1`, flowID); n != 2 {
		t.Fatalf("%d runs, want 2 (the first import's people must not start now either)", n)
	}
	// The run and the consent are as of the file's time where it has one.
	var started, consent time.Time
	h.db.QueryRow(`SELECT r.started_at, c.email_consent_updated_at FROM flow_runs r JOIN customers c ON c.id = r.customer_id
		WHERE r.flow_id = $1 AND c.email = 'c@example.com'`, flowID).Scan(&started, &consent)
	if want := time.Date(2024, 5, 1, 10, 0, 0, 0, time.UTC); !started.Equal(want) || !consent.Equal(want) {
		t.Fatalf("run started %v, consent at %v; want both at the file's %v", started, consent, want)
	}
	h.db.QueryRow(`SELECT r.started_at, c.email_consent_updated_at FROM flow_runs r JOIN customers c ON c.id = r.customer_id
		WHERE r.flow_id = $1 AND c.email = 'd@example.com'`, flowID).Scan(&started, &consent)
	if !started.Equal(consent) || time.Since(consent) > time.Hour {
		t.Fatalf("without a time in the file: run started %v, consent at %v; want both at the import", started, consent)
	}
	var stored []bool
	h.db.Select(&stored, `SELECT start_flows FROM csv_imports WHERE shop_id = $1 ORDER BY id`, sh.ID)
	if fmt.Sprint(stored) != "[false true]" {
		t.Fatalf("stored choices %v, want [false true]", stored)
	}
	_, body := h.get("/app/customers/import", "Authorization", "Bearer "+h.token(sh.Domain))
	if strings.Count(body, "starts welcome flows") != 1 {
		t.Fatalf("the import history should mark the one import that started flows:\n%s", body)
	}
}

func TestImportStartFlowsRejectsAnOddValue(t *testing.T) {
	h := newHarness(t, harnessOpts{})
	sh := h.install("import-flows-bad.myshopify.com")
	resp, _ := h.upload(sh.Domain, "profiles", "x.csv", strings.NewReader("Email\nx@example.com\n"))
	loc := resp.Header.Get("HX-Redirect")
	resp, body := h.do(http.MethodPost, loc+"/start", strings.NewReader("start_flows=maybe"), "Authorization", "Bearer "+h.token(sh.Domain),
		"HX-Request", "true", "Content-Type", "application/x-www-form-urlencoded")
	if resp.StatusCode != http.StatusBadRequest || !strings.Contains(body, "start_flows") {
		t.Fatalf("start_flows=maybe: %d\n%s", resp.StatusCode, body)
	}
	if n := h.count(`SELECT count(*) FROM csv_imports WHERE shop_id = $1 AND status <> 'uploaded'`, sh.ID); n != 0 {
		t.Fatal("a refused start queued the import")
	}
}
