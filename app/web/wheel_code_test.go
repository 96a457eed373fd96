package web_test

import (
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/jmoiron/sqlx"

	"github.com/cartwheel/cartwheel/app/db"
)

// Shopify's Admin API fails while the shopper waits: the answer says at
// once that the code will come by email (no endless "still creating"),
// and the code job's retry, once it succeeds, emails it.
func TestWheelCodeFailureToldAtOnceAndEmailed(t *testing.T) {
	h := newHarness(t, harnessOpts{workers: true})
	const shop = "wheel-fail.myshopify.com"
	sh := h.install(shop)
	// A token the fake Admin API accepts, so codes can be created.
	tok, err := h.app.Shopify.ExchangeCode(t.Context(), shop, h.fake.IssueCode(shop))
	if err != nil {
		t.Fatal(err)
	}
	if err := db.InTx(t.Context(), h.db, func(tx *sqlx.Tx) error {
		_, err := h.app.Shops.Install(t.Context(), tx, shop, tok.Token, "write_discounts", time.Now().Add(-time.Hour))
		return err
	}); err != nil {
		t.Fatal(err)
	}
	auth := []string{"Authorization", "Bearer " + h.token(shop), "HX-Request", "true"}
	if resp, _ := h.postForm("/app/settings", validSettings(), auth...); resp.StatusCode != http.StatusOK {
		t.Fatalf("settings: %d", resp.StatusCode)
	}
	if resp, _ := h.do(http.MethodPost, "/app/settings/sender/verify", nil, auth...); resp.StatusCode != http.StatusOK {
		t.Fatalf("verify: %d", resp.StatusCode)
	}
	h.db.MustExec(`UPDATE sender_verifications SET verified_at = now() WHERE shop_id = $1`, sh.ID)
	form := wheelForm("10% off")
	form["slice_weight"] = []string{"1", "0"} // always wins
	form.Set("daily_code_cap", "1")
	if resp, body := h.postForm("/app/wheel", form, auth...); resp.StatusCode != http.StatusOK {
		t.Fatalf("save wheel: %d %s", resp.StatusCode, body)
	}
	h.fake.FailNextDiscount(1)
	resp, out := h.spin(shop, `{"email":"waiting@example.com","consent":true,"visitor_id":"v_waiting_001"}`)
	msg, _ := out["message"].(string)
	if resp.StatusCode != http.StatusOK || out["code_status"] != "pending" || out["code"] != "" || !strings.Contains(msg, "We'll email it to you") {
		t.Fatalf("spin: %d %v", resp.StatusCode, out)
	}
	// The retry would run 20 s later; run it now.
	h.db.MustExec(`UPDATE river_job SET scheduled_at = now() WHERE kind = 'wheel.create_code' AND state IN ('scheduled', 'available')`)
	var code string
	defer func() {
		if t.Failed() {
			var rows []string
			h.db.Select(&rows, `SELECT kind || ' ' || state || ' ' || scheduled_at::text || ' ' || coalesce(errors::text, '') FROM river_job`)
			var sp []string
			h.db.Select(&sp, `SELECT code_status || ' ' || code_error || ' ' || email_code::text FROM spins`)
			t.Logf("jobs: %v\nspins: %v", rows, sp)
		}
	}()
	h.eventually("the code to be created", func() bool {
		return h.db.Get(&code, `SELECT code FROM spins WHERE shop_id = $1 AND code_status = 'created'`, sh.ID) == nil
	})
	h.eventually("the code to be emailed", func() bool {
		return h.count(`SELECT count(*) FROM outbox_messages WHERE shop_id = $1 AND to_email = 'waiting@example.com' AND html LIKE '%' || $2 || '%'`, sh.ID, code) == 1
	})
	h.eventually("the code email in the ledger, once, as transactional mail", func() bool {
		return h.count(`SELECT count(*) FROM email_messages WHERE shop_id = $1 AND to_email = 'waiting@example.com' AND kind = 'system' AND marketing = false AND status = 'sent'`, sh.ID) == 1
	})
	// The daily cap (1) is reached: the next spin is refused clearly.
	resp, out = h.spin(shop, `{"email":"late@example.com","consent":true,"visitor_id":"v_waiting_002"}`)
	if resp.StatusCode != http.StatusTooManyRequests || out["error"] != "daily_limit" || resp.Header.Get("Retry-After") == "" ||
		!strings.Contains(out["message"].(string), "come back tomorrow") {
		t.Fatalf("spin beyond the daily cap: %d %v", resp.StatusCode, out)
	}
	// An invalid cap is refused on the wheel page.
	form.Set("daily_code_cap", "-4")
	if resp, body := h.postForm("/app/wheel", form, auth...); resp.StatusCode != http.StatusUnprocessableEntity || !strings.Contains(body, "most codes to create per day") {
		t.Fatalf("invalid cap: %d", resp.StatusCode)
	}
}
