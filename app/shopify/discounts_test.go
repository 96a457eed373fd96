package shopify_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/cartwheel/cartwheel/app/shopify"
	"github.com/cartwheel/cartwheel/app/shopify/shopifytest"
)

func TestCreateCodeDiscount(t *testing.T) {
	fake := shopifytest.NewServer(t, "key", "secret")
	shop := "disc.myshopify.com"
	fake.AddShop(shopify.ShopInfo{Name: "Disc", MyshopifyDomain: shop})
	c := shopify.NewClient(shopify.ClientConfig{APIKey: "key", APISecret: "secret", BaseURL: fake.URL, Retries: 1})
	ctx := context.Background()
	tok, err := c.ExchangeCode(ctx, shop, fake.IssueCode(shop))
	if err != nil {
		t.Fatal(err)
	}
	token := tok.Token
	start := time.Now().UTC().Truncate(time.Second)
	code, err := shopify.NewDiscountCode("BYE")
	if err != nil || !strings.HasPrefix(code, "BYE-") || len(code) != 12 {
		t.Fatalf("code %q, %v", code, err)
	}
	d := shopify.CodeDiscount{Title: "Flow: last chance", Code: code, Kind: shopify.DiscountPercentage, Value: "15",
		StartsAt: start, EndsAt: start.Add(24 * time.Hour), CollectionID: 42}
	id, err := shopify.CreateCodeDiscount(ctx, c, shop, token, d)
	if err != nil || id == "" {
		t.Fatalf("create: %q %v", id, err)
	}
	got := fake.DiscountCodes(shop)
	if len(got) != 1 || got[0].Percentage != 0.15 || got[0].UsageLimit != 1 || got[0].EndsAt == nil || !got[0].EndsAt.Equal(start.Add(24*time.Hour)) ||
		len(got[0].Collections) != 1 || got[0].Collections[0] != "gid://shopify/Collection/42" || got[0].ItemsAll {
		t.Fatalf("created %+v", got)
	}
	// A retry after a lost answer finds the code it already made.
	again, err := shopify.CreateCodeDiscount(ctx, c, shop, token, d)
	if err != nil || again != id || len(fake.DiscountCodes(shop)) != 1 {
		t.Fatalf("retry: %q %v, %d codes", again, err, len(fake.DiscountCodes(shop)))
	}
	// Shopify's refusal is permanent.
	bad := d
	bad.Code, bad.Value = code+"X", "150"
	if _, err := shopify.CreateCodeDiscount(ctx, c, shop, token, bad); !errors.Is(err, shopify.ErrDiscountRefused) {
		t.Fatalf("150 %% off: %v, want ErrDiscountRefused", err)
	}
}
