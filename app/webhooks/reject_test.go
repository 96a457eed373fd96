package webhooks_test

import (
	"context"
	"errors"
	"strconv"
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

// A delivery PostgreSQL aborts as a deadlock victim runs again at once in
// the same job: the aborted attempt's writes are gone, the second's kept,
// the outcome recorded once. One that keeps deadlocking fails the job after
// three attempts, for River's retry.
func TestDeadlockVictimRunsAgain(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	runs := 0
	f.processor.Handle("orders/create", func(ctx context.Context, tx *sqlx.Tx, d webhooks.Delivery) (string, error) {
		runs++
		tx.MustExec(`INSERT INTO shops (domain) VALUES ($1)`, "attempt-"+strconv.Itoa(runs)+".myshopify.com")
		if runs == 1 {
			_, err := tx.ExecContext(ctx, `DO $$ BEGIN RAISE EXCEPTION 'deadlock detected' USING ERRCODE = '40P01'; END $$`)
			return "", err
		}
		return "stored", nil
	})
	if _, err := f.receiver.Receive(ctx, webhooks.Delivery{WebhookID: "victim", Shop: "a.myshopify.com", Topic: "orders/create",
		Body: []byte(`{"id":1}`)}); err != nil {
		t.Fatal(err)
	}
	if err := f.work(t, "victim"); err != nil {
		t.Fatalf("the job failed: %v", err)
	}
	var domains []string
	f.db.Select(&domains, `SELECT domain FROM shops ORDER BY domain`)
	if runs != 2 || strings.Join(domains, ",") != "attempt-2.myshopify.com" {
		t.Fatalf("%d runs, shops %v", runs, domains)
	}
	var outcome string
	f.db.Get(&outcome, `SELECT outcome FROM webhook_deliveries WHERE webhook_id = 'victim' AND processed_at IS NOT NULL`)
	if outcome != "stored" {
		t.Fatalf("outcome %q", outcome)
	}

	always := 0
	f.processor.Handle("orders/updated", func(ctx context.Context, tx *sqlx.Tx, d webhooks.Delivery) (string, error) {
		always++
		_, err := tx.ExecContext(ctx, `DO $$ BEGIN RAISE EXCEPTION 'deadlock detected' USING ERRCODE = '40P01'; END $$`)
		return "", err
	})
	f.receiver.Receive(ctx, webhooks.Delivery{WebhookID: "stuck", Shop: "a.myshopify.com", Topic: "orders/updated", Body: []byte(`{"id":2}`)})
	if err := f.work(t, "stuck"); err == nil || always != 3 {
		t.Fatalf("a delivery that always deadlocks: %v after %d attempts", err, always)
	}
}
