package customers

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/jmoiron/sqlx"
	"github.com/lib/pq"

	"github.com/cartwheel/cartwheel/app/signals"
)

// Suppression reasons.
const (
	SuppressUnsubscribed = "unsubscribed"
	SuppressBounced      = "bounced"
	SuppressComplaint    = "complaint"
	SuppressCleaned      = "cleaned"
	SuppressManual       = "manual"
)

// Suppression is an address that must never be mailed.
type Suppression struct {
	Email     string    `db:"email"`
	Reason    string    `db:"reason"`
	Source    string    `db:"source"`
	CreatedAt time.Time `db:"created_at"`
}

// Suppress adds addresses to the shop's suppression list in tx and returns
// how many were new. An address already listed keeps its first reason, so
// re-importing a list changes nothing. The profiles of newly suppressed
// addresses get a Suppressed signal.
func (s *Store) Suppress(ctx context.Context, tx *sqlx.Tx, shopID int64, emails, reasons []string, source string) (int64, error) {
	added, err := s.suppress(ctx, tx, shopID, emails, reasons, source)
	if err != nil {
		return 0, err
	}
	reasonOf := make(map[string]string, len(emails))
	for i, e := range emails {
		if l := strings.ToLower(strings.TrimSpace(e)); reasonOf[l] == "" {
			reasonOf[l] = reasons[i]
		}
	}
	data := make(map[string][]byte, len(added))
	for _, a := range added {
		data[a] = signals.Data(map[string]any{"reason": reasonOf[a]})
	}
	if err := s.signalByEmail(ctx, tx, shopID, signals.Suppressed, data); err != nil {
		return 0, err
	}
	return int64(len(added)), nil
}

// suppress is Suppress without the signals (a CSV import refreshes
// the whole shop once at its end instead), returning the new addresses.
func (s *Store) suppress(ctx context.Context, tx *sqlx.Tx, shopID int64, emails, reasons []string, source string) ([]string, error) {
	if len(emails) != len(reasons) {
		return nil, fmt.Errorf("customers: suppress: %d emails but %d reasons", len(emails), len(reasons))
	}
	if len(emails) == 0 {
		return nil, nil
	}
	lower := make([]string, len(emails))
	for i, e := range emails {
		lower[i] = strings.ToLower(strings.TrimSpace(e))
	}
	var added []string
	if err := tx.SelectContext(ctx, &added, `
		INSERT INTO suppressions (shop_id, email, reason, source)
		SELECT $1, e, r, $4 FROM unnest($2::text[], $3::text[]) AS u(e, r)
		ON CONFLICT (shop_id, email) DO NOTHING
		RETURNING email`, shopID, pq.Array(lower), pq.Array(reasons), source); err != nil {
		return nil, fmt.Errorf("customers: suppress: %w", err)
	}
	return added, nil
}

// Suppression returns the suppression of one address, or ErrNotFound.
func (s *Store) Suppression(ctx context.Context, shopID int64, email string) (Suppression, error) {
	var sup Suppression
	err := s.db.GetContext(ctx, &sup, `SELECT email, reason, source, created_at FROM suppressions WHERE shop_id = $1 AND email = $2`,
		shopID, strings.ToLower(strings.TrimSpace(email)))
	if errors.Is(err, sql.ErrNoRows) {
		return Suppression{}, ErrNotFound
	}
	if err != nil {
		return Suppression{}, fmt.Errorf("customers: suppression: %w", err)
	}
	return sup, nil
}

// IsSuppressed reports whether the address must not be mailed; senders call
// it at the moment of sending.
func (s *Store) IsSuppressed(ctx context.Context, shopID int64, email string) (bool, error) {
	_, err := s.Suppression(ctx, shopID, email)
	if errors.Is(err, ErrNotFound) {
		return false, nil
	}
	return err == nil, err
}

// ErrNotLiftable: only suppressions the merchant added by hand may be lifted;
// bounces, complaints and unsubscribes protect the sender's reputation and
// the shopper's choice.
var ErrNotLiftable = errors.New("customers: only manual suppressions can be lifted")

// ListSuppressions returns up to limit of the shop's suppressions in email
// order after the keyset cursor after ("" for the first page).
func (s *Store) ListSuppressions(ctx context.Context, shopID int64, after string, limit int) ([]Suppression, error) {
	var out []Suppression
	err := s.db.SelectContext(ctx, &out, `
		SELECT email, reason, source, created_at FROM suppressions
		WHERE shop_id = $1 AND email > $2 ORDER BY email LIMIT $3`, shopID, strings.ToLower(after), limit)
	if err != nil {
		return nil, fmt.Errorf("customers: list suppressions: %w", err)
	}
	return out, nil
}

// LiftSuppression removes a manual suppression (ErrNotLiftable for any
// other reason, ErrNotFound when the address isn't suppressed).
func (s *Store) LiftSuppression(ctx context.Context, shopID int64, email string) error {
	sup, err := s.Suppression(ctx, shopID, email)
	if err != nil {
		return err
	}
	if sup.Reason != SuppressManual {
		return ErrNotLiftable
	}
	tx, err := s.db.BeginTxx(ctx, nil)
	if err != nil {
		return fmt.Errorf("customers: lift suppression: %w", err)
	}
	defer tx.Rollback()
	res, err := tx.ExecContext(ctx, `DELETE FROM suppressions WHERE shop_id = $1 AND email = $2 AND reason = $3`,
		shopID, sup.Email, SuppressManual)
	if err != nil {
		return fmt.Errorf("customers: lift suppression: %w", err)
	}
	// Lifted concurrently: the other request recorded the signal.
	if n, _ := res.RowsAffected(); n == 0 {
		return nil
	}
	// The address can be mailed again: its profiles may (re-)enter segments
	// that require not being suppressed.
	if err := s.signalByEmail(ctx, tx, shopID, signals.ProfileChanged,
		map[string][]byte{sup.Email: signals.Data(map[string]any{"suppression": "lifted"})}); err != nil {
		return err
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("customers: lift suppression: %w", err)
	}
	return nil
}
