package wheel

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"regexp"
	"strings"
	"sync"
	"time"
	"unicode"

	"github.com/jmoiron/sqlx"
	"github.com/riverqueue/river"

	"github.com/cartwheel/cartwheel/app/customers"
	"github.com/cartwheel/cartwheel/app/db"
	"github.com/cartwheel/cartwheel/app/jobs"
	"github.com/cartwheel/cartwheel/app/shops"
	"github.com/cartwheel/cartwheel/app/signals"
	"github.com/cartwheel/cartwheel/app/storesync"
)

// Errors a spin can end with besides invalid input.
var (
	ErrAlreadySpun       = errors.New("wheel: this email already spun the wheel")
	ErrAlreadySubscribed = errors.New("wheel: this email is already subscribed")
	ErrDisabled          = errors.New("wheel: the wheel is turned off")
	ErrNotFound          = errors.New("wheel: not found")
	// ErrDailyLimit: the shop's codes of the last 24 hours reached the
	// wheel's daily cap.
	ErrDailyLimit = errors.New("wheel: daily code limit reached")
)

// errDecoy ends the spin transaction of an address that may not spin again
// on an email-the-code wheel: nothing is written, and the shopper gets the
// same answer a new address gets.
var errDecoy = errors.New("wheel: decoy answer")

// InputError is a spin request the shopper must correct (HTTP 422).
type InputError struct {
	Field   string
	Message string
}

func (e *InputError) Error() string { return "wheel: " + e.Field + ": " + e.Message }

// ShopifyAPI is the part of the Admin API client the wheel needs.
type ShopifyAPI interface {
	GraphQL(ctx context.Context, shop, token, query string, vars any, out any) error
}

// Deps are what the service works with.
type Deps struct {
	DB        *sqlx.DB
	Customers *customers.Store
	Shops     *shops.Store
	API       ShopifyAPI
	Events    Events // nil: no events recorded (see events.go)
	Log       *slog.Logger
	Now       func() time.Time
	// Rand decides spins; nil means CryptoRand. Tests pass a fixed seed.
	Rand *rand.Rand
	// CodeTimeout bounds the discount creation tried while the shopper
	// waits (default 4 s); RetryDelay is when the queued retry first runs
	// if that attempt did not settle it (default 20 s).
	CodeTimeout time.Duration
	RetryDelay  time.Duration
}

// Service runs wheels.
type Service struct {
	d     Deps
	jobs  jobs.Inserter
	mail  Mailer
	rngMu sync.Mutex // *rand.Rand is not safe for concurrent use
}

// New returns the service; QueueWith must be called before spins are taken.
func New(d Deps) *Service {
	if d.Now == nil {
		d.Now = time.Now
	}
	if d.Log == nil {
		d.Log = slog.Default()
	}
	if d.Rand == nil {
		d.Rand = CryptoRand()
	}
	if d.Events == nil {
		d.Events = NoEvents{}
	}
	if d.CodeTimeout == 0 {
		d.CodeTimeout = 4 * time.Second
	}
	if d.RetryDelay == 0 {
		d.RetryDelay = 20 * time.Second
	}
	return &Service{d: d}
}

// QueueWith sets the job inserter (the River client is built after its
// workers, which include this service's).
func (s *Service) QueueWith(j jobs.Inserter) { s.jobs = j }

// Wheel is a shop's wheel.
type Wheel struct {
	ID        int64     `db:"id"`
	ShopID    int64     `db:"shop_id"`
	Enabled   bool      `db:"enabled"`
	Config    Config    `db:"-"`
	Raw       []byte    `db:"config"`
	UpdatedAt time.Time `db:"updated_at"`
}

// load returns the shop's wheel, creating the default one on first use.
func (s *Service) load(ctx context.Context, q sqlx.ExtContext, shopID int64, lock bool) (Wheel, error) {
	query := `SELECT id, shop_id, enabled, config, updated_at FROM wheels WHERE shop_id = $1`
	if lock {
		query += ` FOR UPDATE`
	}
	var w Wheel
	err := sqlx.GetContext(ctx, q, &w, query, shopID)
	if errors.Is(err, sql.ErrNoRows) {
		doc, merr := json.Marshal(DefaultConfig())
		if merr != nil {
			return Wheel{}, merr
		}
		if _, err := q.ExecContext(ctx, `INSERT INTO wheels (shop_id, config) VALUES ($1, $2) ON CONFLICT (shop_id) DO NOTHING`, shopID, doc); err != nil {
			return Wheel{}, fmt.Errorf("wheel: create default for shop %d: %w", shopID, err)
		}
		err = sqlx.GetContext(ctx, q, &w, query, shopID)
	}
	if err != nil {
		return Wheel{}, fmt.Errorf("wheel: load for shop %d: %w", shopID, err)
	}
	if err := json.Unmarshal(w.Raw, &w.Config); err != nil {
		return Wheel{}, fmt.Errorf("wheel: config of wheel %d: %w", w.ID, err)
	}
	return w, nil
}

// Get returns the shop's wheel for the editor.
func (s *Service) Get(ctx context.Context, shopID int64) (Wheel, error) {
	return s.load(ctx, s.d.DB, shopID, false)
}

// Save validates the editor's form and stores it; nothing is stored when
// any field is invalid (the error is then FieldErrors).
func (s *Service) Save(ctx context.Context, shopID int64, in Input) (Wheel, error) {
	c, err := Parse(in)
	if err != nil {
		return Wheel{}, err
	}
	doc, err := json.Marshal(c)
	if err != nil {
		return Wheel{}, err
	}
	if _, err := s.load(ctx, s.d.DB, shopID, false); err != nil {
		return Wheel{}, err
	}
	if _, err := s.d.DB.ExecContext(ctx, `UPDATE wheels SET enabled = $2, config = $3, updated_at = now() WHERE shop_id = $1`,
		shopID, in.Enabled, doc); err != nil {
		return Wheel{}, fmt.Errorf("wheel: save for shop %d: %w", shopID, err)
	}
	return s.load(ctx, s.d.DB, shopID, false)
}

// PublicSlice is a slice as the storefront sees it: what it looks like,
// never its odds or prize.
type PublicSlice struct {
	Label string `json:"label"`
	Color string `json:"color"`
}

// PublicWheel is the wheel's configuration for the storefront widget.
type PublicWheel struct {
	ID            int64         `json:"id"`
	Slices        []PublicSlice `json:"slices"`
	Texts         Texts         `json:"texts"`
	Colors        Colors        `json:"colors"`
	Trigger       Trigger       `json:"trigger"`
	Pages         Pages         `json:"pages"`
	FrequencyDays int           `json:"frequency_days"`
	Tab           bool          `json:"tab"`
}

// Public renders a configuration for the widget (also the admin preview).
func Public(id int64, c Config) PublicWheel {
	p := PublicWheel{ID: id, Texts: c.Texts, Colors: c.Colors, Trigger: c.Trigger, Pages: c.Pages,
		FrequencyDays: c.FrequencyDays, Tab: c.Tab, Slices: make([]PublicSlice, len(c.Slices))}
	if p.Pages.Paths == nil {
		p.Pages.Paths = []string{}
	}
	for i, sl := range c.Slices {
		p.Slices[i] = PublicSlice{Label: sl.Label, Color: sl.Color}
	}
	return p
}

// Display is GET /proxy/wheel's answer.
type Display struct {
	Show   bool         `json:"show"`
	Reason string       `json:"reason"`
	Wheel  *PublicWheel `json:"wheel"`
}

// Config decides whether this visitor should see the wheel: not when it is
// turned off, nor for a known subscriber — by the logged-in Shopify
// customer, by a spin from this visitor id, or by the visitor's identified
// profile (visitors table of app/events, when present).
func (s *Service) Config(ctx context.Context, shopID int64, visitorID string, shopifyCustomerID int64) (Display, error) {
	w, err := s.load(ctx, s.d.DB, shopID, false)
	if err != nil {
		return Display{}, err
	}
	if !w.Enabled {
		return Display{Reason: "disabled"}, nil
	}
	// Don't ask for an email a spin would refuse (the count stops at the cap).
	var recent int
	if err := s.d.DB.GetContext(ctx, &recent, `SELECT count(*) FROM (SELECT 1 FROM spins WHERE shop_id = $1 AND code IS NOT NULL
		AND created_at > $2 LIMIT $3) AS r`, shopID, s.d.Now().Add(-24*time.Hour), w.Config.CodesPerDay()); err != nil {
		return Display{}, fmt.Errorf("wheel: count today's codes: %w", err)
	}
	if recent >= w.Config.CodesPerDay() {
		return Display{Reason: "daily_limit"}, nil
	}
	if shopifyCustomerID > 0 {
		var n int
		if err := s.d.DB.GetContext(ctx, &n, `SELECT count(*) FROM customers WHERE shop_id = $1 AND shopify_id = $2 AND email_consent = 'subscribed'`,
			shopID, shopifyCustomerID); err != nil {
			return Display{}, fmt.Errorf("wheel: subscriber check: %w", err)
		}
		if n > 0 {
			return Display{Reason: "subscribed"}, nil
		}
	}
	if visitorID != "" {
		var spun bool
		if err := s.d.DB.GetContext(ctx, &spun, `SELECT EXISTS (SELECT 1 FROM spins WHERE shop_id = $1 AND wheel_id = $2 AND visitor_id = $3)`,
			shopID, w.ID, visitorID); err != nil {
			return Display{}, fmt.Errorf("wheel: visitor check: %w", err)
		}
		if spun {
			return Display{Reason: "already_spun"}, nil
		}
		sub, err := s.d.Events.SubscribedVisitor(ctx, s.d.DB, shopID, visitorID)
		if err != nil {
			return Display{}, err
		}
		if sub {
			return Display{Reason: "subscribed"}, nil
		}
	}
	pw := Public(w.ID, w.Config)
	return Display{Show: true, Wheel: &pw}, nil
}

// SpinRequest is POST /proxy/spin.
type SpinRequest struct {
	Email     string `json:"email"`
	FirstName string `json:"first_name"`
	Phone     string `json:"phone"`
	Consent   bool   `json:"consent"`
	VisitorID string `json:"visitor_id"`
}

// Prize is what a spin won.
type Prize struct {
	Kind  string `json:"kind"`
	Value string `json:"value"`
}

// Result is a spin as the storefront sees it (POST /proxy/spin and
// GET /proxy/spin/:id).
type Result struct {
	SpinID     int64      `json:"spin_id"`
	SliceIndex int        `json:"slice_index"`
	Label      string     `json:"label"`
	Prize      Prize      `json:"prize"`
	Code       string     `json:"code"`
	CodeStatus string     `json:"code_status"`
	ExpiresAt  *time.Time `json:"expires_at"`
	ApplyURL   string     `json:"apply_url"`
	Message    string     `json:"message"`
}

var (
	visitorRe = regexp.MustCompile(`^[A-Za-z0-9_-]{8,64}$`)
	phoneRe   = regexp.MustCompile(`^\+?[0-9 ().-]{6,24}$`)
)

// ValidVisitorID reports whether id has the contract's visitor id format.
func ValidVisitorID(id string) bool { return visitorRe.MatchString(id) }

// clean validates and normalises a spin request.
func clean(r SpinRequest) (SpinRequest, error) {
	r.Email = strings.TrimSpace(r.Email)
	if msg := EmailProblem(r.Email); msg != "" {
		return r, &InputError{Field: "email", Message: msg}
	}
	r.FirstName = strings.TrimSpace(strings.Map(func(c rune) rune {
		if unicode.IsControl(c) {
			return -1
		}
		return c
	}, r.FirstName))
	if len([]rune(r.FirstName)) > 100 {
		return r, &InputError{Field: "first_name", Message: "Please keep your first name under 100 characters."}
	}
	r.Phone = strings.TrimSpace(r.Phone)
	if r.Phone != "" && !phoneRe.MatchString(r.Phone) {
		return r, &InputError{Field: "phone", Message: "Please enter a valid phone number, or leave it empty."}
	}
	if !r.Consent {
		return r, &InputError{Field: "consent", Message: "Please agree to receive our emails to spin the wheel."}
	}
	if !ValidVisitorID(r.VisitorID) {
		return r, &InputError{Field: "visitor_id", Message: "The page sent an invalid visitor id; please reload and try again."}
	}
	return r, nil
}

// spinRow is a stored spin.
type spinRow struct {
	ID         int64          `db:"id"`
	ShopID     int64          `db:"shop_id"`
	SliceIndex int            `db:"slice_index"`
	Label      string         `db:"label"`
	PrizeKind  string         `db:"prize_kind"`
	PrizeValue string         `db:"prize_value"`
	MinOrder   sql.NullString `db:"min_order"`
	Code       sql.NullString `db:"code"`
	CodeStatus string         `db:"code_status"`
	CodeError  string         `db:"code_error"`
	ExpiresAt  sql.NullTime   `db:"expires_at"`
	CreatedAt  time.Time      `db:"created_at"`
	EmailCode  bool           `db:"email_code"`
	NoPrizeMsg string         `db:"-"`
}

const spinColumns = `id, shop_id, slice_index, label, prize_kind, prize_value::text AS prize_value, min_order::text AS min_order,
	code, code_status, code_error, expires_at, created_at, email_code`

// Spin takes one spin: the server picks the slice, records the spin (one
// per email per wheel, whatever the case or spacing of the address),
// subscribes the shopper and queues everything that must follow, all in
// one transaction; then it tries to create the discount code while the
// shopper waits. If that fails the code is "pending" and the queued job
// keeps trying: the spin is never lost.
func (s *Service) Spin(ctx context.Context, shopID int64, req SpinRequest) (Result, error) {
	req, err := clean(req)
	if err != nil {
		return Result{}, err
	}
	if s.jobs == nil {
		return Result{}, errors.New("wheel: no job queue (QueueWith not called)")
	}
	now := s.d.Now()
	var row spinRow
	var noPrize string
	var cfg Config
	capReached := false
	err = db.InTx(ctx, s.d.DB, func(tx *sqlx.Tx) error {
		// The wheel row lock serialises the shop's spins, so the daily
		// code cap and the prize cap are exact under concurrent spins.
		w, err := s.load(ctx, tx, shopID, true)
		if err != nil {
			return err
		}
		if !w.Enabled {
			return ErrDisabled
		}
		cfg = w.Config
		noPrize = w.Config.Texts.NoPrize
		// Checked before anything about the address, so the answer does
		// not depend on who the address belongs to.
		var recent int
		if err := tx.GetContext(ctx, &recent, `SELECT count(*) FROM (SELECT 1 FROM spins WHERE shop_id = $1 AND code IS NOT NULL
			AND created_at > $2 LIMIT $3) AS r`, shopID, now.Add(-24*time.Hour), w.Config.CodesPerDay()); err != nil {
			return fmt.Errorf("wheel: count today's codes: %w", err)
		}
		if recent >= w.Config.CodesPerDay() {
			return ErrDailyLimit
		}
		// Before the address checks too: a decoy lands where a real spin
		// could.
		if w.Config.PrizeCap > 0 {
			var won int
			if err := tx.GetContext(ctx, &won, `SELECT count(*) FROM spins WHERE wheel_id = $1 AND prize_kind <> 'none'`, w.ID); err != nil {
				return fmt.Errorf("wheel: count prizes: %w", err)
			}
			capReached = won >= w.Config.PrizeCap
		}
		// A repeat is told it already spun, even once subscribed by that spin.
		var spun bool
		if err := tx.GetContext(ctx, &spun, `SELECT EXISTS (SELECT 1 FROM spins WHERE wheel_id = $1 AND email_key = lower(btrim($2)))`,
			w.ID, req.Email); err != nil {
			return fmt.Errorf("wheel: repeat check: %w", err)
		}
		if spun && w.Config.EmailCode {
			return errDecoy
		}
		if spun {
			return ErrAlreadySpun
		}
		var subscribed bool
		if err := tx.GetContext(ctx, &subscribed, `SELECT EXISTS (SELECT 1 FROM customers WHERE shop_id = $1 AND lower(email) = lower($2)
			AND email IS NOT NULL AND email_consent = 'subscribed' AND deleted_at IS NULL)`, shopID, req.Email); err != nil {
			return fmt.Errorf("wheel: subscriber check: %w", err)
		}
		if subscribed && w.Config.EmailCode {
			return errDecoy
		}
		if subscribed {
			return ErrAlreadySubscribed
		}
		s.rngMu.Lock()
		i := Pick(s.d.Rand, eligible(w.Config.Slices, capReached))
		s.rngMu.Unlock()
		if i < 0 {
			return fmt.Errorf("wheel: wheel %d has no slice to land on", w.ID)
		}
		sl := w.Config.Slices[i]
		var code sql.NullString
		var expires sql.NullTime
		var minOrder sql.NullString
		status := "none"
		if sl.Wins() {
			c, err := NewCode()
			if err != nil {
				return err
			}
			code = sql.NullString{String: c, Valid: true}
			expires = sql.NullTime{Time: now.Add(time.Duration(w.Config.PrizeExpiryDays) * 24 * time.Hour), Valid: true}
			if w.Config.MinOrderAmount != nil {
				minOrder = sql.NullString{String: w.Config.MinOrderAmount.StringFixed(2), Valid: true}
			}
			status = "pending"
		}
		// The unique constraint settles concurrent spins with one address:
		// the others wait for the first to commit, then insert nothing.
		err = tx.GetContext(ctx, &row, `
			INSERT INTO spins (shop_id, wheel_id, email, email_key, visitor_id, slice_index, label, prize_kind, prize_value,
				min_order, code, code_status, expires_at, created_at, email_code)
			VALUES ($1, $2, $3, lower(btrim($3)), $4, $5, $6, $7, $8, $9::numeric, $10, $11, $12, $13, $14)
			ON CONFLICT ON CONSTRAINT spins_one_per_email DO NOTHING
			RETURNING `+spinColumns,
			shopID, w.ID, req.Email, req.VisitorID, i, sl.Label, sl.PrizeKind, sl.PrizeValue.StringFixed(2),
			minOrder, code, status, expires, now, w.Config.EmailCode && sl.Wins())
		if errors.Is(err, sql.ErrNoRows) {
			if w.Config.EmailCode {
				return errDecoy
			}
			return ErrAlreadySpun
		}
		if err != nil {
			return fmt.Errorf("wheel: record spin: %w", err)
		}

		prof, err := s.d.Customers.UpsertSignup(ctx, tx, shopID, customers.Signup{
			Email: req.Email, FirstName: req.FirstName, Phone: req.Phone, Source: "wheel"})
		if err != nil {
			return err
		}
		if err := storesync.ChangeConsent(ctx, tx, s.d.Customers, s.jobs, shopID, customers.ConsentChange{
			CustomerID: prof.ID, State: customers.ConsentSubscribed, OptInLevel: "single_opt_in", Source: "wheel", At: now,
		}); err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, `UPDATE spins SET customer_id = $2, subscribed = $3 WHERE id = $1`,
			row.ID, prof.ID, prof.Consent != customers.ConsentSubscribed); err != nil {
			return fmt.Errorf("wheel: link spin %d: %w", row.ID, err)
		}
		if err := s.d.Events.Identify(ctx, tx, shopID, req.VisitorID, prof.ID); err != nil {
			return err
		}
		if err := s.d.Events.RecordServer(ctx, tx, shopID, req.VisitorID, prof.ID, "subscribed", map[string]any{
			"source": "wheel", "spin_id": row.ID, "wheel_id": w.ID, "prize_kind": sl.PrizeKind,
		}); err != nil {
			return err
		}
		// A new or changed profile (with back-filled browsing) and a
		// "subscribed" event; ChangeConsent recorded the consent change.
		profile := signals.Signal{ShopID: shopID, CustomerID: prof.ID, Kind: signals.ProfileChanged}
		if prof.Created {
			profile.Kind, profile.Data = signals.CustomerCreated, signals.Data(map[string]any{"source": "wheel"})
		}
		if err := signals.Record(ctx, tx.Tx, profile,
			signals.Signal{ShopID: shopID, CustomerID: prof.ID, Kind: signals.StorefrontEvent, Ref: "subscribed"}); err != nil {
			return fmt.Errorf("wheel: %w", err)
		}
		if sl.Wins() {
			// Queued now, in the spin's transaction, so the code gets made
			// even if this process dies right after the commit; the
			// attempt below usually settles it first and the job finds
			// nothing to do. A code that goes by email is made by the job
			// alone, at once: the shopper doesn't wait for it, and the
			// answer takes as long as a decoy's.
			at := now.Add(s.d.RetryDelay)
			if w.Config.EmailCode {
				at = now
			}
			if _, err := s.jobs.InsertTx(ctx, tx.Tx, CreateCodeArgs{ShopID: shopID, SpinID: row.ID},
				&river.InsertOpts{ScheduledAt: at}); err != nil {
				return fmt.Errorf("wheel: queue code for spin %d: %w", row.ID, err)
			}
		}
		return nil
	})
	if errors.Is(err, errDecoy) {
		return s.decoy(cfg, capReached), nil
	}
	if err != nil {
		return Result{}, err
	}
	row.NoPrizeMsg = noPrize
	if cfg.EmailCode {
		return emailed(row), nil
	}
	if row.CodeStatus == "pending" {
		cctx, cancel := context.WithTimeout(ctx, s.d.CodeTimeout)
		err := s.createCode(cctx, shopID, row.ID)
		cancel()
		if err != nil {
			s.d.Log.Warn("wheel: discount code not created yet; the job will retry", "shop_id", shopID, "spin", row.ID, "err", err)
			// The shopper is told now, not left polling: the code is
			// emailed once the job has made it.
			if _, uerr := s.d.DB.ExecContext(context.WithoutCancel(ctx), `UPDATE spins SET email_code = true WHERE id = $1 AND code_status = 'pending'`,
				row.ID); uerr != nil {
				s.d.Log.Error("wheel: mark code to email", "spin", row.ID, "err", uerr)
			}
		}
		if r, lerr := s.spin(ctx, shopID, row.ID, ""); lerr == nil {
			r.NoPrizeMsg = noPrize
			row = r
		}
	}
	return result(row), nil
}

// SpinStatus is a spin for GET /proxy/spin/:id: only the shop's own, and
// only to the visitor who spun it.
func (s *Service) SpinStatus(ctx context.Context, shopID, spinID int64, visitorID string) (Result, error) {
	if !ValidVisitorID(visitorID) {
		return Result{}, ErrNotFound
	}
	r, err := s.spin(ctx, shopID, spinID, visitorID)
	if err != nil {
		return Result{}, err
	}
	if r.PrizeKind == PrizeNone {
		if w, err := s.load(ctx, s.d.DB, shopID, false); err == nil {
			r.NoPrizeMsg = w.Config.Texts.NoPrize
		}
	}
	return result(r), nil
}

func (s *Service) spin(ctx context.Context, shopID, spinID int64, visitorID string) (spinRow, error) {
	var r spinRow
	q := `SELECT ` + spinColumns + ` FROM spins WHERE shop_id = $1 AND id = $2`
	args := []any{shopID, spinID}
	if visitorID != "" {
		q += ` AND visitor_id = $3`
		args = append(args, visitorID)
	}
	err := s.d.DB.GetContext(ctx, &r, q, args...)
	if errors.Is(err, sql.ErrNoRows) {
		return spinRow{}, ErrNotFound
	}
	if err != nil {
		return spinRow{}, fmt.Errorf("wheel: spin %d: %w", spinID, err)
	}
	return r, nil
}

func result(r spinRow) Result {
	out := Result{SpinID: r.ID, SliceIndex: r.SliceIndex, Label: r.Label, CodeStatus: r.CodeStatus,
		Prize: Prize{Kind: r.PrizeKind, Value: prizeValue(r.PrizeKind, r.PrizeValue)}}
	if r.Code.Valid {
		out.Code = r.Code.String
		out.ApplyURL = "/discount/" + r.Code.String
	}
	if r.ExpiresAt.Valid {
		t := r.ExpiresAt.Time.UTC()
		out.ExpiresAt = &t
	}
	switch r.CodeStatus {
	case "created":
		out.Message = fmt.Sprintf("You won %s! Use code %s at checkout before %s.", r.Label, out.Code, out.ExpiresAt.Format("January 2, 2006"))
	case "pending":
		out.Message = fmt.Sprintf("You won %s! We're still creating your code; it will appear here in a moment.", r.Label)
		if r.EmailCode {
			out.Message = fmt.Sprintf("You won %s! Your code is taking longer than usual to create. We'll email it to you as soon as it's ready, usually within a few minutes.", r.Label)
		}
	case "failed":
		out.Message = fmt.Sprintf("You won %s, but we couldn't create your code. Please contact the store with your email address and they'll sort it out.", r.Label)
		out.Code, out.ApplyURL = "", ""
	default:
		out.Message = r.NoPrizeMsg
		if out.Message == "" {
			out.Message = "No prize this time, but thanks for subscribing!"
		}
	}
	if r.CodeStatus == "pending" {
		// The code is not usable until Shopify has it.
		out.Code, out.ApplyURL = "", ""
	}
	return out
}

// emailed is the answer of a spin on an email-the-code wheel: the slice
// and the prize, never the code, nor anything that tells a new address
// from one already on the list (no spin id to poll, no expiry).
func emailed(r spinRow) Result {
	out := Result{SliceIndex: r.SliceIndex, Label: r.Label, CodeStatus: "emailed",
		Prize: Prize{Kind: r.PrizeKind, Value: prizeValue(r.PrizeKind, r.PrizeValue)}}
	if r.PrizeKind == PrizeNone {
		out.CodeStatus = "none"
		out.Message = r.NoPrizeMsg
		if out.Message == "" {
			out.Message = "No prize this time, but thanks for subscribing!"
		}
		return out
	}
	out.Message = fmt.Sprintf("You won %s! Check your inbox: we're emailing your code to the address you entered.", r.Label)
	return out
}

// decoy is the answer for an address that may not spin again on an
// email-the-code wheel: a slice drawn with the wheel's odds, told exactly
// like a real spin, with nothing recorded or sent.
func (s *Service) decoy(c Config, capReached bool) Result {
	s.rngMu.Lock()
	i := Pick(s.d.Rand, eligible(c.Slices, capReached))
	s.rngMu.Unlock()
	if i < 0 {
		i = 0
	}
	sl := c.Slices[i]
	return emailed(spinRow{SliceIndex: i, Label: sl.Label, PrizeKind: sl.PrizeKind, PrizeValue: sl.PrizeValue.StringFixed(2),
		NoPrizeMsg: c.Texts.NoPrize})
}

// prizeValue is the value as the contract shows it ("10", "7.50"; "" when
// the kind has none).
func prizeValue(kind, v string) string {
	switch kind {
	case PrizePercentage:
		return strings.TrimSuffix(strings.TrimSuffix(v, ".00"), ".0")
	case PrizeFixedAmount:
		return strings.TrimSuffix(v, ".00")
	}
	return ""
}
