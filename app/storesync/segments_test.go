package storesync_test

import (
	"context"
	"fmt"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/jmoiron/sqlx"

	"github.com/cartwheel/cartwheel/app/customers"
	"github.com/cartwheel/cartwheel/app/db"
	"github.com/cartwheel/cartwheel/app/signals/signalstest"
	"github.com/cartwheel/cartwheel/app/storesync"
	"github.com/cartwheel/cartwheel/app/webhooks"
)

// signals returns the signals recorded for the test shop as sorted
// "customer kind ref" strings, then forgets them, so the next step starts
// clean.
func (e *env) signals() []string {
	e.t.Helper()
	for _, r := range signalstest.Pending(e.t, e.db) {
		if r.ShopID != e.shopID {
			e.t.Fatalf("signal recorded for shop %d, want %d", r.ShopID, e.shopID)
		}
	}
	return signalstest.Take(e.t, e.db)
}

// sig formats one expected signal like signals() does.
func sig(customer int64, kind string, ref ...any) string {
	s := fmt.Sprintf("%d %s", customer, kind)
	for _, r := range ref {
		s += fmt.Sprint(" ", r)
	}
	return s
}

func (e *env) profile(shopifyID int64) int64 {
	e.t.Helper()
	var id int64
	if err := e.db.Get(&id, `SELECT id FROM customers WHERE shop_id = $1 AND shopify_id = $2`, e.shopID, shopifyID); err != nil {
		e.t.Fatalf("profile of %d: %v", shopifyID, err)
	}
	return id
}

// wantSignals fails unless exactly the given signals were recorded.
func (e *env) wantSignals(step string, want ...string) {
	e.t.Helper()
	got := e.signals()
	sort.Strings(want)
	if !slices.Equal(got, want) {
		e.t.Fatalf("%s: signals %q, want %q", step, got, want)
	}
}

func (e *env) order(shopifyID int64) int64 {
	e.t.Helper()
	var id int64
	if err := e.db.Get(&id, `SELECT shopify_id FROM orders WHERE shop_id = $1 AND shopify_id = $2`, e.shopID, shopifyID); err != nil {
		e.t.Fatalf("order %d: %v", shopifyID, err)
	}
	return id
}

// Customer webhooks record what they changed: created, changed (and the
// consent Shopify changed), deleted; stale, duplicate and rejected
// deliveries record nothing.
func TestCustomerWebhooksRecordSignals(t *testing.T) {
	e := newEnv(t)
	other := fixture(t, "customer.json", "customer")
	other["id"] = 2
	other["email"] = "other@example.com"
	e.deliver("customers/create", js(other))
	e.signals()

	c := fixture(t, "customer.json", "customer")
	c["updated_at"] = "2018-01-01T00:00:00Z"
	e.deliver("customers/create", js(c))
	id := e.profile(1)
	e.wantSignals("customers/create", sig(id, "customer_created"))

	c["updated_at"] = "2018-02-01T00:00:00Z"
	c["tags"] = "vip"
	e.deliver("customers/update", js(c))
	e.wantSignals("customers/update", sig(id, "profile_changed"))

	// Consent changed in Shopify.
	c["updated_at"] = "2018-02-02T00:00:00Z"
	c["email_marketing_consent"] = map[string]any{"state": "subscribed", "opt_in_level": "single_opt_in",
		"consent_updated_at": "2018-02-02T00:00:00Z"}
	e.deliver("customers/update", js(c))
	e.wantSignals("consent from Shopify", sig(id, "profile_changed"), sig(id, "consent_changed"))
	// A late, older delivery writes nothing and records nothing.
	c["updated_at"] = "2017-01-01T00:00:00Z"
	c["tags"] = "stale"
	e.deliver("customers/update", js(c))
	e.wantSignals("stale customers/update")

	// A repeated delivery (same webhook id) is not applied again.
	c["updated_at"] = "2018-03-01T00:00:00Z"
	body := js(c)
	e.deliver("customers/update", body)
	e.wantSignals("customers/update", sig(id, "profile_changed"))
	if _, err := e.receiver.Receive(context.Background(), webhooks.Delivery{WebhookID: fmt.Sprintf("customers/update-%d", e.n),
		Shop: shopDomain, Topic: "customers/update", TriggeredAt: time.Now(), Body: body}); err != nil {
		t.Fatal(err)
	}
	e.wantSignals("duplicate delivery")

	// Rejected payloads record nothing.
	if out := e.deliver("customers/update", []byte(`{"email":"x@y.z"}`)); !strings.HasPrefix(out, "rejected") {
		t.Fatalf("outcome %q", out)
	}
	e.wantSignals("rejected customers/update")

	e.deliver("customers/delete", js(map[string]any{"id": 1}))
	e.wantSignals("customers/delete", sig(id, "profile_changed"))
}

// Order webhooks record order_placed the first time (with the checkout
// and cart tokens), order_updated after (paid, cancelled, refunded),
// order_fulfilled the first time it is fulfilled, and checkout_completed
// for the checkout the order completed.
func TestOrderWebhooksRecordSignals(t *testing.T) {
	e := newEnv(t)
	t0 := time.Now().Add(-48 * time.Hour).Truncate(time.Second)
	first := liveOrder(t, 1001, 555, "40.00", t0)
	e.deliver("orders/create", js(first))
	buyer := e.profile(555)
	o1 := e.order(1001)
	e.wantSignals("orders/create (new customer)", sig(buyer, "order_placed", o1))

	e.deliver("orders/create", js(liveOrder(t, 1002, 777, "10.00", t0)))
	e.wantSignals("orders/create (another customer)", sig(e.profile(777), "order_placed", e.order(1002)))

	paid := liveOrder(t, 1001, 555, "40.00", t0.Add(time.Hour))
	e.deliver("orders/paid", js(paid))
	e.wantSignals("orders/paid", sig(buyer, "order_updated", o1))

	cancelled := liveOrder(t, 1001, 555, "40.00", t0.Add(2*time.Hour))
	cancelled["cancelled_at"] = t0.Add(2 * time.Hour).Format(time.RFC3339)
	e.deliver("orders/cancelled", js(cancelled))
	e.wantSignals("orders/cancelled", sig(buyer, "order_updated", o1))

	refund := map[string]any{"id": 9001, "order_id": 1002, "created_at": t0.Add(3 * time.Hour).Format(time.RFC3339),
		"transactions": []any{map[string]any{"id": 1, "amount": "5.00", "kind": "refund", "status": "success"}}}
	e.deliver("refunds/create", js(refund))
	e.wantSignals("refunds/create", sig(e.profile(777), "order_updated", e.order(1002)))

	fulfilled := liveOrder(t, 1002, 777, "10.00", t0.Add(4*time.Hour))
	fulfilled["fulfillment_status"] = "fulfilled"
	e.deliver("orders/updated", js(fulfilled))
	e.wantSignals("first fulfilled", sig(e.profile(777), "order_updated", e.order(1002)), sig(e.profile(777), "order_fulfilled", e.order(1002)))
	fulfilled["updated_at"] = t0.Add(5 * time.Hour).Format(time.RFC3339)
	e.deliver("orders/updated", js(fulfilled))
	e.wantSignals("still fulfilled", sig(e.profile(777), "order_updated", e.order(1002)))

	// A guest order concerns no profile; a rejected one changes nothing.
	e.deliver("orders/create", js(liveOrder(t, 1003, 0, "10.00", t0)))
	e.wantSignals("guest order")
	bad := liveOrder(t, 1004, 555, "10.00", t0)
	delete(bad, "currency")
	if out := e.deliver("orders/create", js(bad)); !strings.HasPrefix(out, "rejected") {
		t.Fatalf("outcome %q", out)
	}
	e.wantSignals("rejected order")
	// An older delivery of a stored order is skipped.
	e.deliver("orders/updated", js(liveOrder(t, 1002, 777, "99.00", t0.Add(-time.Hour))))
	e.wantSignals("stale orders/updated")
}

// Shopify's documented checkout: the customer it names is created, the
// checkout started; the order that completes it records order_placed with
// its tokens and checkout_completed; a cart tied to nobody says nothing.
func TestCheckoutWebhooksRecordSignals(t *testing.T) {
	e := newEnv(t)
	e.deliver("checkouts/create", []byte(checkoutExample))
	buyer := e.profile(603851970716743426)
	e.wantSignals("checkouts/create", sig(buyer, "customer_created"), sig(buyer, "checkout_started", "123123123"))
	e.deliver("checkouts/update", []byte(strings.Replace(checkoutExample, `"updated_at": "2021-12-31T19:00:00-05:00"`,
		`"updated_at": "2021-12-31T19:05:00-05:00"`, 1)))
	e.wantSignals("checkouts/update", sig(buyer, "profile_changed"), sig(buyer, "checkout_started", "123123123"))

	o := liveOrder(t, 2001, 603851970716743426, "403.00", time.Now())
	o["checkout_token"], o["cart_token"] = "123123123", "eeafa272cebfd4b22385bc4b645e762c"
	e.deliver("orders/create", js(o))
	if rows := signalstest.Pending(t, e.db); len(rows) == 0 || rows[0].Kind != "order_placed" ||
		rows[0].Data != `{"cart_token": "eeafa272cebfd4b22385bc4b645e762c", "checkout_token": "123123123"}` {
		t.Fatalf("order_placed signal %+v", rows)
	}
	e.wantSignals("orders/create", sig(buyer, "order_placed", e.order(2001)), sig(buyer, "checkout_completed", "123123123"))

	e.deliver("carts/update", []byte(`{"id":"c1","token":"c1","line_items":[],"updated_at":"2021-12-31T19:00:00-05:00"}`))
	e.wantSignals("cart of nobody")
}

// Consent changed in Cartwheel records consent_changed with the state and
// the source; an unchanged consent records nothing.
func TestChangeConsentRecordsSignal(t *testing.T) {
	e := newEnv(t)
	e.deliver("customers/create", js(fixture(t, "customer.json", "customer")))
	id := e.profile(1)
	e.signals()
	change := func(state string) {
		t.Helper()
		if err := db.InTx(context.Background(), e.db, func(tx *sqlx.Tx) error {
			return storesync.ChangeConsent(context.Background(), tx, e.customers, e.jobs, e.shopID, customers.ConsentChange{
				CustomerID: id, State: state, OptInLevel: "single_opt_in", Source: "merchant", At: time.Now(),
			})
		}); err != nil {
			t.Fatal(err)
		}
	}
	change(customers.ConsentUnsubscribed)
	rows := signalstest.Pending(t, e.db)
	if len(rows) != 1 || rows[0].Data != `{"state": "unsubscribed", "source": "admin"}` {
		t.Fatalf("consent signal %+v", rows)
	}
	e.wantSignals("consent changed", sig(id, "consent_changed"))
	change(customers.ConsentUnsubscribed)
	e.wantSignals("consent unchanged")
}
