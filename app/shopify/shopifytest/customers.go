package shopifytest

import (
	"fmt"
	"strconv"
	"strings"
)

// Customer is a customer the fake knows, with its email marketing consent
// as the consent mutations left it.
type Customer struct {
	ID               int64
	Email            string
	FirstName        string
	LastName         string
	MarketingState   string // SUBSCRIBED, UNSUBSCRIBED, PENDING, NOT_SUBSCRIBED
	OptInLevel       string
	ConsentUpdatedAt string
	ConsentUpdates   int // how many consent updates were applied
}

// AddCustomer makes a customer known to the fake (e.g. one a test imported).
func (s *Server) AddCustomer(shop string, c Customer) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.customers == nil {
		s.customers = map[string]map[int64]*Customer{}
	}
	if s.customers[shop] == nil {
		s.customers[shop] = map[int64]*Customer{}
	}
	if c.MarketingState == "" {
		c.MarketingState = "NOT_SUBSCRIBED"
	}
	s.customers[shop][c.ID] = &c
}

// Customer returns the fake's copy of a customer.
func (s *Server) Customer(shop string, id int64) (Customer, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	c, ok := s.customers[shop][id]
	if !ok {
		return Customer{}, false
	}
	return *c, true
}

// Customers returns every customer the fake holds for the shop.
func (s *Server) Customers(shop string) []Customer {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]Customer, 0, len(s.customers[shop]))
	for _, c := range s.customers[shop] {
		out = append(out, *c)
	}
	return out
}

func (s *Server) registerCustomerHandlers() {
	s.Handle("customerEmailMarketingConsentUpdate", s.handleConsentUpdate)
	s.Handle("customerCreate", s.handleCustomerCreate)
}

// consentInput validates emailMarketingConsent as Shopify does: only
// SUBSCRIBED, UNSUBSCRIBED and PENDING may be set.
func consentInput(m map[string]any) (state, level, at string, errs []any) {
	state, _ = m["marketingState"].(string)
	level, _ = m["marketingOptInLevel"].(string)
	at, _ = m["consentUpdatedAt"].(string)
	switch state {
	case "SUBSCRIBED", "UNSUBSCRIBED", "PENDING":
	default:
		errs = append(errs, userError([]string{"emailMarketingConsent", "marketingState"},
			fmt.Sprintf("Marketing state %s is not accepted as input", state)))
	}
	switch level {
	case "", "SINGLE_OPT_IN", "CONFIRMED_OPT_IN", "UNKNOWN":
	default:
		errs = append(errs, userError([]string{"emailMarketingConsent", "marketingOptInLevel"}, "Marketing opt in level is invalid"))
	}
	return state, level, at, errs
}

func userError(field []string, msg string) map[string]any {
	f := make([]any, len(field))
	for i, v := range field {
		f[i] = v
	}
	return map[string]any{"__typename": "UserError", "field": f, "message": msg}
}

func customerNode(c *Customer) map[string]any {
	return map[string]any{"__typename": "Customer", "id": "gid://shopify/Customer/" + strconv.FormatInt(c.ID, 10), "email": c.Email}
}

func (s *Server) handleConsentUpdate(c *Call) (any, error) {
	input := c.Field.ArgMap("input")
	gid, _ := input["customerId"].(string)
	consent, _ := input["emailMarketingConsent"].(map[string]any)
	id, err := strconv.ParseInt(strings.TrimPrefix(gid, "gid://shopify/Customer/"), 10, 64)
	if err != nil || !strings.HasPrefix(gid, "gid://shopify/Customer/") {
		return map[string]any{"customer": nil, "userErrors": []any{userError([]string{"customerId"}, "Customer does not exist")}}, nil
	}
	state, level, at, errs := consentInput(consent)
	s.mu.Lock()
	defer s.mu.Unlock()
	cust, ok := s.customers[c.Shop][id]
	if !ok {
		return map[string]any{"customer": nil, "userErrors": []any{userError([]string{"customerId"}, "Customer does not exist")}}, nil
	}
	if cust.Email == "" {
		errs = append(errs, userError([]string{"customerId"}, "Customer must have an email address"))
	}
	if len(errs) > 0 {
		return map[string]any{"customer": nil, "userErrors": errs}, nil
	}
	cust.MarketingState, cust.OptInLevel, cust.ConsentUpdatedAt = state, level, at
	cust.ConsentUpdates++
	return map[string]any{"customer": customerNode(cust), "userErrors": []any{}}, nil
}

func (s *Server) handleCustomerCreate(c *Call) (any, error) {
	input := c.Field.ArgMap("input")
	email, _ := input["email"].(string)
	var errs []any
	state, level, at := "NOT_SUBSCRIBED", "", ""
	if consent, ok := input["emailMarketingConsent"].(map[string]any); ok {
		var cerrs []any
		state, level, at, cerrs = consentInput(consent)
		errs = append(errs, cerrs...)
	}
	if email == "" || !strings.Contains(email, "@") {
		errs = append(errs, userError([]string{"email"}, "Email is invalid"))
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, other := range s.customers[c.Shop] {
		if strings.EqualFold(other.Email, email) {
			errs = append(errs, userError([]string{"email"}, "Email has already been taken"))
		}
	}
	if len(errs) > 0 {
		return map[string]any{"customer": nil, "userErrors": errs}, nil
	}
	s.nextID++
	cust := &Customer{ID: 7000000000 + s.nextID, Email: email, MarketingState: state, OptInLevel: level, ConsentUpdatedAt: at}
	cust.FirstName, _ = input["firstName"].(string)
	cust.LastName, _ = input["lastName"].(string)
	if s.customers == nil {
		s.customers = map[string]map[int64]*Customer{}
	}
	if s.customers[c.Shop] == nil {
		s.customers[c.Shop] = map[int64]*Customer{}
	}
	s.customers[c.Shop][cust.ID] = cust
	return map[string]any{"customer": customerNode(cust), "userErrors": []any{}}, nil
}
