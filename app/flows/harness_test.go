package flows_test

import (
	"context"
	"encoding/json"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/jmoiron/sqlx"

	"github.com/cartwheel/cartwheel/app/customers"
	"github.com/cartwheel/cartwheel/app/db/dbtest"
	"github.com/cartwheel/cartwheel/app/flows"
	"github.com/cartwheel/cartwheel/app/signals"
)

// eng is one shop with an engine on a clock the test moves.
type eng struct {
	t      *testing.T
	db     *sqlx.DB
	e      *flows.Engine
	shopID int64
	mu     sync.Mutex
	now    time.Time
	tmpl   int64
}

var t0 = time.Date(2026, 3, 2, 12, 0, 0, 0, time.UTC) // a Monday

func newEng(t *testing.T) *eng {
	t.Helper()
	d := dbtest.New(t)
	v := &eng{t: t, db: d, now: t0}
	if err := d.Get(&v.shopID, `INSERT INTO shops (domain, installed_at, sender_email, sender_name, postal_address, marketing_cap_hours)
		VALUES ($1, now(), 'shop@example.com', 'Shop', '1 Main St', 0) RETURNING id`, fmt.Sprintf("flows-%d.myshopify.com", time.Now().UnixNano())); err != nil {
		t.Fatal(err)
	}
	if err := d.Get(&v.tmpl, `INSERT INTO email_templates (shop_id, name, locale, doc) VALUES ($1, 'T', 'en', '{}') RETURNING id`, v.shopID); err != nil {
		t.Fatal(err)
	}
	v.e = &flows.Engine{DB: d, Mail: &flows.LedgerMailer{}, Profiles: customers.NewStore(d), Clock: v.clock}
	return v
}

func (v *eng) clock() time.Time { v.mu.Lock(); defer v.mu.Unlock(); return v.now }
func (v *eng) at(d time.Duration) time.Time {
	v.mu.Lock()
	defer v.mu.Unlock()
	v.now = t0.Add(d)
	return v.now
}
func (v *eng) exec(q string, args ...any) {
	v.t.Helper()
	if _, err := v.db.Exec(q, args...); err != nil {
		v.t.Fatalf("%s: %v", q, err)
	}
}

// customer makes a subscribed profile.
func (v *eng) customer(email string) int64 {
	v.t.Helper()
	var id int64
	if err := v.db.Get(&id, `INSERT INTO customers (shop_id, email, email_consent) VALUES ($1, $2, 'subscribed') RETURNING id`, v.shopID, email); err != nil {
		v.t.Fatal(err)
	}
	return id
}

// publish stores def as version 1 of a live flow.
func (v *eng) publish(def flows.Definition) int64 {
	v.t.Helper()
	raw, _ := json.Marshal(def)
	var id int64
	if err := v.db.Get(&id, `INSERT INTO flows (shop_id, name, status, trigger_type, draft, live_version) VALUES ($1, 'f', 'live', $2, $3, 1) RETURNING id`,
		v.shopID, def.Trigger.Type, raw); err != nil {
		v.t.Fatal(err)
	}
	v.exec(`INSERT INTO flow_versions (shop_id, flow_id, version, definition) VALUES ($1, $2, 1, $3)`, v.shopID, id, raw)
	return id
}

func (v *eng) signal(customerID int64, kind signals.Kind, ref string, data string) {
	v.t.Helper()
	ctx := context.Background()
	tx, err := v.db.BeginTxx(ctx, nil)
	if err != nil {
		v.t.Fatal(err)
	}
	defer tx.Rollback()
	if _, err := customers.LockProfiles(ctx, tx, v.shopID, []int64{customerID}); err != nil {
		v.t.Fatal(err)
	}
	b := &signals.Batch{ShopID: v.shopID, CustomerID: customerID, Now: v.clock(),
		Signals: []signals.Signal{{ShopID: v.shopID, CustomerID: customerID, Kind: kind, Ref: ref, Data: json.RawMessage(data), At: v.clock()}}}
	if data == "" {
		b.Signals[0].Data = nil
	}
	if err := v.e.HandleSignals(ctx, tx, b); err != nil {
		v.t.Fatal(err)
	}
	if err := tx.Commit(); err != nil {
		v.t.Fatal(err)
	}
}

func (v *eng) runDue() int {
	v.t.Helper()
	n, err := v.e.RunDue(context.Background(), v.shopID, v.clock())
	if err != nil {
		v.t.Fatal(err)
	}
	return n
}

// sent lists the flow emails of a customer as "step" in order.
func (v *eng) sent(customerID int64) []string {
	v.t.Helper()
	var steps []string
	if err := v.db.Select(&steps, `SELECT flow_step FROM email_messages WHERE shop_id = $1 AND customer_id = $2 AND kind = 'flow' ORDER BY id`,
		v.shopID, customerID); err != nil {
		v.t.Fatal(err)
	}
	return steps
}

func (v *eng) runStatus(customerID int64) (status, reason string) {
	v.t.Helper()
	var r struct {
		S string `db:"status"`
		R string `db:"end_reason"`
	}
	if err := v.db.Get(&r, `SELECT status, end_reason FROM flow_runs WHERE shop_id = $1 AND customer_id = $2 ORDER BY id DESC LIMIT 1`, v.shopID, customerID); err != nil {
		v.t.Fatal(err)
	}
	return r.S, r.R
}

func (v *eng) checkout(customerID int64, token string, created time.Time, total string) {
	v.exec(`INSERT INTO checkouts (shop_id, token, kind, customer_id, total_price, shopify_created_at, shopify_updated_at)
		VALUES ($1, $2, 'checkout', $3, $4, $5, $5)`, v.shopID, token, customerID, total, created)
}

var orderSeq int64 = 1000

func (v *eng) order(customerID int64, at time.Time) string {
	orderSeq++
	v.exec(`INSERT INTO orders (shop_id, shopify_id, customer_id, total_price, processed_at, shopify_created_at) VALUES ($1, $2, $3, 10, $4, $4)`,
		v.shopID, orderSeq, customerID, at)
	return fmt.Sprint(orderSeq)
}

func dur(s string) flows.Duration {
	d, err := flows.ParseDuration(s)
	if err != nil {
		panic(err)
	}
	return flows.Duration(d)
}

func equal(a, b []string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

func mustJSON(v any) []byte {
	b, err := json.Marshal(v)
	if err != nil {
		panic(err)
	}
	return b
}
