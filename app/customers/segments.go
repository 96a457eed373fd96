package customers

import (
	"context"
	"database/sql"
	"fmt"
	"slices"

	"github.com/jmoiron/sqlx"
	"github.com/lib/pq"
)

// SegmentQueue queues the re-evaluation of segment memberships inside the
// caller's transaction, so it happens if and only if the change commits.
// segments imports this package, so the app's wiring provides the
// implementation (segments.Queue) rather than this package importing it.
type SegmentQueue interface {
	RefreshCustomer(ctx context.Context, tx *sql.Tx, shopID, customerID int64) error
	RefreshShop(ctx context.Context, tx *sql.Tx, shopID int64) error
}

// RefreshSegmentsWith makes changes to profiles, consent and suppressions
// queue a segment refresh in their transaction.
func (s *Store) RefreshSegmentsWith(q SegmentQueue) { s.segments = q }

// QueueSegmentRefresh queues a refresh of each customer's segment
// memberships in tx. It does nothing when no queue is wired (tests that
// don't look at segments).
func (s *Store) QueueSegmentRefresh(ctx context.Context, tx *sqlx.Tx, shopID int64, customerIDs ...int64) error {
	if s.segments == nil {
		return nil
	}
	// Ascending, so that transactions queueing several customers take
	// River's unique-key locks in one order and can't deadlock.
	customerIDs = slices.Sorted(slices.Values(customerIDs))
	for _, id := range customerIDs {
		if id <= 0 {
			continue
		}
		if err := s.segments.RefreshCustomer(ctx, tx.Tx, shopID, id); err != nil {
			return fmt.Errorf("customers: %w", err)
		}
	}
	return nil
}

// queueSegmentRefreshByEmail refreshes every profile holding one of the
// (lower-case) addresses: suppressions are keyed by address, segments by
// profile.
func (s *Store) queueSegmentRefreshByEmail(ctx context.Context, tx *sqlx.Tx, shopID int64, lower []string) error {
	if s.segments == nil || len(lower) == 0 {
		return nil
	}
	var ids []int64
	if err := tx.SelectContext(ctx, &ids, `SELECT id FROM customers WHERE shop_id = $1 AND email IS NOT NULL AND lower(email) = ANY($2)`,
		shopID, pq.Array(lower)); err != nil {
		return fmt.Errorf("customers: profiles for suppressed addresses: %w", err)
	}
	return s.QueueSegmentRefresh(ctx, tx, shopID, ids...)
}

// queueShopSegmentRefresh queues one full refresh of the shop's segments.
func (s *Store) queueShopSegmentRefresh(ctx context.Context, tx *sqlx.Tx, shopID int64) error {
	if s.segments == nil {
		return nil
	}
	if err := s.segments.RefreshShop(ctx, tx.Tx, shopID); err != nil {
		return fmt.Errorf("customers: %w", err)
	}
	return nil
}
