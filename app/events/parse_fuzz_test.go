package events_test

import (
	"encoding/json"
	"testing"
	"unicode/utf8"

	"github.com/cartwheel/cartwheel/app/events"
	"github.com/cartwheel/cartwheel/app/input"
)

// storable reports why s can't be stored as PostgreSQL text ("" if it can).
func storable(s string) string { return input.Problem(s) }

// FuzzParseBatch feeds arbitrary bodies to the batch parser. Whatever it
// accepts must be storable: text without NUL and valid UTF-8, and data
// that jsonb takes (no \u0000 escape).
func FuzzParseBatch(f *testing.F) {
	f.Add(batch(productViewed), uint8(0))
	f.Add(batch(ev("e1", "checkout_started", "2026-11-24T09:59:00Z",
		`{"checkout": {"token": "tok", "email": "a@b.c", "lineItems": [{"quantity": 2, "variant": {"id": 1, "price": {"amount": 1e3}}}]}}`)), uint8(0))
	f.Add(batch(ev("e2", "search_submitted", "2026-11-24T09:59:00Z", `{"searchResult": {"query": "a\u0000b\udc00"}}`)), uint8(1))
	f.Add(batch(ev("e3", "product_viewed", "2026-11-24T09:59:00Z", `{"productVariant": {"id": "a\u0000b", "product": {"id": "7\u0000"}}}`)), uint8(0))
	f.Add([]byte(`{"shop":"x.myshopify.com","visitor_id":"v_abcdefgh12","customer":{"id":"gid://shopify/Customer/9","email":"a\u0000@b.c"},"events":[`+
		ev("e4", "page_viewed", "2026-11-24T09:59:00Z", `{}`)+`]}`), uint8(2))
	f.Add([]byte(`{"shop":"\u0000","visitor_id":"v_abcdefgh12","events":[{"id":"x","name":"cart_viewed","timestamp":"2026-11-24T09:59:00Z","context":{"url":"\u0000\xff"},"data":{"cart":{"cost":{"totalAmount":{"amount":1e999}}}}}]}`), uint8(0))
	f.Add([]byte(`[]`), uint8(0))
	f.Add([]byte(`{"visitor_id":"v_abcdefgh12","events":[1,"x",null,{}]}`), uint8(1))
	f.Fuzz(func(t *testing.T, raw []byte, s uint8) {
		src := []events.Source{events.SourcePixel, events.SourceTheme, events.SourceServer}[int(s)%3]
		b, _, err := events.ParseAt(raw, src, now)
		if err != nil {
			return
		}
		if p := storable(b.VisitorID); p != "" || !events.ValidVisitorID(b.VisitorID) {
			t.Fatalf("visitor id %q accepted", b.VisitorID)
		}
		if b.Customer != nil {
			if p := storable(b.Customer.Email); p != "" {
				t.Fatalf("customer email %s", p)
			}
		}
		for _, e := range b.Events {
			for name, v := range map[string]string{"id": e.ID, "name": e.Name, "url": e.URL, "referrer": e.Referrer, "email": e.Email} {
				if p := storable(v); p != "" {
					t.Fatalf("event %s %s: %q", name, p, v)
				}
			}
			var data any
			if err := json.Unmarshal(e.Data, &data); err != nil || !utf8.Valid(e.Data) {
				t.Fatalf("event data is not valid JSON: %s", e.Data)
			}
			if p := jsonStrings(data); p != "" {
				t.Fatalf("event data jsonb would refuse (%s): %s", p, e.Data)
			}
			if e.OccurredAt.IsZero() {
				t.Fatalf("event without a time")
			}
		}
	})
}

// jsonStrings reports the first string or key in v PostgreSQL can't store.
func jsonStrings(v any) string {
	switch x := v.(type) {
	case string:
		return storable(x)
	case []any:
		for _, el := range x {
			if p := jsonStrings(el); p != "" {
				return p
			}
		}
	case map[string]any:
		for k, el := range x {
			if p := storable(k); p != "" {
				return "key " + p
			}
			if p := jsonStrings(el); p != "" {
				return p
			}
		}
	}
	return ""
}
