package tracking

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"

	"github.com/jmoiron/sqlx"

	"github.com/cartwheel/cartwheel/app/customers"
	"github.com/cartwheel/cartwheel/app/db"
	"github.com/cartwheel/cartwheel/app/storesync"
)

// Recipient is what the unsubscribe page shows.
type Recipient struct {
	ShopID       int64
	ShopName     string
	MaskedEmail  string // a***@example.com
	Locale       string // the customer's locale in Shopify, may be empty
	Unsubscribed bool
}

// Recipient verifies an unsubscribe token and describes its recipient.
func (s *Service) Recipient(ctx context.Context, token string) (Recipient, error) {
	m, err := s.unsubMessage(ctx, s.DB, token)
	if err != nil {
		return Recipient{}, err
	}
	return s.describe(ctx, s.DB, m)
}

func (s *Service) unsubMessage(ctx context.Context, q sqlx.QueryerContext, token string) (message, error) {
	id, err := s.Tokens.ParseUnsubscribe(token)
	if err != nil {
		return message{}, err
	}
	return s.message(ctx, q, id)
}

func (s *Service) describe(ctx context.Context, q sqlx.QueryerContext, m message) (Recipient, error) {
	r := Recipient{ShopID: m.ShopID, MaskedEmail: MaskEmail(m.ToEmail)}
	if err := sqlx.GetContext(ctx, q, &r.ShopName, `SELECT CASE WHEN name <> '' THEN name ELSE domain END FROM shops WHERE id = $1`, m.ShopID); err != nil {
		return Recipient{}, fmt.Errorf("tracking: shop %d: %w", m.ShopID, err)
	}
	var c struct {
		Consent string `db:"email_consent"`
		Locale  string `db:"locale"`
	}
	cid, err := s.customerID(ctx, q, m)
	if err != nil {
		return Recipient{}, err
	}
	if cid != 0 {
		if err := sqlx.GetContext(ctx, q, &c, `SELECT email_consent, locale FROM customers WHERE shop_id = $1 AND id = $2`, m.ShopID, cid); err != nil {
			return Recipient{}, fmt.Errorf("tracking: customer %d: %w", cid, err)
		}
		r.Locale = c.Locale
		r.Unsubscribed = c.Consent == customers.ConsentUnsubscribed
	} else {
		var n int
		if err := sqlx.GetContext(ctx, q, &n, `SELECT count(*) FROM suppressions WHERE shop_id = $1 AND email = $2 AND reason = $3`,
			m.ShopID, strings.ToLower(m.ToEmail), ReasonUnsubscribed); err != nil {
			return Recipient{}, fmt.Errorf("tracking: suppression: %w", err)
		}
		r.Unsubscribed = n > 0
	}
	return r, nil
}

// customerID is the message's profile, or the shop's profile with the
// message's address (0 when there is none, e.g. a test send).
func (s *Service) customerID(ctx context.Context, q sqlx.QueryerContext, m message) (int64, error) {
	if m.CustomerID.Valid {
		return m.CustomerID.Int64, nil
	}
	var id int64
	err := sqlx.GetContext(ctx, q, &id, `SELECT id FROM customers WHERE shop_id = $1 AND lower(email) = lower($2) AND deleted_at IS NULL`, m.ShopID, m.ToEmail)
	if errors.Is(err, sql.ErrNoRows) {
		return 0, nil
	}
	if err != nil {
		return 0, fmt.Errorf("tracking: customer for message %d: %w", m.ID, err)
	}
	return id, nil
}

// MaskEmail shows enough of an address to recognise it: a***@example.com.
func MaskEmail(e string) string {
	at := strings.LastIndexByte(e, '@')
	if at <= 0 {
		return "***"
	}
	return e[:1] + "***" + e[at:]
}

// Unsubscribe unsubscribes the token's recipient from marketing email:
// consent unsubscribed (source, e.g. "unsubscribe" or "one_click"), pushed to
// Shopify by a job queued in the same transaction. Without a profile the
// address is suppressed instead. Repeating it changes nothing.
func (s *Service) Unsubscribe(ctx context.Context, token, source string) (Recipient, error) {
	return s.setConsent(ctx, token, customers.ConsentUnsubscribed, source)
}

// Resubscribe undoes an unsubscribe from the same page (consent subscribed,
// source "resubscribe", pushed to Shopify).
func (s *Service) Resubscribe(ctx context.Context, token string) (Recipient, error) {
	return s.setConsent(ctx, token, customers.ConsentSubscribed, "resubscribe")
}

func (s *Service) setConsent(ctx context.Context, token, state, source string) (Recipient, error) {
	var r Recipient
	err := db.InTx(ctx, s.DB, func(tx *sqlx.Tx) error {
		m, err := s.unsubMessage(ctx, tx, token)
		if err != nil {
			return err
		}
		if err := s.consent(ctx, tx, m, state, source); err != nil {
			return err
		}
		if state == customers.ConsentUnsubscribed {
			now := s.Now()
			if err := s.ApplyStatus(ctx, tx, m.ShopID, m.ID, "unsubscribed", "", now); err != nil {
				return err
			}
			// The unsubscribe is an event of the message, like SendGrid's,
			// so reports count it against the email it came from; once
			// (repeating it changes nothing).
			var ids []int64
			if err := tx.SelectContext(ctx, &ids, `INSERT INTO email_events (shop_id, message_id, source, kind, detail, occurred_at)
				SELECT $1, $2, 'page', 'unsubscribe', $3, $4
				WHERE NOT EXISTS (SELECT 1 FROM email_events WHERE message_id = $2 AND kind IN ('unsubscribe', 'group_unsubscribe'))
				RETURNING id`, m.ShopID, m.ID, truncate(source, 100), now); err != nil {
				return fmt.Errorf("tracking: unsubscribe event: %w", err)
			}
			if len(ids) == 1 {
				if err := s.signal(ctx, tx, m, "unsubscribed", ids[0], now); err != nil {
					return err
				}
			}
		}
		r, err = s.describe(ctx, tx, m)
		return err
	})
	return r, err
}

// consent records the recipient's consent change in tx (and queues the
// Shopify push), or without a profile adds/lifts an "unsubscribed"
// suppression.
func (s *Service) consent(ctx context.Context, tx *sqlx.Tx, m message, state, source string) error {
	cid, err := s.customerID(ctx, tx, m)
	if err != nil {
		return err
	}
	if cid != 0 {
		err := storesync.ChangeConsent(ctx, tx, s.Customers, s.Jobs, m.ShopID, customers.ConsentChange{
			CustomerID: cid, State: state, OptInLevel: "single_opt_in", Source: source, At: s.Now(),
		})
		if err != nil {
			return fmt.Errorf("tracking: consent for message %d: %w", m.ID, err)
		}
		return nil
	}
	if state == customers.ConsentUnsubscribed {
		_, err = s.Customers.Suppress(ctx, tx, m.ShopID, []string{m.ToEmail}, []string{ReasonUnsubscribed}, "unsubscribe")
		return err
	}
	_, err = tx.ExecContext(ctx, `DELETE FROM suppressions WHERE shop_id = $1 AND email = $2 AND reason = $3`,
		m.ShopID, strings.ToLower(m.ToEmail), ReasonUnsubscribed)
	return err
}
