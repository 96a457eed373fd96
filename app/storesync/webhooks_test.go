package storesync_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jmoiron/sqlx"
	"github.com/riverqueue/river"
	"github.com/riverqueue/river/rivertype"
	"github.com/shopspring/decimal"

	"github.com/cartwheel/cartwheel/app/catalog"
	"github.com/cartwheel/cartwheel/app/customers"
	"github.com/cartwheel/cartwheel/app/db"
	"github.com/cartwheel/cartwheel/app/db/dbtest"
	"github.com/cartwheel/cartwheel/app/jobs"
	"github.com/cartwheel/cartwheel/app/orders"
	"github.com/cartwheel/cartwheel/app/privacy"
	"github.com/cartwheel/cartwheel/app/secretbox"
	"github.com/cartwheel/cartwheel/app/shops"
	"github.com/cartwheel/cartwheel/app/storesync"
	"github.com/cartwheel/cartwheel/app/webhooks"
)

const shopDomain = "sync-store.myshopify.com"

type env struct {
	t         testing.TB
	db        *sqlx.DB
	shopID    int64
	shops     *shops.Store
	customers *customers.Store
	orders    *orders.Store
	receiver  *webhooks.Receiver
	processor *webhooks.Processor
	jobs      *jobs.Client
	n         int
}

func newEnv(t testing.TB) *env {
	t.Helper()
	d := dbtest.New(t)
	box, _ := secretbox.New(bytes.Repeat([]byte{4}, 32))
	sh := shops.NewStore(d, box)
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	cs := customers.NewStore(d)
	ord := orders.NewStore(d, cs)
	p := webhooks.NewProcessor(d, sh, privacy.NewService(d), log)
	sync := storesync.New(sh, cs, ord, catalog.NewStore(d), log)
	sync.Register(p)
	workers := river.NewWorkers()
	river.AddWorker(workers, p)
	// Registered so consent pushes can be queued;
	// tests work them directly.
	river.AddWorker(workers, storesync.NewConsentPusher(sh, cs, nil, log))
	jc, err := jobs.New(d.DB, workers, jobs.Options{Logger: log})
	if err != nil {
		t.Fatal(err)
	}
	sync.QueueWith(jc)
	var shop shops.Shop
	if err := db.InTx(context.Background(), d, func(tx *sqlx.Tx) error {
		var err error
		shop, err = sh.Install(context.Background(), tx, shopDomain, "shpat_x", "", time.Now().Add(-time.Hour))
		return err
	}); err != nil {
		t.Fatal(err)
	}
	return &env{t: t, db: d, shopID: shop.ID, shops: sh, customers: cs, orders: ord, receiver: webhooks.NewReceiver(d, jc), processor: p, jobs: jc}
}

// deliver receives and applies one webhook the way the job would, and
// returns the outcome recorded on the delivery.
func (e *env) deliver(topic string, body []byte) string {
	e.t.Helper()
	e.n++
	id := fmt.Sprintf("%s-%d", topic, e.n)
	if _, err := e.receiver.Receive(context.Background(), webhooks.Delivery{WebhookID: id, Shop: shopDomain, Topic: topic,
		TriggeredAt: time.Now(), Body: body}); err != nil {
		e.t.Fatalf("receive %s: %v", topic, err)
	}
	job := &river.Job[webhooks.ProcessArgs]{JobRow: &rivertype.JobRow{}, Args: webhooks.ProcessArgs{WebhookID: id}}
	if err := e.processor.Work(context.Background(), job); err != nil {
		e.t.Fatalf("apply %s: %v", topic, err)
	}
	var outcome string
	e.db.Get(&outcome, "SELECT outcome FROM webhook_deliveries WHERE webhook_id = $1", id)
	return outcome
}

func (e *env) count(q string, args ...any) int {
	e.t.Helper()
	var n int
	if err := e.db.Get(&n, q, args...); err != nil {
		e.t.Fatal(err)
	}
	return n
}

// fixture loads one of go-shopify's fixtures, unwrapped from its envelope,
// as a generic map the test can adjust (a real payload, then edited).
func fixture(t *testing.T, name, envelope string) map[string]any {
	t.Helper()
	raw, err := os.ReadFile(filepath.Join(fixtureDir(), name))
	if err != nil {
		t.Fatalf("go-shopify fixture %s: %v", name, err)
	}
	var m map[string]any
	if err := json.Unmarshal(raw, &m); err != nil {
		t.Fatal(err)
	}
	if envelope == "" {
		return m
	}
	return m[envelope].(map[string]any)
}

func fixtureDir() string {
	mod := os.Getenv("GOMODCACHE")
	if mod == "" {
		home, _ := os.UserHomeDir()
		mod = filepath.Join(home, "go", "pkg", "mod")
		if gp := os.Getenv("GOPATH"); gp != "" {
			mod = filepath.Join(strings.Split(gp, ":")[0], "pkg", "mod")
		}
	}
	return filepath.Join(mod, "github.com", "bold-commerce", "go-shopify", "v4@v4.7.0", "fixtures")
}

func js(v any) []byte {
	b, _ := json.Marshal(v)
	return b
}

// liveOrder turns go-shopify's order fixture (a cancelled test order with no
// customer) into a live order of the given customer.
func liveOrder(t *testing.T, id, customerID int64, total string, updated time.Time) map[string]any {
	o := fixture(t, "order.json", "order")
	o["id"] = id
	o["name"] = fmt.Sprintf("#%d", id)
	o["cancelled_at"] = nil
	o["test"] = false
	o["total_price"] = total
	o["updated_at"] = updated.Format(time.RFC3339)
	o["processed_at"] = updated.Format(time.RFC3339)
	if customerID != 0 {
		c := fixture(t, "customer.json", "customer")
		c["id"] = customerID
		c["email"] = fmt.Sprintf("buyer%d@example.com", customerID)
		c["updated_at"] = "2017-09-23T18:15:47-00:00"
		o["customer"] = c
		o["email"] = c["email"]
	}
	items := o["line_items"].([]any)
	for i, li := range items {
		li.(map[string]any)["id"] = id*10 + int64(i)
	}
	return o
}

func TestCustomerWebhooks(t *testing.T) {
	e := newEnv(t)
	c := fixture(t, "customer.json", "customer")
	// Shopify sends this deprecated field as a string; go-shopify types it bool.
	c["marketing_opt_in_level"] = "single_opt_in"
	if out := e.deliver("customers/create", js(c)); !strings.Contains(out, "stored as profile") {
		t.Fatalf("outcome %q", out)
	}
	var row struct {
		Email, Consent, Level, City, Country string
		Tags                                 string
	}
	e.db.QueryRow(`SELECT email, email_consent, email_opt_in_level, city, country, array_to_string(tags, ',')
		FROM customers WHERE shop_id = $1 AND shopify_id = 1`, e.shopID).Scan(&row.Email, &row.Consent, &row.Level, &row.City, &row.Country, &row.Tags)
	if row.Email != "test@example.com" || row.Consent != "not_subscribed" || row.Level != "single_opt_in" ||
		row.City != "BRISBANE" || row.Country != "AU" || row.Tags != "tag1,tag2" {
		t.Fatalf("stored %+v", row)
	}

	// Subscribed later: stored, with a history entry.
	c["updated_at"] = "2018-01-01T00:00:00Z"
	c["email_marketing_consent"] = map[string]any{"state": "subscribed", "opt_in_level": "confirmed_opt_in", "consent_updated_at": "2018-01-01T00:00:00Z"}
	c["first_name"] = "Newer"
	e.deliver("customers/update", js(c))
	if n := e.count(`SELECT count(*) FROM consent_events WHERE shop_id = $1 AND state = 'subscribed' AND source = 'shopify'`, e.shopID); n != 1 {
		t.Fatalf("consent history entries: %d", n)
	}

	// An older delivery arriving late changes nothing.
	c["updated_at"] = "2017-12-01T00:00:00Z"
	c["first_name"] = "Stale"
	c["email_marketing_consent"] = map[string]any{"state": "unsubscribed", "opt_in_level": "single_opt_in", "consent_updated_at": "2017-12-01T00:00:00Z"}
	e.deliver("customers/update", js(c))
	var name, consent string
	e.db.QueryRow(`SELECT first_name, email_consent FROM customers WHERE shopify_id = 1`).Scan(&name, &consent)
	if name != "Newer" || consent != "subscribed" {
		t.Fatalf("a stale delivery overwrote newer data: %s %s", name, consent)
	}

	// Missing email: stored without one.
	noEmail := fixture(t, "customer.json", "customer")
	noEmail["id"] = 2
	delete(noEmail, "email")
	e.deliver("customers/create", js(noEmail))
	if n := e.count(`SELECT count(*) FROM customers WHERE shopify_id = 2 AND email IS NULL`); n != 1 {
		t.Fatal("customer without email not stored")
	}

	// Delete is soft.
	e.deliver("customers/delete", js(map[string]any{"id": 1}))
	if n := e.count(`SELECT count(*) FROM customers WHERE shopify_id = 1 AND deleted_at IS NOT NULL`); n != 1 {
		t.Fatal("customer not soft-deleted")
	}

	// Malformed payloads are recorded, not retried, and store nothing.
	before := e.count(`SELECT count(*) FROM customers`)
	for _, body := range []string{`{"id":"not-a-number"}`, `{"email":"x@y.z"}`} {
		if out := e.deliver("customers/update", []byte(body)); !strings.HasPrefix(out, "rejected") {
			t.Errorf("%s: outcome %q", body, out)
		}
	}
	if e.count(`SELECT count(*) FROM customers`) != before {
		t.Fatal("a rejected payload stored something")
	}
}

func TestOrderWebhooksAndDerivedFigures(t *testing.T) {
	e := newEnv(t)
	t0 := time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC)

	// The fixture as-is: a cancelled test order without customer: stored,
	// counted nowhere.
	if out := e.deliver("orders/create", js(fixture(t, "order.json", "order"))); !strings.Contains(out, "stored") {
		t.Fatalf("outcome %q", out)
	}
	if n := e.count(`SELECT count(*) FROM order_line_items WHERE order_id = 123456`); n != 2 {
		t.Fatalf("line items: %d", n)
	}

	// An order for a customer we never saw creates the profile.
	e.deliver("orders/create", js(liveOrder(t, 1001, 555, "40.00", t0)))
	e.deliver("orders/create", js(liveOrder(t, 1002, 555, "60.00", t0.Add(48*time.Hour))))
	paid := liveOrder(t, 1002, 555, "60.00", t0.Add(49*time.Hour))
	paid["processed_at"] = t0.Add(48 * time.Hour).Format(time.RFC3339)
	e.deliver("orders/paid", js(paid))
	var cid int64
	e.db.Get(&cid, `SELECT id FROM customers WHERE shop_id = $1 AND shopify_id = 555`, e.shopID)
	if cid == 0 {
		t.Fatal("no profile for the order's customer")
	}
	type figures struct {
		N     int             `db:"orders_count"`
		Spent decimal.Decimal `db:"total_spent"`
		AOV   decimal.Decimal `db:"average_order_value"`
		First time.Time       `db:"first_order_at"`
		Last  time.Time       `db:"last_order_at"`
	}
	get := func() figures {
		var f figures
		if err := e.db.Get(&f, `SELECT orders_count, total_spent, average_order_value, first_order_at, last_order_at FROM customers WHERE id = $1`, cid); err != nil {
			t.Fatal(err)
		}
		return f
	}
	f := get()
	if f.N != 2 || !f.Spent.Equal(decimal.RequireFromString("100")) || !f.AOV.Equal(decimal.RequireFromString("50")) ||
		!f.First.Equal(t0) || !f.Last.Equal(t0.Add(48*time.Hour)) {
		t.Fatalf("figures after two orders: %+v", f)
	}
	if n := e.count(`SELECT count(*) FROM customer_products WHERE customer_id = $1`, cid); n == 0 {
		t.Fatal("products bought not recorded")
	}

	// A refund on the second order lowers total spent.
	refund := map[string]any{"id": 9001, "order_id": 1002, "created_at": t0.Add(72 * time.Hour).Format(time.RFC3339),
		"transactions": []any{map[string]any{"id": 1, "amount": "15.00", "kind": "refund", "status": "success"},
			map[string]any{"id": 2, "amount": "99.00", "kind": "refund", "status": "failure"}}}
	if out := e.deliver("refunds/create", js(refund)); !strings.Contains(out, "15") {
		t.Fatalf("refund outcome %q", out)
	}
	if f := get(); !f.Spent.Equal(decimal.RequireFromString("85")) {
		t.Fatalf("total spent after refund: %s", f.Spent)
	}
	// The same refund again changes nothing.
	e.deliver("refunds/create", js(refund))
	if f := get(); !f.Spent.Equal(decimal.RequireFromString("85")) {
		t.Fatalf("a repeated refund counted twice: %s", f.Spent)
	}

	// A late orders/updated older than what we have is ignored.
	stale := liveOrder(t, 1001, 555, "999.00", t0.Add(-time.Hour))
	e.deliver("orders/updated", js(stale))
	if f := get(); !f.Spent.Equal(decimal.RequireFromString("85")) {
		t.Fatalf("stale order update applied: %s", f.Spent)
	}

	// Cancelling the first order removes it from the figures.
	cancelled := liveOrder(t, 1001, 555, "40.00", t0.Add(100*time.Hour))
	cancelled["cancelled_at"] = t0.Add(100 * time.Hour).Format(time.RFC3339)
	e.deliver("orders/cancelled", js(cancelled))
	if f := get(); f.N != 1 || !f.Spent.Equal(decimal.RequireFromString("45")) || !f.First.Equal(t0.Add(48*time.Hour)) {
		t.Fatalf("figures after cancel: %+v", f)
	}
}

func TestOrderBadInput(t *testing.T) {
	e := newEnv(t)
	t0 := time.Now().Add(-time.Hour)
	cases := map[string]func(o map[string]any){
		"unknown currency":        func(o map[string]any) { o["currency"] = "ZZZ" },
		"no currency":             func(o map[string]any) { delete(o, "currency") },
		"negative total":          func(o map[string]any) { o["total_price"] = "-5.00" },
		"string amount":           func(o map[string]any) { o["total_price"] = "ten dollars" },
		"negative line item":      func(o map[string]any) { o["line_items"].([]any)[0].(map[string]any)["price"] = "-1.00" },
		"line item without an id": func(o map[string]any) { delete(o["line_items"].([]any)[0].(map[string]any), "id") },
	}
	for name, mod := range cases {
		o := liveOrder(t, 2001, 0, "10.00", t0)
		mod(o)
		if out := e.deliver("orders/create", js(o)); !strings.HasPrefix(out, "rejected") {
			t.Errorf("%s: outcome %q", name, out)
		}
	}
	if n := e.count(`SELECT count(*) FROM orders`); n != 0 {
		t.Fatalf("rejected orders stored: %d", n)
	}
	// Numbers instead of strings are fine (Shopify sends either).
	o := liveOrder(t, 2002, 0, "10.00", t0)
	o["total_price"] = 10.5
	if out := e.deliver("orders/create", js(o)); !strings.Contains(out, "stored") {
		t.Fatalf("numeric amount: %q", out)
	}
}

// go-shopify's fixtures of line item properties: {}, [], an object, omitted
// are accepted; the malformed ones are rejected without storing anything.
func TestLineItemPropertiesFixtures(t *testing.T) {
	e := newEnv(t)
	valid := fixture(t, "orderlineitems/valid.json", "")
	for i, tc := range []struct {
		file string
		ok   bool
	}{
		{"properties_empty_object.json", true}, {"properties_object.json", true}, {"properties_ommited.json", true},
		{"properties_invalid1.json", false}, {"properties_invalid2.json", false},
	} {
		raw, _ := os.ReadFile(filepath.Join(fixtureDir(), "orderlineitems", tc.file))
		var variant map[string]json.RawMessage
		json.Unmarshal(raw, &variant)
		li := map[string]any{}
		for k, v := range valid {
			li[k] = v
		}
		delete(li, "properties")
		li["id"] = 254721536 + i
		if p, ok := variant["properties"]; ok {
			li["properties"] = p
		}
		o := liveOrder(t, int64(3000+i), 0, "12.34", time.Now())
		o["line_items"] = []any{li}
		out := e.deliver("orders/create", js(o))
		if tc.ok != strings.Contains(out, "stored with 1 line items") {
			t.Errorf("%s: outcome %q", tc.file, out)
		}
	}
	if n := e.count(`SELECT count(*) FROM order_line_items`); n != 3 {
		t.Fatalf("want the 3 valid line items stored, got %d", n)
	}
	var props string
	e.db.Get(&props, `SELECT properties::text FROM order_line_items li JOIN orders o ON o.shopify_id = li.order_id WHERE o.shopify_id = 3001`)
	if !strings.Contains(props, "property 1") {
		t.Fatalf("object properties not kept: %s", props)
	}
}

func TestCustomerDeletedBeforeItsOrders(t *testing.T) {
	e := newEnv(t)
	e.deliver("customers/delete", js(map[string]any{"id": 777}))
	e.deliver("orders/create", js(liveOrder(t, 4001, 777, "30.00", time.Now().Add(-time.Minute))))
	var n, deleted int
	e.db.QueryRow(`SELECT orders_count, (deleted_at IS NOT NULL)::int FROM customers WHERE shopify_id = 777`).Scan(&n, &deleted)
	if n != 1 || deleted != 1 {
		t.Fatalf("orders_count %d, deleted %d: the order must count for the deleted profile, which stays deleted", n, deleted)
	}
}

func TestProductWebhooks(t *testing.T) {
	e := newEnv(t)
	p := fixture(t, "product.json", "product")
	if out := e.deliver("products/create", js(p)); !strings.Contains(out, "stored with 1 variants") {
		t.Fatalf("outcome %q", out)
	}
	var title string
	var lo decimal.Decimal
	e.db.QueryRow(`SELECT title, price_min FROM products WHERE shopify_id = 1071559748`).Scan(&title, &lo)
	if title != "Burton Custom Freestyle 151" || !lo.IsZero() { // the fixture's variant costs 0.00
		t.Fatalf("product %q price %s", title, lo)
	}
	// Replacing the variants removes the ones Shopify no longer lists.
	v := p["variants"].([]any)[0].(map[string]any)
	v2 := map[string]any{}
	for k, val := range v {
		v2[k] = val
	}
	v2["id"] = 99
	v2["price"] = "1.00"
	p["variants"] = []any{v2}
	p["updated_at"] = time.Now().Add(-time.Minute).Format(time.RFC3339)
	e.deliver("products/update", js(p))
	if n := e.count(`SELECT count(*) FROM variants WHERE product_id = 1071559748`); n != 1 {
		t.Fatalf("variants after update: %d", n)
	}
	e.db.Get(&lo, `SELECT price_min FROM products WHERE shopify_id = 1071559748`)
	if !lo.Equal(decimal.RequireFromString("1")) {
		t.Fatalf("price range not refreshed: %s", lo)
	}
	e.deliver("products/delete", js(map[string]any{"id": 1071559748}))
	if n := e.count(`SELECT count(*) FROM products WHERE deleted_at IS NOT NULL`); n != 1 {
		t.Fatal("product not soft-deleted")
	}
}

// Shopify's documented checkouts/create example, trimmed to the fields used.
const checkoutExample = `{
  "id": 981820079255243537, "token": "123123123", "cart_token": "eeafa272cebfd4b22385bc4b645e762c",
  "email": "example@email.com", "created_at": "2021-12-31T19:00:00-05:00", "updated_at": "2021-12-31T19:00:00-05:00",
  "completed_at": null, "currency": "USD", "total_price": "403.00",
  "abandoned_checkout_url": "https://checkout.local/548380009/checkouts/123123123/recover?key=example-secret-token",
  "line_items": [
    {"key": "a", "product_id": 788032119674292922, "variant_id": 642667041472713922, "title": "Example T-Shirt", "variant_title": "", "quantity": 1, "price": "199.00"},
    {"key": "b", "product_id": 788032119674292922, "variant_id": 757650484644203962, "title": "Example T-Shirt", "variant_title": "Medium", "quantity": 1, "price": "199.00"}
  ],
  "customer": {"id": 603851970716743426, "email": "john@example.com", "first_name": "John", "last_name": "Smith", "marketing_opt_in_level": null, "email_marketing_consent": null}
}`

func TestCheckoutsAndCarts(t *testing.T) {
	e := newEnv(t)
	if out := e.deliver("checkouts/create", []byte(checkoutExample)); !strings.Contains(out, "stored") {
		t.Fatalf("outcome %q", out)
	}
	var url string
	var linked bool
	e.db.QueryRow(`SELECT recovery_url, customer_id IS NOT NULL FROM checkouts WHERE token = '123123123'`).Scan(&url, &linked)
	if !strings.Contains(url, "/recover") || !linked {
		t.Fatalf("checkout: url %q linked %v", url, linked)
	}
	// The order that came from the checkout completes it.
	o := liveOrder(t, 5001, 603851970716743426, "403.00", time.Now())
	o["checkout_token"] = "123123123"
	e.deliver("orders/create", js(o))
	if n := e.count(`SELECT count(*) FROM checkouts WHERE token = '123123123' AND completed_at IS NOT NULL`); n != 1 {
		t.Fatal("checkout not completed by its order")
	}
	// Shopify's documented carts/create example.
	cart := `{"id":"eeafa272cebfd4b22385bc4b645e762c","token":"eeafa272cebfd4b22385bc4b645e762c",
		"line_items":[{"id":704912205188288575,"properties":{},"quantity":3,"variant_id":704912205188288575,
		"key":"704912205188288575:33f11f7a1ec7d93b826de33bb54de37b","discounted_price":"19.99","discounts":[],
		"gift_card":false,"grams":200,"line_price":"59.97","original_line_price":"59.97","original_price":"19.99",
		"price":"19.99","product_id":788032119674292922,"sku":"example-shirt-s","taxable":true,"title":"Example T-Shirt - Small",
		"total_discount":"0.00","vendor":"Acme","discounted_price_set":{}}],"note":null,
		"updated_at":"2022-01-01T00:00:00.000Z","created_at":"2022-01-01T00:00:00.000Z"}`
	if out := e.deliver("carts/create", []byte(cart)); !strings.Contains(out, "1 lines") {
		t.Fatalf("cart outcome %q", out)
	}
	var total decimal.Decimal
	e.db.Get(&total, `SELECT total_price FROM checkouts WHERE kind = 'cart'`)
	if !total.Equal(decimal.RequireFromString("59.97")) {
		t.Fatalf("cart total %s", total)
	}
	// The order above carried this cart's token too: completed.
	if n := e.count(`SELECT count(*) FROM checkouts WHERE kind = 'cart' AND completed_at IS NULL`); n != 1 {
		t.Fatal("a cart created after the order must stay open")
	}
}

func TestRedactedCustomerIsNotRecreated(t *testing.T) {
	e := newEnv(t)
	e.db.MustExec(`INSERT INTO privacy_requests (shop_id, kind, webhook_id, shopify_customer_id, completed_at)
		VALUES ($1, 'customer_redact', 'r1', 1, now())`, e.shopID)
	if out := e.deliver("customers/update", js(fixture(t, "customer.json", "customer"))); !strings.HasPrefix(out, "ignored") {
		t.Fatalf("outcome %q", out)
	}
	e.deliver("orders/create", js(liveOrder(t, 6001, 1, "20.00", time.Now())))
	if n := e.count(`SELECT count(*) FROM customers`); n != 0 {
		t.Fatal("a redacted customer came back")
	}
	var email *string
	e.db.Get(&email, `SELECT email FROM orders WHERE shopify_id = 6001`)
	if email != nil {
		t.Fatal("the order of a redacted customer kept the email")
	}
}

// Shopify delivers a burst of one customer's orders at the same moment;
// each delivery is applied by its own job. Whatever the interleaving, the
// figures count every order, and concurrent refunds of one order all count.
func TestConcurrentOrdersOfOneCustomer(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	t0 := time.Date(2024, 3, 1, 12, 0, 0, 0, time.UTC)
	apply := func(topic, id string, body []byte) error {
		if _, err := e.receiver.Receive(ctx, webhooks.Delivery{WebhookID: id, Shop: shopDomain, Topic: topic,
			TriggeredAt: time.Now(), Body: body}); err != nil {
			return err
		}
		return e.processor.Work(ctx, &river.Job[webhooks.ProcessArgs]{JobRow: &rivertype.JobRow{}, Args: webhooks.ProcessArgs{WebhookID: id}})
	}
	burst := func(n int, body func(i int) (string, []byte)) {
		t.Helper()
		var wg sync.WaitGroup
		errs := make(chan error, n)
		release := make(chan struct{})
		for i := range n {
			topic, b := body(i)
			wg.Add(1)
			go func() {
				defer wg.Done()
				<-release
				errs <- apply(topic, fmt.Sprintf("%s-%d", topic, i), b)
			}()
		}
		close(release)
		wg.Wait()
		close(errs)
		for err := range errs {
			if err != nil {
				t.Fatal(err)
			}
		}
	}
	burst(20, func(i int) (string, []byte) {
		return "orders/create", js(liveOrder(t, int64(5000+i), 42, "10.00", t0.Add(time.Duration(i)*time.Minute)))
	})
	burst(10, func(i int) (string, []byte) {
		return "refunds/create", js(map[string]any{"id": 8000 + i, "order_id": 5000, "created_at": t0.Add(time.Hour).Format(time.RFC3339),
			"transactions": []any{map[string]any{"id": i, "amount": "0.50", "kind": "refund", "status": "success"}}})
	})
	var f struct {
		N     int             `db:"orders_count"`
		Spent decimal.Decimal `db:"total_spent"`
	}
	if err := e.db.Get(&f, `SELECT orders_count, total_spent FROM customers WHERE shop_id = $1 AND shopify_id = 42`, e.shopID); err != nil {
		t.Fatal(err)
	}
	if f.N != 20 || !f.Spent.Equal(decimal.RequireFromString("195")) {
		t.Fatalf("after 20 concurrent orders of 10.00 and 10 concurrent refunds of 0.50: %d orders, %s spent; want 20, 195.00", f.N, f.Spent)
	}
}
