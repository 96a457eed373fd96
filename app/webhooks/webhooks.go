// Package webhooks receives Shopify webhooks and applies them exactly once.
//
// Receiving is cheap: the HTTP layer has already checked the HMAC over the
// raw body; Receive validates the payload against its topic, stores the
// delivery keyed by X-Shopify-Webhook-Id and enqueues a job in the same
// transaction, so Shopify gets its answer in milliseconds. The job runs the
// topic's handler and marks the delivery processed in one transaction, so a
// retried job or a repeated delivery never applies twice.
package webhooks

import (
	"bytes"
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/jmoiron/sqlx"
	"github.com/lib/pq"
	"github.com/riverqueue/river"

	"github.com/cartwheel/cartwheel/app/input"
	"github.com/cartwheel/cartwheel/app/jobs"
)

// Topics Cartwheel subscribes to. Compliance topics can only be declared in
// shopify.app.toml; the others are declared there too and, optionally,
// created per shop through the API. Every one has a handler (a test checks).
var (
	AppTopics = []string{
		"app/uninstalled",
		"customers/create", "customers/update", "customers/delete",
		"orders/create", "orders/updated", "orders/paid", "orders/cancelled",
		"refunds/create",
		"products/create", "products/update", "products/delete",
		"checkouts/create", "checkouts/update",
		"carts/create", "carts/update",
	}
	ComplianceTopics = []string{"customers/data_request", "customers/redact", "shop/redact"}
)

// ErrInvalid wraps every reason a delivery is refused with 400.
var ErrInvalid = errors.New("invalid webhook")

// ErrRejectedBody is returned by Receive when the delivery was recorded but
// its body can never be processed: PostgreSQL's jsonb refuses it (Shopify
// can send a \u0000 escape from customer-entered text). The raw bytes are
// kept, the delivery is marked processed with a "rejected: …" outcome and
// no job is queued; the sender should get a 2xx so it stops retrying.
var ErrRejectedBody = errors.New("webhook body can't be stored as JSON")

// rawBodyRetention is how long a rejected delivery's raw bytes are kept.
const rawBodyRetention = 30 * 24 * time.Hour

// Delivery is one webhook as Shopify sent it.
type Delivery struct {
	WebhookID   string    `db:"webhook_id"`
	Shop        string    `db:"shop_domain"`
	Topic       string    `db:"topic"`
	EventID     string    `db:"event_id"`
	APIVersion  string    `db:"api_version"`
	TriggeredAt time.Time `db:"triggered_at"`
	Body        []byte    `db:"body"`
}

// Receiver stores deliveries and enqueues their processing.
type Receiver struct {
	db   *sqlx.DB
	jobs jobs.Inserter
}

// NewReceiver returns a Receiver.
func NewReceiver(db *sqlx.DB, j jobs.Inserter) *Receiver { return &Receiver{db: db, jobs: j} }

// Receive validates and durably records a delivery. duplicate is true when
// this webhook id was seen before; nothing is enqueued again then.
func (r *Receiver) Receive(ctx context.Context, d Delivery) (duplicate bool, err error) {
	if err := Validate(d); err != nil {
		return false, err
	}
	var triggered sql.NullTime
	if !d.TriggeredAt.IsZero() {
		triggered = sql.NullTime{Time: d.TriggeredAt, Valid: true}
	}
	tx, err := r.db.BeginTxx(ctx, nil)
	if err != nil {
		return false, fmt.Errorf("webhooks: receive %s: %w", d.WebhookID, err)
	}
	defer tx.Rollback()
	// jsonb is the judge of what can be stored: on a data exception (class
	// 22: \u0000, invalid UTF-8, a lone surrogate) the body is kept raw and
	// rejected instead of failing with a 500 that Shopify retries for hours.
	if _, err := tx.ExecContext(ctx, `SAVEPOINT delivery`); err != nil {
		return false, fmt.Errorf("webhooks: receive %s: %w", d.WebhookID, err)
	}
	var id string
	err = tx.GetContext(ctx, &id, `
		INSERT INTO webhook_deliveries (webhook_id, shop_domain, topic, event_id, api_version, triggered_at, body)
		VALUES ($1, $2, $3, $4, $5, $6, $7)
		ON CONFLICT (webhook_id) DO NOTHING
		RETURNING webhook_id`,
		d.WebhookID, strings.ToLower(d.Shop), d.Topic, d.EventID, d.APIVersion, triggered, d.Body)
	if errors.Is(err, sql.ErrNoRows) {
		return true, nil
	}
	var pqErr *pq.Error
	if errors.As(err, &pqErr) && pqErr.Code.Class() == "22" {
		if _, err := tx.ExecContext(ctx, `ROLLBACK TO SAVEPOINT delivery`); err != nil {
			return false, fmt.Errorf("webhooks: receive %s: %w", d.WebhookID, err)
		}
		return r.reject(ctx, tx, d, triggered, pqErr)
	}
	if err != nil {
		return false, fmt.Errorf("webhooks: store %s: %w", d.WebhookID, err)
	}
	if _, err := r.jobs.InsertTx(ctx, tx.Tx, ProcessArgs{WebhookID: d.WebhookID}, nil); err != nil {
		return false, fmt.Errorf("webhooks: enqueue %s: %w", d.WebhookID, err)
	}
	if err := tx.Commit(); err != nil {
		return false, fmt.Errorf("webhooks: commit %s: %w", d.WebhookID, err)
	}
	return false, nil
}

// reject records a delivery whose body jsonb refused: raw bytes, processed,
// with the reason as its outcome, and no job.
func (r *Receiver) reject(ctx context.Context, tx *sqlx.Tx, d Delivery, triggered sql.NullTime, cause *pq.Error) (bool, error) {
	outcome := "rejected: the body can't be stored as JSON (" + cause.Message + ")"
	var id string
	err := tx.GetContext(ctx, &id, `
		INSERT INTO webhook_deliveries (webhook_id, shop_domain, topic, event_id, api_version, triggered_at, raw_body,
			processed_at, outcome)
		VALUES ($1, $2, $3, $4, $5, $6, $7, now(), $8)
		ON CONFLICT (webhook_id) DO NOTHING
		RETURNING webhook_id`,
		d.WebhookID, strings.ToLower(d.Shop), d.Topic, d.EventID, d.APIVersion, triggered, d.Body, outcome)
	if errors.Is(err, sql.ErrNoRows) {
		return true, nil
	}
	if err != nil {
		return false, fmt.Errorf("webhooks: store rejected %s: %w", d.WebhookID, err)
	}
	if err := tx.Commit(); err != nil {
		return false, fmt.Errorf("webhooks: commit %s: %w", d.WebhookID, err)
	}
	return false, fmt.Errorf("%w: %s", ErrRejectedBody, cause.Message)
}

// Validate checks what can be checked without the database: required
// headers, a JSON object body, and a body that belongs to the topic and shop
// named in the headers (so a signed body replayed under another topic or
// shop is refused).
func Validate(d Delivery) error {
	if d.WebhookID == "" {
		return fmt.Errorf("%w: X-Shopify-Webhook-Id header is missing", ErrInvalid)
	}
	if len(d.WebhookID) > 200 {
		return fmt.Errorf("%w: X-Shopify-Webhook-Id header is too long", ErrInvalid)
	}
	if d.Topic == "" {
		return fmt.Errorf("%w: X-Shopify-Topic header is missing", ErrInvalid)
	}
	for name, v := range map[string]string{"X-Shopify-Webhook-Id": d.WebhookID, "X-Shopify-Topic": d.Topic,
		"X-Shopify-Event-Id": d.EventID, "X-Shopify-API-Version": d.APIVersion, "X-Shopify-Shop-Domain": d.Shop} {
		if err := input.CheckText(name+" header", v); err != nil {
			return fmt.Errorf("%w: %v", ErrInvalid, err)
		}
		if len(v) > 200 {
			return fmt.Errorf("%w: %s header is too long", ErrInvalid, name)
		}
	}
	trimmed := bytes.TrimSpace(d.Body)
	if len(trimmed) == 0 {
		return fmt.Errorf("%w: body is empty", ErrInvalid)
	}
	if trimmed[0] != '{' || !json.Valid(trimmed) {
		return fmt.Errorf("%w: body is not a JSON object", ErrInvalid)
	}
	switch d.Topic {
	case "app/uninstalled":
		var p struct {
			MyshopifyDomain string `json:"myshopify_domain"`
		}
		if err := json.Unmarshal(trimmed, &p); err != nil {
			return fmt.Errorf("%w: app/uninstalled body: %v", ErrInvalid, err)
		}
		if !strings.EqualFold(p.MyshopifyDomain, d.Shop) {
			return fmt.Errorf("%w: app/uninstalled body is for shop %q, header says %q", ErrInvalid, p.MyshopifyDomain, d.Shop)
		}
	case "customers/data_request", "customers/redact", "shop/redact":
		var p compliancePayload
		if err := json.Unmarshal(trimmed, &p); err != nil {
			return fmt.Errorf("%w: %s body does not match the topic: %v", ErrInvalid, d.Topic, err)
		}
		if !strings.EqualFold(p.ShopDomain, d.Shop) {
			return fmt.Errorf("%w: %s body is for shop %q, header says %q", ErrInvalid, d.Topic, p.ShopDomain, d.Shop)
		}
		if d.Topic != "shop/redact" && (p.Customer == nil || p.Customer.ID == 0) {
			return fmt.Errorf("%w: %s body has no customer.id (is the topic header right?)", ErrInvalid, d.Topic)
		}
		if d.Topic == "customers/data_request" && (p.DataRequest == nil || p.DataRequest.ID == 0) {
			return fmt.Errorf("%w: customers/data_request body has no data_request.id", ErrInvalid)
		}
		if d.Topic == "shop/redact" && p.Customer != nil {
			return fmt.Errorf("%w: shop/redact body names a customer (is the topic header right?)", ErrInvalid)
		}
	}
	return nil
}

// compliancePayload is the shape of Shopify's three mandatory privacy
// webhooks (go-shopify has no struct for them).
type compliancePayload struct {
	ShopID     int64  `json:"shop_id"`
	ShopDomain string `json:"shop_domain"`
	Customer   *struct {
		ID    int64  `json:"id"`
		Email string `json:"email"`
		Phone string `json:"phone"`
	} `json:"customer"`
	OrdersToRedact  []int64 `json:"orders_to_redact"`
	OrdersRequested []int64 `json:"orders_requested"`
	DataRequest     *struct {
		ID int64 `json:"id"`
	} `json:"data_request"`
}

// ProcessArgs is the job that applies one stored delivery.
type ProcessArgs struct {
	WebhookID string `json:"webhook_id"`
}

// Kind names the job in River.
func (ProcessArgs) Kind() string { return "webhook.process" }

// InsertOpts retries for about a day: a handler fails only on a database
// problem, which outlasts a few quick retries.
func (ProcessArgs) InsertOpts() river.InsertOpts { return river.InsertOpts{MaxAttempts: 15} }
