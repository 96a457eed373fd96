package shopify_test

import (
	"crypto/rand"
	"crypto/rsa"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/cartwheel/cartwheel/app/shopify"
)

const (
	testKey    = "app-api-key"
	testSecret = "app-api-secret"
	testShop   = "cool-shop.myshopify.com"
)

var t0 = time.Date(2025, 11, 3, 12, 0, 0, 0, time.UTC)

// shopifyClaims are the claims of a real App Bridge session token, with
// overrides applied; nil values delete the claim.
func shopifyClaims(now time.Time, overrides map[string]any) jwt.MapClaims {
	c := jwt.MapClaims{
		"iss":  "https://" + testShop + "/admin",
		"dest": "https://" + testShop,
		"aud":  testKey,
		"sub":  "42",
		"exp":  now.Add(time.Minute).Unix(),
		"nbf":  now.Unix(),
		"iat":  now.Unix(),
		"jti":  "00000000-0000-0000-0000-000000000000",
		"sid":  "sid-1",
	}
	for k, v := range overrides {
		if v == nil {
			delete(c, k)
		} else {
			c[k] = v
		}
	}
	return c
}

func signHS256(t *testing.T, claims jwt.MapClaims, secret string) string {
	t.Helper()
	s, err := jwt.NewWithClaims(jwt.SigningMethodHS256, claims).SignedString([]byte(secret))
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func TestMintedSessionTokenVerifies(t *testing.T) {
	tok, err := shopify.MintSessionToken(testShop, testKey, testSecret, "42", t0, time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	got, err := shopify.VerifySessionToken(tok, testKey, testSecret, t0.Add(30*time.Second))
	if err != nil {
		t.Fatalf("verify: %v", err)
	}
	if got.Shop != testShop || got.UserID != "42" || got.SessionID == "" {
		t.Errorf("claims = %+v", got)
	}
	if !got.IssuedAt.Equal(t0) || !got.ExpiresAt.Equal(t0.Add(time.Minute)) {
		t.Errorf("times = %v, %v", got.IssuedAt, got.ExpiresAt)
	}

	// Shopify sends aud as a plain string, not an array.
	parsed, _, err := jwt.NewParser().ParseUnverified(tok, jwt.MapClaims{})
	if err != nil {
		t.Fatal(err)
	}
	c := parsed.Claims.(jwt.MapClaims)
	if _, ok := c["aud"].(string); !ok {
		t.Errorf("aud = %#v, want a string", c["aud"])
	}
	for _, k := range []string{"iss", "dest", "aud", "sub", "exp", "nbf", "iat", "jti", "sid"} {
		if _, ok := c[k]; !ok {
			t.Errorf("claim %s missing", k)
		}
	}
	if c["iss"] != "https://"+testShop+"/admin" || c["dest"] != "https://"+testShop {
		t.Errorf("iss/dest = %v / %v", c["iss"], c["dest"])
	}

	tok2, _ := shopify.MintSessionToken(testShop, testKey, testSecret, "42", t0, time.Minute)
	parsed2, _, _ := jwt.NewParser().ParseUnverified(tok2, jwt.MapClaims{})
	if parsed2.Claims.(jwt.MapClaims)["jti"] == c["jti"] {
		t.Error("jti repeats between tokens")
	}
}

func TestMintSessionTokenRejectsBadShop(t *testing.T) {
	if _, err := shopify.MintSessionToken("evil.com", testKey, testSecret, "1", t0, time.Minute); err == nil {
		t.Error("minted a token for evil.com")
	}
}

func TestVerifySessionToken(t *testing.T) {
	rsaKey, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	rs256, err := jwt.NewWithClaims(jwt.SigningMethodRS256, shopifyClaims(t0, nil)).SignedString(rsaKey)
	if err != nil {
		t.Fatal(err)
	}
	none, err := jwt.NewWithClaims(jwt.SigningMethodNone, shopifyClaims(t0, nil)).SignedString(jwt.UnsafeAllowNoneSignatureType)
	if err != nil {
		t.Fatal(err)
	}

	cases := []struct {
		name   string
		token  string
		now    time.Time
		reason string // "" = valid
	}{
		{"valid", signHS256(t, shopifyClaims(t0, nil), testSecret), t0, ""},
		{"expired", signHS256(t, shopifyClaims(t0, nil), testSecret), t0.Add(time.Minute + 11*time.Second), "expired"},
		{"expired within leeway", signHS256(t, shopifyClaims(t0, nil), testSecret), t0.Add(time.Minute + 9*time.Second), ""},
		{"nbf in the future", signHS256(t, shopifyClaims(t0, map[string]any{"nbf": t0.Add(11 * time.Second).Unix()}), testSecret), t0, "not valid yet"},
		{"nbf within leeway", signHS256(t, shopifyClaims(t0, map[string]any{"nbf": t0.Add(9 * time.Second).Unix()}), testSecret), t0, ""},
		{"no exp", signHS256(t, shopifyClaims(t0, map[string]any{"exp": nil}), testSecret), t0, "missing required claim"},
		{"other secret", signHS256(t, shopifyClaims(t0, nil), "another-secret"), t0, "bad signature"},
		{"alg none", none, t0, "signing method"},
		{"RS256", rs256, t0, "signing method"},
		{"foreign aud", signHS256(t, shopifyClaims(t0, map[string]any{"aud": "other-app"}), testSecret), t0, "audience"},
		{"iss host differs from dest", signHS256(t, shopifyClaims(t0, map[string]any{"iss": "https://other-shop.myshopify.com/admin"}), testSecret), t0, "does not match dest"},
		{"iss not the admin", signHS256(t, shopifyClaims(t0, map[string]any{"iss": "https://" + testShop + "/"}), testSecret), t0, "not the shop admin"},
		{"dest not myshopify", signHS256(t, shopifyClaims(t0, map[string]any{"dest": "https://evil.com", "iss": "https://evil.com/admin"}), testSecret), t0, "dest host"},
		{"dest lookalike", signHS256(t, shopifyClaims(t0, map[string]any{"dest": "https://x.myshopify.com.evil.com", "iss": "https://x.myshopify.com.evil.com/admin"}), testSecret), t0, "dest host"},
		{"dest with userinfo", signHS256(t, shopifyClaims(t0, map[string]any{"dest": "https://evil.com@" + testShop}), testSecret), t0, "not a shop URL"},
		{"dest http", signHS256(t, shopifyClaims(t0, map[string]any{"dest": "http://" + testShop}), testSecret), t0, "not a shop URL"},
		{"garbage", "not.a.jwt", t0, "malformed"},
		{"empty", "", t0, "malformed"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got, err := shopify.VerifySessionToken(c.token, testKey, testSecret, c.now)
			if c.reason == "" {
				if err != nil {
					t.Fatalf("rejected valid token: %v", err)
				}
				if got.Shop != testShop {
					t.Errorf("shop = %q", got.Shop)
				}
				return
			}
			if err == nil {
				t.Fatalf("accepted, want rejection (%s)", c.reason)
			}
			if !errors.Is(err, shopify.ErrInvalidSessionToken) {
				t.Errorf("error %v does not wrap ErrInvalidSessionToken", err)
			}
			if !strings.Contains(err.Error(), c.reason) {
				t.Errorf("error %q does not mention %q", err, c.reason)
			}
			if got != (shopify.SessionClaims{}) {
				t.Errorf("claims returned with error: %+v", got)
			}
		})
	}
}

func TestVerifySessionTokenNeedsCredentials(t *testing.T) {
	tok := signHS256(t, shopifyClaims(t0, map[string]any{"aud": ""}), "")
	if _, err := shopify.VerifySessionToken(tok, "", "", t0); err == nil {
		t.Error("accepted a token with empty key and secret")
	}
}
