package reports_test

import (
	"context"
	"fmt"
	"maps"
	"math/rand/v2"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jmoiron/sqlx"
	"github.com/lib/pq"
	"github.com/shopspring/decimal"

	"github.com/cartwheel/cartwheel/app/customers"
	"github.com/cartwheel/cartwheel/app/db"
	"github.com/cartwheel/cartwheel/app/orders"
	"github.com/cartwheel/cartwheel/app/reports"
	"github.com/cartwheel/cartwheel/app/signals"
	"github.com/cartwheel/cartwheel/app/signals/signalstest"
	"github.com/cartwheel/cartwheel/migrations"
)

// runBackfill runs migration 00034's backfill section (what an existing
// install gets) in one transaction.
func runBackfill(t *testing.T, d *sqlx.DB) {
	t.Helper()
	b, err := migrations.FS.ReadFile("00034_dashboard_rollups.sql")
	if err != nil {
		t.Fatal(err)
	}
	s := string(b)
	i, j := strings.Index(s, "-- backfill:begin"), strings.Index(s, "-- backfill:end")
	if i < 0 || j < i {
		t.Fatal("00034 has no backfill section")
	}
	if err := db.InTx(context.Background(), d, func(tx *sqlx.Tx) error {
		_, err := tx.Exec(s[i:j])
		return err
	}); err != nil {
		t.Fatalf("backfill: %v", err)
	}
}

// dashWriter writes a shop's orders and consent through the real write
// paths, each with the signals the webhook, the wheel or the admin record.
type dashWriter struct {
	t         *testing.T
	db        *sqlx.DB
	shop      int64
	orders    *orders.Store
	customers *customers.Store
}

func (w *dashWriter) tx(fn func(tx *sqlx.Tx) ([]signals.Signal, error)) {
	w.t.Helper()
	ctx := context.Background()
	if err := db.InTx(ctx, w.db, func(tx *sqlx.Tx) error {
		sigs, err := fn(tx)
		if err != nil {
			return err
		}
		return signals.Record(ctx, tx.Tx, sigs...)
	}); err != nil {
		w.t.Error(err)
	}
}

func (w *dashWriter) orderSignals(written []orders.Written) []signals.Signal {
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
	return sigs
}

type dashOrder struct {
	id, shopifyCustomer int64
	at                  time.Time
	total               decimal.Decimal
	test                bool
}

func (o dashOrder) payload(updated time.Time, cancelled, voided bool) orders.Order {
	at := o.at
	p := orders.Order{ShopifyID: o.id, Name: "#" + strconv.FormatInt(o.id, 10), Currency: "USD", Subtotal: o.total, Total: o.total,
		FinancialStatus: "paid", ProcessedAt: &at, CreatedAt: &at, UpdatedAt: &updated, Test: o.test, ShopifyCustomerID: o.shopifyCustomer}
	if cancelled {
		p.CancelledAt = &updated
	}
	if voided {
		p.FinancialStatus = "voided"
	}
	return p
}

// orderLife places the order, then maybe refunds part of it (once or
// twice) and maybe cancels it (voided: nothing was paid).
func (w *dashWriter) orderLife(r *rand.Rand, o dashOrder, refundIDs func() int64) {
	ctx := context.Background()
	w.tx(func(tx *sqlx.Tx) ([]signals.Signal, error) {
		_, written, err := w.orders.UpsertWritten(ctx, tx, w.shop, []orders.Order{o.payload(o.at, false, false)})
		return w.orderSignals(written), err
	})
	for range r.IntN(3) * r.IntN(2) {
		amt := decimal.New(int64(100+r.IntN(2000)), -2)
		w.tx(func(tx *sqlx.Tx) ([]signals.Signal, error) {
			_, written, err := w.orders.AddRefundsWritten(ctx, tx, w.shop, []orders.Refund{{ShopifyID: refundIDs(), OrderID: o.id, Amount: amt}})
			return w.orderSignals(written), err
		})
	}
	if r.IntN(6) == 0 {
		voided := r.IntN(2) == 0
		w.tx(func(tx *sqlx.Tx) ([]signals.Signal, error) {
			_, written, err := w.orders.UpsertWritten(ctx, tx, w.shop, []orders.Order{o.payload(o.at.Add(time.Hour), true, voided)})
			return w.orderSignals(written), err
		})
	}
}

// consentLife changes the profile's consent a few times at increasing
// times from start (the wheel, the unsubscribe page, the merchant), and
// maybe deletes it at the end.
func (w *dashWriter) consentLife(r *rand.Rand, customer, shopifyID int64, start time.Time, mayDelete bool) {
	ctx := context.Background()
	at := start
	for range r.IntN(4) {
		at = at.Add(time.Duration(1+r.IntN(60*60)) * time.Minute)
		ch := customers.ConsentChange{CustomerID: customer, At: at.Truncate(time.Microsecond), OptInLevel: "single_opt_in"}
		switch p := r.IntN(10); {
		case p < 4:
			ch.State, ch.Source = customers.ConsentSubscribed, "wheel"
		case p < 6:
			ch.State, ch.Source = customers.ConsentSubscribed, "merchant"
		case p < 9:
			ch.State, ch.Source = customers.ConsentUnsubscribed, "unsubscribe"
		default:
			ch.State, ch.Source = customers.ConsentPending, "merchant"
		}
		w.tx(func(tx *sqlx.Tx) ([]signals.Signal, error) {
			changed, err := w.customers.SetConsent(ctx, tx, w.shop, ch)
			if err != nil || !changed {
				return nil, err
			}
			return []signals.Signal{{ShopID: w.shop, CustomerID: customer, Kind: signals.ConsentChanged, At: ch.At,
				Data: signals.Data(map[string]any{"state": ch.State, "source": ch.Source})}}, nil
		})
	}
	if mayDelete && r.IntN(8) == 0 {
		at = at.Add(time.Duration(1+r.IntN(600)) * time.Minute).Truncate(time.Microsecond)
		w.tx(func(tx *sqlx.Tx) ([]signals.Signal, error) {
			id, err := w.customers.MarkDeleted(ctx, tx, w.shop, shopifyID, at)
			if err != nil || id == 0 {
				return nil, err
			}
			return []signals.Signal{{ShopID: w.shop, CustomerID: id, Kind: signals.ProfileChanged, At: at,
				Data: signals.Data(map[string]any{"deleted": true})}}, nil
		})
	}
}

// dashModel is the dashboard computed straight from the raw rows.
type dashModel struct {
	loc *time.Location
	// store orders and paid totals per day
	storeOrders map[time.Time]int64
	storeSales  map[time.Time]decimal.Decimal
	// attributed orders and sales per day (the attribution decisions)
	attrOrders map[time.Time]int64
	attrSales  map[time.Time]decimal.Decimal
	// engagement: first human open (or click) and first human click of each message
	opens, clicks []engPoint
	// subscribers: every move in or out of the list
	moves []subMove
}

type engPoint struct {
	at             time.Time
	device, client string
}

type subMove struct {
	customer int64
	day      time.Time
	in       bool
	wheel    bool
}

func (m *dashModel) day(at time.Time) time.Time {
	y, mo, d := at.In(m.loc).Date()
	return time.Date(y, mo, d, 0, 0, 0, 0, time.UTC)
}

// loadDashModel reads the raw rows; listedAt are the profiles that were
// subscribed without a history row when the dashboard began (counted in
// on that day, as the backfill does).
func loadDashModel(t *testing.T, d *sqlx.DB, shop int64, loc *time.Location, listedAt map[int64]time.Time) *dashModel {
	t.Helper()
	m := &dashModel{loc: loc, storeOrders: map[time.Time]int64{}, storeSales: map[time.Time]decimal.Decimal{},
		attrOrders: map[time.Time]int64{}, attrSales: map[time.Time]decimal.Decimal{}}
	var ords []struct {
		At       time.Time       `db:"processed_at"`
		Total    decimal.Decimal `db:"total_price"`
		Refunded decimal.Decimal `db:"total_refunded"`
		Status   string          `db:"financial_status"`
		Test     bool            `db:"test"`
	}
	if err := d.Select(&ords, `SELECT processed_at, total_price, total_refunded, financial_status, test FROM orders WHERE shop_id = $1`, shop); err != nil {
		t.Fatal(err)
	}
	for _, o := range ords {
		if o.Test {
			continue
		}
		paid := o.Total.Sub(o.Refunded) // sales + tax + shipping − discounts − refunds
		if o.Status == "voided" {
			paid = decimal.Zero
		}
		day := m.day(o.At)
		m.storeOrders[day]++
		m.storeSales[day] = m.storeSales[day].Add(paid)
	}
	var attrs []struct {
		Day    time.Time       `db:"day"`
		Amount decimal.Decimal `db:"amount"`
	}
	if err := d.Select(&attrs, `SELECT day, amount FROM order_attributions WHERE shop_id = $1`, shop); err != nil {
		t.Fatal(err)
	}
	for _, a := range attrs {
		day := time.Date(a.Day.Year(), a.Day.Month(), a.Day.Day(), 0, 0, 0, 0, time.UTC)
		m.attrOrders[day]++
		m.attrSales[day] = m.attrSales[day].Add(a.Amount)
	}
	var evs []struct {
		Message int64     `db:"message_id"`
		Kind    string    `db:"kind"`
		UA      string    `db:"user_agent"`
		At      time.Time `db:"occurred_at"`
	}
	if err := d.Select(&evs, `SELECT e.message_id, e.kind, e.user_agent, e.occurred_at FROM email_events e
		JOIN email_messages m ON m.id = e.message_id AND m.kind IN ('campaign', 'flow')
		WHERE e.shop_id = $1 AND NOT e.machine AND e.kind IN ('open', 'click') ORDER BY e.id`, shop); err != nil {
		t.Fatal(err)
	}
	opened, clicked := map[int64]bool{}, map[int64]bool{}
	for _, e := range evs {
		p := engPoint{at: e.At, device: reports.Device(e.UA)}
		if e.Kind == "open" {
			p.client = reports.Client(e.UA)
		}
		if !opened[e.Message] {
			opened[e.Message] = true
			m.opens = append(m.opens, p)
		}
		if e.Kind == "click" && !clicked[e.Message] {
			clicked[e.Message] = true
			m.clicks = append(m.clicks, p)
		}
	}
	// Each profile's history in id order (a profile without one starts
	// where its consent was last set), then its deletion.
	var hist []struct {
		Customer int64     `db:"customer_id"`
		State    string    `db:"state"`
		Source   string    `db:"source"`
		At       time.Time `db:"occurred_at"`
	}
	if err := d.Select(&hist, `SELECT customer_id, state, source, occurred_at FROM consent_events WHERE shop_id = $1 ORDER BY id`, shop); err != nil {
		t.Fatal(err)
	}
	var custs []struct {
		ID      int64      `db:"id"`
		Deleted *time.Time `db:"deleted_at"`
	}
	if err := d.Select(&custs, `SELECT id, deleted_at FROM customers WHERE shop_id = $1 ORDER BY id`, shop); err != nil {
		t.Fatal(err)
	}
	listed := map[int64]bool{}
	for _, c := range slices.Sorted(maps.Keys(listedAt)) {
		listed[c] = true
		m.moves = append(m.moves, subMove{c, m.day(listedAt[c]), true, false})
	}
	for _, h := range hist {
		in := h.State == "subscribed"
		if in != listed[h.Customer] {
			listed[h.Customer] = in
			m.moves = append(m.moves, subMove{h.Customer, m.day(h.At), in, h.Source == "wheel"})
		}
	}
	for _, c := range custs {
		if c.Deleted != nil && listed[c.ID] {
			m.moves = append(m.moves, subMove{c.ID, m.day(*c.Deleted), false, false})
		}
	}
	return m
}

// check compares the dashboard with the model for its range and the
// comparison period it was asked for.
func (m *dashModel) check(t *testing.T, got reports.Dashboard, compare reports.Range) {
	t.Helper()
	r := got.Range
	name := r.From.Format(time.DateOnly) + "…" + r.To.Format(time.DateOnly)
	if got.Compare != compare {
		t.Errorf("%s: compare %v, want %v", name, got.Compare, compare)
	}
	if len(got.Days) != r.Days() {
		t.Fatalf("%s: %d days", name, len(got.Days))
	}
	in := func(rg reports.Range, d time.Time) bool { return !d.Before(rg.From) && !d.After(rg.To) }
	for i, p := range got.Days {
		day := r.From.AddDate(0, 0, i)
		var sub, unsub int64
		for _, mv := range m.moves {
			if mv.day.Equal(day) {
				if mv.in {
					sub++
				} else {
					unsub++
				}
			}
		}
		if !p.Day.Equal(day) || p.StoreOrders != m.storeOrders[day] || !p.StoreSales.Equal(m.storeSales[day]) ||
			p.AttributedOrders != m.attrOrders[day] || !p.AttributedSales.Equal(m.attrSales[day]) ||
			p.Subscribed != sub || p.Unsubscribed != unsub {
			t.Errorf("%s: day %s = %+v, want store %d %s, attributed %d %s, subscribed %d, unsubscribed %d", name, day.Format(time.DateOnly), p,
				m.storeOrders[day], m.storeSales[day], m.attrOrders[day], m.attrSales[day], sub, unsub)
		}
	}
	subs := func(rg reports.Range) reports.SubscriberTotals {
		var s reports.SubscriberTotals
		for _, mv := range m.moves {
			switch {
			case mv.day.After(rg.To):
			case mv.in:
				s.ListSize++
				if in(rg, mv.day) {
					s.New++
					if mv.wheel {
						s.FromWheel++
					}
				}
			default:
				s.ListSize--
				if in(rg, mv.day) {
					s.Left++
				}
			}
		}
		return s
	}
	if want := subs(r); got.Subscribers != want {
		t.Errorf("%s: subscribers %+v, want %+v", name, got.Subscribers, want)
	}
	if want := subs(got.Compare); got.PrevSubscribers != want {
		t.Errorf("%s: previous subscribers %+v, want %+v", name, got.PrevSubscribers, want)
	}
	var wh [7][24]reports.Engagement
	devices, clients := map[string]reports.Engagement{}, map[string]reports.Engagement{}
	for i, pts := range [][]engPoint{m.opens, m.clicks} {
		for _, p := range pts {
			day := m.day(p.at)
			if !in(r, day) {
				continue
			}
			local := p.at.In(m.loc)
			add := func(e *reports.Engagement) {
				if i == 0 {
					e.Opened++
				} else {
					e.Clicked++
				}
			}
			add(&wh[day.Weekday()][local.Hour()])
			e := devices[p.device]
			add(&e)
			devices[p.device] = e
			if i == 0 && p.client != "" {
				e := clients[p.client]
				add(&e)
				clients[p.client] = e
			}
		}
	}
	if got.WeekHour != wh {
		t.Errorf("%s: weekday × hour differs:\n got %v\nwant %v", name, got.WeekHour, wh)
	}
	shares := func(sh []reports.Share) map[string]reports.Engagement {
		out := map[string]reports.Engagement{}
		for i, s := range sh {
			out[s.Key] = s.Engagement
			if i > 0 && s.Opened > sh[i-1].Opened {
				t.Errorf("%s: split not most opened first: %+v", name, sh)
			}
		}
		return out
	}
	if g := shares(got.Devices); !maps.Equal(g, devices) {
		t.Errorf("%s: devices %v, want %v", name, g, devices)
	}
	if g := shares(got.Clients); !maps.Equal(g, clients) {
		t.Errorf("%s: clients %v, want %v", name, g, clients)
	}
}

// For random orders (refunds and cancellations included), email events
// (machine opens and scanner clicks included) and consent changes (the
// wheel's among them, and deletions), written concurrently through the
// real write paths on top of an install's history (counted by the
// migration's backfill) and consumed by two consumers, every figure of the
// dashboard for random ranges equals a direct computation from the raw
// rows; signals handed twice change nothing; and the backfill run again
// from the raw rows gives the rollups the handler kept.
func TestDashboardMatchesRawRows(t *testing.T) {
	sentAt := time.Date(2026, 11, 27, 14, 0, 0, 0, time.UTC)
	w := newWorld(t, 60, sentAt)
	ctx := context.Background()
	ny, _ := time.LoadLocation("America/New_York")
	flow := w.id(`INSERT INTO flows (shop_id, name, draft) VALUES ($1, 'Welcome', '{}') RETURNING id`, w.shop)
	all := append([]msgInfo(nil), w.msgs...)
	for i, m := range w.msgs {
		if i%2 == 1 {
			continue
		}
		at := sentAt.Add(-36*time.Hour + time.Duration(i)*time.Minute)
		var id int64
		if err := w.inTx(func(tx *sqlx.Tx) error {
			if err := tx.Get(&id, `INSERT INTO email_messages (shop_id, customer_id, to_email, kind, dedupe_key, links, marketing, status, sent_at,
				flow_id, flow_version, flow_run_id, flow_step) VALUES ($1, $2, $3, 'flow', $4, $5, true, 'sent', $6, $7, 1, $8, 's1') RETURNING id`,
				w.shop, m.customer, m.to, fmt.Sprintf("flow_run:%d:step:s1", 7000+i), pq.Array(links), at, flow, 7000+i); err != nil {
				return err
			}
			return signals.Record(ctx, tx.Tx, signals.Signal{ShopID: w.shop, CustomerID: m.customer, Kind: signals.EmailSent,
				Ref: strconv.FormatInt(id, 10), At: at})
		}); err != nil {
			t.Fatal(err)
		}
		all = append(all, msgInfo{id, m.customer, m.to})
	}

	// The install's history before 00034: the campaign's recipients were
	// subscribed on Nov 1 (through Shopify: a history row, except for every
	// fifth, whose consent has no history), others never were; orders
	// (a guest's among them) arrived without the dashboard counting them.
	baseline := time.Date(2026, 11, 1, 12, 0, 0, 0, time.UTC)
	var custs []struct {
		ID        int64 `db:"id"`
		ShopifyID int64 `db:"shopify_id"`
	}
	if err := w.db.Select(&custs, `SELECT id, shopify_id FROM customers WHERE shop_id = $1 ORDER BY id`, w.shop); err != nil {
		t.Fatal(err)
	}
	w.exec(`UPDATE customers SET email_consent_updated_at = $2 WHERE shop_id = $1`, w.shop, baseline)
	listedAt := map[int64]time.Time{}
	for i, c := range custs {
		if i%5 == 0 {
			listedAt[c.ID] = baseline
		} else {
			w.exec(`INSERT INTO consent_events (shop_id, customer_id, state, source, occurred_at) VALUES ($1, $2, 'subscribed', 'shopify', $3)`,
				w.shop, c.ID, baseline)
		}
	}
	for i := range 40 {
		var c struct {
			ID        int64 `db:"id"`
			ShopifyID int64 `db:"shopify_id"`
		}
		if err := w.db.Get(&c, `INSERT INTO customers (shop_id, email, shopify_id) VALUES ($1, $2, $3) RETURNING id, shopify_id`,
			w.shop, fmt.Sprintf("n%d@example.com", i), 8000+i); err != nil {
			t.Fatal(err)
		}
		custs = append(custs, c)
	}
	dw := &dashWriter{t: t, db: w.db, shop: w.shop, customers: customers.NewStore(w.db)}
	dw.orders = orders.NewStore(w.db, dw.customers)
	r0 := rand.New(rand.NewPCG(5, 6))
	var nextID sync.Mutex
	next := int64(70_000)
	newID := func() int64 {
		nextID.Lock()
		defer nextID.Unlock()
		next++
		return next
	}
	orderStart := time.Date(2026, 11, 18, 0, 0, 0, 0, time.UTC)
	randOrder := func(r *rand.Rand, shopifyCustomer int64) dashOrder {
		return dashOrder{id: newID(), shopifyCustomer: shopifyCustomer,
			at:    orderStart.Add(time.Duration(r.Int64N(int64(15 * 24 * time.Hour)))).Truncate(time.Microsecond),
			total: decimal.New(int64(500+r.IntN(30000)), -2), test: r.IntN(15) == 0}
	}
	for range 20 {
		o := randOrder(r0, custs[r0.IntN(len(custs))].ShopifyID)
		if err := db.InTx(ctx, w.db, func(tx *sqlx.Tx) error {
			_, _, err := dw.orders.UpsertWritten(ctx, tx, w.shop, []orders.Order{o.payload(o.at, false, false)})
			return err
		}); err != nil {
			t.Fatal(err)
		}
	}
	guest := randOrder(r0, 0)
	guest.test = false
	if err := db.InTx(ctx, w.db, func(tx *sqlx.Tx) error {
		_, _, err := dw.orders.UpsertWritten(ctx, tx, w.shop, []orders.Order{guest.payload(guest.at, false, false)})
		return err
	}); err != nil {
		t.Fatal(err)
	}
	runBackfill(t, w.db)

	// Live: everything at once, two consumers.
	signalstest.Start(t, w.db, signals.Handlers{Reports: reports.Handler{}})
	signalstest.Start(t, w.db, signals.Handlers{Reports: reports.Handler{}})
	var wg sync.WaitGroup
	const writers = 6
	for g := range writers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			r := rand.New(rand.NewPCG(uint64(g), 13))
			for i := g; i < len(all); i += writers {
				w.randomEvents(r, all[i], sentAt)
			}
			for i := g; i < len(custs); i += writers {
				if i%5 == 0 && i < 60 {
					continue // no history: stays as it was
				}
				dw.consentLife(r, custs[i].ID, custs[i].ShopifyID, time.Date(2026, 11, 15, 0, 0, 0, 0, time.UTC).Add(time.Duration(r.IntN(10*24))*time.Hour), true)
				for range r.IntN(3) {
					dw.orderLife(r, randOrder(r, custs[i].ShopifyID), newID)
				}
			}
		}()
	}
	wg.Wait()
	signalstest.Drain(t, w.db)
	// Refunds on the install's older orders, through their signals.
	var old []int64
	if err := w.db.Select(&old, `SELECT shopify_id FROM orders WHERE shop_id = $1 AND shopify_id <= 70020 AND customer_id IS NOT NULL`, w.shop); err != nil {
		t.Fatal(err)
	}
	for _, id := range old[:len(old)/2] {
		dw.tx(func(tx *sqlx.Tx) ([]signals.Signal, error) {
			_, written, err := dw.orders.AddRefundsWritten(ctx, tx, w.shop, []orders.Refund{{ShopifyID: newID(), OrderID: id, Amount: decimal.RequireFromString("2.50")}})
			return dw.orderSignals(written), err
		})
	}
	signalstest.Drain(t, w.db)

	st := &reports.Store{DB: w.db}
	snapshot := func() []string {
		var s []string
		if err := w.db.Select(&s, `SELECT unnest(ARRAY[
			(SELECT string_agg(concat_ws(',', day, dim, key, o, c), ';' ORDER BY day, dim, key) FROM
				(SELECT day, dim, key, sum(opened) o, sum(clicked) c FROM report_engagement_daily WHERE shop_id = $1 GROUP BY 1, 2, 3) x),
			(SELECT string_agg(concat_ws(',', day, s, f, u), ';' ORDER BY day) FROM
				(SELECT day, sum(subscribed) s, sum(from_wheel) f, sum(unsubscribed) u FROM report_subscribers_daily WHERE shop_id = $1 GROUP BY 1) x),
			(SELECT string_agg(concat_ws(',', day, o, s), ';' ORDER BY day) FROM
				(SELECT day, sum(orders) o, sum(sales) s FROM report_store_daily WHERE shop_id = $1 GROUP BY 1) x),
			(SELECT sum(subscribed - unsubscribed)::text FROM report_subscribers_daily WHERE shop_id = $1),
			(SELECT string_agg(concat_ws(',', flag, day, prev_day, n), ';' ORDER BY flag, day, prev_day) FROM
				(SELECT flag, day, prev_day, sum(customers) n FROM report_email_reach WHERE shop_id = $1 GROUP BY 1, 2, 3 HAVING sum(customers) <> 0) x),
			(SELECT string_agg(concat_ws(',', scope, scope_id, variant, day, a, b, c, d, e, f, g, h), ';' ORDER BY scope, scope_id, variant, day) FROM
				(SELECT scope, scope_id, variant, day, sum(sent) a, sum(delivered) b, sum(bounced) c, sum(opened) d, sum(clicked) e, sum(clicks) f,
					sum(unsubscribed) g, sum(complained) h FROM report_email_daily WHERE shop_id = $1 GROUP BY 1, 2, 3, 4) x),
			(SELECT string_agg(concat_ws(',', scope, scope_id, variant, day, customer_id, delivered, unsubscribed, complained), ';'
				ORDER BY scope, scope_id, variant, day, customer_id) FROM report_email_customers WHERE shop_id = $1),
			(SELECT string_agg(concat_ws(',', message_id, sent, delivered, bounced, opened, clicked, unsubscribed, complained), ';'
				ORDER BY message_id) FROM report_email_messages WHERE shop_id = $1)])`, w.shop); err != nil {
			t.Fatal(err)
		}
		return s
	}
	before := snapshot()
	// Handed a second time: nothing changes.
	w.exec(`INSERT INTO customer_signals (shop_id, customer_id, kind, ref, data, at)
		SELECT shop_id, customer_id, 'order_updated', shopify_id::text, '{}', now() FROM orders WHERE shop_id = $1 AND customer_id IS NOT NULL`, w.shop)
	w.exec(`INSERT INTO customer_signals (shop_id, customer_id, kind, ref, data, at)
		SELECT shop_id, customer_id, 'consent_changed', '', jsonb_build_object('state', state), occurred_at FROM consent_events WHERE shop_id = $1`, w.shop)
	w.exec(`INSERT INTO customer_signals (shop_id, customer_id, kind, ref, data, at)
		SELECT m.shop_id, m.customer_id, 'email_event', m.id::text,
		       jsonb_build_object('status', CASE e.kind WHEN 'open' THEN 'opened' WHEN 'click' THEN 'clicked' ELSE e.kind END, 'event', e.id), e.occurred_at
		FROM email_events e JOIN email_messages m ON m.id = e.message_id WHERE m.shop_id = $1`, w.shop)
	signalstest.Drain(t, w.db)
	if after := snapshot(); !slices.Equal(after, before) {
		t.Errorf("signals handed twice changed the rollups: %s", snapDiff(before, after))
	}

	m := loadDashModel(t, w.db, w.shop, ny, listedAt)
	var wheel, left, dels, refunds, cancels, tests int
	for _, mv := range m.moves {
		if mv.wheel {
			wheel++
		}
		if !mv.in {
			left++
		}
	}
	w.db.Get(&dels, `SELECT count(*) FROM customers WHERE shop_id = $1 AND deleted_at IS NOT NULL`, w.shop)
	w.db.Get(&refunds, `SELECT count(*) FROM orders WHERE shop_id = $1 AND total_refunded > 0`, w.shop)
	w.db.Get(&cancels, `SELECT count(*) FROM orders WHERE shop_id = $1 AND cancelled_at IS NOT NULL`, w.shop)
	w.db.Get(&tests, `SELECT count(*) FROM orders WHERE shop_id = $1 AND test`, w.shop)
	if wheel < 5 || left < 5 || dels == 0 || refunds < 5 || cancels < 2 || tests == 0 || len(m.opens) < 20 || len(m.clicks) < 5 || len(m.attrOrders) == 0 {
		t.Fatalf("random data too thin: wheel %d, left %d, deleted %d, refunded %d, cancelled %d, test %d, opened %d, clicked %d, attributed days %d",
			wheel, left, dels, refunds, cancels, tests, len(m.opens), len(m.clicks), len(m.attrOrders))
	}

	r := rand.New(rand.NewPCG(9, 9))
	base := time.Date(2026, 11, 10, 0, 0, 0, 0, time.UTC)
	for i := range 25 {
		from := base.AddDate(0, 0, r.IntN(24))
		rg := reports.Range{From: from, To: from.AddDate(0, 0, r.IntN(12))}
		if i == 0 {
			rg = reports.Range{From: base.AddDate(0, 0, 10), To: base.AddDate(0, 0, 29)}
		}
		// Against the period before, or (every third range) an earlier
		// period with days between them, as "the same days last year" is.
		compare := reports.PreviousPeriod(rg)
		got, err := st.Dashboard(ctx, w.shop, rg)
		if i%3 == 2 {
			gap := 1 + r.IntN(6)
			compare = reports.Range{From: rg.From.AddDate(0, 0, -gap-r.IntN(8)-1), To: rg.From.AddDate(0, 0, -gap-1)}
			got, err = st.DashboardCompared(ctx, w.shop, rg, compare)
		}
		if err != nil {
			t.Fatal(err)
		}
		m.check(t, got, compare)
		for _, c := range []struct {
			rg  reports.Range
			tot reports.Totals
		}{{rg, got.Current}, {got.Compare, got.Previous}} {
			want, err := st.Metrics(ctx, w.shop, c.rg, reports.Scope{Kind: reports.ScopeAll})
			if err != nil {
				t.Fatal(err)
			}
			if c.tot.Counts != want.Totals.Counts || c.tot.Customers != want.Totals.Customers || c.tot.Orders != want.Totals.Orders ||
				!c.tot.Sales.Equal(want.Totals.Sales) {
				t.Errorf("totals of %v = %+v, want all email's %+v", c.rg, c.tot, want.Totals)
			}
			var orders int64
			sales := decimal.Zero
			for d := c.rg.From; !d.After(c.rg.To); d = d.AddDate(0, 0, 1) {
				orders += m.attrOrders[d]
				sales = sales.Add(m.attrSales[d])
			}
			if c.tot.Orders != orders || !c.tot.Sales.Equal(sales) {
				t.Errorf("revenue of %v = %d %s, want %d %s", c.rg, c.tot.Orders, c.tot.Sales, orders, sales)
			}
		}
		if i == 0 {
			if got.Current.Orders == 0 || got.Current.Delivered == 0 || got.Subscribers.FromWheel == 0 {
				t.Fatalf("range too quiet: %+v %+v", got.Current, got.Subscribers)
			}
			full, err := st.Metrics(ctx, w.shop, rg, reports.Scope{Kind: reports.ScopeAll})
			if err != nil {
				t.Fatal(err)
			}
			var camps, flows []reports.Line
			for _, l := range full.Lines {
				if l.Totals.Sent == 0 && l.Totals.Sales.Sign() <= 0 {
					continue
				}
				if l.Kind == reports.ScopeCampaign {
					camps = append(camps, l)
				} else {
					flows = append(flows, l)
				}
			}
			ids := func(ls []reports.Line) []int64 {
				var out []int64
				for _, l := range ls {
					out = append(out, l.ID)
				}
				return out
			}
			if !slices.Equal(ids(got.TopCampaigns), ids(camps[:min(len(camps), reports.TopLines)])) ||
				!slices.Equal(ids(got.TopFlows), ids(flows[:min(len(flows), reports.TopLines)])) || len(got.TopFlows) != 1 {
				t.Errorf("top lines %v %v, want %v %v", ids(got.TopCampaigns), ids(got.TopFlows), ids(camps), ids(flows))
			}
		}
	}
	// Today's list size is today's subscribed, undeleted profiles.
	var listed int64
	w.db.Get(&listed, `SELECT count(*) FROM customers WHERE shop_id = $1 AND email_consent = 'subscribed' AND deleted_at IS NULL`, w.shop)
	now, err := st.Dashboard(ctx, w.shop, reports.Range{From: time.Date(2026, 12, 20, 0, 0, 0, 0, time.UTC), To: time.Date(2026, 12, 20, 0, 0, 0, 0, time.UTC)})
	if err != nil || now.Subscribers.ListSize != listed {
		t.Errorf("list size %d, %v; want %d", now.Subscribers.ListSize, err, listed)
	}

	// The backfill from the raw rows gives what the handler kept: the same
	// engagement and store days, and the same list size (the days of the
	// profiles subscribed without history differ: a second backfill can't
	// know when they joined once they have a history).
	// Emails whose signals were never counted (sent before 00032) get the
	// every-email rollups from their raw rows too, as the handler counted.
	w.exec(`TRUNCATE report_engagement_daily, report_subscriber_states, report_subscribers_daily, report_store_orders, report_store_daily,
		report_email_reach, report_email_messages, report_email_daily, report_email_customers`)
	runBackfill(t, w.db)
	if again := snapshot(); again[0] != before[0] || !slices.Equal(again[2:], before[2:]) {
		t.Errorf("backfill differs from the live rollups: %s", snapDiff(before, again))
	}
}

// A small store in Los Angeles, worked by hand around its midnights
// (UTC−8 in December): what lands on which local day and hour.
func TestDashboardWorkedExample(t *testing.T) {
	sentAt := time.Date(2026, 12, 1, 6, 0, 0, 0, time.UTC) // Nov 30, 22:00 in LA
	w := newWorld(t, 3, sentAt)                            // 3 recipients: variants A, B, '' (each one message)
	w.exec(`UPDATE shops SET iana_timezone = 'America/Los_Angeles' WHERE id = $1`, w.shop)
	w.exec(`UPDATE customers SET email_consent = 'not_subscribed' WHERE shop_id = $1`, w.shop)
	ctx := context.Background()
	dw := &dashWriter{t: t, db: w.db, shop: w.shop, customers: customers.NewStore(w.db)}
	dw.orders = orders.NewStore(w.db, dw.customers)
	signalstest.Start(t, w.db, signals.Handlers{Reports: reports.Handler{}})
	var shopifyIDs []int64
	if err := w.db.Select(&shopifyIDs, `SELECT shopify_id FROM customers WHERE shop_id = $1 ORDER BY id`, w.shop); err != nil {
		t.Fatal(err)
	}
	utc := func(d, h, m int) time.Time { return time.Date(2026, 12, d, h, m, 0, 0, time.UTC) }
	consent := func(c int64, state, source string, at time.Time) {
		dw.tx(func(tx *sqlx.Tx) ([]signals.Signal, error) {
			_, err := dw.customers.SetConsent(ctx, tx, w.shop, customers.ConsentChange{CustomerID: c, State: state, Source: source, At: at})
			return []signals.Signal{{ShopID: w.shop, CustomerID: c, Kind: signals.ConsentChanged, At: at}}, err
		})
	}
	c0, c1, c2 := w.msgs[0].customer, w.msgs[1].customer, w.msgs[2].customer
	consent(c0, customers.ConsentSubscribed, "wheel", utc(1, 7, 59))   // Nov 30 23:59 LA
	consent(c1, customers.ConsentSubscribed, "merchant", utc(1, 8, 0)) // Dec 1 00:00 LA
	consent(c1, customers.ConsentSubscribed, "merchant", utc(1, 9, 0)) // no change: not new
	consent(c1, customers.ConsentUnsubscribed, "unsubscribe", utc(2, 9, 0))
	consent(c2, customers.ConsentSubscribed, "wheel", utc(2, 7, 0)) // Dec 1 23:00 LA
	// Orders: 100.00 on Nov 30 LA (07:59 UTC) refunded 20.00; 50.00 on
	// Dec 1 LA, cancelled and voided (an order that paid nothing); a test
	// order never counts.
	place := func(o dashOrder, cancelled, voided bool) {
		dw.tx(func(tx *sqlx.Tx) ([]signals.Signal, error) {
			_, written, err := dw.orders.UpsertWritten(ctx, tx, w.shop, []orders.Order{o.payload(o.at.Add(time.Minute), cancelled, voided)})
			return dw.orderSignals(written), err
		})
	}
	o1 := dashOrder{id: 1, shopifyCustomer: shopifyIDs[0], at: utc(1, 7, 59), total: decimal.RequireFromString("100.00")}
	place(o1, false, false)
	dw.tx(func(tx *sqlx.Tx) ([]signals.Signal, error) {
		_, written, err := dw.orders.AddRefundsWritten(ctx, tx, w.shop, []orders.Refund{{ShopifyID: 11, OrderID: 1, Amount: decimal.RequireFromString("20.00")}})
		return dw.orderSignals(written), err
	})
	o2 := dashOrder{id: 2, shopifyCustomer: shopifyIDs[1], at: utc(1, 8, 0), total: decimal.RequireFromString("50.00")}
	place(o2, false, false)
	place(o2, true, true)
	place(dashOrder{id: 3, shopifyCustomer: shopifyIDs[2], at: utc(1, 12, 0), total: decimal.RequireFromString("9.00"), test: true}, false, false)
	// Message 0: a machine open, then a human open in Apple Mail on an
	// iPhone at 08:15 UTC (Tuesday Dec 1, 00:15 LA), then two clicks from
	// desktop Chrome at 16:30 UTC (08:30 LA): opened once, clicked once.
	// Message 1: a click only (06:30 UTC: Nov 30, 22:30 LA, a Monday):
	// opened and clicked on Monday at 22, from an Android phone; no client.
	r := rand.New(rand.NewPCG(1, 1))
	iphone := "Mozilla/5.0 (iPhone; CPU iPhone OS 17_1 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Mobile/15E148"
	chrome := "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0 Safari/537.36"
	android := "Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0 Mobile Safari/537.36"
	w.sendgrid(r, w.msgs[0], "open", utc(1, 8, 10), map[string]any{"useragent": applePrefetchUA, "sg_machine_open": true})
	w.sendgrid(r, w.msgs[0], "open", utc(1, 8, 15), map[string]any{"useragent": iphone})
	w.sendgrid(r, w.msgs[0], "click", utc(1, 16, 30), map[string]any{"url": links[0], "useragent": chrome})
	w.sendgrid(r, w.msgs[0], "click", utc(1, 16, 31), map[string]any{"url": links[1], "useragent": chrome})
	w.sendgrid(r, w.msgs[1], "click", utc(1, 6, 30), map[string]any{"url": links[0], "useragent": android})
	signalstest.Drain(t, w.db)

	st := &reports.Store{DB: w.db}
	day := func(d int) time.Time { return time.Date(2026, 11, 30, 0, 0, 0, 0, time.UTC).AddDate(0, 0, d) }
	got, err := st.Dashboard(ctx, w.shop, reports.Range{From: day(0), To: day(1)}) // Nov 30 – Dec 1
	if err != nil {
		t.Fatal(err)
	}
	if want := (reports.Range{From: day(-2), To: day(-1)}); got.Compare != want {
		t.Errorf("compare %v, want %v", got.Compare, want)
	}
	type pt struct {
		storeOrders          int64
		storeSales           string
		subscribed, unsubbed int64
	}
	wantDays := []pt{{1, "80.00", 1, 0}, {1, "0.00", 2, 0}}
	for i, p := range got.Days {
		g := pt{p.StoreOrders, p.StoreSales.StringFixed(2), p.Subscribed, p.Unsubscribed}
		if g != wantDays[i] {
			t.Errorf("day %d: %+v, want %+v", i, g, wantDays[i])
		}
	}
	// c0 (wheel) on Nov 30, c1 on Dec 1, c2 (wheel) on Dec 1; c1 leaves Dec 2.
	if want := (reports.SubscriberTotals{New: 3, FromWheel: 2, Left: 0, ListSize: 3}); got.Subscribers != want {
		t.Errorf("subscribers %+v, want %+v", got.Subscribers, want)
	}
	if want := (reports.SubscriberTotals{}); got.PrevSubscribers != want {
		t.Errorf("previous subscribers %+v, want %+v", got.PrevSubscribers, want)
	}
	next, err := st.Dashboard(ctx, w.shop, reports.Range{From: day(2), To: day(2)})
	if err != nil {
		t.Fatal(err)
	}
	if want := (reports.SubscriberTotals{Left: 1, ListSize: 2}); next.Subscribers != want {
		t.Errorf("Dec 2 subscribers %+v, want %+v", next.Subscribers, want)
	}
	var wh [7][24]reports.Engagement
	wh[time.Tuesday][0] = reports.Engagement{Opened: 1}
	wh[time.Tuesday][8] = reports.Engagement{Clicked: 1}
	wh[time.Monday][22] = reports.Engagement{Opened: 1, Clicked: 1}
	if got.WeekHour != wh {
		t.Errorf("weekday × hour %v, want %v", got.WeekHour, wh)
	}
	wantDevices := []reports.Share{{Key: reports.DeviceMobile, Engagement: reports.Engagement{Opened: 2, Clicked: 1}},
		{Key: reports.DeviceDesktop, Engagement: reports.Engagement{Clicked: 1}}}
	if !slices.Equal(got.Devices, wantDevices) {
		t.Errorf("devices %+v, want %+v", got.Devices, wantDevices)
	}
	if want := []reports.Share{{Key: reports.ClientAppleMail, Engagement: reports.Engagement{Opened: 1}}}; !slices.Equal(got.Clients, want) {
		t.Errorf("clients %+v, want %+v", got.Clients, want)
	}
	if got.Current.Opened != 2 || got.Current.Clicked != 2 || got.Current.Clicks != 3 {
		t.Errorf("totals %+v", got.Current.Counts)
	}
}

// Many writers of the same profiles' consent and the same orders, and four
// consumers, at once: the subscriber and store rollups stay exact (the
// list size is the subscribed profiles, the store's sales the orders'
// paid totals) and the states the handler keeps are the profiles'.
func TestDashboardRollupsConcurrent(t *testing.T) {
	sentAt := time.Date(2026, 11, 27, 14, 0, 0, 0, time.UTC)
	w := newWorld(t, 0, sentAt)
	ctx := context.Background()
	dw := &dashWriter{t: t, db: w.db, shop: w.shop, customers: customers.NewStore(w.db)}
	dw.orders = orders.NewStore(w.db, dw.customers)
	type cust struct{ id, shopify int64 }
	var cs []cust
	for i := range 12 {
		var c cust
		if err := w.db.QueryRow(`INSERT INTO customers (shop_id, email, shopify_id) VALUES ($1, $2, $3) RETURNING id, shopify_id`,
			w.shop, fmt.Sprintf("k%d@example.com", i), 600+i).Scan(&c.id, &c.shopify); err != nil {
			t.Fatal(err)
		}
		cs = append(cs, c)
	}
	var ords []dashOrder
	for i := range 12 {
		o := dashOrder{id: int64(900 + i), shopifyCustomer: cs[i].shopify, at: sentAt.Add(time.Duration(i) * time.Hour), total: decimal.RequireFromString("500.00")}
		ords = append(ords, o)
	}
	for range 4 {
		signalstest.Start(t, w.db, signals.Handlers{Reports: reports.Handler{}})
	}
	var wg sync.WaitGroup
	var mu sync.Mutex
	refund := int64(5000)
	for g := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			r := rand.New(rand.NewPCG(uint64(g), 21))
			for range 30 {
				c := cs[r.IntN(len(cs))]
				state := []string{customers.ConsentSubscribed, customers.ConsentUnsubscribed, customers.ConsentPending}[r.IntN(3)]
				at := sentAt.Add(time.Duration(r.IntN(72)) * time.Hour)
				dw.tx(func(tx *sqlx.Tx) ([]signals.Signal, error) {
					_, err := dw.customers.SetConsent(ctx, tx, w.shop, customers.ConsentChange{CustomerID: c.id, State: state, Source: "wheel", At: at})
					return []signals.Signal{{ShopID: w.shop, CustomerID: c.id, Kind: signals.ConsentChanged, At: at}}, err
				})
				o := ords[r.IntN(len(ords))]
				dw.tx(func(tx *sqlx.Tx) ([]signals.Signal, error) {
					_, written, err := dw.orders.UpsertWritten(ctx, tx, w.shop, []orders.Order{o.payload(o.at, false, false)})
					return dw.orderSignals(written), err
				})
				mu.Lock()
				refund++
				rid := refund
				mu.Unlock()
				dw.tx(func(tx *sqlx.Tx) ([]signals.Signal, error) {
					_, written, err := dw.orders.AddRefundsWritten(ctx, tx, w.shop, []orders.Refund{{ShopifyID: rid, OrderID: o.id, Amount: decimal.RequireFromString("1.00")}})
					return dw.orderSignals(written), err
				})
			}
		}()
	}
	wg.Wait()
	signalstest.Drain(t, w.db)
	var listed, rolled, states int64
	w.db.Get(&listed, `SELECT count(*) FROM customers WHERE shop_id = $1 AND email_consent = 'subscribed' AND deleted_at IS NULL`, w.shop)
	w.db.Get(&rolled, `SELECT COALESCE(sum(subscribed - unsubscribed), 0) FROM report_subscribers_daily WHERE shop_id = $1`, w.shop)
	w.db.Get(&states, `SELECT count(*) FROM report_subscriber_states s JOIN customers c ON c.id = s.customer_id
		WHERE s.shop_id = $1 AND (s.consent <> c.email_consent OR s.deleted <> (c.deleted_at IS NOT NULL))`, w.shop)
	if listed != rolled || states != 0 {
		t.Errorf("list size %d from the rollup, %d subscribed profiles; %d states differ", rolled, listed, states)
	}
	var paid, sales decimal.Decimal
	var n, orders int64
	w.db.Get(&paid, `SELECT sum(total_price - total_refunded) FROM orders WHERE shop_id = $1`, w.shop)
	w.db.Get(&n, `SELECT count(*) FROM orders WHERE shop_id = $1`, w.shop)
	w.db.Get(&sales, `SELECT sum(sales) FROM report_store_daily WHERE shop_id = $1`, w.shop)
	w.db.Get(&orders, `SELECT sum(orders) FROM report_store_daily WHERE shop_id = $1`, w.shop)
	if !paid.Equal(sales) || n != orders || n == 0 {
		t.Errorf("store rollup %d orders %s, orders table %d %s", orders, sales, n, paid)
	}
	var slots int
	w.db.Get(&slots, `SELECT count(DISTINCT slot) FROM report_subscribers_daily WHERE shop_id = $1`, w.shop)
	if slots < 2 {
		t.Logf("only %d slot used: the consumers didn't overlap", slots)
	}
}

// snapDiff names the parts of two snapshots that differ and their first
// differing rows.
func snapDiff(a, b []string) string {
	var out []string
	for i := range min(len(a), len(b)) {
		if a[i] == b[i] {
			continue
		}
		ra, rb := strings.Split(a[i], ";"), strings.Split(b[i], ";")
		var d []string
		for j := range max(len(ra), len(rb)) {
			x, y := "", ""
			if j < len(ra) {
				x = ra[j]
			}
			if j < len(rb) {
				y = rb[j]
			}
			if x != y && len(d) < 4 {
				d = append(d, x+" ≠ "+y)
			}
		}
		out = append(out, fmt.Sprintf("part %d (%d vs %d rows): %s", i, len(ra), len(rb), strings.Join(d, " | ")))
	}
	return strings.Join(out, "\n")
}
