package shopify_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	goshopify "github.com/bold-commerce/go-shopify/v4"

	"github.com/cartwheel/cartwheel/app/shopify"
	"github.com/cartwheel/cartwheel/app/shopify/shopifytest"
)

var (
	fixturesOnce sync.Once
	fixturesDir  string
	fixturesErr  error
)

// goshopifyFixtures locates go-shopify's fixtures folder in the module
// cache: real Shopify payloads, used as test inputs.
func goshopifyFixtures(t *testing.T) string {
	t.Helper()
	fixturesOnce.Do(func() {
		out, err := exec.Command("go", "list", "-m", "-f", "{{.Dir}}", "github.com/bold-commerce/go-shopify/v4").Output()
		if err != nil {
			fixturesErr = fmt.Errorf("go list go-shopify: %w", err)
			return
		}
		fixturesDir = filepath.Join(strings.TrimSpace(string(out)), "fixtures")
	})
	if fixturesErr != nil {
		t.Fatal(fixturesErr)
	}
	return fixturesDir
}

// fixtureShop is the shop from go-shopify's fixtures/shop.json.
func fixtureShop(t *testing.T) shopify.ShopInfo {
	t.Helper()
	raw, err := os.ReadFile(filepath.Join(goshopifyFixtures(t), "shop.json"))
	if err != nil {
		t.Fatal(err)
	}
	var doc struct {
		Shop goshopify.Shop `json:"shop"`
	}
	if err := json.Unmarshal(raw, &doc); err != nil {
		t.Fatal(err)
	}
	s := doc.Shop
	return shopify.ShopInfo{
		Name:            s.Name,
		Email:           s.Email,
		MyshopifyDomain: s.MyshopifyDomain,
		IanaTimezone:    s.IanaTimezone,
		CurrencyCode:    s.Currency,
		PlanName:        s.PlanDisplayName,
		// The store's own domain in the fixture ("shop.apple.com").
		PrimaryDomainURL: "https://" + s.Domain,
	}
}

type env struct {
	fake   *shopifytest.Server
	client *shopify.Client
	shop   string
	token  string
}

// newEnv starts a fake with the fixture shop installed (OAuth code exchanged)
// and a client pointed at it.
func newEnv(t *testing.T, retries int) *env {
	t.Helper()
	fake := shopifytest.NewServer(t, testKey, testSecret)
	info := fixtureShop(t)
	fake.AddShop(info)
	client := shopify.NewClient(shopify.ClientConfig{
		APIKey:    testKey,
		APISecret: testSecret,
		Scopes:    "read_customers,write_customers",
		BaseURL:   fake.URL,
		Retries:   retries,
	})
	tok, err := client.ExchangeCode(context.Background(), info.MyshopifyDomain, fake.IssueCode(info.MyshopifyDomain))
	if err != nil {
		t.Fatalf("install: %v", err)
	}
	return &env{fake: fake, client: client, shop: info.MyshopifyDomain, token: tok.Token}
}

// requestsSince returns the GraphQL requests after the first n.
func (e *env) requestsSince(n int) []shopifytest.Request {
	return e.fake.Requests()[n:]
}

func TestExchangeCode(t *testing.T) {
	ctx := context.Background()
	fake := shopifytest.NewServer(t, testKey, testSecret)
	fake.AddShop(shopify.ShopInfo{Name: "A", MyshopifyDomain: "shop-a.myshopify.com"})
	fake.AddShop(shopify.ShopInfo{Name: "B", MyshopifyDomain: "shop-b.myshopify.com"})
	client := shopify.NewClient(shopify.ClientConfig{APIKey: testKey, APISecret: testSecret, BaseURL: fake.URL})

	code := fake.IssueCode("shop-a.myshopify.com")
	tok, err := client.ExchangeCode(ctx, "shop-a.myshopify.com", code)
	if err != nil {
		t.Fatal(err)
	}
	if tok.Token == "" || tok.Token != fake.AccessToken("shop-a.myshopify.com") {
		t.Errorf("token %q, fake issued %q", tok.Token, fake.AccessToken("shop-a.myshopify.com"))
	}
	if !strings.HasPrefix(tok.Token, "shpat_") {
		t.Errorf("token %q does not look like an offline token", tok.Token)
	}
	if tok.Scope != fake.Scopes {
		t.Errorf("scope = %q, want %q", tok.Scope, fake.Scopes)
	}
	if fake.AccessToken("shop-b.myshopify.com") != "" {
		t.Error("shop B got a token")
	}

	reqs := fake.Requests()
	if len(reqs) != 1 {
		t.Fatalf("requests = %d", len(reqs))
	}
	r := reqs[0]
	if r.Method != http.MethodPost || r.Path != "/admin/oauth/access_token" || r.Host != "shop-a.myshopify.com" {
		t.Errorf("request = %s %s host %s", r.Method, r.Path, r.Host)
	}
	var body map[string]string
	if err := json.Unmarshal([]byte(r.Body), &body); err != nil {
		t.Fatalf("body %q: %v", r.Body, err)
	}
	if body["client_id"] != testKey || body["client_secret"] != testSecret || body["code"] != code {
		t.Errorf("body = %v", body)
	}

	// Single use.
	if _, err := client.ExchangeCode(ctx, "shop-a.myshopify.com", code); err == nil {
		t.Error("a used code was accepted again")
	}
	// A code issued for one shop is no good on another.
	codeA := fake.IssueCode("shop-a.myshopify.com")
	if _, err := client.ExchangeCode(ctx, "shop-b.myshopify.com", codeA); err == nil {
		t.Error("shop A's code worked for shop B")
	}
	if _, err := client.ExchangeCode(ctx, "shop-a.myshopify.com", "made-up"); err == nil {
		t.Error("an unknown code was accepted")
	} else if !strings.Contains(err.Error(), "shop-a.myshopify.com") {
		t.Errorf("error %q does not name the shop", err)
	}

	// Wrong client secret: 400, and the code survives for the real app.
	bad := shopify.NewClient(shopify.ClientConfig{APIKey: testKey, APISecret: "wrong", BaseURL: fake.URL})
	if _, err := bad.ExchangeCode(ctx, "shop-a.myshopify.com", codeA); err == nil {
		t.Error("wrong client secret accepted")
	} else {
		var re goshopify.ResponseError
		if !errors.As(err, &re) || re.Status != http.StatusBadRequest || re.Message != "invalid_request" {
			t.Errorf("error = %#v, want a 400 invalid_request", err)
		}
	}
	if _, err := client.ExchangeCode(ctx, "shop-a.myshopify.com", codeA); err != nil {
		t.Errorf("code consumed by a failed exchange: %v", err)
	}
}

func TestExchangeSessionToken(t *testing.T) {
	ctx := context.Background()
	fake := shopifytest.NewServer(t, testKey, testSecret)
	fake.AddShop(shopify.ShopInfo{Name: "A", MyshopifyDomain: testShop})
	fake.AddShop(shopify.ShopInfo{Name: "B", MyshopifyDomain: "other-shop.myshopify.com"})
	client := shopify.NewClient(shopify.ClientConfig{APIKey: testKey, APISecret: testSecret, BaseURL: fake.URL})
	now := time.Now()

	st, err := shopify.MintSessionToken(testShop, testKey, testSecret, "42", now, time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	tok, err := client.ExchangeSessionToken(ctx, testShop, st)
	if err != nil {
		t.Fatal(err)
	}
	if tok.Token == "" || tok.Token != fake.AccessToken(testShop) || tok.Scope != fake.Scopes {
		t.Errorf("token = %+v, fake issued %q", tok, fake.AccessToken(testShop))
	}
	var body map[string]string
	if err := json.Unmarshal([]byte(fake.Requests()[0].Body), &body); err != nil {
		t.Fatal(err)
	}
	want := map[string]string{
		"client_id":            testKey,
		"client_secret":        testSecret,
		"grant_type":           "urn:ietf:params:oauth:grant-type:token-exchange",
		"subject_token":        st,
		"subject_token_type":   "urn:ietf:params:oauth:token-type:id_token",
		"requested_token_type": "urn:shopify:params:oauth:token-type:offline-access-token",
	}
	for k, v := range want {
		if body[k] != v {
			t.Errorf("body[%s] = %q, want %q", k, body[k], v)
		}
	}

	foreign, _ := shopify.MintSessionToken(testShop, testKey, "another-secret", "42", now, time.Minute)
	expired, _ := shopify.MintSessionToken(testShop, testKey, testSecret, "42", now.Add(-time.Hour), time.Minute)
	otherShop, _ := shopify.MintSessionToken("other-shop.myshopify.com", testKey, testSecret, "42", now, time.Minute)
	for name, bad := range map[string]string{
		"signed with another secret": foreign,
		"expired":                    expired,
		"for another shop":           otherShop,
		"garbage":                    "garbage",
	} {
		_, err := client.ExchangeSessionToken(ctx, testShop, bad)
		if !errors.Is(err, shopify.ErrInvalidSessionToken) {
			t.Errorf("%s: err = %v, want ErrInvalidSessionToken", name, err)
		}
	}
	if fake.AccessToken("other-shop.myshopify.com") != "" {
		t.Error("other shop got a token")
	}
}

func TestAuthorizeURL(t *testing.T) {
	client := shopify.NewClient(shopify.ClientConfig{
		APIKey: testKey, APISecret: testSecret, Scopes: "read_customers,write_customers",
		BaseURL: "http://127.0.0.1:1", // must not leak into a browser redirect
	})
	got, err := client.AuthorizeURL(testShop, "https://app.example.com/auth/callback", "nonce-1")
	if err != nil {
		t.Fatal(err)
	}
	u, err := url.Parse(got)
	if err != nil {
		t.Fatal(err)
	}
	if u.Scheme != "https" || u.Host != testShop || u.Path != "/admin/oauth/authorize" {
		t.Errorf("url = %s", got)
	}
	q := u.Query()
	if q.Get("client_id") != testKey || q.Get("scope") != "read_customers,write_customers" ||
		q.Get("redirect_uri") != "https://app.example.com/auth/callback" || q.Get("state") != "nonce-1" {
		t.Errorf("query = %v", q)
	}
	if _, err := client.AuthorizeURL("evil.com", "https://app.example.com/auth/callback", "n"); err == nil {
		t.Error("authorize URL built for evil.com")
	}
}

func TestShopInfo(t *testing.T) {
	e := newEnv(t, 0)
	want := fixtureShop(t)
	got, err := e.client.ShopInfo(context.Background(), e.shop, e.token)
	if err != nil {
		t.Fatal(err)
	}
	if got != want {
		t.Errorf("ShopInfo = %+v, want %+v", got, want)
	}
	last := e.fake.Requests()[len(e.fake.Requests())-1]
	if last.Path != "/admin/api/"+shopify.APIVersion+"/graphql.json" || last.Host != e.shop || last.Operation != "shop" {
		t.Errorf("request = %+v", last)
	}
}

func TestGraphQLRejectedToken(t *testing.T) {
	e := newEnv(t, 0)
	_, err := e.client.ShopInfo(context.Background(), e.shop, "shpat_wrong")
	if !errors.Is(err, shopify.ErrUnauthorized) {
		t.Fatalf("err = %v, want ErrUnauthorized", err)
	}
	if !strings.Contains(err.Error(), "ShopInfo") || !strings.Contains(err.Error(), e.shop) {
		t.Errorf("error %q does not name the operation and shop", err)
	}
}

func TestGraphQLErrorsNameTheOperation(t *testing.T) {
	e := newEnv(t, 0)
	var out map[string]any
	err := e.client.GraphQL(context.Background(), e.shop, e.token, `query Broken { shop { nmae } }`, nil, &out)
	if err == nil {
		t.Fatal("query with a misspelt field succeeded")
	}
	if !strings.Contains(err.Error(), "Broken") || !strings.Contains(err.Error(), "Field 'nmae' doesn't exist on type 'Shop'") {
		t.Errorf("error = %q", err)
	}
}

func TestCreateWebhookSubscription(t *testing.T) {
	e := newEnv(t, 0)
	ctx := context.Background()
	sub, err := e.client.CreateWebhookSubscription(ctx, e.shop, e.token, "app/uninstalled", "https://app.example.com/webhooks")
	if err != nil {
		t.Fatal(err)
	}
	if sub.Topic != "APP_UNINSTALLED" || sub.CallbackURL != "https://app.example.com/webhooks" ||
		!strings.HasPrefix(sub.ID, "gid://shopify/WebhookSubscription/") {
		t.Errorf("sub = %+v", sub)
	}
	onFake := e.fake.Subscriptions(e.shop)
	if len(onFake) != 1 || onFake[0] != sub {
		t.Errorf("fake has %+v, want [%+v]", onFake, sub)
	}

	// Enum form works too.
	if _, err := e.client.CreateWebhookSubscription(ctx, e.shop, e.token, "ORDERS_CREATE", "https://app.example.com/webhooks"); err != nil {
		t.Errorf("enum topic: %v", err)
	}

	var ue shopify.UserErrors
	_, err = e.client.CreateWebhookSubscription(ctx, e.shop, e.token, "app/uninstalled", "https://app.example.com/webhooks")
	if !errors.As(err, &ue) || !strings.Contains(err.Error(), "already been taken") {
		t.Errorf("duplicate: err = %v", err)
	}
	_, err = e.client.CreateWebhookSubscription(ctx, e.shop, e.token, "orders/paid", "http://app.example.com/webhooks")
	if !errors.As(err, &ue) || !strings.Contains(err.Error(), "http://") {
		t.Errorf("http address: err = %v", err)
	}
	_, err = e.client.CreateWebhookSubscription(ctx, e.shop, e.token, "orders/paid", "not a url")
	if !errors.As(err, &ue) {
		t.Errorf("invalid address: err = %v", err)
	}
	// Compliance topics are not in the API's enum.
	_, err = e.client.CreateWebhookSubscription(ctx, e.shop, e.token, "customers/redact", "https://app.example.com/webhooks")
	if err == nil || !strings.Contains(err.Error(), "invalid value") {
		t.Errorf("unknown topic: err = %v", err)
	}
	if n := len(e.fake.Subscriptions(e.shop)); n != 2 {
		t.Errorf("fake has %d subscriptions after the failures, want 2", n)
	}
}

func TestWebhookSubscriptionsPaginates(t *testing.T) {
	e := newEnv(t, 0)
	ctx := context.Background()
	const n = 110 // more than the 100 per page the client asks for
	for i := range n {
		if _, err := e.client.CreateWebhookSubscription(ctx, e.shop, e.token, "orders/create", fmt.Sprintf("https://app.example.com/webhooks/%d", i)); err != nil {
			t.Fatal(err)
		}
	}
	before := len(e.fake.Requests())
	got, err := e.client.WebhookSubscriptions(ctx, e.shop, e.token)
	if err != nil {
		t.Fatal(err)
	}
	want := e.fake.Subscriptions(e.shop)
	if len(got) != n || len(want) != n {
		t.Fatalf("got %d subscriptions, fake has %d, want %d", len(got), len(want), n)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Fatalf("subscription %d = %+v, want %+v", i, got[i], want[i])
		}
	}
	pages := 0
	for _, r := range e.requestsSince(before) {
		if r.Operation == "webhookSubscriptions" {
			pages++
		}
	}
	if pages != 2 {
		t.Errorf("listed in %d requests, want 2 pages", pages)
	}
}

func TestWebhookSubscriptionsEmpty(t *testing.T) {
	e := newEnv(t, 0)
	got, err := e.client.WebhookSubscriptions(context.Background(), e.shop, e.token)
	if err != nil || len(got) != 0 {
		t.Errorf("got %v, %v", got, err)
	}
}

func statuses(reqs []shopifytest.Request) []int {
	out := make([]int, len(reqs))
	for i, r := range reqs {
		out[i] = r.Status
	}
	return out
}

func TestGraphQLRetries(t *testing.T) {
	cases := []struct {
		name   string
		inject func(*shopifytest.Server)
		want   []int // statuses the fake answered, in order
	}{
		{"THROTTLED", func(s *shopifytest.Server) { s.ThrottleNext(1) }, []int{200, 200}},
		{"429 Retry-After", func(s *shopifytest.Server) { s.RateLimitNext(1) }, []int{429, 200}},
		{"503", func(s *shopifytest.Server) { s.FailNext(2, 503) }, []int{503, 503, 200}},
		{"500", func(s *shopifytest.Server) { s.FailNext(2, 500) }, []int{500, 500, 200}},
		{"502 HTML page", func(s *shopifytest.Server) { s.FailNext(1, 502) }, []int{502, 200}},
		{"504 HTML page", func(s *shopifytest.Server) { s.FailNext(1, 504) }, []int{504, 200}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			e := newEnv(t, 0)
			before := len(e.fake.Requests())
			c.inject(e.fake)
			got, err := e.client.ShopInfo(context.Background(), e.shop, e.token)
			if err != nil {
				t.Fatalf("ShopInfo: %v", err)
			}
			if got.Name != "Apple Computers" {
				t.Errorf("name = %q", got.Name)
			}
			if s := statuses(e.requestsSince(before)); fmt.Sprint(s) != fmt.Sprint(c.want) {
				t.Errorf("fake answered %v, want %v", s, c.want)
			}
		})
	}
}

func TestGraphQLGivesUpAfterRetries(t *testing.T) {
	e := newEnv(t, 3)
	before := len(e.fake.Requests())
	e.fake.FailNext(100, 500)
	_, err := e.client.ShopInfo(context.Background(), e.shop, e.token)
	if err == nil {
		t.Fatal("succeeded against a failing server")
	}
	if !strings.Contains(err.Error(), "ShopInfo") || !strings.Contains(err.Error(), e.shop) {
		t.Errorf("error %q does not name operation and shop", err)
	}
	if n := len(e.requestsSince(before)); n != 3 {
		t.Errorf("made %d attempts, want 3", n)
	}
}

func TestGraphQLNoRetryOnClientErrors(t *testing.T) {
	e := newEnv(t, 5)
	before := len(e.fake.Requests())
	e.fake.FailNext(1, http.StatusNotImplemented)
	if _, err := e.client.ShopInfo(context.Background(), e.shop, e.token); err == nil {
		t.Fatal("501 reported as success")
	}
	if n := len(e.requestsSince(before)); n != 1 {
		t.Errorf("made %d attempts for a 501, want 1", n)
	}
}

func TestGraphQLContextStopsRetries(t *testing.T) {
	e := newEnv(t, 50)

	t.Run("deadline during backoff", func(t *testing.T) {
		before := len(e.fake.Requests())
		e.fake.FailNext(1000, 500)
		defer e.fake.FailNext(0, 0)
		ctx, cancel := context.WithTimeout(context.Background(), 250*time.Millisecond)
		defer cancel()
		_, err := e.client.ShopInfo(ctx, e.shop, e.token)
		if !errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("err = %v, want DeadlineExceeded", err)
		}
		// Backoff starts at ≥50 ms and doubles: at most 3 attempts fit in
		// 250 ms, far from the 50 allowed.
		if n := len(e.requestsSince(before)); n < 1 || n > 4 {
			t.Errorf("made %d attempts", n)
		}
	})

	t.Run("already cancelled", func(t *testing.T) {
		before := len(e.fake.Requests())
		ctx, cancel := context.WithCancel(context.Background())
		cancel()
		_, err := e.client.ShopInfo(ctx, e.shop, e.token)
		if !errors.Is(err, context.Canceled) {
			t.Fatalf("err = %v, want Canceled", err)
		}
		if n := len(e.requestsSince(before)); n != 0 {
			t.Errorf("made %d requests with a cancelled context", n)
		}
	})
}

func TestGraphQLRetriesTransportErrors(t *testing.T) {
	fake := shopifytest.NewServer(t, testKey, testSecret)
	fake.AddShop(shopify.ShopInfo{Name: "A", MyshopifyDomain: testShop})
	flaky := &flakyTransport{failures: 2}
	client := shopify.NewClient(shopify.ClientConfig{
		APIKey: testKey, APISecret: testSecret, BaseURL: fake.URL,
		HTTPClient: &http.Client{Transport: flaky},
	})
	tok, err := client.ExchangeSessionToken(context.Background(), testShop, mustMint(t, testShop))
	if err != nil {
		t.Fatal(err)
	}
	flaky.mu.Lock()
	flaky.failures = 2
	flaky.mu.Unlock()
	info, err := client.ShopInfo(context.Background(), testShop, tok.Token)
	if err != nil {
		t.Fatalf("ShopInfo after transport errors: %v", err)
	}
	if info.Name != "A" {
		t.Errorf("name = %q", info.Name)
	}
	if flaky.calls != 3+1 {
		t.Errorf("transport saw %d calls, want 4 (exchange + 2 failures + success)", flaky.calls)
	}
}

type flakyTransport struct {
	mu       sync.Mutex
	failures int
	calls    int
}

func (f *flakyTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	f.mu.Lock()
	f.calls++
	fail := f.failures > 0 && strings.HasSuffix(req.URL.Path, "graphql.json")
	if fail {
		f.failures--
	}
	f.mu.Unlock()
	if fail {
		if req.Body != nil {
			req.Body.Close()
		}
		return nil, errors.New("connection reset by peer")
	}
	return http.DefaultTransport.RoundTrip(req)
}

func mustMint(t *testing.T, shop string) string {
	t.Helper()
	st, err := shopify.MintSessionToken(shop, testKey, testSecret, "1", time.Now(), time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	return st
}

func TestInvalidShopRefusedWithoutRequest(t *testing.T) {
	fake := shopifytest.NewServer(t, testKey, testSecret)
	calls := 0
	client := shopify.NewClient(shopify.ClientConfig{
		APIKey: testKey, APISecret: testSecret, BaseURL: fake.URL,
		HTTPClient: &http.Client{Transport: roundTripFunc(func(r *http.Request) (*http.Response, error) {
			calls++
			return http.DefaultTransport.RoundTrip(r)
		})},
	})
	ctx := context.Background()
	for _, shop := range []string{"evil.com", "x.myshopify.com.evil.com", "x.myshopify.com/admin", "https://x.myshopify.com", "", "x.myshopify.com\n", "127.0.0.1"} {
		check := func(what string, err error) {
			if err == nil || !strings.Contains(err.Error(), "invalid shop domain") {
				t.Errorf("%s(%q): err = %v", what, shop, err)
			}
		}
		_, err := client.ExchangeCode(ctx, shop, "code")
		check("ExchangeCode", err)
		_, err = client.ExchangeSessionToken(ctx, shop, "tok")
		check("ExchangeSessionToken", err)
		_, err = client.AuthorizeURL(shop, "https://app.example.com/cb", "s")
		check("AuthorizeURL", err)
		check("GraphQL", client.GraphQL(ctx, shop, "tok", "{ shop { name } }", nil, nil))
		_, err = client.ShopInfo(ctx, shop, "tok")
		check("ShopInfo", err)
		_, err = client.WebhookSubscriptions(ctx, shop, "tok")
		check("WebhookSubscriptions", err)
		_, err = client.CreateWebhookSubscription(ctx, shop, "tok", "app/uninstalled", "https://app.example.com/webhooks")
		check("CreateWebhookSubscription", err)
	}
	if calls != 0 || len(fake.Requests()) != 0 {
		t.Errorf("made %d requests (fake saw %d) for invalid shops", calls, len(fake.Requests()))
	}
}

type roundTripFunc func(*http.Request) (*http.Response, error)

func (f roundTripFunc) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }

func TestTopicEnum(t *testing.T) {
	cases := map[string]string{
		"app/uninstalled":                                  "APP_UNINSTALLED",
		"app/scopes_update":                                "APP_SCOPES_UPDATE",
		"orders/create":                                    "ORDERS_CREATE",
		"orders/partially_fulfilled":                       "ORDERS_PARTIALLY_FULFILLED",
		"customers/data_request":                           "CUSTOMERS_DATA_REQUEST",
		"customers_email_marketing_consent/update":         "CUSTOMERS_EMAIL_MARKETING_CONSENT_UPDATE",
		"customers_marketing_consent/update":               "CUSTOMERS_MARKETING_CONSENT_UPDATE",
		"bulk_operations/finish":                           "BULK_OPERATIONS_FINISH",
		"draft_orders/create":                              "DRAFT_ORDERS_CREATE",
		"customer_tags/added":                              "CUSTOMER_TAGS_ADDED",
		"fulfillment_orders/cancellation_request_accepted": "FULFILLMENT_ORDERS_CANCELLATION_REQUEST_ACCEPTED",
		"shop/update":                                      "SHOP_UPDATE",
	}
	for topic, enum := range cases {
		if got := shopify.TopicToEnum(topic); got != enum {
			t.Errorf("TopicToEnum(%q) = %q, want %q", topic, got, enum)
		}
	}
}

func TestOperationName(t *testing.T) {
	cases := map[string]string{
		"query ShopInfo { shop { name } }":                                      "ShopInfo",
		"  mutation webhookSubscriptionCreate($t: WebhookSubscriptionTopic!) {": "webhookSubscriptionCreate",
		"{ shop { name } }":                      "shop",
		"# comment { fake }\n{ s: shop { id } }": "shop",
		"query { products(first: 1) { id } }":    "products",
		"":                                       "graphql",
	}
	for q, want := range cases {
		if got := shopify.OperationName(q); got != want {
			t.Errorf("OperationName(%q) = %q, want %q", q, got, want)
		}
	}
}

func TestSendWebhookIsVerifiable(t *testing.T) {
	fake := shopifytest.NewServer(t, testKey, testSecret)
	body, err := os.ReadFile(filepath.Join(goshopifyFixtures(t), "order.json"))
	if err != nil {
		t.Fatal(err)
	}
	type seen struct {
		header http.Header
		ok     bool
	}
	got := make(chan seen, 1)
	app := httptestServer(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		raw := readAll(t, r)
		got <- seen{r.Header.Clone(), shopify.VerifyWebhookHMAC(raw, r.Header.Get("X-Shopify-Hmac-Sha256"), testSecret) && string(raw) == string(body)}
		w.WriteHeader(http.StatusOK)
	}))
	triggered := time.Date(2025, 11, 3, 12, 0, 0, 0, time.UTC)
	resp, err := fake.SendWebhook(context.Background(), app.URL+"/webhooks", shopifytest.Webhook{
		Topic: "orders/create", Shop: testShop, Body: body, EventID: "evt-1", TriggeredAt: triggered,
	})
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	s := <-got
	if !s.ok {
		t.Error("webhook signature did not verify over the raw body")
	}
	h := s.header
	if h.Get("X-Shopify-Topic") != "orders/create" || h.Get("X-Shopify-Shop-Domain") != testShop ||
		h.Get("X-Shopify-API-Version") != shopify.APIVersion || h.Get("X-Shopify-Event-Id") != "evt-1" ||
		h.Get("Content-Type") != "application/json" {
		t.Errorf("headers = %v", h)
	}
	if at, err := time.Parse(time.RFC3339, h.Get("X-Shopify-Triggered-At")); err != nil || !at.Equal(triggered) {
		t.Errorf("X-Shopify-Triggered-At = %q", h.Get("X-Shopify-Triggered-At"))
	}
	if len(h.Get("X-Shopify-Webhook-Id")) != 36 {
		t.Errorf("X-Shopify-Webhook-Id = %q, want a UUID", h.Get("X-Shopify-Webhook-Id"))
	}
	if shopify.VerifyWebhookHMAC(body, h.Get("X-Shopify-Hmac-Sha256"), "another-secret") {
		t.Error("signature verifies under another secret")
	}
}
