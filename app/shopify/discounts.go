package shopify

import (
	"context"
	crand "crypto/rand"
	"errors"
	"fmt"
	"strings"
	"time"
)

// Discount kinds a code can give.
const (
	DiscountPercentage   = "percentage"    // Value "10" is 10 % off
	DiscountFixedAmount  = "fixed_amount"  // Value "10.00" in the shop's currency
	DiscountFreeShipping = "free_shipping" // Value unused
)

// CodeDiscount is a single-use code for the whole order (or one
// collection), as the wheel and flows hand them out.
type CodeDiscount struct {
	Title       string
	Code        string
	Kind        string
	Value       string
	StartsAt    time.Time
	EndsAt      time.Time // zero: no end
	MinSubtotal string    // "" for none
	// CollectionID limits the discount to one collection's products (0:
	// every product). Free shipping ignores it.
	CollectionID int64
}

// GraphQLer is the part of the Admin API client discount creation needs.
type GraphQLer interface {
	GraphQL(ctx context.Context, shop, token, query string, vars any, out any) error
}

// ErrDiscountRefused wraps Shopify's user errors: the same input will be
// refused again, so retrying doesn't help.
var ErrDiscountRefused = errors.New("shopify: discount refused")

// codeAlphabet leaves out 0/O and 1/I, which shoppers misread; 32 symbols
// so a random byte maps onto it without bias.
const codeAlphabet = "23456789ABCDEFGHJKLMNPQRSTUVWXYZ"

// NewDiscountCode returns prefix + "-" + 8 random symbols (40 bits).
func NewDiscountCode(prefix string) (string, error) {
	var b [8]byte
	if _, err := crand.Read(b[:]); err != nil {
		return "", fmt.Errorf("shopify: random code: %w", err)
	}
	out := make([]byte, 0, len(prefix)+9)
	out = append(out, prefix...)
	out = append(out, '-')
	for _, x := range b {
		out = append(out, codeAlphabet[x%32])
	}
	return string(out), nil
}

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

// CreateCodeDiscount creates the code and returns its discount node id. A
// transport error may hide a success, so "code already taken" is checked
// against Shopify: if the code is there, it is ours (codes are random).
func CreateCodeDiscount(ctx context.Context, api GraphQLer, shop, token string, d CodeDiscount) (string, error) {
	mutation, root, varName, input := discountInput(d)
	var out map[string]struct {
		Node *struct {
			ID string `json:"id"`
		} `json:"codeDiscountNode"`
		UserErrors []discountUserError `json:"userErrors"`
	}
	if err := api.GraphQL(ctx, shop, token, mutation, map[string]any{varName: input}, &out); err != nil {
		return "", fmt.Errorf("shopify: create code %s: %w", d.Code, err)
	}
	res := out[root]
	if len(res.UserErrors) == 0 && res.Node != nil {
		return res.Node.ID, nil
	}
	if taken(res.UserErrors) {
		var found struct {
			Node *struct {
				ID string `json:"id"`
			} `json:"codeDiscountNodeByCode"`
		}
		if err := api.GraphQL(ctx, shop, token, codeLookupQuery, map[string]any{"code": d.Code}, &found); err != nil {
			return "", fmt.Errorf("shopify: look up code %s: %w", d.Code, err)
		}
		if found.Node != nil {
			return found.Node.ID, nil
		}
	}
	msgs := make([]string, 0, len(res.UserErrors))
	for _, ue := range res.UserErrors {
		msgs = append(msgs, strings.Join(ue.Field, ".")+": "+ue.Message)
	}
	if len(msgs) == 0 {
		msgs = append(msgs, "Shopify returned no discount")
	}
	return "", fmt.Errorf("%w: %s: %s", ErrDiscountRefused, root, strings.Join(msgs, "; "))
}

func taken(errs []discountUserError) bool {
	for _, e := range errs {
		if e.Code == "TAKEN" || strings.Contains(strings.ToLower(e.Message), "unique") || strings.Contains(strings.ToLower(e.Message), "taken") {
			return true
		}
	}
	return false
}

// discountInput builds the mutation: a single-use code, once per customer.
func discountInput(d CodeDiscount) (mutation, root, varName string, input map[string]any) {
	input = map[string]any{
		"title":                  d.Title,
		"code":                   d.Code,
		"startsAt":               d.StartsAt.UTC().Format(time.RFC3339),
		"usageLimit":             1,
		"appliesOncePerCustomer": true,
		"context":                map[string]any{"all": "ALL"},
	}
	if !d.EndsAt.IsZero() {
		input["endsAt"] = d.EndsAt.UTC().Format(time.RFC3339)
	}
	if d.MinSubtotal != "" {
		input["minimumRequirement"] = map[string]any{"subtotal": map[string]any{"greaterThanOrEqualToSubtotal": d.MinSubtotal}}
	}
	if d.Kind == DiscountFreeShipping {
		input["destination"] = map[string]any{"all": true}
		return freeShippingMutation, "discountCodeFreeShippingCreate", "freeShippingCodeDiscount", input
	}
	value := map[string]any{}
	if d.Kind == DiscountPercentage {
		// Shopify takes a fraction: 0.1 is 10 % off.
		var f float64
		fmt.Sscanf(d.Value, "%g", &f)
		value["percentage"] = f / 100
	} else {
		value["discountAmount"] = map[string]any{"amount": d.Value, "appliesOnEachItem": false}
	}
	items := map[string]any{"all": true}
	if d.CollectionID != 0 {
		items = map[string]any{"collections": map[string]any{"add": []string{fmt.Sprintf("gid://shopify/Collection/%d", d.CollectionID)}}}
	}
	input["customerGets"] = map[string]any{"value": value, "items": items}
	return basicCodeMutation, "discountCodeBasicCreate", "basicCodeDiscount", input
}
