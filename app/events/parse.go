// Package events ingests storefront events (web pixel, theme tracker,
// server-side wheel events): strict parsing of the batch format in
// storefront/CONTRACT.md, durable storage with group commit, and the
// visitor ↔ customer identity that lets anonymous browsing join a profile.
package events

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"time"
)

// Limits from the storefront contract.
const (
	MaxEvents    = 50
	MaxBodyBytes = 64 << 10
	MaxFuture    = 5 * time.Minute
	MaxAge       = 7 * 24 * time.Hour
)

// Source says where an event came from.
type Source string

const (
	SourcePixel  Source = "pixel"  // web pixel → POST /ingest
	SourceTheme  Source = "theme"  // theme tracker → app proxy POST /proxy/events
	SourceServer Source = "server" // recorded by the app itself (wheel)
)

var (
	// ErrTooLarge: the batch is over MaxBodyBytes or MaxEvents (HTTP 413).
	ErrTooLarge = errors.New("events: batch too large")
	// ErrMalformed wraps what is wrong with a batch as a whole (HTTP 400).
	ErrMalformed = errors.New("events: malformed batch")
)

var (
	visitorRe = regexp.MustCompile(`^[A-Za-z0-9_-]{8,64}$`)
	eventIDRe = regexp.MustCompile(`^[A-Za-z0-9_.:-]{1,64}$`)
)

// ValidVisitorID reports whether s is a well-formed first-party visitor id.
func ValidVisitorID(s string) bool { return visitorRe.MatchString(s) }

// Claim is the pixel's init.data.customer: who Shopify says is logged in,
// as told by the browser. It is not proof (see Identity).
type Claim struct {
	ShopifyID int64
	Email     string
}

// Event is one validated event, ready to store.
type Event struct {
	ID         string
	Name       string
	OccurredAt time.Time
	URL        string
	Referrer   string
	Data       json.RawMessage // only known fields, re-encoded
	// Email is data.checkout.email when present. It is not stored in Data
	// and never identifies anyone: anybody can post it (see Identity).
	Email string
	// CheckoutToken is data.checkout.token on checkout events: a claim
	// that this visitor is in that checkout, applied only once Shopify's
	// signed checkout webhook confirms the token (see ClaimCheckout).
	CheckoutToken string
}

// Batch is a parsed event batch.
type Batch struct {
	Shop      string
	VisitorID string
	Source    Source
	Customer  *Claim
	Events    []Event
	// Repeats counts events whose id already appeared earlier in the same
	// batch: duplicates, reported as such.
	Repeats int
}

// Rejection says why one event of a batch was refused.
type Rejection struct {
	Index int    `json:"index"`
	Error string `json:"error"`
}

// Parse validates a batch against the contract at the current time.
func Parse(raw []byte, src Source) (Batch, []Rejection, error) {
	return ParseAt(raw, src, time.Now())
}

// ParseAt is Parse with an explicit clock. A batch-level problem returns
// ErrTooLarge or ErrMalformed (nothing is stored); an event-level one is a
// Rejection and the other events still count.
func ParseAt(raw []byte, src Source, now time.Time) (Batch, []Rejection, error) {
	if len(raw) > MaxBodyBytes {
		return Batch{}, nil, fmt.Errorf("%w: the body is over %d bytes", ErrTooLarge, MaxBodyBytes)
	}
	var env struct {
		Shop      *string           `json:"shop"`
		VisitorID *string           `json:"visitor_id"`
		Customer  json.RawMessage   `json:"customer"`
		Events    []json.RawMessage `json:"events"`
	}
	dec := json.NewDecoder(bytes.NewReader(raw))
	if err := dec.Decode(&env); err != nil {
		return Batch{}, nil, fmt.Errorf("%w: the body is not a JSON batch object: %s", ErrMalformed, jsonProblem(err))
	}
	if dec.More() {
		return Batch{}, nil, fmt.Errorf("%w: trailing data after the JSON object", ErrMalformed)
	}
	b := Batch{Source: src}
	if env.Shop != nil {
		b.Shop = strings.ToLower(strings.TrimSpace(*env.Shop))
	}
	if env.VisitorID == nil || !ValidVisitorID(*env.VisitorID) {
		return Batch{}, nil, fmt.Errorf("%w: visitor_id must match ^[A-Za-z0-9_-]{8,64}$", ErrMalformed)
	}
	b.VisitorID = *env.VisitorID
	if len(env.Events) == 0 {
		return Batch{}, nil, fmt.Errorf("%w: events must be a non-empty array", ErrMalformed)
	}
	if len(env.Events) > MaxEvents {
		return Batch{}, nil, fmt.Errorf("%w: %d events, at most %d per batch", ErrTooLarge, len(env.Events), MaxEvents)
	}
	if len(env.Customer) > 0 && string(env.Customer) != "null" {
		c, err := parseClaim(env.Customer)
		if err != nil {
			return Batch{}, nil, fmt.Errorf("%w: %v", ErrMalformed, err)
		}
		b.Customer = c
	}
	var rejected []Rejection
	seen := make(map[string]bool, len(env.Events))
	for i, rawEv := range env.Events {
		ev, err := parseEvent(rawEv, src, now)
		if err == nil && seen[ev.ID] {
			// The same id twice in one batch: the later one is a duplicate,
			// counted like any other (not an error).
			b.Repeats++
			continue
		}
		if err != nil {
			rejected = append(rejected, Rejection{Index: i, Error: err.Error()})
			continue
		}
		seen[ev.ID] = true
		b.Events = append(b.Events, ev)
	}
	return b, rejected, nil
}

func parseClaim(raw json.RawMessage) (*Claim, error) {
	var c struct {
		ID    any    `json:"id"`
		Email string `json:"email"`
	}
	d := json.NewDecoder(bytes.NewReader(raw))
	d.UseNumber()
	if err := d.Decode(&c); err != nil {
		return nil, fmt.Errorf("customer must be an object with id and email")
	}
	id, ok := shopifyID(c.ID)
	if !ok && c.ID != nil {
		return nil, fmt.Errorf("customer.id must be a Shopify customer id")
	}
	return &Claim{ShopifyID: id, Email: strings.TrimSpace(clamp(c.Email, 254))}, nil
}

// shopifyID reads 123, "123" or "gid://shopify/Customer/123".
func shopifyID(v any) (int64, bool) {
	var s string
	switch x := v.(type) {
	case json.Number:
		s = x.String()
	case string:
		s = x
		if i := strings.LastIndexByte(s, '/'); strings.HasPrefix(s, "gid://shopify/Customer/") && i >= 0 {
			s = s[i+1:]
		}
	default:
		return 0, false
	}
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil || n <= 0 {
		return 0, false
	}
	return n, true
}

func parseEvent(raw json.RawMessage, src Source, now time.Time) (Event, error) {
	var m map[string]any
	d := json.NewDecoder(bytes.NewReader(raw))
	d.UseNumber()
	if err := d.Decode(&m); err != nil || m == nil {
		return Event{}, fmt.Errorf("event must be an object")
	}
	var ev Event
	id, ok := m["id"].(string)
	if !ok || !eventIDRe.MatchString(id) {
		return Event{}, fmt.Errorf("id is required: 1-64 letters, digits or -_.:")
	}
	ev.ID = id
	name, ok := m["name"].(string)
	if !ok || name == "" {
		return Event{}, fmt.Errorf("name is required")
	}
	sc, known := schemas[name]
	if !known {
		return Event{}, fmt.Errorf("name %q is not an event Cartwheel accepts", clamp(name, 64))
	}
	if sc.themeOnly && src != SourceTheme {
		return Event{}, fmt.Errorf("%s is only accepted from the theme through the app proxy", name)
	}
	ev.Name = name
	ts, ok := m["timestamp"].(string)
	if !ok {
		return Event{}, fmt.Errorf("timestamp is required (RFC 3339)")
	}
	at, err := time.Parse(time.RFC3339Nano, ts)
	if err != nil {
		return Event{}, fmt.Errorf("timestamp must be RFC 3339")
	}
	if at.After(now.Add(MaxFuture)) {
		return Event{}, fmt.Errorf("timestamp is more than 5 minutes in the future")
	}
	if at.Before(now.Add(-MaxAge)) {
		return Event{}, fmt.Errorf("timestamp is older than 7 days")
	}
	ev.OccurredAt = at.UTC().Truncate(time.Microsecond) // PostgreSQL's precision, so dedup compares equal
	if c, present := m["context"]; present && c != nil {
		ctx, err := clean(c, obj(map[string]*field{"url": str(urlText), "referrer": str(urlText)}), "context")
		if err != nil {
			return Event{}, err
		}
		cm := ctx.(map[string]any)
		ev.URL, _ = cm["url"].(string)
		ev.Referrer, _ = cm["referrer"].(string)
	}
	data, present := m["data"]
	if !present || data == nil {
		data = map[string]any{}
	}
	cleaned, err := clean(data, sc.data, "data")
	if err != nil {
		return Event{}, err
	}
	ev.Email = stripContact(cleaned)
	if m, ok := cleaned.(map[string]any); ok {
		if co, ok := m["checkout"].(map[string]any); ok {
			ev.CheckoutToken, _ = co["token"].(string)
		}
	}
	if ev.Referrer != "" {
		cleaned.(map[string]any)["referrer"] = ev.Referrer
	}
	ev.Data, err = json.Marshal(cleaned)
	if err != nil {
		return Event{}, fmt.Errorf("data: %v", err)
	}
	return ev, nil
}

// stripContact takes the checkout's email and phone out of the stored data
// and returns the email: it is needed once, to identify the visitor.
func stripContact(data any) string {
	m, _ := data.(map[string]any)
	co, _ := m["checkout"].(map[string]any)
	if co == nil {
		return ""
	}
	email, _ := co["email"].(string)
	delete(co, "email")
	delete(co, "phone")
	return strings.TrimSpace(email)
}

// jsonProblem turns a decoder error into a short message without echoing
// the input back.
func jsonProblem(err error) string {
	var se *json.SyntaxError
	var te *json.UnmarshalTypeError
	switch {
	case errors.As(err, &se):
		return fmt.Sprintf("invalid JSON at byte %d", se.Offset)
	case errors.As(err, &te):
		return fmt.Sprintf("%s must be %s", te.Field, te.Type.String())
	}
	return "invalid JSON"
}
