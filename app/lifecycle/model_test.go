package lifecycle_test

import (
	"context"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/jmoiron/sqlx"

	"github.com/cartwheel/cartwheel/app/customers"
	"github.com/cartwheel/cartwheel/app/db/dbtest"
	"github.com/cartwheel/cartwheel/app/lifecycle"
	"github.com/cartwheel/cartwheel/app/orders"
	"github.com/cartwheel/cartwheel/app/segments"
)

// shop is a store written straight into the tables, and the same data in
// memory for the model.
type shop struct {
	t    *testing.T
	db   *sqlx.DB
	id   int64
	loc  *time.Location
	cs   []*mCustomer
	ords []mOrder
	evs  []mEvent
	msgs []*mMsg
	n    int
}

type mCustomer struct {
	id        int64
	created   time.Time
	deleted   bool
	consent   string
	consentAt *time.Time
}

type mOrder struct {
	cust            int64
	at              time.Time
	cancelled, test bool
}

type mEvent struct {
	cust int64
	name string
	at   time.Time
}

type mMsg struct {
	id, cust int64
	kind     string
	sent     time.Time
	evs      []mEmailEvent
}

type mEmailEvent struct {
	kind    string
	machine bool
	at      time.Time
}

func newShop(t *testing.T, d *sqlx.DB, domain, tz string) *shop {
	t.Helper()
	if d == nil {
		d = dbtest.New(t)
	}
	s := &shop{t: t, db: d}
	s.loc, _ = time.LoadLocation(tz)
	if err := d.Get(&s.id, `INSERT INTO shops (domain, name, iana_timezone) VALUES ($1, 'S', $2) RETURNING id`, domain, tz); err != nil {
		t.Fatal(err)
	}
	return s
}

func (s *shop) exec(q string, args ...any) {
	s.t.Helper()
	if _, err := s.db.Exec(q, args...); err != nil {
		s.t.Fatal(err)
	}
}

func (s *shop) customer(created time.Time, consent string, consentAt *time.Time, deleted bool) *mCustomer {
	s.t.Helper()
	s.n++
	c := &mCustomer{created: created, deleted: deleted, consent: consent, consentAt: consentAt}
	var del *time.Time
	if deleted {
		del = &created
	}
	if err := s.db.Get(&c.id, `INSERT INTO customers (shop_id, shopify_id, email, email_consent, email_consent_updated_at, shopify_created_at, deleted_at)
		VALUES ($1, $2, $3, $4, $5, $6, $7) RETURNING id`, s.id, s.n, fmt.Sprintf("c%d@%d.example", s.n, s.id), consent, consentAt, created, del); err != nil {
		s.t.Fatal(err)
	}
	s.cs = append(s.cs, c)
	return c
}

func (s *shop) order(c *mCustomer, at time.Time, cancelled, test bool) {
	s.t.Helper()
	s.n++
	var canc *time.Time
	if cancelled {
		canc = &at
	}
	s.exec(`INSERT INTO orders (shop_id, shopify_id, customer_id, processed_at, cancelled_at, test, total_price) VALUES ($1, $2, $3, $4, $5, $6, 10)`,
		s.id, s.n, c.id, at, canc, test)
	s.ords = append(s.ords, mOrder{cust: c.id, at: at, cancelled: cancelled, test: test})
}

func (s *shop) event(c *mCustomer, name string, at time.Time) {
	s.t.Helper()
	s.n++
	s.exec(`INSERT INTO events (shop_id, event_id, customer_id, name, occurred_at, source) VALUES ($1, $2, $3, $4, $5, 'pixel')`,
		s.id, fmt.Sprintf("e%d", s.n), c.id, name, at)
	s.evs = append(s.evs, mEvent{cust: c.id, name: name, at: at})
}

func (s *shop) message(c *mCustomer, kind string, sent time.Time, evs ...mEmailEvent) {
	s.t.Helper()
	s.n++
	m := &mMsg{cust: c.id, kind: kind, sent: sent, evs: evs}
	if err := s.db.Get(&m.id, `INSERT INTO email_messages (shop_id, customer_id, to_email, kind, dedupe_key, status, marketing, sent_at)
		VALUES ($1, $2, 'x@example.com', $3, $4, 'sent', $5, $6) RETURNING id`, s.id, c.id, kind, fmt.Sprintf("k%d", s.n), kind != "test", sent); err != nil {
		s.t.Fatal(err)
	}
	for _, e := range evs {
		s.exec(`INSERT INTO email_events (shop_id, message_id, source, kind, machine, occurred_at) VALUES ($1, $2, 'sendgrid', $3, $4, $5)`,
			s.id, m.id, e.kind, e.machine, e.at)
	}
	s.msgs = append(s.msgs, m)
}

// figures recomputes the profiles' order figures and activity totals, as
// every write path does.
func (s *shop) figures() {
	s.t.Helper()
	if err := orders.NewStore(s.db, customers.NewStore(s.db)).RefreshAllCustomers(context.Background(), s.id); err != nil {
		s.t.Fatal(err)
	}
	// The events and emails were written past the paths that keep the
	// activity totals.
	if err := segments.NewStore(s.db).RebuildActivity(context.Background(), s.id); err != nil {
		s.t.Fatal(err)
	}
}

func (s *shop) store() *lifecycle.Store { return &lifecycle.Store{DB: s.db} }

// counted are c's orders that count, in time order.
func (s *shop) counted(c int64) []time.Time {
	var out []time.Time
	for _, o := range s.ords {
		if o.cust == c && !o.cancelled && !o.test {
			out = append(out, o.at)
		}
	}
	slices.SortFunc(out, func(a, b time.Time) int { return a.Compare(b) })
	return out
}

func in(t, lo, hi time.Time) bool { return !t.Before(lo) && t.Before(hi) }

// modelLevels is the funnel's definitions applied directly to the rows in
// memory: customer id → deepest level (absent: not a prospect).
func (s *shop) modelLevels(w lifecycle.Window) map[int64]lifecycle.Level {
	ws, we, af := w.Start(), w.End(), w.ActiveFrom()
	out := map[int64]lifecycle.Level{}
	for _, c := range s.cs {
		if c.deleted || !c.created.Before(we) {
			continue
		}
		ords := s.counted(c.id)
		if len(ords) > 0 && ords[0].Before(ws) {
			continue
		}
		active := !c.created.Before(af) || (c.consent == "subscribed" && c.consentAt != nil && in(*c.consentAt, ws, we))
		for _, e := range s.evs {
			active = active || (e.cust == c.id && in(e.at, af, we))
		}
		if !active {
			continue
		}
		level := lifecycle.Prospects
		var reach time.Time
		for _, m := range s.msgs {
			if m.cust != c.id || (m.kind != "campaign" && m.kind != "flow") || !in(m.sent, ws.Add(-lifecycle.DeliverySlack), we) {
				continue
			}
			var first time.Time
			for _, e := range m.evs {
				if !e.machine && (e.kind == "delivered" || e.kind == "open" || e.kind == "click") && (first.IsZero() || e.at.Before(first)) {
					first = e.at
				}
			}
			if !first.IsZero() && in(first, ws, we) && (reach.IsZero() || first.Before(reach)) {
				reach = first
			}
		}
		if !reach.IsZero() {
			level = lifecycle.Reached
			until := reach.Add(lifecycle.Follow)
			engaged := false
			for _, m := range s.msgs {
				if m.cust != c.id || (m.kind != "campaign" && m.kind != "flow") || !m.sent.Before(until) {
					continue
				}
				for _, e := range m.evs {
					engaged = engaged || (!e.machine && (e.kind == "open" || e.kind == "click") && in(e.at, reach, until))
				}
			}
			if engaged {
				level = lifecycle.Engaged
				if len(ords) > 0 && in(ords[0], reach, until) {
					level = lifecycle.Ordered
					n := 0
					for _, o := range ords {
						if in(o, reach, until) {
							n++
						}
					}
					if n >= 2 {
						level = lifecycle.Repurchased
					}
				}
			}
		}
		out[c.id] = level
	}
	return out
}

// modelMembers lists the model's customers at level l or deeper.
func modelMembers(levels map[int64]lifecycle.Level, l lifecycle.Level) []int64 {
	var out []int64
	for id, v := range levels {
		if v >= l {
			out = append(out, id)
		}
	}
	slices.Sort(out)
	return out
}

// modelComposition applies the composition's definitions at t.
func (s *shop) modelComposition(t time.Time) lifecycle.Counts {
	var out lifecycle.Counts
	lapse := t.In(s.loc).AddDate(0, 0, -lifecycle.LapseDays)
	for _, c := range s.cs {
		if c.deleted {
			continue
		}
		var before []time.Time
		for _, o := range s.counted(c.id) {
			if o.Before(t) {
				before = append(before, o)
			}
		}
		switch {
		case len(before) == 0:
			if c.created.Before(t) {
				out[lifecycle.GroupProspects]++
			}
		case before[len(before)-1].Before(lapse):
			out[lifecycle.GroupLapsed]++
		case len(before) == 1:
			out[lifecycle.GroupFirstTime]++
		default:
			out[lifecycle.GroupRepeat]++
		}
	}
	return out
}
