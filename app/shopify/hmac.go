package shopify

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"net/url"
	"sort"
	"strconv"
	"strings"
	"time"

	goshopify "github.com/bold-commerce/go-shopify/v4"
)

// ErrHMACMismatch: the query is well formed but not signed with our secret.
var ErrHMACMismatch = errors.New("shopify: query hmac: signature mismatch")

// VerifyQueryHMAC checks the hmac parameter Shopify adds to OAuth install and
// callback URLs. rawQuery is the request's raw query string. The comparison
// itself is go-shopify's (constant time); on top of it we refuse repeated
// parameters, because url.Values.Get would read only the first value and a
// second, unsigned one could slip past the code that reads the query later.
func VerifyQueryHMAC(rawQuery, apiSecret string) error {
	if apiSecret == "" {
		return errors.New("shopify: query hmac: api secret not configured")
	}
	q, err := url.ParseQuery(rawQuery)
	if err != nil {
		return fmt.Errorf("shopify: query hmac: malformed query: %w", err)
	}
	for k, vs := range q {
		if len(vs) > 1 {
			return fmt.Errorf("shopify: query hmac: parameter %q given %d times", k, len(vs))
		}
	}
	if q.Get("hmac") == "" {
		return errors.New("shopify: query hmac: missing hmac parameter")
	}
	app := goshopify.App{ApiSecret: apiSecret}
	ok, err := app.VerifyAuthorizationURL(&url.URL{RawQuery: rawQuery})
	if err != nil {
		return fmt.Errorf("shopify: query hmac: %w", err)
	}
	if !ok {
		return ErrHMACMismatch
	}
	return nil
}

// SignQuery returns v encoded as a query string with a valid hmac parameter,
// computed the way go-shopify's VerifyAuthorizationURL checks it.
func SignQuery(v url.Values, apiSecret string) string {
	q := cloneValues(v)
	q.Del("hmac")
	q.Del("signature")
	// Same message construction as go-shopify: the encoded, sorted query,
	// unescaped again. Encode never produces an invalid escape, so the
	// error cannot happen.
	message, _ := url.QueryUnescape(q.Encode())
	mac := hmac.New(sha256.New, []byte(apiSecret))
	mac.Write([]byte(message))
	q.Set("hmac", hex.EncodeToString(mac.Sum(nil)))
	return q.Encode()
}

// VerifyWebhookHMAC reports whether header (X-Shopify-Hmac-Sha256) is the
// base64 HMAC-SHA256 of the raw body under apiSecret. It must be given the
// bytes exactly as received, before any JSON parsing.
func VerifyWebhookHMAC(body []byte, header, apiSecret string) bool {
	if apiSecret == "" {
		return false
	}
	got, err := base64.StdEncoding.DecodeString(strings.TrimSpace(header))
	if err != nil || len(got) != sha256.Size {
		return false
	}
	mac := hmac.New(sha256.New, []byte(apiSecret))
	mac.Write(body)
	return hmac.Equal(got, mac.Sum(nil))
}

// SignWebhook returns the X-Shopify-Hmac-Sha256 value Shopify would send with
// body.
func SignWebhook(body []byte, apiSecret string) string {
	mac := hmac.New(sha256.New, []byte(apiSecret))
	mac.Write(body)
	return base64.StdEncoding.EncodeToString(mac.Sum(nil))
}

// VerifyProxySignature checks an app-proxy request: the signature parameter
// (go-shopify's App.VerifySignature algorithm) and that timestamp is within
// maxAge of now in either direction. The signature alone would accept a
// captured URL forever.
func VerifyProxySignature(q url.Values, apiSecret string, now time.Time, maxAge time.Duration) error {
	if apiSecret == "" {
		return errors.New("shopify: proxy signature: api secret not configured")
	}
	switch n := len(q["signature"]); {
	case n == 0 || q.Get("signature") == "":
		return errors.New("shopify: proxy signature: missing signature parameter")
	case n > 1:
		return fmt.Errorf("shopify: proxy signature: signature given %d times", n)
	}
	app := goshopify.App{ApiSecret: apiSecret}
	if !app.VerifySignature(&url.URL{RawQuery: q.Encode()}) {
		return errors.New("shopify: proxy signature: signature mismatch")
	}
	// The timestamp is covered by the signature, so it is trustworthy now.
	raw := q.Get("timestamp")
	ts, err := strconv.ParseInt(raw, 10, 64)
	if err != nil {
		return fmt.Errorf("shopify: proxy signature: invalid timestamp %q", raw)
	}
	age := now.Sub(time.Unix(ts, 0))
	if age < 0 {
		age = -age
	}
	if age > maxAge {
		return fmt.Errorf("shopify: proxy signature: stale timestamp (%s off, max %s)", age.Round(time.Second), maxAge)
	}
	return nil
}

// SignProxyQuery returns a copy of q with the signature Shopify's app proxy
// would add: each parameter rendered k=v (repeated values joined by ","),
// sorted, concatenated without separator, HMAC-SHA256 hex.
func SignProxyQuery(q url.Values, apiSecret string) url.Values {
	out := cloneValues(q)
	out.Del("signature")
	parts := make([]string, 0, len(out))
	for k, vs := range out {
		parts = append(parts, k+"="+strings.Join(vs, ","))
	}
	sort.Strings(parts)
	mac := hmac.New(sha256.New, []byte(apiSecret))
	mac.Write([]byte(strings.Join(parts, "")))
	out.Set("signature", hex.EncodeToString(mac.Sum(nil)))
	return out
}

func cloneValues(v url.Values) url.Values {
	out := make(url.Values, len(v))
	for k, vs := range v {
		out[k] = append([]string(nil), vs...)
	}
	return out
}
