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
