package customers

import (
	"context"
	"fmt"

	"github.com/jmoiron/sqlx"
)

// Signup is someone who gave their email on the storefront (the wheel).
type Signup struct {
	Email     string // trimmed, as typed
	FirstName string
	Phone     string
	Source    string // "wheel"
}

// SignupResult is the profile a signup landed on.
type SignupResult struct {
	ID      int64  `db:"id"`
	Consent string `db:"email_consent"` // the consent before the signup
	Created bool   `db:"created"`
	Deleted bool   `db:"deleted"`
}

// UpsertSignup finds the profile with this email (case-insensitively) or
// creates one. An existing profile keeps what it has and only gets blanks
// filled: Shopify and the merchant know better than a storefront form.
// Consent is not touched here; the caller changes it with its history.
func (s *Store) UpsertSignup(ctx context.Context, tx *sqlx.Tx, shopID int64, in Signup) (SignupResult, error) {
	var r SignupResult
	// old is read before the upsert, so it holds the consent as it was.
	err := tx.GetContext(ctx, &r, `
		WITH old AS (
			SELECT id, email_consent FROM customers WHERE shop_id = $1 AND lower(email) = lower($2) AND email IS NOT NULL
		)
		INSERT INTO customers AS c (shop_id, email, phone, first_name, source)
		VALUES ($1, $2, NULLIF($3, ''), $4, $5)
		ON CONFLICT (shop_id, lower(email)) WHERE email IS NOT NULL DO UPDATE SET
			first_name = CASE WHEN c.first_name = '' THEN EXCLUDED.first_name ELSE c.first_name END,
			phone = COALESCE(c.phone, EXCLUDED.phone),
			updated_at = now()
		RETURNING c.id, COALESCE((SELECT email_consent FROM old WHERE old.id = c.id), 'not_subscribed') AS email_consent,
			(xmax = 0) AS created, c.deleted_at IS NOT NULL AS deleted`,
		shopID, in.Email, in.Phone, in.FirstName, in.Source)
	if err != nil {
		return SignupResult{}, fmt.Errorf("customers: signup upsert: %w", err)
	}
	return r, nil
}
