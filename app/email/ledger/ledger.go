// Package ledger keeps one row per email (table email_messages), written
// before the provider is called. The row's UNIQUE (shop_id, dedupe_key) makes
// every email go out at most once per (campaign, customer) and per (flow run,
// step); its status follows the message from queued to the last thing the
// provider or the recipient did with it.
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
	"errors"
	"fmt"
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

// Reservation is what is known about an email before it is sent.
type Reservation struct {
	ShopID     int64
	CustomerID int64 // 0: no profile (test or system mail)
	To         string
	Kind       string
	DedupeKey  string
	Subject    string
	Marketing  bool
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
}

const columns = `id, shop_id, customer_id, to_email, kind, dedupe_key, subject, status, bounce_type, skip_reason,
	provider, provider_message_id, links, marketing, attempts, last_error, created_at, sending_at, sent_at, updated_at`

// Querier is a *sqlx.DB or *sqlx.Tx.
type Querier interface {
	sqlx.ExtContext
	GetContext(ctx context.Context, dest any, query string, args ...any) error
}

func validate(r Reservation) error {
	switch {
	case r.ShopID == 0:
		return errors.New("ledger: shop id is required")
	case strings.TrimSpace(r.To) == "":
		return errors.New("ledger: recipient is required")
	case strings.TrimSpace(r.DedupeKey) == "":
		return errors.New("ledger: dedupe key is required")
	}
	switch r.Kind {
	case KindCampaign, KindFlow, KindTest, KindSystem:
	default:
		return fmt.Errorf("ledger: kind %q is not campaign, flow, test or system", r.Kind)
	}
	return nil
}

// Reserve writes the message's row, or finds the one already written for the
// same (shop, dedupe key). existed is true when this call did not create it:
// the caller must then look at the existing row's status instead of sending.
// Run it in the caller's transaction (q may be a *sqlx.Tx) or on its own; the
// row must be committed before any provider call.
func Reserve(ctx context.Context, q Querier, r Reservation) (id int64, existed bool, err error) {
	if err := validate(r); err != nil {
		return 0, false, err
	}
	var cust sql.NullInt64
	if r.CustomerID != 0 {
		cust = sql.NullInt64{Int64: r.CustomerID, Valid: true}
	}
	err = q.GetContext(ctx, &id, `
		INSERT INTO email_messages (shop_id, customer_id, to_email, kind, dedupe_key, subject, marketing)
		VALUES ($1, $2, $3, $4, $5, $6, $7)
		ON CONFLICT (shop_id, dedupe_key) DO NOTHING
		RETURNING id`, r.ShopID, cust, strings.TrimSpace(r.To), r.Kind, r.DedupeKey, r.Subject, r.Marketing)
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

// Get loads one message of the shop.
func Get(ctx context.Context, q Querier, shopID, id int64) (Message, error) {
	var m Message
	err := q.GetContext(ctx, &m, `SELECT `+columns+` FROM email_messages WHERE shop_id = $1 AND id = $2`, shopID, id)
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
	err := q.GetContext(ctx, &m, `SELECT `+columns+` FROM email_messages WHERE shop_id = $1 AND dedupe_key = $2`, shopID, key)
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
		UPDATE email_messages SET status = 'queued', last_error = $3, updated_at = now()
		WHERE shop_id = $1 AND id = $2 AND status = 'sending'`, shopID, id, reason)
	return affected(res, err, "requeue")
}

// InterruptedReason is the last_error of rows FailInterrupted gave up on.
const InterruptedReason = "interrupted; not resent to avoid duplicates"

// FailInterrupted marks as failed the shop's rows (all shops when shopID is
// 0) left in sending for longer than olderThan: their worker died at a point
// where the provider may or may not have accepted the message, so they are
// not sent again. If the provider did accept it, its events (matched by
// cw_message_id) still move the row to sent/delivered/… afterwards.
func FailInterrupted(ctx context.Context, q Querier, shopID int64, olderThan time.Duration) (int64, error) {
	res, err := q.ExecContext(ctx, `
		UPDATE email_messages SET status = 'failed', last_error = $3, updated_at = now()
		WHERE ($1 = 0 OR shop_id = $1) AND status = 'sending' AND sending_at < now() - make_interval(secs => $2)`,
		shopID, olderThan.Seconds(), InterruptedReason)
	if err != nil {
		return 0, fmt.Errorf("ledger: fail interrupted: %w", err)
	}
	return res.RowsAffected()
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
// shop sent at or after since, other than message exceptID. Messages whose
// dedupe key starts with excludePrefix (when not empty) don't count.
func MarketingSince(ctx context.Context, q Querier, shopID, customerID int64, since time.Time, exceptID int64, excludePrefix string) (bool, error) {
	var found bool
	err := q.GetContext(ctx, &found, `
		SELECT EXISTS (
			SELECT 1 FROM email_messages
			WHERE shop_id = $1 AND customer_id = $2 AND marketing AND sent_at IS NOT NULL AND sent_at >= $3
			  AND id <> $4 AND ($5 = '' OR NOT starts_with(dedupe_key, $5)))`,
		shopID, customerID, since, exceptID, excludePrefix)
	if err != nil {
		return false, fmt.Errorf("ledger: marketing since: %w", err)
	}
	return found, nil
}
