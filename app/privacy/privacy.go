// Package privacy carries out Shopify's mandatory privacy requests: a
// customer's data export, a customer's erasure, and a shop's erasure. Each
// domain that stores customer data adds its tables to the queries here, so
// this file is the one list of where personal data lives.
package privacy

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/jmoiron/sqlx"
	"github.com/lib/pq"

	"github.com/cartwheel/cartwheel/app/reports"
)

// ErrNotFound: no such request for this shop.
var ErrNotFound = errors.New("privacy: not found")

// Service runs privacy requests.
type Service struct{ db *sqlx.DB }

// NewService returns a Service.
func NewService(db *sqlx.DB) *Service { return &Service{db: db} }

// DataRequest is customers/data_request: the merchant must send the
// customer what we hold about them.
type DataRequest struct {
	WebhookID         string
	ShopID            int64
	ShopDomain        string
	ShopifyCustomerID int64
	Email, Phone      string
	DataRequestID     int64
	OrdersRequested   []int64
	ReceivedAt        time.Time
}

// Export is the JSON document the merchant downloads.
type Export struct {
	Shop             string          `json:"shop"`
	DataRequestID    int64           `json:"data_request_id"`
	GeneratedAt      time.Time       `json:"generated_at"`
	CustomerID       int64           `json:"shopify_customer_id"`
	OrdersRequested  []int64         `json:"orders_requested"`
	Profiles         []exportProfile `json:"profiles"`
	Orders           json.RawMessage `json:"orders"`
	Checkouts        json.RawMessage `json:"checkouts"`
	StorefrontEvents json.RawMessage `json:"storefront_events"`
	WheelSpins       json.RawMessage `json:"wheel_spins"`
	Suppressed       bool            `json:"suppressed"`
	Note             string          `json:"note"`
}

type exportProfile struct {
	ID             int64           `json:"-" db:"id"`
	ShopifyID      *int64          `json:"shopify_id" db:"shopify_id"`
	Email          *string         `json:"email" db:"email"`
	Phone          *string         `json:"phone" db:"phone"`
	FirstName      string          `json:"first_name" db:"first_name"`
	LastName       string          `json:"last_name" db:"last_name"`
	Locale         string          `json:"locale" db:"locale"`
	Country        string          `json:"country" db:"country"`
	City           string          `json:"city" db:"city"`
	ProvinceCode   string          `json:"province_code" db:"province_code"`
	Timezone       string          `json:"timezone" db:"timezone"`
	Tags           string          `json:"tags" db:"tags"`
	EmailConsent   string          `json:"email_consent" db:"email_consent"`
	Source         string          `json:"source" db:"source"`
	Properties     json.RawMessage `json:"properties" db:"properties"`
	ConsentHistory json.RawMessage `json:"consent_history" db:"consent_history"`
	CreatedAt      time.Time       `json:"created_at" db:"created_at"`
	UpdatedAt      time.Time       `json:"updated_at" db:"updated_at"`
}

// HandleDataRequest builds the export inside tx and stores it for download.
func (s *Service) HandleDataRequest(ctx context.Context, tx *sqlx.Tx, r DataRequest) error {
	ex := Export{
		Shop: r.ShopDomain, DataRequestID: r.DataRequestID, GeneratedAt: time.Now().UTC(),
		CustomerID: r.ShopifyCustomerID, OrdersRequested: r.OrdersRequested, Profiles: []exportProfile{},
	}
	if ex.OrdersRequested == nil {
		ex.OrdersRequested = []int64{}
	}
	if err := tx.SelectContext(ctx, &ex.Profiles, `
		SELECT c.id, c.shopify_id, c.email, c.phone, c.first_name, c.last_name, c.locale, c.country, c.city, c.province_code, c.timezone,
		       array_to_string(c.tags, ', ') AS tags, c.email_consent, c.source, c.properties, c.created_at, c.updated_at,
		       COALESCE((SELECT json_agg(json_build_object('state', e.state, 'source', e.source, 'at', e.occurred_at) ORDER BY e.occurred_at)
		                 FROM consent_events e WHERE e.customer_id = c.id), '[]') AS consent_history
		FROM customers c
		WHERE c.shop_id = $1 AND (c.shopify_id = $2 OR ($3 <> '' AND lower(c.email) = lower($3)))
		ORDER BY c.id`, r.ShopID, r.ShopifyCustomerID, r.Email); err != nil {
		return fmt.Errorf("privacy: data request %d: %w", r.DataRequestID, err)
	}
	ids := make([]int64, 0, len(ex.Profiles))
	for _, p := range ex.Profiles {
		ids = append(ids, p.ID)
	}
	if err := tx.GetContext(ctx, &ex.Orders, `
		SELECT COALESCE(json_agg(json_build_object('id', o.shopify_id, 'name', o.name, 'email', o.email, 'currency', o.currency,
			'total_price', o.total_price, 'total_refunded', o.total_refunded, 'processed_at', o.processed_at,
			'cancelled_at', o.cancelled_at, 'discount_codes', o.discount_codes,
			'line_items', (SELECT COALESCE(json_agg(json_build_object('title', li.title, 'variant_title', li.variant_title,
				'quantity', li.quantity, 'price', li.price)), '[]') FROM order_line_items li
				WHERE li.shop_id = o.shop_id AND li.order_id = o.shopify_id))
			ORDER BY o.processed_at), '[]')
		FROM orders o
		WHERE o.shop_id = $1 AND (o.customer_id = ANY($2) OR o.shopify_id = ANY($3) OR ($4 <> '' AND lower(o.email) = lower($4)))`,
		r.ShopID, pq.Array(ids), pq.Array(ex.OrdersRequested), r.Email); err != nil {
		return fmt.Errorf("privacy: data request %d orders: %w", r.DataRequestID, err)
	}
	if err := tx.GetContext(ctx, &ex.Checkouts, `
		SELECT COALESCE(json_agg(json_build_object('kind', k.kind, 'email', k.email, 'total_price', k.total_price,
			'line_items', k.line_items, 'created_at', k.shopify_created_at, 'completed_at', k.completed_at)), '[]')
		FROM checkouts k
		WHERE k.shop_id = $1 AND (k.customer_id = ANY($2) OR k.shopify_customer_id = $3 OR ($4 <> '' AND lower(k.email) = lower($4)))`,
		r.ShopID, pq.Array(ids), r.ShopifyCustomerID, r.Email); err != nil {
		return fmt.Errorf("privacy: data request %d checkouts: %w", r.DataRequestID, err)
	}
	if err := tx.GetContext(ctx, &ex.StorefrontEvents, `
		SELECT COALESCE(json_agg(json_build_object('name', e.name, 'at', e.occurred_at, 'url', e.url, 'data', e.data)
			ORDER BY e.occurred_at), '[]')
		FROM events e WHERE e.shop_id = $1 AND e.customer_id = ANY($2)`, r.ShopID, pq.Array(ids)); err != nil {
		return fmt.Errorf("privacy: data request %d events: %w", r.DataRequestID, err)
	}
	if err := tx.GetContext(ctx, &ex.WheelSpins, `
		SELECT COALESCE(json_agg(json_build_object('email', w.email, 'prize', w.label, 'code', w.code, 'at', w.created_at)
			ORDER BY w.created_at), '[]')
		FROM spins w WHERE w.shop_id = $1 AND (w.customer_id = ANY($2) OR ($3 <> '' AND w.email_key = lower(btrim($3))))`,
		r.ShopID, pq.Array(ids), r.Email); err != nil {
		return fmt.Errorf("privacy: data request %d wheel spins: %w", r.DataRequestID, err)
	}
	if err := tx.GetContext(ctx, &ex.Suppressed, `SELECT EXISTS (SELECT 1 FROM suppressions WHERE shop_id = $1 AND email = lower($2))`,
		r.ShopID, r.Email); err != nil {
		return fmt.Errorf("privacy: data request %d suppression: %w", r.DataRequestID, err)
	}
	ex.Note = "All personal data Cartwheel holds for this customer in this store."
	if len(ex.Profiles) == 0 {
		ex.Note = "Cartwheel holds no personal data for this customer in this store."
	}
	doc, err := json.MarshalIndent(ex, "", "  ")
	if err != nil {
		return fmt.Errorf("privacy: data request %d: %w", r.DataRequestID, err)
	}
	if _, err := tx.ExecContext(ctx, `
		INSERT INTO privacy_requests (shop_id, kind, webhook_id, shopify_customer_id, data_request_id, export, received_at, completed_at)
		VALUES ($1, 'data_request', $2, $3, $4, $5, $6, now())
		ON CONFLICT (webhook_id) DO NOTHING`,
		r.ShopID, r.WebhookID, r.ShopifyCustomerID, r.DataRequestID, doc, r.ReceivedAt); err != nil {
		return fmt.Errorf("privacy: store data request %d: %w", r.DataRequestID, err)
	}
	return nil
}

// CustomerRedact is customers/redact.
type CustomerRedact struct {
	WebhookID         string
	ShopID            int64
	ShopifyCustomerID int64
	Email, Phone      string
	OrdersToRedact    []int64
}

// HandleCustomerRedact erases the customer's personal data: the profile
// (its consent history and products bought cascade), their checkouts and
// carts, rows naming them in CSV import reports, and any export made for
// them, and their rows in the reports' unique-customer rollups. Their
// orders (and their attribution to an email) keep the revenue for reports
// but lose the email and the link to the person. A suppression of their address is kept on
// purpose: it is what guarantees they are never mailed again. A PII-free
// record of the erasure remains. It returns how many rows were erased.
func (s *Service) HandleCustomerRedact(ctx context.Context, tx *sqlx.Tx, r CustomerRedact) (int64, error) {
	if _, err := tx.ExecContext(ctx, `
		UPDATE orders SET email = NULL, shopify_customer_id = NULL, customer_id = NULL
		WHERE shop_id = $1 AND (shopify_customer_id = $2 OR shopify_id = ANY($3) OR ($4 <> '' AND lower(email) = lower($4))
		   OR customer_id IN (SELECT id FROM customers WHERE shop_id = $1 AND (shopify_id = $2 OR ($4 <> '' AND lower(email) = lower($4)))))`,
		r.ShopID, r.ShopifyCustomerID, pq.Array(r.OrdersToRedact), r.Email); err != nil {
		return 0, fmt.Errorf("privacy: redact orders of %d: %w", r.ShopifyCustomerID, err)
	}
	res, err := tx.ExecContext(ctx, `
		DELETE FROM checkouts
		WHERE shop_id = $1 AND (shopify_customer_id = $2 OR ($3 <> '' AND lower(email) = lower($3))
		   OR customer_id IN (SELECT id FROM customers WHERE shop_id = $1 AND (shopify_id = $2 OR ($3 <> '' AND lower(email) = lower($3)))))`,
		r.ShopID, r.ShopifyCustomerID, r.Email)
	if err != nil {
		return 0, fmt.Errorf("privacy: redact checkouts of %d: %w", r.ShopifyCustomerID, err)
	}
	checkouts, _ := res.RowsAffected()
	// Emails sent to them: the ledger keeps counts and sources for reports
	// but not the address, the subject (composed with their name) or the
	// context they were composed from; a queued one is then skipped, and its
	// job holds only the message id. Stored copies (dev outbox) go; the
	// soft-bounce streak goes.
	if _, err := tx.ExecContext(ctx, `
		WITH m AS (
			UPDATE email_messages SET to_email = '', customer_id = NULL, subject = '', context = '{}'
			WHERE shop_id = $1 AND (($3 <> '' AND lower(to_email) = lower($3))
			   OR customer_id IN (SELECT id FROM customers WHERE shop_id = $1 AND (shopify_id = $2 OR ($3 <> '' AND lower(email) = lower($3)))))
			RETURNING id)
		DELETE FROM outbox_messages o USING m WHERE o.message_id = m.id`,
		r.ShopID, r.ShopifyCustomerID, r.Email); err != nil {
		return 0, fmt.Errorf("privacy: redact emails of %d: %w", r.ShopifyCustomerID, err)
	}
	if r.Email != "" {
		if _, err := tx.ExecContext(ctx, `DELETE FROM email_soft_bounces WHERE shop_id = $1 AND email = lower($2)`, r.ShopID, r.Email); err != nil {
			return 0, fmt.Errorf("privacy: redact bounce streak of %d: %w", r.ShopifyCustomerID, err)
		}
	}
	if r.Email != "" {
		if _, err := tx.ExecContext(ctx, `
			DELETE FROM csv_import_rejects x USING csv_imports i
			WHERE x.import_id = i.id AND i.shop_id = $1 AND lower(x.email) = lower($2)`, r.ShopID, r.Email); err != nil {
			return 0, fmt.Errorf("privacy: redact import reports of %d: %w", r.ShopifyCustomerID, err)
		}
	}
	// Rejected webhook deliveries keep their raw bytes for inspection: any
	// that mention the customer's id or address (in any case) lose them now.
	if _, err := tx.ExecContext(ctx, `
		UPDATE webhook_deliveries SET raw_body = NULL
		WHERE raw_body IS NOT NULL AND shop_domain = (SELECT domain FROM shops WHERE id = $1)
		  AND (($2 > 0 AND position(convert_to($2::text, 'UTF8') IN raw_body) > 0)
		    OR ($3 <> '' AND position(lower($3) IN lower(encode(raw_body, 'escape'))) > 0))`,
		r.ShopID, r.ShopifyCustomerID, r.Email); err != nil {
		return 0, fmt.Errorf("privacy: redact rejected webhook bodies of %d: %w", r.ShopifyCustomerID, err)
	}
	// Report rows about the person (unique-customer rollups, the link from
	// attributed orders) go through app/reports, which owns them.
	var ids []int64
	if err := tx.SelectContext(ctx, &ids, `SELECT id FROM customers
		WHERE shop_id = $1 AND (shopify_id = $2 OR ($3 <> '' AND lower(email) = lower($3)))`,
		r.ShopID, r.ShopifyCustomerID, r.Email); err != nil {
		return 0, fmt.Errorf("privacy: redact customer %d: %w", r.ShopifyCustomerID, err)
	}
	if err := reports.ForgetCustomers(ctx, tx, r.ShopID, ids); err != nil {
		return 0, fmt.Errorf("privacy: redact customer %d: %w", r.ShopifyCustomerID, err)
	}
	res, err = tx.ExecContext(ctx, `
		DELETE FROM customers
		WHERE shop_id = $1 AND (shopify_id = $2 OR ($3 <> '' AND lower(email) = lower($3)))`,
		r.ShopID, r.ShopifyCustomerID, r.Email)
	if err != nil {
		return 0, fmt.Errorf("privacy: redact customer %d: %w", r.ShopifyCustomerID, err)
	}
	n, _ := res.RowsAffected()
	n += checkouts
	res, err = tx.ExecContext(ctx, `
		UPDATE privacy_requests SET export = NULL
		WHERE shop_id = $1 AND kind = 'data_request' AND shopify_customer_id = $2 AND export IS NOT NULL`,
		r.ShopID, r.ShopifyCustomerID)
	if err != nil {
		return 0, fmt.Errorf("privacy: redact exports %d: %w", r.ShopifyCustomerID, err)
	}
	m, _ := res.RowsAffected()
	if _, err := tx.ExecContext(ctx, `
		INSERT INTO privacy_requests (shop_id, kind, webhook_id, shopify_customer_id, completed_at)
		VALUES ($1, 'customer_redact', $2, $3, now())
		ON CONFLICT (webhook_id) DO NOTHING`, r.ShopID, r.WebhookID, r.ShopifyCustomerID); err != nil {
		return 0, fmt.Errorf("privacy: record redaction %d: %w", r.ShopifyCustomerID, err)
	}
	return n + m, nil
}

// HandleShopRedact erases everything of a shop: its row (every shop-owned
// table cascades from it), its OAuth states, and every stored webhook
// delivery but the one being processed (kept so a repeat is still
// recognised). shopID is 0 when no shop row exists any more.
func (s *Service) HandleShopRedact(ctx context.Context, tx *sqlx.Tx, shopID int64, domain, webhookID string) error {
	if shopID != 0 {
		if _, err := tx.ExecContext(ctx, `DELETE FROM shops WHERE id = $1`, shopID); err != nil {
			return fmt.Errorf("privacy: redact shop %s: %w", domain, err)
		}
	}
	if _, err := tx.ExecContext(ctx, `DELETE FROM oauth_states WHERE shop = $1`, domain); err != nil {
		return fmt.Errorf("privacy: redact shop %s states: %w", domain, err)
	}
	if _, err := tx.ExecContext(ctx, `DELETE FROM webhook_deliveries WHERE shop_domain = $1 AND webhook_id <> $2`, domain, webhookID); err != nil {
		return fmt.Errorf("privacy: redact shop %s deliveries: %w", domain, err)
	}
	return nil
}

// Request is a privacy request as the merchant sees it in Settings.
type Request struct {
	ID                int64         `db:"id"`
	Kind              string        `db:"kind"`
	ShopifyCustomerID int64         `db:"shopify_customer_id"`
	DataRequestID     sql.NullInt64 `db:"data_request_id"`
	HasExport         bool          `db:"has_export"`
	ReceivedAt        time.Time     `db:"received_at"`
}

// List returns the shop's newest privacy requests.
func (s *Service) List(ctx context.Context, shopID int64, limit int) ([]Request, error) {
	var rs []Request
	err := s.db.SelectContext(ctx, &rs, `
		SELECT id, kind, COALESCE(shopify_customer_id, 0) AS shopify_customer_id, data_request_id,
		       export IS NOT NULL AS has_export, received_at
		FROM privacy_requests WHERE shop_id = $1 ORDER BY id DESC LIMIT $2`, shopID, limit)
	if err != nil {
		return nil, fmt.Errorf("privacy: list %d: %w", shopID, err)
	}
	return rs, nil
}

// ExportJSON returns a data request's export, for the shop that owns it only.
func (s *Service) ExportJSON(ctx context.Context, shopID, id int64) ([]byte, error) {
	var doc []byte
	err := s.db.GetContext(ctx, &doc, `
		SELECT export FROM privacy_requests
		WHERE shop_id = $1 AND id = $2 AND kind = 'data_request' AND export IS NOT NULL`, shopID, id)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, ErrNotFound
	}
	if err != nil {
		return nil, fmt.Errorf("privacy: export %d: %w", id, err)
	}
	return doc, nil
}
