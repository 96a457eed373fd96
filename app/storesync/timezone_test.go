package storesync_test

import (
	"testing"
	"time"
)

// The timezone comes from Shopify's default_address (the go-shopify fixture
// is in Queensland), a later address replaces it, and a payload without an
// address keeps the known one.
func TestCustomerWebhooksSetTheTimezoneFromTheAddress(t *testing.T) {
	e := newEnv(t)
	c := fixture(t, "customer.json", "customer")
	e.deliver("customers/create", js(c))
	tz := func() (string, string) {
		var zone, prov string
		if err := e.db.QueryRow(`SELECT timezone, province_code FROM customers WHERE shop_id = $1 AND shopify_id = 1`, e.shopID).Scan(&zone, &prov); err != nil {
			t.Fatal(err)
		}
		return zone, prov
	}
	if zone, prov := tz(); zone != "Australia/Brisbane" || prov != "QLD" {
		t.Fatalf("timezone %q, province %q; want Australia/Brisbane, QLD", zone, prov)
	}
	profileSignals := func() int {
		return e.count(`SELECT count(*) FROM customer_signals s JOIN customers c ON c.id = s.customer_id
			WHERE s.shop_id = $1 AND c.shopify_id = 1 AND s.kind = 'profile_changed'`, e.shopID)
	}
	before := profileSignals()

	// Moved to Western Australia: a profile change with the new zone.
	addr := c["default_address"].(map[string]any)
	addr["province_code"], addr["province"] = "WA", "Western Australia"
	c["updated_at"] = "2018-01-01T00:00:00Z"
	e.deliver("customers/update", js(c))
	if zone, _ := tz(); zone != "Australia/Perth" {
		t.Fatalf("after the move timezone %q, want Australia/Perth", zone)
	}
	if after := profileSignals(); after <= before {
		t.Fatalf("the address change recorded no profile_changed signal (%d before, %d after)", before, after)
	}

	// An update without an address keeps the known zone.
	delete(c, "default_address")
	delete(c, "addresses")
	c["updated_at"] = "2018-02-01T00:00:00Z"
	e.deliver("customers/update", js(c))
	if zone, _ := tz(); zone != "Australia/Perth" {
		t.Fatalf("an update without an address changed the timezone to %q", zone)
	}

	// A US address without a state: the zone is unknown (the shop's applies).
	c["default_address"] = map[string]any{"country_code": "US", "city": "Somewhere"}
	c["updated_at"] = "2018-03-01T00:00:00Z"
	e.deliver("customers/update", js(c))
	if zone, _ := tz(); zone != "" {
		t.Fatalf("a US address without a state gave %q, want unknown", zone)
	}
}

// An order's embedded customer (with the fixture's Queensland address)
// gives a new profile its zone.
func TestOrderWebhookCustomerGetsTheTimezone(t *testing.T) {
	e := newEnv(t)
	e.deliver("orders/create", js(liveOrder(t, 4001, 77, "10.00", time.Date(2024, 1, 2, 3, 4, 5, 0, time.UTC))))
	var zone string
	if err := e.db.QueryRow(`SELECT timezone FROM customers WHERE shop_id = $1 AND shopify_id = 77`, e.shopID).Scan(&zone); err != nil {
		t.Fatal(err)
	}
	if zone != "Australia/Brisbane" {
		t.Fatalf("the order's customer has timezone %q, want Australia/Brisbane", zone)
	}
}
