package storesync_test

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"testing"
	"time"

	"github.com/jmoiron/sqlx"
	"github.com/riverqueue/river"
	"github.com/riverqueue/river/rivertype"

	"github.com/cartwheel/cartwheel/app/customers"
	"github.com/cartwheel/cartwheel/app/db"
	"github.com/cartwheel/cartwheel/app/shopify"
	"github.com/cartwheel/cartwheel/app/shopify/shopifytest"
	"github.com/cartwheel/cartwheel/app/storesync"
)

type consentEnv struct {
	*env
	fake   *shopifytest.Server
	pusher *storesync.ConsentPusher
}

// newConsentEnv installs the shop with a token the fake really issued.
func newConsentEnv(t *testing.T) *consentEnv {
	e := newEnv(t)
	fake := shopifytest.NewServer(t, "key", "secret")
	fake.AddShop(shopify.ShopInfo{Name: "Sync", MyshopifyDomain: shopDomain})
	client := shopify.NewClient(shopify.ClientConfig{APIKey: "key", APISecret: "secret", BaseURL: fake.URL, Retries: 1})
	tok, err := client.ExchangeCode(context.Background(), shopDomain, fake.IssueCode(shopDomain))
	if err != nil {
		t.Fatal(err)
	}
	if err := db.InTx(context.Background(), e.db, func(tx *sqlx.Tx) error {
		_, err := e.shops.Install(context.Background(), tx, shopDomain, tok.Token, "", time.Now().Add(-time.Hour))
		return err
	}); err != nil {
		t.Fatal(err)
	}
	return &consentEnv{env: e, fake: fake,
		pusher: storesync.NewConsentPusher(e.shops, e.customers, client, slog.New(slog.NewTextHandler(io.Discard, nil)))}
}

func (e *consentEnv) change(customerID int64, state string) {
	e.t.Helper()
	if err := db.InTx(context.Background(), e.db, func(tx *sqlx.Tx) error {
		return storesync.ChangeConsent(context.Background(), tx, e.customers, e.jobs, e.shopID, customers.ConsentChange{
			CustomerID: customerID, State: state, OptInLevel: "single_opt_in", Source: "unsubscribe", At: time.Now(),
		})
	}); err != nil {
		e.t.Fatal(err)
	}
}

// runPushes works every queued push job once, returning the errors.
func (e *consentEnv) runPushes() []error {
	e.t.Helper()
	var ids []int64
	e.db.Select(&ids, `SELECT id FROM river_job WHERE kind = 'customers.push_consent' AND state = 'available' ORDER BY id`)
	var errs []error
	for _, id := range ids {
		var args customers.ConsentPushArgs
		var raw []byte
		e.db.Get(&raw, `SELECT args FROM river_job WHERE id = $1`, id)
		if err := jsonUnmarshal(raw, &args); err != nil {
			e.t.Fatal(err)
		}
		err := e.pusher.Work(context.Background(), &river.Job[customers.ConsentPushArgs]{JobRow: &rivertype.JobRow{ID: id}, Args: args})
		if err != nil {
			errs = append(errs, err)
			continue
		}
		e.db.MustExec(`UPDATE river_job SET state = 'completed', finalized_at = now() WHERE id = $1`, id)
	}
	return errs
}

func TestConsentPushedToShopify(t *testing.T) {
	e := newConsentEnv(t)
	c := fixture(t, "customer.json", "customer")
	c["email_marketing_consent"] = map[string]any{"state": "subscribed", "opt_in_level": "single_opt_in", "consent_updated_at": "2017-09-23T18:15:47-00:00"}
	e.deliver("customers/create", js(c))
	e.fake.AddCustomer(shopDomain, shopifytest.Customer{ID: 1, Email: "test@example.com", MarketingState: "SUBSCRIBED"})
	var id int64
	e.db.Get(&id, `SELECT id FROM customers WHERE shopify_id = 1`)

	// Unsubscribed in Cartwheel: recorded with history, queued, pushed.
	e.change(id, customers.ConsentUnsubscribed)
	e.change(id, customers.ConsentUnsubscribed) // no change, nothing more queued
	if n := e.count(`SELECT count(*) FROM river_job WHERE kind = 'customers.push_consent'`); n != 1 {
		t.Fatalf("want one push queued, got %d", n)
	}
	if n := e.count(`SELECT count(*) FROM consent_events WHERE customer_id = $1 AND source = 'unsubscribe'`, id); n != 1 {
		t.Fatal("consent change not in the history")
	}
	// Shopify is down at first: the job fails (River retries), then succeeds.
	e.fake.FailNext(1, 503)
	if errs := e.runPushes(); len(errs) != 1 {
		t.Fatalf("want the first push to fail, got %v", errs)
	}
	if errs := e.runPushes(); len(errs) != 0 {
		t.Fatalf("retry failed: %v", errs)
	}
	got, _ := e.fake.Customer(shopDomain, 1)
	if got.MarketingState != "UNSUBSCRIBED" || got.OptInLevel != "SINGLE_OPT_IN" || got.ConsentUpdatedAt == "" {
		t.Fatalf("Shopify has %+v", got)
	}
}

func TestConsentPushCreatesUnknownCustomer(t *testing.T) {
	e := newConsentEnv(t)
	var id int64
	e.db.Get(&id, `INSERT INTO customers (shop_id, email, first_name, source) VALUES ($1, 'Wheel.Winner@example.com', 'Wendy', 'wheel') RETURNING id`, e.shopID)
	e.change(id, customers.ConsentSubscribed)
	if errs := e.runPushes(); len(errs) != 0 {
		t.Fatal(errs)
	}
	created := e.fake.Customers(shopDomain)
	if len(created) != 1 || created[0].Email != "Wheel.Winner@example.com" || created[0].MarketingState != "SUBSCRIBED" || created[0].FirstName != "Wendy" {
		t.Fatalf("Shopify has %+v", created)
	}
	var shopifyID int64
	e.db.Get(&shopifyID, `SELECT COALESCE(shopify_id, 0) FROM customers WHERE id = $1`, id)
	if shopifyID != created[0].ID {
		t.Fatalf("profile linked to %d, want %d", shopifyID, created[0].ID)
	}
	// The customers/create webhook that follows joins the same profile.
	c := fixture(t, "customer.json", "customer")
	c["id"], c["email"] = created[0].ID, "wheel.winner@example.com"
	e.deliver("customers/create", js(c))
	if n := e.count(`SELECT count(*) FROM customers`); n != 1 {
		t.Fatalf("the webhook made a second profile: %d", n)
	}
}

func TestConsentCannotBeSetToReadOnlyStates(t *testing.T) {
	e := newEnv(t)
	var id int64
	e.db.Get(&id, `INSERT INTO customers (shop_id, email) VALUES ($1, 'a@b.co') RETURNING id`, e.shopID)
	err := db.InTx(context.Background(), e.db, func(tx *sqlx.Tx) error {
		_, err := e.customers.SetConsent(context.Background(), tx, e.shopID, customers.ConsentChange{CustomerID: id, State: customers.ConsentNotSubscribed, Source: "merchant", At: time.Now()})
		return err
	})
	if err == nil {
		t.Fatal("not_subscribed must not be settable")
	}
}

func jsonUnmarshal(b []byte, v any) error { return json.Unmarshal(b, v) }
