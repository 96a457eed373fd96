package storesync

import (
	"context"
	"fmt"

	"github.com/jmoiron/sqlx"
	"github.com/lib/pq"

	"github.com/cartwheel/cartwheel/app/customers"
	"github.com/cartwheel/cartwheel/app/orders"
)

// redactedCustomers returns which of these Shopify customer ids were erased
// by a customers/redact: neither a later webhook nor a re-sync may bring the
// person back.
func redactedCustomers(ctx context.Context, tx *sqlx.Tx, shopID int64, ids []int64) (map[int64]bool, error) {
	if len(ids) == 0 {
		return nil, nil
	}
	var found []int64
	if err := tx.SelectContext(ctx, &found, `
		SELECT DISTINCT shopify_customer_id FROM privacy_requests
		WHERE shop_id = $1 AND kind = 'customer_redact' AND shopify_customer_id = ANY($2)`,
		shopID, pq.Array(ids)); err != nil {
		return nil, fmt.Errorf("storesync: redacted customers: %w", err)
	}
	out := make(map[int64]bool, len(found))
	for _, id := range found {
		out[id] = true
	}
	return out, nil
}

// withoutRedactedCustomers drops erased people from an imported batch.
func withoutRedactedCustomers(ctx context.Context, tx *sqlx.Tx, shopID int64, rows []customers.ShopifyCustomer) ([]customers.ShopifyCustomer, error) {
	ids := make([]int64, 0, len(rows))
	for _, r := range rows {
		ids = append(ids, r.ShopifyID)
	}
	gone, err := redactedCustomers(ctx, tx, shopID, ids)
	if err != nil || len(gone) == 0 {
		return rows, err
	}
	kept := rows[:0:0]
	for _, r := range rows {
		if !gone[r.ShopifyID] {
			kept = append(kept, r)
		}
	}
	return kept, nil
}

// anonymizeRedactedOrders keeps the revenue of erased people's orders but
// not the person.
func anonymizeRedactedOrders(ctx context.Context, tx *sqlx.Tx, shopID int64, os []orders.Order) error {
	ids := make([]int64, 0, len(os))
	for _, o := range os {
		if o.ShopifyCustomerID != 0 {
			ids = append(ids, o.ShopifyCustomerID)
		}
	}
	gone, err := redactedCustomers(ctx, tx, shopID, ids)
	if err != nil {
		return err
	}
	for i := range os {
		if gone[os[i].ShopifyCustomerID] {
			os[i].ShopifyCustomerID, os[i].Customer, os[i].Email = 0, nil, ""
		}
	}
	return nil
}

// withoutRedactedCheckouts drops erased people's checkouts from a batch.
func withoutRedactedCheckouts(ctx context.Context, tx *sqlx.Tx, shopID int64, rows []orders.Checkout) ([]orders.Checkout, error) {
	ids := make([]int64, 0, len(rows))
	for _, r := range rows {
		if r.ShopifyCustomerID != 0 {
			ids = append(ids, r.ShopifyCustomerID)
		}
	}
	gone, err := redactedCustomers(ctx, tx, shopID, ids)
	if err != nil || len(gone) == 0 {
		return rows, err
	}
	kept := rows[:0:0]
	for _, r := range rows {
		if !gone[r.ShopifyCustomerID] {
			kept = append(kept, r)
		}
	}
	return kept, nil
}
