package webhooks_test

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/jmoiron/sqlx"

	"github.com/cartwheel/cartwheel/app/webhooks"
)

// A handler that hits a data exception (a payload number out of range) is
// recorded as rejected, with its writes rolled back, instead of failing the
// job into retries that can never succeed.
func TestDataExceptionIsRejectedNotRetried(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	f.processor.Handle("carts/update", func(ctx context.Context, tx *sqlx.Tx, d webhooks.Delivery) (string, error) {
		tx.MustExec("INSERT INTO shops (domain) VALUES ('half-done.myshopify.com')")
		_, err := tx.ExecContext(ctx, `SELECT 99999999999::numeric(10, 2)`)
		return "stored", err
	})
	if _, err := f.receiver.Receive(ctx, webhooks.Delivery{WebhookID: "overflow", Shop: "a.myshopify.com", Topic: "carts/update",
		Body: []byte(`{"id":1}`)}); err != nil {
		t.Fatal(err)
	}
	if err := f.work(t, "overflow"); err != nil {
		t.Fatalf("the job failed (and would retry): %v", err)
	}
	var outcome string
	var n int
	f.db.Get(&outcome, "SELECT outcome FROM webhook_deliveries WHERE webhook_id = 'overflow' AND processed_at IS NOT NULL AND body IS NULL")
	if !strings.HasPrefix(outcome, "rejected: ") || !strings.Contains(outcome, "overflow") {
		t.Fatalf("outcome %q", outcome)
	}
	f.db.Get(&n, "SELECT count(*) FROM shops")
	if n != 0 {
		t.Fatal("the rejected handler's writes were kept")
	}
	// Other errors still fail the job for a retry.
	f.processor.Handle("carts/create", func(ctx context.Context, tx *sqlx.Tx, d webhooks.Delivery) (string, error) {
		return "", errors.New("database hiccup")
	})
	f.receiver.Receive(ctx, webhooks.Delivery{WebhookID: "hiccup", Shop: "a.myshopify.com", Topic: "carts/create", Body: []byte(`{"id":1}`)})
	if err := f.work(t, "hiccup"); err == nil {
		t.Fatal("want the handler's error so River retries")
	}
}
