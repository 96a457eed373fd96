package events_test

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/jmoiron/sqlx"

	"github.com/cartwheel/cartwheel/app/customers"
	"github.com/cartwheel/cartwheel/app/db"
	"github.com/cartwheel/cartwheel/app/db/dbtest"
	"github.com/cartwheel/cartwheel/app/events"
)

// confirm is what the signed checkouts/create|update webhook does for a
// checkout naming customerID (app/storesync), in its own transaction.
func confirm(t *testing.T, d *sqlx.DB, shop int64, token string, customerID int64) bool {
	t.Helper()
	var changed bool
	err := db.InTx(context.Background(), d, func(tx *sqlx.Tx) error {
		sigs, err := events.ConfirmCheckout(context.Background(), tx, shop, token, customerID, time.Now())
		changed = len(sigs) > 0
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return changed
}

// checkoutBatch is the pixel's checkout_contact_info_submitted for token,
// with whatever email the sender typed.
func checkoutBatch(t *testing.T, visitor, id, token, email string) events.Batch {
	t.Helper()
	b, rej, err := events.Parse(batch(ev(id, "checkout_contact_info_submitted", time.Now().UTC().Format(time.RFC3339),
		fmt.Sprintf(`{"checkout": {"token": %q, "email": %q}}`, token, email))), events.SourcePixel)
	if err != nil || len(rej) != 0 {
		t.Fatal(err, rej)
	}
	b.VisitorID = visitor
	return b
}

func linkedTo(t *testing.T, d *sqlx.DB, shop int64, visitor string) int64 {
	t.Helper()
	var id int64
	d.Get(&id, `SELECT coalesce(customer_id, 0) FROM visitors WHERE shop_id = $1 AND visitor_id = $2`, shop, visitor)
	return id
}

// The attack from the issue: anonymous checkout events carrying someone
// else's email. Nothing is linked and no profile is made, however many.
func TestUnsignedCheckoutEmailLinksAndCreatesNothing(t *testing.T) {
	d := dbtest.New(t)
	shop := newShop(t, d, "attack.myshopify.com")
	ctx := context.Background()
	var victim int64
	d.Get(&victim, `INSERT INTO customers (shop_id, shopify_id, email) VALUES ($1, 501, 'victim@example.com') RETURNING id`, shop)
	in := newIngester(t, d)
	idn := events.NewIdentity(d, customers.NewStore(d))
	for i := range 20 {
		b := checkoutBatch(t, "v_attacker01", fmt.Sprint("a", i), fmt.Sprint("made-up-token-", i), fmt.Sprintf("person%d@example.com", i))
		if i == 0 {
			b.Events[0].Email = "victim@example.com"
		}
		if _, err := in.Write(ctx, shop, b); err != nil {
			t.Fatal(err)
		}
		if got, err := idn.Stitch(ctx, shop, b, 0); err != nil || got != 0 {
			t.Fatalf("stitch %d: %d %v", i, got, err)
		}
	}
	// The pixel's customer claim, even one matching a real customer, is
	// a claim too.
	claim := events.Batch{VisitorID: "v_attacker01", Customer: &events.Claim{ShopifyID: 501, Email: "victim@example.com"}}
	if got, err := idn.Stitch(ctx, shop, claim, 0); err != nil || got != 0 {
		t.Fatalf("pixel claim: %d %v", got, err)
	}
	if n := count(t, d, `SELECT count(*) FROM customers WHERE shop_id = $1`, shop); n != 1 {
		t.Fatalf("%d profiles, want only the victim's", n)
	}
	if id := linkedTo(t, d, shop, "v_attacker01"); id != 0 {
		t.Fatalf("attacker's visitor linked to %d", id)
	}
	if n := count(t, d, `SELECT count(*) FROM events WHERE customer_id IS NOT NULL`); n != 0 {
		t.Fatalf("%d events landed on a profile", n)
	}
	// A logged-in customer from Shopify's signed proxy query still links
	// (and gets a stub profile until the sync fills it in).
	got, err := idn.Stitch(ctx, shop, events.Batch{VisitorID: "visitor_login"}, 9001)
	if err != nil || got == 0 {
		t.Fatalf("login stitch: %d %v", got, err)
	}
	if n := count(t, d, `SELECT count(*) FROM customers WHERE id = $1 AND shopify_id = 9001 AND source = 'shopify'`, got); n != 1 {
		t.Error("no stub profile for the logged-in Shopify customer")
	}
}

// The legitimate sequence, both ways round: the pixel's claim on a
// checkout token is applied when the signed webhook names that token's
// customer, whether the webhook comes before or after. The visitor's
// anonymous events of the last 90 days join the profile.
func TestCheckoutTokenLinksInEitherOrder(t *testing.T) {
	d := dbtest.New(t)
	shop := newShop(t, d, "legit.myshopify.com")
	other := newShop(t, d, "legit-other.myshopify.com")
	ctx := context.Background()
	var buyer int64
	d.Get(&buyer, `INSERT INTO customers (shop_id, email) VALUES ($1, 'buyer@example.com') RETURNING id`, shop)
	in := newIngester(t, d)
	idn := events.NewIdentity(d, customers.NewStore(d))

	// Pixel first: browsing, then checkout; the claim waits.
	old := time.Now().Add(-100 * 24 * time.Hour)
	d.MustExec(`INSERT INTO events (shop_id, event_id, visitor_id, name, occurred_at, source) VALUES ($1, 'ancient', 'v_pixelfirst', 'page_viewed', $2, 'pixel')`, shop, old)
	if _, err := in.Write(ctx, shop, events.Batch{VisitorID: "v_pixelfirst", Source: events.SourcePixel,
		Events: []events.Event{pageView("b1", time.Now().Add(-time.Hour))}}); err != nil {
		t.Fatal(err)
	}
	if _, err := in.Write(ctx, other, events.Batch{VisitorID: "v_pixelfirst", Source: events.SourcePixel,
		Events: []events.Event{pageView("o1", time.Now())}}); err != nil {
		t.Fatal(err)
	}
	b := checkoutBatch(t, "v_pixelfirst", "c1", "tok-A", "")
	if _, err := in.Write(ctx, shop, b); err != nil {
		t.Fatal(err)
	}
	if got, err := idn.Stitch(ctx, shop, b, 0); err != nil || got != 0 {
		t.Fatalf("claim before the webhook: %d %v", got, err)
	}
	if linkedTo(t, d, shop, "v_pixelfirst") != 0 {
		t.Fatal("an unconfirmed claim was applied")
	}
	// A webhook for another token links nothing.
	if confirm(t, d, shop, "tok-other", buyer) {
		t.Fatal("another token linked the visitor")
	}
	if !confirm(t, d, shop, "tok-A", buyer) {
		t.Fatal("the webhook did not link the claiming visitor")
	}
	if id := linkedTo(t, d, shop, "v_pixelfirst"); id != buyer {
		t.Fatalf("visitor linked to %d, want %d", id, buyer)
	}
	if n := count(t, d, `SELECT count(*) FROM events WHERE shop_id = $1 AND customer_id = $2`, shop, buyer); n != 2 {
		t.Errorf("%d events on the profile, want 2 (b1, c1)", n)
	}
	if n := count(t, d, `SELECT count(*) FROM events WHERE customer_id IS NOT NULL AND (event_id = 'ancient' OR shop_id = $1)`, other); n != 0 {
		t.Errorf("%d events stitched that should not be", n)
	}
	var by string
	d.Get(&by, `SELECT identified_by FROM visitors WHERE shop_id = $1 AND visitor_id = 'v_pixelfirst'`, shop)
	if by != events.ByCheckout {
		t.Errorf("identified_by = %q", by)
	}
	// Later events land on the profile at insert.
	if _, err := in.Write(ctx, shop, events.Batch{VisitorID: "v_pixelfirst", Source: events.SourcePixel,
		Events: []events.Event{pageView("after", time.Now())}}); err != nil {
		t.Fatal(err)
	}
	if n := count(t, d, `SELECT count(*) FROM events WHERE event_id = 'after' AND customer_id = $1`, buyer); n != 1 {
		t.Error("event after the link is not on the profile")
	}

	// Webhook first: the claim that follows is linked at once.
	if confirm(t, d, shop, "tok-B", buyer) {
		t.Fatal("a confirmation without claims reported a link")
	}
	b = checkoutBatch(t, "v_webhookfirst", "c2", "tok-B", "")
	if _, err := in.Write(ctx, shop, b); err != nil {
		t.Fatal(err)
	}
	if got, err := idn.Stitch(ctx, shop, b, 0); err != nil || got != buyer {
		t.Fatalf("claim after the webhook: %d %v, want %d", got, err, buyer)
	}
	if id := linkedTo(t, d, shop, "v_webhookfirst"); id != buyer {
		t.Fatalf("visitor linked to %d, want %d", id, buyer)
	}
	// The same token in another shop is another checkout.
	if got, _ := idn.Stitch(ctx, other, checkoutBatch(t, "v_elsewhere1", "c3", "tok-B", ""), 0); got != 0 {
		t.Fatalf("a confirmation crossed shops: %d", got)
	}
}

// Expired claims and confirmations are never applied, and are purged.
func TestExpiredCheckoutClaimsArePurged(t *testing.T) {
	d := dbtest.New(t)
	shop := newShop(t, d, "expiry.myshopify.com")
	ctx := context.Background()
	var buyer int64
	d.Get(&buyer, `INSERT INTO customers (shop_id, email) VALUES ($1, 'late@example.com') RETURNING id`, shop)
	idn := events.NewIdentity(d, customers.NewStore(d))
	if _, err := idn.Stitch(ctx, shop, checkoutBatch(t, "v_stale0001", "c1", "tok-old", ""), 0); err != nil {
		t.Fatal(err)
	}
	d.MustExec(`UPDATE checkout_claims SET expires_at = now() - interval '1 second'`)
	if confirm(t, d, shop, "tok-old", buyer) || linkedTo(t, d, shop, "v_stale0001") != 0 {
		t.Fatal("an expired claim was applied")
	}
	d.MustExec(`UPDATE checkout_confirmations SET expires_at = now() - interval '1 second'`)
	if got, _ := idn.Stitch(ctx, shop, checkoutBatch(t, "v_stale0002", "c2", "tok-old", ""), 0); got != 0 {
		t.Fatal("an expired confirmation was applied")
	}
	d.MustExec(`UPDATE checkout_claims SET expires_at = now() - interval '1 second'`)
	n, err := events.PurgeClaims(ctx, d, time.Now())
	if err != nil || n != 3 {
		t.Fatalf("purged %d (%v), want 3", n, err)
	}
	if left := count(t, d, `SELECT (SELECT count(*) FROM checkout_claims) + (SELECT count(*) FROM checkout_confirmations)`); left != 0 {
		t.Fatalf("%d rows left", left)
	}
}

// Pixel claims and the webhook for the same token race: every claiming
// visitor ends up linked, whichever transaction commits first.
func TestCheckoutClaimsAndWebhookConcurrently(t *testing.T) {
	d := dbtest.New(t)
	shop := newShop(t, d, "race.myshopify.com")
	ctx := context.Background()
	idn := events.NewIdentity(d, customers.NewStore(d))
	const tokens, visitorsPerToken = 12, 3
	buyers := make([]int64, tokens)
	for i := range buyers {
		d.Get(&buyers[i], `INSERT INTO customers (shop_id, email) VALUES ($1, $2) RETURNING id`, shop, fmt.Sprintf("race%d@example.com", i))
	}
	var wg sync.WaitGroup
	start := make(chan struct{})
	errs := make(chan error, tokens*(visitorsPerToken+1))
	for i := range tokens {
		token := fmt.Sprintf("tok-race-%d", i)
		for v := range visitorsPerToken {
			wg.Add(1)
			go func() {
				defer wg.Done()
				<-start
				b := checkoutBatch(t, fmt.Sprintf("v_race_%02d_%d", i, v), fmt.Sprintf("e%d-%d", i, v), token, "")
				if _, err := idn.Stitch(ctx, shop, b, 0); err != nil {
					errs <- err
				}
			}()
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			err := db.InTx(ctx, d, func(tx *sqlx.Tx) error {
				_, err := events.ConfirmCheckout(ctx, tx, shop, token, buyers[i], time.Now())
				return err
			})
			if err != nil {
				errs <- err
			}
		}()
	}
	close(start)
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	for i := range tokens {
		for v := range visitorsPerToken {
			if id := linkedTo(t, d, shop, fmt.Sprintf("v_race_%02d_%d", i, v)); id != buyers[i] {
				t.Errorf("visitor %d/%d linked to %d, want %d", i, v, id, buyers[i])
			}
		}
	}
}
