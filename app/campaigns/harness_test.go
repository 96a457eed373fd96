package campaigns_test

import (
	"context"
	"fmt"
	"math/rand"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/jmoiron/sqlx"

	"github.com/cartwheel/cartwheel/app/campaigns"
	"github.com/cartwheel/cartwheel/app/db/dbtest"
	"github.com/cartwheel/cartwheel/app/segments"
)

type env struct {
	t     *testing.T
	ctx   context.Context
	db    *sqlx.DB
	store *campaigns.Store
	segs  *segments.Store
}

func newEnv(t *testing.T) *env {
	d := dbtest.New(t)
	e := &env{t: t, ctx: context.Background(), db: d, store: campaigns.NewStore(d), segs: segments.NewStore(d)}
	e.exec(`INSERT INTO shops (id, domain, iana_timezone) VALUES (1, 'one.myshopify.com', 'America/New_York'),
		(2, 'two.myshopify.com', 'UTC')`)
	return e
}

func (e *env) exec(q string, args ...any) {
	e.t.Helper()
	if _, err := e.db.Exec(q, args...); err != nil {
		e.t.Fatal(err)
	}
}

func (e *env) count(q string, args ...any) int {
	e.t.Helper()
	var n int
	if err := e.db.Get(&n, q, args...); err != nil {
		e.t.Fatal(err)
	}
	return n
}

// tagSegment creates a segment of the customers tagged tag.
func (e *env) tagSegment(shopID int64, tag string, now time.Time) int64 {
	e.t.Helper()
	r := segments.Rules{Version: segments.Version, Root: segments.Group{Op: "and", Items: []segments.Node{
		{Condition: &segments.Condition{Field: segments.FieldTags, Op: "has_any", Values: []string{tag}}}}}}
	s, err := e.segs.Create(e.ctx, shopID, "tag "+tag, r, now)
	if err != nil {
		e.t.Fatal(err)
	}
	return s.ID
}

// template stores a minimal email template and returns its id.
func (e *env) template(shopID int64) int64 {
	e.t.Helper()
	var id int64
	if err := e.db.Get(&id, `INSERT INTO email_templates (shop_id, name, locale, doc) VALUES ($1, 'T', 'en', '{}') RETURNING id`, shopID); err != nil {
		e.t.Fatal(err)
	}
	return id
}

// customer is one generated profile and everything the oracle needs about it.
type customer struct {
	id         int64
	tags       []string
	email      *string
	validEmail bool // what the generator meant: a deliverable-looking address
	consent    string
	deleted    bool
	suppressed string     // suppression reason, "" when none
	recent     bool       // a marketing email (or one being sent) within the window
	engagedAt  *time.Time // latest open or click
}

func (c customer) has(tag string) bool {
	for _, t := range c.tags {
		if t == tag {
			return true
		}
	}
	return false
}

// world is a seeded shop with customers covering every reason.
type world struct {
	now       time.Time
	customers []customer
	segA      int64 // tag a
	segB      int64 // tag b
	segX      int64 // tag x (excluded)
	sentToday int   // marketing emails of shop 1 sent since local midnight
}

var now0 = time.Date(2026, 6, 15, 15, 0, 0, 0, time.UTC) // 11:00 in New York

// seedWorld writes n random customers to shop 1 (and a few look-alikes to
// shop 2 that must never count), with segments a, b and x.
func (e *env) seedWorld(n int, seed int64) *world {
	e.t.Helper()
	rng := rand.New(rand.NewSource(seed))
	w := &world{now: now0}
	e.exec(`UPDATE shops SET campaign_skip_days = 7 WHERE id = 1`)
	pick := func(opts ...string) string { return opts[rng.Intn(len(opts))] }
	// Formats of addresses that can't be mailed (%d keeps them unique, as
	// the email index requires; the blank ones can occur once each).
	invalid := []string{"", "   ", "nobody%d", "x%d@localhost", "a b%d@example.com", "@example%d.com", "two%d@@example.com", "u%d@example."}
	usedBlank := map[string]bool{}
	suppressionReasons := []string{"hard_bounce", "complaint", "unsubscribed", "manual"}
	for i := 0; i < n; i++ {
		c := customer{consent: "subscribed"}
		for _, t := range []string{"a", "b", "x"} {
			if rng.Intn(3) == 0 {
				c.tags = append(c.tags, t)
			}
		}
		switch r := rng.Intn(20); {
		case r == 0:
			c.email = nil
		case r == 1:
			s := invalid[rng.Intn(len(invalid))]
			if strings.Contains(s, "%d") {
				s = fmt.Sprintf(s, i)
			} else if usedBlank[s] {
				break
			}
			usedBlank[s] = true
			c.email = &s
		default:
			s := fmt.Sprintf("User%d@Example.com", i)
			if rng.Intn(10) == 0 {
				s = " " + s + " "
			}
			c.email, c.validEmail = &s, true
		}
		if rng.Intn(4) == 0 {
			c.consent = pick("not_subscribed", "unsubscribed", "pending", "redacted", "invalid")
		}
		c.deleted = rng.Intn(30) == 0
		err := e.db.Get(&c.id, `INSERT INTO customers (shop_id, email, email_consent, tags, deleted_at)
			VALUES (1, $1, $2, $3, CASE WHEN $4 THEN $5::timestamptz END) RETURNING id`,
			c.email, c.consent, "{"+strings.Join(c.tags, ",")+"}", c.deleted, w.now.Add(-time.Hour))
		if err != nil {
			e.t.Fatal(err)
		}
		if c.email != nil && rng.Intn(8) == 0 {
			c.suppressed = suppressionReasons[rng.Intn(len(suppressionReasons))]
			e.exec(`INSERT INTO suppressions (shop_id, email, reason) VALUES (1, lower(btrim($1)), $2) ON CONFLICT DO NOTHING`, *c.email, c.suppressed)
		}
		to := fmt.Sprintf("c%d@example.com", i)
		msg := func(kind string, marketing bool, status string, sentAt, sendingAt *time.Time) {
			e.exec(`INSERT INTO email_messages (shop_id, customer_id, to_email, kind, dedupe_key, marketing, status, sent_at, sending_at)
				VALUES (1, $1, $2, $3, $4, $5, $6, $7, $8)`, c.id, to, kind, fmt.Sprintf("k:%d:%d", c.id, rng.Int63()), marketing, status, sentAt, sendingAt)
			if marketing && sentAt != nil && !sentAt.Before(w.dayStart()) {
				w.sentToday++
			}
		}
		ago := func(d time.Duration) *time.Time { t := w.now.Add(-d); return &t }
		switch rng.Intn(9) {
		case 0: // a campaign inside the window
			msg("campaign", true, "sent", ago(6*24*time.Hour), nil)
			c.recent = true
		case 1: // a flow email earlier today
			msg("flow", true, "delivered", ago(2*time.Hour), nil)
			c.recent = true
		case 2: // outside the window
			msg("campaign", true, "opened", ago(8*24*time.Hour), nil)
		case 3: // transactional mail doesn't count
			msg("system", false, "sent", ago(time.Hour), nil)
		case 4: // being sent right now
			msg("campaign", true, "sending", nil, ago(time.Minute))
			c.recent = true
		case 5: // never sent
			msg("campaign", true, "failed", nil, nil)
		}
		if rng.Intn(3) == 0 {
			at := w.now.Add(-time.Duration(rng.Intn(1000)) * time.Hour).Truncate(time.Second)
			c.engagedAt = &at
			e.exec(`INSERT INTO customer_activity (shop_id, customer_id, name, n, first_at, last_at)
				VALUES (1, $1, $2, 1, $3, $3)`, c.id, pick("email:open", "email:click"), at)
			if rng.Intn(2) == 0 { // an older open as well: the latest counts
				e.exec(`INSERT INTO customer_activity (shop_id, customer_id, name, n, first_at, last_at)
					VALUES (1, $1, 'email:open', 1, $2, $2) ON CONFLICT DO NOTHING`, c.id, at.Add(-48*time.Hour))
			}
		}
		w.customers = append(w.customers, c)
	}
	// Shop 2 has the same tags, emails and suppressions: none of it may leak.
	e.exec(`INSERT INTO customers (shop_id, email, email_consent, tags)
		SELECT 2, 'other' || g || '@example.com', 'subscribed', '{a,b,x}' FROM generate_series(1, 20) g`)
	e.exec(`INSERT INTO suppressions (shop_id, email, reason) SELECT 2, lower(btrim(email)), 'manual' FROM customers WHERE shop_id = 1 AND email IS NOT NULL ON CONFLICT DO NOTHING`)
	e.tagSegment(2, "a", w.now)
	w.segA = e.tagSegment(1, "a", w.now)
	w.segB = e.tagSegment(1, "b", w.now)
	w.segX = e.tagSegment(1, "x", w.now)
	return w
}

func (w *world) dayStart() time.Time {
	ny, _ := time.LoadLocation("America/New_York")
	l := w.now.In(ny)
	return time.Date(l.Year(), l.Month(), l.Day(), 0, 0, 0, 0, ny)
}

// oracle classifies the world's customers for an audience the plain way:
// one customer at a time, first reason wins. It returns customer ids per
// reason, and the candidates (passing every check) in send order.
func (w *world) oracle(a campaigns.Audience, dailyLimit int) (map[string][]int64, []int64) {
	in := func(c customer, segs []int64) bool {
		for _, s := range segs {
			if (s == w.segA && c.has("a")) || (s == w.segB && c.has("b")) || (s == w.segX && c.has("x")) {
				return true
			}
		}
		return false
	}
	out := map[string][]int64{}
	var cand []customer
	for _, c := range w.customers {
		if c.deleted || !in(c, a.Include) {
			continue
		}
		out[campaigns.ReasonInSegments] = append(out[campaigns.ReasonInSegments], c.id)
		var r string
		switch {
		case in(c, a.Exclude):
			r = campaigns.ReasonExcluded
		case !c.validEmail || c.consent == "invalid":
			r = campaigns.ReasonNoEmail
		case c.consent != "subscribed":
			r = campaigns.ReasonNotSubscribed
		case c.suppressed != "":
			r = campaigns.ReasonSuppressed + c.suppressed
		case c.recent:
			r = campaigns.ReasonFrequencyWindow
		default:
			cand = append(cand, c)
			continue
		}
		out[r] = append(out[r], c.id)
	}
	sort.SliceStable(cand, func(i, j int) bool {
		if a.MostEngagedFirst {
			ei, ej := cand[i].engagedAt, cand[j].engagedAt
			switch {
			case ei != nil && ej == nil:
				return true
			case ei == nil && ej != nil:
				return false
			case ei != nil && ej != nil && !ei.Equal(*ej):
				return ei.After(*ej)
			}
		}
		return cand[i].id < cand[j].id
	})
	order := make([]int64, len(cand))
	for i, c := range cand {
		order[i] = c.id
		if dailyLimit > 0 && i >= max(0, dailyLimit-w.sentToday) {
			out[campaigns.ReasonDailyLimit] = append(out[campaigns.ReasonDailyLimit], c.id)
		} else {
			out[campaigns.ReasonReachable] = append(out[campaigns.ReasonReachable], c.id)
		}
	}
	return out, order
}
