package reports

import (
	"cmp"
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/jmoiron/sqlx"
	"github.com/lib/pq"
)

// item is one thing to count about a message: an event row (Event > 0), or
// a status without one (the message was sent; or a signal recorded before
// signals carried their event).
type item struct {
	Message int64
	Event   int64
	Status  string
	At      time.Time
}

type msgRow struct {
	ID       int64          `db:"id"`
	Campaign int64          `db:"campaign_id"`
	Variant  string         `db:"variant"`
	SentAt   sql.NullTime   `db:"sent_at"`
	Links    pq.StringArray `db:"links"`
}

type eventRow struct {
	ID      int64         `db:"id"`
	Message int64         `db:"message_id"`
	Kind    string        `db:"kind"`
	Detail  string        `db:"detail"`
	URL     string        `db:"url"`
	Link    sql.NullInt64 `db:"link_index"`
	UA      string        `db:"user_agent"`
	Machine bool          `db:"machine"`
	At      time.Time     `db:"occurred_at"`
}

// state is a message's report_messages row.
type state struct {
	MessageID    int64    `json:"message_id" db:"message_id"`
	ShopID       int64    `json:"shop_id" db:"shop_id"`
	Scope        string   `json:"scope" db:"scope"`
	ScopeID      int64    `json:"scope_id" db:"scope_id"`
	Variant      string   `json:"variant" db:"variant"`
	Sent         bool     `json:"sent" db:"sent"`
	Delivered    bool     `json:"delivered" db:"delivered"`
	Bounce       string   `json:"bounce" db:"bounce"`
	Dropped      bool     `json:"dropped" db:"dropped"`
	Opened       bool     `json:"opened" db:"opened"`
	Clicked      bool     `json:"clicked" db:"clicked"`
	Unsubscribed bool     `json:"unsubscribed" db:"unsubscribed"`
	Complained   bool     `json:"complained" db:"complained"`
	Links        []string `json:"links" db:"-"`
	LastEvent    int64    `json:"last_event" db:"last_event"`
	changed      bool
}

type dailyKey struct {
	variant string
	day     time.Time
}

type breakKey struct{ dim, key string }

// deltas is what a fold adds to the rollups of one scope (campaign).
type deltas struct {
	daily  map[dailyKey]*Counts
	break_ map[breakKey]*Row
}

type fold struct {
	shopID int64
	loc    *time.Location
	msgs   map[int64]msgRow
	states map[int64]*state
	events map[int64]eventRow
	by     map[int64]*deltas // campaign → deltas
}

func (f *fold) deltas(campaign int64) *deltas {
	d := f.by[campaign]
	if d == nil {
		d = &deltas{daily: map[dailyKey]*Counts{}, break_: map[breakKey]*Row{}}
		f.by[campaign] = d
	}
	return d
}

func (f *fold) daily(m msgRow, at time.Time) *Counts {
	d := f.deltas(m.Campaign)
	k := dailyKey{m.Variant, dayOf(at, f.loc)}
	c := d.daily[k]
	if c == nil {
		c = &Counts{}
		d.daily[k] = c
	}
	return c
}

func (f *fold) row(m msgRow, dim, key string) *Row {
	d := f.deltas(m.Campaign)
	k := breakKey{dim, key}
	r := d.break_[k]
	if r == nil {
		r = &Row{Key: key}
		d.break_[k] = r
	}
	return r
}

// maxLinkKey bounds a link's URL as a key (an index entry must stay small).
const maxLinkKey = 1000

// apply counts one item.
func (f *fold) apply(it item) {
	m, ok := f.msgs[it.Message]
	if !ok {
		return // not a campaign message (or gone)
	}
	st := f.states[m.ID]
	if st == nil {
		st = &state{MessageID: m.ID, ShopID: f.shopID, Scope: ScopeCampaign, ScopeID: m.Campaign, Variant: m.Variant, Links: []string{}}
		f.states[m.ID] = st
	}
	if it.Event > 0 {
		ev, ok := f.events[it.Event]
		if !ok || ev.Message != m.ID || ev.ID <= st.LastEvent {
			return // gone, not this message's, or already counted
		}
		st.LastEvent, st.changed = ev.ID, true
		if ev.Machine {
			return
		}
		f.event(m, st, ev)
		return
	}
	at := it.At
	if at.IsZero() {
		at = time.Now()
	}
	switch it.Status {
	case "sent":
		f.sent(m, st, at)
	case "delivered":
		f.event(m, st, eventRow{Kind: "delivered", At: at})
	case "bounced":
		f.event(m, st, eventRow{Kind: "bounce", At: at})
	case "dropped", "unsubscribed", "complained":
		f.event(m, st, eventRow{Kind: map[string]string{"dropped": "dropped", "unsubscribed": "unsubscribe", "complained": "spamreport"}[it.Status], At: at})
	case "opened":
		if !st.Opened { // without the event, only the first open is known
			f.event(m, st, eventRow{Kind: "open", At: at})
		}
	case "clicked":
		if !st.Clicked { // without the event, only the first click is known
			f.event(m, st, eventRow{Kind: "click", At: at})
		}
	}
}

func (f *fold) sent(m msgRow, st *state, at time.Time) {
	if st.Sent {
		return
	}
	st.Sent, st.changed = true, true
	if m.SentAt.Valid {
		at = m.SentAt.Time
	}
	f.daily(m, at).Sent++
}

func (f *fold) delivered(m msgRow, st *state, at time.Time) {
	if st.Delivered {
		return
	}
	st.Delivered, st.changed = true, true
	f.daily(m, at).Delivered++
}

// engagement rows an open or click adds to: hours since sending, weekday
// × hour, device (and, for opens, the mail client).
func (f *fold) engagement(m msgRow, ev eventRow, add func(*Row)) {
	h := 0
	if m.SentAt.Valid {
		h = int(ev.At.Sub(m.SentAt.Time) / time.Hour)
	}
	h = min(max(h, 0), SinceHours)
	local := ev.At.In(f.loc)
	add(f.row(m, DimSince, strconv.Itoa(h)))
	add(f.row(m, DimWeekHour, strconv.Itoa(int(local.Weekday()))+":"+strconv.Itoa(local.Hour())))
	add(f.row(m, DimDevice, Device(ev.UA)))
	if ev.Kind == "open" {
		add(f.row(m, DimClient, Client(ev.UA)))
	}
}

func (f *fold) opened(m msgRow, st *state, ev eventRow) {
	if st.Opened {
		return
	}
	st.Opened, st.changed = true, true
	f.daily(m, ev.At).Opened++
	f.engagement(m, ev, func(r *Row) { r.Opened++ })
}

// event counts a human event (or a status standing in for one).
func (f *fold) event(m msgRow, st *state, ev eventRow) {
	at := ev.At
	f.sent(m, st, at) // the provider took it: its events say so
	switch ev.Kind {
	case "delivered":
		f.delivered(m, st, at)
	case "bounce":
		if st.Bounce == "" {
			st.Bounce, st.changed = "hard", true
			if strings.HasPrefix(ev.Detail, "blocked") {
				st.Bounce = "soft"
				f.daily(m, at).BouncedSoft++
			} else {
				f.daily(m, at).BouncedHard++
			}
		}
	case "dropped":
		if !st.Dropped {
			st.Dropped, st.changed = true, true
			f.daily(m, at).Dropped++
		}
	case "open":
		f.delivered(m, st, at)
		f.daily(m, at).Opens++
		f.engagement(m, ev, func(r *Row) { r.Opens++ })
		f.opened(m, st, ev)
	case "click":
		f.delivered(m, st, at)
		f.opened(m, st, ev)
		f.daily(m, at).Clicks++
		f.engagement(m, ev, func(r *Row) { r.Clicks++ })
		if !st.Clicked {
			st.Clicked, st.changed = true, true
			f.daily(m, at).Clicked++
			f.engagement(m, ev, func(r *Row) { r.Clicked++ })
		}
		link := ev.URL
		if link == "" && ev.Link.Valid && ev.Link.Int64 >= 0 && int(ev.Link.Int64) < len(m.Links) {
			link = m.Links[ev.Link.Int64]
		}
		if link != "" {
			if len(link) > maxLinkKey {
				link = strings.ToValidUTF8(link[:maxLinkKey], "")
			}
			r := f.row(m, DimLink, link)
			r.Clicks++
			if !slices.Contains(st.Links, link) {
				st.Links, st.changed = append(st.Links, link), true
				r.Clicked++
			}
		}
	case "unsubscribe", "group_unsubscribe":
		f.delivered(m, st, at)
		if !st.Unsubscribed {
			st.Unsubscribed, st.changed = true, true
			f.daily(m, at).Unsubscribed++
		}
	case "spamreport":
		f.delivered(m, st, at)
		if !st.Complained {
			st.Complained, st.changed = true, true
			f.daily(m, at).Complained++
		}
	}
}

// Slots: concurrent writers of a shop's rollups each hold one (a
// transaction-scoped advisory lock) and add only into rows of their slot,
// so none waits for another's row locks (and none can deadlock on them);
// a report sums the slots.
const slots = 16

// claimSlot takes a free slot of the shop for the rest of tx (starting at
// a random one), or waits for a random one when all are taken.
func claimSlot(ctx context.Context, tx *sqlx.Tx, shopID int64) (int, error) {
	start := rand.IntN(slots)
	var s []int
	if err := tx.SelectContext(ctx, &s, `SELECT (g + $2) % $3 FROM generate_series(0, $3 - 1) g
		WHERE pg_try_advisory_xact_lock(hashtextextended('cartwheel:reports:' || $1::text || ':' || ((g + $2) % $3)::text, 0))
		LIMIT 1`, shopID, start, slots); err != nil {
		return 0, fmt.Errorf("reports: claim slot: %w", err)
	}
	if len(s) == 1 {
		return s[0], nil
	}
	if _, err := tx.ExecContext(ctx, `SELECT pg_advisory_xact_lock(hashtextextended('cartwheel:reports:' || $1::text || ':' || $2::text, 0))`,
		shopID, start); err != nil {
		return 0, fmt.Errorf("reports: claim slot: %w", err)
	}
	return start, nil
}

// shopZone is the shop's reporting timezone (Settings' choice, else the
// shop's own, else UTC).
func shopZone(ctx context.Context, q sqlx.QueryerContext, shopID int64) (*time.Location, error) {
	var name string
	if err := sqlx.GetContext(ctx, q, &name, `SELECT COALESCE(NULLIF(timezone, ''), NULLIF(iana_timezone, ''), 'UTC') FROM shops WHERE id = $1`, shopID); err != nil {
		return nil, fmt.Errorf("reports: shop %d timezone: %w", shopID, err)
	}
	loc, err := time.LoadLocation(name)
	if err != nil {
		return time.UTC, nil
	}
	return loc, nil
}

// count folds the items (in order) into the shop's rollups in tx, adding
// into slot's rows.
func count(ctx context.Context, tx *sqlx.Tx, shopID int64, loc *time.Location, slot int, items []item) error {
	if len(items) == 0 {
		return nil
	}
	var msgIDs, evIDs []int64
	for _, it := range items {
		msgIDs = append(msgIDs, it.Message)
		if it.Event > 0 {
			evIDs = append(evIDs, it.Event)
		}
	}
	f := &fold{shopID: shopID, loc: loc, msgs: map[int64]msgRow{}, states: map[int64]*state{}, events: map[int64]eventRow{}, by: map[int64]*deltas{}}
	var msgs []msgRow
	if err := tx.SelectContext(ctx, &msgs, `SELECT id, campaign_id, COALESCE(campaign_variant, '') AS variant, sent_at, links
		FROM email_messages WHERE shop_id = $1 AND id = ANY($2) AND kind = 'campaign' AND campaign_id IS NOT NULL`, shopID, pq.Array(msgIDs)); err != nil {
		return fmt.Errorf("reports: messages: %w", err)
	}
	if len(msgs) == 0 {
		return nil
	}
	for _, m := range msgs {
		f.msgs[m.ID] = m
	}
	var sts []struct {
		state
		LinksDB pq.StringArray `db:"links"`
	}
	if err := tx.SelectContext(ctx, &sts, `SELECT message_id, shop_id, scope, scope_id, variant, sent, delivered, bounce, dropped,
		opened, clicked, unsubscribed, complained, links, last_event FROM report_messages WHERE message_id = ANY($1)`, pq.Array(msgIDs)); err != nil {
		return fmt.Errorf("reports: message states: %w", err)
	}
	for i := range sts {
		s := sts[i].state
		s.Links = []string(sts[i].LinksDB)
		f.states[s.MessageID] = &s
	}
	if err := loadEvents(ctx, tx, shopID, evIDs, f.events); err != nil {
		return err
	}
	for _, it := range items {
		f.apply(it)
	}
	return f.write(ctx, tx, slot)
}

// write stores the changed message states and adds the deltas.
func (f *fold) write(ctx context.Context, tx *sqlx.Tx, slot int) error {
	var changed []*state
	for _, s := range f.states {
		if s.changed {
			changed = append(changed, s)
		}
	}
	if len(changed) == 0 {
		return nil
	}
	slices.SortFunc(changed, func(a, b *state) int { return cmp.Compare(a.MessageID, b.MessageID) })
	js, err := json.Marshal(changed)
	if err != nil {
		return fmt.Errorf("reports: %w", err)
	}
	if _, err := tx.ExecContext(ctx, `
		INSERT INTO report_messages (message_id, shop_id, scope, scope_id, variant, sent, delivered, bounce, dropped,
			opened, clicked, unsubscribed, complained, links, last_event)
		SELECT message_id, shop_id, scope, scope_id, variant, sent, delivered, bounce, dropped,
			opened, clicked, unsubscribed, complained, links, last_event
		FROM jsonb_to_recordset($1::jsonb) AS r(message_id bigint, shop_id bigint, scope text, scope_id bigint, variant text,
			sent boolean, delivered boolean, bounce text, dropped boolean, opened boolean, clicked boolean,
			unsubscribed boolean, complained boolean, links text[], last_event bigint)
		ON CONFLICT (message_id) DO UPDATE SET sent = excluded.sent, delivered = excluded.delivered, bounce = excluded.bounce,
			dropped = excluded.dropped, opened = excluded.opened, clicked = excluded.clicked,
			unsubscribed = excluded.unsubscribed, complained = excluded.complained, links = excluded.links,
			last_event = excluded.last_event`, string(js)); err != nil {
		return fmt.Errorf("reports: message states: %w", err)
	}
	type dailyRow struct {
		ScopeID int64  `json:"scope_id"`
		Variant string `json:"variant"`
		Day     string `json:"day"`
		Counts
	}
	type breakRow struct {
		ScopeID int64  `json:"scope_id"`
		Dim     string `json:"dim"`
		Row
	}
	var daily []dailyRow
	var breaks []breakRow
	for campaign, d := range f.by {
		for k, c := range d.daily {
			if *c != (Counts{}) {
				daily = append(daily, dailyRow{campaign, k.variant, k.day.Format(time.DateOnly), *c})
			}
		}
		for k, r := range d.break_ {
			if *r != (Row{Key: r.Key}) {
				breaks = append(breaks, breakRow{campaign, k.dim, *r})
			}
		}
	}
	// One order, so that a writer without its own slot (there is none
	// today) would still lock rows in the same order as every other.
	slices.SortFunc(daily, func(a, b dailyRow) int {
		return cmp.Or(cmp.Compare(a.ScopeID, b.ScopeID), cmp.Compare(a.Variant, b.Variant), cmp.Compare(a.Day, b.Day))
	})
	slices.SortFunc(breaks, func(a, b breakRow) int {
		return cmp.Or(cmp.Compare(a.ScopeID, b.ScopeID), cmp.Compare(a.Dim, b.Dim), cmp.Compare(a.Key, b.Key))
	})
	if len(daily) > 0 {
		js, err := json.Marshal(daily)
		if err != nil {
			return fmt.Errorf("reports: %w", err)
		}
		if _, err := tx.ExecContext(ctx, `
			INSERT INTO report_daily AS t (shop_id, scope, scope_id, variant, day, slot, sent, delivered, bounced_hard, bounced_soft,
				dropped, opened, clicked, clicks, opens, unsubscribed, complained)
			SELECT $1, $2, scope_id, variant, day, $3, "Sent", "Delivered", "BouncedHard", "BouncedSoft",
				"Dropped", "Opened", "Clicked", "Clicks", "Opens", "Unsubscribed", "Complained"
			FROM jsonb_to_recordset($4::jsonb) AS r(scope_id bigint, variant text, day date, "Sent" bigint, "Delivered" bigint,
				"BouncedHard" bigint, "BouncedSoft" bigint, "Dropped" bigint, "Opened" bigint, "Clicked" bigint, "Clicks" bigint,
				"Opens" bigint, "Unsubscribed" bigint, "Complained" bigint)
			ON CONFLICT (shop_id, scope, scope_id, variant, day, slot) DO UPDATE SET
				sent = t.sent + excluded.sent, delivered = t.delivered + excluded.delivered,
				bounced_hard = t.bounced_hard + excluded.bounced_hard, bounced_soft = t.bounced_soft + excluded.bounced_soft,
				dropped = t.dropped + excluded.dropped, opened = t.opened + excluded.opened, clicked = t.clicked + excluded.clicked,
				clicks = t.clicks + excluded.clicks, opens = t.opens + excluded.opens,
				unsubscribed = t.unsubscribed + excluded.unsubscribed, complained = t.complained + excluded.complained`,
			f.shopID, ScopeCampaign, slot, string(js)); err != nil {
			return fmt.Errorf("reports: daily counts: %w", err)
		}
	}
	if len(breaks) > 0 {
		js, err := json.Marshal(breaks)
		if err != nil {
			return fmt.Errorf("reports: %w", err)
		}
		if _, err := tx.ExecContext(ctx, `
			INSERT INTO report_breakdowns AS t (shop_id, scope, scope_id, dim, key, slot, opens, opened, clicks, clicked)
			SELECT $1, $2, scope_id, dim, "Key", $3, "Opens", "Opened", "Clicks", "Clicked"
			FROM jsonb_to_recordset($4::jsonb) AS r(scope_id bigint, dim text, "Key" text, "Opens" bigint, "Opened" bigint,
				"Clicks" bigint, "Clicked" bigint)
			ON CONFLICT (shop_id, scope, scope_id, dim, key, slot) DO UPDATE SET
				opens = t.opens + excluded.opens, opened = t.opened + excluded.opened,
				clicks = t.clicks + excluded.clicks, clicked = t.clicked + excluded.clicked`,
			f.shopID, ScopeCampaign, slot, string(js)); err != nil {
			return fmt.Errorf("reports: breakdowns: %w", err)
		}
	}
	return nil
}

// loadEvents reads the shop's email events ids into the map (both folds
// read the events their signals name).
func loadEvents(ctx context.Context, tx *sqlx.Tx, shopID int64, ids []int64, into map[int64]eventRow) error {
	if len(ids) == 0 {
		return nil
	}
	var evs []eventRow
	if err := tx.SelectContext(ctx, &evs, `SELECT id, message_id, kind, detail, url, link_index, user_agent, machine, occurred_at
		FROM email_events WHERE shop_id = $1 AND id = ANY($2)`, shopID, pq.Array(ids)); err != nil {
		return fmt.Errorf("reports: events: %w", err)
	}
	for _, e := range evs {
		into[e.ID] = e
	}
	return nil
}
