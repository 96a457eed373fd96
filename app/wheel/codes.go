package wheel

import (
	"context"
	crand "crypto/rand"
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/jmoiron/sqlx"
	"github.com/riverqueue/river"

	"github.com/cartwheel/cartwheel/app/db"
	"github.com/cartwheel/cartwheel/app/shops"
)

// codeAlphabet leaves out 0/O and 1/I, which shoppers misread; 32
// symbols so a random byte maps onto it without bias.
const codeAlphabet = "23456789ABCDEFGHJKLMNPQRSTUVWXYZ"

// NewCode returns a random code "CW-XXXXXXXX" (40 bits of randomness).
func NewCode() (string, error) {
	var b [8]byte
	if _, err := crand.Read(b[:]); err != nil {
		return "", fmt.Errorf("wheel: random code: %w", err)
	}
	out := make([]byte, 0, 11)
	out = append(out, "CW-"...)
	for _, x := range b {
		out = append(out, codeAlphabet[x%32])
	}
	return string(out), nil
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

type discountUserError struct {
	Field   []string `json:"field"`
	Message string   `json:"message"`
	Code    string   `json:"code"`
}

const basicCodeMutation = `mutation discountCodeBasicCreate($basicCodeDiscount: DiscountCodeBasicInput!) {
  discountCodeBasicCreate(basicCodeDiscount: $basicCodeDiscount) {
    codeDiscountNode { id }
    userErrors { field message code }
  }
}`

const freeShippingMutation = `mutation discountCodeFreeShippingCreate($freeShippingCodeDiscount: DiscountCodeFreeShippingInput!) {
  discountCodeFreeShippingCreate(freeShippingCodeDiscount: $freeShippingCodeDiscount) {
    codeDiscountNode { id }
    userErrors { field message code }
  }
}`

const codeLookupQuery = `query codeDiscountNodeByCode($code: String!) {
  codeDiscountNodeByCode(code: $code) { id }
}`

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
	mutation, root, varName, input := discountInput(sp)
	var out map[string]struct {
		Node *struct {
			ID string `json:"id"`
		} `json:"codeDiscountNode"`
		UserErrors []discountUserError `json:"userErrors"`
	}
	if err := s.d.API.GraphQL(ctx, sh.Domain, token, mutation, map[string]any{varName: input}, &out); err != nil {
		s.noteError(ctx, spinID, err)
		return fmt.Errorf("wheel: create code for spin %d: %w", spinID, err)
	}
	res := out[root]
	if len(res.UserErrors) == 0 && res.Node != nil {
		return s.markCode(ctx, spinID, "created", res.Node.ID, "")
	}
	if taken(res.UserErrors) {
		var found struct {
			Node *struct {
				ID string `json:"id"`
			} `json:"codeDiscountNodeByCode"`
		}
		if err := s.d.API.GraphQL(ctx, sh.Domain, token, codeLookupQuery, map[string]any{"code": sp.Code.String}, &found); err != nil {
			s.noteError(ctx, spinID, err)
			return fmt.Errorf("wheel: look up code of spin %d: %w", spinID, err)
		}
		if found.Node != nil {
			return s.markCode(ctx, spinID, "created", found.Node.ID, "")
		}
	}
	msgs := make([]string, 0, len(res.UserErrors))
	for _, ue := range res.UserErrors {
		msgs = append(msgs, strings.Join(ue.Field, ".")+": "+ue.Message)
	}
	if len(msgs) == 0 {
		msgs = append(msgs, "Shopify returned no discount")
	}
	return s.fail(ctx, spinID, root+": "+strings.Join(msgs, "; "))
}

func taken(errs []discountUserError) bool {
	for _, e := range errs {
		if e.Code == "TAKEN" || strings.Contains(strings.ToLower(e.Message), "unique") || strings.Contains(strings.ToLower(e.Message), "taken") {
			return true
		}
	}
	return false
}

// discountInput builds the mutation for the spin's prize: a single-use
// code for one customer, for the whole order, expiring with the prize.
func discountInput(sp spinRow) (mutation, root, varName string, input map[string]any) {
	title := "Cartwheel signup wheel: " + sp.Label + " (" + sp.Code.String + ")"
	input = map[string]any{
		"title":                  title,
		"code":                   sp.Code.String,
		"startsAt":               sp.CreatedAt.UTC().Format(time.RFC3339),
		"usageLimit":             1,
		"appliesOncePerCustomer": true,
		"context":                map[string]any{"all": "ALL"},
	}
	if sp.ExpiresAt.Valid {
		input["endsAt"] = sp.ExpiresAt.Time.UTC().Format(time.RFC3339)
	}
	if sp.MinOrder.Valid {
		input["minimumRequirement"] = map[string]any{"subtotal": map[string]any{"greaterThanOrEqualToSubtotal": sp.MinOrder.String}}
	}
	if sp.PrizeKind == PrizeFreeShipping {
		input["destination"] = map[string]any{"all": true}
		return freeShippingMutation, "discountCodeFreeShippingCreate", "freeShippingCodeDiscount", input
	}
	value := map[string]any{}
	if sp.PrizeKind == PrizePercentage {
		// Shopify takes a fraction: 0.1 is 10 % off.
		value["percentage"] = percentFraction(sp.PrizeValue)
	} else {
		value["discountAmount"] = map[string]any{"amount": sp.PrizeValue, "appliesOnEachItem": false}
	}
	input["customerGets"] = map[string]any{"value": value, "items": map[string]any{"all": true}}
	return basicCodeMutation, "discountCodeBasicCreate", "basicCodeDiscount", input
}

func percentFraction(v string) float64 {
	var f float64
	fmt.Sscanf(v, "%g", &f)
	return f / 100
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
