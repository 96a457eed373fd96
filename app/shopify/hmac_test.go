package shopify_test

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/cartwheel/cartwheel/app/shopify"
)

// Vectors published with Shopify's OAuth and app-proxy documentation (also
// used by go-shopify's own tests), secret "hush".
const (
	docSecret     = "hush"
	docOAuthQuery = "code=0907a61c0c8d55e99db179b68161bc00&hmac=4712bf92ffc2917d15a2f5a273e39f0116667419aa4b6ac0b3baaf26fa3c4d20&shop=some-shop.myshopify.com&signature=11813d1e7bbf4629edcda0628a3f7a20&timestamp=1337178173"
	docProxyQuery = "extra=1&extra=2&shop=shop-name.myshopify.com&path_prefix=%2Fapps%2Fawesome_reviews&timestamp=1317327555&signature=a9718877bea71c2484f91608a7eaea1532bdf71f5c56825065fa4ccabe549ef3"
)

func TestVerifyQueryHMAC(t *testing.T) {
	signed := shopify.SignQuery(url.Values{
		"shop":      {"cool-shop.myshopify.com"},
		"timestamp": {"1700000000"},
		"host":      {"YWRtaW4uc2hvcGlmeS5jb20vc3RvcmUvY29vbC1zaG9w"},
		"state":     {"nonce with spaces & symbols"},
	}, testSecret)

	reordered := reverseQuery(signed)
	if reordered == signed {
		t.Fatal("test setup: reordering did not change the query")
	}

	cases := []struct {
		name    string
		query   string
		secret  string
		wantErr string // "" = valid
	}{
		{"shopify doc vector", docOAuthQuery, docSecret, ""},
		{"doc vector tampered", strings.Replace(docOAuthQuery, "timestamp=1337178173", "timestamp=1337178174", 1), docSecret, "mismatch"},
		{"signed", signed, testSecret, ""},
		{"reordered params", reordered, testSecret, ""},
		{"duplicated param", signed + "&shop=evil.myshopify.com", testSecret, "given 2 times"},
		{"duplicated hmac", signed + "&hmac=00", testSecret, "given 2 times"},
		{"missing hmac", "shop=cool-shop.myshopify.com&timestamp=1700000000", testSecret, "missing hmac"},
		{"empty hmac", "hmac=&shop=cool-shop.myshopify.com", testSecret, "missing hmac"},
		{"wrong hmac", replaceParam(signed, "hmac", strings.Repeat("ab", 32)), testSecret, "mismatch"},
		{"tampered value", replaceParam(signed, "shop", "evil.myshopify.com"), testSecret, "mismatch"},
		{"added param", signed + "&admin=1", testSecret, "mismatch"},
		{"other secret", signed, "another-secret", "mismatch"},
		{"empty secret", signed, "", "secret"},
		{"malformed query", "shop=%zz&hmac=00", testSecret, "malformed"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			err := shopify.VerifyQueryHMAC(c.query, c.secret)
			if c.wantErr == "" {
				if err != nil {
					t.Fatalf("rejected: %v", err)
				}
				return
			}
			if err == nil {
				t.Fatalf("accepted, want %q", c.wantErr)
			}
			if !strings.Contains(err.Error(), c.wantErr) {
				t.Errorf("error %q does not mention %q", err, c.wantErr)
			}
		})
	}
}

func TestSignQueryMatchesShopifyVector(t *testing.T) {
	q, _ := url.ParseQuery(docOAuthQuery)
	want := q.Get("hmac")
	q.Del("hmac")
	got, _ := url.ParseQuery(shopify.SignQuery(q, docSecret))
	if got.Get("hmac") != want {
		t.Errorf("hmac = %s, want %s", got.Get("hmac"), want)
	}
	if got.Get("signature") != "" {
		t.Error("signature kept in signed query")
	}
}

func reverseQuery(q string) string {
	parts := strings.Split(q, "&")
	for i, j := 0, len(parts)-1; i < j; i, j = i+1, j-1 {
		parts[i], parts[j] = parts[j], parts[i]
	}
	return strings.Join(parts, "&")
}

func replaceParam(q, key, value string) string {
	parts := strings.Split(q, "&")
	for i, p := range parts {
		if strings.HasPrefix(p, key+"=") {
			parts[i] = key + "=" + url.QueryEscape(value)
		}
	}
	return strings.Join(parts, "&")
}

func TestVerifyWebhookHMAC(t *testing.T) {
	// A real REST-shaped payload, as Shopify sends for customers/create.
	body, err := os.ReadFile(filepath.Join(goshopifyFixtures(t), "customer.json"))
	if err != nil {
		t.Fatal(err)
	}
	mac := hmac.New(sha256.New, []byte(testSecret))
	mac.Write(body)
	independent := base64.StdEncoding.EncodeToString(mac.Sum(nil))

	sig := shopify.SignWebhook(body, testSecret)
	if sig != independent {
		t.Fatalf("SignWebhook = %s, want %s", sig, independent)
	}
	if !shopify.VerifyWebhookHMAC(body, sig, testSecret) {
		t.Error("valid signature rejected")
	}
	tampered := append([]byte(nil), body...)
	tampered[len(tampered)/2] ^= 1
	for name, c := range map[string]struct {
		body           []byte
		header, secret string
	}{
		"tampered body":    {tampered, sig, testSecret},
		"trailing newline": {append(append([]byte(nil), body...), '\n'), sig, testSecret},
		"other secret":     {body, sig, "another-secret"},
		"empty header":     {body, "", testSecret},
		"not base64":       {body, "!!!not-base64!!!", testSecret},
		"hex instead":      {body, strings.Repeat("ab", 32), testSecret},
		"truncated mac":    {body, sig[:20], testSecret},
		"empty secret":     {body, shopify.SignWebhook(body, ""), ""},
	} {
		if shopify.VerifyWebhookHMAC(c.body, c.header, c.secret) {
			t.Errorf("%s: accepted", name)
		}
	}
}

func TestVerifyProxySignature(t *testing.T) {
	docNow := time.Unix(1317327555, 0).Add(20 * time.Second)
	docQ, _ := url.ParseQuery(docProxyQuery)

	ts := t0.Unix()
	signed := shopify.SignProxyQuery(url.Values{
		"shop":                  {testShop},
		"logged_in_customer_id": {""},
		"path_prefix":           {"/apps/cartwheel"},
		"timestamp":             {strconv.FormatInt(ts, 10)},
		"ids":                   {"1", "2", "3"},
		"signature":             {"stale-value-replaced"},
	}, testSecret)
	if signed.Get("signature") == "stale-value-replaced" {
		t.Fatal("SignProxyQuery kept the old signature")
	}

	with := func(v url.Values, key string, vals ...string) url.Values {
		out := url.Values{}
		for k, vs := range v {
			out[k] = append([]string(nil), vs...)
		}
		out[key] = vals
		return out
	}
	without := func(v url.Values, key string) url.Values {
		out := with(v, key)
		delete(out, key)
		return out
	}

	cases := []struct {
		name    string
		q       url.Values
		now     time.Time
		wantErr string
	}{
		{"shopify doc vector (repeated extra joined)", docQ, docNow, ""},
		{"doc vector values split differently", with(docQ, "extra", "1,2"), docNow, ""},
		{"doc vector reordered values", with(docQ, "extra", "2", "1"), docNow, "signature mismatch"},
		{"signed", signed, t0, ""},
		{"signed, 4 min later", signed, t0.Add(4 * time.Minute), ""},
		{"signed, clock behind", signed, t0.Add(-4 * time.Minute), ""},
		{"stale", signed, t0.Add(6 * time.Minute), "stale timestamp"},
		{"from the future", signed, t0.Add(-6 * time.Minute), "stale timestamp"},
		{"forged signature", with(signed, "signature", strings.Repeat("0", 64)), t0, "signature mismatch"},
		{"tampered shop", with(signed, "shop", "evil.myshopify.com"), t0, "signature mismatch"},
		{"tampered customer", with(signed, "logged_in_customer_id", "7"), t0, "signature mismatch"},
		{"fresh timestamp, old signature", with(signed, "timestamp", strconv.FormatInt(ts+600, 10)), t0.Add(10 * time.Minute), "signature mismatch"},
		{"missing signature", without(signed, "signature"), t0, "missing signature"},
		{"two signatures", with(signed, "signature", signed.Get("signature"), "x"), t0, "given 2 times"},
		{"signed without timestamp", shopify.SignProxyQuery(without(signed, "timestamp"), testSecret), t0, "invalid timestamp"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			secret := testSecret
			if strings.HasPrefix(c.name, "doc") || strings.HasPrefix(c.name, "shopify doc") {
				secret = docSecret
			}
			err := shopify.VerifyProxySignature(c.q, secret, c.now, 5*time.Minute)
			if c.wantErr == "" {
				if err != nil {
					t.Fatalf("rejected: %v", err)
				}
				return
			}
			if err == nil {
				t.Fatalf("accepted, want %q", c.wantErr)
			}
			if !strings.Contains(err.Error(), c.wantErr) {
				t.Errorf("error %q does not mention %q", err, c.wantErr)
			}
		})
	}
}

func TestSignProxyQueryMatchesShopifyVector(t *testing.T) {
	q, _ := url.ParseQuery(docProxyQuery)
	want := q.Get("signature")
	q.Del("signature")
	if got := shopify.SignProxyQuery(q, docSecret).Get("signature"); got != want {
		t.Errorf("signature = %s, want %s", got, want)
	}
}
