// Package compose builds what one email to a real recipient is rendered
// from: the shop, the recipient's profile, their products (cart, recently
// viewed, bought together, …) and the message's context (the checkout it is
// about, a discount code made for them). The sender composes each queued
// message when it sends it, so a job never carries rendered HTML or an
// address and a change to the profile before the send shows in the email;
// the admin's preview and test send use the same path, so what a merchant
// previews is what a customer gets.
package compose

import (
	"context"
	"errors"
	"fmt"

	"github.com/cartwheel/cartwheel/app/email/ledger"
	"github.com/cartwheel/cartwheel/app/email/render"
	"github.com/cartwheel/cartwheel/app/shops"
)

// Products loads a template's product blocks for one recipient
// (*render.ProductSource).
type Products interface {
	Load(ctx context.Context, shopID int64, shop render.Shop, r render.Recipient, needs []render.Need) (render.Loaded, error)
}

// TemplateSource reads a shop's saved templates (*render.Store).
type TemplateSource interface {
	Get(ctx context.Context, shopID, id int64) (render.Saved, error)
}

// Shop is the render's view of a shop and its settings.
func Shop(sh shops.Shop, st shops.Settings) render.Shop {
	name := sh.Name
	if name == "" {
		name = sh.Domain
	}
	return render.Shop{Name: name, URL: "https://" + sh.Domain, PostalAddress: st.PostalAddress, Currency: sh.Currency}
}

// Recipient is the person an email is for, as their profile says now.
type Recipient struct {
	CustomerID          int64 // 0: no profile (a sample, or a test address)
	FirstName, LastName string
	Email               string
}

// Data fills a render of comp for the recipient: their name and address,
// the discount code and checkout named by the message's context, and the
// products the template's blocks ask for.
func Data(ctx context.Context, p Products, shopID int64, shop render.Shop, r Recipient, c map[string]string, comp *render.Compiled) (render.RenderData, error) {
	d := render.RenderData{
		Shop:         shop,
		Customer:     render.Customer{FirstName: r.FirstName, LastName: r.LastName, Email: r.Email},
		DiscountCode: c[ledger.ContextDiscountCode],
	}
	if p == nil || len(comp.Needs()) == 0 {
		return d, nil
	}
	loaded, err := p.Load(ctx, shopID, shop, render.Recipient{CustomerID: r.CustomerID, CheckoutToken: c[ledger.ContextCheckoutToken]}, comp.Needs())
	if err != nil {
		return d, fmt.Errorf("compose: products: %w", err)
	}
	d.Products, d.CartURL = loaded.Products, loaded.CartURL
	return d, nil
}

// ErrTemplate wraps the reason a message's template can't be used (gone,
// or no longer valid): the message can't be composed, now or later.
var ErrTemplate = errors.New("compose: template unusable")

// Templates compiles each template of one shop once, for a batch of
// messages that share them. Not safe for concurrent use.
type Templates struct {
	src    TemplateSource
	shopID int64
	done   map[int64]compiled
	// over holds templates compiled with a campaign's subject and
	// preheader in place of their own (GetFor).
	over map[overKey]compiled
}

type compiled struct {
	c   *render.Compiled
	err error
}

// NewTemplates returns an empty per-batch cache.
func NewTemplates(src TemplateSource, shopID int64) *Templates {
	return &Templates{src: src, shopID: shopID, done: map[int64]compiled{}}
}

// Get returns template id compiled. An error wrapping ErrTemplate means the
// template is missing or invalid; other errors are worth retrying.
func (t *Templates) Get(ctx context.Context, id int64) (*render.Compiled, error) {
	if c, ok := t.done[id]; ok {
		return c.c, c.err
	}
	if id == 0 {
		return nil, fmt.Errorf("%w: the message names no template", ErrTemplate)
	}
	saved, err := t.src.Get(ctx, t.shopID, id)
	if errors.Is(err, render.ErrNotFound) {
		err = fmt.Errorf("%w: template %d no longer exists", ErrTemplate, id)
		t.done[id] = compiled{err: err}
		return nil, err
	}
	if err != nil {
		return nil, fmt.Errorf("compose: template %d: %w", id, err)
	}
	c, err := render.Compile(saved.Template)
	if err != nil {
		err = fmt.Errorf("%w: template %d: %v", ErrTemplate, id, err)
	}
	t.done[id] = compiled{c: c, err: err}
	return c, err
}
