package shopifytest_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/cartwheel/cartwheel/app/shopify"
	"github.com/cartwheel/cartwheel/app/shopify/shopifytest"
)

const (
	key    = "k"
	secret = "s"
	shop   = "fake-shop.myshopify.com"
)

// install returns a fake with one shop and its access token.
func install(t *testing.T) (*shopifytest.Server, string) {
	t.Helper()
	s := shopifytest.NewServer(t, key, secret)
	s.AddShop(shopify.ShopInfo{Name: "Fake", Email: "owner@example.com", MyshopifyDomain: shop})
	form := url.Values{"client_id": {key}, "client_secret": {secret}, "code": {s.IssueCode(shop)}}
	// Form encoding is accepted as well as JSON.
	resp := do(t, s, "/admin/oauth/access_token", "application/x-www-form-urlencoded", "", form.Encode())
	if resp.status != 200 || resp.body["access_token"] == nil {
		t.Fatalf("install: %d %v", resp.status, resp.body)
	}
	return s, s.AccessToken(shop)
}

type answer struct {
	status int
	header http.Header
	body   map[string]any
}

func do(t *testing.T, s *shopifytest.Server, path, contentType, token, body string) answer {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, s.URL+path, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Host = shop
	req.Header.Set("Content-Type", contentType)
	if token != "" {
		req.Header.Set("X-Shopify-Access-Token", token)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	a := answer{status: resp.StatusCode, header: resp.Header}
	if err := json.Unmarshal(raw, &a.body); err != nil {
		t.Fatalf("body %q: %v", raw, err)
	}
	return a
}

func gql(t *testing.T, s *shopifytest.Server, token, query string, vars map[string]any) answer {
	t.Helper()
	b, _ := json.Marshal(map[string]any{"query": query, "variables": vars})
	return do(t, s, "/admin/api/"+shopify.APIVersion+"/graphql.json", "application/json", token, string(b))
}

func jsonOf(v any) string {
	b, _ := json.Marshal(v)
	return string(b)
}

func TestUnauthorized(t *testing.T) {
	s, _ := install(t)
	for _, tok := range []string{"", "shpat_nope"} {
		a := gql(t, s, tok, "{ shop { name } }", nil)
		if a.status != 401 || a.body["errors"] != "[API] Invalid API key or access token (unrecognized login or wrong password)" {
			t.Errorf("token %q: %d %v", tok, a.status, a.body)
		}
	}
}

func TestUnknownShop(t *testing.T) {
	s, tok := install(t)
	req, _ := http.NewRequest(http.MethodPost, s.URL+"/admin/api/2025-10/graphql.json", strings.NewReader(`{"query":"{ shop { name } }"}`))
	req.Host = "other.myshopify.com"
	req.Header.Set("X-Shopify-Access-Token", tok) // a token of another shop
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 404 {
		t.Errorf("status = %d", resp.StatusCode)
	}
}

func TestProjectionKeepsOnlySelectedFields(t *testing.T) {
	s, tok := install(t)
	a := gql(t, s, tok, `query Q {
  __typename
  s: shop { name plan { ... on ShopPlan { publicDisplayName } ... on Other { nope } } ...F }
}
fragment F on Shop { myshopifyDomain __typename }`, nil)
	want := `{"__typename":"QueryRoot","s":{"__typename":"Shop","myshopifyDomain":"fake-shop.myshopify.com","name":"Fake","plan":{"publicDisplayName":"Development"}}}`
	if got := jsonOf(a.body["data"]); got != want {
		t.Errorf("data = %s\nwant   %s", got, want)
	}
	if a.header.Get("X-Shopify-API-Version") != shopify.APIVersion {
		t.Errorf("version header = %q", a.header.Get("X-Shopify-API-Version"))
	}
}

func TestUndefinedFieldAndParseErrors(t *testing.T) {
	s, tok := install(t)
	a := gql(t, s, tok, "{ shop { name nmae } }", nil)
	if a.body["data"] != nil || !strings.Contains(jsonOf(a.body["errors"]), `Field 'nmae' doesn't exist on type 'Shop'`) {
		t.Errorf("misspelt field: %v", a.body)
	}
	a = gql(t, s, tok, "{ products(first: 1) { edges { node { id } } } }", nil)
	if !strings.Contains(jsonOf(a.body["errors"]), `Field 'products' doesn't exist on type 'QueryRoot'`) {
		t.Errorf("unknown root field: %v", a.body)
	}
	a = gql(t, s, tok, "mutation { nothingHere(x: 1) { id } }", nil)
	if !strings.Contains(jsonOf(a.body["errors"]), `on type 'Mutation'`) {
		t.Errorf("unknown mutation: %v", a.body)
	}
	a = gql(t, s, tok, "{ shop { name }", nil)
	if a.status != 200 || !strings.Contains(jsonOf(a.body["errors"]), "Parse error") {
		t.Errorf("parse error: %d %v", a.status, a.body)
	}
	if a.body["extensions"] == nil {
		t.Error("parse error without cost extension")
	}
}

func TestCostExtensionAndLeakyBucket(t *testing.T) {
	s, tok := install(t)
	frozen := time.Now()
	s.Now = func() time.Time { return frozen } // no refill while the test runs
	q := "{ webhookSubscriptions(first: 100) { edges { node { id } } } }"
	var last map[string]any
	spent := 0
	for i := 0; ; i++ {
		a := gql(t, s, tok, q, nil)
		cost := a.body["extensions"].(map[string]any)["cost"].(map[string]any)
		if a.body["errors"] != nil {
			if !strings.Contains(jsonOf(a.body["errors"]), `"code":"THROTTLED"`) {
				t.Fatalf("unexpected errors %v", a.body["errors"])
			}
			if cost["actualQueryCost"] != nil {
				t.Errorf("throttled answer has actualQueryCost %v", cost["actualQueryCost"])
			}
			break
		}
		if i > 100 {
			t.Fatal("never throttled")
		}
		last = cost
		spent += int(cost["actualQueryCost"].(float64))
	}
	if last["requestedQueryCost"].(float64) != 102 {
		t.Errorf("requestedQueryCost = %v, want 102 (2 + 100 nodes)", last["requestedQueryCost"])
	}
	ts := last["throttleStatus"].(map[string]any)
	if ts["maximumAvailable"].(float64) != 2000 || ts["restoreRate"].(float64) != 100 {
		t.Errorf("throttleStatus = %v", ts)
	}
	if avail := ts["currentlyAvailable"].(float64); int(avail) != 2000-spent || avail >= 102 {
		t.Errorf("currentlyAvailable = %v after spending %d", avail, spent)
	}
	// Time restores the bucket.
	frozen = frozen.Add(2 * time.Second)
	if a := gql(t, s, tok, q, nil); a.body["errors"] != nil {
		t.Errorf("still throttled after the bucket refilled: %v", a.body["errors"])
	}
}

func TestMaxCostExceeded(t *testing.T) {
	s, tok := install(t)
	sel := "(first: 250) { edges { node { id apiVersion { handle } endpoint { __typename } } } }"
	a := gql(t, s, tok, "{ a: webhookSubscriptions"+sel+" b: webhookSubscriptions"+sel+" }", nil)
	if !strings.Contains(jsonOf(a.body["errors"]), "MAX_COST_EXCEEDED") {
		t.Errorf("answer = %v", a.body)
	}
}

func TestPaginationBothWays(t *testing.T) {
	s, tok := install(t)
	for i := range 5 {
		a := gql(t, s, tok, `mutation($u: String!) { webhookSubscriptionCreate(topic: ORDERS_PAID, webhookSubscription: {uri: $u}) { userErrors { message } } }`,
			map[string]any{"u": fmt.Sprintf("https://example.com/h/%d", i)})
		if jsonOf(a.body["data"]) != `{"webhookSubscriptionCreate":{"userErrors":[]}}` {
			t.Fatalf("create: %v", a.body)
		}
	}
	page := func(args string) (uris []string, pi map[string]any) {
		a := gql(t, s, tok, `{ webhookSubscriptions(`+args+`) { nodes { uri } pageInfo { hasNextPage hasPreviousPage startCursor endCursor } } }`, nil)
		c, ok := a.body["data"].(map[string]any)["webhookSubscriptions"].(map[string]any)
		if !ok {
			t.Fatalf("args %s: %v", args, a.body)
		}
		for _, n := range c["nodes"].([]any) {
			uris = append(uris, strings.TrimPrefix(n.(map[string]any)["uri"].(string), "https://example.com/h/"))
		}
		return uris, c["pageInfo"].(map[string]any)
	}
	got, pi := page("first: 2")
	if fmt.Sprint(got) != "[0 1]" || pi["hasNextPage"] != true || pi["hasPreviousPage"] != false {
		t.Errorf("first page %v %v", got, pi)
	}
	got, pi = page(fmt.Sprintf("first: 2, after: %q", pi["endCursor"]))
	if fmt.Sprint(got) != "[2 3]" || pi["hasNextPage"] != true || pi["hasPreviousPage"] != true {
		t.Errorf("second page %v %v", got, pi)
	}
	got, pi = page(fmt.Sprintf("last: 1, before: %q", pi["startCursor"]))
	if fmt.Sprint(got) != "[1]" || pi["hasPreviousPage"] != true {
		t.Errorf("backwards page %v %v", got, pi)
	}
	got, _ = page("first: 10, topics: [ORDERS_CREATE]")
	if len(got) != 0 {
		t.Errorf("topic filter: %v", got)
	}
	a := gql(t, s, tok, `{ webhookSubscriptions { nodes { id } } }`, nil)
	if !strings.Contains(jsonOf(a.body["errors"]), "first or last") {
		t.Errorf("no page size: %v", a.body)
	}
	a = gql(t, s, tok, `{ webhookSubscriptions(first: 1, after: "bogus") { nodes { id } } }`, nil)
	if !strings.Contains(jsonOf(a.body["errors"]), "Invalid cursor") {
		t.Errorf("bad cursor: %v", a.body)
	}
}

func TestHandleExtendsTheFake(t *testing.T) {
	s, tok := install(t)
	var mu sync.Mutex
	var seen []string
	s.Handle("discountCodeBasicCreate", func(c *shopifytest.Call) (any, error) {
		in := c.Field.ArgMap("basicCodeDiscount")
		code, _ := in["code"].(string)
		mu.Lock()
		seen = append(seen, c.Shop+":"+code)
		mu.Unlock()
		return map[string]any{
			"codeDiscountNode": map[string]any{"__typename": "DiscountCodeNode", "id": "gid://shopify/DiscountCodeNode/1"},
			"userErrors":       []any{},
		}, nil
	})
	a := gql(t, s, tok, `mutation Make($in: DiscountCodeBasicInput!) {
  discountCodeBasicCreate(basicCodeDiscount: $in) { codeDiscountNode { id } userErrors { field message } }
}`, map[string]any{"in": map[string]any{"code": "SPIN10"}})
	if jsonOf(a.body["data"]) != `{"discountCodeBasicCreate":{"codeDiscountNode":{"id":"gid://shopify/DiscountCodeNode/1"},"userErrors":[]}}` {
		t.Errorf("answer = %v", a.body)
	}
	if cost := a.body["extensions"].(map[string]any)["cost"].(map[string]any); cost["requestedQueryCost"].(float64) != 10 {
		t.Errorf("mutation cost = %v, want 10", cost["requestedQueryCost"])
	}
	if fmt.Sprint(seen) != "["+shop+":SPIN10]" {
		t.Errorf("handler saw %v", seen)
	}
	if r := s.Requests(); r[len(r)-1].Operation != "discountCodeBasicCreate" {
		t.Errorf("recorded operation = %q", r[len(r)-1].Operation)
	}
}

func TestTokenEndpointErrors(t *testing.T) {
	s, _ := install(t)
	post := func(body map[string]string) answer {
		b, _ := json.Marshal(body)
		return do(t, s, "/admin/oauth/access_token", "application/json", "", string(b))
	}
	a := post(map[string]string{"client_id": key, "client_secret": "wrong", "code": s.IssueCode(shop)})
	if a.status != 400 || a.body["error"] != "invalid_request" {
		t.Errorf("wrong secret: %d %v", a.status, a.body)
	}
	st, _ := shopify.MintSessionToken("other.myshopify.com", key, secret, "1", time.Now(), time.Minute)
	a = post(map[string]string{
		"client_id": key, "client_secret": secret,
		"grant_type":           "urn:ietf:params:oauth:grant-type:token-exchange",
		"subject_token":        st,
		"subject_token_type":   "urn:ietf:params:oauth:token-type:id_token",
		"requested_token_type": "urn:shopify:params:oauth:token-type:offline-access-token",
	})
	if a.status != 400 || a.body["error"] != "invalid_subject_token" {
		t.Errorf("token of another shop: %d %v", a.status, a.body)
	}
}

func TestSendWebhookDefaults(t *testing.T) {
	s := shopifytest.NewServer(t, key, secret)
	ids := make(chan string, 2)
	srv := newHTTPServer(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		if !shopify.VerifyWebhookHMAC(body, r.Header.Get("X-Shopify-Hmac-Sha256"), secret) {
			w.WriteHeader(401)
			return
		}
		ids <- r.Header.Get("X-Shopify-Webhook-Id") + " " + r.Header.Get("X-Shopify-Event-Id")
	}))
	for range 2 {
		resp, err := s.SendWebhook(context.Background(), srv, shopifytest.Webhook{Topic: "app/uninstalled", Shop: shop, Body: []byte(`{"id":1}`)})
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != 200 {
			t.Fatalf("status %d", resp.StatusCode)
		}
	}
	a, b := <-ids, <-ids
	if a == b || len(a) != 73 {
		t.Errorf("ids %q and %q: want distinct random UUID pairs", a, b)
	}
}
