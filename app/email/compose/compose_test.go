package compose_test

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/cartwheel/cartwheel/app/email/compose"
	"github.com/cartwheel/cartwheel/app/email/ledger"
	"github.com/cartwheel/cartwheel/app/email/render"
	"github.com/cartwheel/cartwheel/app/shops"
)

type templates struct {
	gets int
	t    map[int64]render.Template
	err  error
}

func (s *templates) Get(_ context.Context, _, id int64) (render.Saved, error) {
	s.gets++
	if s.err != nil {
		return render.Saved{}, s.err
	}
	t, ok := s.t[id]
	if !ok {
		return render.Saved{}, render.ErrNotFound
	}
	return render.Saved{ID: id, Template: t}, nil
}

type products struct {
	got render.Recipient
}

func (p *products) Load(_ context.Context, _ int64, _ render.Shop, r render.Recipient, needs []render.Need) (render.Loaded, error) {
	p.got = r
	out := render.Loaded{Products: map[string][]render.Product{}, CartURL: "https://shop.example/recover/" + r.CheckoutToken}
	for _, n := range needs {
		out.Products[n.Key()] = []render.Product{{ID: 1, Title: "Blue hat", URL: "https://shop.example/products/hat", Price: "€10.00"}}
	}
	return out, nil
}

func cartTemplate() render.Template {
	return render.Template{Name: "Cart", Locale: render.LocaleEN, Subject: "{{ first_name }}, your cart",
		Blocks: []render.Block{
			{Type: render.BlockProducts, Source: render.SourceCart, Count: 3, Text: "Your cart"},
			{Type: render.BlockDiscount, Text: "Your code"},
			{Type: render.BlockButton, Text: "Back to my cart", URL: "{{ cart_url }}"},
			{Type: render.BlockFooter},
		}}
}

// Each template is loaded and compiled once per batch; a missing one is
// ErrTemplate (not worth retrying), and so is asking for none.
func TestTemplatesCompileOnce(t *testing.T) {
	ctx := context.Background()
	src := &templates{t: map[int64]render.Template{4: cartTemplate()}}
	ts := compose.NewTemplates(src, 1)
	a, err := ts.Get(ctx, 4)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := ts.Get(ctx, 4)
	if a != b || src.gets != 1 {
		t.Errorf("loaded %d times; same compiled: %v", src.gets, a == b)
	}
	if _, err := ts.Get(ctx, 5); !errors.Is(err, compose.ErrTemplate) {
		t.Errorf("missing template: %v", err)
	}
	if _, err := ts.Get(ctx, 0); !errors.Is(err, compose.ErrTemplate) {
		t.Errorf("no template: %v", err)
	}
	broken := &templates{err: errors.New("connection reset")}
	if _, err := compose.NewTemplates(broken, 1).Get(ctx, 4); err == nil || errors.Is(err, compose.ErrTemplate) {
		t.Errorf("a database error must be retryable, got %v", err)
	}
}

// Data takes the recipient from the profile, the code and the checkout
// from the message's context, and the products for that checkout.
func TestDataFromProfileAndContext(t *testing.T) {
	ctx := context.Background()
	comp, err := render.Compile(cartTemplate())
	if err != nil {
		t.Fatal(err)
	}
	shop := compose.Shop(shops.Shop{Domain: "demo.myshopify.com", Currency: "EUR"}, shops.Settings{PostalAddress: "1 Road"})
	if shop.Name != "demo.myshopify.com" || shop.URL != "https://demo.myshopify.com" || shop.PostalAddress != "1 Road" {
		t.Fatalf("shop %+v", shop)
	}
	p := &products{}
	d, err := compose.Data(ctx, p, 1, shop, compose.Recipient{CustomerID: 9, FirstName: "Ada", Email: "ada@example.com"},
		map[string]string{ledger.ContextCheckoutToken: "tok-1", ledger.ContextDiscountCode: "ADA-10"}, comp)
	if err != nil {
		t.Fatal(err)
	}
	if p.got.CustomerID != 9 || p.got.CheckoutToken != "tok-1" {
		t.Errorf("products loaded for %+v", p.got)
	}
	out, err := comp.Render(&d)
	if err != nil {
		t.Fatal(err)
	}
	if out.Subject != "Ada, your cart" || !strings.Contains(out.HTML, "ADA-10") || !strings.Contains(out.HTML, "Blue hat") ||
		!strings.Contains(out.HTML, "https://shop.example/recover/tok-1") {
		t.Errorf("subject %q; html misses the code, the product or the checkout link", out.Subject)
	}
}
