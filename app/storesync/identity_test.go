package storesync_test

import (
	"context"
	"encoding/json"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/riverqueue/river"
	"github.com/riverqueue/river/rivertype"

	"github.com/cartwheel/cartwheel/app/events"
	"github.com/cartwheel/cartwheel/app/webhooks"
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

// A checkout webhook and pixel claims of the same token at the same moment
// (the usual case: Shopify sends checkouts/update within seconds of the
// pixel's checkout events) neither deadlock nor lose a link: the webhook
// locks the profile when it upserts the customer, so it must take the
// checkout's lock before that, in the order a claim takes them.
func TestCheckoutWebhooksAndClaimsConcurrently(t *testing.T) {
	e := newEnv(t)
	if out := e.deliver("checkouts/create", []byte(checkoutExample)); out != "checkout 123123123 stored" {
		t.Fatalf("outcome %q", out)
	}
	var john int64
	if err := e.db.Get(&john, `SELECT id FROM customers WHERE shop_id = $1 AND shopify_id = 603851970716743426`, e.shopID); err != nil {
		t.Fatal(err)
	}
	const rounds, visitors = 6, 6
	ctx := context.Background()
	errs := make(chan error, rounds*(visitors+1))
	for r := 0; r < rounds; r++ {
		var wg sync.WaitGroup
		start := make(chan struct{})
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			id := fmt.Sprintf("checkouts/update-concurrent-%d", r)
			if _, err := e.receiver.Receive(ctx, webhooks.Delivery{WebhookID: id, Shop: shopDomain, Topic: "checkouts/update",
				TriggeredAt: time.Now(), Body: []byte(checkoutExample)}); err != nil {
				errs <- err
				return
			}
			job := &river.Job[webhooks.ProcessArgs]{JobRow: &rivertype.JobRow{}, Args: webhooks.ProcessArgs{WebhookID: id}}
			if err := e.processor.Work(ctx, job); err != nil {
				errs <- fmt.Errorf("webhook: %w", err)
			}
		}()
		for v := 0; v < visitors; v++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				<-start
				b := events.Batch{VisitorID: fmt.Sprintf("v_conc_%d_%d", r, v), Source: events.SourcePixel,
					Events: []events.Event{{ID: fmt.Sprintf("co-%d-%d", r, v), Name: "checkout_started", OccurredAt: time.Now().UTC(),
						Data: json.RawMessage(`{}`), CheckoutToken: "123123123"}}}
				if _, err := events.NewIdentity(e.db, e.customers).Stitch(ctx, e.shopID, b, 0); err != nil {
					errs <- fmt.Errorf("claim: %w", err)
				}
			}()
		}
		close(start)
		wg.Wait()
	}
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	if n := e.count(`SELECT count(*) FROM visitors WHERE visitor_id LIKE 'v_conc_%' AND customer_id = $1`, john); n != rounds*visitors {
		t.Fatalf("%d of %d claiming visitors linked", n, rounds*visitors)
	}
}
