// Package tracking makes sent email trackable and answerable: signed tokens
// for the open pixel, the click redirect and the unsubscribe page; the
// Tracker that rewrites a rendered message; recording opens and clicks (with
// machine activity flagged); one-click unsubscribe and re-subscribe; the
// SendGrid event webhook with its suppression rules; and the verification of
// the merchant's sender email.
//
// The package holds domain code and SQL, no HTTP types: app/web parses
// requests and calls it.
package tracking

import (
	"crypto/hkdf"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"fmt"
)

// Token purposes. Each has its own key, so a token made for one purpose is
// refused for any other even when the fields look alike.
const (
	PurposeOpen        = "open"
	PurposeClick       = "click"
	PurposeUnsubscribe = "unsubscribe"
)

// ErrBadToken is returned for a token that is malformed, tampered with, or
// made for another purpose.
var ErrBadToken = errors.New("tracking: invalid token")

const (
	tokenVersion = 1
	tagLen       = 16 // truncated HMAC-SHA256: 128 bits
	maxFields    = 4
)

// Tokens signs and verifies the compact tokens in tracking URLs:
// base64url(version ‖ uvarint fields… ‖ HMAC-SHA256(purpose key)[:16]).
// A message id and a link index make a token of about 30 characters.
type Tokens struct {
	keys map[string][]byte
}

// NewTokens derives one key per purpose from secret (the app's
// ENCRYPTION_KEY) with HKDF-SHA256 and the label "cartwheel/tracking/<purpose>".
func NewTokens(secret []byte) (*Tokens, error) {
	if len(secret) < 16 {
		return nil, fmt.Errorf("tracking: token secret too short (%d bytes)", len(secret))
	}
	t := &Tokens{keys: map[string][]byte{}}
	for _, p := range []string{PurposeOpen, PurposeClick, PurposeUnsubscribe} {
		k, err := hkdf.Key(sha256.New, secret, nil, "cartwheel/tracking/"+p, 32)
		if err != nil {
			return nil, fmt.Errorf("tracking: derive %s key: %w", p, err)
		}
		t.keys[p] = k
	}
	return t, nil
}

// Sign returns the token for purpose over the given non-negative fields.
func (t *Tokens) Sign(purpose string, fields ...int64) string {
	key, ok := t.keys[purpose]
	if !ok {
		panic("tracking: unknown token purpose " + purpose)
	}
	buf := make([]byte, 0, 1+len(fields)*binary.MaxVarintLen64+tagLen)
	buf = append(buf, tokenVersion)
	for _, f := range fields {
		if f < 0 {
			panic("tracking: negative token field")
		}
		buf = binary.AppendUvarint(buf, uint64(f))
	}
	buf = append(buf, mac(key, buf)[:tagLen]...)
	return base64.RawURLEncoding.EncodeToString(buf)
}

// Verify checks token for purpose and returns exactly n fields.
func (t *Tokens) Verify(purpose, token string, n int) ([]int64, error) {
	key, ok := t.keys[purpose]
	if !ok || n > maxFields || len(token) > 128 {
		return nil, ErrBadToken
	}
	raw, err := base64.RawURLEncoding.Strict().DecodeString(token)
	if err != nil || len(raw) < 1+n+tagLen {
		return nil, ErrBadToken
	}
	body, tag := raw[:len(raw)-tagLen], raw[len(raw)-tagLen:]
	if !hmac.Equal(tag, mac(key, body)[:tagLen]) {
		return nil, ErrBadToken
	}
	if body[0] != tokenVersion {
		return nil, ErrBadToken
	}
	rest := body[1:]
	out := make([]int64, 0, n)
	for range n {
		v, k := binary.Uvarint(rest)
		if k <= 0 || v > 1<<62 {
			return nil, ErrBadToken
		}
		out = append(out, int64(v))
		rest = rest[k:]
	}
	if len(rest) != 0 {
		return nil, ErrBadToken
	}
	return out, nil
}

func mac(key, data []byte) []byte {
	h := hmac.New(sha256.New, key)
	h.Write(data)
	return h.Sum(nil)
}

// OpenToken, ClickToken and UnsubscribeToken are the tokens of one message.
func (t *Tokens) OpenToken(messageID int64) string { return t.Sign(PurposeOpen, messageID) }

// ClickToken carries the message and the index of the link in its stored list.
func (t *Tokens) ClickToken(messageID int64, link int) string {
	return t.Sign(PurposeClick, messageID, int64(link))
}

// UnsubscribeToken identifies the message whose recipient unsubscribes.
func (t *Tokens) UnsubscribeToken(messageID int64) string {
	return t.Sign(PurposeUnsubscribe, messageID)
}

// ParseOpen returns the message id of an open token.
func (t *Tokens) ParseOpen(tok string) (int64, error) {
	f, err := t.Verify(PurposeOpen, tok, 1)
	if err != nil {
		return 0, err
	}
	return f[0], nil
}

// ParseClick returns the message id and link index of a click token.
func (t *Tokens) ParseClick(tok string) (int64, int, error) {
	f, err := t.Verify(PurposeClick, tok, 2)
	if err != nil {
		return 0, 0, err
	}
	if f[1] > 1<<20 {
		return 0, 0, ErrBadToken
	}
	return f[0], int(f[1]), nil
}

// ParseUnsubscribe returns the message id of an unsubscribe token.
func (t *Tokens) ParseUnsubscribe(tok string) (int64, error) {
	f, err := t.Verify(PurposeUnsubscribe, tok, 1)
	if err != nil {
		return 0, err
	}
	return f[0], nil
}
