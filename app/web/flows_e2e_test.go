package web_test

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/cartwheel/cartwheel/app/flows"
	"github.com/cartwheel/cartwheel/app/shopify/shopifytest"
)

// testClock is the app's clock, moved by the test.
type testClock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *testClock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.now }
func (c *testClock) advance(d time.Duration) time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
	return c.now
}

// readyToSend gives the shop a verified sender, a postal address and the
// abandoned-checkout preset, live.
func readyToSend(t *testing.T, h *harness, shopID int64) int64 {
	t.Helper()
	h.db.MustExec(`UPDATE shops SET sender_email = 'shop@example.com', sender_name = 'Shop', postal_address = '1 Main St, Springfield' WHERE id = $1`, shopID)
	h.db.MustExec(`INSERT INTO sender_verifications (shop_id, email, token_hash, sent_at, verified_at) VALUES ($1, 'shop@example.com', decode(md5(random()::text), 'hex'), now(), now())`, shopID)
	st := &flows.Store{DB: h.db, Lifecycle: h.app.Flows}
	f, err := st.CreateFromPreset(context.Background(), shopID, flows.PresetAbandonedCheckout, "en")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := st.Publish(context.Background(), shopID, f.ID, false); err != nil {
		t.Fatal(err)
	}
	h.db.MustExec(`INSERT INTO products (shop_id, shopify_id, title, handle, status, price_min, price_max, published_at)
		VALUES ($1, 632910392, 'IPod Nano - 8GB', 'ipod-nano', 'active', 42, 42, now())`, shopID)
	return f.ID
}

func checkoutWebhook(token, email string, at time.Time) []byte {
	return []byte(fmt.Sprintf(`{"id": %d, "token": %q, "cart_token": "c-%s", "email": %q, "created_at": %q, "updated_at": %q,
		"currency": "USD", "total_price": "42.00", "abandoned_checkout_url": "https://shop.example/recover/%s",
		"customer": {"id": 7001, "email": %q},
		"line_items": [{"id": 1, "product_id": 632910392, "variant_id": 808950810, "title": "IPod Nano - 8GB", "quantity": 1, "price": "42.00"}]}`,
		time.Now().UnixNano()%1e9, token, token, email, at.UTC().Format(time.RFC3339), at.UTC().Format(time.RFC3339), token, email))
}

func orderWebhook(id int64, email string, at time.Time) []byte {
	return []byte(fmt.Sprintf(`{"id": %d, "email": %q, "created_at": %q, "updated_at": %q, "processed_at": %q,
		"currency": "USD", "total_price": "42.00", "subtotal_price": "42.00", "financial_status": "paid",
		"customer": {"id": 7001, "email": %q},
		"line_items": [{"id": 2, "product_id": 632910392, "variant_id": 808950810, "title": "IPod Nano - 8GB", "quantity": 1, "price": "42.00"}]}`,
		id, email, at.UTC().Format(time.RFC3339), at.UTC().Format(time.RFC3339), at.UTC().Format(time.RFC3339), email))
}

// End to end on the controllable clock: a storefront cart, the signed
// checkout webhook, the abandoned-checkout preset sends day 1 and day 3;
// the order's webhook ends the run and day 5 never goes.
func TestAbandonedCheckoutFlowEndToEnd(t *testing.T) {
	clock := &testClock{now: time.Now()}
	h := newHarness(t, harnessOpts{workers: true, now: clock.Now})
	sh := h.install("flows-e2e.myshopify.com")
	flowID := readyToSend(t, h, sh.ID)
	var cust int64
	h.db.Get(&cust, `INSERT INTO customers (shop_id, shopify_id, email, email_consent, first_name) VALUES ($1, 7001, 'buyer@example.com', 'subscribed', 'Bea') RETURNING id`, sh.ID)
	ctx := context.Background()

	h.ingest(ingestBody(sh.Domain, "v_cart", ingestEvent("c1", "product_added_to_cart",
		`{"cartLine": {"merchandise": {"id": "808950810", "product": {"id": "632910392", "title": "IPod Nano - 8GB"}}, "quantity": 1}}`)))
	if code, out := h.sendWebhook(shopifytest.Webhook{Topic: "checkouts/create", Shop: sh.Domain, Body: checkoutWebhook("tok-e2e", "buyer@example.com", clock.Now())}); code != 200 {
		t.Fatalf("checkout webhook: %d %s", code, out)
	}
	h.eventually("the run started by the checkout", func() bool {
		return h.count(`SELECT count(*) FROM flow_runs WHERE flow_id = $1 AND customer_id = $2 AND trigger_ref = 'tok-e2e'`, flowID, cust) == 1
	})
	emails := func() int {
		return h.count(`SELECT count(*) FROM outbox_messages o JOIN email_messages m ON m.id = o.message_id WHERE m.flow_id = $1`, flowID)
	}
	runDue := func(d time.Duration) {
		t.Helper()
		if _, err := h.app.Flows.RunDue(ctx, sh.ID, clock.advance(d)); err != nil {
			t.Fatal(err)
		}
	}
	runDue(30 * time.Minute)
	if n := h.count(`SELECT count(*) FROM email_messages WHERE flow_id = $1`, flowID); n != 0 {
		t.Fatalf("%d emails within the trigger's hour", n)
	}
	runDue(24 * time.Hour)
	h.eventually("the day-1 email in the outbox", func() bool { return emails() == 1 })
	runDue(2 * 24 * time.Hour)
	if emails() != 2 {
		var rows []string
		h.db.Select(&rows, `SELECT step_id || ' ' || outcome || ' ' || reason || ' ' || at::text FROM flow_run_steps WHERE flow_id = $1 ORDER BY id`, flowID)
		var runs []string
		h.db.Select(&runs, `SELECT status || ' ' || step_id || ' ' || phase || ' ' || COALESCE(wake_at::text, '-') || ' ' || end_reason FROM flow_runs WHERE flow_id = $1`, flowID)
		var msgs []string
		h.db.Select(&msgs, `SELECT flow_step || ' ' || status || ' ' || skip_reason || ' ' || last_error FROM email_messages WHERE flow_id = $1`, flowID)
		t.Logf("steps %v\nruns %v\nmsgs %v\nclock %v", rows, runs, msgs, clock.Now())
	}
	h.eventually("the day-3 email in the outbox", func() bool { return emails() == 2 })
	var html string
	h.db.Get(&html, `SELECT o.html FROM outbox_messages o JOIN email_messages m ON m.id = o.message_id WHERE m.flow_id = $1 ORDER BY o.id LIMIT 1`, flowID)
	if !contains(html, "IPod Nano") || !contains(html, "Bea") {
		t.Errorf("the day-1 email doesn't show the cart and the name:\n%.600s", html)
	}

	if code, out := h.sendWebhook(shopifytest.Webhook{Topic: "orders/create", Shop: sh.Domain, Body: orderWebhook(9001, "buyer@example.com", clock.advance(time.Hour))}); code != 200 {
		t.Fatalf("order webhook: %d %s", code, out)
	}
	h.eventually("the run ended by the order", func() bool {
		return h.count(`SELECT count(*) FROM flow_runs WHERE flow_id = $1 AND status = 'exited'`, flowID) == 1
	})
	runDue(3 * 24 * time.Hour)
	if n := h.count(`SELECT count(*) FROM email_messages WHERE flow_id = $1`, flowID); n != 2 {
		t.Fatalf("%d flow emails after the order, want 2 (no day 5)", n)
	}
}

// The order's webhook arrives before the checkout's: no email at all.
func TestAbandonedCheckoutFlowOrderFirst(t *testing.T) {
	clock := &testClock{now: time.Now()}
	h := newHarness(t, harnessOpts{workers: true, now: clock.Now})
	sh := h.install("flows-e2e2.myshopify.com")
	flowID := readyToSend(t, h, sh.ID)
	h.db.MustExec(`INSERT INTO customers (shop_id, shopify_id, email, email_consent) VALUES ($1, 7001, 'early@example.com', 'subscribed')`, sh.ID)
	started := clock.Now()
	if code, _ := h.sendWebhook(shopifytest.Webhook{Topic: "orders/create", Shop: sh.Domain, Body: orderWebhook(9002, "early@example.com", started.Add(5*time.Minute))}); code != 200 {
		t.Fatal("order webhook refused")
	}
	h.eventually("the order stored", func() bool {
		return h.count(`SELECT count(*) FROM orders WHERE shop_id = $1 AND shopify_id = 9002 AND customer_id IS NOT NULL`, sh.ID) == 1
	})
	if code, _ := h.sendWebhook(shopifytest.Webhook{Topic: "checkouts/update", Shop: sh.Domain, Body: checkoutWebhook("tok-late", "early@example.com", started)}); code != 200 {
		t.Fatal("checkout webhook refused")
	}
	h.eventually("the checkout processed", func() bool {
		return h.count(`SELECT count(*) FROM checkouts WHERE shop_id = $1 AND token = 'tok-late'`, sh.ID) == 1 &&
			h.count(`SELECT count(*) FROM customer_signals WHERE shop_id = $1`, sh.ID) == 0
	})
	for _, d := range []time.Duration{2 * time.Hour, 24 * time.Hour, 3 * 24 * time.Hour, 3 * 24 * time.Hour} {
		if _, err := h.app.Flows.RunDue(context.Background(), sh.ID, clock.advance(d)); err != nil {
			t.Fatal(err)
		}
	}
	if n := h.count(`SELECT count(*) FROM email_messages WHERE flow_id = $1`, flowID); n != 0 {
		t.Fatalf("%d abandoned-checkout emails for a checkout already ordered", n)
	}
}

func contains(s, sub string) bool { return strings.Contains(s, sub) }

// The editor's dry run counts from the shop's stored checkouts and orders,
// and only the shop's own.
func TestFlowDryRunPage(t *testing.T) {
	h := newHarness(t, harnessOpts{})
	a, b := h.install("dry-a.myshopify.com"), h.install("dry-b.myshopify.com")
	st := &flows.Store{DB: h.db}
	f, err := st.CreateFromPreset(context.Background(), a.ID, flows.PresetAbandonedCheckout, "en")
	if err != nil {
		t.Fatal(err)
	}
	for _, sh := range []int64{a.ID, b.ID} {
		var c int64
		h.db.Get(&c, `INSERT INTO customers (shop_id, email, email_consent) VALUES ($1, 'dry@example.com', 'subscribed') RETURNING id`, sh)
		h.db.MustExec(`INSERT INTO checkouts (shop_id, token, kind, customer_id, total_price, shopify_created_at, shopify_updated_at)
			VALUES ($1, 'dry-tok', 'checkout', $2, 30, now() - interval '10 days', now() - interval '10 days')`, sh, c)
	}
	auth := []string{"Authorization", "Bearer " + h.token(a.Domain)}
	_, editor := h.get(fmt.Sprintf("/app/flows/%d", f.ID), auth...)
	if !strings.Contains(editor, "/dry-run") {
		t.Fatal("the editor doesn't offer the dry run")
	}
	resp, body := h.get(fmt.Sprintf("/app/flows/%d/dry-run", f.ID), auth...)
	if resp.StatusCode != 200 || !strings.Contains(body, `data-dry-run-entered="1"`) || !strings.Contains(body, `data-dry-run-emails="3"`) {
		t.Fatalf("dry run: %d\n%s", resp.StatusCode, body)
	}
	other := []string{"Authorization", "Bearer " + h.token(b.Domain)}
	if resp, _ := h.get(fmt.Sprintf("/app/flows/%d/dry-run", f.ID), other...); resp.StatusCode != 404 {
		t.Fatalf("another shop's dry run: %d, want 404", resp.StatusCode)
	}
}
