package customers

import (
	"context"
	"fmt"

	"github.com/jmoiron/sqlx"

	"github.com/cartwheel/cartwheel/app/signals"
)

// Profile changes made by flows (update_profile steps), in the step's
// transaction.

// AddTag adds a tag to the profile unless it has it.
func (s *Store) AddTag(ctx context.Context, tx *sqlx.Tx, shopID, customerID int64, tag string) error {
	tags := CleanTags([]string{tag})
	if len(tags) == 0 {
		return nil
	}
	res, err := tx.ExecContext(ctx, `UPDATE customers SET tags = array_append(tags, $3), updated_at = now()
		WHERE shop_id = $1 AND id = $2 AND NOT ($3 = ANY(tags))`, shopID, customerID, tags[0])
	if err != nil {
		return fmt.Errorf("customers: add tag to %d: %w", customerID, err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return nil
	}
	return s.Signal(ctx, tx, signals.Signal{ShopID: shopID, CustomerID: customerID, Kind: signals.ProfileChanged})
}

// SetProperty sets one custom property (text) on the profile.
func (s *Store) SetProperty(ctx context.Context, tx *sqlx.Tx, shopID, customerID int64, key, value string) error {
	if key == "" {
		return nil
	}
	_, err := tx.ExecContext(ctx, `UPDATE customers SET properties = properties || jsonb_build_object($3::text, $4::text), updated_at = now()
		WHERE shop_id = $1 AND id = $2`, shopID, customerID, key, value)
	if err != nil {
		return fmt.Errorf("customers: set property of %d: %w", customerID, err)
	}
	return s.Signal(ctx, tx, signals.Signal{ShopID: shopID, CustomerID: customerID, Kind: signals.ProfileChanged})
}

// SuppressCustomer suppresses the profile's address with the reason (e.g.
// "sunset": it stopped opening).
func (s *Store) SuppressCustomer(ctx context.Context, tx *sqlx.Tx, shopID, customerID int64, reason string) error {
	var email string
	if err := tx.GetContext(ctx, &email, `SELECT COALESCE(email, '') FROM customers WHERE shop_id = $1 AND id = $2`, shopID, customerID); err != nil {
		return fmt.Errorf("customers: suppress %d: %w", customerID, err)
	}
	if email == "" {
		return nil
	}
	if reason == "" {
		reason = "other"
	}
	_, err := s.Suppress(ctx, tx, shopID, []string{email}, []string{reason}, "manual")
	return err
}
