package storesync_test

import (
	"context"
	"encoding/json"
	"testing"
	"time"

	"github.com/cartwheel/cartwheel/app/events"
)

// claim is the web pixel's checkout event for token from visitor, as
// app/events stitches it after storing the batch.
func (e *env) claim(visitor, token string) int64 {
	e.t.Helper()
	b := events.Batch{VisitorID: visitor, Source: events.SourcePixel, Events: []events.Event{{ID: "co-" + visitor,
		Name: "checkout_started", OccurredAt: time.Now().UTC(), Data: json.RawMessage(`{}`), CheckoutToken: token}}}
	id, err := events.NewIdentity(e.db, e.customers).Stitch(context.Background(), e.shopID, b, 0)
	if err != nil {
		e.t.Fatal(err)
	}
	return id
}

// Shopify's documented checkouts/create (with its customer) confirms the
// token: the visitor that claimed it before is linked to that customer,
// and one claiming it afterwards is linked at once.
func TestCheckoutWebhookLinksClaimingVisitors(t *testing.T) {
	e := newEnv(t)
	if id := e.claim("v_before_hook", "123123123"); id != 0 {
		t.Fatalf("an unconfirmed claim linked the visitor to %d", id)
	}
	if out := e.deliver("checkouts/create", []byte(checkoutExample)); out != "checkout 123123123 stored" {
		t.Fatalf("outcome %q", out)
	}
	var john int64
	if err := e.db.Get(&john, `SELECT id FROM customers WHERE shop_id = $1 AND shopify_id = 603851970716743426`, e.shopID); err != nil {
		t.Fatal(err)
	}
	if n := e.count(`SELECT count(*) FROM visitors WHERE visitor_id = 'v_before_hook' AND customer_id = $1 AND identified_by = 'checkout'`, john); n != 1 {
		t.Fatal("the visitor that claimed the checkout was not linked by the webhook")
	}
	if id := e.claim("v_after_hook", "123123123"); id != john {
		t.Fatalf("claim after the webhook linked to %d, want %d", id, john)
	}
	// A token no webhook named links nobody.
	if id := e.claim("v_other_tok", "999"); id != 0 {
		t.Fatalf("unconfirmed token linked to %d", id)
	}
}
