package flows

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/riverqueue/river"

	"github.com/cartwheel/cartwheel/app/email/ledger"
	"github.com/cartwheel/cartwheel/app/email/sender"
	"github.com/cartwheel/cartwheel/app/jobs"
	"github.com/cartwheel/cartwheel/app/shopify"
	"github.com/cartwheel/cartwheel/app/shops"
)

// A send step with a discount reserves its email with a fresh code in the
// ledger row's context, then this job creates the code in Shopify and only
// then queues the delivery: the email never names a code that doesn't
// exist. The code is valid from the reservation for the step's Expiry
// (e.g. 24 h for "today only").

// SkipDiscountFailed is the ledger skip reason when Shopify refused the
// code or kept failing.
const SkipDiscountFailed = "discount_failed"

// DefaultDiscountExpiry applies when a discount step doesn't set one.
const DefaultDiscountExpiry = 72 * time.Hour

// DiscountArgs creates the code of one reserved flow email.
type DiscountArgs struct {
	ShopID    int64 `json:"shop_id"`
	MessageID int64 `json:"message_id"`
}

// Kind implements river.JobArgs.
func (DiscountArgs) Kind() string { return "flows.create_discount" }

// InsertOpts: a dozen attempts ride out a Shopify incident of some hours.
func (DiscountArgs) InsertOpts() river.InsertOpts {
	return river.InsertOpts{Queue: Queue, MaxAttempts: 12}
}

// ShopAccess is what the discount job reads of shops (*shops.Store).
type ShopAccess interface {
	ByID(ctx context.Context, id int64) (shops.Shop, error)
	AccessToken(ctx context.Context, shopID int64) (string, error)
}

// DiscountWorker runs DiscountArgs.
type DiscountWorker struct {
	river.WorkerDefaults[DiscountArgs]
	E     *Engine
	API   shopify.GraphQLer
	Shops ShopAccess
	Jobs  jobs.Inserter
}

// Timeout bounds one attempt.
func (w *DiscountWorker) Timeout(*river.Job[DiscountArgs]) time.Duration { return time.Minute }

// Work implements river.Worker.
func (w *DiscountWorker) Work(ctx context.Context, j *river.Job[DiscountArgs]) error {
	shopID, id := j.Args.ShopID, j.Args.MessageID
	m, err := ledger.Get(ctx, w.E.DB, shopID, id)
	if errors.Is(err, ledger.ErrNotFound) {
		return nil
	}
	if err != nil {
		return err
	}
	if m.Status != ledger.Queued {
		return nil
	}
	skip := func(why string) error {
		w.E.log().Warn("flows: discount email not sent", "shop_id", shopID, "message", id, "reason", why)
		_, err := ledger.MarkSkipped(ctx, w.E.DB, shopID, id, SkipDiscountFailed)
		return err
	}
	def, err := w.E.version(ctx, w.E.DB, shopID, m.FlowID, m.FlowVersion)
	if err != nil {
		return err
	}
	step := def.tree.step[m.FlowStep]
	code := m.Context[ledger.ContextDiscountCode]
	if step == nil || step.Discount == nil || code == "" {
		return skip("the step or its code is gone")
	}
	sh, err := w.Shops.ByID(ctx, shopID)
	if errors.Is(err, shops.ErrNotFound) {
		return skip("shop not found")
	}
	if err != nil {
		return err
	}
	if !sh.Installed() {
		return skip("the app is not installed")
	}
	token, err := w.Shops.AccessToken(ctx, shopID)
	if err != nil {
		return err
	}
	_, err = shopify.CreateCodeDiscount(ctx, w.API, sh.Domain, token, codeFor(step.Discount, code, m.CreatedAt, m.FlowID))
	if errors.Is(err, shopify.ErrDiscountRefused) {
		return skip(err.Error())
	}
	if err != nil {
		if j.Attempt >= j.MaxAttempts {
			return skip(err.Error())
		}
		return fmt.Errorf("flows: discount for message %d: %w", id, err)
	}
	tx, err := w.E.DB.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer tx.Rollback()
	if err := sender.EnqueueDeliver(ctx, tx, w.Jobs, shopID, id); err != nil {
		return err
	}
	return tx.Commit()
}

// codeFor is the step's discount as a Shopify code.
func codeFor(d *Discount, code string, from time.Time, flowID int64) shopify.CodeDiscount {
	exp := d.Expiry.D()
	if exp <= 0 {
		exp = DefaultDiscountExpiry
	}
	c := shopify.CodeDiscount{
		Title: "Cartwheel flow " + strconv.FormatInt(flowID, 10) + " (" + code + ")", Code: code,
		Kind: d.Kind, Value: strconv.FormatFloat(d.Value, 'f', -1, 64),
		StartsAt: from, EndsAt: from.Add(exp),
	}
	if d.Scope == "collection" {
		c.CollectionID = d.CollectionID
	}
	return c
}
