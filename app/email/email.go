// Package email holds what every part of sending shares: the message a
// provider delivers, the provider interface, and the tracker that makes a
// rendered message trackable and unsubscribable. The parts live in
// subpackages:
//
//	app/email/render     templates (blocks, merge tags), responsive HTML + plain text, starter templates
//	app/email/providers  SendGrid (sendgrid-go), SMTP, outbox; app/email/sendgridtest is SendGrid's fake
//	app/email/ledger     one row per email, written before the provider call (exactly once)
//	app/email/sender     reserve → check (consent, suppression, caps) → render → track → hand off
//	app/email/tracking   open/click tokens, link rewriting, unsubscribe, SendGrid events, suppression rules
package email

import (
	"context"
	"errors"
)

// Message is one email ready for a provider. Everything in it is final:
// rendered, tracked, and addressed.
type Message struct {
	// ID is the ledger row's id; providers carry it so events come back to
	// the right row (SendGrid custom_args "cw_message_id").
	ID         int64
	ShopID     int64
	To         Address
	From       Address
	ReplyTo    string
	Subject    string
	HTML       string
	Text       string
	Headers    map[string]string // e.g. List-Unsubscribe, List-Unsubscribe-Post
	Categories []string          // e.g. "campaign", "flow:abandoned_cart"
	// Personal lists strings that only this message holds (its tracking
	// tokens, from Decorated.Personal): a batching provider sends them as
	// per-recipient substitutions. Other providers ignore it.
	Personal []string
}

// Address is a mailbox; Name may be empty.
type Address struct {
	Name  string
	Email string
}

// Result is what a provider says about one message it accepted.
type Result struct {
	// ProviderID is the provider's id for the message (SendGrid's
	// X-Message-Id), used to match its events.
	ProviderID string
}

// Provider delivers messages. Send returns ErrRetryable (wrapped) when a
// later attempt may succeed (429, 5xx, network), and another error when the
// message itself was refused.
type Provider interface {
	Name() string
	Send(ctx context.Context, m Message) (Result, error)
}

// ErrRetryable marks a provider failure worth retrying later.
var ErrRetryable = errors.New("email: provider failure, retry later")

// Tracker makes a rendered message trackable: it rewrites links to the
// click redirect, adds the open pixel and the unsubscribe footer link and
// headers. It returns the original link targets in order (stored on the
// ledger row so a click token can only lead to a link of that message).
type Tracker interface {
	Decorate(shopID, messageID int64, html, text string, marketing bool) (Decorated, error)
}

// Decorated is a message after tracking.
type Decorated struct {
	HTML, Text string
	Links      []string
	Headers    map[string]string
	// Personal lists the strings the tracker wrote into this message alone
	// (its signed tokens); everything else it added is the same for every
	// message. Batching providers turn them into per-recipient
	// substitutions.
	Personal []string
}

// BatchProvider is a Provider that hands many messages over in few
// requests (SendGrid: up to 1,000 personalizations per request). SendBatch
// answers each message: outcomes[i] is for ms[i], with the same error
// contract as Send. Messages that went in one request share its outcome:
// a retryable error means none of them was accepted, an unknown outcome
// that any of them may have been.
type BatchProvider interface {
	Provider
	SendBatch(ctx context.Context, ms []Message) []Outcome
}

// Outcome is what a BatchProvider says about one message.
type Outcome struct {
	Result Result
	Err    error
}

// Concurrent is a Provider that takes several Send calls at once (SMTP:
// one per pooled connection). A delivery batch sends up to Concurrency
// messages side by side; other providers get them one after the other.
type Concurrent interface {
	Concurrency() int
}
