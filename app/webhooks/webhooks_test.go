package webhooks_test

import (
	"bytes"
	"context"
	"errors"
	"io"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jmoiron/sqlx"
	"github.com/riverqueue/river"
	"github.com/riverqueue/river/rivertype"

	"github.com/cartwheel/cartwheel/app/db"
	"github.com/cartwheel/cartwheel/app/db/dbtest"
	"github.com/cartwheel/cartwheel/app/jobs"
	"github.com/cartwheel/cartwheel/app/privacy"
	"github.com/cartwheel/cartwheel/app/secretbox"
	"github.com/cartwheel/cartwheel/app/shops"
	"github.com/cartwheel/cartwheel/app/webhooks"
)

func TestValidate(t *testing.T) {
	ok := webhooks.Delivery{WebhookID: "1", Shop: "a.myshopify.com", Topic: "shop/redact", Body: []byte(`{"shop_id":1,"shop_domain":"a.myshopify.com"}`)}
	if err := webhooks.Validate(ok); err != nil {
		t.Fatal(err)
	}
	cases := map[string]func(d *webhooks.Delivery){
		"no id":              func(d *webhooks.Delivery) { d.WebhookID = "" },
		"long id":            func(d *webhooks.Delivery) { d.WebhookID = strings.Repeat("x", 201) },
		"no topic":           func(d *webhooks.Delivery) { d.Topic = "" },
		"empty":              func(d *webhooks.Delivery) { d.Body = nil },
		"whitespace":         func(d *webhooks.Delivery) { d.Body = []byte("  \n") },
		"not json":           func(d *webhooks.Delivery) { d.Body = []byte("{nope") },
		"array":              func(d *webhooks.Delivery) { d.Body = []byte(`[]`) },
		"other shop":         func(d *webhooks.Delivery) { d.Shop = "b.myshopify.com" },
		"customer in shop":   func(d *webhooks.Delivery) { d.Body = []byte(`{"shop_domain":"a.myshopify.com","customer":{"id":5}}`) },
		"redact no customer": func(d *webhooks.Delivery) { d.Topic = "customers/redact" },
		"request no id": func(d *webhooks.Delivery) {
			d.Topic = "customers/data_request"
			d.Body = []byte(`{"shop_domain":"a.myshopify.com","customer":{"id":5}}`)
		},
		"uninstall wrong shop": func(d *webhooks.Delivery) {
			d.Topic = "app/uninstalled"
			d.Body = []byte(`{"myshopify_domain":"b.myshopify.com"}`)
		},
		"customer id a string": func(d *webhooks.Delivery) {
			d.Topic = "customers/redact"
			d.Body = []byte(`{"shop_domain":"a.myshopify.com","customer":{"id":"5"}}`)
		},
	}
	for name, mod := range cases {
		d := ok
		mod(&d)
		if err := webhooks.Validate(d); !errors.Is(err, webhooks.ErrInvalid) {
			t.Errorf("%s: want ErrInvalid, got %v", name, err)
		}
	}
	// Unknown topics only need a JSON object.
	if err := webhooks.Validate(webhooks.Delivery{WebhookID: "2", Shop: "a.myshopify.com", Topic: "orders/create", Body: []byte(`{"id":1}`)}); err != nil {
		t.Fatal(err)
	}
}

type fixture struct {
	db        *sqlx.DB
	receiver  *webhooks.Receiver
	processor *webhooks.Processor
	shops     *shops.Store
}

func newFixture(t *testing.T) fixture {
	d := dbtest.New(t)
	box, _ := secretbox.New(bytes.Repeat([]byte{3}, 32))
	st := shops.NewStore(d, box)
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	p := webhooks.NewProcessor(d, st, privacy.NewService(d), log)
	workers := river.NewWorkers()
	river.AddWorker(workers, p)
	jc, err := jobs.New(d.DB, workers, jobs.Options{Logger: log})
	if err != nil {
		t.Fatal(err)
	}
	return fixture{db: d, receiver: webhooks.NewReceiver(d, jc), processor: p, shops: st}
}

func (f fixture) work(t *testing.T, id string) error {
	return f.processor.Work(context.Background(), &river.Job[webhooks.ProcessArgs]{JobRow: &rivertype.JobRow{}, Args: webhooks.ProcessArgs{WebhookID: id}})
}

func TestProcessedOnceUnderConcurrentWorkers(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	applied := 0
	var mu sync.Mutex
	f.processor.Handle("orders/create", func(ctx context.Context, tx *sqlx.Tx, d webhooks.Delivery) (string, error) {
		mu.Lock()
		applied++
		mu.Unlock()
		time.Sleep(20 * time.Millisecond) // hold the row lock while others wait
		return "counted", nil
	})
	d := webhooks.Delivery{WebhookID: "once", Shop: "a.myshopify.com", Topic: "orders/create", Body: []byte(`{"id":1}`)}
	for i := 0; i < 3; i++ {
		dup, err := f.receiver.Receive(ctx, d)
		if err != nil || dup != (i > 0) {
			t.Fatalf("receive %d: dup=%v err=%v", i, dup, err)
		}
	}
	var wg sync.WaitGroup
	for i := 0; i < 5; i++ {
		wg.Add(1)
		go func() { defer wg.Done(); f.work(t, "once") }()
	}
	wg.Wait()
	if applied != 1 {
		t.Fatalf("handler applied %d times", applied)
	}
}

func TestFailedHandlerLeavesDeliveryForRetry(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	fail := true
	f.processor.Handle("orders/create", func(ctx context.Context, tx *sqlx.Tx, d webhooks.Delivery) (string, error) {
		tx.MustExec("INSERT INTO shops (domain) VALUES ('half-done.myshopify.com')")
		if fail {
			return "", errors.New("database hiccup")
		}
		return "ok", nil
	})
	f.receiver.Receive(ctx, webhooks.Delivery{WebhookID: "retry", Shop: "a.myshopify.com", Topic: "orders/create", Body: []byte(`{"id":1}`)})
	if err := f.work(t, "retry"); err == nil {
		t.Fatal("want the handler's error so River retries")
	}
	var n int
	f.db.Get(&n, "SELECT count(*) FROM shops")
	if n != 0 {
		t.Fatal("a failed handler's writes were kept")
	}
	f.db.Get(&n, "SELECT count(*) FROM webhook_deliveries WHERE processed_at IS NULL AND body IS NOT NULL")
	if n != 1 {
		t.Fatal("the failed delivery must stay unprocessed with its body")
	}
	fail = false
	if err := f.work(t, "retry"); err != nil {
		t.Fatal(err)
	}
	f.db.Get(&n, "SELECT count(*) FROM shops")
	if n != 1 {
		t.Fatal("retry did not apply")
	}
}

func TestUninstallHandlerKeepsNewerInstall(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	db.InTx(ctx, f.db, func(tx *sqlx.Tx) error {
		_, err := f.shops.Install(ctx, tx, "a.myshopify.com", "tok", "", time.Now())
		return err
	})
	old := webhooks.Delivery{WebhookID: "old", Shop: "a.myshopify.com", Topic: "app/uninstalled",
		TriggeredAt: time.Now().Add(-time.Hour), Body: []byte(`{"myshopify_domain":"a.myshopify.com"}`)}
	f.receiver.Receive(ctx, old)
	if err := f.work(t, "old"); err != nil {
		t.Fatal(err)
	}
	if _, err := f.shops.Installed(ctx, "a.myshopify.com"); err != nil {
		t.Fatalf("late uninstall removed the newer install: %v", err)
	}
	var outcome string
	f.db.Get(&outcome, "SELECT outcome FROM webhook_deliveries WHERE webhook_id = 'old'")
	if !strings.HasPrefix(outcome, "ignored") {
		t.Fatalf("outcome %q", outcome)
	}
}
