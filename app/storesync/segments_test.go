package storesync_test

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/jmoiron/sqlx"

	"github.com/cartwheel/cartwheel/app/customers"
	"github.com/cartwheel/cartwheel/app/db"
	"github.com/cartwheel/cartwheel/app/storesync"
	"github.com/cartwheel/cartwheel/app/webhooks"
)

// refreshes returns the customers with a queued segments.refresh_customer
// job of the test shop (customer id → jobs), then forgets them, so the next
// step starts clean (and isn't coalesced into the jobs already there).
func (e *env) refreshes() map[int64]int {
	e.t.Helper()
	var rows []struct {
		Shop     int64 `db:"shop"`
		Customer int64 `db:"customer"`
	}
	if err := e.db.Select(&rows, `SELECT (args->>'shop_id')::bigint AS shop, (args->>'customer_id')::bigint AS customer
		FROM river_job WHERE kind = 'segments.refresh_customer'`); err != nil {
		e.t.Fatal(err)
	}
	e.db.MustExec(`DELETE FROM river_job WHERE kind = 'segments.refresh_customer'`)
	out := map[int64]int{}
	for _, r := range rows {
		if r.Shop != e.shopID {
			e.t.Fatalf("refresh queued for shop %d, want %d", r.Shop, e.shopID)
		}
		out[r.Customer]++
	}
	return out
}

func (e *env) profile(shopifyID int64) int64 {
	e.t.Helper()
	var id int64
	if err := e.db.Get(&id, `SELECT id FROM customers WHERE shop_id = $1 AND shopify_id = $2`, e.shopID, shopifyID); err != nil {
		e.t.Fatalf("profile of %d: %v", shopifyID, err)
	}
	return id
}

// wantRefresh fails unless exactly the given profiles got one job each.
func (e *env) wantRefresh(step string, ids ...int64) {
	e.t.Helper()
	got := e.refreshes()
	want := map[int64]int{}
	for _, id := range ids {
		want[id] = 1
	}
	if len(got) != len(want) {
		e.t.Fatalf("%s: refreshes queued for %v, want %v", step, got, want)
	}
	for id := range want {
		if got[id] != 1 {
			e.t.Fatalf("%s: refreshes queued for %v, want %v", step, got, want)
		}
	}
}

func TestCustomerWebhooksQueueSegmentRefresh(t *testing.T) {
	e := newEnv(t)
	other := fixture(t, "customer.json", "customer")
	other["id"] = 2
	other["email"] = "other@example.com"
	e.deliver("customers/create", js(other))
	e.refreshes()

	c := fixture(t, "customer.json", "customer")
	c["updated_at"] = "2018-01-01T00:00:00Z"
	e.deliver("customers/create", js(c))
	id := e.profile(1)
	e.wantRefresh("customers/create", id)

	c["updated_at"] = "2018-02-01T00:00:00Z"
	c["tags"] = "vip"
	e.deliver("customers/update", js(c))
	e.wantRefresh("customers/update", id)

	// A late, older delivery writes nothing and queues nothing.
	c["updated_at"] = "2017-01-01T00:00:00Z"
	c["tags"] = "stale"
	e.deliver("customers/update", js(c))
	e.wantRefresh("stale customers/update")

	// A repeated delivery (same webhook id) is not applied again.
	c["updated_at"] = "2018-03-01T00:00:00Z"
	body := js(c)
	e.deliver("customers/update", body)
	e.wantRefresh("customers/update", id)
	if _, err := e.receiver.Receive(context.Background(), webhooks.Delivery{WebhookID: fmt.Sprintf("customers/update-%d", e.n),
		Shop: shopDomain, Topic: "customers/update", TriggeredAt: time.Now(), Body: body}); err != nil {
		t.Fatal(err)
	}
	e.wantRefresh("duplicate delivery")

	// Rejected payloads queue nothing.
	if out := e.deliver("customers/update", []byte(`{"email":"x@y.z"}`)); !strings.HasPrefix(out, "rejected") {
		t.Fatalf("outcome %q", out)
	}
	e.wantRefresh("rejected customers/update")

	e.deliver("customers/delete", js(map[string]any{"id": 1}))
	e.wantRefresh("customers/delete", id)
}

func TestOrderWebhooksQueueSegmentRefresh(t *testing.T) {
	e := newEnv(t)
	t0 := time.Now().Add(-48 * time.Hour).Truncate(time.Second)
	e.deliver("orders/create", js(liveOrder(t, 1001, 555, "40.00", t0)))
	buyer := e.profile(555)
	e.wantRefresh("orders/create (new customer)", buyer)

	e.deliver("orders/create", js(liveOrder(t, 1002, 777, "10.00", t0)))
	e.wantRefresh("orders/create (another customer)", e.profile(777))

	paid := liveOrder(t, 1001, 555, "40.00", t0.Add(time.Hour))
	e.deliver("orders/paid", js(paid))
	e.wantRefresh("orders/paid", buyer)

	cancelled := liveOrder(t, 1001, 555, "40.00", t0.Add(2*time.Hour))
	cancelled["cancelled_at"] = t0.Add(2 * time.Hour).Format(time.RFC3339)
	e.deliver("orders/cancelled", js(cancelled))
	e.wantRefresh("orders/cancelled", buyer)

	refund := map[string]any{"id": 9001, "order_id": 1002, "created_at": t0.Add(3 * time.Hour).Format(time.RFC3339),
		"transactions": []any{map[string]any{"id": 1, "amount": "5.00", "kind": "refund", "status": "success"}}}
	e.deliver("refunds/create", js(refund))
	e.wantRefresh("refunds/create", e.profile(777))

	// A guest order concerns no profile; a rejected one changes nothing.
	e.deliver("orders/create", js(liveOrder(t, 1003, 0, "10.00", t0)))
	e.wantRefresh("guest order")
	bad := liveOrder(t, 1004, 555, "10.00", t0)
	delete(bad, "currency")
	if out := e.deliver("orders/create", js(bad)); !strings.HasPrefix(out, "rejected") {
		t.Fatalf("outcome %q", out)
	}
	e.wantRefresh("rejected order")
	// An older delivery of a stored order is skipped.
	e.deliver("orders/updated", js(liveOrder(t, 1002, 777, "99.00", t0.Add(-time.Hour))))
	e.wantRefresh("stale orders/updated")
}

func TestCheckoutWithCustomerQueuesSegmentRefresh(t *testing.T) {
	e := newEnv(t)
	e.deliver("checkouts/create", []byte(checkoutExample))
	e.wantRefresh("checkouts/create", e.profile(603851970716743426))
}

func TestChangeConsentQueuesSegmentRefresh(t *testing.T) {
	e := newEnv(t)
	e.deliver("customers/create", js(fixture(t, "customer.json", "customer")))
	id := e.profile(1)
	e.refreshes()
	change := func(state string) {
		t.Helper()
		if err := db.InTx(context.Background(), e.db, func(tx *sqlx.Tx) error {
			return storesync.ChangeConsent(context.Background(), tx, e.customers, e.jobs, e.shopID, customers.ConsentChange{
				CustomerID: id, State: state, OptInLevel: "single_opt_in", Source: "unsubscribe", At: time.Now(),
			})
		}); err != nil {
			t.Fatal(err)
		}
	}
	change(customers.ConsentUnsubscribed)
	e.wantRefresh("consent changed", id)
	change(customers.ConsentUnsubscribed)
	e.wantRefresh("consent unchanged")
}
