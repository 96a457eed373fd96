package customers

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/jmoiron/sqlx"
	"github.com/riverqueue/river"
)

// ErrNotFound: no such profile in this shop.
var ErrNotFound = errors.New("customers: not found")

// ConsentChange is a consent decision made in Cartwheel (wheel signup,
// unsubscribe page, the merchant).
type ConsentChange struct {
	CustomerID int64
	State      string // ConsentSubscribed, ConsentUnsubscribed or ConsentPending
	OptInLevel string // single_opt_in or confirmed_opt_in
	Source     string // wheel, unsubscribe, merchant, import
	At         time.Time
}

// SetConsent records the change and its history in tx and reports whether
// the state actually changed. Shopify accepts only subscribed, unsubscribed
// and pending as input, so those are the states Cartwheel may set.
func (s *Store) SetConsent(ctx context.Context, tx *sqlx.Tx, shopID int64, ch ConsentChange) (bool, error) {
	switch ch.State {
	case ConsentSubscribed, ConsentUnsubscribed, ConsentPending:
	default:
		return false, fmt.Errorf("customers: consent %q can't be set (use subscribed, unsubscribed or pending)", ch.State)
	}
	var prev string
	err := tx.GetContext(ctx, &prev, `SELECT email_consent FROM customers WHERE shop_id = $1 AND id = $2 FOR UPDATE`, shopID, ch.CustomerID)
	if errors.Is(err, sql.ErrNoRows) {
		return false, ErrNotFound
	}
	if err != nil {
		return false, fmt.Errorf("customers: consent %d: %w", ch.CustomerID, err)
	}
	if prev == ch.State {
		return false, nil
	}
	if _, err := tx.ExecContext(ctx, `
		UPDATE customers SET email_consent = $3, email_opt_in_level = $4, email_consent_updated_at = $5, updated_at = now()
		WHERE shop_id = $1 AND id = $2`, shopID, ch.CustomerID, ch.State, ch.OptInLevel, ch.At); err != nil {
		return false, fmt.Errorf("customers: consent %d: %w", ch.CustomerID, err)
	}
	if err := recordConsentEvents(ctx, tx, shopID, ch.Source, []int64{ch.CustomerID}, []string{ch.State},
		[]string{ch.OptInLevel}, []time.Time{ch.At}); err != nil {
		return false, err
	}
	return true, nil
}

// ConsentPushArgs is the job that sends one profile's current consent to
// Shopify (worked by storesync.ConsentPusher). It lives here so every
// place that changes consent can queue it.
type ConsentPushArgs struct {
	ShopID     int64 `json:"shop_id"`
	CustomerID int64 `json:"customer_id"`
}

// Kind names the job in River.
func (ConsentPushArgs) Kind() string { return "customers.push_consent" }

// InsertOpts: River's backoff over 25 attempts spans about three weeks,
// which outlasts any Shopify outage.
func (ConsentPushArgs) InsertOpts() river.InsertOpts { return river.InsertOpts{MaxAttempts: 25} }

// queueConsentPushes queues a push for each profile, when pushes are wired.
func (s *Store) queueConsentPushes(ctx context.Context, tx *sqlx.Tx, shopID int64, ids []int64) error {
	if s.pushes == nil {
		return nil
	}
	for _, id := range ids {
		if _, err := s.pushes.InsertTx(ctx, tx.Tx, ConsentPushArgs{ShopID: shopID, CustomerID: id}, nil); err != nil {
			return fmt.Errorf("customers: queue consent push for %d: %w", id, err)
		}
	}
	return nil
}

// PushTarget is what the consent push needs to know about a profile.
type PushTarget struct {
	ShopifyID  sql.NullInt64  `db:"shopify_id"`
	Email      sql.NullString `db:"email"`
	FirstName  string         `db:"first_name"`
	LastName   string         `db:"last_name"`
	Consent    string         `db:"email_consent"`
	OptInLevel string         `db:"email_opt_in_level"`
	UpdatedAt  sql.NullTime   `db:"email_consent_updated_at"`
	Deleted    bool           `db:"deleted"`
}

// ForPush loads the profile's current consent (the push always sends the
// latest state, so pushes that run out of order still converge).
func (s *Store) ForPush(ctx context.Context, shopID, customerID int64) (PushTarget, error) {
	var t PushTarget
	err := s.db.GetContext(ctx, &t, `
		SELECT shopify_id, email, first_name, last_name, email_consent, email_opt_in_level, email_consent_updated_at,
		       deleted_at IS NOT NULL AS deleted
		FROM customers WHERE shop_id = $1 AND id = $2`, shopID, customerID)
	if errors.Is(err, sql.ErrNoRows) {
		return PushTarget{}, ErrNotFound
	}
	if err != nil {
		return PushTarget{}, fmt.Errorf("customers: push target %d: %w", customerID, err)
	}
	return t, nil
}

// LinkShopifyID records the Shopify customer created for a profile, unless
// another profile got that id meanwhile (a webhook raced the push).
func (s *Store) LinkShopifyID(ctx context.Context, shopID, customerID, shopifyID int64) error {
	if _, err := s.db.ExecContext(ctx, `
		UPDATE customers SET shopify_id = $3, updated_at = now()
		WHERE shop_id = $1 AND id = $2 AND shopify_id IS NULL
		  AND NOT EXISTS (SELECT 1 FROM customers x WHERE x.shop_id = $1 AND x.shopify_id = $3)`,
		shopID, customerID, shopifyID); err != nil {
		return fmt.Errorf("customers: link %d to Shopify %d: %w", customerID, shopifyID, err)
	}
	return nil
}
