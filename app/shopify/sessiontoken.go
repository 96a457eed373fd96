package shopify

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"net/url"
	"strings"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

// SessionClaims is what the app keeps from a verified App Bridge session token.
type SessionClaims struct {
	Shop      string // myshopify domain, from dest, lower case
	UserID    string // sub: the staff member's user id
	SessionID string // sid
	IssuedAt  time.Time
	ExpiresAt time.Time
}

// ErrInvalidSessionToken is wrapped by every session token rejection, so that
// callers can answer 401 (and ask App Bridge for a fresh token) without
// matching on messages.
var ErrInvalidSessionToken = errors.New("invalid session token")

// sessionLeeway matches Shopify's official libraries: clocks on the merchant's
// machine and ours drift, and tokens only live a minute.
const sessionLeeway = 10 * time.Second

type sessionTokenClaims struct {
	jwt.RegisteredClaims
	Dest string `json:"dest"`
	Sid  string `json:"sid"`
}

func invalidSession(reason string) error {
	return fmt.Errorf("session token: %s: %w", reason, ErrInvalidSessionToken)
}

// VerifySessionToken checks an App Bridge session token: HS256 only, signed
// with apiSecret, aud == apiKey, exp required, exp/nbf with 10 s leeway, the
// hosts of iss and dest equal, dest a myshopify domain and
// iss == "https://<shop>/admin". now is the verification time.
func VerifySessionToken(token, apiKey, apiSecret string, now time.Time) (SessionClaims, error) {
	// An empty secret would make any token signed with an empty key valid.
	if apiKey == "" || apiSecret == "" {
		return SessionClaims{}, invalidSession("app credentials not configured")
	}
	parser := jwt.NewParser(
		jwt.WithValidMethods([]string{jwt.SigningMethodHS256.Alg()}),
		jwt.WithAudience(apiKey),
		jwt.WithExpirationRequired(),
		jwt.WithLeeway(sessionLeeway),
		jwt.WithTimeFunc(func() time.Time { return now }),
	)
	var c sessionTokenClaims
	_, err := parser.ParseWithClaims(token, &c, func(*jwt.Token) (any, error) {
		return []byte(apiSecret), nil
	})
	if err != nil {
		return SessionClaims{}, invalidSession(jwtReason(err))
	}

	dest, err := url.Parse(c.Dest)
	if err != nil || dest.Scheme != "https" || dest.User != nil || (dest.Path != "" && dest.Path != "/") || dest.RawQuery != "" || dest.Fragment != "" {
		return SessionClaims{}, invalidSession(fmt.Sprintf("dest %q is not a shop URL", c.Dest))
	}
	if !ValidShopDomain(dest.Host) {
		return SessionClaims{}, invalidSession(fmt.Sprintf("dest host %q is not a myshopify domain", dest.Host))
	}
	iss, err := url.Parse(c.Issuer)
	if err != nil || !strings.EqualFold(iss.Host, dest.Host) {
		return SessionClaims{}, invalidSession(fmt.Sprintf("iss %q does not match dest host %q", c.Issuer, dest.Host))
	}
	if c.Issuer != "https://"+dest.Host+"/admin" {
		return SessionClaims{}, invalidSession(fmt.Sprintf("iss %q is not the shop admin", c.Issuer))
	}

	out := SessionClaims{
		Shop:      strings.ToLower(dest.Host),
		UserID:    c.Subject,
		SessionID: c.Sid,
		ExpiresAt: c.ExpiresAt.Time, // required above, never nil here
	}
	if c.IssuedAt != nil {
		out.IssuedAt = c.IssuedAt.Time
	}
	return out, nil
}

// jwtReason turns the jwt library's error into the short reason we log and
// return; the first matching sentinel wins because jwt joins several.
func jwtReason(err error) string {
	switch {
	case errors.Is(err, jwt.ErrTokenMalformed):
		return "malformed"
	case errors.Is(err, jwt.ErrTokenSignatureInvalid) && strings.Contains(err.Error(), "signing method"):
		// WithValidMethods reports a foreign alg (none, RS256, ...) as a
		// signature error; say which, it is the interesting attack.
		return "signing method not allowed"
	case errors.Is(err, jwt.ErrTokenSignatureInvalid):
		return "bad signature"
	case errors.Is(err, jwt.ErrTokenUnverifiable):
		return "unverifiable"
	case errors.Is(err, jwt.ErrTokenExpired):
		return "expired"
	case errors.Is(err, jwt.ErrTokenNotValidYet):
		return "not valid yet"
	case errors.Is(err, jwt.ErrTokenInvalidAudience):
		return "audience"
	case errors.Is(err, jwt.ErrTokenRequiredClaimMissing):
		return "missing required claim"
	default:
		return "invalid"
	}
}

// MintSessionToken signs a token with the claims Shopify puts in App Bridge
// session tokens (iss, dest, aud, sub, exp, nbf, iat, jti, sid). Only the dev
// login and tests use it: in production Shopify mints them.
func MintSessionToken(shop, apiKey, apiSecret, userID string, now time.Time, ttl time.Duration) (string, error) {
	if !ValidShopDomain(shop) {
		return "", fmt.Errorf("shopify: mint session token: invalid shop domain %q", shop)
	}
	if apiKey == "" || apiSecret == "" {
		return "", errors.New("shopify: mint session token: api key and secret are required")
	}
	if ttl <= 0 {
		return "", fmt.Errorf("shopify: mint session token: ttl must be positive, got %s", ttl)
	}
	jti, err := randomHex(16)
	if err != nil {
		return "", fmt.Errorf("shopify: mint session token: %w", err)
	}
	sid, err := randomHex(16)
	if err != nil {
		return "", fmt.Errorf("shopify: mint session token: %w", err)
	}
	// MapClaims rather than RegisteredClaims: the jwt library would encode a
	// single audience as an array, while Shopify sends a plain string.
	claims := jwt.MapClaims{
		"iss":  "https://" + shop + "/admin",
		"dest": "https://" + shop,
		"aud":  apiKey,
		"sub":  userID,
		"exp":  now.Add(ttl).Unix(),
		"nbf":  now.Unix(),
		"iat":  now.Unix(),
		"jti":  jti,
		"sid":  sid,
	}
	signed, err := jwt.NewWithClaims(jwt.SigningMethodHS256, claims).SignedString([]byte(apiSecret))
	if err != nil {
		return "", fmt.Errorf("shopify: mint session token for %s: %w", shop, err)
	}
	return signed, nil
}

func randomHex(n int) (string, error) {
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		return "", fmt.Errorf("random bytes: %w", err)
	}
	return hex.EncodeToString(b), nil
}
