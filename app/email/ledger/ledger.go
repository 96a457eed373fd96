// Package ledger keeps one row per email (table email_messages), written
// before the provider is called. The row's UNIQUE (shop_id, dedupe_key), and
// the unique indexes on its structured source (shop, flow run, step) and
// (shop, campaign, customer), make every email go out at most once per
// (campaign, customer) and per (flow run, step); its status follows the
// message from queued to the last thing the provider or the recipient did
// with it. The source columns (flow, version, run, step; campaign, variant;
// template) are what reports group by, and the row's context holds the
// references the message is composed from when it is sent.
//
// # Lifecycle
//
//	queued ──claim──▶ sending ──▶ sent ──events──▶ deferred / delivered / opened / clicked / …
//	   │                 │
//	   ├──▶ skipped      ├──▶ failed   (refused by the provider, outcome unknown, or interrupted)
//	   │                 └──▶ queued   (provider said "retry later" and certainly did not accept it)
//
// Only the worker whose conditional UPDATE moves a row from queued to sending
// may call the provider (Claim). A row left in sending by a dead worker is
// never sent again automatically: see FailInterrupted.
//
// # Event ordering
//
// Provider and tracking events arrive late, twice and out of order. ApplyEvent
// moves a row only forward along this rank (higher wins, equal does not
// overwrite):
//
//	failed(0) < sent(1) < deferred(2) < delivered(3) < opened(4) < clicked(5)
//	  < bounced(6) = dropped(6) < unsubscribed(7) < complained(8)
//
// So a late "delivered" never hides an open or a click, a deferral never
// undoes a delivery, and bounced, dropped, unsubscribed and complained are
// terminal-ish: only a stronger negative signal replaces them (a complaint
// beats an unsubscribe, both beat a bounce). A "failed" row accepts events
// because a worker may have died after the provider accepted the message;
// the provider's own events are the confirmation. queued, sending and skipped
// rows ignore events.
package ledger

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/jmoiron/sqlx"
	"github.com/lib/pq"
)

// Statuses of email_messages.status.
const (
	Queued       = "queued"
	Sending      = "sending"
	Sent         = "sent"
	Delivered    = "delivered"
	Deferred     = "deferred"
	Bounced      = "bounced"
	Dropped      = "dropped"
	Opened       = "opened"
	Clicked      = "clicked"
	Unsubscribed = "unsubscribed"
	Complained   = "complained"
	Skipped      = "skipped"
	Failed       = "failed"
)

// Kinds of email.
const (
	KindCampaign = "campaign"
	KindFlow     = "flow"
	KindTest     = "test"
	KindSystem   = "system"
)

// ErrNotFound: no such message in the shop.
var ErrNotFound = errors.New("ledger: message not found")

// eventRank is the forward order events follow (see the package comment).
var eventRank = map[string]int{
	Failed: 0, Sent: 1, Deferred: 2, Delivered: 3, Opened: 4, Clicked: 5,
	Bounced: 6, Dropped: 6, Unsubscribed: 7, Complained: 8,
}

// Rank returns a status's place in the event order and whether events may
// set or replace it.
func Rank(status string) (int, bool) {
	r, ok := eventRank[status]
	return r, ok
}

// overwritable returns the statuses an event to status may replace.
func overwritable(status string) []string {
	r := eventRank[status]
	var out []string
	for s, sr := range eventRank {
		if sr < r {
			out = append(out, s)
		}
	}
	return out
}

// Source is what an email belongs to: a flow run's step (with the flow and
// its version) or a campaign (and variant), and the template it is composed
// from. Zero values are "none" (NULL in the table). Reports group by these
// columns; the unique indexes on (shop, flow run, step) and (shop, campaign,
// customer) make each of those one email at most.
type Source struct {
	FlowID          int64  `db:"flow_id"`
	FlowVersion     int    `db:"flow_version"`
	FlowRunID       int64  `db:"flow_run_id"`
	FlowStep        string `db:"flow_step"` // the step's stable id in the flow definition
	CampaignID      int64  `db:"campaign_id"`
	CampaignVariant string `db:"campaign_variant"`
	TemplateID      int64  `db:"template_id"`
}

// DedupeKey is the key the source implies: "flow_run:<run>:step:<step>" or
// "campaign:<id>:customer:<customer>"; "" when the source names neither.
func (s Source) DedupeKey(customerID int64) string {
	switch {
	case s.FlowRunID != 0:
		return "flow_run:" + strconv.FormatInt(s.FlowRunID, 10) + ":step:" + s.FlowStep
	case s.CampaignID != 0:
		return "campaign:" + strconv.FormatInt(s.CampaignID, 10) + ":customer:" + strconv.FormatInt(customerID, 10)
	}
	return ""
}

// Context holds the non-personal references a message is composed from at
// send time (keys such as ContextCheckoutToken); stored as a JSON object.
type Context map[string]string

// Keys of Context the composer reads.
const (
	ContextCheckoutToken = "checkout_token" // the checkout (cart) an abandoned-cart email is about
	ContextDiscountCode  = "discount_code"  // a code created for this recipient
	ContextSearch        = "search"         // the searched term of a search-abandonment email
)

// Limits of a Context: references, not content.
const (
	maxContextKeys  = 20
	maxContextKey   = 64
	maxContextValue = 1024
)

// Value implements driver.Valuer (jsonb).
func (c Context) Value() (driver.Value, error) {
	if c == nil {
		return []byte("{}"), nil
	}
	b, err := json.Marshal(map[string]string(c))
	if err != nil {
		return nil, fmt.Errorf("ledger: context: %w", err)
	}
	return b, nil
}

// Scan implements sql.Scanner.
func (c *Context) Scan(src any) error {
	var b []byte
	switch v := src.(type) {
	case nil:
		*c = Context{}
		return nil
	case []byte:
		b = v
	case string:
		b = []byte(v)
	default:
		return fmt.Errorf("ledger: context: cannot scan %T", src)
	}
	m := map[string]string{}
	if err := json.Unmarshal(b, &m); err != nil {
		return fmt.Errorf("ledger: context: %w", err)
	}
	*c = m
	return nil
}

// Reservation is what is known about an email before it is sent.
type Reservation struct {
	ShopID     int64
	CustomerID int64 // 0: no profile (test or system mail)
	To         string
	Kind       string
	// DedupeKey may be left empty when Source names a flow run or a
	// campaign: it is then derived from it (Source.DedupeKey). When both
	// are given they must agree.
	DedupeKey string
	Subject   string
	Marketing bool
	Source    Source
	Context   Context
}

// Message is one ledger row.
type Message struct {
	ID                int64          `db:"id"`
	ShopID            int64          `db:"shop_id"`
	CustomerID        sql.NullInt64  `db:"customer_id"`
	To                string         `db:"to_email"`
	Kind              string         `db:"kind"`
	DedupeKey         string         `db:"dedupe_key"`
	Subject           string         `db:"subject"`
	Status            string         `db:"status"`
	BounceType        string         `db:"bounce_type"`
	SkipReason        string         `db:"skip_reason"`
	Provider          string         `db:"provider"`
	ProviderMessageID sql.NullString `db:"provider_message_id"`
	Links             pq.StringArray `db:"links"`
	Marketing         bool           `db:"marketing"`
	Attempts          int            `db:"attempts"`
	LastError         string         `db:"last_error"`
	CreatedAt         time.Time      `db:"created_at"`
	SendingAt         sql.NullTime   `db:"sending_at"`
	SentAt            sql.NullTime   `db:"sent_at"`
	UpdatedAt         time.Time      `db:"updated_at"`
	// HandOffPending: claimed by a delivery batch and not yet handed to the
	// provider (see ClaimComposedMany, HandingOff).
	HandOffPending bool `db:"hand_off_pending"`
	Source
	Context Context `db:"context"`
}

// Columns is the select list that fills a Message (NULL sources read as zero).
const Columns = `id, shop_id, customer_id, to_email, kind, dedupe_key, subject, status, bounce_type, skip_reason,
	provider, provider_message_id, links, marketing, attempts, last_error, created_at, sending_at, sent_at, updated_at,
	hand_off_pending, COALESCE(flow_id, 0) AS flow_id, COALESCE(flow_version, 0) AS flow_version, COALESCE(flow_run_id, 0) AS flow_run_id,
	COALESCE(flow_step, '') AS flow_step, COALESCE(campaign_id, 0) AS campaign_id,
	COALESCE(campaign_variant, '') AS campaign_variant, COALESCE(template_id, 0) AS template_id, context`

// Querier is a *sqlx.DB or *sqlx.Tx.
type Querier interface {
	sqlx.ExtContext
	GetContext(ctx context.Context, dest any, query string, args ...any) error
}

// validate checks r and returns it with its dedupe key filled in.
func validate(r Reservation) (Reservation, error) {
	switch {
	case r.ShopID == 0:
		return r, errors.New("ledger: shop id is required")
	case strings.TrimSpace(r.To) == "":
		return r, errors.New("ledger: recipient is required")
	}
	switch r.Kind {
	case KindCampaign, KindFlow, KindTest, KindSystem:
	default:
		return r, fmt.Errorf("ledger: kind %q is not campaign, flow, test or system", r.Kind)
	}
	s := r.Source
	switch {
	case s.FlowRunID < 0 || s.FlowID < 0 || s.FlowVersion < 0 || s.CampaignID < 0 || s.TemplateID < 0:
		return r, errors.New("ledger: source ids must not be negative")
	case s.FlowRunID != 0 && s.CampaignID != 0:
		return r, errors.New("ledger: a message belongs to a flow run or a campaign, not both")
	case s.FlowRunID != 0 && (r.Kind != KindFlow || strings.TrimSpace(s.FlowStep) == ""):
		return r, errors.New("ledger: a flow run's message needs kind flow and the step's id")
	case s.FlowRunID == 0 && (s.FlowStep != "" || s.FlowID != 0 || s.FlowVersion != 0):
		return r, errors.New("ledger: a flow step, flow or flow version needs the flow run")
	case s.CampaignID != 0 && (r.Kind != KindCampaign || r.CustomerID == 0):
		return r, errors.New("ledger: a campaign's message needs kind campaign and a customer")
	case s.CampaignID == 0 && s.CampaignVariant != "":
		return r, errors.New("ledger: a campaign variant needs the campaign")
	}
	if len(r.Context) > maxContextKeys {
		return r, fmt.Errorf("ledger: context has %d keys; at most %d", len(r.Context), maxContextKeys)
	}
	for k, v := range r.Context {
		if k == "" || len(k) > maxContextKey || len(v) > maxContextValue {
			return r, fmt.Errorf("ledger: context key %.64q: keys are 1–%d bytes, values at most %d", k, maxContextKey, maxContextValue)
		}
	}
	derived := s.DedupeKey(r.CustomerID)
	switch {
	case strings.TrimSpace(r.DedupeKey) == "" && derived == "":
		return r, errors.New("ledger: dedupe key is required")
	case strings.TrimSpace(r.DedupeKey) == "":
		r.DedupeKey = derived
	case derived != "" && r.DedupeKey != derived:
		return r, fmt.Errorf("ledger: dedupe key %q does not match the source's %q", r.DedupeKey, derived)
	}
	return r, nil
}

func nullInt(v int64) sql.NullInt64 { return sql.NullInt64{Int64: v, Valid: v != 0} }

func nullText(v string) sql.NullString { return sql.NullString{String: v, Valid: v != ""} }

// Reserve writes the message's row, or finds the one already written for the
// same (shop, dedupe key). existed is true when this call did not create it:
// the caller must then look at the existing row's status instead of sending.
// Run it in the caller's transaction (q may be a *sqlx.Tx) or on its own; the
// row must be committed before any provider call.
func Reserve(ctx context.Context, q Querier, r Reservation) (id int64, existed bool, err error) {
	r, err = validate(r)
	if err != nil {
		return 0, false, err
	}
	s := r.Source
	// No conflict target: a row of the same (shop, dedupe key), (shop, flow
	// run, step) or (shop, campaign, customer) all mean "already reserved",
	// and since keys are derived from sources they name the same row.
	err = q.GetContext(ctx, &id, `
		INSERT INTO email_messages (shop_id, customer_id, to_email, kind, dedupe_key, subject, marketing,
			flow_id, flow_version, flow_run_id, flow_step, campaign_id, campaign_variant, template_id, context)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15)
		ON CONFLICT DO NOTHING
		RETURNING id`, r.ShopID, nullInt(r.CustomerID), strings.TrimSpace(r.To), r.Kind, r.DedupeKey, r.Subject, r.Marketing,
		nullInt(s.FlowID), sql.NullInt32{Int32: int32(s.FlowVersion), Valid: s.FlowVersion != 0}, nullInt(s.FlowRunID),
		nullText(s.FlowStep), nullInt(s.CampaignID), nullText(s.CampaignVariant), nullInt(s.TemplateID), r.Context)
	if err == nil {
		return id, false, nil
	}
	if !errors.Is(err, sql.ErrNoRows) {
		return 0, false, fmt.Errorf("ledger: reserve %q: %w", r.DedupeKey, err)
	}
	err = q.GetContext(ctx, &id, `SELECT id FROM email_messages WHERE shop_id = $1 AND dedupe_key = $2`, r.ShopID, r.DedupeKey)
	if err != nil {
		return 0, false, fmt.Errorf("ledger: reserve %q: existing row: %w", r.DedupeKey, err)
	}
	return id, true, nil
}

// ReserveMany is Reserve for many messages of one shop in one statement
// (a campaign's or a flow tick's batch): ids[i] and existed[i] answer rs[i].
// A reservation that is invalid refuses the whole batch, and nothing is
// written. The same key twice in rs is one row (the later ones existed).
func ReserveMany(ctx context.Context, q Querier, rs []Reservation) (ids []int64, existed []bool, err error) {
	if len(rs) == 0 {
		return nil, nil, nil
	}
	shopID := rs[0].ShopID
	n := len(rs)
	// One array per column, unnested side by side by the INSERT.
	ints := func() pq.Int64Array { return make(pq.Int64Array, n) }
	texts := func() pq.StringArray { return make(pq.StringArray, n) }
	cust, flowID, flowVersion, runID, campID, tplID := ints(), ints(), ints(), ints(), ints(), ints()
	to, kind, key, subject, step, variant, cx := texts(), texts(), texts(), texts(), texts(), texts(), texts()
	marketing := make(pq.BoolArray, n)
	for i := range rs {
		r, err := validate(rs[i])
		if err != nil {
			return nil, nil, fmt.Errorf("%w (message %d of %d)", err, i+1, n)
		}
		if r.ShopID != shopID {
			return nil, nil, errors.New("ledger: reserve many: every message must be of one shop")
		}
		c, err := r.Context.Value()
		if err != nil {
			return nil, nil, err
		}
		s := r.Source
		cust[i], to[i], kind[i], key[i], subject[i], marketing[i] = r.CustomerID, strings.TrimSpace(r.To), r.Kind, r.DedupeKey, r.Subject, r.Marketing
		flowID[i], flowVersion[i], runID[i], step[i] = s.FlowID, int64(s.FlowVersion), s.FlowRunID, s.FlowStep
		campID[i], variant[i], tplID[i], cx[i] = s.CampaignID, s.CampaignVariant, s.TemplateID, string(c.([]byte))
	}
	type row struct {
		ID  int64  `db:"id"`
		Key string `db:"dedupe_key"`
	}
	var created []row
	if err := sqlx.SelectContext(ctx, q, &created, `
		INSERT INTO email_messages (shop_id, customer_id, to_email, kind, dedupe_key, subject, marketing,
			flow_id, flow_version, flow_run_id, flow_step, campaign_id, campaign_variant, template_id, context)
		SELECT $1, NULLIF(u.cust, 0), u.to_email, u.kind, u.key, u.subject, u.marketing,
		       NULLIF(u.flow_id, 0), NULLIF(u.flow_version, 0)::integer, NULLIF(u.run_id, 0), NULLIF(u.step, ''),
		       NULLIF(u.camp_id, 0), NULLIF(u.variant, ''), NULLIF(u.tpl_id, 0), u.cx::jsonb
		FROM unnest($2::bigint[], $3::text[], $4::text[], $5::text[], $6::text[], $7::boolean[],
		            $8::bigint[], $9::bigint[], $10::bigint[], $11::text[], $12::bigint[], $13::text[], $14::bigint[], $15::text[])
		     AS u(cust, to_email, kind, key, subject, marketing, flow_id, flow_version, run_id, step, camp_id, variant, tpl_id, cx)
		ON CONFLICT DO NOTHING
		RETURNING id, dedupe_key`,
		shopID, cust, to, kind, key, subject, marketing, flowID, flowVersion, runID, step, campID, variant, tplID, cx); err != nil {
		return nil, nil, fmt.Errorf("ledger: reserve %d messages: %w", n, err)
	}
	byKey := make(map[string]int64, n)
	fresh := make(map[string]bool, len(created))
	for _, c := range created {
		byKey[c.Key], fresh[c.Key] = c.ID, true
	}
	if len(created) < n {
		var missing pq.StringArray
		for _, k := range key {
			if _, ok := byKey[k]; !ok {
				missing = append(missing, k)
			}
		}
		var found []row
		if err := sqlx.SelectContext(ctx, q, &found, `SELECT id, dedupe_key FROM email_messages WHERE shop_id = $1 AND dedupe_key = ANY($2)`,
			shopID, missing); err != nil {
			return nil, nil, fmt.Errorf("ledger: reserve %d messages: existing rows: %w", n, err)
		}
		for _, f := range found {
			byKey[f.Key] = f.ID
		}
	}
	ids, existed = make([]int64, n), make([]bool, n)
	for i, k := range key {
		id, ok := byKey[k]
		if !ok {
			return nil, nil, fmt.Errorf("ledger: reserve %q: no row after the insert", k)
		}
		ids[i], existed[i] = id, !fresh[k]
		fresh[k] = false // the same key again in rs: that one existed
	}
	return ids, existed, nil
}

// Get loads one message of the shop.
func Get(ctx context.Context, q Querier, shopID, id int64) (Message, error) {
	var m Message
	err := q.GetContext(ctx, &m, `SELECT `+Columns+` FROM email_messages WHERE shop_id = $1 AND id = $2`, shopID, id)
	if errors.Is(err, sql.ErrNoRows) {
		return Message{}, ErrNotFound
	}
	if err != nil {
		return Message{}, fmt.Errorf("ledger: get %d: %w", id, err)
	}
	return m, nil
}

// ByDedupeKey loads the message of a dedupe key.
func ByDedupeKey(ctx context.Context, q Querier, shopID int64, key string) (Message, error) {
	var m Message
	err := q.GetContext(ctx, &m, `SELECT `+Columns+` FROM email_messages WHERE shop_id = $1 AND dedupe_key = $2`, shopID, key)
	if errors.Is(err, sql.ErrNoRows) {
		return Message{}, ErrNotFound
	}
	if err != nil {
		return Message{}, fmt.Errorf("ledger: get %q: %w", key, err)
	}
	return m, nil
}

func affected(res sql.Result, err error, what string) (bool, error) {
	if err != nil {
		return false, fmt.Errorf("ledger: %s: %w", what, err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return false, fmt.Errorf("ledger: %s: %w", what, err)
	}
	return n == 1, nil
}

// Claim moves a queued row to sending, recording the provider about to be
// called and the tracked links; it reports whether this caller won the row.
// Only the winner may call the provider. Commit before calling it.
func Claim(ctx context.Context, q Querier, shopID, id int64, provider string, links []string) (bool, error) {
	if links == nil {
		links = []string{}
	}
	res, err := q.ExecContext(ctx, `
		UPDATE email_messages
		SET status = 'sending', provider = $3, links = $4, attempts = attempts + 1,
		    sending_at = now(), updated_at = now()
		WHERE shop_id = $1 AND id = $2 AND status = 'queued'`, shopID, id, provider, pq.Array(links))
	return affected(res, err, "claim")
}

// ClaimComposed is Claim for a message composed at send time for customer
// (0: none): it also records the address it goes to and its subject (the
// ledger shows what was sent); empty keeps the reserved value. It claims
// only while the row still names that customer, so a redaction that erased
// the row meanwhile is not undone by writing the address back.
func ClaimComposed(ctx context.Context, q Querier, shopID, id, customerID int64, provider string, links []string, to, subject string) (bool, error) {
	if links == nil {
		links = []string{}
	}
	res, err := q.ExecContext(ctx, `
		UPDATE email_messages
		SET status = 'sending', provider = $3, links = $4, attempts = attempts + 1,
		    to_email = COALESCE(NULLIF($5, ''), to_email), subject = COALESCE(NULLIF($6, ''), subject),
		    sending_at = now(), updated_at = now()
		WHERE shop_id = $1 AND id = $2 AND status = 'queued' AND customer_id IS NOT DISTINCT FROM NULLIF($7, 0)`,
		shopID, id, provider, pq.Array(links), to, subject, customerID)
	return affected(res, err, "claim")
}

// GetMany loads the shop's messages among ids, in id order; ids of other
// shops or of no message are left out.
func GetMany(ctx context.Context, q Querier, shopID int64, ids []int64) ([]Message, error) {
	var ms []Message
	err := sqlx.SelectContext(ctx, q, &ms, `SELECT `+Columns+` FROM email_messages
		WHERE shop_id = $1 AND id = ANY($2) ORDER BY id`, shopID, pq.Array(ids))
	if err != nil {
		return nil, fmt.Errorf("ledger: get %d messages: %w", len(ids), err)
	}
	return ms, nil
}

// MarkSending is Claim without provider or links.
func MarkSending(ctx context.Context, q Querier, shopID, id int64) (bool, error) {
	return Claim(ctx, q, shopID, id, "", nil)
}

// MarkSent records the provider's acceptance of a message being sent.
func MarkSent(ctx context.Context, q Querier, shopID, id int64, providerID string) (bool, error) {
	var pid sql.NullString
	if providerID != "" {
		pid = sql.NullString{String: providerID, Valid: true}
	}
	res, err := q.ExecContext(ctx, `
		UPDATE email_messages
		SET status = 'sent', provider_message_id = $3, sent_at = now(), last_error = '', updated_at = now()
		WHERE shop_id = $1 AND id = $2 AND status = 'sending'`, shopID, id, pid)
	return affected(res, err, "mark sent")
}

// MarkSkipped records that a queued message was not sent, and why
// (e.g. "suppressed", "frequency_cap"). Skipped is final for the dedupe key.
func MarkSkipped(ctx context.Context, q Querier, shopID, id int64, reason string) (bool, error) {
	res, err := q.ExecContext(ctx, `
		UPDATE email_messages SET status = 'skipped', skip_reason = $3, updated_at = now()
		WHERE shop_id = $1 AND id = $2 AND status IN ('queued', 'sending')`, shopID, id, reason)
	return affected(res, err, "mark skipped")
}

// MarkFailed records a message that will not be sent by us again: refused by
// the provider, outcome unknown, or interrupted mid-send.
func MarkFailed(ctx context.Context, q Querier, shopID, id int64, reason string) (bool, error) {
	res, err := q.ExecContext(ctx, `
		UPDATE email_messages SET status = 'failed', last_error = $3, updated_at = now()
		WHERE shop_id = $1 AND id = $2 AND status IN ('queued', 'sending')`, shopID, id, reason)
	return affected(res, err, "mark failed")
}

// Requeue puts a sending row back to queued after the provider certainly did
// not accept it (429, 5xx, connection refused), so a retry may claim it.
func Requeue(ctx context.Context, q Querier, shopID, id int64, reason string) (bool, error) {
	res, err := q.ExecContext(ctx, `
		UPDATE email_messages SET status = 'queued', last_error = $3, hand_off_pending = false, updated_at = now()
		WHERE shop_id = $1 AND id = $2 AND status = 'sending'`, shopID, id, reason)
	return affected(res, err, "requeue")
}

// InterruptedReason is the last_error of rows FailInterrupted gave up on.
const InterruptedReason = "interrupted; not resent to avoid duplicates"

// RequeuedReason is the last_error of claimed rows FailInterrupted put
// back to queued: their worker died before handing them to the provider.
const RequeuedReason = "interrupted before the provider was called; queued again"

// FailInterrupted settles the shop's rows (all shops when shopID is 0) left
// in sending for longer than olderThan by a worker that died. A row already
// handed to the provider is marked failed: the provider may or may not
// have accepted it, so it is not sent again. If the provider did accept it,
// its events (matched by cw_message_id) still move the row to
// sent/delivered/… afterwards. A row its batch had claimed but not yet
// handed over (hand_off_pending) certainly never reached the provider: it
// goes back to queued, for the retry of its deliver job. It returns how
// many rows it settled.
func FailInterrupted(ctx context.Context, q Querier, shopID int64, olderThan time.Duration) (int64, error) {
	failed, requeued, err := SweepInterrupted(ctx, q, shopID, olderThan)
	return failed + int64(len(requeued)), err
}

// Requeued is a row SweepInterrupted put back to queued.
type Requeued struct {
	ShopID int64 `db:"shop_id"`
	ID     int64 `db:"id"`
}

// SweepInterrupted is FailInterrupted that also says which rows went back
// to queued, so the caller can queue their delivery again (their deliver
// job may have ended meanwhile, finding them still in sending).
func SweepInterrupted(ctx context.Context, q Querier, shopID int64, olderThan time.Duration) (int64, []Requeued, error) {
	var rows []struct {
		Requeued
		Status string `db:"status"`
	}
	err := sqlx.SelectContext(ctx, q, &rows, `
		UPDATE email_messages
		SET status = CASE WHEN hand_off_pending THEN 'queued' ELSE 'failed' END,
		    last_error = CASE WHEN hand_off_pending THEN $4 ELSE $3 END,
		    hand_off_pending = false, updated_at = now()
		WHERE id IN (
			-- Rows a live transaction holds (a batch recording them) are
			-- not a dead worker's: skipped, and no lock-order deadlock.
			SELECT id FROM email_messages
			WHERE ($1 = 0 OR shop_id = $1) AND status = 'sending' AND sending_at < now() - make_interval(secs => $2)
			FOR UPDATE SKIP LOCKED)
		RETURNING shop_id, id, status`,
		shopID, olderThan.Seconds(), InterruptedReason, RequeuedReason)
	if err != nil {
		return 0, nil, fmt.Errorf("ledger: fail interrupted: %w", err)
	}
	var failed int64
	var requeued []Requeued
	for _, r := range rows {
		if r.Status == Queued {
			requeued = append(requeued, r.Requeued)
		} else {
			failed++
		}
	}
	sort.Slice(requeued, func(a, b int) bool { return requeued[a].ID < requeued[b].ID })
	return failed, requeued, nil
}

// Event is a provider or tracking event for one message.
type Event struct {
	Status string
	// BounceType is "hard" or "soft" for Bounced.
	BounceType string
	// ProviderID fills provider_message_id when it is not known yet (a row
	// failed as interrupted whose send did in fact go through).
	ProviderID string
}

// ApplyEvent moves the message forward to the event's status when the event
// ranks above the current status (see the package comment); it reports
// whether the row changed. Repeated and out-of-order events are no-ops.
func ApplyEvent(ctx context.Context, q Querier, shopID, id int64, ev Event) (bool, error) {
	if _, ok := eventRank[ev.Status]; !ok || ev.Status == Failed {
		return false, fmt.Errorf("ledger: %q is not an event status", ev.Status)
	}
	bt := ""
	if ev.Status == Bounced {
		bt = ev.BounceType
		if bt != "soft" {
			bt = "hard"
		}
	}
	res, err := q.ExecContext(ctx, `
		UPDATE email_messages
		SET status = $3, bounce_type = $4,
		    provider_message_id = COALESCE(provider_message_id, NULLIF($6, '')),
		    sent_at = COALESCE(sent_at, now()), updated_at = now()
		WHERE shop_id = $1 AND id = $2 AND status = ANY($5)`,
		shopID, id, ev.Status, bt, pq.Array(overwritable(ev.Status)), ev.ProviderID)
	return affected(res, err, "apply event")
}

// MarketingSince reports whether the customer got a marketing email of the
// shop sent at or after since, or has one being sent right now (claimed by
// a worker since then), other than message exceptID. Messages of flow run
// exceptRunID (when not 0) don't count: earlier steps of the same run don't
// hold back its later ones.
func MarketingSince(ctx context.Context, q Querier, shopID, customerID int64, since time.Time, exceptID, exceptRunID int64) (bool, error) {
	var found bool
	err := q.GetContext(ctx, &found, `
		SELECT EXISTS (
			SELECT 1 FROM email_messages
			WHERE shop_id = $1 AND customer_id = $2 AND marketing AND sent_at IS NOT NULL AND sent_at >= $3
			  AND id <> $4 AND ($5 = 0 OR flow_run_id IS DISTINCT FROM $5))
		OR EXISTS (
			SELECT 1 FROM email_messages
			WHERE shop_id = $1 AND customer_id = $2 AND marketing AND status = 'sending' AND sending_at >= $3
			  AND id <> $4 AND ($5 = 0 OR flow_run_id IS DISTINCT FROM $5))`,
		shopID, customerID, since, exceptID, exceptRunID)
	if err != nil {
		return false, fmt.Errorf("ledger: marketing since: %w", err)
	}
	return found, nil
}
