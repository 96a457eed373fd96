package events

import (
	"encoding/json"
	"fmt"
	"slices"
	"sort"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/cartwheel/cartwheel/app/input"
)

// The strict schema of event data: each standard event's `data` follows
// Shopify's web pixel payloads (shopify.dev/docs/api/web-pixels-api/standard-events).
// Only the fields below are kept; anything else is dropped by re-encoding
// just the known fields, so a client can't grow our rows with junk.

type kind int

const (
	kString kind = iota
	kNumber
	kInt
	kBool
	kID // Shopify ids come as strings ("123" or "gid://…"); numbers are accepted and kept as strings
	kObject
	kArray
)

type field struct {
	kind     kind
	required bool
	max      int               // strings: max runes kept (clamped, not refused); arrays: max items kept
	fields   map[string]*field // objects
	elem     *field            // arrays
}

func str(max int) *field             { return &field{kind: kString, max: max} }
func reqStr(max int) *field          { return &field{kind: kString, max: max, required: true} }
func num() *field                    { return &field{kind: kNumber} }
func integer() *field                { return &field{kind: kInt} }
func id() *field                     { return &field{kind: kID} }
func reqID() *field                  { return &field{kind: kID, required: true} }
func obj(f map[string]*field) *field { return &field{kind: kObject, fields: f} }
func reqObj(f map[string]*field) *field {
	return &field{kind: kObject, fields: f, required: true}
}
func arr(max int, elem *field) *field { return &field{kind: kArray, max: max, elem: elem} }

const (
	shortText = 255
	text      = 1024
	urlText   = 2048
)

func money() *field { return obj(map[string]*field{"amount": num(), "currencyCode": str(8)}) }

func productVariant() map[string]*field {
	return map[string]*field{
		"id":                reqID(),
		"title":             str(text),
		"untranslatedTitle": str(text),
		"sku":               str(shortText),
		"price":             money(),
		"image":             obj(map[string]*field{"src": str(urlText)}),
		"product": reqObj(map[string]*field{
			"id":                reqID(),
			"title":             str(text),
			"untranslatedTitle": str(text),
			"vendor":            str(shortText),
			"type":              str(shortText),
			"url":               str(urlText),
		}),
	}
}

func cartLine() map[string]*field {
	return map[string]*field{
		"quantity":    {kind: kInt, required: true},
		"cost":        obj(map[string]*field{"totalAmount": money()}),
		"merchandise": reqObj(productVariant()),
	}
}

// checkout keeps what abandoned-checkout and attribution need. email and
// phone are read for identity and then removed before storing (see
// stripContact): the profile holds the address, the event need not.
func checkout() map[string]*field {
	return map[string]*field{
		"token":         reqStr(shortText),
		"email":         str(254),
		"phone":         str(64),
		"currencyCode":  str(8),
		"totalPrice":    money(),
		"subtotalPrice": money(),
		"lineItems": arr(MaxEvents, obj(map[string]*field{
			"id":             id(),
			"title":          str(text),
			"quantity":       integer(),
			"finalLinePrice": money(),
			"variant":        obj(productVariant()),
		})),
		"order": obj(map[string]*field{"id": id()}),
	}
}

// schemas maps each accepted event name to the shape of its data. theme
// marks events only the theme (app proxy) may send.
var schemas = map[string]struct {
	data      *field
	themeOnly bool
}{
	"page_viewed":               {data: obj(map[string]*field{})},
	"product_viewed":            {data: obj(map[string]*field{"productVariant": reqObj(productVariant())})},
	"collection_viewed":         {data: obj(map[string]*field{"collection": reqObj(map[string]*field{"id": id(), "title": str(text), "productVariants": arr(20, obj(productVariant()))})})},
	"search_submitted":          {data: obj(map[string]*field{"searchResult": reqObj(map[string]*field{"query": reqStr(shortText), "productVariants": arr(20, obj(productVariant()))})})},
	"product_added_to_cart":     {data: obj(map[string]*field{"cartLine": reqObj(cartLine())})},
	"product_removed_from_cart": {data: obj(map[string]*field{"cartLine": reqObj(cartLine())})},
	"cart_viewed": {data: obj(map[string]*field{"cart": reqObj(map[string]*field{
		"id":            str(shortText),
		"totalQuantity": integer(),
		"cost":          obj(map[string]*field{"totalAmount": money()}),
		"lines":         arr(MaxEvents, obj(cartLine())),
	})})},
	"checkout_started":                {data: obj(map[string]*field{"checkout": reqObj(checkout())})},
	"checkout_contact_info_submitted": {data: obj(map[string]*field{"checkout": reqObj(checkout())})},
	"checkout_completed":              {data: obj(map[string]*field{"checkout": reqObj(checkout())})},
	"wheel_viewed":                    {data: obj(map[string]*field{"wheel_id": integer()}), themeOnly: true},
	"wheel_closed":                    {data: obj(map[string]*field{"wheel_id": integer()}), themeOnly: true},
}

// KnownEvent reports whether name is an event the storefront may send.
func KnownEvent(name string) bool { _, ok := schemas[name]; return ok }

// KnownEvents lists the event names the storefront may send, sorted (the
// segment builder's activity picker).
// ServerEvents are the events the app records itself (RecordServer):
// "subscribed" is a wheel spin that signed the shopper up.
var ServerEvents = []string{"subscribed"}

// SegmentEvents lists, sorted, the events segments can test: what the
// storefront sends and what the app records.
func SegmentEvents() []string {
	out := append(KnownEvents(), ServerEvents...)
	sort.Strings(out)
	return out
}

// SegmentEvent reports whether name is one of SegmentEvents.
func SegmentEvent(name string) bool {
	return KnownEvent(name) || slices.Contains(ServerEvents, name)
}

func KnownEvents() []string {
	out := make([]string, 0, len(schemas))
	for name := range schemas {
		out = append(out, name)
	}
	sort.Strings(out)
	return out
}

// clean validates v against f and returns only the known fields. path names
// the place for error messages ("data.productVariant.id").
func clean(v any, f *field, path string) (any, error) {
	switch f.kind {
	case kString:
		s, ok := v.(string)
		if !ok {
			return nil, fmt.Errorf("%s must be a string", path)
		}
		return clamp(s, f.max), nil
	case kNumber:
		n, ok := v.(json.Number)
		if !ok {
			return nil, fmt.Errorf("%s must be a number", path)
		}
		x, err := n.Float64()
		if err != nil {
			return nil, fmt.Errorf("%s must be a number", path)
		}
		return x, nil
	case kInt:
		n, ok := v.(json.Number)
		if !ok {
			return nil, fmt.Errorf("%s must be an integer", path)
		}
		x, err := strconv.ParseInt(n.String(), 10, 64)
		if err != nil {
			return nil, fmt.Errorf("%s must be an integer", path)
		}
		return x, nil
	case kBool:
		b, ok := v.(bool)
		if !ok {
			return nil, fmt.Errorf("%s must be true or false", path)
		}
		return b, nil
	case kID:
		switch x := v.(type) {
		case string:
			if x == "" || len(x) > 128 || input.Problem(x) != "" { // jsonb refuses \u0000
				return nil, fmt.Errorf("%s must be a Shopify id", path)
			}
			return x, nil
		case json.Number:
			if _, err := strconv.ParseInt(x.String(), 10, 64); err != nil {
				return nil, fmt.Errorf("%s must be a Shopify id", path)
			}
			return x.String(), nil
		}
		return nil, fmt.Errorf("%s must be a Shopify id", path)
	case kArray:
		a, ok := v.([]any)
		if !ok {
			return nil, fmt.Errorf("%s must be an array", path)
		}
		if len(a) > f.max {
			a = a[:f.max]
		}
		out := make([]any, 0, len(a))
		for i, el := range a {
			c, err := clean(el, f.elem, fmt.Sprintf("%s[%d]", path, i))
			if err != nil {
				return nil, err
			}
			out = append(out, c)
		}
		return out, nil
	case kObject:
		m, ok := v.(map[string]any)
		if !ok {
			return nil, fmt.Errorf("%s must be an object", path)
		}
		out := make(map[string]any, len(f.fields))
		// Sorted so the first error reported is stable.
		keys := make([]string, 0, len(f.fields))
		for k := range f.fields {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		for _, k := range keys {
			sub := f.fields[k]
			val, present := m[k]
			if !present || val == nil {
				if sub.required {
					return nil, fmt.Errorf("%s.%s is required", path, k)
				}
				continue
			}
			c, err := clean(val, sub, path+"."+k)
			if err != nil {
				return nil, err
			}
			out[k] = c
		}
		return out, nil
	}
	return nil, fmt.Errorf("%s: unknown schema kind", path)
}

// clamp cuts s to max runes, never inside a UTF-8 sequence, and drops
// invalid UTF-8 and NUL (PostgreSQL's jsonb refuses \u0000).
func clamp(s string, max int) string {
	if !utf8.ValidString(s) {
		s = strings.ToValidUTF8(s, "\uFFFD")
	}
	s = strings.ReplaceAll(s, "\x00", "")
	if utf8.RuneCountInString(s) <= max {
		return s
	}
	n := 0
	for i := range s {
		if n == max {
			return s[:i]
		}
		n++
	}
	return s
}
