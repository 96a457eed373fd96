package web_test

import (
	"net/http"
	"strings"
	"testing"
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
