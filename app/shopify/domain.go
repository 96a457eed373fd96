// Package shopify talks to Shopify: OAuth and token exchange, App Bridge
// session tokens, webhook and app-proxy signature checks, and the GraphQL
// Admin API client. It holds no HTTP framework types; handlers in app/web
// call it with raw strings and bytes.
package shopify

import "regexp"

// The pattern is anchored on both ends: Shopify's security review flags
// unanchored shop patterns, and an unanchored one lets
// "x.myshopify.com.evil.com" through. \z (not $) so that a trailing newline
// does not match.
var shopDomainRE = regexp.MustCompile(`\A[a-zA-Z0-9][a-zA-Z0-9-]*\.myshopify\.com\z`)

// ValidShopDomain reports whether s is exactly a myshopify domain, such as
// "cool-shop.myshopify.com": no scheme, no path, no port, nothing around it.
func ValidShopDomain(s string) bool {
	return shopDomainRE.MatchString(s)
}
