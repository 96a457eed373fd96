package shopifytest

import (
	"encoding/json"
	"strconv"
	"strings"
	"sync"
	"time"
)

// Discount is a code discount the fake created.
type Discount struct {
	ID                     string // gid://shopify/DiscountCodeNode/N
	Kind                   string // basic | free_shipping
	Code                   string
	Title                  string
	StartsAt               time.Time
	EndsAt                 *time.Time
	UsageLimit             int // 0: unlimited
	AppliesOncePerCustomer bool
	ContextAll             bool
	Percentage             float64 // basic: 0.1 is 10 % off
	Amount                 string  // basic: fixed amount off
	ItemsAll               bool
	Collections            []string // basic: the collection gids the discount is limited to
	MinSubtotal            string   // "" when none
	AllCountries           bool     // free shipping
}

type discountState struct {
	mu       sync.Mutex
	byShop   map[string][]*Discount
	failNext int
	nextID   int64
}

// FailNextDiscount makes the next n discount creations fail with an
// internal error (a GraphQL error, as Shopify answers when it is
// unwell), before anything is created.
func (s *Server) FailNextDiscount(n int) {
	s.discounts.mu.Lock()
	defer s.discounts.mu.Unlock()
	s.discounts.failNext = n
}

// DiscountCodes returns the shop's code discounts, oldest first.
func (s *Server) DiscountCodes(shop string) []Discount {
	s.discounts.mu.Lock()
	defer s.discounts.mu.Unlock()
	out := make([]Discount, 0, len(s.discounts.byShop[shop]))
	for _, d := range s.discounts.byShop[shop] {
		out = append(out, *d)
	}
	return out
}

func (s *Server) registerDiscountHandlers() {
	s.discounts = &discountState{byShop: map[string][]*Discount{}}
	s.Handle("discountCodeBasicCreate", func(c *Call) (any, error) {
		return s.createDiscount(c, "basic", "basicCodeDiscount")
	})
	s.Handle("discountCodeFreeShippingCreate", func(c *Call) (any, error) {
		return s.createDiscount(c, "free_shipping", "freeShippingCodeDiscount")
	})
	s.Handle("codeDiscountNodeByCode", func(c *Call) (any, error) {
		code := c.Field.ArgString("code")
		st := s.discounts
		st.mu.Lock()
		defer st.mu.Unlock()
		for _, d := range st.byShop[c.Shop] {
			if strings.EqualFold(d.Code, code) {
				return discountNode(d), nil
			}
		}
		return nil, nil
	})
}

func discountNode(d *Discount) map[string]any {
	return map[string]any{"__typename": "DiscountCodeNode", "id": d.ID}
}

func discountError(arg string, field, msg, code string) map[string]any {
	e := userError([]string{arg, field}, msg)
	e["__typename"] = "DiscountUserError"
	e["code"] = code
	return e
}

// createDiscount validates the input the way Shopify does for the fields
// Cartwheel uses, and records the discount.
func (s *Server) createDiscount(c *Call, kind, arg string) (any, error) {
	st := s.discounts
	st.mu.Lock()
	defer st.mu.Unlock()
	if st.failNext > 0 {
		st.failNext--
		return nil, &Error{Message: "Internal error. Looks like something went wrong on our end.", Code: "INTERNAL_SERVER_ERROR"}
	}
	in := c.Field.ArgMap(arg)
	if in == nil {
		return nil, &Error{Message: "Variable $" + arg + " of type input was provided invalid value", Code: "INVALID_VARIABLE", Static: true}
	}
	var errs []any
	d := &Discount{Kind: kind}
	d.Code, _ = in["code"].(string)
	d.Title, _ = in["title"].(string)
	if strings.TrimSpace(d.Code) == "" {
		errs = append(errs, discountError(arg, "code", "Code can't be blank", "BLANK"))
	} else if len(d.Code) > 255 {
		errs = append(errs, discountError(arg, "code", "Code is too long (maximum is 255 characters)", "TOO_LONG"))
	}
	for _, other := range st.byShop[c.Shop] {
		if d.Code != "" && strings.EqualFold(other.Code, d.Code) {
			errs = append(errs, discountError(arg, "code", "Code must be unique. Please try a different code.", "TAKEN"))
			break
		}
	}
	if strings.TrimSpace(d.Title) == "" {
		errs = append(errs, discountError(arg, "title", "Title can't be blank", "BLANK"))
	}
	if v, ok := in["startsAt"].(string); ok {
		t, err := time.Parse(time.RFC3339, v)
		if err != nil {
			errs = append(errs, discountError(arg, "startsAt", "Starts at is invalid", "INVALID"))
		}
		d.StartsAt = t
	} else {
		d.StartsAt = s.Now()
	}
	if v, ok := in["endsAt"].(string); ok {
		t, err := time.Parse(time.RFC3339, v)
		if err != nil {
			errs = append(errs, discountError(arg, "endsAt", "Ends at is invalid", "INVALID"))
		} else if !t.After(d.StartsAt) {
			errs = append(errs, discountError(arg, "endsAt", "Ends at needs to be after starts_at", "INVALID"))
		}
		d.EndsAt = &t
	}
	if v, present := in["usageLimit"]; present && v != nil {
		n, ok := number(v)
		if !ok || n < 1 || n != float64(int(n)) {
			errs = append(errs, discountError(arg, "usageLimit", "Usage limit must be greater than 0", "GREATER_THAN"))
		}
		d.UsageLimit = int(n)
	}
	d.AppliesOncePerCustomer, _ = in["appliesOncePerCustomer"].(bool)
	ctx, _ := in["context"].(map[string]any)
	if ctx == nil {
		errs = append(errs, discountError(arg, "context", "Context can't be blank", "BLANK"))
	} else if all, _ := ctx["all"].(string); all == "ALL" {
		d.ContextAll = true
	} else if ctx["customers"] == nil && ctx["customerSegments"] == nil {
		errs = append(errs, discountError(arg, "context", "Context is invalid", "INVALID"))
	}
	if mr, ok := in["minimumRequirement"].(map[string]any); ok {
		sub, _ := mr["subtotal"].(map[string]any)
		n, ok := number(sub["greaterThanOrEqualToSubtotal"])
		if !ok || n <= 0 {
			errs = append(errs, discountError(arg, "minimumRequirement", "Minimum subtotal must be greater than 0", "GREATER_THAN"))
		}
		d.MinSubtotal = numberString(sub["greaterThanOrEqualToSubtotal"])
	}
	switch kind {
	case "basic":
		gets, _ := in["customerGets"].(map[string]any)
		value, _ := gets["value"].(map[string]any)
		items, _ := gets["items"].(map[string]any)
		if gets == nil || value == nil {
			errs = append(errs, discountError(arg, "customerGets", "Customer gets value can't be blank", "BLANK"))
			break
		}
		if p, present := value["percentage"]; present {
			n, ok := number(p)
			if !ok || n <= 0 || n > 1 {
				errs = append(errs, discountError(arg, "customerGets", "Value must be between 0.0 and 1.0", "VALUE_OUTSIDE_RANGE"))
			}
			d.Percentage = n
		} else if amt, ok := value["discountAmount"].(map[string]any); ok {
			n, ok := number(amt["amount"])
			if !ok || n <= 0 {
				errs = append(errs, discountError(arg, "customerGets", "Value must be greater than 0", "GREATER_THAN"))
			}
			d.Amount = numberString(amt["amount"])
		} else {
			errs = append(errs, discountError(arg, "customerGets", "Customer gets value is invalid", "INVALID"))
		}
		if cols, _ := items["collections"].(map[string]any); cols != nil {
			add, _ := cols["add"].([]any)
			for _, a := range add {
				if id, ok := a.(string); ok && strings.HasPrefix(id, "gid://shopify/Collection/") {
					d.Collections = append(d.Collections, id)
				} else {
					errs = append(errs, discountError(arg, "customerGets", "Collection is invalid", "INVALID"))
				}
			}
		}
		if all, _ := items["all"].(bool); all {
			d.ItemsAll = true
		} else if items == nil || (items["products"] == nil && items["collections"] == nil) {
			errs = append(errs, discountError(arg, "customerGets", "Items must be selected", "BLANK"))
		}
	case "free_shipping":
		dest, _ := in["destination"].(map[string]any)
		if all, _ := dest["all"].(bool); all {
			d.AllCountries = true
		} else if dest == nil || dest["countries"] == nil {
			errs = append(errs, discountError(arg, "destination", "Destination can't be blank", "BLANK"))
		}
	}
	if len(errs) > 0 {
		return map[string]any{"codeDiscountNode": nil, "userErrors": errs}, nil
	}
	st.nextID++
	d.ID = "gid://shopify/DiscountCodeNode/" + strconv.FormatInt(9000000+st.nextID, 10)
	st.byShop[c.Shop] = append(st.byShop[c.Shop], d)
	return map[string]any{"codeDiscountNode": discountNode(d), "userErrors": []any{}}, nil
}

// number reads a GraphQL Int/Float/Decimal value (Decimal arrives as a
// string).
func number(v any) (float64, bool) {
	switch x := v.(type) {
	case json.Number:
		f, err := x.Float64()
		return f, err == nil
	case float64:
		return x, true
	case int64:
		return float64(x), true
	case int:
		return float64(x), true
	case string:
		f, err := strconv.ParseFloat(x, 64)
		return f, err == nil
	}
	return 0, false
}

func numberString(v any) string {
	switch x := v.(type) {
	case json.Number:
		return x.String()
	case string:
		return x
	case float64:
		return strconv.FormatFloat(x, 'f', -1, 64)
	}
	return ""
}
