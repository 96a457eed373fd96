package web_test

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"testing"

	"github.com/riverqueue/river"
	"github.com/riverqueue/river/rivertype"

	"github.com/cartwheel/cartwheel/app/customers"
)

func TestResyncStartsImportAndRefusesWhileRunning(t *testing.T) {
	h := newHarness(t, harnessOpts{}) // no workers: the import stays queued
	const shop = "resync-store.myshopify.com"
	h.install(shop)
	auth := []string{"Authorization", "Bearer " + h.token(shop), "HX-Request", "true"}

	resp, body := h.get("/app/settings/data/progress", auth...)
	if resp.StatusCode != http.StatusOK || !strings.Contains(body, "No import has run yet") || strings.Contains(body, "every 2s") {
		t.Fatalf("progress before any import: %d %s", resp.StatusCode, body)
	}
	resp, body = h.do(http.MethodPost, "/app/settings/data/resync", nil, auth...)
	if resp.StatusCode != http.StatusAccepted || !strings.Contains(body, "Re-sync started") ||
		!strings.Contains(body, `hx-trigger="every 2s"`) || strings.Count(body, "Polaris-ProgressBar__Progress") != 4 {
		t.Fatalf("resync: %d %s", resp.StatusCode, body)
	}
	if n := h.count(`SELECT count(*) FROM river_job WHERE kind = 'storesync.import'`); n != 1 {
		t.Fatalf("%d import jobs queued, want 1", n)
	}
	resp, body = h.do(http.MethodPost, "/app/settings/data/resync", nil, auth...)
	if resp.StatusCode != http.StatusConflict || !strings.Contains(body, "already running") {
		t.Fatalf("second resync: %d %s", resp.StatusCode, body)
	}
	// The dashboard shows the running import and polls it.
	resp, body = h.get("/app", auth...)
	if resp.StatusCode != http.StatusOK || !strings.Contains(body, "Importing your store") || !strings.Contains(body, "compact=1") {
		t.Fatalf("dashboard while importing: %d", resp.StatusCode)
	}
	// Settings has the Data section.
	if _, body = h.get("/app/settings", auth...); !strings.Contains(body, `hx-get="/app/settings/data/progress"`) {
		t.Fatal("settings page lacks the Data section")
	}
}

// A store import whose job fails is not "Waiting" for ever: Settings shows
// the reason while River waits to retry, Retry now replaces it at once, and
// the import then completes with its bars full.
func TestResyncFailureIsShownWithARetry(t *testing.T) {
	h := newHarness(t, harnessOpts{workers: true})
	const shop = "failing-store.myshopify.com"
	h.install(shop)
	h.fake.SetAccessToken(shop, "shpat_"+shop) // the token install() stored
	h.fake.SetBulkPolls(1)
	auth := func() []string { return []string{"Authorization", "Bearer " + h.token(shop), "HX-Request", "true"} }

	h.fake.FailNext(1_000_000, http.StatusInternalServerError)
	resp, body := h.do(http.MethodPost, "/app/settings/data/resync", nil, auth()...)
	if resp.StatusCode != http.StatusAccepted {
		t.Fatalf("resync: %d %s", resp.StatusCode, body)
	}
	h.eventually("the failed attempt shown", func() bool {
		_, body = h.get("/app/settings/data/progress", auth()...)
		return strings.Contains(body, "attempt 1 of 5 failed")
	})
	for _, want := range []string{"Retrying", "Cartwheel tries again automatically", "Polaris-Text--critical", ">Retry now<", `hx-trigger="every 2s"`} {
		if !strings.Contains(body, want) {
			t.Errorf("progress while retrying lacks %q:\n%s", want, body)
		}
	}
	if strings.Contains(body, "disabled") {
		t.Errorf("Retry now is disabled while the import waits to retry:\n%s", body)
	}
	if n := strings.Count(body, "attempt 1 of 5 failed"); n != 1 {
		t.Errorf("the job's failure is said %d times, want once:\n%s", n, body)
	}

	h.fake.FailNext(0, 0) // Shopify is back
	resp, body = h.do(http.MethodPost, "/app/settings/data/resync", nil, auth()...)
	if resp.StatusCode != http.StatusAccepted {
		t.Fatalf("retry now: %d %s", resp.StatusCode, body)
	}
	h.eventually("the retried import done", func() bool {
		_, body = h.get("/app/settings/data/progress", auth()...)
		return strings.Count(body, "Done: 0 rows") == 4
	})
	if strings.Contains(body, "failed") || strings.Count(body, `--pc-progress-bar-percent:1.00`) != 4 ||
		strings.Count(body, "Polaris-ProgressBar__IndicatorAppearDone") != 4 {
		t.Fatalf("finished import:\n%s", body)
	}
}

// A CSV import whose job fails shows the reason while it is retried, and
// once the attempts are used up, the reason and a Retry button that works.
func TestCSVImportFailureIsShownWithARetry(t *testing.T) {
	h := newHarness(t, harnessOpts{}) // the test plays the job's attempts itself
	sh := h.install("csv-fail.myshopify.com")
	ctx := context.Background()
	resp, body := h.upload(sh.Domain, "profiles", "ok.csv", strings.NewReader("Email,First Name\nana@example.com,Ana\n"))
	loc := resp.Header.Get("HX-Redirect")
	if resp.StatusCode != 200 || !strings.HasPrefix(loc, "/app/customers/import/") {
		t.Fatalf("upload: %d %q\n%s", resp.StatusCode, loc, body)
	}
	auth := func() []string {
		return []string{"Authorization", "Bearer " + h.token(sh.Domain), "HX-Request", "true", "Content-Type", "application/x-www-form-urlencoded"}
	}
	if resp, _ := h.do(http.MethodPost, loc+"/start", strings.NewReader(""), auth()...); resp.StatusCode != 200 {
		t.Fatalf("start: %d", resp.StatusCode)
	}
	var id int64
	if _, err := fmt.Sscanf(strings.TrimPrefix(loc, "/app/customers/import/"), "%d", &id); err != nil {
		t.Fatal(err)
	}
	// The stored file goes missing: every attempt fails.
	var chunks []struct {
		Seq  int    `db:"seq"`
		Data []byte `db:"data"`
	}
	if err := h.db.Select(&chunks, `SELECT seq, data FROM csv_import_chunks WHERE import_id = $1`, id); err != nil || len(chunks) == 0 {
		t.Fatalf("chunks: %v %d", err, len(chunks))
	}
	h.db.MustExec(`DELETE FROM csv_import_chunks WHERE import_id = $1`, id)
	w := customers.NewImportWorker(customers.NewStore(h.db))
	attempt := func(n int) error {
		return w.Work(ctx, &river.Job[customers.ImportArgs]{JobRow: &rivertype.JobRow{Attempt: n, MaxAttempts: 3},
			Args: customers.ImportArgs{ShopID: sh.ID, ImportID: id}})
	}

	if err := attempt(1); err == nil {
		t.Fatal("import without its file succeeded")
	}
	_, body = h.get(loc+"/progress", auth()...)
	for _, want := range []string{"The import ran into a problem", "attempt 1 of 3 failed", "tries again automatically", `hx-trigger="every 1s"`} {
		if !strings.Contains(body, want) {
			t.Errorf("progress after a failed attempt lacks %q:\n%s", want, body)
		}
	}
	if err := attempt(3); err == nil {
		t.Fatal("import without its file succeeded")
	}
	_, body = h.get(loc+"/progress", auth()...)
	for _, want := range []string{"The import stopped", "Retry import", loc + "/retry"} {
		if !strings.Contains(body, want) {
			t.Errorf("progress after the last attempt lacks %q:\n%s", want, body)
		}
	}
	if strings.Contains(body, "every 1s") || strings.Contains(body, "tries again automatically") {
		t.Errorf("a stopped import still claims to be retried:\n%s", body)
	}

	for _, c := range chunks {
		h.db.MustExec(`INSERT INTO csv_import_chunks (import_id, seq, data) VALUES ($1, $2, $3)`, id, c.Seq, c.Data)
	}
	resp, _ = h.do(http.MethodPost, loc+"/retry", strings.NewReader(""), auth()...)
	if resp.StatusCode != 200 || resp.Header.Get("HX-Redirect") != loc {
		t.Fatalf("retry: %d", resp.StatusCode)
	}
	if n := h.count(`SELECT count(*) FROM river_job WHERE kind = 'customers_csv_import'`); n != 2 {
		t.Fatalf("%d import jobs, want 2 (start and retry)", n)
	}
	if resp, _ = h.do(http.MethodPost, loc+"/retry", strings.NewReader(""), auth()...); resp.StatusCode != http.StatusConflict {
		t.Fatalf("retry of a queued import: %d, want 409", resp.StatusCode)
	}
	if err := attempt(1); err != nil {
		t.Fatal(err)
	}
	_, body = h.get(loc+"/progress", auth()...)
	if !strings.Contains(body, "Import finished") || !strings.Contains(body, "--pc-progress-bar-percent:1.00") ||
		!strings.Contains(body, "Polaris-ProgressBar__IndicatorAppearDone") {
		t.Fatalf("retried import:\n%s", body)
	}
}
