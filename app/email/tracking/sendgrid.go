package tracking

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/jmoiron/sqlx"
	"github.com/sendgrid/sendgrid-go/helpers/eventwebhook"

	"github.com/cartwheel/cartwheel/app/customers"
	"github.com/cartwheel/cartwheel/app/db"
)

// SendGrid's signature headers.
const (
	SignatureHeader = eventwebhook.VerificationHTTPHeader
	TimestampHeader = eventwebhook.TimestampHTTPHeader
)

// MaxEventAge bounds how far the signed timestamp may be from now (either
// way): an older signed batch is a replay.
const MaxEventAge = 5 * time.Minute

// Signature errors: the web layer answers 401 and stores nothing.
var (
	ErrBadSignature = errors.New("tracking: bad SendGrid signature")
	ErrStale        = errors.New("tracking: SendGrid timestamp too old or in the future")
	ErrBadPayload   = errors.New("tracking: SendGrid payload is not a JSON array of events")
)

// SendGridVerifier checks the Signed Event Webhook with sendgrid-go's helper.
type SendGridVerifier struct {
	key *ecdsa.PublicKey
}

// NewSendGridVerifier takes the base64 public key from SendGrid's settings
// (SENDGRID_WEBHOOK_PUBLIC_KEY).
func NewSendGridVerifier(base64Key string) (v *SendGridVerifier, err error) {
	defer func() { // the helper type-asserts without checking
		if recover() != nil {
			v, err = nil, errors.New("tracking: SENDGRID_WEBHOOK_PUBLIC_KEY is not an ECDSA public key")
		}
	}()
	k, err := eventwebhook.ConvertPublicKeyBase64ToECDSA(strings.TrimSpace(base64Key))
	if err != nil {
		return nil, fmt.Errorf("tracking: SENDGRID_WEBHOOK_PUBLIC_KEY: %w", err)
	}
	return &SendGridVerifier{key: k}, nil
}

// Verify checks the signature over the raw body and the timestamp's age.
func (v *SendGridVerifier) Verify(body []byte, signature, timestamp string, now time.Time) error {
	if v == nil || signature == "" || timestamp == "" {
		return ErrBadSignature
	}
	ok, err := eventwebhook.VerifySignature(v.key, body, signature, timestamp)
	if err != nil || !ok {
		return ErrBadSignature
	}
	sec, err := strconv.ParseInt(timestamp, 10, 64)
	if err != nil {
		return ErrStale
	}
	if d := now.Sub(time.Unix(sec, 0)); d > MaxEventAge || d < -MaxEventAge {
		return ErrStale
	}
	return nil
}

// EventSummary counts what a batch did.
type EventSummary struct {
	Received, Processed, Duplicates, Unknown, OtherShop, Unmatched, Invalid int
}

// flexID accepts a JSON string or number (custom args come back as strings).
type flexID int64

func (f *flexID) UnmarshalJSON(b []byte) error {
	s := strings.Trim(string(b), `"`)
	if s == "" || s == "null" {
		*f = 0
		return nil
	}
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil {
		*f = -1 // present but not ours: never matches
		return nil
	}
	*f = flexID(n)
	return nil
}

type sgEvent struct {
	Email       string `json:"email"`
	Timestamp   int64  `json:"timestamp"`
	Event       string `json:"event"`
	SGEventID   string `json:"sg_event_id"`
	SGMessageID string `json:"sg_message_id"`
	Type        string `json:"type"`
	Reason      string `json:"reason"`
	Response    string `json:"response"`
	URL         string `json:"url"`
	UserAgent   string `json:"useragent"`
	IP          string `json:"ip"`
	// Custom args come back as top-level fields; some relays nest them.
	CWMessageID flexID `json:"cw_message_id"`
	CWShopID    flexID `json:"cw_shop_id"`
	CustomArgs  struct {
		CWMessageID flexID `json:"cw_message_id"`
		CWShopID    flexID `json:"cw_shop_id"`
	} `json:"custom_args"`
}

var knownEvents = map[string]bool{
	"processed": true, "delivered": true, "deferred": true, "bounce": true, "dropped": true,
	"spamreport": true, "unsubscribe": true, "group_unsubscribe": true, "group_resubscribe": true,
	"open": true, "click": true,
}

// ProcessEvents applies a verified batch in one transaction: each event once
// (sg_event_id), only for a message of the shop its cw_shop_id names;
// statuses to the ledger; the suppression rules; unsubscribes and spam
// reports to consent (pushed to Shopify). Unknown types and events for
// another shop's message are counted and ignored. An error rolls the whole
// batch back, so SendGrid's retry finds nothing half-done.
func (s *Service) ProcessEvents(ctx context.Context, body []byte) (EventSummary, error) {
	var raw []json.RawMessage
	dec := json.NewDecoder(bytes.NewReader(body))
	if err := dec.Decode(&raw); err != nil {
		return EventSummary{}, ErrBadPayload
	}
	sum := EventSummary{Received: len(raw)}
	err := db.InTx(ctx, s.DB, func(tx *sqlx.Tx) error {
		sum = EventSummary{Received: len(raw)}
		if err := s.lockBatch(ctx, tx, raw); err != nil {
			return err
		}
		for _, r := range raw {
			var e sgEvent
			if err := json.Unmarshal(r, &e); err != nil || e.SGEventID == "" || e.Event == "" {
				sum.Invalid++
				continue
			}
			if !knownEvents[e.Event] {
				sum.Unknown++
				continue
			}
			if err := s.applyEvent(ctx, tx, e, &sum); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return EventSummary{}, err
	}
	return sum, nil
}

func (s *Service) applyEvent(ctx context.Context, tx *sqlx.Tx, e sgEvent, sum *EventSummary) error {
	msgID, shopID := int64(e.CWMessageID), int64(e.CWShopID)
	if msgID == 0 {
		msgID, shopID = int64(e.CustomArgs.CWMessageID), int64(e.CustomArgs.CWShopID)
	}
	if msgID <= 0 {
		sum.Unmatched++
		return nil
	}
	m, err := s.message(ctx, tx, msgID)
	if errors.Is(err, ErrNotFound) {
		sum.Unmatched++
		return nil
	}
	if err != nil {
		return err
	}
	if shopID != m.ShopID || (e.Email != "" && !strings.EqualFold(e.Email, m.ToEmail)) {
		sum.OtherShop++
		return nil
	}
	at := time.Unix(e.Timestamp, 0)
	if e.Timestamp <= 0 {
		at = s.Now()
	}
	detail := e.Type
	if e.Reason != "" {
		detail = strings.TrimSpace(e.Type + " " + e.Reason)
	}
	machine := (e.Event == "open" && IsApplePrivacyProxy(e.UserAgent)) || (e.Event == "click" && IsScanner(e.UserAgent))
	var id int64
	err = tx.GetContext(ctx, &id, `
		INSERT INTO email_events (shop_id, message_id, sg_event_id, source, kind, url, detail, user_agent, ip, machine, occurred_at)
		VALUES ($1, $2, $3, 'sendgrid', $4, $5, $6, $7, $8, $9, $10)
		ON CONFLICT (sg_event_id) DO NOTHING RETURNING id`,
		m.ShopID, m.ID, e.SGEventID, e.Event, e.URL, truncate(detail, 1000), truncate(e.UserAgent, 512), TruncateIP(e.IP), machine, at)
	if errors.Is(err, sql.ErrNoRows) {
		sum.Duplicates++
		return nil
	}
	if err != nil {
		return fmt.Errorf("tracking: store event %s: %w", e.SGEventID, err)
	}
	sum.Processed++
	addr := strings.ToLower(m.ToEmail)
	status, bounce := "", ""
	switch e.Event {
	case "delivered":
		status = "delivered"
		// The row stays (at 0): it is the address's lock (see lockBatch).
		if _, err := tx.ExecContext(ctx, `UPDATE email_soft_bounces SET streak = 0, updated_at = now()
			WHERE shop_id = $1 AND email = $2 AND streak <> 0`, m.ShopID, addr); err != nil {
			return fmt.Errorf("tracking: reset soft bounces: %w", err)
		}
	case "deferred":
		status = "deferred"
		if err := s.softBounce(ctx, tx, m, id, addr); err != nil {
			return err
		}
	case "bounce":
		status = "bounced"
		if e.Type == "blocked" {
			bounce = "soft"
			if err := s.softBounce(ctx, tx, m, id, addr); err != nil {
				return err
			}
		} else {
			bounce = "hard"
			if err := s.suppress(ctx, tx, m.ShopID, addr, ReasonHardBounce, "bounce"); err != nil {
				return err
			}
		}
	case "dropped":
		status = "dropped"
		if strings.Contains(e.Reason, "Invalid") || strings.Contains(e.Reason, "Bounced Address") {
			if err := s.suppress(ctx, tx, m.ShopID, addr, ReasonDropped, "bounce"); err != nil {
				return err
			}
		}
	case "spamreport":
		status = "complained"
		if err := s.suppress(ctx, tx, m.ShopID, addr, ReasonComplaint, "complaint"); err != nil {
			return err
		}
		if err := s.consent(ctx, tx, m, customers.ConsentUnsubscribed, "spamreport"); err != nil {
			return err
		}
	case "unsubscribe", "group_unsubscribe":
		status = "unsubscribed"
		if err := s.consent(ctx, tx, m, customers.ConsentUnsubscribed, "unsubscribe"); err != nil {
			return err
		}
	case "open":
		if !machine {
			status = "opened"
		}
	case "click":
		if !machine {
			status = "clicked"
		}
	}
	if status == "" {
		return nil
	}
	if err := s.ApplyStatus(ctx, tx, m.ShopID, m.ID, status, bounce, at); err != nil {
		return err
	}
	// Every status is news for flows; segments also look at sent_at,
	// which any status sets on a row the sender never marked sent (failed
	// as interrupted although the provider took it). Suppressions and
	// consent recorded their own signals above.
	return s.signal(ctx, tx, m, status, id, at)
}

// softBounce counts one soft bounce per message (SendGrid retries a deferred
// message several times) towards the address's streak; SoftBounceLimit in a
// row suppress it.
func (s *Service) softBounce(ctx context.Context, tx *sqlx.Tx, m message, eventID int64, addr string) error {
	var earlier bool
	if err := tx.GetContext(ctx, &earlier, `
		SELECT EXISTS (SELECT 1 FROM email_events WHERE message_id = $1 AND id <> $2
			AND (kind = 'deferred' OR (kind = 'bounce' AND detail LIKE 'blocked%')))`, m.ID, eventID); err != nil {
		return fmt.Errorf("tracking: soft bounce: %w", err)
	}
	if earlier {
		return nil
	}
	var streak int
	if err := tx.GetContext(ctx, &streak, `
		INSERT INTO email_soft_bounces (shop_id, email, streak) VALUES ($1, $2, 1)
		ON CONFLICT (shop_id, email) DO UPDATE SET streak = email_soft_bounces.streak + 1, updated_at = now()
		RETURNING streak`, m.ShopID, addr); err != nil {
		return fmt.Errorf("tracking: soft bounce: %w", err)
	}
	if streak >= SoftBounceLimit {
		return s.suppress(ctx, tx, m.ShopID, addr, ReasonSoftBounces, "bounce")
	}
	return nil
}

func (s *Service) suppress(ctx context.Context, tx *sqlx.Tx, shopID int64, addr, reason, source string) error {
	_, err := s.Customers.Suppress(ctx, tx, shopID, []string{addr}, []string{reason}, source)
	return err
}
