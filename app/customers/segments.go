package customers

import (
	"context"
	"database/sql"
	"fmt"

	"github.com/jmoiron/sqlx"
	"github.com/lib/pq"

	"github.com/cartwheel/cartwheel/app/signals"
)

// SegmentQueue queues one full refresh of a shop's segments inside the
// caller's transaction, so it happens if and only if the change commits.
// Bulk writes (a CSV import) use it instead of one signal per customer.
// segments imports this package, so the app's wiring provides the
// implementation (segments.Queue) rather than this package importing it.
type SegmentQueue interface {
	RefreshShop(ctx context.Context, tx *sql.Tx, shopID int64) error
}

// RefreshSegmentsWith makes bulk imports queue a full refresh of the shop's
// segments in their transaction.
func (s *Store) RefreshSegmentsWith(q SegmentQueue) { s.segments = q }

// Signal records signals in tx (signals.Record).
func (s *Store) Signal(ctx context.Context, tx *sqlx.Tx, sigs ...signals.Signal) error {
	if len(sigs) == 0 {
		return nil
	}
	if err := signals.Record(ctx, tx.Tx, sigs...); err != nil {
		return fmt.Errorf("customers: %w", err)
	}
	return nil
}

// signalByEmail records a signal of the kind for every profile holding one
// of the (lower-case) addresses, with data per address: suppressions are
// keyed by address, signals by profile.
func (s *Store) signalByEmail(ctx context.Context, tx *sqlx.Tx, shopID int64, kind signals.Kind, data map[string][]byte) error {
	if len(data) == 0 {
		return nil
	}
	lower := make([]string, 0, len(data))
	for e := range data {
		lower = append(lower, e)
	}
	var holders []struct {
		ID    int64  `db:"id"`
		Email string `db:"email"`
	}
	if err := tx.SelectContext(ctx, &holders, `SELECT id, lower(email) AS email FROM customers
		WHERE shop_id = $1 AND email IS NOT NULL AND lower(email) = ANY($2) ORDER BY id`,
		shopID, pq.Array(lower)); err != nil {
		return fmt.Errorf("customers: profiles for suppressed addresses: %w", err)
	}
	sigs := make([]signals.Signal, 0, len(holders))
	for _, h := range holders {
		sigs = append(sigs, signals.Signal{ShopID: shopID, CustomerID: h.ID, Kind: kind, Data: data[h.Email]})
	}
	return s.Signal(ctx, tx, sigs...)
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
