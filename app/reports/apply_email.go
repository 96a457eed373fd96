package reports

import (
	"cmp"
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"slices"
	"time"

	"github.com/jmoiron/sqlx"
	"github.com/lib/pq"
)

// Rollups of every campaign and flow email (migration 00032): the shop's
// total ('all'), per flow step ('flow') and per template ('template'),
// counted from the same items as the campaign rollups (apply.go), with
// their own per-message state so the two never depend on each other.

const (
	ScopeAll = "all"
)

type emailMsg struct {
	ID       int64          `db:"id"`
	Kind     string         `db:"kind"`
	Customer sql.NullInt64  `db:"customer_id"`
	Flow     sql.NullInt64  `db:"flow_id"`
	Step     sql.NullString `db:"flow_step"`
	Template sql.NullInt64  `db:"template_id"`
	SentAt   sql.NullTime   `db:"sent_at"`
}

type emailState struct {
	MessageID    int64 `json:"message_id" db:"message_id"`
	ShopID       int64 `json:"shop_id" db:"shop_id"`
	Sent         bool  `json:"sent" db:"sent"`
	Delivered    bool  `json:"delivered" db:"delivered"`
	Bounced      bool  `json:"bounced" db:"bounced"`
	Opened       bool  `json:"opened" db:"opened"`
	Clicked      bool  `json:"clicked" db:"clicked"`
	Unsubscribed bool  `json:"unsubscribed" db:"unsubscribed"`
	Complained   bool  `json:"complained" db:"complained"`
	LastEvent    int64 `json:"last_event" db:"last_event"`
	changed      bool
}

type emailKey struct {
	Scope   string `json:"scope"`
	ScopeID int64  `json:"scope_id"`
	Variant string `json:"variant"`
	Day     string `json:"day"`
}

// EmailCounts are a scope's once-per-message counts (every click too).
type EmailCounts struct {
	Sent         int64 `json:"sent" db:"sent"`
	Delivered    int64 `json:"delivered" db:"delivered"`
	Bounced      int64 `json:"bounced" db:"bounced"`
	Opened       int64 `json:"opened" db:"opened"`
	Clicked      int64 `json:"clicked" db:"clicked"`
	Clicks       int64 `json:"clicks" db:"clicks"`
	Unsubscribed int64 `json:"unsubscribed" db:"unsubscribed"`
	Complained   int64 `json:"complained" db:"complained"`
}

type custKey struct {
	emailKey
	Customer int64 `json:"customer_id"`
}

type custFlags struct {
	Delivered    bool `json:"delivered"`
	Unsubscribed bool `json:"unsubscribed"`
	Complained   bool `json:"complained"`
}

type emailFold struct {
	loc    *time.Location
	msgs   map[int64]emailMsg
	states map[int64]*emailState
	events map[int64]eventRow
	daily  map[emailKey]*EmailCounts
	cust   map[custKey]*custFlags
	eng    map[engKey]*Engagement // the dashboard's (apply_dashboard.go)
}

// scopes are the rollup rows a message adds to on a day.
func (f *emailFold) scopes(m emailMsg, at time.Time) []emailKey {
	day := dayOf(at, f.loc).Format(time.DateOnly)
	ks := []emailKey{{ScopeAll, 0, "", day}}
	if m.Kind == "flow" && m.Flow.Valid {
		ks = append(ks, emailKey{ScopeFlow, m.Flow.Int64, m.Step.String, day})
	}
	if m.Template.Valid {
		ks = append(ks, emailKey{ScopeTemplate, m.Template.Int64, "", day})
	}
	return ks
}

func (f *emailFold) add(m emailMsg, at time.Time, fn func(*EmailCounts), flag func(*custFlags)) {
	for _, k := range f.scopes(m, at) {
		c := f.daily[k]
		if c == nil {
			c = &EmailCounts{}
			f.daily[k] = c
		}
		fn(c)
		if flag != nil && m.Customer.Valid {
			ck := custKey{k, m.Customer.Int64}
			fl := f.cust[ck]
			if fl == nil {
				fl = &custFlags{}
				f.cust[ck] = fl
			}
			flag(fl)
		}
	}
}

func (f *emailFold) apply(it item) {
	m, ok := f.msgs[it.Message]
	if !ok {
		return
	}
	st := f.states[m.ID]
	if st == nil {
		st = &emailState{MessageID: m.ID}
		f.states[m.ID] = st
	}
	if it.Event > 0 {
		ev, ok := f.events[it.Event]
		if !ok || ev.Message != m.ID || ev.ID <= st.LastEvent {
			return
		}
		st.LastEvent, st.changed = ev.ID, true
		if !ev.Machine {
			f.event(m, st, ev)
		}
		return
	}
	at := it.At
	if at.IsZero() {
		at = time.Now()
	}
	switch it.Status {
	case "sent":
		f.sent(m, st, at)
	case "delivered", "unsubscribed", "complained", "opened", "clicked":
		kind := map[string]string{"delivered": "delivered", "unsubscribed": "unsubscribe", "complained": "spamreport", "opened": "open", "clicked": "click"}[it.Status]
		if (kind == "open" && st.Opened) || (kind == "click" && st.Clicked) {
			return // without the event, only the first is known
		}
		f.event(m, st, eventRow{Kind: kind, At: at})
	case "bounced":
		f.event(m, st, eventRow{Kind: "bounce", At: at})
	case "dropped":
		f.sent(m, st, at)
	}
}

func (f *emailFold) sent(m emailMsg, st *emailState, at time.Time) {
	if st.Sent {
		return
	}
	st.Sent, st.changed = true, true
	if m.SentAt.Valid {
		at = m.SentAt.Time
	}
	f.add(m, at, func(c *EmailCounts) { c.Sent++ }, nil)
}

func (f *emailFold) delivered(m emailMsg, st *emailState, at time.Time) {
	if st.Delivered {
		return
	}
	st.Delivered, st.changed = true, true
	f.add(m, at, func(c *EmailCounts) { c.Delivered++ }, func(fl *custFlags) { fl.Delivered = true })
}

func (f *emailFold) opened(m emailMsg, st *emailState, ev eventRow) {
	if st.Opened {
		return
	}
	st.Opened, st.changed = true, true
	f.add(m, ev.At, func(c *EmailCounts) { c.Opened++ }, nil)
	f.engaged(ev, func(e *Engagement) { e.Opened++ })
}

// event counts a human event (or a status standing in for one) the way
// fold.event does for campaigns.
func (f *emailFold) event(m emailMsg, st *emailState, ev eventRow) {
	kind, at := ev.Kind, ev.At
	f.sent(m, st, at)
	switch kind {
	case "delivered":
		f.delivered(m, st, at)
	case "bounce":
		if !st.Bounced {
			st.Bounced, st.changed = true, true
			f.add(m, at, func(c *EmailCounts) { c.Bounced++ }, nil)
		}
	case "open":
		f.delivered(m, st, at)
		f.opened(m, st, ev)
	case "click":
		f.delivered(m, st, at)
		f.opened(m, st, ev)
		f.add(m, at, func(c *EmailCounts) { c.Clicks++ }, nil)
		if !st.Clicked {
			st.Clicked, st.changed = true, true
			f.add(m, at, func(c *EmailCounts) { c.Clicked++ }, nil)
			f.engaged(ev, func(e *Engagement) { e.Clicked++ })
		}
	case "unsubscribe", "group_unsubscribe":
		f.delivered(m, st, at)
		if !st.Unsubscribed {
			st.Unsubscribed, st.changed = true, true
			f.add(m, at, func(c *EmailCounts) { c.Unsubscribed++ }, func(fl *custFlags) { fl.Unsubscribed = true })
		}
	case "spamreport":
		f.delivered(m, st, at)
		if !st.Complained {
			st.Complained, st.changed = true, true
			f.add(m, at, func(c *EmailCounts) { c.Complained++ }, func(fl *custFlags) { fl.Complained = true })
		}
	}
}

// countEmails folds the items (in order) into the every-email rollups in
// tx, adding into slot's rows.
func countEmails(ctx context.Context, tx *sqlx.Tx, shopID int64, loc *time.Location, slot int, items []item) error {
	var msgIDs, evIDs []int64
	for _, it := range items {
		msgIDs = append(msgIDs, it.Message)
		if it.Event > 0 {
			evIDs = append(evIDs, it.Event)
		}
	}
	f := &emailFold{loc: loc, msgs: map[int64]emailMsg{}, states: map[int64]*emailState{}, events: map[int64]eventRow{},
		daily: map[emailKey]*EmailCounts{}, cust: map[custKey]*custFlags{}, eng: map[engKey]*Engagement{}}
	var msgs []emailMsg
	if err := tx.SelectContext(ctx, &msgs, `SELECT id, kind, customer_id, flow_id, flow_step, template_id, sent_at
		FROM email_messages WHERE shop_id = $1 AND id = ANY($2) AND kind IN ('campaign', 'flow')`, shopID, pq.Array(msgIDs)); err != nil {
		return fmt.Errorf("reports: email messages: %w", err)
	}
	if len(msgs) == 0 {
		return nil
	}
	for _, m := range msgs {
		f.msgs[m.ID] = m
	}
	var sts []emailState
	if err := tx.SelectContext(ctx, &sts, `SELECT message_id, shop_id, sent, delivered, bounced, opened, clicked, unsubscribed,
		complained, last_event FROM report_email_messages WHERE message_id = ANY($1)`, pq.Array(msgIDs)); err != nil {
		return fmt.Errorf("reports: email message states: %w", err)
	}
	for i := range sts {
		f.states[sts[i].MessageID] = &sts[i]
	}
	if err := loadEvents(ctx, tx, shopID, evIDs, f.events); err != nil {
		return err
	}
	for _, it := range items {
		f.apply(it)
	}
	return f.write(ctx, tx, shopID, slot)
}

func (f *emailFold) write(ctx context.Context, tx *sqlx.Tx, shopID int64, slot int) error {
	var changed []*emailState
	for _, s := range f.states {
		if s.changed {
			s.ShopID = shopID
			changed = append(changed, s)
		}
	}
	if len(changed) == 0 {
		return nil
	}
	slices.SortFunc(changed, func(a, b *emailState) int { return cmp.Compare(a.MessageID, b.MessageID) })
	js, err := json.Marshal(changed)
	if err != nil {
		return fmt.Errorf("reports: %w", err)
	}
	if _, err := tx.ExecContext(ctx, `
		INSERT INTO report_email_messages (message_id, shop_id, sent, delivered, bounced, opened, clicked, unsubscribed, complained, last_event)
		SELECT message_id, shop_id, sent, delivered, bounced, opened, clicked, unsubscribed, complained, last_event
		FROM jsonb_to_recordset($1::jsonb) AS r(message_id bigint, shop_id bigint, sent boolean, delivered boolean, bounced boolean,
			opened boolean, clicked boolean, unsubscribed boolean, complained boolean, last_event bigint)
		ON CONFLICT (message_id) DO UPDATE SET sent = excluded.sent, delivered = excluded.delivered, bounced = excluded.bounced,
			opened = excluded.opened, clicked = excluded.clicked, unsubscribed = excluded.unsubscribed,
			complained = excluded.complained, last_event = excluded.last_event`, string(js)); err != nil {
		return fmt.Errorf("reports: email message states: %w", err)
	}
	type dailyRow struct {
		emailKey
		EmailCounts
	}
	var daily []dailyRow
	for k, c := range f.daily {
		if *c != (EmailCounts{}) {
			daily = append(daily, dailyRow{k, *c})
		}
	}
	cmpKey := func(a, b emailKey) int {
		return cmp.Or(cmp.Compare(a.Scope, b.Scope), cmp.Compare(a.ScopeID, b.ScopeID), cmp.Compare(a.Variant, b.Variant), cmp.Compare(a.Day, b.Day))
	}
	slices.SortFunc(daily, func(a, b dailyRow) int { return cmpKey(a.emailKey, b.emailKey) })
	if len(daily) > 0 {
		js, err := json.Marshal(daily)
		if err != nil {
			return fmt.Errorf("reports: %w", err)
		}
		if _, err := tx.ExecContext(ctx, `
			INSERT INTO report_email_daily AS t (shop_id, scope, scope_id, variant, day, slot, sent, delivered, bounced, opened,
				clicked, clicks, unsubscribed, complained)
			SELECT $1, scope, scope_id, variant, day, $2, sent, delivered, bounced, opened, clicked, clicks, unsubscribed, complained
			FROM jsonb_to_recordset($3::jsonb) AS r(scope text, scope_id bigint, variant text, day date, sent bigint, delivered bigint,
				bounced bigint, opened bigint, clicked bigint, clicks bigint, unsubscribed bigint, complained bigint)
			ON CONFLICT (shop_id, scope, scope_id, variant, day, slot) DO UPDATE SET
				sent = t.sent + excluded.sent, delivered = t.delivered + excluded.delivered, bounced = t.bounced + excluded.bounced,
				opened = t.opened + excluded.opened, clicked = t.clicked + excluded.clicked, clicks = t.clicks + excluded.clicks,
				unsubscribed = t.unsubscribed + excluded.unsubscribed, complained = t.complained + excluded.complained`,
			shopID, slot, string(js)); err != nil {
			return fmt.Errorf("reports: email daily counts: %w", err)
		}
	}
	type custRow struct {
		custKey
		custFlags
	}
	var cust []custRow
	for k, fl := range f.cust {
		cust = append(cust, custRow{k, *fl})
	}
	slices.SortFunc(cust, func(a, b custRow) int {
		return cmp.Or(cmpKey(a.emailKey, b.emailKey), cmp.Compare(a.Customer, b.Customer))
	})
	if len(cust) > 0 {
		if err := f.writeReach(ctx, tx, shopID, slot); err != nil { // before the days it reads change
			return err
		}
		js, err := json.Marshal(cust)
		if err != nil {
			return fmt.Errorf("reports: %w", err)
		}
		// Flags only turn on: any order of writers gives the same rows.
		if _, err := tx.ExecContext(ctx, `
			INSERT INTO report_email_customers AS t (shop_id, scope, scope_id, variant, day, customer_id, delivered, unsubscribed, complained)
			SELECT $1, scope, scope_id, variant, day, customer_id, delivered, unsubscribed, complained
			FROM jsonb_to_recordset($2::jsonb) AS r(scope text, scope_id bigint, variant text, day date, customer_id bigint,
				delivered boolean, unsubscribed boolean, complained boolean)
			ON CONFLICT (shop_id, scope, scope_id, variant, day, customer_id) DO UPDATE SET
				delivered = t.delivered OR excluded.delivered, unsubscribed = t.unsubscribed OR excluded.unsubscribed,
				complained = t.complained OR excluded.complained`, shopID, string(js)); err != nil {
			return fmt.Errorf("reports: email customers: %w", err)
		}
	}
	return f.writeEngagement(ctx, tx, shopID, slot)
}
