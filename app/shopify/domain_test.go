package shopify_test

import (
	"testing"

	"github.com/cartwheel/cartwheel/app/shopify"
)

func TestValidShopDomain(t *testing.T) {
	cases := []struct {
		in   string
		want bool
	}{
		{"cool-shop.myshopify.com", true},
		{"Cool-Shop.myshopify.com", true},
		{"x.myshopify.com", true},
		{"0shop.myshopify.com", true},
		{"evil.com", false},
		{"x.myshopify.com.evil.com", false},
		{"evil.com/x.myshopify.com", false},
		{"https://x.myshopify.com/", false},
		{"https://x.myshopify.com", false},
		{"x.myshopify.com/", false},
		{"x.myshopify.com:443", false},
		{"", false},
		{".myshopify.com", false},
		{"-x.myshopify.com", false},
		{"x_y.myshopify.com", false},
		{"a.b.myshopify.com", false},
		{"x.myshopify.com\n", false},
		{"x.myshopify.com\nevil.com", false},
		{" x.myshopify.com", false},
		{"xmyshopify.com", false},
		{"x.myshopifyXcom", false},
	}
	for _, c := range cases {
		if got := shopify.ValidShopDomain(c.in); got != c.want {
			t.Errorf("ValidShopDomain(%q) = %v, want %v", c.in, got, c.want)
		}
	}
}
