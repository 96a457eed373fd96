package shops

import (
	"context"
	"fmt"
	"time"

	"github.com/jmoiron/sqlx"
)

// OAuthStates stores the legacy OAuth state nonces. A nonce is bound to one
// shop, lives ten minutes and can be consumed once, so a replayed callback
// URL is refused even if the browser still holds the cookie.
type OAuthStates struct{ db *sqlx.DB }

// NewOAuthStates returns the store.
func NewOAuthStates(db *sqlx.DB) *OAuthStates { return &OAuthStates{db: db} }

// StateTTL is how long a merchant has to approve the install.
const StateTTL = 10 * time.Minute

// Create records a fresh nonce for shop and clears expired ones.
func (o *OAuthStates) Create(ctx context.Context, nonce, shop string, now time.Time) error {
	if _, err := o.db.ExecContext(ctx, `DELETE FROM oauth_states WHERE expires_at < $1`, now); err != nil {
		return fmt.Errorf("shops: expire states: %w", err)
	}
	if _, err := o.db.ExecContext(ctx, `INSERT INTO oauth_states (nonce, shop, expires_at) VALUES ($1, $2, $3)`,
		nonce, NormalizeDomain(shop), now.Add(StateTTL)); err != nil {
		return fmt.Errorf("shops: create state: %w", err)
	}
	return nil
}

// Consume deletes the nonce and reports whether it was valid for shop.
func (o *OAuthStates) Consume(ctx context.Context, nonce, shop string, now time.Time) (bool, error) {
	res, err := o.db.ExecContext(ctx, `DELETE FROM oauth_states WHERE nonce = $1 AND shop = $2 AND expires_at >= $3`,
		nonce, NormalizeDomain(shop), now)
	if err != nil {
		return false, fmt.Errorf("shops: consume state: %w", err)
	}
	n, _ := res.RowsAffected()
	return n == 1, nil
}
