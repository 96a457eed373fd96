package customers_test

import (
	"context"
	"testing"
	"time"

	"github.com/jmoiron/sqlx"

	"github.com/cartwheel/cartwheel/app/customers"
	"github.com/cartwheel/cartwheel/app/db"
	"github.com/cartwheel/cartwheel/app/db/dbtest"
)

func upsert(t *testing.T, d *sqlx.DB, s *customers.Store, shopID int64, cs ...customers.ShopifyCustomer) map[int64]int64 {
	t.Helper()
	var ids map[int64]int64
	if err := db.InTx(context.Background(), d, func(tx *sqlx.Tx) error {
		var err error
		ids, err = s.UpsertShopify(context.Background(), tx, shopID, cs)
		return err
	}); err != nil {
		t.Fatal(err)
	}
	return ids
}

func at(s string) *time.Time {
	v, _ := time.Parse(time.RFC3339, s)
	return &v
}

func upsertShop(t *testing.T) (*sqlx.DB, *customers.Store, int64) {
	d := dbtest.New(t)
	var id int64
	d.Get(&id, "INSERT INTO shops (domain) VALUES ('upsert.myshopify.com') RETURNING id")
	return d, customers.NewStore(d), id
}

// A storefront signup (no Shopify id) becomes the Shopify customer with the
// same email instead of a second profile, and keeps its newer consent.
func TestUpsertAdoptsProfileWithSameEmail(t *testing.T) {
	d, s, shopID := upsertShop(t)
	var wheelID int64
	d.Get(&wheelID, `INSERT INTO customers (shop_id, email, source, email_consent, email_consent_updated_at)
		VALUES ($1, 'Ann@Example.com', 'wheel', 'subscribed', '2025-06-01T00:00:00Z') RETURNING id`, shopID)
	ids := upsert(t, d, s, shopID, customers.ShopifyCustomer{ShopifyID: 10, Email: "ann@example.com", FirstName: "Ann",
		Consent: "not_subscribed", ConsentUpdatedAt: at("2025-01-01T00:00:00Z"), UpdatedAt: at("2025-02-01T00:00:00Z")})
	if ids[10] != wheelID {
		t.Fatalf("Shopify customer got profile %d, want the wheel profile %d", ids[10], wheelID)
	}
	var n int
	var consent, source string
	d.Get(&n, `SELECT count(*) FROM customers`)
	d.QueryRow(`SELECT email_consent, source FROM customers WHERE id = $1`, wheelID).Scan(&consent, &source)
	if n != 1 || consent != "subscribed" || source != "wheel" {
		t.Fatalf("%d profiles, consent %s, source %s", n, consent, source)
	}
}

// Shopify allows one customer per email: when a newer delivery gives an
// email to another customer, the old holder lets go instead of failing the
// batch on the unique index.
func TestUpsertMovesAnEmailToItsNewOwner(t *testing.T) {
	d, s, shopID := upsertShop(t)
	upsert(t, d, s, shopID, customers.ShopifyCustomer{ShopifyID: 1, Email: "shared@example.com", UpdatedAt: at("2025-01-01T00:00:00Z")})
	upsert(t, d, s, shopID, customers.ShopifyCustomer{ShopifyID: 2, Email: "Shared@example.com", UpdatedAt: at("2025-02-01T00:00:00Z")})
	var holder int64
	d.Get(&holder, `SELECT shopify_id FROM customers WHERE lower(email) = 'shared@example.com'`)
	if holder != 2 {
		t.Fatalf("email held by %d", holder)
	}
}

// An order's embedded customer (no updated_at) fills gaps but never
// overrides a real profile; a real update overrides the stub.
func TestStubsNeverOverrideProfiles(t *testing.T) {
	d, s, shopID := upsertShop(t)
	upsert(t, d, s, shopID, customers.ShopifyCustomer{ShopifyID: 5, Email: "real@example.com", FirstName: "Real", City: "Paris", UpdatedAt: at("2025-01-01T00:00:00Z")})
	upsert(t, d, s, shopID, customers.ShopifyCustomer{ShopifyID: 5, Email: "old@example.com", FirstName: "Stub", City: "Lyon"})
	var email, name, city string
	d.QueryRow(`SELECT email, first_name, city FROM customers WHERE shopify_id = 5`).Scan(&email, &name, &city)
	if email != "real@example.com" || name != "Real" || city != "Paris" {
		t.Fatalf("a stub overrode the profile: %s %s %s", email, name, city)
	}
	upsert(t, d, s, shopID, customers.ShopifyCustomer{ShopifyID: 6, Email: "stub@example.com", FirstName: "Stub"})
	upsert(t, d, s, shopID, customers.ShopifyCustomer{ShopifyID: 6, Email: "stub@example.com", FirstName: "Proper", UpdatedAt: at("2025-01-01T00:00:00Z")})
	d.Get(&name, `SELECT first_name FROM customers WHERE shopify_id = 6`)
	if name != "Proper" {
		t.Fatalf("a real update did not replace the stub: %s", name)
	}
}

// Within one batch the last occurrence of a customer wins; bad emails and
// unknown consent states are dropped rather than stored.
func TestUpsertBatchHygiene(t *testing.T) {
	d, s, shopID := upsertShop(t)
	ids := upsert(t, d, s, shopID,
		customers.ShopifyCustomer{ShopifyID: 7, Email: "first@example.com", UpdatedAt: at("2025-01-01T00:00:00Z")},
		customers.ShopifyCustomer{ShopifyID: 8, Email: "not an email", Consent: "maybe", Tags: []string{" vip", "VIP", "", "new"}, UpdatedAt: at("2025-01-01T00:00:00Z")},
		customers.ShopifyCustomer{ShopifyID: 7, Email: "second@example.com", UpdatedAt: at("2025-01-02T00:00:00Z")},
	)
	if len(ids) != 2 {
		t.Fatalf("ids: %v", ids)
	}
	var email string
	d.Get(&email, `SELECT email FROM customers WHERE shopify_id = 7`)
	if email != "second@example.com" {
		t.Fatalf("email %s", email)
	}
	var bad struct {
		Email   *string `db:"email"`
		Consent string  `db:"email_consent"`
		Tags    string  `db:"tags"`
	}
	d.Get(&bad, `SELECT email, email_consent, array_to_string(tags, '|') AS tags FROM customers WHERE shopify_id = 8`)
	if bad.Email != nil || bad.Consent != "not_subscribed" || bad.Tags != "vip|new" {
		t.Fatalf("stored %+v", bad)
	}
}

func TestMarkDeletedIgnoresStaleDeletes(t *testing.T) {
	d, s, shopID := upsertShop(t)
	upsert(t, d, s, shopID, customers.ShopifyCustomer{ShopifyID: 9, Email: "back@example.com", UpdatedAt: at("2025-03-01T00:00:00Z")})
	err := db.InTx(context.Background(), d, func(tx *sqlx.Tx) error {
		_, err := s.MarkDeleted(context.Background(), tx, shopID, 9, *at("2025-02-01T00:00:00Z"))
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	var deleted bool
	d.Get(&deleted, `SELECT deleted_at IS NOT NULL FROM customers WHERE shopify_id = 9`)
	if deleted {
		t.Fatal("a delete older than the latest update applied")
	}
}

// "Customer since" is when Shopify says the person became a customer, not
// when Cartwheel synced the row.
func TestCustomerSinceUsesShopifyDate(t *testing.T) {
	d, s, shopID := upsertShop(t)
	ids := upsert(t, d, s, shopID, customers.ShopifyCustomer{ShopifyID: 3, Email: "old@example.com",
		CreatedAt: at("2021-05-04T00:00:00Z"), UpdatedAt: at("2025-01-01T00:00:00Z")})
	p, err := s.Profile(context.Background(), shopID, ids[3])
	if err != nil {
		t.Fatal(err)
	}
	if !p.Customer.CreatedAt.Equal(*at("2021-05-04T00:00:00Z")) {
		t.Fatalf("customer since %v", p.Customer.CreatedAt)
	}
}
