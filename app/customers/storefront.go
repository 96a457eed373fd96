package customers

import (
	"context"
	"database/sql"
	"errors"
	"fmt"

	"github.com/jmoiron/sqlx"
)

// SourceCheckout marks a profile first known from an email typed at
// checkout (the web pixel's checkout_contact_info_submitted): Shopify had
// not told us about that person, and it is not a wheel signup.
const SourceCheckout = "checkout"

// ProfileForEmail returns the shop's profile holding email (compared
// case-insensitively), creating one with the given source when there is
// none. A new profile gets no consent: knowing an address is not
// permission to mail it.
func (s *Store) ProfileForEmail(ctx context.Context, tx *sqlx.Tx, shopID int64, email, source string) (id int64, created bool, err error) {
	email = NormalizeEmail(email)
	if !PlausibleEmail(email) {
		return 0, false, fmt.Errorf("customers: %q is not an email address", email)
	}
	// Two tries: a concurrent insert of the same address makes ours do
	// nothing while the row is not yet visible to this statement.
	for range 2 {
		var row struct {
			ID      int64 `db:"id"`
			Created bool  `db:"created"`
		}
		err = tx.GetContext(ctx, &row, `
			WITH ins AS (
				INSERT INTO customers (shop_id, email, source) VALUES ($1, $2, $3)
				ON CONFLICT (shop_id, lower(email)) WHERE email IS NOT NULL DO NOTHING
				RETURNING id
			)
			SELECT id, true AS created FROM ins
			UNION ALL
			SELECT id, false FROM customers WHERE shop_id = $1 AND lower(email) = lower($2)
			LIMIT 1`, shopID, email, source)
		if errors.Is(err, sql.ErrNoRows) {
			continue
		}
		if err != nil {
			return 0, false, fmt.Errorf("customers: profile for email: %w", err)
		}
		return row.ID, row.Created, nil
	}
	return 0, false, fmt.Errorf("customers: profile for email: %w", ErrNotFound)
}

// ProfileForShopifyID returns the profile of a Shopify customer, creating a
// stub (which the next sync of that customer fills in) when it hasn't been
// synced yet.
func (s *Store) ProfileForShopifyID(ctx context.Context, tx *sqlx.Tx, shopID, shopifyID int64) (int64, error) {
	var id int64
	err := tx.GetContext(ctx, &id, `SELECT id FROM customers WHERE shop_id = $1 AND shopify_id = $2`, shopID, shopifyID)
	if err == nil {
		return id, nil
	}
	if !errors.Is(err, sql.ErrNoRows) {
		return 0, fmt.Errorf("customers: profile for Shopify id %d: %w", shopifyID, err)
	}
	ids, err := s.UpsertShopify(ctx, tx, shopID, []ShopifyCustomer{{ShopifyID: shopifyID}})
	if err != nil {
		return 0, err
	}
	id, ok := ids[shopifyID]
	if !ok {
		return 0, fmt.Errorf("customers: profile for Shopify id %d: %w", shopifyID, ErrNotFound)
	}
	return id, nil
}
