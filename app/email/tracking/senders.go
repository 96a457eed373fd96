package tracking

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"database/sql"
	"encoding/base64"
	"errors"
	"fmt"
	"html"
	"net/url"
	"strings"
	"time"

	"github.com/jmoiron/sqlx"

	"github.com/cartwheel/cartwheel/app/db"
	"github.com/cartwheel/cartwheel/app/email"
)

// SenderSubject is the subject of the confirmation email.
const SenderSubject = "Confirm your Cartwheel sender email"

// Sender verification errors.
var (
	ErrNoSenderEmail = errors.New("tracking: set a sender email in Settings first")
	ErrResendTooSoon = errors.New("tracking: a confirmation email was sent less than a minute ago")
	ErrSenderToken   = errors.New("tracking: this confirmation link is invalid or for an address that is no longer the sender email")
	// ErrSenderUnverified is what sending is blocked with.
	ErrSenderUnverified = errors.New("email: the sender email is not verified yet: open the confirmation link Cartwheel emailed to it (Settings › Sender email)")
)

// SenderVerifier confirms that the merchant controls the sender email
// before anything is sent from it.
type SenderVerifier struct {
	db       *sqlx.DB
	provider email.Provider
	appURL   string
	from     email.Address
	now      func() time.Time
}

// NewSenderVerifier sends confirmation emails through provider from the
// system address from (e.g. "Cartwheel <no-reply@cartwheel.example.com>").
func NewSenderVerifier(d *sqlx.DB, provider email.Provider, appURL string, from email.Address, now func() time.Time) *SenderVerifier {
	if now == nil {
		now = time.Now
	}
	if from.Email == "" {
		host := "localhost"
		if u, err := url.Parse(appURL); err == nil && u.Hostname() != "" {
			host = u.Hostname()
		}
		from = email.Address{Name: "Cartwheel", Email: "no-reply@" + host}
	}
	return &SenderVerifier{db: d, provider: provider, appURL: strings.TrimRight(appURL, "/"), from: from, now: now}
}

// SenderStatus is what Settings shows.
type SenderStatus struct {
	Email    string
	Verified bool
	SentAt   *time.Time // last confirmation email for the current address
}

// Status describes the shop's current sender email.
func (v *SenderVerifier) Status(ctx context.Context, shopID int64) (SenderStatus, error) {
	var st SenderStatus
	if err := v.db.GetContext(ctx, &st.Email, `SELECT sender_email FROM shops WHERE id = $1`, shopID); err != nil {
		return SenderStatus{}, fmt.Errorf("tracking: sender of shop %d: %w", shopID, err)
	}
	if st.Email == "" {
		return st, nil
	}
	var row struct {
		SentAt   time.Time `db:"sent_at"`
		Verified bool      `db:"verified"`
	}
	err := v.db.GetContext(ctx, &row, `
		SELECT max(sent_at) AS sent_at, bool_or(verified_at IS NOT NULL) AS verified
		FROM sender_verifications WHERE shop_id = $1 AND lower(email) = lower($2) HAVING count(*) > 0`, shopID, st.Email)
	if errors.Is(err, sql.ErrNoRows) {
		return st, nil
	}
	if err != nil {
		return SenderStatus{}, fmt.Errorf("tracking: sender status %d: %w", shopID, err)
	}
	st.Verified, st.SentAt = row.Verified, &row.SentAt
	return st, nil
}

// Verified reports whether the shop's current sender email is confirmed:
// the sender's SenderVerified hook. Changing the address in Settings makes
// it false until the new one is confirmed.
func (v *SenderVerifier) Verified(ctx context.Context, shopID int64) (bool, error) {
	st, err := v.Status(ctx, shopID)
	return st.Verified, err
}

// SenderVerified is Verified under the name app/email/sender's
// SenderVerifier interface asks for.
func (v *SenderVerifier) SenderVerified(ctx context.Context, shopID int64) (bool, error) {
	return v.Verified(ctx, shopID)
}

// Start emails a confirmation link for the shop's current sender email
// (also the "resend" button). At most one a minute.
func (v *SenderVerifier) Start(ctx context.Context, shopID int64) error {
	var shop struct {
		Email string `db:"sender_email"`
		Name  string `db:"name"`
	}
	if err := v.db.GetContext(ctx, &shop, `SELECT sender_email, CASE WHEN name <> '' THEN name ELSE domain END AS name FROM shops WHERE id = $1`, shopID); err != nil {
		return fmt.Errorf("tracking: shop %d: %w", shopID, err)
	}
	if shop.Email == "" {
		return ErrNoSenderEmail
	}
	raw := make([]byte, 32)
	rand.Read(raw)
	token := base64.RawURLEncoding.EncodeToString(raw)
	hash := sha256.Sum256([]byte(token))
	now := v.now()
	var msgID int64
	err := db.InTx(ctx, v.db, func(tx *sqlx.Tx) error {
		var recent bool
		if err := tx.GetContext(ctx, &recent, `SELECT EXISTS (SELECT 1 FROM sender_verifications
			WHERE shop_id = $1 AND lower(email) = lower($2) AND sent_at > $3)`, shopID, shop.Email, now.Add(-time.Minute)); err != nil {
			return err
		}
		if recent {
			return ErrResendTooSoon
		}
		var vid int64
		if err := tx.GetContext(ctx, &vid, `INSERT INTO sender_verifications (shop_id, email, token_hash, sent_at)
			VALUES ($1, $2, $3, $4) RETURNING id`, shopID, shop.Email, hash[:], now); err != nil {
			return err
		}
		return tx.GetContext(ctx, &msgID, `INSERT INTO email_messages (shop_id, to_email, kind, dedupe_key, subject, status, sending_at)
			VALUES ($1, $2, 'system', $3, $4, 'sending', $5) RETURNING id`,
			shopID, shop.Email, fmt.Sprintf("sender_verification:%d", vid), SenderSubject, now)
	})
	if err != nil {
		if errors.Is(err, ErrResendTooSoon) {
			return err
		}
		return fmt.Errorf("tracking: start sender verification: %w", err)
	}
	link := v.appURL + "/email/verify/" + token
	msg := email.Message{
		ID: msgID, ShopID: shopID, To: email.Address{Email: shop.Email}, From: v.from,
		Subject: SenderSubject,
		Text: "Confirm that Cartwheel may send " + shop.Name + "'s marketing email from " + shop.Email +
			":\n\n" + link + "\n\nIf you didn't ask for this, ignore this email.\n",
		HTML: `<!doctype html><html><body style="font-family:sans-serif"><p>Confirm that Cartwheel may send ` +
			html.EscapeString(shop.Name) + `'s marketing email from <strong>` + html.EscapeString(shop.Email) +
			`</strong>.</p><p><a href="` + html.EscapeString(link) + `">Confirm sender email</a></p>` +
			`<p>If you didn't ask for this, ignore this email.</p></body></html>`,
		Categories: []string{"system:sender_verification"},
	}
	res, sendErr := v.provider.Send(ctx, msg)
	status, lastErr := "sent", ""
	if sendErr != nil {
		status, lastErr = "failed", sendErr.Error()
	}
	if _, err := v.db.ExecContext(ctx, `UPDATE email_messages SET status = $2, provider = $3, provider_message_id = NULLIF($4, ''),
		last_error = $5, attempts = attempts + 1, sent_at = CASE WHEN $2 = 'sent' THEN now() END, updated_at = now() WHERE id = $1`,
		msgID, status, v.provider.Name(), res.ProviderID, lastErr); err != nil {
		return fmt.Errorf("tracking: record sender verification email: %w", err)
	}
	if sendErr != nil {
		return fmt.Errorf("tracking: send sender verification email: %w", sendErr)
	}
	return nil
}

// Confirm marks the verification of token confirmed and returns the shop.
// It fails when the link is unknown or older than 7 days, or the shop's
// sender email has changed since it was sent.
func (v *SenderVerifier) Confirm(ctx context.Context, token string) (int64, error) {
	if len(token) < 20 || len(token) > 100 {
		return 0, ErrSenderToken
	}
	hash := sha256.Sum256([]byte(token))
	var shopID int64
	err := v.db.GetContext(ctx, &shopID, `
		UPDATE sender_verifications sv SET verified_at = COALESCE(sv.verified_at, $2)
		FROM shops s
		WHERE sv.token_hash = $1 AND s.id = sv.shop_id AND lower(s.sender_email) = lower(sv.email)
		  AND sv.sent_at > $2::timestamptz - interval '7 days'
		RETURNING sv.shop_id`, hash[:], v.now())
	if errors.Is(err, sql.ErrNoRows) {
		return 0, ErrSenderToken
	}
	if err != nil {
		return 0, fmt.Errorf("tracking: confirm sender: %w", err)
	}
	return shopID, nil
}

// DNSRecord is one record the merchant adds for SendGrid domain
// authentication (shown in Settings).
type DNSRecord struct {
	Type, Host, Value, Purpose string
}

// DNSRecords lists the records for the sender email's domain. SendGrid's
// domain authentication issues the exact CNAME targets per account
// (Settings › Sender Authentication, or POST /v3/whitelabel/domains): the
// <id> parts below are filled from there.
func DNSRecords(senderEmail string) []DNSRecord {
	at := strings.LastIndexByte(senderEmail, '@')
	if at < 0 || at == len(senderEmail)-1 {
		return nil
	}
	d := strings.ToLower(senderEmail[at+1:])
	return []DNSRecord{
		{"CNAME", "em<id>." + d, "u<id>.wl<id>.sendgrid.net", "SPF and bounce handling (return path)"},
		{"CNAME", "s1._domainkey." + d, "s1.domainkey.u<id>.wl<id>.sendgrid.net", "DKIM key 1"},
		{"CNAME", "s2._domainkey." + d, "s2.domainkey.u<id>.wl<id>.sendgrid.net", "DKIM key 2"},
		{"TXT", "_dmarc." + d, "v=DMARC1; p=none;", "DMARC (required by Gmail and Yahoo for bulk senders)"},
	}
}
