package webhooks

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/jmoiron/sqlx"
	"github.com/lib/pq"
	"github.com/riverqueue/river"

	"github.com/cartwheel/cartwheel/app/privacy"
	"github.com/cartwheel/cartwheel/app/shops"
)

// Handler applies one delivery inside tx and says what it did (kept on the
// delivery row for support). Returning an error rolls back and retries.
type Handler func(ctx context.Context, tx *sqlx.Tx, d Delivery) (outcome string, err error)

// Processor is the River worker that applies stored deliveries.
type Processor struct {
	river.WorkerDefaults[ProcessArgs]
	db       *sqlx.DB
	log      *slog.Logger
	handlers map[string]Handler
}

// NewProcessor registers the handlers for the topics this package owns.
// Later domains add theirs with Handle.
func NewProcessor(db *sqlx.DB, shopStore *shops.Store, priv *privacy.Service, log *slog.Logger) *Processor {
	p := &Processor{db: db, log: log, handlers: map[string]Handler{}}
	a := &appHandlers{shops: shopStore, privacy: priv}
	p.Handle("app/uninstalled", a.uninstalled)
	p.Handle("customers/data_request", a.dataRequest)
	p.Handle("customers/redact", a.customerRedact)
	p.Handle("shop/redact", a.shopRedact)
	return p
}

// Handle sets the handler for a topic.
func (p *Processor) Handle(topic string, h Handler) { p.handlers[topic] = h }

// Handles reports whether a topic has a handler.
func (p *Processor) Handles(topic string) bool { _, ok := p.handlers[topic]; return ok }

// Work applies the delivery once: the row is locked, skipped if already
// processed, and marked processed in the handler's own transaction.
func (p *Processor) Work(ctx context.Context, job *river.Job[ProcessArgs]) error {
	// Shopify delivers one customer's orders at the same moment, and two
	// of them creating the same customer can deadlock inside PostgreSQL
	// (INSERT … ON CONFLICT on one unique index while the row also enters
	// another: the email's). PostgreSQL aborts one of them; run that one
	// again at once rather than wait for the job's retry.
	for attempt := 1; ; attempt++ {
		err := p.process(ctx, job)
		var pqErr *pq.Error
		if attempt < maxAttempts && errors.As(err, &pqErr) && (pqErr.Code == "40P01" || pqErr.Code == "40001") && ctx.Err() == nil {
			continue
		}
		return err
	}
}

// maxAttempts is how many times one job runs a delivery that PostgreSQL
// aborted as a deadlock victim.
const maxAttempts = 3

func (p *Processor) process(ctx context.Context, job *river.Job[ProcessArgs]) error {
	tx, err := p.db.BeginTxx(ctx, nil)
	if err != nil {
		return fmt.Errorf("webhooks: process %s: %w", job.Args.WebhookID, err)
	}
	defer tx.Rollback()
	var row struct {
		Delivery
		TriggeredAt sql.NullTime `db:"triggered_at"`
		ReceivedAt  time.Time    `db:"received_at"`
		ProcessedAt sql.NullTime `db:"processed_at"`
	}
	err = tx.GetContext(ctx, &row, `
		SELECT webhook_id, shop_domain, topic, event_id, api_version, triggered_at, body, received_at, processed_at
		FROM webhook_deliveries WHERE webhook_id = $1 FOR UPDATE`, job.Args.WebhookID)
	if errors.Is(err, sql.ErrNoRows) {
		// The shop was erased (shop/redact) after this job was queued.
		return nil
	}
	if err != nil {
		return fmt.Errorf("webhooks: load %s: %w", job.Args.WebhookID, err)
	}
	if row.ProcessedAt.Valid {
		return nil
	}
	d := row.Delivery
	d.TriggeredAt = row.ReceivedAt
	if row.TriggeredAt.Valid {
		d.TriggeredAt = row.TriggeredAt.Time
	}
	outcome := "ignored: no handler for this topic"
	if h, ok := p.handlers[d.Topic]; ok {
		outcome, err = h(ctx, tx, d)
		var pqErr *pq.Error
		if errors.As(err, &pqErr) && pqErr.Code.Class() == "22" {
			// A data exception (a number out of range, text the database
			// can't hold) comes from the payload and repeats on every
			// retry: record it as the outcome instead of retrying.
			_ = tx.Rollback()
			return p.reject(ctx, d, "rejected: a value in the payload can't be stored ("+pqErr.Message+")")
		}
		if err != nil {
			return fmt.Errorf("webhooks: %s %s for %s: %w", d.Topic, d.WebhookID, d.Shop, err)
		}
	} else {
		p.log.Info("webhook topic not handled", "topic", d.Topic, "shop", d.Shop, "webhook_id", d.WebhookID)
	}
	if _, err := tx.ExecContext(ctx, `
		UPDATE webhook_deliveries SET processed_at = now(), body = NULL, outcome = $2
		WHERE webhook_id = $1`, d.WebhookID, outcome); err != nil {
		return fmt.Errorf("webhooks: mark %s: %w", d.WebhookID, err)
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("webhooks: commit %s: %w", d.WebhookID, err)
	}
	p.log.Info("webhook processed", "topic", d.Topic, "shop", d.Shop, "webhook_id", d.WebhookID, "outcome", outcome)
	return nil
}

type appHandlers struct {
	shops   *shops.Store
	privacy *privacy.Service
}

func (a *appHandlers) uninstalled(ctx context.Context, tx *sqlx.Tx, d Delivery) (string, error) {
	applied, err := a.shops.MarkUninstalled(ctx, tx, d.Shop, d.TriggeredAt)
	if err != nil {
		return "", err
	}
	if !applied {
		return "ignored: shop unknown, already uninstalled, or reinstalled after this event", nil
	}
	return "uninstalled: token dropped, sending stopped", nil
}

// shopFor finds the shop a compliance webhook is about; privacy requests for
// shops we hold nothing of are acknowledged and recorded only on the delivery.
func (a *appHandlers) shopFor(ctx context.Context, domain string) (shops.Shop, bool, error) {
	sh, err := a.shops.ByDomain(ctx, domain)
	if errors.Is(err, shops.ErrNotFound) {
		return shops.Shop{}, false, nil
	}
	return sh, err == nil, err
}

func (a *appHandlers) dataRequest(ctx context.Context, tx *sqlx.Tx, d Delivery) (string, error) {
	sh, ok, err := a.shopFor(ctx, d.Shop)
	if err != nil || !ok {
		return "ignored: no data held for this shop", err
	}
	var p compliancePayload
	if err := json.Unmarshal(d.Body, &p); err != nil {
		return "", err
	}
	req := privacy.DataRequest{
		WebhookID: d.WebhookID, ShopID: sh.ID, ShopDomain: sh.Domain,
		ShopifyCustomerID: p.Customer.ID, Email: p.Customer.Email, Phone: p.Customer.Phone,
		DataRequestID: p.DataRequest.ID, OrdersRequested: p.OrdersRequested, ReceivedAt: d.TriggeredAt,
	}
	if err := a.privacy.HandleDataRequest(ctx, tx, req); err != nil {
		return "", err
	}
	return "data export ready for the merchant", nil
}

func (a *appHandlers) customerRedact(ctx context.Context, tx *sqlx.Tx, d Delivery) (string, error) {
	sh, ok, err := a.shopFor(ctx, d.Shop)
	if err != nil || !ok {
		return "ignored: no data held for this shop", err
	}
	var p compliancePayload
	if err := json.Unmarshal(d.Body, &p); err != nil {
		return "", err
	}
	n, err := a.privacy.HandleCustomerRedact(ctx, tx, privacy.CustomerRedact{
		WebhookID: d.WebhookID, ShopID: sh.ID, ShopifyCustomerID: p.Customer.ID,
		Email: p.Customer.Email, Phone: p.Customer.Phone, OrdersToRedact: p.OrdersToRedact,
	})
	if err != nil {
		return "", err
	}
	return fmt.Sprintf("customer erased (%d rows)", n), nil
}

func (a *appHandlers) shopRedact(ctx context.Context, tx *sqlx.Tx, d Delivery) (string, error) {
	sh, ok, err := a.shopFor(ctx, d.Shop)
	if err != nil {
		return "", err
	}
	if ok && sh.Installed() && sh.InstalledAt.Time.After(d.TriggeredAt) {
		// Reinstalled since the uninstall that scheduled this redaction.
		return "ignored: shop reinstalled after this request", nil
	}
	var shopID int64
	if ok {
		shopID = sh.ID
	}
	if err := a.privacy.HandleShopRedact(ctx, tx, shopID, d.Shop, d.WebhookID); err != nil {
		return "", err
	}
	return "shop erased", nil
}

// reject marks a delivery processed with outcome, in its own transaction
// (the handler's was aborted by the error).
func (p *Processor) reject(ctx context.Context, d Delivery, outcome string) error {
	if _, err := p.db.ExecContext(ctx, `
		UPDATE webhook_deliveries SET processed_at = now(), body = NULL, outcome = $2
		WHERE webhook_id = $1 AND processed_at IS NULL`, d.WebhookID, outcome); err != nil {
		return fmt.Errorf("webhooks: mark %s rejected: %w", d.WebhookID, err)
	}
	p.log.Warn("webhook payload rejected", "topic", d.Topic, "shop", d.Shop, "webhook_id", d.WebhookID, "outcome", outcome)
	return nil
}
