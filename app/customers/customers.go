// Package customers keeps customer profiles: what Shopify says about them
// (bulk import and webhooks), people who signed up on the storefront or came
// from a CSV import, their email consent and its history.
package customers

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/jmoiron/sqlx"
	"github.com/lib/pq"

	"github.com/cartwheel/cartwheel/app/jobs"
	"github.com/cartwheel/cartwheel/app/signals"
)

// Consent states, as Shopify names them (lower case).
const (
	ConsentSubscribed    = "subscribed"
	ConsentNotSubscribed = "not_subscribed"
	ConsentUnsubscribed  = "unsubscribed"
	ConsentPending       = "pending"
	ConsentRedacted      = "redacted"
	ConsentInvalid       = "invalid"
)

// ValidConsent reports whether s is a consent state Cartwheel stores.
func ValidConsent(s string) bool {
	switch s {
	case ConsentSubscribed, ConsentNotSubscribed, ConsentUnsubscribed, ConsentPending, ConsentRedacted, ConsentInvalid:
		return true
	}
	return false
}

// Store is the storage for customer profiles.
type Store struct {
	db *sqlx.DB
	// pushes queues consent pushes to Shopify (set by the app's wiring;
	// nil in tests that don't care).
	pushes jobs.Inserter
	// segments queues full segment refreshes after bulk imports (set by
	// the app's wiring; nil in tests that don't care).
	segments SegmentQueue
}

// NewStore returns a Store.
func NewStore(db *sqlx.DB) *Store { return &Store{db: db} }

// PushConsentWith makes consent changes that Cartwheel decides (such as a
// CSV import's unsubscribes) queue a push to Shopify in their transaction.
func (s *Store) PushConsentWith(j jobs.Inserter) { s.pushes = j }

// ShopifyCustomer is a customer as Shopify describes it, from a webhook or
// a bulk import line.
type ShopifyCustomer struct {
	ShopifyID    int64  `json:"shopify_id"`
	Email        string `json:"email"`
	Phone        string `json:"phone"`
	FirstName    string `json:"first_name"`
	LastName     string `json:"last_name"`
	Locale       string `json:"locale"`
	Country      string `json:"country"`
	ProvinceCode string `json:"province_code"`
	City         string `json:"city"`
	// Timezone is derived from the address by Normalize ("" = unknown).
	Timezone         string     `json:"timezone"`
	Tags             []string   `json:"tags"`
	Consent          string     `json:"consent"`      // one of the Consent* states; "" keeps what is stored
	OptInLevel       string     `json:"opt_in_level"` // single_opt_in, confirmed_opt_in, unknown
	ConsentUpdatedAt *time.Time `json:"consent_updated_at"`
	CreatedAt        *time.Time `json:"created_at"`
	// UpdatedAt orders deliveries; nil marks a stub made from an order's
	// embedded customer, which any real update overwrites.
	UpdatedAt *time.Time `json:"updated_at"`
}

// Normalize trims and lower-cases what must compare equal, and drops an
// email that is not plausibly one (it would block the unique index and can
// never be mailed).
func (c *ShopifyCustomer) Normalize() {
	c.Email = NormalizeEmail(c.Email)
	if !PlausibleEmail(c.Email) {
		c.Email = ""
	}
	c.Phone = strings.TrimSpace(c.Phone)
	c.Consent = strings.ToLower(strings.TrimSpace(c.Consent))
	if !ValidConsent(c.Consent) {
		c.Consent = ""
	}
	c.OptInLevel = strings.ToLower(strings.TrimSpace(c.OptInLevel))
	c.Tags = CleanTags(c.Tags)
	c.Country, c.ProvinceCode = strings.TrimSpace(c.Country), strings.TrimSpace(c.ProvinceCode)
	c.Timezone = TimezoneFor(c.Country, c.ProvinceCode)
}

// NormalizeEmail trims an address; case is kept as typed (comparisons use lower()).
func NormalizeEmail(s string) string { return strings.TrimSpace(s) }

// PlausibleEmail is a cheap syntax check: one @, something before it, a dot
// in the domain, no spaces. Full validation happens where people type.
func PlausibleEmail(s string) bool {
	at := strings.LastIndexByte(s, '@')
	return len(s) <= 254 && at > 0 && at < len(s)-3 && strings.Contains(s[at+1:], ".") &&
		!strings.ContainsAny(s, " \t\r\n<>,;\"")
}

// CleanTags trims, drops empties and duplicates (case-insensitively), keeping order.
func CleanTags(tags []string) []string {
	out := make([]string, 0, len(tags))
	seen := map[string]bool{}
	for _, t := range tags {
		t = strings.TrimSpace(t)
		if t == "" || seen[strings.ToLower(t)] {
			continue
		}
		seen[strings.ToLower(t)] = true
		out = append(out, t)
	}
	return out
}

// SplitTags splits Shopify's comma-separated tag string.
func SplitTags(s string) []string { return CleanTags(strings.Split(s, ",")) }

// UpsertShopify writes a batch of Shopify customers in a few statements and
// returns the profile id for each Shopify id. A row is only overwritten by a
// delivery at least as new as the one stored; consent from Shopify is only
// taken when Shopify's consent time is at least as new as ours, and every
// consent change is recorded in consent_events.
func (s *Store) UpsertShopify(ctx context.Context, tx *sqlx.Tx, shopID int64, batch []ShopifyCustomer) (map[int64]int64, error) {
	ids, _, err := s.UpsertShopifyWritten(ctx, tx, shopID, batch)
	return ids, err
}

// UpsertShopifyWritten is UpsertShopify that also returns what the batch
// actually wrote (not the rows skipped as stale) as signals for the caller
// to record: CustomerCreated (source shopify) for a new profile,
// ProfileChanged for an updated one and for a profile that gave up its
// email, and ConsentChanged (source shopify) when Shopify changed consent.
func (s *Store) UpsertShopifyWritten(ctx context.Context, tx *sqlx.Tx, shopID int64, batch []ShopifyCustomer) (map[int64]int64, []signals.Signal, error) {
	if len(batch) == 0 {
		return map[int64]int64{}, nil, nil
	}
	// Keep the last occurrence of each Shopify id in the batch.
	last := make(map[int64]int, len(batch))
	rows := make([]ShopifyCustomer, 0, len(batch))
	for _, c := range batch {
		c.Normalize()
		if i, ok := last[c.ShopifyID]; ok {
			rows[i] = c
			continue
		}
		last[c.ShopifyID] = len(rows)
		rows = append(rows, c)
	}
	doc, err := json.Marshal(rows)
	if err != nil {
		return nil, nil, fmt.Errorf("customers: upsert: %w", err)
	}
	// 1. A storefront or imported profile with the same email becomes this
	//    Shopify customer. 2. Any other profile still holding one of these
	//    emails lost it in Shopify (only one customer per email there), so it
	//    gives it up rather than block the unique index.
	if _, err := tx.ExecContext(ctx, qAdoptByEmail, shopID, doc); err != nil {
		return nil, nil, fmt.Errorf("customers: adopt by email: %w", err)
	}
	// Profiles that gave up their email changed too (email conditions,
	// suppression by address).
	var released []int64
	if err := tx.SelectContext(ctx, &released, qReleaseEmails, shopID, doc); err != nil {
		return nil, nil, fmt.Errorf("customers: release emails: %w", err)
	}
	var changed []struct {
		ID        int64      `db:"id"`
		ShopifyID int64      `db:"shopify_id"`
		Consent   string     `db:"email_consent"`
		Level     string     `db:"email_opt_in_level"`
		At        *time.Time `db:"email_consent_updated_at"`
		Changed   bool       `db:"consent_changed"`
		Created   bool       `db:"created"`
	}
	if err := tx.SelectContext(ctx, &changed, qUpsertShopify, shopID, doc); err != nil {
		return nil, nil, fmt.Errorf("customers: upsert: %w", err)
	}
	ids := make(map[int64]int64, len(rows))
	written := make([]signals.Signal, 0, len(changed)+len(released))
	for _, id := range released {
		written = append(written, signals.Signal{ShopID: shopID, CustomerID: id, Kind: signals.ProfileChanged})
	}
	var evCustomers []int64
	var evStates, evLevels []string
	var evTimes []time.Time
	for _, c := range changed {
		ids[c.ShopifyID] = c.ID
		if c.Created {
			written = append(written, signals.Signal{ShopID: shopID, CustomerID: c.ID, Kind: signals.CustomerCreated,
				Data: signals.Data(map[string]any{"source": "shopify"})})
		} else {
			written = append(written, signals.Signal{ShopID: shopID, CustomerID: c.ID, Kind: signals.ProfileChanged})
		}
		if c.Changed {
			written = append(written, signals.Signal{ShopID: shopID, CustomerID: c.ID, Kind: signals.ConsentChanged,
				Data: signals.Data(map[string]any{"state": c.Consent, "source": "shopify"})})
			at := time.Now()
			if c.At != nil {
				at = *c.At
			}
			evCustomers = append(evCustomers, c.ID)
			evStates = append(evStates, c.Consent)
			evLevels = append(evLevels, c.Level)
			evTimes = append(evTimes, at)
		}
	}
	// Rows skipped as stale still need their ids.
	if len(ids) < len(rows) {
		var found []struct {
			ID        int64 `db:"id"`
			ShopifyID int64 `db:"shopify_id"`
		}
		want := make([]int64, 0, len(rows))
		for _, r := range rows {
			if _, ok := ids[r.ShopifyID]; !ok {
				want = append(want, r.ShopifyID)
			}
		}
		if err := tx.SelectContext(ctx, &found, `SELECT id, shopify_id FROM customers WHERE shop_id = $1 AND shopify_id = ANY($2)`,
			shopID, pq.Array(want)); err != nil {
			return nil, nil, fmt.Errorf("customers: ids: %w", err)
		}
		for _, f := range found {
			ids[f.ShopifyID] = f.ID
		}
	}
	if err := recordConsentEvents(ctx, tx, shopID, "shopify", evCustomers, evStates, evLevels, evTimes); err != nil {
		return nil, nil, err
	}
	return ids, written, nil
}

// recordConsentEvents appends consent changes to the history in one
// statement; the slices run in parallel (levels may be nil).
func recordConsentEvents(ctx context.Context, tx *sqlx.Tx, shopID int64, source string, ids []int64, states, levels []string, at []time.Time) error {
	if len(ids) == 0 {
		return nil
	}
	if levels == nil {
		levels = make([]string, len(ids))
	}
	if _, err := tx.ExecContext(ctx, `
		INSERT INTO consent_events (shop_id, customer_id, state, opt_in_level, source, occurred_at)
		SELECT $1, unnest($2::bigint[]), unnest($3::text[]), unnest($4::text[]), $5, unnest($6::timestamptz[])`,
		shopID, pq.Array(ids), pq.Array(states), pq.Array(levels), source, pq.Array(at)); err != nil {
		return fmt.Errorf("customers: consent history: %w", err)
	}
	return nil
}

const recordset = `jsonb_to_recordset($2::jsonb) AS r(
	shopify_id bigint, email text, phone text, first_name text, last_name text, locale text, country text,
	province_code text, timezone text, city text, tags text[], consent text, opt_in_level text, consent_updated_at timestamptz,
	created_at timestamptz, updated_at timestamptz)`

const qAdoptByEmail = `
UPDATE customers c SET shopify_id = r.shopify_id
FROM ` + recordset + `
WHERE c.shop_id = $1 AND c.shopify_id IS NULL AND r.email <> '' AND lower(c.email) = lower(r.email)
  AND NOT EXISTS (SELECT 1 FROM customers x WHERE x.shop_id = $1 AND x.shopify_id = r.shopify_id)`

const qReleaseEmails = `
UPDATE customers c SET email = NULL, updated_at = now()
FROM ` + recordset + `
WHERE c.shop_id = $1 AND r.email <> '' AND lower(c.email) = lower(r.email)
  AND c.shopify_id IS DISTINCT FROM r.shopify_id
  AND (r.updated_at IS NOT NULL OR c.deleted_at IS NOT NULL)
RETURNING c.id`

// old is read before the insert (one snapshot per statement), so it holds
// the consent as it was, to tell whether this delivery changed it.
const qUpsertShopify = `
WITH r AS (SELECT * FROM ` + recordset + `),
old AS (
	SELECT c.shopify_id, c.email_consent FROM customers c JOIN r ON c.shop_id = $1 AND c.shopify_id = r.shopify_id
)
INSERT INTO customers AS c (shop_id, shopify_id, email, phone, first_name, last_name, locale, country, province_code, timezone, city, tags,
	email_consent, email_opt_in_level, email_consent_updated_at, source, shopify_created_at, shopify_updated_at)
SELECT $1, r.shopify_id, NULLIF(r.email, ''), NULLIF(r.phone, ''), COALESCE(r.first_name, ''), COALESCE(r.last_name, ''),
	COALESCE(r.locale, ''), COALESCE(r.country, ''), COALESCE(r.province_code, ''), COALESCE(r.timezone, ''), COALESCE(r.city, ''), COALESCE(r.tags, '{}'),
	COALESCE(NULLIF(r.consent, ''), 'not_subscribed'), COALESCE(r.opt_in_level, ''), r.consent_updated_at,
	'shopify', r.created_at, r.updated_at
FROM r
ON CONFLICT (shop_id, shopify_id) WHERE shopify_id IS NOT NULL DO UPDATE SET
	email = CASE WHEN EXCLUDED.shopify_updated_at IS NULL THEN COALESCE(c.email, EXCLUDED.email) ELSE EXCLUDED.email END,
	phone = CASE WHEN EXCLUDED.shopify_updated_at IS NULL THEN COALESCE(c.phone, EXCLUDED.phone) ELSE EXCLUDED.phone END,
	first_name = CASE WHEN EXCLUDED.shopify_updated_at IS NULL AND c.first_name <> '' THEN c.first_name ELSE EXCLUDED.first_name END,
	last_name = CASE WHEN EXCLUDED.shopify_updated_at IS NULL AND c.last_name <> '' THEN c.last_name ELSE EXCLUDED.last_name END,
	locale = CASE WHEN EXCLUDED.shopify_updated_at IS NULL THEN c.locale ELSE EXCLUDED.locale END,
	country = CASE WHEN EXCLUDED.shopify_updated_at IS NULL AND c.country <> '' THEN c.country ELSE EXCLUDED.country END,
	province_code = CASE WHEN EXCLUDED.shopify_updated_at IS NULL AND c.country <> '' OR EXCLUDED.country = '' THEN c.province_code ELSE EXCLUDED.province_code END,
	-- A payload without an address (or a stub from an order) keeps a known
	-- zone; a new address replaces it, even with "unknown" (a move from
	-- China to an unknown US state must not keep Shanghai).
	timezone = CASE WHEN EXCLUDED.shopify_updated_at IS NULL AND c.timezone <> '' OR EXCLUDED.country = '' THEN c.timezone ELSE EXCLUDED.timezone END,
	city = CASE WHEN EXCLUDED.shopify_updated_at IS NULL AND c.city <> '' THEN c.city ELSE EXCLUDED.city END,
	tags = CASE WHEN EXCLUDED.shopify_updated_at IS NULL THEN c.tags ELSE EXCLUDED.tags END,
	email_consent = CASE WHEN EXCLUDED.email_consent_updated_at IS NOT NULL
		AND (c.email_consent_updated_at IS NULL OR EXCLUDED.email_consent_updated_at >= c.email_consent_updated_at)
		THEN EXCLUDED.email_consent ELSE c.email_consent END,
	email_opt_in_level = CASE WHEN EXCLUDED.email_consent_updated_at IS NOT NULL
		AND (c.email_consent_updated_at IS NULL OR EXCLUDED.email_consent_updated_at >= c.email_consent_updated_at)
		THEN EXCLUDED.email_opt_in_level ELSE c.email_opt_in_level END,
	email_consent_updated_at = GREATEST(c.email_consent_updated_at, EXCLUDED.email_consent_updated_at),
	shopify_created_at = COALESCE(EXCLUDED.shopify_created_at, c.shopify_created_at),
	shopify_updated_at = COALESCE(EXCLUDED.shopify_updated_at, c.shopify_updated_at),
	updated_at = now()
WHERE c.shopify_updated_at IS NULL OR EXCLUDED.shopify_updated_at IS NULL
   OR EXCLUDED.shopify_updated_at >= c.shopify_updated_at
RETURNING c.id, c.shopify_id, c.email_consent, c.email_opt_in_level, c.email_consent_updated_at,
	CASE WHEN EXISTS (SELECT 1 FROM old WHERE old.shopify_id = c.shopify_id)
	     THEN c.email_consent <> (SELECT old.email_consent FROM old WHERE old.shopify_id = c.shopify_id)
	     ELSE c.email_consent <> 'not_subscribed' END AS consent_changed,
	(c.xmax = 0) AS created`

// MarkDeleted soft-deletes a Shopify customer (customers/delete): the
// profile stays for order history but is never mailed. It returns the
// profile's id, or 0 when the deletion is older than the stored data and
// was ignored.
func (s *Store) MarkDeleted(ctx context.Context, tx *sqlx.Tx, shopID, shopifyID int64, at time.Time) (int64, error) {
	var id int64
	err := tx.GetContext(ctx, &id, `
		INSERT INTO customers (shop_id, shopify_id, deleted_at, shopify_updated_at)
		VALUES ($1, $2, $3, $3)
		ON CONFLICT (shop_id, shopify_id) WHERE shopify_id IS NOT NULL DO UPDATE
		SET deleted_at = EXCLUDED.deleted_at, updated_at = now()
		WHERE customers.shopify_updated_at IS NULL OR customers.shopify_updated_at <= EXCLUDED.deleted_at
		RETURNING id`,
		shopID, shopifyID, at)
	if errors.Is(err, sql.ErrNoRows) {
		return 0, nil
	}
	if err != nil {
		return 0, fmt.Errorf("customers: delete %d: %w", shopifyID, err)
	}
	return id, nil
}
