// Package shops keeps the stores that installed Cartwheel: their encrypted
// offline access tokens, what Shopify says about them, and the merchant's
// settings. Every other domain keys its rows by Shop.ID.
package shops

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/jmoiron/sqlx"
	"github.com/lib/pq"

	"github.com/cartwheel/cartwheel/app/secretbox"
)

var (
	// ErrNotFound: no shop with that domain or id.
	ErrNotFound = errors.New("shops: not found")
	// ErrNotInstalled: the shop exists but has uninstalled the app (or never
	// finished installing), so it has no access token.
	ErrNotInstalled = errors.New("shops: not installed")
)

// Shop is one store. The access token is never loaded into this struct: it
// is decrypted only by AccessToken, right where an API call needs it.
type Shop struct {
	ID                int64        `db:"id"`
	Domain            string       `db:"domain"`
	Name              string       `db:"name"`
	Email             string       `db:"email"`
	Scopes            string       `db:"scopes"`
	InstalledAt       sql.NullTime `db:"installed_at"`
	UninstalledAt     sql.NullTime `db:"uninstalled_at"`
	IanaTimezone      string       `db:"iana_timezone"`
	Currency          string       `db:"currency"`
	Plan              string       `db:"plan"`
	WebhooksCheckedAt sql.NullTime `db:"webhooks_checked_at"`
	HasToken          bool         `db:"has_token"`
	CreatedAt         time.Time    `db:"created_at"`
	// StorefrontOrigins are the shop's storefront origins besides
	// https://{domain} (its primary and other domains), for CORS.
	StorefrontOrigins pq.StringArray `db:"storefront_origins"`
}

// Installed reports whether the app is currently installed on the shop.
func (s Shop) Installed() bool {
	return s.InstalledAt.Valid && !s.UninstalledAt.Valid && s.HasToken
}

// Store is the storage for shops and their settings.
type Store struct {
	db  *sqlx.DB
	box *secretbox.Box
	// onWindows, when set, runs in the settings' transaction when a save
	// changes the attribution windows (app/reports recomputes past
	// attribution; shops doesn't know how).
	onWindows func(ctx context.Context, tx *sqlx.Tx, shopID int64, clickDays, openDays int) error
}

// OnAttributionWindows sets what runs, in the same transaction, when a
// settings save changes the click or open window. It is set after
// construction because the job queue is built after the stores.
func (s *Store) OnAttributionWindows(fn func(ctx context.Context, tx *sqlx.Tx, shopID int64, clickDays, openDays int) error) {
	s.onWindows = fn
}

// NewStore returns a Store that seals tokens with box.
func NewStore(db *sqlx.DB, box *secretbox.Box) *Store { return &Store{db: db, box: box} }

const shopColumns = `id, domain, name, email, scopes, installed_at, uninstalled_at, iana_timezone,
	currency, plan, webhooks_checked_at, access_token_enc IS NOT NULL AS has_token, created_at, storefront_origins`

// NormalizeDomain lower-cases a shop domain; Shopify treats them case-insensitively.
func NormalizeDomain(domain string) string { return strings.ToLower(strings.TrimSpace(domain)) }

// Install records a (re)installation with a fresh offline token, inside tx so
// the caller can enqueue the post-install job atomically with it.
func (s *Store) Install(ctx context.Context, tx *sqlx.Tx, domain, token, scopes string, at time.Time) (Shop, error) {
	domain = NormalizeDomain(domain)
	sealed, err := s.box.Seal([]byte(token), []byte(domain))
	if err != nil {
		return Shop{}, fmt.Errorf("shops: install %s: %w", domain, err)
	}
	var sh Shop
	err = tx.GetContext(ctx, &sh, `
		INSERT INTO shops (domain, access_token_enc, scopes, installed_at)
		VALUES ($1, $2, $3, $4)
		ON CONFLICT (domain) DO UPDATE SET
			access_token_enc = EXCLUDED.access_token_enc,
			scopes = EXCLUDED.scopes,
			installed_at = CASE WHEN shops.uninstalled_at IS NULL AND shops.installed_at IS NOT NULL
			                    THEN shops.installed_at ELSE EXCLUDED.installed_at END,
			uninstalled_at = NULL,
			updated_at = now()
		RETURNING `+shopColumns, domain, sealed, scopes, at)
	if err != nil {
		return Shop{}, fmt.Errorf("shops: install %s: %w", domain, err)
	}
	return sh, nil
}

// ByDomain returns the shop, installed or not.
func (s *Store) ByDomain(ctx context.Context, domain string) (Shop, error) {
	var sh Shop
	err := s.db.GetContext(ctx, &sh, `SELECT `+shopColumns+` FROM shops WHERE domain = $1`, NormalizeDomain(domain))
	if errors.Is(err, sql.ErrNoRows) {
		return Shop{}, ErrNotFound
	}
	if err != nil {
		return Shop{}, fmt.Errorf("shops: by domain %s: %w", domain, err)
	}
	return sh, nil
}

// ByID returns the shop, installed or not.
func (s *Store) ByID(ctx context.Context, id int64) (Shop, error) {
	var sh Shop
	err := s.db.GetContext(ctx, &sh, `SELECT `+shopColumns+` FROM shops WHERE id = $1`, id)
	if errors.Is(err, sql.ErrNoRows) {
		return Shop{}, ErrNotFound
	}
	if err != nil {
		return Shop{}, fmt.Errorf("shops: by id %d: %w", id, err)
	}
	return sh, nil
}

// Installed returns the shop only if the app is installed there.
func (s *Store) Installed(ctx context.Context, domain string) (Shop, error) {
	sh, err := s.ByDomain(ctx, domain)
	if err != nil {
		return Shop{}, err
	}
	if !sh.Installed() {
		return Shop{}, ErrNotInstalled
	}
	return sh, nil
}

// AccessToken decrypts the shop's offline token.
func (s *Store) AccessToken(ctx context.Context, shopID int64) (string, error) {
	var row struct {
		Domain string `db:"domain"`
		Sealed []byte `db:"access_token_enc"`
	}
	err := s.db.GetContext(ctx, &row, `SELECT domain, access_token_enc FROM shops WHERE id = $1`, shopID)
	if errors.Is(err, sql.ErrNoRows) {
		return "", ErrNotFound
	}
	if err != nil {
		return "", fmt.Errorf("shops: token %d: %w", shopID, err)
	}
	if row.Sealed == nil {
		return "", ErrNotInstalled
	}
	plain, err := s.box.Open(row.Sealed, []byte(row.Domain))
	if err != nil {
		return "", fmt.Errorf("shops: token %s: %w", row.Domain, err)
	}
	return string(plain), nil
}

// MarkUninstalled drops the token and stamps the uninstall. An uninstall
// triggered before the current installation began is a late delivery from an
// earlier install and changes nothing; the bool says whether it applied.
func (s *Store) MarkUninstalled(ctx context.Context, tx *sqlx.Tx, domain string, triggeredAt time.Time) (bool, error) {
	res, err := tx.ExecContext(ctx, `
		UPDATE shops SET uninstalled_at = $2, access_token_enc = NULL, updated_at = now()
		WHERE domain = $1 AND uninstalled_at IS NULL
		  AND (installed_at IS NULL OR installed_at <= $2)`, NormalizeDomain(domain), triggeredAt)
	if err != nil {
		return false, fmt.Errorf("shops: uninstall %s: %w", domain, err)
	}
	n, _ := res.RowsAffected()
	return n == 1, nil
}

// Info is what Shopify tells about a store after install.
type Info struct {
	Name, Email, IanaTimezone, Currency, Plan string
}

// UpdateInfo stores the shop's details from the Admin API.
func (s *Store) UpdateInfo(ctx context.Context, shopID int64, in Info) error {
	_, err := s.db.ExecContext(ctx, `
		UPDATE shops SET name = $2, email = $3, iana_timezone = COALESCE(NULLIF($4, ''), iana_timezone),
			currency = COALESCE(NULLIF($5, ''), currency), plan = $6, updated_at = now()
		WHERE id = $1`, shopID, in.Name, in.Email, in.IanaTimezone, in.Currency, in.Plan)
	if err != nil {
		return fmt.Errorf("shops: update info %d: %w", shopID, err)
	}
	return nil
}

// SetStorefrontOrigins records the shop's storefront origins (scheme and
// host, e.g. https://shop.example.com) other than its myshopify.com one.
func (s *Store) SetStorefrontOrigins(ctx context.Context, shopID int64, origins []string) error {
	if origins == nil {
		origins = []string{}
	}
	if _, err := s.db.ExecContext(ctx, `UPDATE shops SET storefront_origins = $2, updated_at = now() WHERE id = $1`,
		shopID, pq.Array(origins)); err != nil {
		return fmt.Errorf("shops: storefront origins %d: %w", shopID, err)
	}
	return nil
}

// KnownStorefrontOrigin reports whether origin is a storefront origin of
// some installed shop. CORS preflights carry no body, so they can't name
// the shop; the POST that follows is checked against its own shop.
func (s *Store) KnownStorefrontOrigin(ctx context.Context, origin string) (bool, error) {
	var ok bool
	if err := s.db.GetContext(ctx, &ok, `
		SELECT EXISTS (SELECT 1 FROM shops WHERE storefront_origins @> ARRAY[$1]::text[] AND access_token_enc IS NOT NULL)`,
		origin); err != nil {
		return false, fmt.Errorf("shops: storefront origin: %w", err)
	}
	return ok, nil
}

// MarkWebhooksChecked records when the subscriptions were last verified.
func (s *Store) MarkWebhooksChecked(ctx context.Context, shopID int64, at time.Time) error {
	_, err := s.db.ExecContext(ctx, `UPDATE shops SET webhooks_checked_at = $2 WHERE id = $1`, shopID, at)
	if err != nil {
		return fmt.Errorf("shops: webhooks checked %d: %w", shopID, err)
	}
	return nil
}

// DB exposes the pool for callers that need a transaction spanning stores.
func (s *Store) DB() *sqlx.DB { return s.db }
