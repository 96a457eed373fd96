package storesync_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/riverqueue/river"
	"github.com/riverqueue/river/rivertype"

	"github.com/cartwheel/cartwheel/app/webhooks"
)

var fuzzTopics = []string{"customers/update", "customers/delete", "orders/create", "orders/updated", "refunds/create",
	"products/update", "products/delete", "checkouts/update", "carts/update"}

// FuzzWebhookPayloads runs arbitrary signed bodies through the real path:
// Receive (validation, jsonb storage) and the job that applies them. A body
// must end as refused (400), rejected at receipt, applied, or recorded as a
// rejected outcome; a processing error would make the job retry a payload
// that can never apply. Seeded with go-shopify's fixtures (real payloads).
func FuzzWebhookPayloads(f *testing.F) {
	e := newEnv(f)
	for _, fx := range []struct{ file, envelope, topic string }{
		{"customer.json", "customer", "customers/update"},
		{"customer.json", "customer", "customers/delete"},
		{"order.json", "order", "orders/create"},
		{"order_with_transaction.json", "order", "orders/updated"},
		{"product.json", "product", "products/update"},
		{"product.json", "product", "products/delete"},
		{"order.json", "order", "checkouts/update"},
	} {
		raw, err := os.ReadFile(filepath.Join(fixtureDir(), fx.file))
		if err != nil {
			f.Fatalf("go-shopify fixture %s: %v", fx.file, err)
		}
		var m map[string]json.RawMessage
		if err := json.Unmarshal(raw, &m); err != nil {
			f.Fatal(err)
		}
		for i, t := range fuzzTopics {
			if t == fx.topic {
				f.Add(uint8(i), []byte(m[fx.envelope]))
			}
		}
	}
	f.Add(uint8(4), []byte(`{"id":1,"order_id":2,"created_at":"2026-01-01T00:00:00Z","transactions":[{"kind":"refund","status":"success","amount":"1e30"}]}`))
	f.Add(uint8(8), []byte(`{"id":"c1","token":"c1","line_items":[{"product_id":1,"variant_id":2,"quantity":99999999999,"price":"1e30"}],"updated_at":"2026-01-01T00:00:00Z"}`))
	f.Add(uint8(2), []byte(`{"id":18446744073709551615,"currency":"EUR","total_price":"99999999999999999999.99","line_items":[{"id":1,"quantity":-5,"price":"NaN"}]}`))
	f.Add(uint8(0), []byte(`{"id":5,"email":"a\u0000@example.com","tags":"\udc00","updated_at":"2026-01-01T00:00:00Z"}`))
	f.Add(uint8(7), []byte(`{"token":"","email":"x@example.com","customer":{"id":-1},"total_price":"-1"}`))
	n := 0
	f.Fuzz(func(t *testing.T, topic uint8, body []byte) {
		n++
		d := webhooks.Delivery{WebhookID: fmt.Sprintf("fuzz-%d-%d", time.Now().UnixNano(), n), Shop: shopDomain,
			Topic: fuzzTopics[int(topic)%len(fuzzTopics)], TriggeredAt: time.Now(), Body: body}
		ctx := context.Background()
		if _, err := e.receiver.Receive(ctx, d); err != nil {
			if errors.Is(err, webhooks.ErrInvalid) || errors.Is(err, webhooks.ErrRejectedBody) {
				return
			}
			t.Fatalf("receive %s: %v", d.Topic, err)
		}
		job := &river.Job[webhooks.ProcessArgs]{JobRow: &rivertype.JobRow{}, Args: webhooks.ProcessArgs{WebhookID: d.WebhookID}}
		if err := e.processor.Work(ctx, job); err != nil {
			t.Fatalf("%s body that can never apply fails the job instead of being rejected: %v\n%s", d.Topic, err, body)
		}
	})
}

// FuzzWebhookFields puts fuzzed values into the fields of real payloads
// (go-shopify's fixtures): ids, quantities, amounts and customer-entered
// text, where a whole-body fuzzer rarely gets past the JSON syntax.
func FuzzWebhookFields(f *testing.F) {
	e := newEnv(f)
	load := func(file, envelope string) map[string]any {
		raw, err := os.ReadFile(filepath.Join(fixtureDir(), file))
		if err != nil {
			f.Fatalf("go-shopify fixture %s: %v", file, err)
		}
		var m map[string]any
		if err := json.Unmarshal(raw, &m); err != nil {
			f.Fatal(err)
		}
		return m[envelope].(map[string]any)
	}
	fixtures := map[string][]byte{}
	for _, fx := range []struct{ file, envelope, topic string }{
		{"customer.json", "customer", "customers/update"}, {"order.json", "order", "orders/create"},
		{"product.json", "product", "products/update"}, {"order.json", "order", "checkouts/update"},
	} {
		b, _ := json.Marshal(load(fx.file, fx.envelope))
		fixtures[fx.topic] = b
	}
	topics := []string{"customers/update", "orders/create", "products/update", "checkouts/update", "carts/update", "refunds/create"}
	f.Add(uint8(0), int64(1), int64(1), "19.99", "Bob Norman")
	f.Add(uint8(1), int64(450789469), int64(99999999999), "1e30", "#1001")
	f.Add(uint8(2), int64(-1), int64(-5), "-0.01", "\xff\xfe")
	f.Add(uint8(3), int64(9007199254740993), int64(2147483648), "NaN", "a\x00b")
	f.Add(uint8(4), int64(0), int64(1), "99999999999.999", "tok")
	f.Add(uint8(5), int64(7), int64(0), "Infinity", "")
	n := 0
	f.Fuzz(func(t *testing.T, ti uint8, id, qty int64, amount, text string) {
		topic := topics[int(ti)%len(topics)]
		var m map[string]any
		if raw, ok := fixtures[topic]; ok {
			json.Unmarshal(raw, &m)
		} else {
			m = map[string]any{}
		}
		m["id"] = id
		m["updated_at"] = time.Now().UTC().Format(time.RFC3339)
		line := map[string]any{"id": id, "product_id": id, "variant_id": id, "quantity": qty, "price": amount, "title": text}
		switch topic {
		case "customers/update":
			m["email"], m["first_name"], m["tags"], m["phone"] = text, text, text, text
		case "orders/create":
			m["name"], m["email"], m["currency"], m["total_price"] = text, text, "EUR", amount
			m["cancelled_at"], m["test"] = nil, false
			m["line_items"] = []any{line}
			m["customer"] = map[string]any{"id": qty, "email": text, "first_name": text}
			m["discount_codes"] = []any{map[string]any{"code": text, "amount": amount}}
		case "products/update":
			m["title"], m["vendor"], m["product_type"] = text, text, text
			m["variants"] = []any{map[string]any{"id": qty, "price": amount, "title": text, "sku": text}}
		case "checkouts/update":
			m["token"], m["email"], m["total_price"] = text, text, amount
			m["line_items"] = []any{line}
			m["customer"] = map[string]any{"id": qty, "email": text}
		case "carts/update":
			m["token"], m["id"] = text, text
			m["line_items"] = []any{line}
		case "refunds/create":
			m["order_id"] = qty
			m["transactions"] = []any{map[string]any{"kind": "refund", "status": "success", "amount": amount}}
		}
		body, err := json.Marshal(m)
		if err != nil {
			t.Fatal(err)
		}
		n++
		d := webhooks.Delivery{WebhookID: fmt.Sprintf("fields-%d-%d", time.Now().UnixNano(), n), Shop: shopDomain,
			Topic: topic, TriggeredAt: time.Now(), Body: body}
		ctx := context.Background()
		if _, err := e.receiver.Receive(ctx, d); err != nil {
			if errors.Is(err, webhooks.ErrInvalid) || errors.Is(err, webhooks.ErrRejectedBody) {
				return
			}
			t.Fatalf("receive %s: %v", topic, err)
		}
		job := &river.Job[webhooks.ProcessArgs]{JobRow: &rivertype.JobRow{}, Args: webhooks.ProcessArgs{WebhookID: d.WebhookID}}
		if err := e.processor.Work(ctx, job); err != nil {
			t.Fatalf("%s body that can never apply fails the job instead of being rejected: %v\n%s", topic, err, body)
		}
	})
}
