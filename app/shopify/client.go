package shopify

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"time"

	goshopify "github.com/bold-commerce/go-shopify/v4"
)

// APIVersion is the Admin API version every call is pinned to. go-shopify's
// default ("stable") hits unversioned paths, so it is always set explicitly.
const APIVersion = "2025-10"

// ClientConfig configures a Client.
type ClientConfig struct {
	APIKey, APISecret string
	Scopes            string       // comma separated
	BaseURL           string       // test override (SHOPIFY_API_BASE_URL); empty = https://{shop}
	HTTPClient        *http.Client // optional
	Retries           int          // attempts per call, default 5; 1 disables retries
}

// Client calls Shopify's OAuth endpoints and GraphQL Admin API for any shop.
// It is safe for concurrent use: a go-shopify client (which keeps per-call
// state) is built for each call.
type Client struct {
	apiKey, apiSecret string
	scopes            string
	retries           int
	http              *http.Client
	// retryBase is the first backoff delay for 5xx and transport errors.
	retryBase time.Duration
}

// ErrUnauthorized is wrapped when Shopify rejects the access token (HTTP
// 401): the app was uninstalled or the token revoked.
var ErrUnauthorized = errors.New("shopify: access token rejected")

// NewClient returns a Client for cfg.
func NewClient(cfg ClientConfig) *Client {
	retries := cfg.Retries
	if retries <= 0 {
		retries = 5
	}
	var hc http.Client
	if cfg.HTTPClient != nil {
		hc = *cfg.HTTPClient
	} else {
		hc.Timeout = 30 * time.Second
	}
	if cfg.BaseURL != "" {
		next := hc.Transport
		if next == nil {
			next = http.DefaultTransport
		}
		// A malformed override is a configuration bug; app/config validates
		// it at start, so here it simply yields a transport that fails loudly.
		base, err := url.Parse(strings.TrimRight(cfg.BaseURL, "/"))
		if err != nil {
			base = nil
		}
		hc.Transport = &baseURLTransport{raw: cfg.BaseURL, base: base, next: next}
	}
	return &Client{
		apiKey:    cfg.APIKey,
		apiSecret: cfg.APISecret,
		scopes:    cfg.Scopes,
		retries:   retries,
		http:      &hc,
		retryBase: 100 * time.Millisecond,
	}
}

// baseURLTransport sends requests meant for https://{shop} to a local fake
// instead. go-shopify's base URL is unexported and always https://{shop}, so
// the switch happens at the transport. The Host header keeps the shop domain,
// which is how the fake tells shops apart.
type baseURLTransport struct {
	raw  string
	base *url.URL
	next http.RoundTripper
}

func (t *baseURLTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	if t.base == nil || t.base.Scheme == "" || t.base.Host == "" {
		if req.Body != nil {
			req.Body.Close() // RoundTrip must close the body, even on error
		}
		return nil, fmt.Errorf("shopify: invalid base URL override %q", t.raw)
	}
	r := req.Clone(req.Context())
	r.Host = req.URL.Host
	r.URL.Scheme = t.base.Scheme
	r.URL.Host = t.base.Host
	r.URL.Path = t.base.Path + req.URL.Path
	r.URL.RawPath = ""
	return t.next.RoundTrip(r)
}

func checkShop(shop string) (string, error) {
	if !ValidShopDomain(shop) {
		return "", fmt.Errorf("shopify: invalid shop domain %q", shop)
	}
	// Host names are case-insensitive; one spelling keeps the fake's and our
	// own bookkeeping simple.
	return strings.ToLower(shop), nil
}

func (c *Client) app() goshopify.App {
	return goshopify.App{ApiKey: c.apiKey, ApiSecret: c.apiSecret, Scope: c.scopes}
}

// AccessToken is an offline Admin API access token and the scopes it grants.
type AccessToken struct {
	Token string
	Scope string
}

type accessTokenResponse struct {
	AccessToken string `json:"access_token"`
	Scope       string `json:"scope"`
}

// postAccessToken posts body to https://{shop}/admin/oauth/access_token.
// go-shopify's client without WithVersion resolves "oauth/access_token"
// under /admin, and parses Shopify's {"error": ...} answers for us. No
// retries: an authorization code is single-use.
func (c *Client) postAccessToken(ctx context.Context, shop string, body any) (AccessToken, error) {
	gc, err := goshopify.NewClient(c.app(), shop, "", goshopify.WithHTTPClient(c.http))
	if err != nil {
		return AccessToken{}, err
	}
	var out accessTokenResponse
	if err := gc.Post(ctx, "oauth/access_token", body, &out); err != nil {
		return AccessToken{}, err
	}
	if out.AccessToken == "" {
		return AccessToken{}, errors.New("response has no access_token")
	}
	return AccessToken{Token: out.AccessToken, Scope: out.Scope}, nil
}

// ExchangeCode trades a legacy OAuth authorization code for an offline token.
func (c *Client) ExchangeCode(ctx context.Context, shop, code string) (AccessToken, error) {
	shop, err := checkShop(shop)
	if err != nil {
		return AccessToken{}, err
	}
	body := map[string]string{
		"client_id":     c.apiKey,
		"client_secret": c.apiSecret,
		"code":          code,
	}
	tok, err := c.postAccessToken(ctx, shop, body)
	if err != nil {
		return AccessToken{}, fmt.Errorf("shopify: exchange code for %s: %w", shop, err)
	}
	return tok, nil
}

// ExchangeSessionToken trades an App Bridge session token for an offline
// access token (managed install). Shopify answers 400 when the session token
// is invalid or expired; that error wraps ErrInvalidSessionToken so the
// caller can ask App Bridge for a new one.
func (c *Client) ExchangeSessionToken(ctx context.Context, shop, sessionToken string) (AccessToken, error) {
	shop, err := checkShop(shop)
	if err != nil {
		return AccessToken{}, err
	}
	body := map[string]string{
		"client_id":            c.apiKey,
		"client_secret":        c.apiSecret,
		"grant_type":           "urn:ietf:params:oauth:grant-type:token-exchange",
		"subject_token":        sessionToken,
		"subject_token_type":   "urn:ietf:params:oauth:token-type:id_token",
		"requested_token_type": "urn:shopify:params:oauth:token-type:offline-access-token",
	}
	tok, err := c.postAccessToken(ctx, shop, body)
	if err != nil {
		var re goshopify.ResponseError
		if errors.As(err, &re) && re.Status == http.StatusBadRequest {
			return AccessToken{}, fmt.Errorf("shopify: exchange session token for %s: %w: %w", shop, ErrInvalidSessionToken, err)
		}
		return AccessToken{}, fmt.Errorf("shopify: exchange session token for %s: %w", shop, err)
	}
	return tok, nil
}

// AuthorizeURL builds the legacy OAuth redirect. It always points at
// https://{shop}, even with a BaseURL override: the merchant's browser
// follows it, not this client.
func (c *Client) AuthorizeURL(shop, redirectURI, state string) (string, error) {
	shop, err := checkShop(shop)
	if err != nil {
		return "", err
	}
	app := c.app()
	app.RedirectUrl = redirectURI
	u, err := app.AuthorizeUrl(shop, state)
	if err != nil {
		return "", fmt.Errorf("shopify: authorize url for %s: %w", shop, err)
	}
	return u, nil
}

// GraphQL runs query against the shop's Admin API and decodes "data" into
// out. go-shopify retries THROTTLED answers (sleeping per the cost
// extension), 429 (Retry-After) and 503; this adds bounded, context-aware
// backoff retries for 500, 502, 504 and transport errors. Errors name the
// operation and shop; a rejected token wraps ErrUnauthorized.
//
// A transport error on a mutation may mean Shopify applied it; the retry then
// meets Shopify's own uniqueness checks (userErrors), which callers handle.
// go-shopify's THROTTLED and 429 waits use time.Sleep, so a cancelled context
// is only noticed once such a wait (normally a second or two) ends.
func (c *Client) GraphQL(ctx context.Context, shop, token, query string, vars any, out any) error {
	shop, err := checkShop(shop)
	if err != nil {
		return err
	}
	op := OperationName(query)
	gc, err := goshopify.NewClient(c.app(), shop, token,
		goshopify.WithVersion(APIVersion),
		goshopify.WithRetry(c.retries),
		goshopify.WithHTTPClient(c.http),
	)
	if err != nil {
		return fmt.Errorf("shopify: graphql %s for %s: %w", op, shop, err)
	}
	for attempt := 1; ; attempt++ {
		err = gc.GraphQL.Query(ctx, query, vars, out)
		if err == nil {
			return nil
		}
		if ctxErr := ctx.Err(); ctxErr != nil {
			return fmt.Errorf("shopify: graphql %s for %s: %w", op, shop, ctxErr)
		}
		if isUnauthorized(err) {
			return fmt.Errorf("shopify: graphql %s for %s: %w: %w", op, shop, ErrUnauthorized, err)
		}
		if !retryable(err) || attempt >= c.retries {
			return fmt.Errorf("shopify: graphql %s for %s: %w", op, shop, err)
		}
		timer := time.NewTimer(c.backoff(attempt))
		select {
		case <-ctx.Done():
			timer.Stop()
			return fmt.Errorf("shopify: graphql %s for %s: %w (last error: %v)", op, shop, ctx.Err(), err)
		case <-timer.C:
		}
	}
}

// backoff doubles from retryBase, capped at 5 s, with jitter so that many
// workers hitting the same outage do not retry in lockstep.
func (c *Client) backoff(attempt int) time.Duration {
	d := c.retryBase << (attempt - 1)
	if d > 5*time.Second || d <= 0 {
		d = 5 * time.Second
	}
	return d/2 + rand.N(d/2+1)
}

func isUnauthorized(err error) bool {
	var re goshopify.ResponseError
	return errors.As(err, &re) && re.Status == http.StatusUnauthorized
}

// retryable reports whether err is a server-side or network failure worth
// another attempt. 503 and 429 are not listed: go-shopify already retried
// them.
func retryable(err error) bool {
	status := 0
	var re goshopify.ResponseError
	var de goshopify.ResponseDecodingError
	var ue *url.Error
	switch {
	case errors.As(err, &re):
		status = re.Status
	case errors.As(err, &de):
		// A proxy's HTML error page fails to decode as JSON.
		status = de.Status
	case errors.As(err, &ue):
		return true
	}
	switch status {
	case http.StatusInternalServerError, http.StatusBadGateway, http.StatusGatewayTimeout:
		return true
	}
	return false
}

var (
	namedOperationRE = regexp.MustCompile(`^\s*(?:query|mutation|subscription)\s+([_A-Za-z][_0-9A-Za-z]*)`)
	firstFieldRE     = regexp.MustCompile(`\{\s*(?:[_A-Za-z][_0-9A-Za-z]*\s*:\s*)?([_A-Za-z][_0-9A-Za-z]*)`)
	commentRE        = regexp.MustCompile(`#[^\n]*`)
)

// OperationName names a GraphQL document for errors and logs: the operation
// name if it has one, else its first root field, else "graphql".
func OperationName(query string) string {
	q := commentRE.ReplaceAllString(query, "")
	if m := namedOperationRE.FindStringSubmatch(q); m != nil {
		return m[1]
	}
	if m := firstFieldRE.FindStringSubmatch(q); m != nil {
		return m[1]
	}
	return "graphql"
}

// ShopInfo is the part of the Shop object the app stores.
type ShopInfo struct {
	Name, Email, MyshopifyDomain, IanaTimezone, CurrencyCode, PlanName string
	// PrimaryDomainURL is where shoppers browse the store (a custom domain
	// or the myshopify one); storefront requests come from its origin.
	PrimaryDomainURL string
}

// plan.displayName is deprecated from 2025-07 on; publicDisplayName is its
// replacement in 2025-10.
const shopInfoQuery = `query ShopInfo {
  shop {
    name
    email
    myshopifyDomain
    ianaTimezone
    currencyCode
    plan { publicDisplayName }
    primaryDomain { url }
  }
}`

// ShopInfo fetches the shop's name, contact email, domain, time zone,
// currency and plan.
func (c *Client) ShopInfo(ctx context.Context, shop, token string) (ShopInfo, error) {
	var out struct {
		Shop struct {
			Name            string `json:"name"`
			Email           string `json:"email"`
			MyshopifyDomain string `json:"myshopifyDomain"`
			IanaTimezone    string `json:"ianaTimezone"`
			CurrencyCode    string `json:"currencyCode"`
			Plan            struct {
				PublicDisplayName string `json:"publicDisplayName"`
			} `json:"plan"`
			PrimaryDomain struct {
				URL string `json:"url"`
			} `json:"primaryDomain"`
		} `json:"shop"`
	}
	if err := c.GraphQL(ctx, shop, token, shopInfoQuery, nil, &out); err != nil {
		return ShopInfo{}, err
	}
	s := out.Shop
	return ShopInfo{
		Name:            s.Name,
		Email:           s.Email,
		MyshopifyDomain: s.MyshopifyDomain,
		IanaTimezone:    s.IanaTimezone,
		CurrencyCode:    s.CurrencyCode,
		PlanName:        s.Plan.PublicDisplayName,

		PrimaryDomainURL: s.PrimaryDomain.URL,
	}, nil
}

// WebhookSubscription is an API-created webhook subscription.
type WebhookSubscription struct {
	ID          string // gid://shopify/WebhookSubscription/…
	Topic       string // GraphQL enum form, e.g. APP_UNINSTALLED
	CallbackURL string
}

// In 2025-10 the destination is the uri field; callbackUrl and endpoint are
// deprecated.
const webhookSubscriptionsQuery = `query WebhookSubscriptions($after: String) {
  webhookSubscriptions(first: 100, after: $after) {
    edges { node { id topic uri } }
    pageInfo { hasNextPage endCursor }
  }
}`

type webhookNode struct {
	ID    string `json:"id"`
	Topic string `json:"topic"`
	URI   string `json:"uri"`
}

// WebhookSubscriptions lists every webhook subscription the app has on the
// shop, following pagination.
func (c *Client) WebhookSubscriptions(ctx context.Context, shop, token string) ([]WebhookSubscription, error) {
	var subs []WebhookSubscription
	var after *string
	// The bound only guards against a server that never ends pagination.
	for page := 0; page < 1000; page++ {
		var out struct {
			WebhookSubscriptions struct {
				Edges []struct {
					Node webhookNode `json:"node"`
				} `json:"edges"`
				PageInfo struct {
					HasNextPage bool   `json:"hasNextPage"`
					EndCursor   string `json:"endCursor"`
				} `json:"pageInfo"`
			} `json:"webhookSubscriptions"`
		}
		vars := map[string]any{"after": after}
		if err := c.GraphQL(ctx, shop, token, webhookSubscriptionsQuery, vars, &out); err != nil {
			return nil, err
		}
		for _, e := range out.WebhookSubscriptions.Edges {
			subs = append(subs, WebhookSubscription{ID: e.Node.ID, Topic: e.Node.Topic, CallbackURL: e.Node.URI})
		}
		pi := out.WebhookSubscriptions.PageInfo
		if !pi.HasNextPage {
			return subs, nil
		}
		if pi.EndCursor == "" {
			return nil, fmt.Errorf("shopify: graphql WebhookSubscriptions for %s: hasNextPage without endCursor", shop)
		}
		cursor := pi.EndCursor
		after = &cursor
	}
	return nil, fmt.Errorf("shopify: graphql WebhookSubscriptions for %s: too many pages", shop)
}

const webhookSubscriptionCreateMutation = `mutation WebhookSubscriptionCreate($topic: WebhookSubscriptionTopic!, $webhookSubscription: WebhookSubscriptionInput!) {
  webhookSubscriptionCreate(topic: $topic, webhookSubscription: $webhookSubscription) {
    webhookSubscription { id topic uri }
    userErrors { field message }
  }
}`

// UserError is one entry of a mutation's userErrors: Shopify accepted the
// request but refused the input.
type UserError struct {
	Field   []string `json:"field"`
	Message string   `json:"message"`
}

// UserErrors is returned (wrapped) when a mutation answers with userErrors.
type UserErrors []UserError

func (e UserErrors) Error() string {
	msgs := make([]string, len(e))
	for i, u := range e {
		if len(u.Field) > 0 {
			msgs[i] = strings.Join(u.Field, ".") + ": " + u.Message
		} else {
			msgs[i] = u.Message
		}
	}
	return strings.Join(msgs, "; ")
}

// CreateWebhookSubscription subscribes callbackURL to topic, which may be
// given as "app/uninstalled" or "APP_UNINSTALLED". userErrors come back as a
// wrapped UserErrors.
func (c *Client) CreateWebhookSubscription(ctx context.Context, shop, token, topic, callbackURL string) (WebhookSubscription, error) {
	enum := topic
	if strings.Contains(topic, "/") {
		enum = TopicToEnum(topic)
	}
	vars := map[string]any{
		"topic": enum,
		"webhookSubscription": map[string]any{
			"uri":    callbackURL,
			"format": "JSON",
		},
	}
	var out struct {
		WebhookSubscriptionCreate struct {
			WebhookSubscription *webhookNode `json:"webhookSubscription"`
			UserErrors          UserErrors   `json:"userErrors"`
		} `json:"webhookSubscriptionCreate"`
	}
	if err := c.GraphQL(ctx, shop, token, webhookSubscriptionCreateMutation, vars, &out); err != nil {
		return WebhookSubscription{}, err
	}
	res := out.WebhookSubscriptionCreate
	if len(res.UserErrors) > 0 {
		return WebhookSubscription{}, fmt.Errorf("shopify: create webhook %s for %s: %w", enum, shop, res.UserErrors)
	}
	if res.WebhookSubscription == nil {
		return WebhookSubscription{}, fmt.Errorf("shopify: create webhook %s for %s: no subscription in response", enum, shop)
	}
	n := res.WebhookSubscription
	return WebhookSubscription{ID: n.ID, Topic: n.Topic, CallbackURL: n.URI}, nil
}

// TopicToEnum turns a REST/webhook-header topic ("app/uninstalled",
// "customers/data_request") into its GraphQL enum form ("APP_UNINSTALLED").
func TopicToEnum(topic string) string {
	return strings.ToUpper(strings.ReplaceAll(topic, "/", "_"))
}
