package privacy_test

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/jmoiron/sqlx"
	"github.com/riverqueue/river"

	"github.com/cartwheel/cartwheel/app/db"
	"github.com/cartwheel/cartwheel/app/db/dbtest"
	"github.com/cartwheel/cartwheel/app/email/ledger"
	"github.com/cartwheel/cartwheel/app/email/sender"
	"github.com/cartwheel/cartwheel/app/jobs"
	"github.com/cartwheel/cartwheel/app/privacy"
)

func setup(t *testing.T) (*sqlx.DB, *privacy.Service, int64, int64) {
	d := dbtest.New(t)
	var a, b int64
	d.Get(&a, "INSERT INTO shops (domain) VALUES ('a.myshopify.com') RETURNING id")
	d.Get(&b, "INSERT INTO shops (domain) VALUES ('b.myshopify.com') RETURNING id")
	d.MustExec(`INSERT INTO customers (shop_id, shopify_id, email, first_name) VALUES
		($1, 10, 'ann@example.com', 'Ann'), ($1, NULL, 'Wheel.Only@example.com', 'Wendy'), ($2, 10, 'ann@example.com', 'Other')`, a, b)
	return d, privacy.NewService(d), a, b
}

func inTx(t *testing.T, d *sqlx.DB, fn func(tx *sqlx.Tx) error) {
	t.Helper()
	if err := db.InTx(context.Background(), d, fn); err != nil {
		t.Fatal(err)
	}
}

func TestDataRequestExport(t *testing.T) {
	d, s, a, b := setup(t)
	ctx := context.Background()
	inTx(t, d, func(tx *sqlx.Tx) error {
		return s.HandleDataRequest(ctx, tx, privacy.DataRequest{WebhookID: "w1", ShopID: a, ShopDomain: "a.myshopify.com",
			ShopifyCustomerID: 77, Email: "wheel.only@example.com", DataRequestID: 5, ReceivedAt: time.Now()})
	})
	reqs, _ := s.List(ctx, a, 10)
	if len(reqs) != 1 || !reqs[0].HasExport {
		t.Fatalf("list: %+v", reqs)
	}
	doc, err := s.ExportJSON(ctx, a, reqs[0].ID)
	if err != nil {
		t.Fatal(err)
	}
	var ex privacy.Export
	json.Unmarshal(doc, &ex)
	// Matched by email (case-insensitively) when Shopify's id is unknown to us.
	if len(ex.Profiles) != 1 || *ex.Profiles[0].Email != "Wheel.Only@example.com" {
		t.Fatalf("export: %s", doc)
	}
	if _, err := s.ExportJSON(ctx, b, reqs[0].ID); !errors.Is(err, privacy.ErrNotFound) {
		t.Fatalf("another shop read the export: %v", err)
	}
	// Nothing held: the export says so rather than being empty.
	inTx(t, d, func(tx *sqlx.Tx) error {
		return s.HandleDataRequest(ctx, tx, privacy.DataRequest{WebhookID: "w2", ShopID: a, ShopifyCustomerID: 999, DataRequestID: 6})
	})
	reqs, _ = s.List(ctx, a, 10)
	doc, _ = s.ExportJSON(ctx, a, reqs[0].ID)
	json.Unmarshal(doc, &ex)
	if len(ex.Profiles) != 0 || ex.Note != "Cartwheel holds no personal data for this customer in this store." {
		t.Fatalf("empty export: %s", doc)
	}
}

func TestCustomerRedactIsScopedAndIdempotent(t *testing.T) {
	d, s, a, b := setup(t)
	ctx := context.Background()
	redact := func(id string) int64 {
		var n int64
		inTx(t, d, func(tx *sqlx.Tx) error {
			var err error
			n, err = s.HandleCustomerRedact(ctx, tx, privacy.CustomerRedact{WebhookID: id, ShopID: a, ShopifyCustomerID: 10, Email: "ann@example.com"})
			return err
		})
		return n
	}
	if n := redact("r1"); n != 1 {
		t.Fatalf("erased %d rows, want 1", n)
	}
	if n := redact("r1"); n != 0 {
		t.Fatalf("a repeat erased %d rows", n)
	}
	var left int
	d.Get(&left, "SELECT count(*) FROM customers WHERE shop_id = $1", b)
	if left != 1 {
		t.Fatal("redaction reached another shop")
	}
	d.Get(&left, "SELECT count(*) FROM privacy_requests WHERE kind = 'customer_redact'")
	if left != 1 {
		t.Fatalf("redaction records: %d", left)
	}
}

func TestShopRedactWithoutShopRow(t *testing.T) {
	d, s, _, _ := setup(t)
	d.MustExec(`INSERT INTO webhook_deliveries (webhook_id, shop_domain, topic) VALUES ('x1', 'gone.myshopify.com', 'orders/create'), ('x2', 'gone.myshopify.com', 'shop/redact')`)
	inTx(t, d, func(tx *sqlx.Tx) error {
		return s.HandleShopRedact(context.Background(), tx, 0, "gone.myshopify.com", "x2")
	})
	var ids []string
	d.Select(&ids, "SELECT webhook_id FROM webhook_deliveries")
	if len(ids) != 1 || ids[0] != "x2" {
		t.Fatalf("deliveries left: %v", ids)
	}
}

func TestRedactKeepsRevenueAndSuppressionButNotThePerson(t *testing.T) {
	d, s, a, _ := setup(t)
	ctx := context.Background()
	var cid int64
	d.Get(&cid, `SELECT id FROM customers WHERE shop_id = $1 AND shopify_id = 10`, a)
	d.MustExec(`INSERT INTO orders (shop_id, shopify_id, customer_id, shopify_customer_id, email, currency, total_price)
		VALUES ($1, 500, $2, 10, 'ann@example.com', 'EUR', 42.00), ($1, 501, NULL, NULL, 'someone@else.com', 'EUR', 7.00)`, a, cid)
	d.MustExec(`INSERT INTO checkouts (shop_id, token, kind, customer_id, email) VALUES ($1, 'tok', 'checkout', $2, 'ann@example.com')`, a, cid)
	d.MustExec(`INSERT INTO suppressions (shop_id, email, reason, source) VALUES ($1, 'ann@example.com', 'unsubscribed', 'import')`, a)
	var msgID int64
	d.Get(&msgID, `INSERT INTO email_messages (shop_id, customer_id, to_email, kind, dedupe_key, subject, status)
		VALUES ($1, $2, 'ann@example.com', 'campaign', 'campaign:1:customer:1', 'Hello', 'sent') RETURNING id`, a, cid)
	d.MustExec(`INSERT INTO outbox_messages (message_id, shop_id, to_email, html) VALUES ($1, $2, 'ann@example.com', '<p>Hi Ann</p>')`, msgID, a)
	d.MustExec(`INSERT INTO events (shop_id, event_id, visitor_id, customer_id, name, occurred_at, source, url)
		VALUES ($1, 'e1', 'visitor-123', $2, 'product_viewed', now(), 'theme', 'https://shop.example/products/hat')`, a, cid)

	inTx(t, d, func(tx *sqlx.Tx) error {
		return s.HandleDataRequest(ctx, tx, privacy.DataRequest{WebhookID: "dr", ShopID: a, ShopifyCustomerID: 10, Email: "ann@example.com", DataRequestID: 1})
	})
	reqs, _ := s.List(ctx, a, 1)
	doc, _ := s.ExportJSON(ctx, a, reqs[0].ID)
	var ex struct {
		Orders     []map[string]any `json:"orders"`
		Checkouts  []map[string]any `json:"checkouts"`
		Events     []map[string]any `json:"storefront_events"`
		Suppressed bool             `json:"suppressed"`
	}
	json.Unmarshal(doc, &ex)
	if len(ex.Orders) != 1 || len(ex.Checkouts) != 1 || len(ex.Events) != 1 || !ex.Suppressed {
		t.Fatalf("export misses data: %s", doc)
	}

	inTx(t, d, func(tx *sqlx.Tx) error {
		_, err := s.HandleCustomerRedact(ctx, tx, privacy.CustomerRedact{WebhookID: "rr", ShopID: a, ShopifyCustomerID: 10, Email: "ann@example.com", OrdersToRedact: []int64{500}})
		return err
	})
	var email *string
	var linked bool
	var total string
	d.QueryRow(`SELECT email, customer_id IS NOT NULL OR shopify_customer_id IS NOT NULL, total_price::text FROM orders WHERE shopify_id = 500`).Scan(&email, &linked, &total)
	if email != nil || linked || total != "42.00" {
		t.Fatalf("order after redaction: email %v linked %v total %s", email, linked, total)
	}
	var n int
	d.Get(&n, `SELECT count(*) FROM checkouts WHERE shop_id = $1`, a)
	if n != 0 {
		t.Fatal("checkout of the redacted customer kept")
	}
	d.Get(&n, `SELECT count(*) FROM events WHERE shop_id = $1`, a)
	if n != 0 {
		t.Fatal("storefront events of the redacted customer kept")
	}
	d.Get(&n, `SELECT count(*) FROM email_messages WHERE shop_id = $1 AND (to_email <> '' OR customer_id IS NOT NULL)`, a)
	if n != 0 {
		t.Fatal("the email ledger still names the redacted customer")
	}
	d.Get(&n, `SELECT count(*) FROM outbox_messages WHERE shop_id = $1`, a)
	if n != 0 {
		t.Fatal("a stored copy of an email to the redacted customer was kept")
	}
	d.Get(&n, `SELECT count(*) FROM orders WHERE shopify_id = 501 AND email = 'someone@else.com'`)
	if n != 1 {
		t.Fatal("someone else's order was touched")
	}
	d.Get(&n, `SELECT count(*) FROM suppressions WHERE shop_id = $1`, a)
	if n != 1 {
		t.Fatal("the suppression that keeps them from being mailed must stay")
	}
}

// Redaction queues no segment refresh: the erased profile's memberships and
// their history go with it (ON DELETE CASCADE), and no other profile's
// data changed.
func TestRedactDropsSegmentMembership(t *testing.T) {
	d, s, a, _ := setup(t)
	ctx := context.Background()
	var seg, ann, wendy int64
	d.Get(&seg, `INSERT INTO segments (shop_id, name, rules) VALUES ($1, 'Everyone', '{}') RETURNING id`, a)
	d.Get(&ann, `SELECT id FROM customers WHERE shop_id = $1 AND shopify_id = 10`, a)
	d.Get(&wendy, `SELECT id FROM customers WHERE shop_id = $1 AND shopify_id IS NULL`, a)
	d.MustExec(`INSERT INTO segment_members (shop_id, segment_id, customer_id) VALUES ($1, $2, $3), ($1, $2, $4)`, a, seg, ann, wendy)
	d.MustExec(`INSERT INTO segment_changes (shop_id, segment_id, customer_id, change) VALUES ($1, $2, $3, 'entered')`, a, seg, ann)
	inTx(t, d, func(tx *sqlx.Tx) error {
		_, err := s.HandleCustomerRedact(ctx, tx, privacy.CustomerRedact{WebhookID: "seg", ShopID: a, ShopifyCustomerID: 10, Email: "ann@example.com"})
		return err
	})
	var members, changes, jobs int
	d.Get(&members, `SELECT count(*) FROM segment_members WHERE segment_id = $1`, seg)
	d.Get(&changes, `SELECT count(*) FROM segment_changes WHERE customer_id = $1`, ann)
	d.Get(&jobs, `SELECT count(*) FROM river_job`)
	if members != 1 || changes != 0 || jobs != 0 {
		t.Fatalf("after redaction: %d members (want Wendy only), %d changes of Ann, %d jobs", members, changes, jobs)
	}
}

// A rejected webhook's raw bytes that mention the customer (by Shopify id
// or address, in any case) go with the redaction; others stay for their
// retention, and another shop's are untouched.
func TestRedactClearsRejectedWebhookBodiesNamingThem(t *testing.T) {
	d, s, a, _ := setup(t)
	ctx := context.Background()
	d.MustExec(`INSERT INTO webhook_deliveries (webhook_id, shop_domain, topic, raw_body, processed_at, outcome) VALUES
		('by-id', 'a.myshopify.com', 'customers/update', convert_to('{"id":10,"note":"\u0000"}', 'UTF8'), now(), 'rejected'),
		('by-email', 'a.myshopify.com', 'orders/create', convert_to('{"email":"ANN@example.com","x":"\u0000"}', 'UTF8'), now(), 'rejected'),
		('by-lower-email', 'a.myshopify.com', 'orders/create', convert_to('{"email":"ann@example.com","x":"\u0000"}', 'UTF8'), now(), 'rejected'),
		('someone-else', 'a.myshopify.com', 'orders/create', convert_to('{"email":"bob@example.com","id":77}', 'UTF8'), now(), 'rejected'),
		('other-shop', 'b.myshopify.com', 'orders/create', convert_to('{"email":"ann@example.com"}', 'UTF8'), now(), 'rejected')`)
	inTx(t, d, func(tx *sqlx.Tx) error {
		_, err := s.HandleCustomerRedact(ctx, tx, privacy.CustomerRedact{WebhookID: "r1", ShopID: a, ShopifyCustomerID: 10, Email: "Ann@Example.com"})
		return err
	})
	var kept []string
	if err := d.Select(&kept, `SELECT webhook_id FROM webhook_deliveries WHERE raw_body IS NOT NULL ORDER BY webhook_id`); err != nil {
		t.Fatal(err)
	}
	if len(kept) != 2 || kept[0] != "other-shop" || kept[1] != "someone-else" {
		t.Fatalf("raw bodies kept after the redaction: %v, want [other-shop someone-else]", kept)
	}
}

// A customers/redact reaches emails queued for the customer: the ledger row
// loses the address, the subject and the context it would be composed
// from, and the deliver job never held any of it (only message ids).
// Someone else's queued email keeps its own.
func TestRedactReachesQueuedEmails(t *testing.T) {
	d, s, a, _ := setup(t)
	ctx := context.Background()
	workers := river.NewWorkers()
	river.AddWorker(workers, sender.NewDeliverWorker(nil))
	jc, err := jobs.New(d.DB, workers, jobs.Options{Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		t.Fatal(err)
	}
	var ann, wendy int64
	d.Get(&ann, `SELECT id FROM customers WHERE shop_id = $1 AND shopify_id = 10`, a)
	d.Get(&wendy, `SELECT id FROM customers WHERE shop_id = $1 AND shopify_id IS NULL`, a)
	var ids []int64
	inTx(t, d, func(tx *sqlx.Tx) error {
		for i, c := range []struct {
			id   int64
			to   string
			name string
		}{{ann, "ann@example.com", "Ann"}, {wendy, "Wheel.Only@example.com", "Wendy"}} {
			id, _, err := ledger.Reserve(ctx, tx, ledger.Reservation{ShopID: a, CustomerID: c.id, To: c.to, Kind: ledger.KindFlow,
				Marketing: true, Subject: c.name + ", your cart is waiting",
				Source:  ledger.Source{FlowID: 1, FlowVersion: 1, FlowRunID: int64(i + 1), FlowStep: "email-1", TemplateID: 3},
				Context: ledger.Context{ledger.ContextCheckoutToken: "tok-" + c.name, ledger.ContextDiscountCode: "CODE-" + c.name}})
			if err != nil {
				return err
			}
			ids = append(ids, id)
		}
		return sender.EnqueueDeliver(ctx, tx.Tx, jc, a, ids...)
	})
	inTx(t, d, func(tx *sqlx.Tx) error {
		_, err := s.HandleCustomerRedact(ctx, tx, privacy.CustomerRedact{WebhookID: "q", ShopID: a, ShopifyCustomerID: 10, Email: "ann@example.com"})
		return err
	})
	annRow, _ := ledger.Get(ctx, d, a, ids[0])
	if annRow.To != "" || annRow.CustomerID.Valid || annRow.Subject != "" || len(annRow.Context) != 0 {
		t.Errorf("the redacted customer's queued email keeps to %q customer %v subject %q context %v",
			annRow.To, annRow.CustomerID, annRow.Subject, annRow.Context)
	}
	if annRow.FlowRunID != 1 || annRow.TemplateID != 3 {
		t.Errorf("the source (for reports) was lost: %+v", annRow.Source)
	}
	wendyRow, _ := ledger.Get(ctx, d, a, ids[1])
	if wendyRow.To != "Wheel.Only@example.com" || wendyRow.Context[ledger.ContextDiscountCode] != "CODE-Wendy" {
		t.Errorf("someone else's queued email was touched: %+v", wendyRow)
	}
	var args []string
	d.Select(&args, `SELECT args::text FROM river_job`)
	if len(args) != 1 {
		t.Fatalf("jobs %v", args)
	}
	for _, v := range []string{"ann@example.com", "Ann", "tok-Ann", "CODE-Ann", "cart is waiting"} {
		if strings.Contains(args[0], v) {
			t.Errorf("river_job holds %q: %s", v, args[0])
		}
	}
}

// Redaction removes the customer's rows from the reports' unique-customer
// rollup and unlinks their attributed order (its revenue stays credited);
// the day's counts and another customer's rows stay.
func TestRedactRemovesPerCustomerReportRows(t *testing.T) {
	d, s, a, b := setup(t)
	ctx := context.Background()
	var ann, wendy, annB int64
	d.Get(&ann, `SELECT id FROM customers WHERE shop_id = $1 AND shopify_id = 10`, a)
	d.Get(&wendy, `SELECT id FROM customers WHERE shop_id = $1 AND shopify_id IS NULL`, a)
	d.Get(&annB, `SELECT id FROM customers WHERE shop_id = $1 AND shopify_id = 10`, b)
	day := time.Date(2026, 9, 10, 0, 0, 0, 0, time.UTC)
	for _, r := range []struct{ shop, cust int64 }{{a, ann}, {a, wendy}, {b, annB}} {
		d.MustExec(`INSERT INTO report_email_customers (shop_id, scope, scope_id, variant, day, customer_id, delivered)
			VALUES ($1, 'all', 0, '', $3, $2, true), ($1, 'flow', 7, 's1', $3, $2, true)`, r.shop, r.cust, day)
	}
	d.MustExec(`INSERT INTO report_email_daily (shop_id, scope, scope_id, variant, day, slot, sent, delivered) VALUES ($1, 'all', 0, '', $2, 0, 2, 2)`, a, day)
	d.MustExec(`INSERT INTO order_attributions (shop_id, order_id, customer_id, ordered_at, day, message_id, event_id, touch, touched_at, window_days,
		email_kind, flow_id, flow_version, flow_step, amount) VALUES ($1, 900, $2, $3, $4, 1, 1, 'click', $3, 5, 'flow', 7, 1, 's1', 25.00)`,
		a, ann, day.Add(10*time.Hour), day)
	// The subscriber rollup counts Ann and Wendy as subscribed (list size 2).
	d.MustExec(`INSERT INTO report_subscriber_states (shop_id, customer_id, consent) VALUES ($1, $2, 'subscribed'), ($1, $3, 'subscribed')`, a, ann, wendy)
	d.MustExec(`INSERT INTO report_subscribers_daily (shop_id, day, slot, subscribed) VALUES ($1, $2, 3, 2)`, a, day)
	inTx(t, d, func(tx *sqlx.Tx) error {
		_, err := s.HandleCustomerRedact(ctx, tx, privacy.CustomerRedact{WebhookID: "rep", ShopID: a, ShopifyCustomerID: 10, Email: "ann@example.com"})
		return err
	})
	count := func(q string, args ...any) int {
		t.Helper()
		var n int
		if err := d.Get(&n, q, args...); err != nil {
			t.Fatal(err)
		}
		return n
	}
	if n := count(`SELECT count(*) FROM report_email_customers WHERE customer_id = $1`, ann); n != 0 {
		t.Errorf("%d report rows of the redacted customer remain", n)
	}
	if n := count(`SELECT count(*) FROM report_email_customers WHERE customer_id IN ($1, $2)`, wendy, annB); n != 4 {
		t.Errorf("other customers' report rows: %d, want 4", n)
	}
	if n := count(`SELECT count(*) FROM order_attributions WHERE order_id = 900 AND customer_id IS NULL AND amount = 25.00`); n != 1 {
		t.Error("the attributed order is not kept unlinked")
	}
	if n := count(`SELECT sent::int FROM report_email_daily WHERE shop_id = $1`, a); n != 2 {
		t.Errorf("the day's counts changed: %d", n)
	}
	// Ann's subscriber state is gone and she has left the list: Wendy remains.
	if n := count(`SELECT count(*) FROM report_subscriber_states WHERE customer_id = $1`, ann); n != 0 {
		t.Error("the redacted customer's subscriber state remains")
	}
	if n := count(`SELECT (sum(subscribed) - sum(unsubscribed))::int FROM report_subscribers_daily WHERE shop_id = $1`, a); n != 1 {
		t.Errorf("list size after the redaction: %d, want 1", n)
	}
}
