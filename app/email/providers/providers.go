// Package providers delivers email.Message values: SendGrid (v3 mail send
// through sendgrid-go), SMTP (net/smtp) and an outbox that stores messages in
// PostgreSQL for development. New picks one from MAIL_PROVIDER.
//
// Failure contract (what the sender relies on for "at most once"):
//   - an error wrapping email.ErrRetryable means the provider certainly did
//     not accept the message (429, 5xx, connection refused): it may be sent
//     again later;
//   - ErrOutcomeUnknown means the request may have reached the provider
//     (e.g. a timeout while waiting for the answer): the message must not be
//     sent again automatically;
//   - any other error is a permanent refusal of this message.
package providers

import (
	"errors"
	"fmt"
	"time"

	"github.com/jmoiron/sqlx"

	"github.com/cartwheel/cartwheel/app/config"
	"github.com/cartwheel/cartwheel/app/email"
)

// ErrOutcomeUnknown: the provider may or may not have accepted the message.
var ErrOutcomeUnknown = errors.New("email: provider outcome unknown")

// RetryableError is a temporary refusal. It unwraps to email.ErrRetryable.
type RetryableError struct {
	Provider   string
	Status     int           // HTTP or SMTP status; 0 for network errors
	RetryAfter time.Duration // the provider's Retry-After, when given
	Msg        string
}

func (e *RetryableError) Error() string {
	s := fmt.Sprintf("%s: temporary failure", e.Provider)
	if e.Status != 0 {
		s += fmt.Sprintf(" (%d)", e.Status)
	}
	if e.Msg != "" {
		s += ": " + e.Msg
	}
	if e.RetryAfter > 0 {
		s += fmt.Sprintf("; retry after %s", e.RetryAfter)
	}
	return s
}

func (e *RetryableError) Unwrap() error { return email.ErrRetryable }

// RetryAfter returns the wait a retryable error asks for (0 when none).
func RetryAfter(err error) time.Duration {
	var re *RetryableError
	if errors.As(err, &re) {
		return re.RetryAfter
	}
	return 0
}

// New returns the provider MAIL_PROVIDER names.
func New(cfg *config.Config, db *sqlx.DB) (email.Provider, error) {
	switch cfg.MailProvider {
	case "sendgrid":
		return NewSendGrid(SendGridOptions{APIKey: cfg.SendGridAPIKey, BaseURL: cfg.SendGridAPIBaseURL})
	case "smtp":
		return NewSMTP(cfg.SMTPURL)
	case "outbox", "":
		if db == nil {
			return nil, errors.New("providers: the outbox provider needs the database")
		}
		return NewOutbox(db), nil
	default:
		return nil, fmt.Errorf("providers: MAIL_PROVIDER=%q is not sendgrid, smtp or outbox", cfg.MailProvider)
	}
}
