package reports_test

import (
	"cmp"
	"context"
	"database/sql"
	"errors"
	"fmt"
	"math/rand/v2"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/jmoiron/sqlx"
	"github.com/shopspring/decimal"

	"github.com/cartwheel/cartwheel/app/customers"
	"github.com/cartwheel/cartwheel/app/db"
	"github.com/cartwheel/cartwheel/app/db/dbtest"
	"github.com/cartwheel/cartwheel/app/orders"
	"github.com/cartwheel/cartwheel/app/reports"
	"github.com/cartwheel/cartwheel/app/signals"
	"github.com/cartwheel/cartwheel/app/signals/signalstest"
)

// attrWorld is a shop with customers, campaign and flow emails and their
// opens and clicks, kept in memory as well as in the database so the rule
// can be computed without SQL.
type attrWorld struct {
	t         *testing.T
	db        *sqlx.DB
	orders    *orders.Store
	shop      int64
	loc       *time.Location
	clickDays int
	openDays  int
	campaigns []int64
	flow      int64
	customers []attrCustomer
	msgs      map[int64]attrMsg
	events    []attrEvent
	placed    []placedOrder
}

type attrCustomer struct{ id, shopifyID int64 }

type attrMsg struct {
	id, customer int64
	kind         string // campaign | flow | test
	campaign     int64
	variant      string
	flow         int64
	step         string
	template     int64
}

type attrEvent struct {
	id, message int64
	kind        string
	machine     bool
	at          time.Time
}

type placedOrder struct {
	shopifyID int64
	customer  int64 // 0: a guest
	at        time.Time
	total     decimal.Decimal
	refunded  decimal.Decimal
	cancelled bool
	voided    bool // cancelled before payment: Shopify voids it, nothing was paid
	test      bool
}

func (w *attrWorld) id(q string, args ...any) int64 {
	w.t.Helper()
	var id int64
	if err := w.db.Get(&id, q, args...); err != nil {
		w.t.Fatal(err)
	}
	return id
}

// newAttrWorld seeds n customers with random email lives between start
// and start+span: 0–5 emails each (campaign variants, flow steps, a test
// send that never counts), each with random human and machine opens and
// clicks and a delivery.
func newAttrWorld(t *testing.T, seed uint64, n, clickDays, openDays int, start time.Time, span time.Duration) *attrWorld {
	d := dbtest.New(t)
	w := &attrWorld{t: t, db: d, orders: orders.NewStore(d, customers.NewStore(d)), clickDays: clickDays, openDays: openDays, msgs: map[int64]attrMsg{}}
	w.loc, _ = time.LoadLocation("America/New_York")
	w.shop = w.id(`INSERT INTO shops (domain, name, iana_timezone, attribution_click_days, attribution_open_days)
		VALUES ('attr.myshopify.com', 'A', 'America/New_York', $1, $2) RETURNING id`, clickDays, openDays)
	for i := range 2 {
		w.campaigns = append(w.campaigns, w.id(`INSERT INTO campaigns (shop_id, name, status) VALUES ($1, $2, 'sent') RETURNING id`,
			w.shop, fmt.Sprintf("Sale %d", i+1)))
	}
	w.flow = w.id(`INSERT INTO flows (shop_id, name, status, draft, live_version) VALUES ($1, 'Abandoned cart', 'live', '{}', 1) RETURNING id`, w.shop)
	if _, err := d.Exec(`INSERT INTO flow_versions (shop_id, flow_id, version, definition) VALUES ($1, $2, 1,
		'{"steps": [{"id": "wait-1", "type": "wait"}, {"id": "email-1", "type": "send_email", "name": "Reminder"},
		            {"id": "email-2", "type": "send_email"}]}')`, w.shop, w.flow); err != nil {
		t.Fatal(err)
	}
	r := rand.New(rand.NewPCG(seed, 7))
	randAt := func() time.Time { return start.Add(time.Duration(r.Int64N(int64(span/time.Second))) * time.Second) }
	run := int64(0)
	for i := range n {
		c := attrCustomer{shopifyID: 90_000 + int64(i)}
		c.id = w.id(`INSERT INTO customers (shop_id, email, email_consent, shopify_id) VALUES ($1, $2, 'subscribed', $3) RETURNING id`,
			w.shop, fmt.Sprintf("a%d@example.com", i), c.shopifyID)
		w.customers = append(w.customers, c)
		for range r.IntN(6) {
			sent := randAt()
			m := attrMsg{customer: c.id, template: int64(1 + r.IntN(3))}
			switch p := r.IntN(10); {
			case p < 5:
				m.kind, m.campaign, m.variant = "campaign", w.campaigns[r.IntN(2)], []string{"A", "B", ""}[r.IntN(3)]
			case p < 9:
				run++
				m.kind, m.flow, m.step = "flow", w.flow, []string{"email-1", "email-2"}[r.IntN(2)]
			default:
				m.kind = "test"
			}
			var err error
			switch m.kind {
			case "campaign":
				err = d.Get(&m.id, `INSERT INTO email_messages (shop_id, customer_id, to_email, kind, dedupe_key, marketing, status, sent_at,
					campaign_id, campaign_variant, template_id) VALUES ($1, $2, 'x@example.com', 'campaign', $3, true, 'sent', $4, $5, $6, $7)
					ON CONFLICT DO NOTHING RETURNING id`,
					w.shop, c.id, fmt.Sprintf("campaign:%d:customer:%d", m.campaign, c.id), sent, m.campaign, m.variant, m.template)
			case "flow":
				err = d.Get(&m.id, `INSERT INTO email_messages (shop_id, customer_id, to_email, kind, dedupe_key, marketing, status, sent_at,
					flow_id, flow_version, flow_run_id, flow_step, template_id) VALUES ($1, $2, 'x@example.com', 'flow', $3, true, 'sent', $4, $5, 1, $6, $7, $8)
					RETURNING id`, w.shop, c.id, fmt.Sprintf("flow_run:%d:step:%s", run, m.step), sent, m.flow, run, m.step, m.template)
			case "test":
				m.template = 0
				err = d.Get(&m.id, `INSERT INTO email_messages (shop_id, customer_id, to_email, kind, dedupe_key, status, sent_at)
					VALUES ($1, $2, 'x@example.com', 'test', $3, 'sent', $4) RETURNING id`, w.shop, c.id, fmt.Sprintf("test:%d", r.Int64()), sent)
			}
			if err != nil {
				if errors.Is(err, sql.ErrNoRows) { // the campaign already mailed them
					continue
				}
				t.Fatal(err)
			}
			w.msgs[m.id] = m
			w.event(m.id, "delivered", false, sent.Add(time.Minute))
			for range r.IntN(4) {
				w.event(m.id, "open", r.IntN(3) == 0, sent.Add(time.Duration(r.Int64N(int64(4*24*time.Hour)))))
			}
			for range r.IntN(3) {
				w.event(m.id, "click", r.IntN(4) == 0, sent.Add(time.Duration(r.Int64N(int64(6*24*time.Hour)))))
			}
		}
	}
	return w
}

func (w *attrWorld) event(msg int64, kind string, machine bool, at time.Time) attrEvent {
	w.t.Helper()
	e := attrEvent{message: msg, kind: kind, machine: machine, at: at.Truncate(time.Microsecond)}
	e.id = w.id(`INSERT INTO email_events (shop_id, message_id, source, kind, machine, user_agent, occurred_at)
		VALUES ($1, $2, 'redirect', $3, $4, 'Mozilla/5.0', $5) RETURNING id`, w.shop, msg, kind, machine, e.at)
	w.events = append(w.events, e)
	return e
}

// write stores orders as the order webhook does: the orders writer and the
// signals it records, in one transaction.
func (w *attrWorld) write(fn func(tx *sqlx.Tx) ([]orders.Written, error)) {
	w.t.Helper()
	ctx := context.Background()
	tx, err := w.db.Beginx()
	if err != nil {
		w.t.Fatal(err)
	}
	defer tx.Rollback()
	written, err := fn(tx)
	if err != nil {
		w.t.Fatal(err)
	}
	var sigs []signals.Signal
	for _, wr := range written {
		if wr.CustomerID == 0 {
			continue
		}
		kind := signals.OrderUpdated
		if wr.Inserted {
			kind = signals.OrderPlaced
		}
		sigs = append(sigs, signals.Signal{ShopID: w.shop, CustomerID: wr.CustomerID, Kind: kind, Ref: strconv.FormatInt(wr.ShopifyID, 10)})
	}
	if err := signals.Record(ctx, tx.Tx, sigs...); err != nil {
		w.t.Fatal(err)
	}
	if err := tx.Commit(); err != nil {
		w.t.Fatal(err)
	}
}

func (w *attrWorld) shopifyCustomer(id int64) int64 {
	for _, c := range w.customers {
		if c.id == id {
			return c.shopifyID
		}
	}
	return 0
}

func (w *attrWorld) orderPayload(o placedOrder, updated time.Time) orders.Order {
	at := o.at
	ord := orders.Order{ShopifyID: o.shopifyID, Name: "#" + strconv.FormatInt(o.shopifyID, 10), Currency: "USD",
		Subtotal: o.total, Total: o.total, FinancialStatus: "paid", ProcessedAt: &at, CreatedAt: &at, UpdatedAt: &updated, Test: o.test,
		ShopifyCustomerID: w.shopifyCustomer(o.customer)}
	if o.cancelled {
		ord.CancelledAt = &updated
	}
	if o.voided {
		ord.FinancialStatus = "voided"
	}
	return ord
}

// place writes the order (OrderPlaced).
func (w *attrWorld) place(o placedOrder) {
	w.write(func(tx *sqlx.Tx) ([]orders.Written, error) {
		_, written, err := w.orders.UpsertWritten(context.Background(), tx, w.shop, []orders.Order{w.orderPayload(o, o.at)})
		return written, err
	})
}

// model is the rule computed straight from the in-memory data.
type modelAttr struct {
	order          int64
	message, event int64
	touch          string
	window         int
	amount         decimal.Decimal
	cancelled      bool
	day            string
}

func (w *attrWorld) model() map[int64]modelAttr {
	out := map[int64]modelAttr{}
	for _, o := range w.placed {
		if o.customer == 0 || o.test {
			continue
		}
		var best *attrEvent
		better := func(a, b attrEvent) bool { // a better than b
			if (a.kind == "click") != (b.kind == "click") {
				return a.kind == "click"
			}
			return cmp.Or(a.at.Compare(b.at), cmp.Compare(a.id, b.id)) > 0
		}
		for i, e := range w.events {
			m := w.msgs[e.message]
			if m.customer != o.customer || (m.kind != "campaign" && m.kind != "flow") || e.machine || e.at.After(o.at) {
				continue
			}
			var window int
			switch e.kind {
			case "click":
				window = w.clickDays
			case "open":
				window = w.openDays
			default:
				continue
			}
			if window == 0 || e.at.Before(o.at.AddDate(0, 0, -window)) {
				continue
			}
			if best == nil || better(e, *best) {
				best = &w.events[i]
			}
		}
		if best == nil {
			continue
		}
		window := w.clickDays
		if best.kind == "open" {
			window = w.openDays
		}
		refunded := decimal.Min(o.refunded, o.total)
		out[o.shopifyID] = modelAttr{order: o.shopifyID, message: best.message, event: best.id, touch: best.kind, window: window,
			amount: paidOf(o, refunded), cancelled: o.cancelled, day: o.at.In(w.loc).Format(time.DateOnly)}
	}
	return out
}

type rollKey struct {
	scope   string
	id      int64
	variant string
	day     string
}

type rollVal struct {
	orders int64
	sales  decimal.Decimal
}

func (w *attrWorld) modelRollups(model map[int64]modelAttr) map[rollKey]rollVal {
	out := map[rollKey]rollVal{}
	add := func(k rollKey, a modelAttr) {
		v := out[k]
		v.orders++
		v.sales = v.sales.Add(a.amount)
		out[k] = v
	}
	for _, a := range model {
		m := w.msgs[a.message]
		if m.kind == "campaign" {
			add(rollKey{reports.ScopeCampaign, m.campaign, m.variant, a.day}, a)
		} else {
			add(rollKey{reports.ScopeFlow, m.flow, m.step, a.day}, a)
		}
		add(rollKey{reports.ScopeTemplate, m.template, "", a.day}, a)
	}
	return out
}

// check compares the stored attributions and the rollups with the model.
func (w *attrWorld) check(stage string) map[int64]modelAttr {
	w.t.Helper()
	want := w.model()
	var got []struct {
		Order     int64           `db:"order_id"`
		Message   int64           `db:"message_id"`
		Event     int64           `db:"event_id"`
		Touch     string          `db:"touch"`
		Window    int             `db:"window_days"`
		Amount    decimal.Decimal `db:"amount"`
		Cancelled bool            `db:"cancelled"`
		Day       time.Time       `db:"day"`
	}
	if err := w.db.Select(&got, `SELECT order_id, message_id, event_id, touch, window_days, amount, cancelled, day
		FROM order_attributions WHERE shop_id = $1`, w.shop); err != nil {
		w.t.Fatal(err)
	}
	if len(got) != len(want) {
		w.t.Errorf("%s: %d attributed orders, want %d", stage, len(got), len(want))
	}
	for _, g := range got {
		m, ok := want[g.Order]
		if !ok {
			w.t.Errorf("%s: order %d attributed (event %d, %s) but the rule attributes it to nothing", stage, g.Order, g.Event, g.Touch)
			continue
		}
		if g.Message != m.message || g.Event != m.event || g.Touch != m.touch || g.Window != m.window || !g.Amount.Equal(m.amount) ||
			g.Cancelled != m.cancelled || g.Day.Format(time.DateOnly) != m.day {
			w.t.Errorf("%s: order %d: got message %d event %d %s window %d amount %s cancelled %v day %s; want %d %d %s %d %s %v %s", stage, g.Order,
				g.Message, g.Event, g.Touch, g.Window, g.Amount, g.Cancelled, g.Day.Format(time.DateOnly),
				m.message, m.event, m.touch, m.window, m.amount, m.cancelled, m.day)
		}
	}
	wantRoll := w.modelRollups(want)
	var rows []struct {
		Scope   string          `db:"scope"`
		ID      int64           `db:"scope_id"`
		Variant string          `db:"variant"`
		Day     time.Time       `db:"day"`
		Orders  int64           `db:"orders"`
		Sales   decimal.Decimal `db:"sales"`
	}
	if err := w.db.Select(&rows, `SELECT scope, scope_id, variant, day, sum(orders) AS orders, sum(sales) AS sales FROM report_orders_daily
		WHERE shop_id = $1 GROUP BY 1, 2, 3, 4 HAVING sum(orders) <> 0 OR sum(sales) <> 0`, w.shop); err != nil {
		w.t.Fatal(err)
	}
	if len(rows) != len(wantRoll) {
		w.t.Errorf("%s: %d rollup rows, want %d", stage, len(rows), len(wantRoll))
	}
	for _, r := range rows {
		k := rollKey{r.Scope, r.ID, r.Variant, r.Day.Format(time.DateOnly)}
		if v := wantRoll[k]; v.orders != r.Orders || !v.sales.Equal(r.Sales) {
			w.t.Errorf("%s: rollup %+v: %d orders %s sales, want %d and %s", stage, k, r.Orders, r.Sales, v.orders, v.sales)
		}
	}
	// The campaign report reads the same figures, per variant.
	st := &reports.Store{DB: w.db}
	for _, c := range w.campaigns {
		rep, err := st.Campaign(context.Background(), w.shop, c)
		if err != nil {
			w.t.Fatal(err)
		}
		var want reports.Revenue
		for k, v := range wantRoll {
			if k.scope == reports.ScopeCampaign && k.id == c {
				want.Orders += v.orders
				want.Sales = want.Sales.Add(v.sales)
			}
		}
		if rep.Revenue.Orders != want.Orders || !rep.Revenue.Sales.Equal(want.Sales) {
			w.t.Errorf("%s: campaign %d report: %d orders %s, want %d and %s", stage, c, rep.Revenue.Orders, rep.Revenue.Sales, want.Orders, want.Sales)
		}
	}
	return want
}

// Attribution equals a straightforward model of the rule on random data
// (human and machine opens and clicks, test sends, guest and test orders,
// orders on the windows' edges), written by 4 writers while two consumers
// decide; refunds and cancellations then move the amounts, and every order
// signal handed again changes nothing. Three pairs of windows.
func TestAttributionMatchesTheRule(t *testing.T) {
	for _, win := range []struct{ click, open int }{{5, 1}, {2, 3}, {1, 0}} {
		t.Run(fmt.Sprintf("click%d_open%d", win.click, win.open), func(t *testing.T) {
			start := time.Date(2026, 10, 1, 0, 0, 0, 0, time.UTC)
			span := 20 * 24 * time.Hour
			w := newAttrWorld(t, uint64(win.click*10+win.open), 60, win.click, win.open, start, span)
			r := rand.New(rand.NewPCG(uint64(win.click), uint64(win.open)))
			next := int64(5_000_000)
			newOrder := func(customer int64, at time.Time) placedOrder {
				next++
				return placedOrder{shopifyID: next, customer: customer, at: at.Truncate(time.Microsecond),
					total: decimal.New(int64(500+r.IntN(20000)), -2)}
			}
			for _, c := range w.customers {
				for range r.IntN(4) {
					o := newOrder(c.id, start.Add(time.Duration(r.Int64N(int64(span+7*24*time.Hour)))))
					o.test = r.IntN(20) == 0
					w.placed = append(w.placed, o)
				}
			}
			// Orders on the edges of the windows: exactly at a human
			// click or open, exactly a window after it, and just past.
			var edges int
			for _, e := range w.events {
				if e.machine || (e.kind != "click" && e.kind != "open") || w.msgs[e.message].kind == "test" || edges >= 24 {
					continue
				}
				days := w.clickDays
				if e.kind == "open" {
					days = max(w.openDays, 1)
				}
				edges++
				cust := w.msgs[e.message].customer
				w.placed = append(w.placed, newOrder(cust, e.at), newOrder(cust, e.at.AddDate(0, 0, days)),
					newOrder(cust, e.at.AddDate(0, 0, days).Add(time.Microsecond)))
			}
			// A guest order (no profile): never attributed.
			w.placed = append(w.placed, newOrder(0, start.Add(span/2)))

			signalstest.Start(t, w.db, signals.Handlers{Reports: reports.Handler{}})
			signalstest.Start(t, w.db, signals.Handlers{Reports: reports.Handler{}})
			var wg sync.WaitGroup
			for g := range 4 {
				wg.Add(1)
				go func() {
					defer wg.Done()
					for i := g; i < len(w.placed); i += 4 {
						w.place(w.placed[i])
					}
				}()
			}
			wg.Wait()
			signalstest.Drain(t, w.db)
			want := w.check("placed")
			var clicks, opens int
			for _, a := range want {
				if a.touch == "click" {
					clicks++
				} else {
					opens++
				}
			}
			if clicks < 10 || (w.openDays > 0 && opens < 3) || len(want) == len(w.placed) {
				t.Fatalf("random data too thin: %d by clicks, %d by opens of %d orders", clicks, opens, len(w.placed))
			}

			// Refunds (some twice, some above the total) and cancellations.
			ctx := context.Background()
			refundID := int64(7_000_000)
			for i := range w.placed {
				o := &w.placed[i]
				switch p := r.IntN(10); {
				case p < 3:
					for range 1 + r.IntN(2) {
						refundID++
						amt := decimal.New(int64(r.IntN(12000)), -2)
						o.refunded = o.refunded.Add(amt)
						w.write(func(tx *sqlx.Tx) ([]orders.Written, error) {
							_, written, err := w.orders.AddRefundsWritten(ctx, tx, w.shop, []orders.Refund{{ShopifyID: refundID, OrderID: o.shopifyID, Amount: amt}})
							return written, err
						})
					}
				case p < 5:
					o.cancelled = true
					o.voided = r.IntN(2) == 0 // half of them before payment
					w.write(func(tx *sqlx.Tx) ([]orders.Written, error) {
						_, written, err := w.orders.UpsertWritten(ctx, tx, w.shop, []orders.Order{w.orderPayload(*o, o.at.Add(time.Hour))})
						return written, err
					})
				}
			}
			signalstest.Drain(t, w.db)
			w.check("refunded")

			// Every order signal handed again.
			if _, err := w.db.Exec(`INSERT INTO customer_signals (shop_id, customer_id, kind, ref, data, at)
				SELECT o.shop_id, o.customer_id, k, o.shopify_id::text, '{}', now()
				FROM orders o, unnest(ARRAY['order_placed', 'order_updated', 'order_placed']) k
				WHERE o.shop_id = $1 AND o.customer_id IS NOT NULL`, w.shop); err != nil {
				t.Fatal(err)
			}
			signalstest.Drain(t, w.db)
			w.check("handed again")
		})
	}
}

// The stored reason names the email (flow and step by name, campaign and
// variant), the touch, how long before the order and the window; the
// profile and the report read it so.
func TestAttributionReason(t *testing.T) {
	start := time.Date(2026, 10, 1, 0, 0, 0, 0, time.UTC)
	w := newAttrWorld(t, 1, 0, 5, 1, start, time.Hour)
	c := attrCustomer{shopifyID: 123}
	c.id = w.id(`INSERT INTO customers (shop_id, email, shopify_id) VALUES ($1, 'r@example.com', 123) RETURNING id`, w.shop)
	w.customers = append(w.customers, c)
	flowMsg := w.id(`INSERT INTO email_messages (shop_id, customer_id, to_email, kind, dedupe_key, status, sent_at, flow_id, flow_version,
		flow_run_id, flow_step, template_id) VALUES ($1, $2, 'r@example.com', 'flow', 'flow_run:1:step:email-1', 'sent', $3, $4, 1, 1, 'email-1', 9)
		RETURNING id`, w.shop, c.id, start, w.flow)
	campMsg := w.id(`INSERT INTO email_messages (shop_id, customer_id, to_email, kind, dedupe_key, status, sent_at, campaign_id, campaign_variant)
		VALUES ($1, $2, 'r@example.com', 'campaign', 'c', 'sent', $3, $4, 'B') RETURNING id`, w.shop, c.id, start.AddDate(0, 0, 10), w.campaigns[0])
	order1 := start.Add(30 * time.Hour)
	w.event(flowMsg, "click", false, order1.Add(-(2*time.Hour + 14*time.Minute)))
	w.event(flowMsg, "click", true, order1.Add(-time.Minute)) // a scanner: never counts
	order2 := start.AddDate(0, 0, 10).Add(5 * time.Hour)
	w.event(campMsg, "open", false, order2.Add(-(3*time.Hour + 5*time.Minute)))
	signalstest.Start(t, w.db, signals.Handlers{Reports: reports.Handler{}})
	w.place(placedOrder{shopifyID: 1001, customer: c.id, at: order1, total: decimal.RequireFromString("80.00")})
	w.place(placedOrder{shopifyID: 1002, customer: c.id, at: order2, total: decimal.RequireFromString("20.50")})
	w.place(placedOrder{shopifyID: 1003, customer: c.id, at: order2.AddDate(0, 0, 2), total: decimal.RequireFromString("5.00")})
	signalstest.Drain(t, w.db)
	got, err := (&reports.Store{DB: w.db}).OrderAttributions(context.Background(), w.shop, []int64{1001, 1002, 1003})
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 2 {
		t.Fatalf("%d attributed orders, want 2 (the third is past both windows): %+v", len(got), got)
	}
	for id, want := range map[int64]string{
		1001: "attributed to Abandoned cart — Reminder: clicked 2 h 14 min before the order (click window 5 days)",
		1002: "attributed to Sale 1 (variant B): opened 3 h 5 min before the order (open window 1 day)",
	} {
		if r := got[id].Reason(); r != want {
			t.Errorf("order %d: %q, want %q", id, r, want)
		}
	}
	if got[1001].OrderName != "#1001" || !got[1001].Amount.Equal(decimal.RequireFromString("80")) {
		t.Errorf("order 1001: %+v", got[1001])
	}
	orders, err := (&reports.Store{DB: w.db}).CampaignOrders(context.Background(), w.shop, w.campaigns[0], 10)
	if err != nil || len(orders) != 1 || orders[0].OrderID != 1002 {
		t.Errorf("campaign orders %+v, %v; want order 1002", orders, err)
	}
	// Another shop reads nothing of them.
	other := w.id(`INSERT INTO shops (domain, name) VALUES ('o.myshopify.com', 'O') RETURNING id`)
	if o, err := (&reports.Store{DB: w.db}).OrderAttributions(context.Background(), other, []int64{1001, 1002}); err != nil || len(o) != 0 {
		t.Errorf("another shop reads %+v, %v", o, err)
	}
}

func TestAgo(t *testing.T) {
	for d, want := range map[time.Duration]string{
		30 * time.Second:                 "less than a minute",
		45 * time.Minute:                 "45 min",
		2 * time.Hour:                    "2 h",
		2*time.Hour + 14*time.Minute:     "2 h 14 min",
		24 * time.Hour:                   "1 day",
		3*24*time.Hour + 4*time.Hour + 1: "3 days 4 h",
	} {
		if got := reports.Ago(d); got != want {
			t.Errorf("Ago(%s) = %q, want %q", d, got, want)
		}
	}
}

// An order no touch qualified for is decided again on its next update: a
// click recorded late (a provider's delayed event) that happened before
// the order credits it then, at its paid total after the refund.
func TestLateTouchCreditsOnUpdate(t *testing.T) {
	start := time.Date(2026, 10, 1, 0, 0, 0, 0, time.UTC)
	w := newAttrWorld(t, 1, 0, 5, 1, start, time.Hour)
	c := attrCustomer{shopifyID: 321}
	c.id = w.id(`INSERT INTO customers (shop_id, email, shopify_id) VALUES ($1, 'l@example.com', 321) RETURNING id`, w.shop)
	w.customers = append(w.customers, c)
	msg := w.id(`INSERT INTO email_messages (shop_id, customer_id, to_email, kind, dedupe_key, status, sent_at, campaign_id, campaign_variant)
		VALUES ($1, $2, 'l@example.com', 'campaign', 'c', 'sent', $3, $4, '') RETURNING id`, w.shop, c.id, start, w.campaigns[1])
	signalstest.Start(t, w.db, signals.Handlers{Reports: reports.Handler{}})
	o := placedOrder{shopifyID: 2001, customer: c.id, at: start.Add(48 * time.Hour), total: decimal.RequireFromString("60.00")}
	w.place(o)
	signalstest.Drain(t, w.db)
	st := &reports.Store{DB: w.db}
	if got, _ := st.OrderAttributions(context.Background(), w.shop, []int64{2001}); len(got) != 0 {
		t.Fatalf("credited without a touch: %+v", got)
	}
	w.event(msg, "click", false, o.at.Add(-time.Hour))
	w.write(func(tx *sqlx.Tx) ([]orders.Written, error) {
		_, written, err := w.orders.AddRefundsWritten(context.Background(), tx, w.shop, []orders.Refund{{ShopifyID: 1, OrderID: 2001, Amount: decimal.RequireFromString("15.00")}})
		return written, err
	})
	signalstest.Drain(t, w.db)
	got, err := st.OrderAttributions(context.Background(), w.shop, []int64{2001})
	if err != nil || len(got) != 1 || got[2001].Touch != reports.TouchClick || !got[2001].Amount.Equal(decimal.RequireFromString("45")) {
		t.Fatalf("after the late click and a refund: %+v, %v", got, err)
	}
	rep, err := st.Campaign(context.Background(), w.shop, w.campaigns[1])
	if err != nil || rep.Revenue.Orders != 1 || !rep.Revenue.Sales.Equal(decimal.RequireFromString("45")) {
		t.Errorf("campaign revenue %+v, %v; want 1 order, 45.00", rep.Revenue, err)
	}
}

// Transactions following the same attributed orders at once (16
// goroutines, each refunding a random order and then following a random
// handful, with no consumer ordering them): the rollup always holds
// exactly the stored amounts, and once the refunds stop, one more pass
// brings every order and the rollup to the paid totals.
func TestConcurrentFollowsKeepTheRollupExact(t *testing.T) {
	start := time.Date(2026, 10, 1, 0, 0, 0, 0, time.UTC)
	w := newAttrWorld(t, 1, 0, 5, 1, start, time.Hour)
	ctx := context.Background()
	const n = 20
	var ids []int64
	for i := range n {
		c := attrCustomer{shopifyID: int64(500 + i)}
		c.id = w.id(`INSERT INTO customers (shop_id, email, shopify_id) VALUES ($1, $2, $3) RETURNING id`, w.shop, fmt.Sprintf("f%d@example.com", i), c.shopifyID)
		w.customers = append(w.customers, c)
		m := w.id(`INSERT INTO email_messages (shop_id, customer_id, to_email, kind, dedupe_key, status, sent_at, campaign_id, campaign_variant)
			VALUES ($1, $2, 'f@example.com', 'campaign', $3, 'sent', $4, $5, 'A') RETURNING id`, w.shop, c.id, fmt.Sprintf("f%d", i), start, w.campaigns[0])
		w.event(m, "click", false, start.Add(time.Hour))
		o := placedOrder{shopifyID: int64(3000 + i), customer: c.id, at: start.Add(2 * time.Hour), total: decimal.RequireFromString("1000.00")}
		w.write(func(tx *sqlx.Tx) ([]orders.Written, error) {
			_, written, err := w.orders.UpsertWritten(ctx, tx, w.shop, []orders.Order{w.orderPayload(o, o.at)})
			return written, err
		})
		ids = append(ids, o.shopifyID)
	}
	w.db.MustExec(`DELETE FROM customer_signals`) // followed by hand below
	if err := reports.Attribute(ctx, w.db, w.shop, ids); err != nil {
		t.Fatal(err)
	}
	var refundID sync.Mutex
	next := int64(100)
	var wg sync.WaitGroup
	for g := range 16 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			r := rand.New(rand.NewPCG(uint64(g), 3))
			for range 25 {
				refundID.Lock()
				next++
				rid := next
				refundID.Unlock()
				oid := ids[r.IntN(n)]
				err := db.InTx(ctx, w.db, func(tx *sqlx.Tx) error {
					_, _, err := w.orders.AddRefundsWritten(ctx, tx, w.shop, []orders.Refund{{ShopifyID: rid, OrderID: oid, Amount: decimal.RequireFromString("1.00")}})
					return err
				})
				if err != nil {
					t.Error(err)
					return
				}
				some := []int64{oid, ids[r.IntN(n)], ids[r.IntN(n)]}
				if err := reports.Attribute(ctx, w.db, w.shop, some); err != nil {
					t.Error(err)
					return
				}
			}
		}()
	}
	wg.Wait()
	stored := func() (amounts, rolled decimal.Decimal, orders int64) {
		w.db.Get(&amounts, `SELECT sum(amount) FROM order_attributions WHERE shop_id = $1`, w.shop)
		w.db.Get(&rolled, `SELECT sum(sales) FROM report_orders_daily WHERE shop_id = $1 AND scope = 'campaign'`, w.shop)
		w.db.Get(&orders, `SELECT sum(orders) FROM report_orders_daily WHERE shop_id = $1 AND scope = 'campaign'`, w.shop)
		return
	}
	if a, r, o := stored(); !a.Equal(r) || o != n {
		t.Errorf("rollup holds %s in %d orders, the attributions %s in %d", r, o, a, n)
	}
	if err := reports.Attribute(ctx, w.db, w.shop, ids); err != nil {
		t.Fatal(err)
	}
	want := decimal.RequireFromString("1000.00").Mul(decimal.NewFromInt(n)).Sub(decimal.NewFromInt(16 * 25))
	if a, r, _ := stored(); !a.Equal(want) || !r.Equal(want) {
		t.Errorf("after the refunds: attributions %s, rollup %s, want both %s", a, r, want)
	}
}

// paidOf is what the order paid: nothing when its payment was voided, else
// its total less refunds (never below nothing).
func paidOf(o placedOrder, refunded decimal.Decimal) decimal.Decimal {
	if o.voided {
		return decimal.Zero
	}
	return o.total.Sub(refunded)
}
