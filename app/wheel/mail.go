package wheel

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"html"
	"strconv"
	"time"

	"github.com/riverqueue/river"

	"github.com/cartwheel/cartwheel/app/email/ledger"
	"github.com/cartwheel/cartwheel/app/email/sender"
	"github.com/cartwheel/cartwheel/app/jobs"
	"github.com/cartwheel/cartwheel/app/shops"
)

// Mailer sends one email (app/email/sender): the ledger row it writes
// first makes the code email go out at most once.
type Mailer interface {
	Send(ctx context.Context, req sender.Request) (sender.Result, error)
}

// MailWith sets the mailer (built after the wheel's workers are
// registered, like the job queue).
func (s *Service) MailWith(m Mailer) { s.mail = m }

// EmailCodeArgs is the job that emails a spin's code once it exists. It
// carries references only: the address and the code are read when it runs.
type EmailCodeArgs struct {
	ShopID int64 `json:"shop_id"`
	SpinID int64 `json:"spin_id"`
}

// Kind names the job in River.
func (EmailCodeArgs) Kind() string { return "wheel.email_code" }

// InsertOpts: on the email queue, so the shopper's code never waits behind
// an import; the sender retries provider hiccups, and a dozen attempts cover
// an outage of a few hours.
func (EmailCodeArgs) InsertOpts() river.InsertOpts {
	return river.InsertOpts{Queue: jobs.QueueEmail, MaxAttempts: 12}
}

// EmailWorker is the River worker for EmailCodeArgs.
type EmailWorker struct {
	river.WorkerDefaults[EmailCodeArgs]
	s *Service
}

// EmailWorker returns the code email worker.
func (s *Service) EmailWorker() *EmailWorker { return &EmailWorker{s: s} }

// Timeout bounds one attempt.
func (w *EmailWorker) Timeout(*river.Job[EmailCodeArgs]) time.Duration { return time.Minute }

// Work sends the code email: transactional (it answers the shopper's own
// spin), so the sender checks suppression but not marketing consent.
func (w *EmailWorker) Work(ctx context.Context, job *river.Job[EmailCodeArgs]) error {
	s := w.s
	if s.mail == nil {
		return errors.New("wheel: no mailer (MailWith not called)")
	}
	var sp struct {
		spinRow
		Email      string `db:"email"`
		CustomerID *int64 `db:"customer_id"`
	}
	err := s.d.DB.GetContext(ctx, &sp, `SELECT `+spinColumns+`, email, customer_id FROM spins WHERE shop_id = $1 AND id = $2`,
		job.Args.ShopID, job.Args.SpinID)
	if err != nil {
		if errors.Is(err, sql.ErrNoRows) {
			return nil // erased meanwhile (customers/redact)
		}
		return fmt.Errorf("wheel: code email for spin %d: %w", job.Args.SpinID, err)
	}
	if sp.CodeStatus != "created" || !sp.Code.Valid {
		return nil
	}
	sh, err := s.d.Shops.ByID(ctx, job.Args.ShopID)
	if errors.Is(err, shops.ErrNotFound) {
		return nil
	}
	if err != nil {
		return err
	}
	var cust int64
	if sp.CustomerID != nil {
		cust = *sp.CustomerID
	}
	subject, htmlBody, text := codeEmail(sh, sp.spinRow)
	res, err := s.mail.Send(ctx, sender.Request{
		ShopID: job.Args.ShopID, CustomerID: cust, To: sp.Email, Kind: ledger.KindSystem,
		DedupeKey: "wheel_code:" + strconv.FormatInt(job.Args.SpinID, 10), Marketing: false,
		Subject: subject, HTML: htmlBody, Text: text, Categories: []string{"wheel_code"},
	})
	if err != nil {
		return err
	}
	if res.Outcome == sender.OutcomeSkipped {
		s.d.Log.Warn("wheel: code email not sent", "shop_id", job.Args.ShopID, "spin", job.Args.SpinID, "reason", res.SkipReason)
	}
	return nil
}

// codeEmail composes the code email from the spin at send time.
func codeEmail(sh shops.Shop, sp spinRow) (subject, htmlBody, text string) {
	store := sh.Name
	if store == "" {
		store = sh.Domain
	}
	apply := "https://" + sh.Domain + "/discount/" + sp.Code.String
	expiry := ""
	if sp.ExpiresAt.Valid {
		expiry = sp.ExpiresAt.Time.UTC().Format("January 2, 2006")
	}
	subject = fmt.Sprintf("Your %s code from %s", sp.Label, store)
	text = fmt.Sprintf("You won %s on %s's wheel.\n\nYour code: %s\n", sp.Label, store, sp.Code.String)
	if expiry != "" {
		text += "Use it at checkout before " + expiry + ".\n"
	}
	text += "\nApply it to your cart: " + apply + "\n"
	e := html.EscapeString
	htmlBody = `<!doctype html><html><body style="font-family:Arial,sans-serif;color:#111;margin:0;padding:24px">` +
		`<table role="presentation" width="100%" cellpadding="0" cellspacing="0"><tr><td align="center">` +
		`<table role="presentation" width="480" cellpadding="0" cellspacing="0" style="max-width:480px;width:100%">` +
		`<tr><td style="font-size:20px;font-weight:bold;padding-bottom:12px">You won ` + e(sp.Label) + `!</td></tr>` +
		`<tr><td style="padding-bottom:12px">Here is your code for ` + e(store) + `:</td></tr>` +
		`<tr><td style="font-size:24px;font-family:monospace;letter-spacing:2px;padding:12px;border:1px dashed #111;text-align:center">` + e(sp.Code.String) + `</td></tr>`
	if expiry != "" {
		htmlBody += `<tr><td style="padding-top:12px">Use it at checkout before ` + e(expiry) + `.</td></tr>`
	}
	htmlBody += `<tr><td style="padding-top:16px"><a href="` + e(apply) + `" style="background:#111;color:#fff;padding:10px 16px;text-decoration:none;border-radius:4px">Apply to my cart</a></td></tr>` +
		`</table></td></tr></table></body></html>`
	return subject, htmlBody, text
}
