package web_test

import (
	"fmt"
	"strings"
	"testing"
)

// The profile shows the customer's timezone, or the shop's when unknown.
func TestCustomerPageShowsTheTimezone(t *testing.T) {
	h := newHarness(t, harnessOpts{})
	sh := h.install("tz-page.myshopify.com")
	h.db.MustExec(`UPDATE shops SET timezone = 'America/New_York' WHERE id = $1`, sh.ID)
	var known, unknown int64
	h.db.Get(&known, `INSERT INTO customers (shop_id, email, country, timezone) VALUES ($1, 'sh@example.com', 'CN', 'Asia/Shanghai') RETURNING id`, sh.ID)
	h.db.Get(&unknown, `INSERT INTO customers (shop_id, email, country) VALUES ($1, 'us@example.com', 'US') RETURNING id`, sh.ID)
	auth := []string{"Authorization", "Bearer " + h.token(sh.Domain)}
	for id, want := range map[int64]string{known: "Asia/Shanghai", unknown: "Shop&#39;s (America/New_York)"} {
		resp, body := h.get(fmt.Sprintf("/app/customers/%d", id), auth...)
		if resp.StatusCode != 200 || !strings.Contains(body, "Timezone") || !strings.Contains(body, want) {
			t.Errorf("customer %d: %d, want a Timezone line with %q", id, resp.StatusCode, want)
		}
	}
}
