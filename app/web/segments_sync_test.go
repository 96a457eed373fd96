package web_test

import (
	"encoding/json"
	"net/http"
	"testing"
	"time"

	"github.com/cartwheel/cartwheel/app/segments"
	"github.com/cartwheel/cartwheel/app/shopify/shopifytest"
)

// End to end through the app as wired: a customer outside a segment places
// an order (webhook → processing job → figures), the refresh job it queued
// runs, and the customer is a member.
func TestOrderWebhookMovesCustomerIntoSegment(t *testing.T) {
	h := newHarness(t, harnessOpts{workers: true})
	const shop = "seg-e2e.myshopify.com"
	sh := h.install(shop)
	hundred := 100.0
	seg, err := segments.NewStore(h.db).Create(t.Context(), sh.ID, "Spent 100+", segments.Rules{Version: segments.Version,
		Root: segments.Group{Op: "and", Items: []segments.Node{{Condition: &segments.Condition{
			Field: segments.FieldTotalSpent, Op: "gte", Number: &hundred}}}}}, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	// A write records its signals in its own transaction: once the row is
	// there and no signal is pending, the consumer has refreshed it.
	consumed := func(written string) func() bool {
		return func() bool {
			return h.count(written, sh.ID) == 1 && h.count(`SELECT count(*) FROM customer_signals WHERE shop_id = $1`, sh.ID) == 0
		}
	}
	send := func(topic string, body map[string]any) {
		t.Helper()
		raw, _ := json.Marshal(body)
		if code, resp := h.sendWebhook(shopifytest.Webhook{Topic: topic, Shop: shop, Body: raw, TriggeredAt: time.Now()}); code != http.StatusOK {
			t.Fatalf("%s: %d %s", topic, code, resp)
		}
	}
	unwrap := func(name, envelope string) map[string]any {
		var m map[string]any
		if err := json.Unmarshal(fixture(t, name, envelope), &m); err != nil {
			t.Fatal(err)
		}
		return m
	}

	customer := unwrap("customer.json", "customer")
	customer["id"] = 4242
	customer["email"] = "big.spender@example.com"
	customer["updated_at"] = time.Now().Add(-time.Hour).Format(time.RFC3339)
	send("customers/create", customer)
	h.eventually("the new customer's refresh", consumed(`SELECT count(*) FROM customers WHERE shop_id = $1 AND shopify_id = 4242`))
	var cust int64
	if err := h.db.Get(&cust, `SELECT id FROM customers WHERE shop_id = $1 AND shopify_id = 4242`, sh.ID); err != nil {
		t.Fatal(err)
	}
	member := func() int {
		return h.count(`SELECT count(*) FROM segment_members WHERE segment_id = $1 AND customer_id = $2`, seg.ID, cust)
	}
	if member() != 0 {
		t.Fatal("a customer without orders is in the segment")
	}

	order := unwrap("order.json", "order")
	order["id"] = 90001
	order["cancelled_at"] = nil
	order["test"] = false
	order["total_price"] = "150.00"
	order["processed_at"] = time.Now().Add(-time.Minute).Format(time.RFC3339)
	order["updated_at"] = time.Now().Add(-time.Minute).Format(time.RFC3339)
	order["customer"] = customer
	order["email"] = customer["email"]
	send("orders/create", order)
	h.eventually("the order's refresh", consumed(`SELECT count(*) FROM orders WHERE shop_id = $1 AND shopify_id = 90001`))
	if member() != 1 {
		t.Fatal("the customer is not in the segment after their order")
	}
	if n := h.count(`SELECT count(*) FROM segment_changes WHERE segment_id = $1 AND customer_id = $2 AND change = 'entered'`, seg.ID, cust); n != 1 {
		t.Fatalf("entries logged: %d", n)
	}
}
