// Package sender hands emails to the provider, at most once each:
//
//	reserve the ledger row → check (shop, sender, profile, suppression,
//	consent, caps) → track → claim the row → provider → record the outcome
//
// Flows and campaigns reserve their rows (with the source and the context
// the email is composed from) and, in the same transaction, queue an
// email.deliver job that carries only the shop and the message ids
// (EnqueueDeliver). Deliver then reads the shop, its settings and the sender
// verification once for the whole batch, compiles each template once, and
// for every message checks the recipient, composes the email from the
// template, the profile as it is now and the row's context, and hands it
// over. Send does the same for one email already rendered by its caller
// (the admin's test send, the wheel's code email); it is not queued.
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
	"cmp"
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/jmoiron/sqlx"

	"github.com/cartwheel/cartwheel/app/customers"
	"github.com/cartwheel/cartwheel/app/email"
	"github.com/cartwheel/cartwheel/app/email/compose"
	"github.com/cartwheel/cartwheel/app/email/ledger"
	"github.com/cartwheel/cartwheel/app/jobs"
	"github.com/cartwheel/cartwheel/app/shops"
	"github.com/cartwheel/cartwheel/app/signals"
)

// Skip reasons, stored in email_messages.skip_reason, in the order they are
// checked.
const (
	SkipShopNotInstalled = "shop_not_installed"
	SkipSenderMissing    = "sender_missing"
	SkipSenderUnverified = "sender_unverified"
	SkipNoPostalAddress  = "postal_address_missing" // composed mail: every email shows it
	SkipCustomerDeleted  = "customer_deleted"
	SkipNoAddress        = "no_address" // the profile has no email address any more
	SkipSuppressed       = "suppressed"
	SkipNoProfile        = "no_profile"
	SkipNotConsented     = "not_consented"
	SkipFrequencyCap     = "frequency_cap"
	// SkipFrequencyWindow: a campaign email to someone who got a marketing
	// email within the shop's campaign frequency window (campaign_skip_days).
	SkipFrequencyWindow = "frequency_window"
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
	// Templates and Products compose queued messages at send time
	// (*render.Store, *render.ProductSource).
	Templates compose.TemplateSource
	Products  compose.Products
}

// Options tune the sender.
type Options struct {
	// StaleAfter is how long a row may stay in sending before it counts as
	// interrupted (default 10 minutes; longer than a provider call can take).
	StaleAfter time.Duration
	// HandOffChunk is how many claimed messages of a Deliver batch are
	// recorded as handed over, sent and recorded as sent together (default
	// DefaultHandOffChunk; a BatchProvider takes the whole batch). Larger
	// means fewer round trips; it is also the most messages of one batch a
	// killed worker can leave failed as interrupted (the rest of its batch
	// is queued again).
	HandOffChunk int
}

// DefaultHandOffChunk is Options.HandOffChunk's default.
const DefaultHandOffChunk = 8

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
	case d.Templates == nil || d.Products == nil:
		return nil, errors.New("sender: Templates and Products are required (queued messages are composed at send time)")
	}
	if o.StaleAfter == 0 {
		o.StaleAfter = 10 * time.Minute
	}
	if o.HandOffChunk <= 0 {
		o.HandOffChunk = DefaultHandOffChunk
	}
	return &Sender{d: d, o: o}, nil
}

// Request is one email, already rendered by its caller, to send now (Send).
// It is never queued: queued email is a ledger row composed at send time
// (Deliver).
type Request struct {
	ShopID     int64
	CustomerID int64 // 0: no profile (test, system)
	To         string
	ToName     string
	Kind       string // campaign | flow | test | system
	DedupeKey  string // "test:<uuid>", "wheel_code:<spin>"; may be derived from Source
	Marketing  bool   // needs consent, counts toward caps
	Subject    string
	HTML       string
	Text       string
	Categories []string
	Headers    map[string]string
	// Source is what the email belongs to (the dedupe key may be derived
	// from it).
	Source ledger.Source
}

// Result says what happened to a request.
type Result struct {
	MessageID  int64
	Outcome    string
	SkipReason string
	ProviderID string
	Error      string
}

// Send sends req unless its dedupe key was already used or a send-time rule
// forbids it. A non-nil error means "try again later" (the job retries).
func (s *Sender) Send(ctx context.Context, req Request) (Result, error) {
	id, existed, err := ledger.Reserve(ctx, s.d.DB, ledger.Reservation{
		ShopID: req.ShopID, CustomerID: req.CustomerID, To: req.To, Kind: req.Kind,
		DedupeKey: req.DedupeKey, Subject: req.Subject, Marketing: req.Marketing, Source: req.Source,
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

	sh, reason, err := s.shopChecks(ctx, req.ShopID)
	if err != nil {
		return res, err
	}
	if reason == "" {
		rc := recipientCheck{MessageID: id, CustomerID: req.CustomerID, To: req.To, Kind: req.Kind,
			Marketing: req.Marketing}
		if req.CustomerID != 0 {
			p, err := s.profile(ctx, req.ShopID, req.CustomerID)
			if err != nil {
				return res, err
			}
			rc.Profile = p
		}
		reason, err = s.recipientChecks(ctx, req.ShopID, sh.settings, rc)
		if err != nil {
			return res, err
		}
	}
	if reason != "" {
		return s.skip(ctx, req.ShopID, id, reason)
	}
	return s.handOff(ctx, sh.settings, handOff{
		ShopID: req.ShopID, MessageID: id, CustomerID: req.CustomerID, Kind: req.Kind, Marketing: req.Marketing,
		To: email.Address{Name: req.ToName, Email: req.To}, Subject: req.Subject, HTML: req.HTML, Text: req.Text,
		Categories: req.Categories, Headers: req.Headers,
	})
}

// skip records that message id won't be sent, and why.
func (s *Sender) skip(ctx context.Context, shopID, id int64, reason string) (Result, error) {
	res := Result{MessageID: id}
	if _, err := ledger.MarkSkipped(ctx, s.d.DB, shopID, id, reason); err != nil {
		return res, err
	}
	res.Outcome, res.SkipReason = OutcomeSkipped, reason
	return res, nil
}

// handOff is one checked, rendered message ready for the provider.
type handOff struct {
	ShopID, MessageID, CustomerID int64
	Kind                          string
	Marketing                     bool
	// Composed: the row's address and subject are (re)written at claim,
	// since they were composed now.
	Composed   bool
	To         email.Address
	Subject    string
	HTML, Text string
	Categories []string
	Headers    map[string]string
	// FromName replaces the shop's sender name (a campaign's own); the
	// address stays the shop's verified one.
	FromName string
}

// handOff tracks, claims, calls the provider and records the outcome.
func (s *Sender) handOff(ctx context.Context, st shops.Settings, h handOff) (Result, error) {
	id := h.MessageID
	res := Result{MessageID: id}
	dec, err := s.d.Tracker.Decorate(h.ShopID, id, h.HTML, h.Text, h.Marketing)
	if err != nil {
		return res, fmt.Errorf("sender: tracking: %w", err)
	}
	won, reason, err := s.claim(ctx, st, h, dec.Links)
	if err != nil {
		return res, err
	}
	if reason != "" {
		return s.skip(ctx, h.ShopID, id, reason)
	}
	if !won {
		// Someone else claimed it between our reserve and claim, or (a
		// composed message still queued) the customer was erased after we
		// read the profile.
		r, done, err := s.existing(ctx, h.ShopID, id)
		if err == nil && !done && h.Composed {
			return s.skip(ctx, h.ShopID, id, SkipCustomerDeleted)
		}
		return r, err
	}

	headers := map[string]string{}
	for k, v := range h.Headers {
		headers[k] = v
	}
	for k, v := range dec.Headers {
		headers[k] = v
	}
	msg := email.Message{
		ID: id, ShopID: h.ShopID,
		To:         h.To,
		From:       email.Address{Name: cmp.Or(h.FromName, st.SenderName), Email: st.SenderEmail},
		ReplyTo:    st.ReplyTo,
		Subject:    h.Subject,
		HTML:       dec.HTML,
		Text:       dec.Text,
		Headers:    headers,
		Categories: append([]string{h.Kind}, h.Categories...),
	}
	out, sendErr := s.d.Provider.Send(ctx, msg)
	// Record the outcome even if the job's context is ending: the provider
	// call already happened.
	wctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
	defer cancel()
	switch {
	case sendErr == nil:
		if err := s.markSent(wctx, Request{ShopID: h.ShopID, CustomerID: h.CustomerID}, id, out.ProviderID); err != nil {
			// The row stays in sending and will be failed as interrupted,
			// never resent; the provider's events still find it by id.
			return res, err
		}
		res.Outcome, res.ProviderID = OutcomeSent, out.ProviderID
		return res, nil
	case errors.Is(sendErr, email.ErrRetryable):
		if _, err := ledger.Requeue(wctx, s.d.DB, h.ShopID, id, sendErr.Error()); err != nil {
			return res, err
		}
		res.Outcome, res.Error = OutcomeRetry, sendErr.Error()
		return res, sendErr
	default:
		if _, err := ledger.MarkFailed(wctx, s.d.DB, h.ShopID, id, sendErr.Error()); err != nil {
			return res, err
		}
		res.Outcome, res.Error = OutcomeFailed, sendErr.Error()
		return res, nil
	}
}

// claim moves the row to sending. For marketing mail to a customer the caps
// are checked again in the same transaction, under the customer's profile
// lock (customers.LockProfiles), so
// two workers sending that customer different emails at once can't both
// pass them: the second sees the first's row in sending. A non-empty reason
// means the row was not claimed and should be skipped for it.
func (s *Sender) claim(ctx context.Context, st shops.Settings, h handOff, links []string) (bool, string, error) {
	do := func(q ledger.Querier) (bool, error) {
		if h.Composed {
			return ledger.ClaimComposed(ctx, q, h.ShopID, h.MessageID, h.CustomerID, s.d.Provider.Name(), links, h.To.Email, h.Subject)
		}
		return ledger.Claim(ctx, q, h.ShopID, h.MessageID, s.d.Provider.Name(), links)
	}
	// Flow emails had the cap applied by the engine when their step ran,
	// under the customer's lock and with the flows' priorities (a
	// higher-priority flow may go where a lower one waits); the sender
	// doesn't second-guess it.
	capped := h.Kind != ledger.KindFlow && (st.MarketingCapHours > 0 || (h.Kind == ledger.KindCampaign && st.CampaignSkipDays > 0))
	if !h.Marketing || h.CustomerID == 0 || !capped {
		won, err := do(s.d.DB)
		return won, "", err
	}
	tx, err := s.d.DB.BeginTxx(ctx, nil)
	if err != nil {
		return false, "", fmt.Errorf("sender: claim %d: %w", h.MessageID, err)
	}
	defer tx.Rollback()
	// The customer's profile lock, which Deliver's batch claims take too
	// (for all their capped customers at once, in id order).
	if _, err := customers.LockProfiles(ctx, tx, h.ShopID, []int64{h.CustomerID}); err != nil {
		return false, "", fmt.Errorf("sender: claim %d: lock caps: %w", h.MessageID, err)
	}
	reason, err := s.capChecks(ctx, tx, h.ShopID, st, h.CustomerID, h.MessageID, h.Kind)
	if err != nil || reason != "" {
		return false, reason, err
	}
	won, err := do(tx)
	if err != nil {
		return false, "", err
	}
	if err := tx.Commit(); err != nil {
		return false, "", fmt.Errorf("sender: claim %d: %w", h.MessageID, err)
	}
	return won, "", nil
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
		if err := signals.Record(ctx, tx.Tx, signals.Signal{ShopID: req.ShopID, CustomerID: req.CustomerID,
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
	return s.settle(ctx, m)
}

// settle is existing for a row already loaded.
func (s *Sender) settle(ctx context.Context, m ledger.Message) (Result, bool, error) {
	shopID, id := m.ShopID, m.ID
	r := Result{MessageID: id, ProviderID: m.ProviderMessageID.String}
	switch m.Status {
	case ledger.Queued:
		return r, false, nil
	case ledger.Sending:
		if m.SendingAt.Valid && time.Since(m.SendingAt.Time) > s.o.StaleAfter && m.HandOffPending {
			// Its batch's worker died before handing it over: it never
			// reached the provider, so it may be sent.
			if _, err := ledger.Requeue(ctx, s.d.DB, shopID, id, ledger.RequeuedReason); err != nil {
				return r, true, err
			}
			return r, false, nil
		}
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

// shopState is what a batch reads once about its shop.
type shopState struct {
	shop     shops.Shop
	settings shops.Settings
}

// shopChecks reads the shop, its settings and the sender verification, and
// returns the first reason nothing of the shop may be sent ("" to go on).
func (s *Sender) shopChecks(ctx context.Context, shopID int64) (shopState, string, error) {
	var st shopState
	sh, err := s.d.Shops.ByID(ctx, shopID)
	if errors.Is(err, shops.ErrNotFound) {
		return st, SkipShopNotInstalled, nil
	}
	if err != nil {
		return st, "", err
	}
	if !sh.Installed() {
		return st, SkipShopNotInstalled, nil
	}
	st.shop = sh
	st.settings, err = s.d.Shops.Settings(ctx, shopID)
	if err != nil {
		return st, "", err
	}
	if strings.TrimSpace(st.settings.SenderEmail) == "" {
		return st, SkipSenderMissing, nil
	}
	ok, err := s.d.Verifier.SenderVerified(ctx, shopID)
	if err != nil {
		return st, "", fmt.Errorf("sender: verification: %w", err)
	}
	if !ok {
		return st, SkipSenderUnverified, nil
	}
	return st, "", nil
}

// profile is the recipient's profile as it is at send time.
type profile struct {
	Found      bool         `db:"-"`
	Deleted    sql.NullTime `db:"deleted_at"`
	Consent    string       `db:"email_consent"`
	FirstName  string       `db:"first_name"`
	LastName   string       `db:"last_name"`
	Email      string       `db:"email"`
	Suppressed bool         `db:"suppressed"` // the profile's current address
}

// profile reads the customer's profile, and whether its address is
// suppressed, in one statement.
func (s *Sender) profile(ctx context.Context, shopID, customerID int64) (profile, error) {
	var p profile
	err := s.d.DB.GetContext(ctx, &p, `
		SELECT c.deleted_at, c.email_consent, c.first_name, c.last_name, COALESCE(c.email, '') AS email,
		       EXISTS (SELECT 1 FROM suppressions x WHERE x.shop_id = c.shop_id AND x.email = lower(trim(c.email))) AS suppressed
		FROM customers c WHERE c.shop_id = $1 AND c.id = $2`, shopID, customerID)
	if errors.Is(err, sql.ErrNoRows) {
		return profile{}, nil
	}
	if err != nil {
		return p, fmt.Errorf("sender: profile: %w", err)
	}
	p.Found = true
	return p, nil
}

// recipientCheck is what the per-message rules look at.
type recipientCheck struct {
	MessageID  int64
	CustomerID int64   // 0: no profile
	Profile    profile // read when CustomerID != 0
	To         string  // the address the email goes to
	Kind       string
	Marketing  bool
}

// recipientChecks applies the per-message send-time rules in order and
// returns the first reason to skip ("" to send).
func (s *Sender) recipientChecks(ctx context.Context, shopID int64, st shops.Settings, r recipientCheck) (string, error) {
	p := r.Profile
	if r.CustomerID != 0 && (!p.Found || p.Deleted.Valid) {
		return SkipCustomerDeleted, nil
	}
	var suppressed bool
	if r.CustomerID != 0 && strings.EqualFold(strings.TrimSpace(r.To), strings.TrimSpace(p.Email)) {
		suppressed = p.Suppressed // read with the profile
	} else if err := s.d.DB.GetContext(ctx, &suppressed,
		`SELECT EXISTS (SELECT 1 FROM suppressions WHERE shop_id = $1 AND email = lower(trim($2)))`, shopID, r.To); err != nil {
		return "", fmt.Errorf("sender: suppressions: %w", err)
	}
	if suppressed {
		return SkipSuppressed, nil
	}
	if !r.Marketing {
		return "", nil
	}
	if r.CustomerID == 0 {
		return SkipNoProfile, nil
	}
	if p.Consent != "subscribed" {
		return SkipNotConsented, nil
	}
	return s.capChecks(ctx, s.d.DB, shopID, st, r.CustomerID, r.MessageID, r.Kind)
}

// capChecks applies the frequency cap and, for campaigns, the campaign
// frequency window to a marketing email of the customer ("" when neither
// holds it). The window was applied when the campaign's audience was
// snapshotted; it is checked again here because days may pass between the
// snapshot and the send (daily-limit carry-over, a paused campaign).
func (s *Sender) capChecks(ctx context.Context, q ledger.Querier, shopID int64, st shops.Settings, customerID, messageID int64, kind string) (string, error) {
	now := time.Now()
	if kind == ledger.KindFlow {
		return "", nil // see claim: the engine applied the cap and the flow's filters
	}
	if st.MarketingCapHours > 0 {
		hit, err := ledger.MarketingSince(ctx, q, shopID, customerID,
			now.Add(-time.Duration(st.MarketingCapHours)*time.Hour), messageID, 0)
		if err != nil {
			return "", err
		}
		if hit {
			return SkipFrequencyCap, nil
		}
	}
	if kind == ledger.KindCampaign && st.CampaignSkipDays > 0 {
		hit, err := ledger.MarketingSince(ctx, q, shopID, customerID,
			now.AddDate(0, 0, -st.CampaignSkipDays), messageID, 0)
		if err != nil {
			return "", err
		}
		if hit {
			return SkipFrequencyWindow, nil
		}
	}
	return "", nil
}
