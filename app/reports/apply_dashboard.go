package reports

import (
	"cmp"
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"slices"
	"strconv"
	"time"

	"github.com/jmoiron/sqlx"
	"github.com/lib/pq"
	"github.com/shopspring/decimal"
)

// The dashboard's rollups (migration 00034), kept by the Reports handler
// beside the others:
//
//   - engagement: when the every-email fold (apply_email.go) finds a
//     message opened or clicked for the first time, the event that did it
//     adds to its day's hour, device and (opens only) mail client, so the
//     guard is report_email_messages and these counts always agree with
//     report_email_daily's opened and clicked;
//   - subscribers: a profile's consent history (consent_events, in id
//     order) replayed from the last row counted, then its current consent
//     and deletion, on every consent, creation and profile signal;
//   - store orders: every order's paid total per day, followed like the
//     attributed ones (attribution.go) on every order signal.

// engKey is one row of report_engagement_daily.
type engKey struct {
	Day string `json:"day"`
	Dim string `json:"dim"`
	Key string `json:"key"`
}

// Engagement dimensions (report_engagement_daily.dim).
const (
	engHour   = "hour"
	engDevice = "device"
	engClient = "client"
)

// engaged adds the event's hour, device and, for an open the pixel or the
// provider saw, its mail client (a click comes from a browser).
func (f *emailFold) engaged(ev eventRow, fn func(*Engagement)) {
	local := ev.At.In(f.loc)
	day := dayOf(ev.At, f.loc).Format(time.DateOnly)
	keys := []engKey{{day, engHour, strconv.Itoa(local.Hour())}, {day, engDevice, Device(ev.UA)}}
	if ev.Kind == "open" {
		keys = append(keys, engKey{day, engClient, Client(ev.UA)})
	}
	for _, k := range keys {
		e := f.eng[k]
		if e == nil {
			e = &Engagement{}
			f.eng[k] = e
		}
		fn(e)
	}
}

func (f *emailFold) writeEngagement(ctx context.Context, tx *sqlx.Tx, shopID int64, slot int) error {
	if len(f.eng) == 0 {
		return nil
	}
	type row struct {
		engKey
		Engagement
	}
	rows := make([]row, 0, len(f.eng))
	for k, e := range f.eng {
		rows = append(rows, row{k, *e})
	}
	slices.SortFunc(rows, func(a, b row) int {
		return cmp.Or(cmp.Compare(a.Day, b.Day), cmp.Compare(a.Dim, b.Dim), cmp.Compare(a.Key, b.Key))
	})
	js, err := json.Marshal(rows)
	if err != nil {
		return fmt.Errorf("reports: %w", err)
	}
	if _, err := tx.ExecContext(ctx, `
		INSERT INTO report_engagement_daily AS t (shop_id, day, dim, key, slot, opened, clicked)
		SELECT $1, day, dim, key, $2, "Opened", "Clicked"
		FROM jsonb_to_recordset($3::jsonb) AS r(day date, dim text, key text, "Opened" bigint, "Clicked" bigint)
		ON CONFLICT (shop_id, day, dim, key, slot) DO UPDATE SET
			opened = t.opened + excluded.opened, clicked = t.clicked + excluded.clicked`, shopID, slot, string(js)); err != nil {
		return fmt.Errorf("reports: engagement: %w", err)
	}
	return nil
}

// subState is a profile's report_subscriber_states row.
type subState struct {
	Customer  int64  `db:"customer_id" json:"customer_id"`
	Consent   string `db:"consent" json:"consent"`
	Deleted   bool   `db:"deleted" json:"deleted"`
	LastEvent int64  `db:"last_event" json:"last_event"`
}

// listed says whether the profile counts in the list size.
func (s subState) listed() bool { return s.Consent == "subscribed" && !s.Deleted }

// subCounts is one day of report_subscribers_daily.
type subCounts struct {
	Subscribed   int64 `json:"subscribed"`
	FromWheel    int64 `json:"from_wheel"`
	Unsubscribed int64 `json:"unsubscribed"`
}

// countSubscribers brings the subscriber rollup up to date with the
// profiles' consent, adding into slot's rows. at is when each profile's
// newest signal happened: the day of a change no history row dates (a
// profile restored, or consent set without a history row).
//
// The consumer holds the profiles' locks, and every writer of consent
// holds the profile's row lock while it appends to its history, so a
// profile's history rows commit in id order and none is skipped.
func countSubscribers(ctx context.Context, tx *sqlx.Tx, shopID int64, loc *time.Location, slot int, at map[int64]time.Time) error {
	if len(at) == 0 {
		return nil
	}
	ids := slices.Sorted(maps.Keys(at))
	var states []subState
	if err := tx.SelectContext(ctx, &states, `SELECT customer_id, consent, deleted, last_event FROM report_subscriber_states
		WHERE shop_id = $1 AND customer_id = ANY($2)`, shopID, pq.Array(ids)); err != nil {
		return fmt.Errorf("reports: subscriber states: %w", err)
	}
	by := make(map[int64]*subState, len(ids))
	for i := range states {
		by[states[i].Customer] = &states[i]
	}
	var evs []struct {
		ID       int64     `db:"id"`
		Customer int64     `db:"customer_id"`
		State    string    `db:"state"`
		Source   string    `db:"source"`
		At       time.Time `db:"occurred_at"`
	}
	if err := tx.SelectContext(ctx, &evs, `SELECT e.id, e.customer_id, e.state, e.source, e.occurred_at FROM consent_events e
		LEFT JOIN report_subscriber_states g ON g.shop_id = e.shop_id AND g.customer_id = e.customer_id
		WHERE e.shop_id = $1 AND e.customer_id = ANY($2) AND e.id > COALESCE(g.last_event, 0)
		ORDER BY e.customer_id, e.id`, shopID, pq.Array(ids)); err != nil {
		return fmt.Errorf("reports: consent history: %w", err)
	}
	var cur []struct {
		ID      int64      `db:"id"`
		Consent string     `db:"email_consent"`
		Deleted *time.Time `db:"deleted_at"`
	}
	if err := tx.SelectContext(ctx, &cur, `SELECT id, email_consent, deleted_at FROM customers WHERE shop_id = $1 AND id = ANY($2)`,
		shopID, pq.Array(ids)); err != nil {
		return fmt.Errorf("reports: consent: %w", err)
	}
	days := map[string]*subCounts{}
	var changed []subState
	dirty := map[int64]bool{}
	get := func(id int64) *subState {
		s := by[id]
		if s == nil {
			s = &subState{Customer: id, Consent: "not_subscribed"}
			by[id] = s
		}
		return s
	}
	// move applies a change to the profile, counting it on at's day when it
	// moves the profile in or out of the list.
	move := func(s *subState, change func(), when time.Time, wheel bool) {
		was := s.listed()
		change()
		dirty[s.Customer] = true
		if s.listed() == was {
			return
		}
		d := dayOf(when, loc).Format(time.DateOnly)
		c := days[d]
		if c == nil {
			c = &subCounts{}
			days[d] = c
		}
		if s.listed() {
			c.Subscribed++
			if wheel {
				c.FromWheel++
			}
		} else {
			c.Unsubscribed++
		}
	}
	for _, e := range evs {
		s := get(e.Customer)
		move(s, func() { s.Consent, s.LastEvent = e.State, e.ID }, e.At, e.Source == "wheel")
	}
	for _, c := range cur {
		s := get(c.ID)
		if s.Consent != c.Consent {
			move(s, func() { s.Consent = c.Consent }, at[c.ID], false)
		}
		if deleted := c.Deleted != nil; deleted != s.Deleted {
			when := at[c.ID]
			if deleted {
				when = *c.Deleted
			}
			move(s, func() { s.Deleted = deleted }, when, false)
		}
	}
	for _, id := range ids {
		if dirty[id] {
			changed = append(changed, *by[id])
		}
	}
	if len(changed) == 0 {
		return nil
	}
	js, err := json.Marshal(changed)
	if err != nil {
		return fmt.Errorf("reports: %w", err)
	}
	if _, err := tx.ExecContext(ctx, `
		INSERT INTO report_subscriber_states (shop_id, customer_id, consent, deleted, last_event)
		SELECT $1, customer_id, consent, deleted, last_event
		FROM jsonb_to_recordset($2::jsonb) AS r(customer_id bigint, consent text, deleted boolean, last_event bigint)
		ON CONFLICT (shop_id, customer_id) DO UPDATE SET consent = excluded.consent, deleted = excluded.deleted,
			last_event = excluded.last_event`, shopID, string(js)); err != nil {
		return fmt.Errorf("reports: subscriber states: %w", err)
	}
	if len(days) == 0 {
		return nil
	}
	type dayRow struct {
		Day string `json:"day"`
		subCounts
	}
	rows := make([]dayRow, 0, len(days))
	for _, d := range slices.Sorted(maps.Keys(days)) {
		rows = append(rows, dayRow{d, *days[d]})
	}
	if js, err = json.Marshal(rows); err != nil {
		return fmt.Errorf("reports: %w", err)
	}
	if _, err := tx.ExecContext(ctx, `
		INSERT INTO report_subscribers_daily AS t (shop_id, day, slot, subscribed, from_wheel, unsubscribed)
		SELECT $1, day, $2, subscribed, from_wheel, unsubscribed
		FROM jsonb_to_recordset($3::jsonb) AS r(day date, subscribed bigint, from_wheel bigint, unsubscribed bigint)
		ON CONFLICT (shop_id, day, slot) DO UPDATE SET subscribed = t.subscribed + excluded.subscribed,
			from_wheel = t.from_wheel + excluded.from_wheel, unsubscribed = t.unsubscribed + excluded.unsubscribed`,
		shopID, slot, string(js)); err != nil {
		return fmt.Errorf("reports: subscribers daily: %w", err)
	}
	return nil
}

// qStoreOrders counts the listed orders into the store rollup: a new one
// adds 1 order and its paid total on its day (in the shop's timezone $3),
// a counted one its change of paid total on the day it was counted, into
// slot $4's rows. The counted rows are locked first, so the old amount is
// the one the rollup holds (see qAttribute).
const qStoreOrders = `
WITH o AS (
	SELECT o.shopify_id, (COALESCE(o.processed_at, o.shopify_created_at) AT TIME ZONE $3)::date AS day,
		CASE WHEN o.financial_status = 'voided' THEN 0 ELSE o.total_price - o.total_refunded END AS paid
	FROM orders o
	WHERE o.shop_id = $1 AND o.shopify_id = ANY($2) AND NOT o.test AND COALESCE(o.processed_at, o.shopify_created_at) IS NOT NULL
),
added AS (
	INSERT INTO report_store_orders (shop_id, order_id, day, amount)
	SELECT $1, shopify_id, day, paid FROM o ORDER BY shopify_id
	ON CONFLICT (shop_id, order_id) DO NOTHING
	RETURNING day, 1 AS orders, amount
),
cur AS (
	SELECT s.order_id, s.amount AS old, o.paid FROM report_store_orders s JOIN o ON o.shopify_id = s.order_id
	WHERE s.shop_id = $1 ORDER BY s.order_id FOR UPDATE OF s
),
followed AS (
	UPDATE report_store_orders s SET amount = cur.paid FROM cur
	WHERE s.shop_id = $1 AND s.order_id = cur.order_id AND s.amount <> cur.paid
	RETURNING s.day, 0 AS orders, cur.paid - cur.old AS amount
)
INSERT INTO report_store_daily AS t (shop_id, day, slot, orders, sales)
SELECT $1, day, $4, sum(orders), sum(amount) FROM (SELECT * FROM added UNION ALL SELECT * FROM followed) c
GROUP BY day ORDER BY day
ON CONFLICT (shop_id, day, slot) DO UPDATE SET orders = t.orders + excluded.orders, sales = t.sales + excluded.sales`

// countStoreOrders counts the orders (sorted, unique) into the store rollup.
func countStoreOrders(ctx context.Context, tx *sqlx.Tx, shopID int64, zone string, slot int, orderIDs []int64) error {
	if _, err := tx.ExecContext(ctx, qStoreOrders, shopID, pq.Array(orderIDs), zone, slot); err != nil {
		return fmt.Errorf("reports: store orders: %w", err)
	}
	return nil
}

// storeDay is one day of the store rollup.
type storeDay struct {
	Day    time.Time       `db:"day"`
	Orders int64           `db:"orders"`
	Sales  decimal.Decimal `db:"sales"`
}

// reachKey is one row of report_email_reach.
type reachKey struct {
	Flag string `json:"flag"`
	Day  string `json:"day"`
	Prev string `json:"prev_day"`
}

// noDay is report_email_reach's previous day of a customer's first day.
const noDay = "1970-01-01"

// writeReach adds what the fold's new all-email customer days change in
// report_email_reach: each affected customer's days with a flag, before
// and after, as (day, previous day) pairs; the rows get the difference
// (a day landing between two others moves the later one's pair). The
// consumer holds the customers' locks, so their days can't change
// meanwhile.
func (f *emailFold) writeReach(ctx context.Context, tx *sqlx.Tx, shopID int64, slot int) error {
	type cf struct {
		customer int64
		flag     string
	}
	added := map[cf][]string{}
	for k, fl := range f.cust {
		if k.Scope != ScopeAll {
			continue
		}
		for flag, set := range map[string]bool{"delivered": fl.Delivered, "unsubscribed": fl.Unsubscribed, "complained": fl.Complained} {
			if set {
				key := cf{k.Customer, flag}
				added[key] = append(added[key], k.Day)
			}
		}
	}
	if len(added) == 0 {
		return nil
	}
	ids := make([]int64, 0, len(added))
	for k := range added {
		ids = append(ids, k.customer)
	}
	ids = slices.Compact(slices.Sorted(slices.Values(ids)))
	var rows []struct {
		Customer     int64     `db:"customer_id"`
		Day          time.Time `db:"day"`
		Delivered    bool      `db:"delivered"`
		Unsubscribed bool      `db:"unsubscribed"`
		Complained   bool      `db:"complained"`
	}
	if err := tx.SelectContext(ctx, &rows, `SELECT customer_id, day, delivered, unsubscribed, complained FROM report_email_customers
		WHERE shop_id = $1 AND scope = 'all' AND customer_id = ANY($2)`, shopID, pq.Array(ids)); err != nil {
		return fmt.Errorf("reports: customer days: %w", err)
	}
	before := map[cf][]string{}
	for _, r := range rows {
		day := r.Day.Format(time.DateOnly)
		for flag, set := range map[string]bool{"delivered": r.Delivered, "unsubscribed": r.Unsubscribed, "complained": r.Complained} {
			if set {
				key := cf{r.Customer, flag}
				before[key] = append(before[key], day)
			}
		}
	}
	pairs := func(days []string) []reachKey {
		days = slices.Compact(slices.Sorted(slices.Values(days)))
		out := make([]reachKey, len(days))
		prev := noDay
		for i, d := range days {
			out[i] = reachKey{Day: d, Prev: prev}
			prev = d
		}
		return out
	}
	delta := map[reachKey]int64{}
	for key, days := range added {
		old := before[key]
		for _, p := range pairs(old) {
			p.Flag = key.flag
			delta[p]--
		}
		for _, p := range pairs(append(slices.Clone(old), days...)) {
			p.Flag = key.flag
			delta[p]++
		}
	}
	type row struct {
		reachKey
		Customers int64 `json:"customers"`
	}
	var out []row
	for k, n := range delta {
		if n != 0 {
			out = append(out, row{k, n})
		}
	}
	if len(out) == 0 {
		return nil
	}
	slices.SortFunc(out, func(a, b row) int {
		return cmp.Or(cmp.Compare(a.Flag, b.Flag), cmp.Compare(a.Day, b.Day), cmp.Compare(a.Prev, b.Prev))
	})
	js, err := json.Marshal(out)
	if err != nil {
		return fmt.Errorf("reports: %w", err)
	}
	if _, err := tx.ExecContext(ctx, `
		INSERT INTO report_email_reach AS t (shop_id, flag, day, prev_day, slot, customers)
		SELECT $1, flag, day, prev_day, $2, customers
		FROM jsonb_to_recordset($3::jsonb) AS r(flag text, day date, prev_day date, customers bigint)
		ON CONFLICT (shop_id, flag, day, prev_day, slot) DO UPDATE SET customers = t.customers + excluded.customers`,
		shopID, slot, string(js)); err != nil {
		return fmt.Errorf("reports: reach: %w", err)
	}
	return nil
}
