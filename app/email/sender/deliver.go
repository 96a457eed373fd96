package sender

import (
	"context"
	"errors"
	"strconv"
	"strings"
	"time"

	"github.com/cartwheel/cartwheel/app/email"
	"github.com/cartwheel/cartwheel/app/email/compose"
	"github.com/cartwheel/cartwheel/app/email/ledger"
	"github.com/cartwheel/cartwheel/app/email/render"
)

// Deliver sends the shop's reserved ledger rows ids (a batch queued by
// EnqueueDeliver). What is per shop — the shop, its settings, the sender
// verification, each template compiled — is read once for the batch; what
// is per recipient — a deleted profile, suppression, consent, caps, and
// for campaign emails the daily limit (over it, they wait for the shop's
// next day: see dailyBudget) — is checked for each message right before it goes, and the email is composed
// then from the template, the profile as it is now and the row's context.
//
// Every guarantee of Send holds per row: only a queued row is claimed and
// sent; a row another worker holds is left to it; a row left in sending by
// a dead worker is failed, never resent. A retryable provider error puts
// that row back to queued and ends the batch with the error (the job
// retries; rows already settled are not touched again). Ids of another shop
// or of no row are ignored.
func (s *Sender) Deliver(ctx context.Context, shopID int64, ids []int64) ([]Result, error) {
	msgs, err := ledger.GetMany(ctx, s.d.DB, shopID, ids)
	if err != nil {
		return nil, err
	}
	results := make([]Result, 0, len(msgs))
	var queued []ledger.Message
	for _, m := range msgs {
		if m.Status == ledger.Queued {
			queued = append(queued, m)
			continue
		}
		r, _, err := s.settle(ctx, m)
		if err != nil {
			return results, err
		}
		results = append(results, r)
	}
	if len(queued) == 0 {
		return results, nil
	}

	// Once per batch.
	sh, reason, err := s.shopChecks(ctx, shopID)
	if err != nil {
		return results, err
	}
	if reason == "" && strings.TrimSpace(sh.settings.PostalAddress) == "" {
		reason = SkipNoPostalAddress // every composed email shows it
	}
	if reason != "" {
		for _, m := range queued {
			r, err := s.skip(ctx, shopID, m.ID, reason)
			if err != nil {
				return results, err
			}
			results = append(results, r)
		}
		return results, nil
	}
	b := &batch{shopID: shopID, state: sh, shop: compose.Shop(sh.shop, sh.settings),
		templates: compose.NewTemplates(s.d.Templates, shopID)}

	for _, m := range queued {
		if err := ctx.Err(); err != nil {
			// Stopping (shutdown, timeout): the rest stay queued for the retry.
			return results, err
		}
		held := m.Kind == ledger.KindCampaign && m.Marketing && sh.settings.DailySendLimit > 0
		if held && b.daily == nil {
			if b.daily, err = s.readDailyBudget(ctx, shopID, sh.settings, time.Now()); err != nil {
				return results, err
			}
		}
		if held && b.daily.left <= 0 {
			// Over today's limit: this and the rest stay queued until the
			// shop's next day (the job snoozes until then).
			return results, heldUntilTomorrow(b.daily, time.Now())
		}
		r, err := s.deliverOne(ctx, b, m)
		results = append(results, r)
		if err != nil {
			return results, err
		}
		if b.daily != nil && m.Marketing && r.Outcome == OutcomeSent {
			b.daily.left--
		}
	}
	return results, nil
}

// batch is what Deliver reads once for all its messages.
type batch struct {
	shopID    int64
	state     shopState
	shop      render.Shop
	templates *compose.Templates
	// daily is the shop's daily limit left, read at the first campaign
	// email of the batch when the shop has a limit.
	daily *dailyBudget
}

// deliverOne checks, composes and hands over one queued row.
func (s *Sender) deliverOne(ctx context.Context, b *batch, m ledger.Message) (Result, error) {
	rc := recipientCheck{MessageID: m.ID, To: m.To, Kind: m.Kind, Marketing: m.Marketing}
	var reason string
	switch {
	case m.CustomerID.Valid:
		rc.CustomerID = m.CustomerID.Int64
		p, err := s.profile(ctx, b.shopID, rc.CustomerID)
		if err != nil {
			return Result{MessageID: m.ID}, err
		}
		rc.Profile = p
		// The address is the profile's as it is now: a customer who
		// changed it gets the email at the new one.
		rc.To = p.Email
		if p.Found && !p.Deleted.Valid && p.Email == "" {
			reason = SkipNoAddress
		}
	case m.To == "":
		// The profile was erased (customers/redact) after the row was queued.
		reason = SkipCustomerDeleted
	}
	if reason == "" {
		var err error
		if reason, err = s.recipientChecks(ctx, b.shopID, b.state.settings, rc); err != nil {
			return Result{MessageID: m.ID}, err
		}
	}
	if reason != "" {
		return s.skip(ctx, b.shopID, m.ID, reason)
	}

	// A campaign's subject and preheader (its own or its A/B variant's)
	// replace the template's; other messages have none in their context.
	comp, err := b.templates.GetFor(ctx, m.TemplateID, m.Context[ledger.ContextSubject], m.Context[ledger.ContextPreheader])
	if errors.Is(err, compose.ErrTemplate) {
		return s.fail(ctx, b.shopID, m.ID, err.Error())
	}
	if err != nil {
		return Result{MessageID: m.ID}, err
	}
	who := compose.Recipient{CustomerID: rc.CustomerID, FirstName: rc.Profile.FirstName, LastName: rc.Profile.LastName, Email: rc.To}
	data, err := compose.Data(ctx, s.d.Products, b.shopID, b.shop, who, m.Context, comp)
	if err != nil {
		return Result{MessageID: m.ID}, err
	}
	out, err := comp.Render(&data)
	if err != nil {
		return s.fail(ctx, b.shopID, m.ID, err.Error())
	}
	var cats []string
	switch {
	case m.FlowID != 0:
		cats = append(cats, "flow:"+strconv.FormatInt(m.FlowID, 10))
	case m.CampaignID != 0:
		cats = append(cats, "campaign:"+strconv.FormatInt(m.CampaignID, 10))
	}
	cats = append(cats, "template:"+strconv.FormatInt(m.TemplateID, 10))
	name := strings.TrimSpace(who.FirstName + " " + who.LastName)
	return s.handOff(ctx, b.state.settings, handOff{
		ShopID: b.shopID, MessageID: m.ID, CustomerID: rc.CustomerID, Kind: m.Kind, Marketing: m.Marketing,
		Composed: true, To: email.Address{Name: name, Email: rc.To}, Subject: out.Subject, HTML: out.HTML, Text: out.Text,
		Categories: cats, FromName: m.Context[ledger.ContextSenderName],
	})
}

// fail records that a queued message can't be sent, ever (its template is
// gone or no longer renders).
func (s *Sender) fail(ctx context.Context, shopID, id int64, reason string) (Result, error) {
	res := Result{MessageID: id}
	if _, err := ledger.MarkFailed(ctx, s.d.DB, shopID, id, reason); err != nil {
		return res, err
	}
	res.Outcome, res.Error = OutcomeFailed, reason
	return res, nil
}
