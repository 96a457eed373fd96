package events_test

import (
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/cartwheel/cartwheel/app/events"
)

var now = time.Date(2026, 11, 24, 10, 0, 0, 0, time.UTC)

// productViewed is a product_viewed event in the shape of Shopify's web
// pixel standard event (shopify.dev/docs/api/web-pixels-api/standard-events/product_viewed),
// with the envelope fields the pixel adds (clientId, seq, type) that we drop.
const productViewed = `{
  "id": "sh-88153c5a-8F2D-4CCA-3231-EF5C032A4C3B", "name": "product_viewed", "clientId": "xxx", "seq": 3,
  "type": "standard", "timestamp": "2026-11-24T09:59:00.123Z",
  "context": {"document": {"title": "T-shirt"}, "url": "https://x.myshopify.com/products/tee", "referrer": "https://google.com/"},
  "data": {"productVariant": {
    "id": "41234567890", "title": "Small", "untranslatedTitle": "Small", "sku": "TEE-S",
    "price": {"amount": 19.99, "currencyCode": "EUR"},
    "image": {"src": "https://cdn.shopify.com/tee.png"},
    "product": {"id": "7123456789", "title": "Cotton tee", "untranslatedTitle": "Cotton tee", "vendor": "Acme",
                "type": "Shirts", "url": "/products/tee"},
    "weight": 200, "secret": "dropped"
  }}
}`

func batch(events ...string) []byte {
	return []byte(`{"shop": "x.myshopify.com", "visitor_id": "v_abcdefgh12", "events": [` + strings.Join(events, ",") + `]}`)
}

func ev(id, name, ts, data string) string {
	return fmt.Sprintf(`{"id": %q, "name": %q, "timestamp": %q, "data": %s}`, id, name, ts, data)
}

func TestParseProductViewedKeepsOnlyKnownFields(t *testing.T) {
	b, rej, err := events.ParseAt(batch(productViewed), events.SourcePixel, now)
	if err != nil || len(rej) != 0 || len(b.Events) != 1 {
		t.Fatalf("ParseAt: %v %v %d", err, rej, len(b.Events))
	}
	e := b.Events[0]
	if e.URL != "https://x.myshopify.com/products/tee" || !e.OccurredAt.Equal(time.Date(2026, 11, 24, 9, 59, 0, 123e6, time.UTC)) {
		t.Errorf("event = %+v", e)
	}
	var d map[string]any
	if err := json.Unmarshal(e.Data, &d); err != nil {
		t.Fatal(err)
	}
	if d["referrer"] != "https://google.com/" {
		t.Errorf("referrer = %v", d["referrer"])
	}
	pv := d["productVariant"].(map[string]any)
	if _, ok := pv["secret"]; ok {
		t.Errorf("unknown field kept: %s", e.Data)
	}
	if _, ok := pv["weight"]; ok {
		t.Errorf("unknown field kept: %s", e.Data)
	}
	if pv["sku"] != "TEE-S" || pv["product"].(map[string]any)["title"] != "Cotton tee" {
		t.Errorf("known fields lost: %s", e.Data)
	}
	if strings.Contains(string(e.Data), "clientId") || strings.Contains(string(e.Data), "document") {
		t.Errorf("envelope junk stored: %s", e.Data)
	}
}

func TestParseRejectsPerEvent(t *testing.T) {
	ts := "2026-11-24T09:00:00Z"
	cases := []struct {
		name, event, want string
	}{
		{"missing required", ev("e1", "product_viewed", ts, `{"productVariant": {"title": "x", "product": {"id": "1"}}}`), "data.productVariant.id is required"},
		{"missing object", ev("e2", "search_submitted", ts, `{}`), "data.searchResult is required"},
		{"wrong type string", ev("e3", "search_submitted", ts, `{"searchResult": {"query": 42}}`), "data.searchResult.query must be a string"},
		{"wrong type int", ev("e4", "product_added_to_cart", ts, `{"cartLine": {"quantity": "two", "merchandise": {"id": "1", "product": {"id": "2"}}}}`), "data.cartLine.quantity must be an integer"},
		{"wrong type number", ev("e5", "product_viewed", ts, `{"productVariant": {"id": "1", "price": {"amount": "19.99"}, "product": {"id": "2"}}}`), "data.productVariant.price.amount must be a number"},
		{"data not object", ev("e6", "page_viewed", ts, `[1,2]`), "data must be an object"},
		{"unknown name", ev("e7", "add_payment_info", ts, `{}`), "is not an event Cartwheel accepts"},
		{"future", ev("e8", "page_viewed", "2026-11-24T10:06:00Z", `{}`), "more than 5 minutes in the future"},
		{"too old", ev("e9", "page_viewed", "2026-11-16T10:00:00Z", `{}`), "older than 7 days"},
		{"bad timestamp", ev("e10", "page_viewed", "24/11/2026", `{}`), "RFC 3339"},
		{"no id", `{"name": "page_viewed", "timestamp": "` + ts + `"}`, "id is required"},
		{"theme only from pixel", ev("e11", "wheel_viewed", ts, `{}`), "only accepted from the theme"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			good := ev("ok1", "page_viewed", ts, `{}`)
			b, rej, err := events.ParseAt(batch(good, c.event), events.SourcePixel, now)
			if err != nil {
				t.Fatalf("batch refused: %v", err)
			}
			if len(b.Events) != 1 || b.Events[0].ID != "ok1" {
				t.Errorf("the good event should stay: %+v", b.Events)
			}
			if len(rej) != 1 || rej[0].Index != 1 || !strings.Contains(rej[0].Error, c.want) {
				t.Errorf("rejections = %+v, want index 1 with %q", rej, c.want)
			}
		})
	}
}

func TestParseBatchErrors(t *testing.T) {
	ts := "2026-11-24T09:00:00Z"
	many := make([]string, 51)
	for i := range many {
		many[i] = ev(fmt.Sprintf("e%d", i), "page_viewed", ts, `{}`)
	}
	cases := []struct {
		name string
		body []byte
		want error
	}{
		{"not json", []byte(`{"shop": `), events.ErrMalformed},
		{"array", []byte(`[1]`), events.ErrMalformed},
		{"no visitor", []byte(`{"shop": "x.myshopify.com", "events": [` + ev("a", "page_viewed", ts, `{}`) + `]}`), events.ErrMalformed},
		{"bad visitor", []byte(`{"shop": "x.myshopify.com", "visitor_id": "<script>", "events": [` + ev("a", "page_viewed", ts, `{}`) + `]}`), events.ErrMalformed},
		{"events not array", []byte(`{"shop": "x.myshopify.com", "visitor_id": "v_abcdefgh12", "events": {}}`), events.ErrMalformed},
		{"no events", batch(), events.ErrMalformed},
		{"51 events", batch(many...), events.ErrTooLarge},
		{"over 64 KB", append(batch(ev("a", "page_viewed", ts, `{}`)), make([]byte, events.MaxBodyBytes)...), events.ErrTooLarge},
		{"trailing", append(batch(ev("a", "page_viewed", ts, `{}`)), []byte(`{}`)...), events.ErrMalformed},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, _, err := events.ParseAt(c.body, events.SourcePixel, now)
			if !errors.Is(err, c.want) {
				t.Errorf("err = %v, want %v", err, c.want)
			}
		})
	}
}

func TestParseStoresScriptAsTextAndClampsLength(t *testing.T) {
	q := `<script>alert("x")</script>` + strings.Repeat("é", 400)
	b, rej, err := events.ParseAt(batch(ev("s1", "search_submitted", "2026-11-24T09:00:00Z",
		fmt.Sprintf(`{"searchResult": {"query": %q}}`, q))), events.SourcePixel, now)
	if err != nil || len(rej) != 0 {
		t.Fatal(err, rej)
	}
	var d struct {
		SearchResult struct{ Query string } `json:"searchResult"`
	}
	json.Unmarshal(b.Events[0].Data, &d)
	if !strings.HasPrefix(d.SearchResult.Query, `<script>alert("x")</script>`) {
		t.Errorf("text must be kept verbatim as data, got %q", d.SearchResult.Query)
	}
	if n := len([]rune(d.SearchResult.Query)); n != 255 {
		t.Errorf("query clamped to %d runes, want 255", n)
	}
}

func TestParseCheckoutEmailIsNotStored(t *testing.T) {
	b, rej, err := events.ParseAt(batch(ev("c1", "checkout_contact_info_submitted", "2026-11-24T09:00:00Z",
		`{"checkout": {"token": "tok1", "email": " Ann@Example.com ", "phone": "+33123", "currencyCode": "EUR",
		  "totalPrice": {"amount": 42.5, "currencyCode": "EUR"}, "lineItems": [{"id": "1", "quantity": 2, "title": "Tee",
		  "variant": {"id": "9", "product": {"id": "8", "title": "Tee"}}}]}}`)), events.SourcePixel, now)
	if err != nil || len(rej) != 0 {
		t.Fatal(err, rej)
	}
	e := b.Events[0]
	if e.Email != "Ann@Example.com" {
		t.Errorf("Email = %q", e.Email)
	}
	if strings.Contains(string(e.Data), "Ann@") || strings.Contains(string(e.Data), "+33123") {
		t.Errorf("contact details stored in data: %s", e.Data)
	}
	if !strings.Contains(string(e.Data), `"token":"tok1"`) {
		t.Errorf("checkout token lost: %s", e.Data)
	}
}

func TestParseRepeatsInBatchAreDuplicates(t *testing.T) {
	e := ev("same", "page_viewed", "2026-11-24T09:00:00Z", `{}`)
	b, _, err := events.ParseAt(batch(e, e), events.SourcePixel, now)
	if err != nil || len(b.Events) != 1 || b.Repeats != 1 {
		t.Fatalf("events %d repeats %d err %v", len(b.Events), b.Repeats, err)
	}
}

func TestParseClaim(t *testing.T) {
	raw := []byte(`{"shop": "x.myshopify.com", "visitor_id": "v_abcdefgh12", "customer": {"id": "gid://shopify/Customer/77", "email": "a@b.co"},
		"events": [` + ev("a", "page_viewed", "2026-11-24T09:00:00Z", `{}`) + `]}`)
	b, _, err := events.ParseAt(raw, events.SourcePixel, now)
	if err != nil || b.Customer == nil || b.Customer.ShopifyID != 77 || b.Customer.Email != "a@b.co" {
		t.Fatalf("claim = %+v err %v", b.Customer, err)
	}
}
