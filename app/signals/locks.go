package signals

import (
	"context"
	"database/sql"
	"fmt"
	"slices"
	"time"

	"github.com/lib/pq"
)

// LockProfiles serialises the writers of the given profiles' derived data
// (order figures, products bought, activity totals, segment memberships,
// and the customer's signals): it locks their rows until tx ends and
// returns the database's clock read after every lock was granted.
//
// Every transaction that changes something a profile's derived data is
// computed from takes this lock before it recomputes that data or records
// a signal, and the consumer of the signals takes it before it reads. Under
// READ COMMITTED each statement sees everything committed before it
// started, so whoever holds the lock last sees every change committed
// before it plus its own: the last writer's result is the right one. The
// returned time is later than the start of anyone who held the lock
// before; the database's clock is used so that clocks of different
// instances can't disagree.
//
// Row locks, taken in ascending id order so that two transactions locking
// overlapping sets can't deadlock. FOR NO KEY UPDATE conflicts with itself
// and with updates of the row, not with the key-share locks that foreign
// keys take, so inserting an order or event that references the profile
// doesn't wait. (Advisory locks would do too, but a batch of thousands of
// profiles would fill PostgreSQL's shared lock table; row locks are stored
// in the rows.) Ids that don't exist are skipped.
//
// It lives here rather than in customers because customers records signals
// (customers.LockProfiles is this function).
func LockProfiles(ctx context.Context, tx RowQueryer, shopID int64, ids []int64) (time.Time, error) {
	ids = slices.Sorted(slices.Values(ids))
	ids = slices.Compact(ids)
	var now time.Time
	// The aggregate consumes every locked row before the outer select
	// reads the clock.
	err := tx.QueryRowContext(ctx, `SELECT clock_timestamp() FROM (
		SELECT count(*) FROM (
			SELECT 1 FROM customers WHERE shop_id = $1 AND id = ANY($2) ORDER BY id FOR NO KEY UPDATE
		) l
	) n`, shopID, pq.Array(ids)).Scan(&now)
	if err != nil {
		return time.Time{}, fmt.Errorf("lock profiles: %w", err)
	}
	return now, nil
}

// RowQueryer is what LockProfiles needs of a transaction (*sql.Tx or
// *sqlx.Tx).
type RowQueryer interface {
	QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row
}
