// Package sender hands one email to the provider, at most once:
//
//	reserve the ledger row → check (shop, sender, profile, suppression,
//	consent, caps) → track → claim the row → provider → record the outcome
//
// # Exactly once
//
// The ledger row (unique per shop and dedupe key) is committed before
// anything else, and only the caller whose conditional UPDATE moves it from
// queued to sending (ledger.Claim) calls the provider. Concurrent senders of
// the same key therefore make one provider call; a retried job finds the row
// already sent and returns OutcomeDuplicate without calling the provider.
//
// # A worker that died mid-send
//
// A row found in sending is not sent again. While it is younger than
// Options.StaleAfter another worker may still be sending it
// (OutcomeInProgress). Once older, it is marked failed with
// ledger.InterruptedReason: the provider may or may not have accepted it,
// and a duplicate email is worse than a missing one. If the provider did
// accept it, its events (matched by the cw_message_id custom arg) move the
// row on to delivered/opened/… and that is the confirmation. A row still
// queued (the worker died before claiming) is safe to send and is sent.
//
// # Provider failures
//
// A retryable provider error (email.ErrRetryable: 429, 5xx, connection
// refused — the provider certainly did not take the message) puts the row
// back to queued and Send returns the error, so the River job retries. A
// permanent refusal or an unknown outcome (providers.ErrOutcomeUnknown)
// marks the row failed and Send returns OutcomeFailed with a nil error: no
// retry.
package sender

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/jmoiron/sqlx"

	"github.com/cartwheel/cartwheel/app/customers"
	"github.com/cartwheel/cartwheel/app/email"
	"github.com/cartwheel/cartwheel/app/email/ledger"
	"github.com/cartwheel/cartwheel/app/jobs"
	"github.com/cartwheel/cartwheel/app/shops"
	"github.com/cartwheel/cartwheel/app/signals"
)

// Skip reasons, stored in email_messages.skip_reason, in the order they are
// checked.
const (
	SkipShopNotInstalled  = "shop_not_installed"
	SkipSenderMissing     = "sender_missing"
	SkipSenderUnverified  = "sender_unverified"
	SkipCustomerDeleted   = "customer_deleted"
	SkipSuppressed        = "suppressed"
	SkipNoProfile         = "no_profile"
	SkipNotConsented      = "not_consented"
	SkipFrequencyCap      = "frequency_cap"
	SkipAutomationQuietly = "automation_quiet_period"
)

// Outcomes of Send.
const (
	OutcomeSent       = "sent"
	OutcomeSkipped    = "skipped"
	OutcomeDuplicate  = "duplicate"   // the key was already sent (or skipped/failed) earlier
	OutcomeInProgress = "in_progress" // another worker holds the row right now
	OutcomeFailed     = "failed"      // will not be sent; see Result.Error
	OutcomeRetry      = "retry"       // provider said later; Send also returns the error
)

// SenderVerifier says whether the shop's sender address is verified (issue
// 10, app/email/tracking). Sending is blocked until it is.
type SenderVerifier interface {
	SenderVerified(ctx context.Context, shopID int64) (bool, error)
}

// VerifierFunc adapts a function to SenderVerifier.
type VerifierFunc func(ctx context.Context, shopID int64) (bool, error)

// SenderVerified implements SenderVerifier.
func (f VerifierFunc) SenderVerified(ctx context.Context, shopID int64) (bool, error) {
	return f(ctx, shopID)
}

// AlwaysVerified treats every sender as verified. For tests only.
var AlwaysVerified = VerifierFunc(func(context.Context, int64) (bool, error) { return true, nil })

// NoTracking is a Tracker that changes nothing (tests, or before tracking is
// wired); it still passes on the links it finds nowhere.
type NoTracking struct{}

// Decorate implements email.Tracker.
func (NoTracking) Decorate(_, _ int64, html, text string, _ bool) (email.Decorated, error) {
	return email.Decorated{HTML: html, Text: text}, nil
}

// ShopSource is what the sender reads about shops (*shops.Store).
type ShopSource interface {
	ByID(ctx context.Context, id int64) (shops.Shop, error)
	Settings(ctx context.Context, shopID int64) (shops.Settings, error)
}

// Deps are the sender's collaborators; all are required.
type Deps struct {
	DB       *sqlx.DB
	Shops    ShopSource
	Provider email.Provider
	Tracker  email.Tracker
	Verifier SenderVerifier
}

// Options tune the sender.
type Options struct {
	// StaleAfter is how long a row may stay in sending before it counts as
	// interrupted (default 10 minutes; longer than a provider call can take).
	StaleAfter time.Duration
}

// Sender sends single emails.
type Sender struct {
	d Deps
	o Options
	// jobs queues segment refreshes when a message is marked sent (nil in
	// tests that don't look at segments).
	jobs jobs.Inserter
}

// QueueWith makes marking a message sent queue a refresh of its customer's
// segments in the same transaction. It is set after construction because
// the River client is built once every worker (this sender's among them)
// is registered.
func (s *Sender) QueueWith(j jobs.Inserter) { s.jobs = j }

// New returns a Sender.
func New(d Deps, o Options) (*Sender, error) {
	switch {
	case d.DB == nil, d.Shops == nil, d.Provider == nil:
		return nil, errors.New("sender: DB, Shops and Provider are required")
	case d.Tracker == nil:
		return nil, errors.New("sender: a Tracker is required (sender.NoTracking{} in tests)")
	case d.Verifier == nil:
		return nil, errors.New("sender: a SenderVerifier is required (sender.AlwaysVerified in tests)")
	}
	if o.StaleAfter == 0 {
		o.StaleAfter = 10 * time.Minute
	}
	return &Sender{d: d, o: o}, nil
}

// Request is one email to send.
type Request struct {
	ShopID     int64             `json:"shop_id"`
	CustomerID int64             `json:"customer_id,omitempty"` // 0: no profile (test, system)
	To         string            `json:"to"`
	ToName     string            `json:"to_name,omitempty"`
	Kind       string            `json:"kind"`       // campaign | flow | test | system
	DedupeKey  string            `json:"dedupe_key"` // "campaign:12:customer:34", "flow_run:5:step:2", "test:<uuid>"
	Marketing  bool              `json:"marketing"`  // needs consent, counts toward caps
	Subject    string            `json:"subject"`
	HTML       string            `json:"html"`
	Text       string            `json:"text"`
	Categories []string          `json:"categories,omitempty"`
	Headers    map[string]string `json:"headers,omitempty"`
}

// Result says what happened to a request.
type Result struct {
	MessageID  int64
	Outcome    string
	SkipReason string
	ProviderID string
	Error      string
}

var flowRunKey = regexp.MustCompile(`^(flow_run:\d+:)`)

// Send sends req unless its dedupe key was already used or a send-time rule
// forbids it. A non-nil error means "try again later" (the job retries).
func (s *Sender) Send(ctx context.Context, req Request) (Result, error) {
	id, existed, err := ledger.Reserve(ctx, s.d.DB, ledger.Reservation{
		ShopID: req.ShopID, CustomerID: req.CustomerID, To: req.To, Kind: req.Kind,
		DedupeKey: req.DedupeKey, Subject: req.Subject, Marketing: req.Marketing,
	})
	if err != nil {
		return Result{}, err
	}
	res := Result{MessageID: id}
	if existed {
		if r, done, err := s.existing(ctx, req.ShopID, id); done || err != nil {
			return r, err
		}
	}

	st, reason, err := s.check(ctx, req, id)
	if err != nil {
		return res, err
	}
	if reason != "" {
		if _, err := ledger.MarkSkipped(ctx, s.d.DB, req.ShopID, id, reason); err != nil {
			return res, err
		}
		res.Outcome, res.SkipReason = OutcomeSkipped, reason
		return res, nil
	}

	dec, err := s.d.Tracker.Decorate(req.ShopID, id, req.HTML, req.Text, req.Marketing)
	if err != nil {
		return res, fmt.Errorf("sender: tracking: %w", err)
	}
	won, err := ledger.Claim(ctx, s.d.DB, req.ShopID, id, s.d.Provider.Name(), dec.Links)
	if err != nil {
		return res, err
	}
	if !won {
		// Someone else claimed it between our reserve and claim.
		r, _, err := s.existing(ctx, req.ShopID, id)
		return r, err
	}

	headers := map[string]string{}
	for k, v := range req.Headers {
		headers[k] = v
	}
	for k, v := range dec.Headers {
		headers[k] = v
	}
	msg := email.Message{
		ID: id, ShopID: req.ShopID,
		To:         email.Address{Name: req.ToName, Email: req.To},
		From:       email.Address{Name: st.SenderName, Email: st.SenderEmail},
		ReplyTo:    st.ReplyTo,
		Subject:    req.Subject,
		HTML:       dec.HTML,
		Text:       dec.Text,
		Headers:    headers,
		Categories: append([]string{req.Kind}, req.Categories...),
	}
	out, sendErr := s.d.Provider.Send(ctx, msg)
	// Record the outcome even if the job's context is ending: the provider
	// call already happened.
	wctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
	defer cancel()
	switch {
	case sendErr == nil:
		if err := s.markSent(wctx, req, id, out.ProviderID); err != nil {
			// The row stays in sending and will be failed as interrupted,
			// never resent; the provider's events still find it by id.
			return res, err
		}
		res.Outcome, res.ProviderID = OutcomeSent, out.ProviderID
		return res, nil
	case errors.Is(sendErr, email.ErrRetryable):
		if _, err := ledger.Requeue(wctx, s.d.DB, req.ShopID, id, sendErr.Error()); err != nil {
			return res, err
		}
		res.Outcome, res.Error = OutcomeRetry, sendErr.Error()
		return res, sendErr
	default:
		if _, err := ledger.MarkFailed(wctx, s.d.DB, req.ShopID, id, sendErr.Error()); err != nil {
			return res, err
		}
		res.Outcome, res.Error = OutcomeFailed, sendErr.Error()
		return res, nil
	}
}

// markSent records the provider's acceptance and, for a customer's
// message, an EmailSent signal ("received an email" segment conditions
// read sent_at) in the same transaction.
func (s *Sender) markSent(ctx context.Context, req Request, id int64, providerID string) error {
	if s.jobs == nil || req.CustomerID == 0 {
		_, err := ledger.MarkSent(ctx, s.d.DB, req.ShopID, id, providerID)
		return err
	}
	tx, err := s.d.DB.BeginTxx(ctx, nil)
	if err != nil {
		return fmt.Errorf("sender: mark sent %d: %w", id, err)
	}
	defer tx.Rollback()
	// The profile before the ledger row, in the order a SendGrid event batch
	// takes them (tracking locks its profiles first), so the two can't
	// deadlock; the refresh queued below takes this lock anyway.
	if _, err := customers.LockProfiles(ctx, tx, req.ShopID, []int64{req.CustomerID}); err != nil {
		return fmt.Errorf("sender: mark sent %d: %w", id, err)
	}
	sent, err := ledger.MarkSent(ctx, tx, req.ShopID, id, providerID)
	if err != nil {
		return err
	}
	if sent {
		if err := signals.Record(ctx, tx.Tx, s.jobs, signals.Signal{ShopID: req.ShopID, CustomerID: req.CustomerID,
			Kind: signals.EmailSent, Ref: strconv.FormatInt(id, 10)}); err != nil {
			return fmt.Errorf("sender: %w", err)
		}
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("sender: mark sent %d: %w", id, err)
	}
	return nil
}

// existing decides what to do with a row that already existed; done is
// false only when the row is still queued and may be sent by this caller.
func (s *Sender) existing(ctx context.Context, shopID, id int64) (Result, bool, error) {
	m, err := ledger.Get(ctx, s.d.DB, shopID, id)
	if err != nil {
		return Result{}, true, err
	}
	r := Result{MessageID: id, ProviderID: m.ProviderMessageID.String}
	switch m.Status {
	case ledger.Queued:
		return r, false, nil
	case ledger.Sending:
		if m.SendingAt.Valid && time.Since(m.SendingAt.Time) > s.o.StaleAfter {
			if _, err := ledger.MarkFailed(ctx, s.d.DB, shopID, id, ledger.InterruptedReason); err != nil {
				return r, true, err
			}
			r.Outcome, r.Error = OutcomeFailed, ledger.InterruptedReason
			return r, true, nil
		}
		r.Outcome = OutcomeInProgress
		return r, true, nil
	case ledger.Skipped:
		r.Outcome, r.SkipReason = OutcomeSkipped, m.SkipReason
		return r, true, nil
	case ledger.Failed:
		r.Outcome, r.Error = OutcomeFailed, m.LastError
		return r, true, nil
	default: // sent and every later status
		r.Outcome = OutcomeDuplicate
		return r, true, nil
	}
}

type profile struct {
	Deleted sql.NullTime `db:"deleted_at"`
	Consent string       `db:"email_consent"`
}

// check applies the send-time rules in order and returns the first reason
// to skip ("" to send), with the shop's settings.
func (s *Sender) check(ctx context.Context, req Request, id int64) (shops.Settings, string, error) {
	var st shops.Settings
	sh, err := s.d.Shops.ByID(ctx, req.ShopID)
	if errors.Is(err, shops.ErrNotFound) {
		return st, SkipShopNotInstalled, nil
	}
	if err != nil {
		return st, "", err
	}
	if !sh.Installed() {
		return st, SkipShopNotInstalled, nil
	}
	st, err = s.d.Shops.Settings(ctx, req.ShopID)
	if err != nil {
		return st, "", err
	}
	if strings.TrimSpace(st.SenderEmail) == "" {
		return st, SkipSenderMissing, nil
	}
	ok, err := s.d.Verifier.SenderVerified(ctx, req.ShopID)
	if err != nil {
		return st, "", fmt.Errorf("sender: verification: %w", err)
	}
	if !ok {
		return st, SkipSenderUnverified, nil
	}
	var p profile
	if req.CustomerID != 0 {
		err := s.d.DB.GetContext(ctx, &p, `SELECT deleted_at, email_consent FROM customers WHERE shop_id = $1 AND id = $2`,
			req.ShopID, req.CustomerID)
		if errors.Is(err, sql.ErrNoRows) {
			return st, SkipCustomerDeleted, nil
		}
		if err != nil {
			return st, "", fmt.Errorf("sender: profile: %w", err)
		}
		if p.Deleted.Valid {
			return st, SkipCustomerDeleted, nil
		}
	}
	var suppressed bool
	if err := s.d.DB.GetContext(ctx, &suppressed,
		`SELECT EXISTS (SELECT 1 FROM suppressions WHERE shop_id = $1 AND email = lower(trim($2)))`, req.ShopID, req.To); err != nil {
		return st, "", fmt.Errorf("sender: suppressions: %w", err)
	}
	if suppressed {
		return st, SkipSuppressed, nil
	}
	if !req.Marketing {
		return st, "", nil
	}
	if req.CustomerID == 0 {
		return st, SkipNoProfile, nil
	}
	if p.Consent != "subscribed" {
		return st, SkipNotConsented, nil
	}
	now := time.Now()
	if st.MarketingCapHours > 0 {
		hit, err := ledger.MarketingSince(ctx, s.d.DB, req.ShopID, req.CustomerID,
			now.Add(-time.Duration(st.MarketingCapHours)*time.Hour), id, "")
		if err != nil {
			return st, "", err
		}
		if hit {
			return st, SkipFrequencyCap, nil
		}
	}
	if req.Kind == ledger.KindFlow && st.AutomationSkipDays > 0 {
		// Earlier steps of the same flow run don't count against it.
		prefix := ""
		if m := flowRunKey.FindStringSubmatch(req.DedupeKey); m != nil {
			prefix = m[1]
		}
		hit, err := ledger.MarketingSince(ctx, s.d.DB, req.ShopID, req.CustomerID,
			now.AddDate(0, 0, -st.AutomationSkipDays), id, prefix)
		if err != nil {
			return st, "", err
		}
		if hit {
			return st, SkipAutomationQuietly, nil
		}
	}
	return st, "", nil
}
