package wheel

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/jmoiron/sqlx"
	"github.com/riverqueue/river"

	"github.com/cartwheel/cartwheel/app/db"
	"github.com/cartwheel/cartwheel/app/shopify"
	"github.com/cartwheel/cartwheel/app/shops"
)

// NewCode returns a random code "CW-XXXXXXXX" (40 bits of randomness).
func NewCode() (string, error) {
	c, err := shopify.NewDiscountCode("CW")
	if err != nil {
		return "", fmt.Errorf("wheel: %w", err)
	}
	return c, nil
}

// CreateCodeArgs is the job that creates a spin's discount code in Shopify
// until it exists or the attempts run out.
type CreateCodeArgs struct {
	ShopID int64 `json:"shop_id"`
	SpinID int64 `json:"spin_id"`
}

// Kind names the job in River.
func (CreateCodeArgs) Kind() string { return "wheel.create_code" }

// InsertOpts: River's backoff (attempt⁴ seconds) over 12 attempts spans
// about eleven hours, longer than a Shopify incident usually lasts and
// short enough that the shopper still cares.
func (CreateCodeArgs) InsertOpts() river.InsertOpts { return river.InsertOpts{MaxAttempts: 12} }

// CodeWorker is the River worker for CreateCodeArgs.
type CodeWorker struct {
	river.WorkerDefaults[CreateCodeArgs]
	s *Service
}

// Worker returns the job worker.
func (s *Service) Worker() *CodeWorker { return &CodeWorker{s: s} }

// Timeout bounds one attempt.
func (w *CodeWorker) Timeout(*river.Job[CreateCodeArgs]) time.Duration { return time.Minute }

// Work tries once; a permanent refusal or the last failed attempt marks the
// spin's code failed, so the shopper is told rather than left waiting.
func (w *CodeWorker) Work(ctx context.Context, job *river.Job[CreateCodeArgs]) error {
	err := w.s.createCode(ctx, job.Args.ShopID, job.Args.SpinID)
	var perm *permanentError
	switch {
	case err == nil:
		return nil
	case errors.As(err, &perm):
		return river.JobCancel(err)
	case job.Attempt >= job.MaxAttempts:
		if ferr := w.s.markCode(context.WithoutCancel(ctx), job.Args.SpinID, "failed", "", err.Error()); ferr != nil {
			return errors.Join(err, ferr)
		}
		return err
	}
	return err
}

// permanentError is a refusal retrying can't change; the spin is already
// marked failed when it is returned.
type permanentError struct{ err error }

func (e *permanentError) Error() string { return e.err.Error() }
func (e *permanentError) Unwrap() error { return e.err }

// createCode asks Shopify for the spin's code, unless it exists already.
// A transport error may hide a success, so "code already taken" is checked
// against Shopify: if the code is there, it is ours.
func (s *Service) createCode(ctx context.Context, shopID, spinID int64) error {
	sp, err := s.spin(ctx, shopID, spinID, "")
	if errors.Is(err, ErrNotFound) {
		return nil // erased meanwhile (customers/redact)
	}
	if err != nil {
		return err
	}
	if sp.CodeStatus != "pending" {
		return nil
	}
	sh, err := s.d.Shops.ByID(ctx, shopID)
	if errors.Is(err, shops.ErrNotFound) {
		return nil
	}
	if err != nil {
		return err
	}
	if !sh.Installed() {
		return s.fail(ctx, spinID, "the app is not installed on the shop")
	}
	token, err := s.d.Shops.AccessToken(ctx, shopID)
	if err != nil {
		return err
	}
	id, err := shopify.CreateCodeDiscount(ctx, s.d.API, sh.Domain, token, discountFor(sp))
	if errors.Is(err, shopify.ErrDiscountRefused) {
		return s.fail(ctx, spinID, strings.TrimPrefix(err.Error(), shopify.ErrDiscountRefused.Error()+": "))
	}
	if err != nil {
		s.noteError(ctx, spinID, err)
		return fmt.Errorf("wheel: create code for spin %d: %w", spinID, err)
	}
	return s.markCode(ctx, spinID, "created", id, "")
}

// discountFor is the spin's prize as a Shopify code: single use, for the
// whole order, expiring with the prize.
func discountFor(sp spinRow) shopify.CodeDiscount {
	d := shopify.CodeDiscount{
		Title: "Cartwheel signup wheel: " + sp.Label + " (" + sp.Code.String + ")",
		Code:  sp.Code.String, Value: sp.PrizeValue, StartsAt: sp.CreatedAt,
	}
	if sp.ExpiresAt.Valid {
		d.EndsAt = sp.ExpiresAt.Time
	}
	if sp.MinOrder.Valid {
		d.MinSubtotal = sp.MinOrder.String
	}
	switch sp.PrizeKind {
	case PrizeFreeShipping:
		d.Kind = shopify.DiscountFreeShipping
	case PrizePercentage:
		d.Kind = shopify.DiscountPercentage
	default:
		d.Kind = shopify.DiscountFixedAmount
	}
	return d
}

// markCode settles a pending code. A code that is to be emailed (the
// merchant's choice, or one the shopper could not wait for) queues its
// email in the same transaction as it becomes created, so it is sent
// exactly when the code exists.
func (s *Service) markCode(ctx context.Context, spinID int64, status, discountID, msg string) error {
	return db.InTx(ctx, s.d.DB, func(tx *sqlx.Tx) error {
		var row struct {
			ShopID    int64 `db:"shop_id"`
			EmailCode bool  `db:"email_code"`
		}
		err := tx.GetContext(ctx, &row, `UPDATE spins SET code_status = $2, discount_id = $3, code_error = $4
			WHERE id = $1 AND code_status = 'pending' RETURNING shop_id, email_code`, spinID, status, discountID, truncate(msg, 500))
		if errors.Is(err, sql.ErrNoRows) {
			return nil // settled already
		}
		if err != nil {
			return fmt.Errorf("wheel: mark code of spin %d %s: %w", spinID, status, err)
		}
		if status != "created" || !row.EmailCode {
			return nil
		}
		if s.jobs == nil {
			return errors.New("wheel: no job queue (QueueWith not called)")
		}
		if _, err := s.jobs.InsertTx(ctx, tx.Tx, EmailCodeArgs{ShopID: row.ShopID, SpinID: spinID}, nil); err != nil {
			return fmt.Errorf("wheel: queue code email for spin %d: %w", spinID, err)
		}
		return nil
	})
}

// fail marks the code failed for good.
func (s *Service) fail(ctx context.Context, spinID int64, msg string) error {
	if err := s.markCode(ctx, spinID, "failed", "", msg); err != nil {
		return err
	}
	s.d.Log.Error("wheel: discount code refused", "spin", spinID, "reason", msg)
	return &permanentError{err: fmt.Errorf("wheel: code for spin %d: %s", spinID, msg)}
}

// noteError keeps the latest transient error for the merchant's eyes; the
// code stays pending.
func (s *Service) noteError(ctx context.Context, spinID int64, err error) {
	if _, e := s.d.DB.ExecContext(context.WithoutCancel(ctx), `UPDATE spins SET code_error = $2 WHERE id = $1 AND code_status = 'pending'`,
		spinID, truncate(err.Error(), 500)); e != nil {
		s.d.Log.Error("wheel: note code error", "spin", spinID, "err", e)
	}
}
