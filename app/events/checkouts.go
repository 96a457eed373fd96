package events

import (
	"context"
	"fmt"
	"sort"
	"time"

	"github.com/jmoiron/sqlx"

	"github.com/cartwheel/cartwheel/app/signals"
)

// ClaimTTL is how long a visitor's unconfirmed claim on a checkout token
// (and a webhook's confirmation waiting for its claims) is kept. Shopify's
// checkout webhooks usually arrive within seconds; a week covers a checkout
// resumed days later.
const ClaimTTL = 7 * 24 * time.Hour

// maxClaimsPerBatch bounds the tokens one batch may claim: a shopper is in
// one checkout at a time.
const maxClaimsPerBatch = 5

// LockCheckout serialises everything about one checkout token of a shop:
// the pixel's claim and the webhook's confirmation each take this lock
// before reading the other's table, so whichever commits second sees the
// first, and the link is made in either order. It comes before the
// profile's lock: a claim learns the profile only under it, so a webhook
// must take it before it touches the checkout's customer.
func LockCheckout(ctx context.Context, tx *sqlx.Tx, shopID int64, token string) error {
	if _, err := tx.ExecContext(ctx, `SELECT pg_advisory_xact_lock(hashtextextended($1::text || ':' || $2, 0))`,
		shopID, token); err != nil {
		return fmt.Errorf("events: lock checkout: %w", err)
	}
	return nil
}

// claimCheckout records that the visitor says it is in the checkout, and
// returns the customer a signed webhook already named for that token (0 if
// none yet). The claim itself is never applied.
func claimCheckout(ctx context.Context, tx *sqlx.Tx, shopID int64, token, visitorID string, now time.Time) (int64, error) {
	if err := LockCheckout(ctx, tx, shopID, token); err != nil {
		return 0, err
	}
	if _, err := tx.ExecContext(ctx, `
		INSERT INTO checkout_claims (shop_id, token, visitor_id, claimed_at, expires_at)
		VALUES ($1, $2, $3, $4, $5)
		ON CONFLICT (shop_id, token, visitor_id) DO UPDATE SET expires_at = EXCLUDED.expires_at`,
		shopID, token, visitorID, now, now.Add(ClaimTTL)); err != nil {
		return 0, fmt.Errorf("events: claim checkout: %w", err)
	}
	var ids []int64
	if err := tx.SelectContext(ctx, &ids, `
		SELECT customer_id FROM checkout_confirmations WHERE shop_id = $1 AND token = $2 AND expires_at > $3`,
		shopID, token, now); err != nil {
		return 0, fmt.Errorf("events: checkout confirmation: %w", err)
	}
	if len(ids) == 0 {
		return 0, nil
	}
	return ids[0], nil
}

// ConfirmCheckout is called, in the webhook's transaction, for a signed
// checkouts/create|update delivery that names the checkout's customer: the
// visitors that claimed the token are linked to that customer now, and
// visitors claiming it later are linked when they do. It returns the
// signals of what changed (a visitor's new link, its back-filled events)
// for the caller to record.
func ConfirmCheckout(ctx context.Context, tx *sqlx.Tx, shopID int64, token string, customerID int64, now time.Time) ([]signals.Signal, error) {
	if token == "" || customerID <= 0 {
		return nil, nil
	}
	if err := LockCheckout(ctx, tx, shopID, token); err != nil {
		return nil, err
	}
	if _, err := tx.ExecContext(ctx, `
		INSERT INTO checkout_confirmations (shop_id, token, customer_id, confirmed_at, expires_at)
		VALUES ($1, $2, $3, $4, $5)
		ON CONFLICT (shop_id, token) DO UPDATE SET customer_id = EXCLUDED.customer_id,
			confirmed_at = EXCLUDED.confirmed_at, expires_at = EXCLUDED.expires_at`,
		shopID, token, customerID, now, now.Add(ClaimTTL)); err != nil {
		return nil, fmt.Errorf("events: confirm checkout: %w", err)
	}
	var visitors []string
	if err := tx.SelectContext(ctx, &visitors, `
		SELECT visitor_id FROM checkout_claims WHERE shop_id = $1 AND token = $2 AND expires_at > $3
		ORDER BY visitor_id`, shopID, token, now); err != nil {
		return nil, fmt.Errorf("events: checkout claims: %w", err)
	}
	var out []signals.Signal
	for _, v := range visitors {
		linked, filled, err := identify(ctx, tx, shopID, v, customerID, ByCheckout)
		if err != nil {
			return nil, err
		}
		out = append(out, identifySignals(shopID, customerID, ByCheckout, linked, filled)...)
	}
	return out, nil
}

// PurgeClaims drops expired checkout claims and confirmations.
func PurgeClaims(ctx context.Context, db sqlx.ExecerContext, now time.Time) (int64, error) {
	a, err := db.ExecContext(ctx, `DELETE FROM checkout_claims WHERE expires_at <= $1`, now)
	if err != nil {
		return 0, fmt.Errorf("events: purge checkout claims: %w", err)
	}
	b, err := db.ExecContext(ctx, `DELETE FROM checkout_confirmations WHERE expires_at <= $1`, now)
	if err != nil {
		return 0, fmt.Errorf("events: purge checkout confirmations: %w", err)
	}
	n1, _ := a.RowsAffected()
	n2, _ := b.RowsAffected()
	return n1 + n2, nil
}

// checkoutTokens are the distinct checkout tokens a batch's events carry,
// sorted (claims lock tokens in one order, so two batches can't deadlock).
func checkoutTokens(b Batch) []string {
	seen := map[string]bool{}
	var out []string
	for _, ev := range b.Events {
		if ev.CheckoutToken != "" && !seen[ev.CheckoutToken] && len(out) < maxClaimsPerBatch {
			seen[ev.CheckoutToken] = true
			out = append(out, ev.CheckoutToken)
		}
	}
	sort.Strings(out)
	return out
}
