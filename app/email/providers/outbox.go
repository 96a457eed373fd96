package providers

import (
	"context"
	"encoding/json"
	"fmt"
	"strconv"
	"time"

	"github.com/jmoiron/sqlx"
	"github.com/lib/pq"

	"github.com/cartwheel/cartwheel/app/email"
)

// Outbox "sends" by storing the full message in outbox_messages, for
// development: the admin shows what would have gone out.
type Outbox struct{ db *sqlx.DB }

// NewOutbox returns the outbox provider.
func NewOutbox(db *sqlx.DB) *Outbox { return &Outbox{db: db} }

// Name implements email.Provider.
func (o *Outbox) Name() string { return "outbox" }

// Send implements email.Provider.
func (o *Outbox) Send(ctx context.Context, m email.Message) (email.Result, error) {
	hdr := map[string]string{
		"From":       addr(m.From),
		"To":         addr(m.To),
		"Subject":    m.Subject,
		"Message-ID": MessageID(m),
	}
	if m.ReplyTo != "" {
		hdr["Reply-To"] = m.ReplyTo
	}
	for k, v := range m.Headers {
		hdr[k] = v
	}
	hj, err := json.Marshal(hdr)
	if err != nil {
		return email.Result{}, err
	}
	cats := m.Categories
	if cats == nil {
		cats = []string{}
	}
	var id int64
	err = o.db.GetContext(ctx, &id, `
		INSERT INTO outbox_messages (message_id, shop_id, from_email, to_email, subject, headers, categories, html, text)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) RETURNING id`,
		m.ID, m.ShopID, m.From.Email, m.To.Email, m.Subject, hj, pq.Array(cats), m.HTML, m.Text)
	if err != nil {
		return email.Result{}, &RetryableError{Provider: "outbox", Msg: err.Error()}
	}
	return email.Result{ProviderID: "outbox-" + strconv.FormatInt(id, 10)}, nil
}

// OutboxMessage is one stored message.
type OutboxMessage struct {
	ID         int64             `db:"id"`
	MessageID  int64             `db:"message_id"`
	ShopID     int64             `db:"shop_id"`
	From       string            `db:"from_email"`
	To         string            `db:"to_email"`
	Subject    string            `db:"subject"`
	HeadersRaw []byte            `db:"headers"`
	Headers    map[string]string `db:"-"`
	Categories pq.StringArray    `db:"categories"`
	HTML       string            `db:"html"`
	Text       string            `db:"text"`
	CreatedAt  time.Time         `db:"created_at"`
}

const outboxColumns = `id, message_id, shop_id, from_email, to_email, subject, headers, categories, html, text, created_at`

// List returns the shop's newest stored messages (ids below before when > 0).
func (o *Outbox) List(ctx context.Context, shopID, before int64, limit int) ([]OutboxMessage, error) {
	var out []OutboxMessage
	err := o.db.SelectContext(ctx, &out, `SELECT `+outboxColumns+` FROM outbox_messages
		WHERE shop_id = $1 AND ($2 = 0 OR id < $2) ORDER BY id DESC LIMIT $3`, shopID, before, limit)
	if err != nil {
		return nil, fmt.Errorf("outbox: list: %w", err)
	}
	for i := range out {
		_ = json.Unmarshal(out[i].HeadersRaw, &out[i].Headers)
	}
	return out, nil
}

// Get returns one stored message of the shop.
func (o *Outbox) Get(ctx context.Context, shopID, id int64) (OutboxMessage, error) {
	var m OutboxMessage
	err := o.db.GetContext(ctx, &m, `SELECT `+outboxColumns+` FROM outbox_messages WHERE shop_id = $1 AND id = $2`, shopID, id)
	if err != nil {
		return OutboxMessage{}, fmt.Errorf("outbox: get %d: %w", id, err)
	}
	_ = json.Unmarshal(m.HeadersRaw, &m.Headers)
	return m, nil
}
