package tracking

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/jmoiron/sqlx"
	"github.com/lib/pq"

	"github.com/cartwheel/cartwheel/app/customers"
	"github.com/cartwheel/cartwheel/app/db"
	"github.com/cartwheel/cartwheel/app/email/ledger"
	"github.com/cartwheel/cartwheel/app/jobs"
	"github.com/cartwheel/cartwheel/app/signals"
)

// ErrNotFound: the token is valid but leads nowhere (message gone, or a link
// index the message doesn't have).
var ErrNotFound = errors.New("tracking: not found")

// Suppression reasons written by this package (suppressions.reason).
const (
	ReasonHardBounce   = "hard_bounce"
	ReasonSoftBounces  = "soft_bounces"
	ReasonComplaint    = "complaint"
	ReasonDropped      = "dropped"
	ReasonUnsubscribed = "unsubscribed"
)

// SoftBounceLimit consecutive soft bounces (no delivery in between) suppress
// an address.
const SoftBounceLimit = 7

// StatusFunc applies a provider or tracking event to the ledger row of a
// message inside tx. status is one of email_messages' statuses; bounceType is
// "hard", "soft" or "".
type StatusFunc func(ctx context.Context, tx *sqlx.Tx, shopID, messageID int64, status, bounceType string, at time.Time) error

// Deps are what the Service needs.
type Deps struct {
	DB        *sqlx.DB
	Tokens    *Tokens
	Customers *customers.Store
	Jobs      jobs.Inserter // consent pushes to Shopify, segment refreshes
	// ApplyStatus defaults to ApplyStatusLedger.
	ApplyStatus StatusFunc
	Log         *slog.Logger
	Now         func() time.Time
}

// Service records opens and clicks, handles unsubscribes and SendGrid events.
type Service struct {
	Deps
}

// New returns the service.
func New(d Deps) *Service {
	if d.ApplyStatus == nil {
		d.ApplyStatus = ApplyStatusLedger
	}
	if d.Log == nil {
		d.Log = slog.Default()
	}
	if d.Now == nil {
		d.Now = time.Now
	}
	return &Service{Deps: d}
}

// ApplyStatusLedger applies the status with ledger.ApplyEvent, which moves
// the row forward only (a late "delivered" after "clicked" changes nothing).
func ApplyStatusLedger(ctx context.Context, tx *sqlx.Tx, shopID, messageID int64, status, bounceType string, at time.Time) error {
	if _, err := ledger.ApplyEvent(ctx, tx, shopID, messageID, ledger.Event{Status: status, BounceType: bounceType}); err != nil {
		return fmt.Errorf("tracking: status %s for message %d: %w", status, messageID, err)
	}
	return nil
}

// message is the part of a ledger row tracking needs.
type message struct {
	ID         int64          `db:"id"`
	ShopID     int64          `db:"shop_id"`
	CustomerID sql.NullInt64  `db:"customer_id"`
	ToEmail    string         `db:"to_email"`
	Kind       string         `db:"kind"`
	DedupeKey  string         `db:"dedupe_key"`
	Links      pq.StringArray `db:"links"`
	Marketing  bool           `db:"marketing"`
	SentAt     sql.NullTime   `db:"sent_at"`
}

const messageColumns = `id, shop_id, customer_id, to_email, kind, dedupe_key, links, marketing, sent_at`

func (s *Service) message(ctx context.Context, q sqlx.QueryerContext, id int64) (message, error) {
	var m message
	err := sqlx.GetContext(ctx, q, &m, `SELECT `+messageColumns+` FROM email_messages WHERE id = $1`, id)
	if errors.Is(err, sql.ErrNoRows) {
		return message{}, ErrNotFound
	}
	if err != nil {
		return message{}, fmt.Errorf("tracking: message %d: %w", id, err)
	}
	return m, nil
}

// Request is what the web layer tells about an open or click request.
type Request struct {
	Method    string // GET or HEAD
	UserAgent string
	IP        string
}

// TruncateIP keeps the network part only: IPv4 /24, IPv6 /48.
func TruncateIP(ip string) string {
	p := net.ParseIP(strings.TrimSpace(ip))
	if p == nil {
		return ""
	}
	if v4 := p.To4(); v4 != nil {
		return v4.Mask(net.CIDRMask(24, 32)).String()
	}
	return p.Mask(net.CIDRMask(48, 128)).String()
}

// scannerAgents are substrings (lower case) of the User-Agents of mail
// security gateways, link checkers and HTTP libraries: their opens and
// clicks are machine activity.
var scannerAgents = []string{
	"barracuda", "mimecast", "proofpoint", "symantec", "messagelabs", "trend micro", "trendmicro",
	"forcepoint", "ironport", "fireeye", "sophos", "zscaler", "safelinks", "microsoft office protocol discovery",
	"bingpreview", "python-requests", "python-urllib", "curl/", "wget/", "go-http-client", "okhttp",
	"java/", "libwww", "headlesschrome", "phantomjs", "bot", "spider", "crawler", "scanner", "preview",
}

// IsScanner reports a User-Agent of a known scanner (empty counts).
func IsScanner(ua string) bool {
	l := strings.ToLower(strings.TrimSpace(ua))
	if l == "" {
		return true
	}
	if strings.Contains(l, "googleimageproxy") { // Gmail's proxy fetches on real opens
		return false
	}
	for _, s := range scannerAgents {
		if strings.Contains(l, s) {
			return true
		}
	}
	return false
}

// IsApplePrivacyProxy reports the request shape of Apple Mail Privacy
// Protection, which prefetches remote content through Apple's proxy whether
// or not the message is read: its User-Agent is the bare "Mozilla/5.0",
// without platform or engine.
func IsApplePrivacyProxy(ua string) bool {
	return strings.TrimSpace(ua) == "Mozilla/5.0"
}

// MachineWindow: a click this soon after delivery is a scanner following
// links, not a person.
const MachineWindow = 2 * time.Second

// deliveredAt is when the message was delivered (SendGrid's event), else
// when it was handed to the provider.
func (s *Service) deliveredAt(ctx context.Context, m message) (time.Time, bool) {
	var at sql.NullTime
	err := s.DB.GetContext(ctx, &at, `SELECT min(occurred_at) FROM email_events WHERE message_id = $1 AND kind = 'delivered'`, m.ID)
	if err == nil && at.Valid {
		return at.Time, true
	}
	if m.SentAt.Valid {
		return m.SentAt.Time, true
	}
	return time.Time{}, false
}

// Open records an open from the pixel. Machine opens (Apple's privacy proxy,
// scanners) are recorded with machine = true and don't move the ledger
// status. A bad token is ErrBadToken; an unknown message ErrNotFound.
func (s *Service) Open(ctx context.Context, token string, r Request) error {
	id, err := s.Tokens.ParseOpen(token)
	if err != nil {
		return err
	}
	m, err := s.message(ctx, s.DB, id)
	if err != nil {
		return err
	}
	machine := IsApplePrivacyProxy(r.UserAgent) || IsScanner(r.UserAgent)
	return s.record(ctx, m, "pixel", "open", nil, "", r, machine, "opened")
}

// Click verifies a click token and returns where to redirect: the
// message's stored link at the token's index with UTM parameters added. A
// bad token is ErrBadToken; an unknown message or an index the message
// doesn't have ErrNotFound. Recording failures are logged, not returned: the
// shopper still gets to the link.
func (s *Service) Click(ctx context.Context, token string, r Request) (string, error) {
	id, idx, err := s.Tokens.ParseClick(token)
	if err != nil {
		return "", err
	}
	m, err := s.message(ctx, s.DB, id)
	if err != nil {
		return "", err
	}
	if idx < 0 || idx >= len(m.Links) {
		return "", ErrNotFound
	}
	target, err := AddUTM(m.Links[idx], campaignName(m))
	if err != nil {
		return "", ErrNotFound
	}
	machine := r.Method == "HEAD" || IsScanner(r.UserAgent)
	if !machine {
		if at, ok := s.deliveredAt(ctx, m); ok && s.Now().Sub(at) < MachineWindow {
			machine = true
		}
	}
	i := idx
	if err := s.record(ctx, m, "redirect", "click", &i, m.Links[idx], r, machine, "clicked"); err != nil {
		s.Log.Error("tracking: record click", "message", m.ID, "err", err)
	}
	return target, nil
}

func (s *Service) record(ctx context.Context, m message, source, kind string, link *int, u string, r Request, machine bool, status string) error {
	now := s.Now()
	return db.InTx(ctx, s.DB, func(tx *sqlx.Tx) error {
		// The profile before the ledger row, in the order SendGrid batches
		// take them (see lockBatch), so the two can't deadlock.
		if m.CustomerID.Valid && !machine {
			if _, err := customers.LockProfiles(ctx, tx, m.ShopID, []int64{m.CustomerID.Int64}); err != nil {
				return fmt.Errorf("tracking: record %s: %w", kind, err)
			}
		}
		var eventID int64
		if err := tx.GetContext(ctx, &eventID, `
			INSERT INTO email_events (shop_id, message_id, source, kind, link_index, url, user_agent, ip, machine, occurred_at)
			VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10) RETURNING id`,
			m.ShopID, m.ID, source, kind, link, u, truncate(r.UserAgent, 512), TruncateIP(r.IP), machine, now); err != nil {
			return fmt.Errorf("tracking: record %s: %w", kind, err)
		}
		if machine {
			// Segments count human opens and clicks only.
			return nil
		}
		if err := s.ApplyStatus(ctx, tx, m.ShopID, m.ID, status, "", now); err != nil {
			return err
		}
		return s.signal(ctx, tx, m, status, eventID, now)
	})
}

// signal records an EmailEvent signal (Ref the message, Data its new
// status and the email_events row) for the message's profile: "opened/
// clicked an email" and "received an email" segment conditions, flow
// triggers and exits, and the reports' rollups (which count each event
// once by its row). Messages without a profile (test sends) count for
// nobody.
func (s *Service) signal(ctx context.Context, tx *sqlx.Tx, m message, status string, eventID int64, at time.Time) error {
	if !m.CustomerID.Valid {
		return nil
	}
	if err := signals.Record(ctx, tx.Tx, signals.Signal{ShopID: m.ShopID, CustomerID: m.CustomerID.Int64,
		Kind: signals.EmailEvent, Ref: strconv.FormatInt(m.ID, 10), At: at,
		Data: signals.Data(map[string]any{"status": status, "event": eventID})}); err != nil {
		return fmt.Errorf("tracking: %w", err)
	}
	return nil
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return strings.ToValidUTF8(s[:n], "")
}

// campaignName is utm_campaign: "campaign-12" for campaign 12, else the
// message kind (flow, test, system).
func campaignName(m message) string {
	parts := strings.Split(m.DedupeKey, ":")
	if m.Kind == "campaign" && len(parts) >= 2 && parts[0] == "campaign" {
		return "campaign-" + parts[1]
	}
	if m.Kind == "flow" && len(parts) >= 2 && parts[0] == "flow" {
		return "flow-" + parts[1]
	}
	return m.Kind
}

// AddUTM adds utm_source=cartwheel, utm_medium=email and utm_campaign to an
// http(s) URL, leaving any UTM parameter already there as it is.
func AddUTM(raw, campaign string) (string, error) {
	u, err := url.Parse(raw)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return "", fmt.Errorf("tracking: not an http(s) link: %q", raw)
	}
	have := u.Query()
	add := url.Values{}
	for _, kv := range [][2]string{{"utm_source", "cartwheel"}, {"utm_medium", "email"}, {"utm_campaign", campaign}} {
		if !have.Has(kv[0]) && kv[1] != "" {
			add.Set(kv[0], kv[1])
		}
	}
	if len(add) == 0 {
		return u.String(), nil
	}
	if u.RawQuery == "" {
		u.RawQuery = add.Encode()
	} else {
		u.RawQuery += "&" + add.Encode()
	}
	return u.String(), nil
}
