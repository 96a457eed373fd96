package customers

import (
	"context"
	"fmt"
	"time"

	"github.com/cartwheel/cartwheel/app/signals"
)

// LockProfiles serialises the writers of the given profiles' derived data:
// see signals.LockProfiles, which it is (the lock lives there because this
// package records signals, and every signal is recorded under it).
func LockProfiles(ctx context.Context, tx RowQueryer, shopID int64, ids []int64) (time.Time, error) {
	now, err := signals.LockProfiles(ctx, tx, shopID, ids)
	if err != nil {
		return time.Time{}, fmt.Errorf("customers: %w", err)
	}
	return now, nil
}

// RowQueryer is what LockProfiles needs of a transaction (*sql.Tx or
// *sqlx.Tx).
type RowQueryer = signals.RowQueryer
