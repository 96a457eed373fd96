package consistency_test

import (
	"bytes"
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jmoiron/sqlx"
	"github.com/riverqueue/river"
	"github.com/riverqueue/river/rivertype"

	"github.com/cartwheel/cartwheel/app/catalog"
	"github.com/cartwheel/cartwheel/app/consistency"
	"github.com/cartwheel/cartwheel/app/customers"
	"github.com/cartwheel/cartwheel/app/db"
	"github.com/cartwheel/cartwheel/app/db/dbtest"
	"github.com/cartwheel/cartwheel/app/email/tracking"
	"github.com/cartwheel/cartwheel/app/events"
	"github.com/cartwheel/cartwheel/app/jobs"
	"github.com/cartwheel/cartwheel/app/metrics"
	"github.com/cartwheel/cartwheel/app/orders"
	"github.com/cartwheel/cartwheel/app/privacy"
	"github.com/cartwheel/cartwheel/app/secretbox"
	"github.com/cartwheel/cartwheel/app/segments"
	"github.com/cartwheel/cartwheel/app/shops"
	"github.com/cartwheel/cartwheel/app/signals"
	"github.com/cartwheel/cartwheel/app/signals/signalstest"
	"github.com/cartwheel/cartwheel/app/storesync"
	"github.com/cartwheel/cartwheel/app/webhooks"
)

const shopDomain = "busy-store.myshopify.com"

// harness is the app's write paths for one shop, wired as app/server wires
// them: webhooks through storesync, storefront events through the group
// commit ingester, SendGrid events through tracking, and segment refreshes
// queued on a real River client.
type harness struct {
	t         *testing.T
	db        *sqlx.DB
	shopID    int64
	receiver  *webhooks.Receiver
	processor *webhooks.Processor
	ingester  *events.Ingester
	tracking  *tracking.Service
	segments  *segments.Store
	orders    *orders.Store
	jobs      *jobs.Client
	sweeper   *consistency.Sweeper
	metrics   *metrics.Metrics

	customers []customer // the shop's profiles, by index
	// consuming: the signals consumer runs (newHarness withQueue).
	consuming bool
	seq       atomic.Int64
}

type customer struct {
	ID        int64 // profile id
	ShopifyID int64
	Email     string
	Visitor   string
	Messages  []int64
}

// noQueue stands in for River where the test applies deliveries itself.
type noQueue struct{}

func (noQueue) InsertTx(context.Context, *sql.Tx, river.JobArgs, *river.InsertOpts) (*rivertype.JobInsertResult, error) {
	return &rivertype.JobInsertResult{Job: &rivertype.JobRow{}}, nil
}

func newHarness(t *testing.T, nCustomers int, withQueue bool) *harness {
	t.Helper()
	ctx := context.Background()
	d := dbtest.New(t)
	box, _ := secretbox.New(bytes.Repeat([]byte{4}, 32))
	sh := shops.NewStore(d, box)
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	cs := customers.NewStore(d)
	ord := orders.NewStore(d, cs)
	segStore := segments.NewStore(d)
	p := webhooks.NewProcessor(d, sh, privacy.NewService(d), log)
	sync := storesync.New(sh, cs, ord, catalog.NewStore(d), log)
	sync.Register(p)
	h := &harness{t: t, db: d, receiver: webhooks.NewReceiver(d, noQueue{}), processor: p, segments: segStore, orders: ord,
		consuming: withQueue}

	workers := river.NewWorkers()
	jc, err := jobs.New(d.DB, workers, jobs.Options{Logger: log, PollInterval: 20 * time.Millisecond, MaxWorkers: 4})
	if err != nil {
		t.Fatal(err)
	}
	h.jobs = jc
	if withQueue {
		sync.QueueWith(jc)
		cs.RefreshSegmentsWith(segments.Queue{Jobs: jc})
		signalstest.Start(t, d, signals.Handlers{Segments: segStore})
	}
	h.ingester = events.NewIngester(d, events.Options{Log: log})
	t.Cleanup(func() { h.ingester.Close(context.Background()) })
	tk, err := tracking.NewTokens(bytes.Repeat([]byte{7}, 32))
	if err != nil {
		t.Fatal(err)
	}
	var jobsForTracking jobs.Inserter = noQueue{}
	if withQueue {
		jobsForTracking = jc
	}
	h.tracking = tracking.New(tracking.Deps{DB: d, Tokens: tk, Customers: cs, Jobs: jobsForTracking, Log: log})
	h.metrics = metrics.New()
	h.sweeper = &consistency.Sweeper{DB: d, Orders: ord, Segments: segStore, Tracking: h.tracking, Metrics: h.metrics, Log: log}

	var shop shops.Shop
	if err := db.InTx(ctx, d, func(tx *sqlx.Tx) error {
		var err error
		shop, err = sh.Install(ctx, tx, shopDomain, "shpat_x", "", time.Now().Add(-time.Hour))
		return err
	}); err != nil {
		t.Fatal(err)
	}
	h.shopID = shop.ID
	now := time.Now()
	if err := segStore.EnsurePresets(ctx, h.shopID, now); err != nil {
		t.Fatal(err)
	}
	// Two more segments that hang on exact counts: a frequent buyer (lost
	// orders show) and a frequent viewer (activity totals, any time).
	for name, c := range map[string]segments.Condition{
		"Ten orders":            {Field: segments.FieldOrdersCount, Op: "gte", Number: ptr(10.0)},
		"Viewed three products": {Field: segments.FieldEvent, Op: "did", Event: "product_viewed", Count: &segments.Count{Op: "at_least", N: 3}},
	} {
		r := segments.Rules{Version: segments.Version, Root: segments.Group{Op: "and", Items: []segments.Node{{Condition: &c}}}}
		if _, err := segStore.Create(ctx, h.shopID, name, r, now); err != nil {
			t.Fatal(err)
		}
	}

	for i := range nCustomers {
		c := fixture(t, "customer.json", "customer")
		c["id"] = 500 + i
		c["email"] = fmt.Sprintf("shopper%d@example.com", i)
		c["updated_at"] = now.Add(-time.Hour).Format(time.RFC3339)
		c["email_marketing_consent"] = map[string]any{"state": "subscribed", "opt_in_level": "single_opt_in",
			"consent_updated_at": now.Add(-time.Hour).Format(time.RFC3339)}
		if err := h.deliver("customers/create", js(c)); err != nil {
			t.Fatal(err)
		}
		cu := customer{ShopifyID: int64(500 + i), Email: c["email"].(string), Visitor: fmt.Sprintf("visitor-%d", i)}
		if err := d.Get(&cu.ID, `SELECT id FROM customers WHERE shop_id = $1 AND shopify_id = $2`, h.shopID, cu.ShopifyID); err != nil {
			t.Fatal(err)
		}
		// The visitor was identified earlier (identity is not what this
		// test is about); its events land on the profile.
		d.MustExec(`INSERT INTO visitors (shop_id, visitor_id, customer_id, identified_at, identified_by)
			VALUES ($1, $2, $3, now(), 'proxy_login')`, h.shopID, cu.Visitor, cu.ID)
		// Campaign emails already handed to SendGrid, as the sender leaves them.
		for m := range 3 {
			var id int64
			if err := d.Get(&id, `INSERT INTO email_messages (shop_id, customer_id, to_email, kind, dedupe_key, links, marketing, status, sent_at)
				VALUES ($1, $2, $3, 'campaign', $4, '{}', true, 'sent', now() - interval '1 hour') RETURNING id`,
				h.shopID, cu.ID, cu.Email, fmt.Sprintf("campaign:%d:customer:%d", m+1, cu.ID)); err != nil {
				t.Fatal(err)
			}
			cu.Messages = append(cu.Messages, id)
		}
		h.customers = append(h.customers, cu)
	}
	// Start from memberships computed from the data.
	if err := segStore.RefreshShop(ctx, h.shopID, now); err != nil {
		t.Fatal(err)
	}
	return h
}

func ptr[T any](v T) *T { return &v }

// deliver receives and applies one webhook the way the webhook job does.
func (h *harness) deliver(topic string, body []byte) error {
	id := fmt.Sprintf("%s-%d", topic, h.seq.Add(1))
	if _, err := h.receiver.Receive(context.Background(), webhooks.Delivery{WebhookID: id, Shop: shopDomain, Topic: topic,
		TriggeredAt: time.Now(), Body: body}); err != nil {
		return fmt.Errorf("receive %s: %w", topic, err)
	}
	job := &river.Job[webhooks.ProcessArgs]{JobRow: &rivertype.JobRow{}, Args: webhooks.ProcessArgs{WebhookID: id}}
	if err := h.processor.Work(context.Background(), job); err != nil {
		return fmt.Errorf("apply %s: %w", topic, err)
	}
	var outcome string
	if err := h.db.Get(&outcome, "SELECT outcome FROM webhook_deliveries WHERE webhook_id = $1", id); err != nil {
		return err
	}
	if strings.HasPrefix(outcome, "rejected") {
		return fmt.Errorf("%s rejected: %s", topic, outcome)
	}
	return nil
}

// order is go-shopify's order fixture (a cancelled test order without a
// customer) made a live order of the customer.
func (h *harness) order(id int64, c customer, total string, processed, updated time.Time, cancelled bool, products []int64) []byte {
	o := fixture(h.t, "order.json", "order")
	o["id"] = id
	o["name"] = fmt.Sprintf("#%d", id)
	o["cancelled_at"] = nil
	if cancelled {
		o["cancelled_at"] = updated.Format(time.RFC3339)
	}
	o["test"] = false
	o["total_price"] = total
	o["updated_at"] = updated.Format(time.RFC3339)
	o["created_at"] = processed.Format(time.RFC3339)
	o["processed_at"] = processed.Format(time.RFC3339)
	o["checkout_token"], o["cart_token"] = nil, nil
	cu := fixture(h.t, "customer.json", "customer")
	cu["id"] = c.ShopifyID
	cu["email"] = c.Email
	cu["updated_at"] = "2017-09-23T18:15:47-00:00"
	o["customer"] = cu
	o["email"] = c.Email
	items := o["line_items"].([]any)
	tmpl := items[len(items)-1].(map[string]any)
	var lines []any
	for i, p := range products {
		li := map[string]any{}
		for k, v := range tmpl {
			li[k] = v
		}
		li["id"] = id*10 + int64(i)
		li["product_id"] = p
		li["quantity"] = 1 + i
		lines = append(lines, li)
	}
	o["line_items"] = lines
	return js(o)
}

func refund(id, orderID int64, amount string, at time.Time) []byte {
	return js(map[string]any{"id": id, "order_id": orderID, "created_at": at.Format(time.RFC3339),
		"transactions": []any{map[string]any{"id": id, "amount": amount, "kind": "refund", "status": "success"}}})
}

// sgEvent is SendGrid's documented example of the event (and bounce type)
// for one of our messages.
func (h *harness) sgEvent(event, typ string, to string, msg int64) map[string]any {
	raw, err := os.ReadFile(filepath.Join("..", "email", "tracking", "testdata", "sendgrid_events.json"))
	if err != nil {
		h.t.Fatal(err)
	}
	var all []map[string]any
	if err := json.Unmarshal(raw, &all); err != nil {
		h.t.Fatal(err)
	}
	for _, e := range all {
		if e["event"] == event && (typ == "" || e["type"] == typ) {
			e["sg_event_id"] = fmt.Sprintf("sg-%d", h.seq.Add(1))
			e["email"] = to
			e["timestamp"] = time.Now().Unix()
			e["cw_message_id"] = strconv.FormatInt(msg, 10)
			e["cw_shop_id"] = strconv.FormatInt(h.shopID, 10)
			return e
		}
	}
	h.t.Fatalf("no documented SendGrid example for %s %s", event, typ)
	return nil
}

// drain waits until the signals consumer took every signal (when it
// runs); a customer whose signals failed fails the test (signalstest.Start).
func (h *harness) drain() {
	h.t.Helper()
	if h.consuming {
		signalstest.Drain(h.t, h.db)
	}
}

// fixture loads one of go-shopify's fixtures, unwrapped from its envelope.
func fixture(t *testing.T, name, envelope string) map[string]any {
	t.Helper()
	mod := os.Getenv("GOMODCACHE")
	if mod == "" {
		home, _ := os.UserHomeDir()
		mod = filepath.Join(home, "go", "pkg", "mod")
		if gp := os.Getenv("GOPATH"); gp != "" {
			mod = filepath.Join(strings.Split(gp, ":")[0], "pkg", "mod")
		}
	}
	raw, err := os.ReadFile(filepath.Join(mod, "github.com", "bold-commerce", "go-shopify", "v4@v4.7.0", "fixtures", name))
	if err != nil {
		t.Fatalf("go-shopify fixture %s: %v", name, err)
	}
	var m map[string]any
	if err := json.Unmarshal(raw, &m); err != nil {
		t.Fatal(err)
	}
	return m[envelope].(map[string]any)
}

func js(v any) []byte {
	b, _ := json.Marshal(v)
	return b
}
