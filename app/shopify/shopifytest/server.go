// Package shopifytest is a local fake of the parts of Shopify the app talks
// to: the OAuth token endpoint (authorization code and token exchange
// grants), the GraphQL Admin API, and webhook delivery. It answers with
// Shopify's real shapes — cost extensions, THROTTLED errors, 429 with
// Retry-After, parse and undefined-field errors, userErrors, cursor
// pagination — so the client is tested against behaviour, not a stub.
//
// Shops are told apart by the Host header, as on Shopify where every shop is
// its own host: point shopify.ClientConfig.BaseURL at Server.URL and the
// client keeps Host = the shop's myshopify domain.
//
// # GraphQL dispatch
//
// A GraphQL request is parsed (a small reader of the GraphQL language in
// gql.go); each root field is answered by the Handler registered under the
// field's name, e.g. "shop", "webhookSubscriptions",
// "webhookSubscriptionCreate". A handler returns the value of its root field
// built from map[string]any, []any and scalars (or any JSON-encodable value);
// the server then keeps only the fields the query selected, honouring
// aliases and inline fragments (matched on a "__typename" key), and answers
// "Field 'x' doesn't exist on type 'T'" for a selected field the value lacks.
// A map value may be a Resolver, called with the selected sub-field, for
// fields whose answer depends on their own arguments.
//
// To add an operation (bulk operations, discountCodeBasicCreate,
// customerEmailMarketingConsentUpdate, webPixelCreate, …):
//
//	srv.Handle("discountCodeBasicCreate", func(c *shopifytest.Call) (any, error) {
//		in := c.Field.ArgMap("basicCodeDiscount")
//		…
//		return map[string]any{
//			"codeDiscountNode": …,
//			"userErrors":       []any{},
//		}, nil
//	})
//
// Handlers run without the server's lock held, concurrently; a handler
// keeps its own state behind its own lock. Return *Error for a GraphQL
// error (Static: true for errors Shopify raises before executing anything,
// such as invalid variables). Mutations are executed before the response is
// projected, so a misspelt field in a mutation's selection still applies
// the mutation — unlike Shopify, which validates first.
package shopifytest

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/cartwheel/cartwheel/app/shopify"
)

// Shopify's documented leaky bucket for the GraphQL Admin API (standard plan).
const (
	bucketMax     = 2000.0
	bucketRestore = 100.0
	maxQueryCost  = 1000
)

// Request is one request the fake received.
type Request struct {
	Method string
	Path   string
	Host   string // the shop domain (port stripped, lower case)
	// Operation is, for GraphQL, the root field names joined by ","
	// (e.g. "webhookSubscriptionCreate"); "" for other endpoints.
	Operation string
	Body      string
	Status    int // the status the fake answered
}

// Handler answers one root field of a GraphQL operation.
type Handler func(c *Call) (any, error)

// Resolver computes a nested field that depends on its own arguments; put
// one as a value in a handler's result map.
type Resolver func(f *Field) (any, error)

// Call is what a Handler sees.
type Call struct {
	Server    *Server
	Shop      string // myshopify domain from the Host header
	Mutation  bool
	Field     *Field // the root field, arguments resolved
	Variables map[string]any
}

// Error is a GraphQL error a handler returns.
type Error struct {
	Message string
	Code    string // extensions.code, e.g. "INVALID_VARIABLE", "ACCESS_DENIED"
	// Static marks errors Shopify reports before executing the document
	// (validation, variable coercion): the response then has no data.
	Static bool
}

func (e *Error) Error() string { return e.Message }

// Server is the fake. Fields may be changed before the first request.
type Server struct {
	URL string
	// Scopes is what token responses grant.
	Scopes string
	// Now is the clock used for session tokens and buckets.
	Now func() time.Time

	apiKey, apiSecret string
	srv               *httptest.Server

	mu            sync.Mutex
	shops         map[string]*shopState
	codes         map[string]string // code → shop
	handlers      map[string]Handler
	throttleNext  int
	rateLimitNext int
	failNext      int
	failStatus    int
	requests      []Request
	nextID        int64
	bulkState     *bulkState                     // bulk.go
	customers     map[string]map[int64]*Customer // shop → Shopify id → customer (customers.go)
	pixels        map[string]*WebPixel           // shop → the app's web pixel (pixels.go)
	pixelKeys     []string                       // required pixel settings (pixels.go)
	discounts     *discountState                 // code discounts (discounts.go)
}

type shopState struct {
	id          int64
	info        shopify.ShopInfo
	token       string
	subs        []subscription
	available   float64
	lastRefresh time.Time
}

type subscription struct {
	id        int64
	topic     string
	uri       string
	createdAt time.Time
}

// NewServer starts a fake for the app with apiKey/apiSecret; it is closed by
// t.Cleanup.
func NewServer(t testing.TB, apiKey, apiSecret string) *Server {
	t.Helper()
	s := newServer(apiKey, apiSecret)
	s.srv = httptest.NewServer(s)
	s.URL = s.srv.URL
	t.Cleanup(s.srv.Close)
	return s
}

// Serve runs the fake on ln outside a test: `cartwheel dev` runs it
// in-process for the demo shop. Close stops it.
func Serve(ln net.Listener, apiKey, apiSecret string) *Server {
	s := newServer(apiKey, apiSecret)
	s.srv = &httptest.Server{Listener: ln, Config: &http.Server{Handler: s, ReadHeaderTimeout: 10 * time.Second}}
	s.srv.Start()
	s.URL = s.srv.URL
	return s
}

// Close stops a fake started with Serve (NewServer's closes with the test).
func (s *Server) Close() { s.srv.Close() }

func newServer(apiKey, apiSecret string) *Server {
	s := &Server{
		Scopes:    "read_customers,write_customers,read_orders,read_products",
		Now:       time.Now,
		apiKey:    apiKey,
		apiSecret: apiSecret,
		shops:     map[string]*shopState{},
		codes:     map[string]string{},
		handlers:  map[string]Handler{},
		nextID:    1000,
	}
	s.Handle("shop", s.handleShop)
	s.Handle("webhookSubscriptions", s.handleWebhookSubscriptions)
	s.Handle("webhookSubscriptionCreate", s.handleWebhookSubscriptionCreate)
	s.registerBulk()
	s.registerCustomerHandlers()
	s.registerPixelHandlers()
	s.registerDiscountHandlers()
	return s
}

// Handle registers (or replaces) the handler for a GraphQL root field.
func (s *Server) Handle(rootField string, h Handler) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.handlers[rootField] = h
}

// AddShop makes a shop known to the fake, keyed by info.MyshopifyDomain.
func (s *Server) AddShop(info shopify.ShopInfo) {
	s.mu.Lock()
	defer s.mu.Unlock()
	domain := strings.ToLower(info.MyshopifyDomain)
	info.MyshopifyDomain = domain
	if info.IanaTimezone == "" {
		info.IanaTimezone = "America/New_York"
	}
	if info.CurrencyCode == "" {
		info.CurrencyCode = "USD"
	}
	if info.PlanName == "" {
		info.PlanName = "Development"
	}
	if st, ok := s.shops[domain]; ok {
		st.info = info
		return
	}
	s.nextID++
	s.shops[domain] = &shopState{id: s.nextID, info: info, available: bucketMax, lastRefresh: s.Now()}
}

// IssueCode returns a fresh one-time OAuth authorization code for shop, as
// Shopify would put on the callback URL.
func (s *Server) IssueCode(shop string) string {
	code := randomHex(16)
	s.mu.Lock()
	defer s.mu.Unlock()
	s.codes[code] = strings.ToLower(shop)
	return code
}

// AccessToken returns the token the fake issued for shop, "" if none.
func (s *Server) AccessToken(shop string) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	if st, ok := s.shops[strings.ToLower(shop)]; ok {
		return st.token
	}
	return ""
}

// ThrottleNext makes the next n GraphQL calls answer THROTTLED with a cost
// extension that makes go-shopify wait one second.
func (s *Server) ThrottleNext(n int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.throttleNext = n
}

// RateLimitNext makes the next n requests answer 429 with Retry-After: 1.
func (s *Server) RateLimitNext(n int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.rateLimitNext = n
}

// FailNext makes the next n requests answer status (a 5xx). 502 and 504
// come as an HTML page, as from the proxy in front of Shopify.
func (s *Server) FailNext(n int, status int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.failNext, s.failStatus = n, status
}

// Requests returns the requests received so far.
func (s *Server) Requests() []Request {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Request(nil), s.requests...)
}

// Subscriptions returns the shop's webhook subscriptions, oldest first.
func (s *Server) Subscriptions(shop string) []shopify.WebhookSubscription {
	s.mu.Lock()
	defer s.mu.Unlock()
	st, ok := s.shops[strings.ToLower(shop)]
	if !ok {
		return nil
	}
	out := make([]shopify.WebhookSubscription, len(st.subs))
	for i, sub := range st.subs {
		out[i] = shopify.WebhookSubscription{ID: subscriptionGID(sub.id), Topic: sub.topic, CallbackURL: sub.uri}
	}
	return out
}

func subscriptionGID(id int64) string {
	return "gid://shopify/WebhookSubscription/" + strconv.FormatInt(id, 10)
}

// ServeHTTP routes like Shopify: every shop is a host.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(io.LimitReader(r.Body, 10<<20))
	rec := &recorder{ResponseWriter: w, status: http.StatusOK}
	req := Request{Method: r.Method, Path: r.URL.Path, Host: hostOnly(r.Host), Body: string(body)}
	defer func() {
		req.Status = rec.status
		s.mu.Lock()
		s.requests = append(s.requests, req)
		s.mu.Unlock()
	}()
	rec.Header().Set("X-Request-Id", randomHex(8))

	if s.injectFault(rec, r) {
		return
	}
	if strings.HasPrefix(r.URL.Path, bulkResultPath) {
		s.serveBulkResult(rec, r) // result files live outside any shop's host
		return
	}
	s.mu.Lock()
	_, known := s.shops[req.Host]
	s.mu.Unlock()
	if !known {
		writeJSON(rec, http.StatusNotFound, map[string]any{"errors": "Not Found"})
		return
	}
	switch {
	case r.URL.Path == "/admin/oauth/access_token":
		if r.Method != http.MethodPost {
			writeJSON(rec, http.StatusMethodNotAllowed, map[string]any{"errors": "Method Not Allowed"})
			return
		}
		s.serveAccessToken(rec, r, req.Host, body)
	case graphqlPathRE.MatchString(r.URL.Path):
		if r.Method != http.MethodPost {
			writeJSON(rec, http.StatusMethodNotAllowed, map[string]any{"errors": "Method Not Allowed"})
			return
		}
		version := graphqlPathRE.FindStringSubmatch(r.URL.Path)[1]
		rec.Header().Set("X-Shopify-API-Version", version)
		req.Operation = s.serveGraphQL(rec, r, req.Host, body)
	default:
		writeJSON(rec, http.StatusNotFound, map[string]any{"errors": "Not Found"})
	}
}

var graphqlPathRE = regexp.MustCompile(`^/admin/api/([0-9]{4}-[0-9]{2}|unstable)/graphql\.json$`)

type recorder struct {
	http.ResponseWriter
	status int
}

func (r *recorder) WriteHeader(code int) {
	r.status = code
	r.ResponseWriter.WriteHeader(code)
}

func hostOnly(h string) string {
	if host, _, err := net.SplitHostPort(h); err == nil {
		h = host
	}
	return strings.ToLower(h)
}

func (s *Server) injectFault(w http.ResponseWriter, r *http.Request) bool {
	s.mu.Lock()
	rateLimited := s.rateLimitNext > 0
	if rateLimited {
		s.rateLimitNext--
	}
	failStatus := 0
	if !rateLimited && s.failNext > 0 {
		s.failNext--
		failStatus = s.failStatus
	}
	s.mu.Unlock()
	switch {
	case rateLimited:
		w.Header().Set("Retry-After", "1")
		writeJSON(w, http.StatusTooManyRequests, map[string]any{
			"errors": "Exceeded 2 calls per second for api client. Reduce request rates to resume uninterrupted service.",
		})
		return true
	case failStatus == http.StatusBadGateway || failStatus == http.StatusGatewayTimeout:
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		w.WriteHeader(failStatus)
		fmt.Fprintf(w, "<html><head><title>%d %s</title></head><body><h1>%s</h1></body></html>",
			failStatus, http.StatusText(failStatus), http.StatusText(failStatus))
		return true
	case failStatus != 0:
		writeJSON(w, failStatus, map[string]any{"errors": http.StatusText(failStatus)})
		return true
	}
	return false
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

func randomHex(n int) string {
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		panic(err) // crypto/rand does not fail on supported platforms
	}
	return hex.EncodeToString(b)
}

func randomUUID() string {
	b := make([]byte, 16)
	if _, err := rand.Read(b); err != nil {
		panic(err)
	}
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	h := hex.EncodeToString(b)
	return h[0:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:]
}

// --- OAuth token endpoint ---

const (
	grantTokenExchange = "urn:ietf:params:oauth:grant-type:token-exchange"
	tokenTypeIDToken   = "urn:ietf:params:oauth:token-type:id_token"
	tokenTypeOffline   = "urn:shopify:params:oauth:token-type:offline-access-token"
)

func oauthError(w http.ResponseWriter, code, desc string) {
	writeJSON(w, http.StatusBadRequest, map[string]string{"error": code, "error_description": desc})
}

func (s *Server) serveAccessToken(w http.ResponseWriter, r *http.Request, shop string, body []byte) {
	params := map[string]string{}
	if strings.HasPrefix(r.Header.Get("Content-Type"), "application/json") {
		var raw map[string]any
		if err := json.Unmarshal(body, &raw); err != nil {
			oauthError(w, "invalid_request", "Oauth error invalid_request: malformed JSON body")
			return
		}
		for k, v := range raw {
			if str, ok := v.(string); ok {
				params[k] = str
			}
		}
	} else {
		form, err := url.ParseQuery(string(body))
		if err != nil {
			oauthError(w, "invalid_request", "Oauth error invalid_request: malformed form body")
			return
		}
		for k := range form {
			params[k] = form.Get(k)
		}
	}
	if params["client_id"] != s.apiKey || params["client_secret"] != s.apiSecret {
		oauthError(w, "invalid_request", "Oauth error invalid_request: The client credentials are invalid")
		return
	}
	switch params["grant_type"] {
	case "", "authorization_code":
		s.mu.Lock()
		codeShop, ok := s.codes[params["code"]]
		if ok && codeShop == shop {
			delete(s.codes, params["code"]) // single use
		}
		s.mu.Unlock()
		if !ok || codeShop != shop {
			oauthError(w, "invalid_request", "Oauth error invalid_request: The authorization code was not found or was already used")
			return
		}
	case grantTokenExchange:
		if params["subject_token_type"] != tokenTypeIDToken {
			oauthError(w, "invalid_request", "Oauth error invalid_request: subject_token_type must be "+tokenTypeIDToken)
			return
		}
		if params["requested_token_type"] != tokenTypeOffline {
			// Online tokens are not modelled by this fake.
			oauthError(w, "invalid_request", "Oauth error invalid_request: unsupported requested_token_type")
			return
		}
		claims, err := shopify.VerifySessionToken(params["subject_token"], s.apiKey, s.apiSecret, s.Now())
		if err != nil || claims.Shop != shop {
			oauthError(w, "invalid_subject_token", "Oauth error invalid_subject_token: Session token is invalid or expired")
			return
		}
	default:
		oauthError(w, "unsupported_grant_type", "Oauth error unsupported_grant_type")
		return
	}
	s.mu.Lock()
	st := s.shops[shop]
	// Offline tokens are stable for an installation: repeat exchanges
	// return the same one.
	if st.token == "" {
		st.token = "shpat_" + randomHex(16)
	}
	token := st.token
	s.mu.Unlock()
	writeJSON(w, http.StatusOK, map[string]string{"access_token": token, "scope": s.Scopes})
}

// --- GraphQL endpoint ---

type gqlError struct {
	Message    string         `json:"message"`
	Locations  []gqlLocation  `json:"locations,omitempty"`
	Path       []any          `json:"path,omitempty"`
	Extensions map[string]any `json:"extensions,omitempty"`
}

type gqlLocation struct {
	Line   int `json:"line"`
	Column int `json:"column"`
}

type gqlResponse struct {
	Data       any            `json:"data,omitempty"`
	Errors     []gqlError     `json:"errors,omitempty"`
	Extensions map[string]any `json:"extensions"`
}

// serveGraphQL answers one GraphQL request and returns the root field names
// for the request log.
func (s *Server) serveGraphQL(w http.ResponseWriter, r *http.Request, shop string, body []byte) string {
	s.mu.Lock()
	st := s.shops[shop]
	authorized := st.token != "" && r.Header.Get("X-Shopify-Access-Token") == st.token
	s.mu.Unlock()
	if !authorized {
		writeJSON(w, http.StatusUnauthorized, map[string]any{
			"errors": "[API] Invalid API key or access token (unrecognized login or wrong password)",
		})
		return ""
	}

	var in struct {
		Query         string         `json:"query"`
		Variables     map[string]any `json:"variables"`
		OperationName string         `json:"operationName"`
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.UseNumber()
	if err := dec.Decode(&in); err != nil || strings.TrimSpace(in.Query) == "" {
		writeJSON(w, http.StatusBadRequest, map[string]any{"errors": map[string]any{"query": "Required parameter missing or invalid"}})
		return ""
	}
	doc, err := parseDocument(in.Query)
	if err != nil {
		pe, _ := err.(*parseError)
		ge := gqlError{Message: err.Error()}
		if pe != nil {
			ge.Locations = []gqlLocation{{pe.line, pe.col}}
		}
		writeJSON(w, http.StatusOK, gqlResponse{Errors: []gqlError{ge}, Extensions: s.costExtension(shop, 1, nil)})
		return ""
	}
	op := doc.ops[0]
	if in.OperationName != "" {
		op = nil
		for _, o := range doc.ops {
			if o.name == in.OperationName {
				op = o
			}
		}
		if op == nil {
			writeJSON(w, http.StatusOK, gqlResponse{Errors: []gqlError{{Message: fmt.Sprintf("No operation named %q", in.OperationName)}}})
			return ""
		}
	} else if len(doc.ops) > 1 {
		writeJSON(w, http.StatusOK, gqlResponse{Errors: []gqlError{{Message: "An operation name is required"}}})
		return ""
	}
	var names []string
	for _, f := range op.selections {
		if f.Name != "" {
			names = append(names, f.Name)
		}
	}
	opNames := strings.Join(names, ",")
	mutation := op.kind == "mutation"
	rootType := "QueryRoot"
	if mutation {
		rootType = "Mutation"
	}

	// Unknown root fields are a validation error: nothing runs.
	s.mu.Lock()
	var errs []gqlError
	for _, f := range op.selections {
		if f.Name == "" || f.Name == "__typename" {
			continue
		}
		if _, ok := s.handlers[f.Name]; !ok {
			errs = append(errs, undefinedField(f, rootType, []any{op.kind, f.Key()}))
		}
	}
	s.mu.Unlock()
	if len(errs) > 0 {
		writeJSON(w, http.StatusOK, gqlResponse{Errors: errs, Extensions: s.costExtension(shop, 0, nil)})
		return opNames
	}

	roots := make([]*Field, len(op.selections))
	cost := 0
	for i, f := range op.selections {
		roots[i] = resolveArgs(f, in.Variables)
		cost += fieldCost(roots[i], doc, mutation, true)
	}
	if cost < 1 {
		cost = 1
	}
	if cost > maxQueryCost {
		writeJSON(w, http.StatusOK, gqlResponse{
			Errors: []gqlError{{
				Message:    fmt.Sprintf("Query cost is %d, which exceeds the single query max cost limit (%d).\n\nSee https://shopify.dev/concepts/about-apis/rate-limits for more information on how the\ncost of a query is calculated.\n\nTo query larger amounts of data with fewer limits, bulk operations should be used instead.\nSee https://shopify.dev/tutorials/perform-bulk-operations-with-admin-api for usage details.\n", cost, maxQueryCost),
				Extensions: map[string]any{"code": "MAX_COST_EXCEEDED", "cost": cost, "maxCost": maxQueryCost},
			}},
			Extensions: s.costExtension(shop, cost, nil),
		})
		return opNames
	}
	if ext, throttled := s.spend(shop, cost); throttled {
		writeJSON(w, http.StatusOK, gqlResponse{
			Errors: []gqlError{{
				Message:    "Throttled",
				Extensions: map[string]any{"code": "THROTTLED", "documentation": "https://shopify.dev/api/usage/rate-limits"},
			}},
			Extensions: ext,
		})
		return opNames
	}

	data := map[string]any{}
	errs = nil
	for _, field := range roots {
		f := field
		if f.Name == "__typename" {
			data[f.Key()] = rootType
			continue
		}
		if f.Name == "" {
			continue // root fragments are not modelled
		}
		s.mu.Lock()
		h := s.handlers[f.Name]
		s.mu.Unlock()
		val, err := h(&Call{Server: s, Shop: shop, Mutation: mutation, Field: field, Variables: in.Variables})
		if err != nil {
			ge := gqlError{Message: err.Error(), Locations: []gqlLocation{{f.Line, f.Col}}, Path: []any{f.Key()}}
			if e, ok := err.(*Error); ok {
				if e.Code != "" {
					ge.Extensions = map[string]any{"code": e.Code}
				}
				if e.Static {
					ge.Path = nil
					writeJSON(w, http.StatusOK, gqlResponse{Errors: []gqlError{ge}, Extensions: s.costExtension(shop, cost, nil)})
					return opNames
				}
			}
			errs = append(errs, ge)
			data[f.Key()] = nil
			continue
		}
		pc := &projector{doc: doc, vars: in.Variables}
		out, perr := pc.project(val, field, []any{op.kind, f.Key()})
		if perr != nil {
			// Shopify validates selections before running anything: no data.
			writeJSON(w, http.StatusOK, gqlResponse{Errors: []gqlError{*perr}, Extensions: s.costExtension(shop, cost, nil)})
			return opNames
		}
		data[f.Key()] = out
	}
	actual := cost
	writeJSON(w, http.StatusOK, gqlResponse{Data: data, Errors: errs, Extensions: s.costExtension(shop, cost, &actual)})
	return opNames
}

func undefinedField(f *Field, typeName string, path []any) gqlError {
	return gqlError{
		Message:   fmt.Sprintf("Field '%s' doesn't exist on type '%s'", f.Name, typeName),
		Locations: []gqlLocation{{f.Line, f.Col}},
		Path:      path,
		Extensions: map[string]any{
			"code": "undefinedField", "typeName": typeName, "fieldName": f.Name,
		},
	}
}

// refill tops up the shop's bucket for the time elapsed. Caller holds s.mu.
func (s *Server) refill(st *shopState) {
	now := s.Now()
	st.available = math.Min(bucketMax, st.available+now.Sub(st.lastRefresh).Seconds()*bucketRestore)
	st.lastRefresh = now
}

// spend takes cost from the shop's bucket. It reports throttled (and the
// extension to send) when the bucket is short or ThrottleNext asked for it.
func (s *Server) spend(shop string, cost int) (map[string]any, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	st := s.shops[shop]
	s.refill(st)
	if s.throttleNext > 0 {
		s.throttleNext--
		// Slightly short of the cost with a slow restore rate: go-shopify
		// computes a wait of ceil(5/50 s) = 1 s.
		avail := math.Max(0, float64(cost)-5)
		return throttleExt(cost, nil, avail, 50), true
	}
	if float64(cost) > st.available {
		return throttleExt(cost, nil, st.available, bucketRestore), true
	}
	st.available -= float64(cost)
	return nil, false
}

func (s *Server) costExtension(shop string, requested int, actual *int) map[string]any {
	s.mu.Lock()
	defer s.mu.Unlock()
	st := s.shops[shop]
	s.refill(st)
	return throttleExt(requested, actual, st.available, bucketRestore)
}

func throttleExt(requested int, actual *int, available, restore float64) map[string]any {
	var act any
	if actual != nil {
		act = *actual
	}
	return map[string]any{"cost": map[string]any{
		"requestedQueryCost": requested,
		"actualQueryCost":    act,
		"throttleStatus": map[string]any{
			"maximumAvailable":   bucketMax,
			"currentlyAvailable": math.Floor(available),
			"restoreRate":        restore,
		},
	}}
}

// fieldCost approximates Shopify's calculated query cost: objects cost 1,
// scalars 0, a connection 2 plus its page size times the cost of a node,
// mutations 10.
func fieldCost(f *Field, doc *document, mutation, root bool) int {
	if root && mutation {
		return 10
	}
	sels := f.Selections
	if f.Spread != "" {
		if fr, ok := doc.fragments[f.Spread]; ok {
			sels = fr.Selections
		}
	}
	if len(sels) == 0 {
		return 0
	}
	children := 0
	for _, c := range sels {
		children += fieldCost(c, doc, false, false)
	}
	if f.Name == "" {
		return children // fragment
	}
	n, isConn := pageSize(f)
	switch {
	case isConn:
		return 2 + n*children
	case f.Name == "edges" || f.Name == "pageInfo":
		return children
	default:
		return 1 + children
	}
}

func pageSize(f *Field) (int, bool) {
	for _, k := range []string{"first", "last"} {
		if _, ok := f.Args[k]; !ok {
			continue
		}
		if n, ok := f.ArgInt(k); ok {
			return n, true
		}
		// An unbound variable (inside a fragment): assume a full page.
		return 100, true
	}
	return 0, false
}

// --- projection ---

type projector struct {
	doc  *document
	vars map[string]any
}

// project keeps the selected fields of v (a handler's result).
func (p *projector) project(v any, f *Field, path []any) (any, *gqlError) {
	if r, ok := v.(Resolver); ok {
		val, err := r(f)
		if err != nil {
			return nil, &gqlError{Message: err.Error(), Path: path}
		}
		v = val
	}
	if len(f.Selections) == 0 {
		return normalize(v), nil
	}
	switch x := v.(type) {
	case nil:
		return nil, nil
	case map[string]any:
		out := map[string]any{}
		if err := p.selectInto(out, x, f.Selections, path); err != nil {
			return nil, err
		}
		return out, nil
	case []any:
		list := make([]any, len(x))
		for i, e := range x {
			pv, err := p.project(e, f, append(append([]any(nil), path...), i))
			if err != nil {
				return nil, err
			}
			list[i] = pv
		}
		return list, nil
	case []map[string]any:
		list := make([]any, len(x))
		for i, e := range x {
			list[i] = e
		}
		return p.project(list, f, path)
	default:
		// Structs and typed slices: go through JSON once.
		return p.project(normalize(v), f, path)
	}
}

func (p *projector) selectInto(out, m map[string]any, sels []*Field, path []any) *gqlError {
	typeName, _ := m["__typename"].(string)
	for _, s := range sels {
		switch {
		case s.Spread != "":
			fr, ok := p.doc.fragments[s.Spread]
			if !ok {
				return &gqlError{Message: fmt.Sprintf("Fragment %s was used, but not defined", s.Spread), Locations: []gqlLocation{{s.Line, s.Col}}}
			}
			if fr.On == typeName || typeName == "" {
				if err := p.selectInto(out, m, resolveArgs(fr, p.vars).Selections, path); err != nil {
					return err
				}
			}
		case s.Name == "":
			if s.On == "" || s.On == typeName || typeName == "" {
				if err := p.selectInto(out, m, s.Selections, path); err != nil {
					return err
				}
			}
		case s.Name == "__typename":
			out[s.Key()] = typeName
		default:
			val, ok := m[s.Name]
			if !ok {
				tn := typeName
				if tn == "" {
					tn = "Object"
				}
				e := undefinedField(s, tn, append(append([]any(nil), path...), s.Key()))
				return &e
			}
			pv, err := p.project(val, s, append(append([]any(nil), path...), s.Key()))
			if err != nil {
				return err
			}
			out[s.Key()] = pv
		}
	}
	return nil
}

// normalize turns any JSON-encodable value into map/slice/scalar form.
func normalize(v any) any {
	switch v.(type) {
	case nil, string, bool, int, int64, float64, json.Number, map[string]any, []any:
		return v
	}
	raw, err := json.Marshal(v)
	if err != nil {
		return nil
	}
	var out any
	_ = json.Unmarshal(raw, &out)
	return out
}

// --- webhooks ---

// Webhook is one delivery for SendWebhook.
type Webhook struct {
	Topic, Shop string // e.g. "orders/create", "x.myshopify.com"
	Body        []byte
	WebhookID   string // random UUID if empty
	EventID     string // random UUID if empty
	TriggeredAt time.Time
}

// SendWebhook posts w.Body to targetURL with the headers Shopify sends,
// signed with the app secret. The caller closes the response body.
func (s *Server) SendWebhook(ctx context.Context, targetURL string, w Webhook) (*http.Response, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, targetURL, bytes.NewReader(w.Body))
	if err != nil {
		return nil, fmt.Errorf("shopifytest: webhook request: %w", err)
	}
	if w.WebhookID == "" {
		w.WebhookID = randomUUID()
	}
	if w.EventID == "" {
		w.EventID = randomUUID()
	}
	if w.TriggeredAt.IsZero() {
		w.TriggeredAt = s.Now()
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("X-Shopify-Topic", w.Topic)
	req.Header.Set("X-Shopify-Hmac-Sha256", shopify.SignWebhook(w.Body, s.apiSecret))
	req.Header.Set("X-Shopify-Shop-Domain", w.Shop)
	req.Header.Set("X-Shopify-API-Version", shopify.APIVersion)
	req.Header.Set("X-Shopify-Webhook-Id", w.WebhookID)
	req.Header.Set("X-Shopify-Event-Id", w.EventID)
	req.Header.Set("X-Shopify-Triggered-At", w.TriggeredAt.UTC().Format(time.RFC3339Nano))
	// Shopify gives up after 5 s.
	client := &http.Client{Timeout: 5 * time.Second}
	resp, err := client.Do(req)
	if err != nil {
		return nil, fmt.Errorf("shopifytest: deliver %s webhook to %s: %w", w.Topic, targetURL, err)
	}
	return resp, nil
}
