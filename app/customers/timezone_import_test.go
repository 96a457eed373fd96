package customers_test

import (
	"testing"

	"github.com/cartwheel/cartwheel/app/customers"
	"github.com/cartwheel/cartwheel/app/db/dbtest"
)

// An import sets the timezone: a valid Timezone column wins, else it is
// derived from the country (code or English name) and state; an invalid
// zone falls back to the address; a US row without a state stays unknown;
// a Shopify customer's known zone is kept.
func TestImportSetsTheTimezone(t *testing.T) {
	d := dbtest.New(t)
	st := customers.NewStore(d)
	shop := newShop(t, d, "tz-import.myshopify.com")
	d.MustExec(`INSERT INTO customers (shop_id, shopify_id, email, country, timezone, source)
		VALUES ($1, 5, 'shopify@example.com', 'AU', 'Australia/Perth', 'shopify')`, shop)
	importFile(t, st, shop, customers.ImportProfiles, "Email,Country,State,Timezone\n"+
		"japan@example.com,Japan,,\n"+
		"chicago@example.com,US,,America/Chicago\n"+
		"calif@example.com,United States,ca,\n"+
		"nostate@example.com,US,,\n"+
		"badzone@example.com,DE,,Mars/Olympus\n"+
		"shopify@example.com,CN,,Asia/Shanghai\n")
	want := map[string]string{
		"japan@example.com": "Asia/Tokyo", "chicago@example.com": "America/Chicago", "calif@example.com": "America/Los_Angeles",
		"nostate@example.com": "", "badzone@example.com": "Europe/Berlin", "shopify@example.com": "Australia/Perth",
	}
	for email, zone := range want {
		var got string
		if err := d.Get(&got, `SELECT timezone FROM customers WHERE shop_id = $1 AND email = $2`, shop, email); err != nil {
			t.Fatalf("%s: %v", email, err)
		}
		if got != zone {
			t.Errorf("%s: timezone %q, want %q", email, got, zone)
		}
	}
	// Importing a zone for an existing imported profile is a change.
	importFile(t, st, shop, customers.ImportProfiles, "Email,Timezone\nnostate@example.com,America/Denver\n")
	var got string
	d.Get(&got, `SELECT timezone FROM customers WHERE shop_id = $1 AND email = 'nostate@example.com'`, shop)
	if got != "America/Denver" {
		t.Errorf("a later file's Timezone: %q, want America/Denver", got)
	}
}
