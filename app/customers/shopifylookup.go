package customers

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
)

// KnownShopifyCustomer is the Shopify customer holding an address, as far
// as the shop's synced copy knows.
type KnownShopifyCustomer struct {
	ShopifyID int64  `db:"shopify_id"`
	Consent   string `db:"email_consent"`
	FirstName string `db:"first_name"`
	LastName  string `db:"last_name"`
}

// ShopifyCustomerByEmail finds the Shopify customer the shop's synced copy
// has for email (ok false when none). The dev storefront uses it to play
// Shopify, which keeps one customer per address: a checkout by a known
// address carries that customer, not a new one.
func (s *Store) ShopifyCustomerByEmail(ctx context.Context, shopID int64, email string) (KnownShopifyCustomer, bool, error) {
	var k KnownShopifyCustomer
	err := s.db.GetContext(ctx, &k, `SELECT shopify_id, email_consent, COALESCE(first_name, '') AS first_name, COALESCE(last_name, '') AS last_name
		FROM customers WHERE shop_id = $1 AND lower(email) = lower($2) AND shopify_id IS NOT NULL AND deleted_at IS NULL
		ORDER BY id LIMIT 1`, shopID, NormalizeEmail(email))
	if errors.Is(err, sql.ErrNoRows) {
		return KnownShopifyCustomer{}, false, nil
	}
	if err != nil {
		return KnownShopifyCustomer{}, false, fmt.Errorf("customers: Shopify customer by email: %w", err)
	}
	return k, true, nil
}
