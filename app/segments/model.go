// Package segments holds the segment rule model: a versioned tree of AND/OR
// groups over a closed set of condition kinds, its validation (with messages
// a merchant understands), its compilation to parameterised SQL, and a plain
// summary. Membership refresh is in refresh.go.
package segments

import (
	"encoding/json"
	"fmt"
)

// Version is the rules format this package writes and understands.
const Version = 1

// Limits on a rule tree.
const (
	MaxDepth      = 5
	MaxConditions = 50
	MaxDays       = 3650
	MaxValues     = 100
	MaxTextLen    = 200
	MaxCount      = 100000
)

// Rules is what a segment stores (segments.rules, versioned).
type Rules struct {
	Version int   `json:"version"`
	Root    Group `json:"root"`
}

// Group combines its items with "and" or "or".
type Group struct {
	Op    string `json:"op"`
	Items []Node `json:"items"`
}

// Node is exactly one of a nested group or a condition. JSON: a group is
// {"group": {...}}, a condition is {"condition": {...}}. The plain struct
// tags (no UnmarshalJSON of its own) keep decoding linear: a custom
// unmarshaler re-scans every subtree, which made a deep tree quadratic.
type Node struct {
	Group     *Group     `json:"group,omitempty"`
	Condition *Condition `json:"condition,omitempty"`
}

// Field names: the closed set of condition kinds.
const (
	// profile
	FieldEmailDomain  = "email_domain"  // op is|is_not, Value
	FieldCountry      = "country"       // op in|not_in, Values (ISO codes)
	FieldCity         = "city"          // op in|not_in, Values
	FieldLanguage     = "language"      // op in|not_in, Values (locale prefixes like "en", "fr")
	FieldSource       = "source"        // op in|not_in, Values
	FieldConsent      = "consent"       // op in|not_in, Values
	FieldTags         = "tags"          // op has_any|has_none, Values
	FieldCreatedAt    = "created_at"    // op within|not_within, Window
	FieldSubscribedAt = "subscribed_at" // op within|not_within, Window
	FieldProperty     = "property"      // op equals|not_equals|exists|not_exists, Key, Value
	// orders
	FieldOrdersCount  = "orders_count"        // op gte|lte|eq|gt|lt, Number
	FieldTotalSpent   = "total_spent"         // op gte|lte|eq|gt|lt, Number
	FieldAOV          = "average_order_value" // op gte|lte|eq|gt|lt, Number
	FieldFirstOrderAt = "first_order_at"      // op within|not_within, Window
	FieldLastOrderAt  = "last_order_at"       // op within|not_within, Window
	FieldBoughtProd   = "bought_product"      // op has|has_not, IDs
	FieldBoughtColl   = "bought_collection"   // op has|has_not, IDs
	FieldUsedDiscount = "used_discount"       // op has|has_not, Value (code; empty = any code)
	FieldRFM          = "rfm"                 // op in|not_in, Values (RFMCells)
	// behaviour
	FieldEvent = "event" // op did|did_not, Event, Count, Window, Filter
	// email
	FieldEmailReceived = "email_received"     // op did|did_not, Count, Window
	FieldEmailOpened   = "email_opened"       // op did|did_not, Count, Window
	FieldEmailClicked  = "email_clicked"      // op did|did_not, Count, Window
	FieldOpenedNoClick = "opened_not_clicked" // op did|did_not, Window
	FieldSuppressed    = "suppressed"         // op is|is_not, Values (reasons; empty = any)
	FieldUnsubscribed  = "unsubscribed"       // op is|is_not
	// membership
	FieldSegment = "segment" // op in|not_in, SegmentID
	// lifecycle funnel (app/lifecycle): op is|is_not, Value (level key),
	// Window: last_days with 30 days (the window ending today) or between
	// two dates 30 days apart, both included
	FieldLifecycle = "lifecycle"
)

// Condition is one test on a customer. Which parameters apply depends on
// Field (see the Field constants); the validator rejects the rest.
type Condition struct {
	Field     string   `json:"field"`
	Op        string   `json:"op"`
	Value     string   `json:"value,omitempty"`
	Values    []string `json:"values,omitempty"`
	IDs       []int64  `json:"ids,omitempty"`
	Number    *float64 `json:"number,omitempty"`
	Key       string   `json:"key,omitempty"`
	Event     string   `json:"event,omitempty"`
	Count     *Count   `json:"count,omitempty"`
	Window    *Window  `json:"window,omitempty"`
	Filter    *Filter  `json:"filter,omitempty"`
	SegmentID int64    `json:"segment_id,omitempty"`
}

// Count is "at least / at most / exactly N times". Nil means at least once.
type Count struct {
	Op string `json:"op"` // at_least | at_most | exactly
	N  int    `json:"n"`
}

// Window limits when something happened. Nil or kind "ever" means any time.
// Dates are calendar days (YYYY-MM-DD) in the shop's timezone; "between"
// includes both days.
type Window struct {
	Kind string `json:"kind"` // ever | last_days | between | since
	Days int    `json:"days,omitempty"`
	From string `json:"from,omitempty"`
	To   string `json:"to,omitempty"`
}

// Filter narrows an event by one of its properties.
type Filter struct {
	Kind  string `json:"kind"` // product | collection | search_term
	Value string `json:"value"`
}

// ErrTooDeep is returned by Parse for rules nested far beyond MaxDepth.
var ErrTooDeep = fmt.Errorf("Groups can be nested at most %d levels deep.", MaxDepth)

// maxJSONDepth is the deepest JSON nesting valid rules can have: the rules
// object (1), the root group (2), then 3 levels per nested group (items
// array, item, group), so a level-5 group sits at 14 and a value inside one
// of its conditions (count, window, values) at 18. Any item of a level-6
// group would sit at 19, so deeper trees are refused before decoding.
const maxJSONDepth = 3*MaxDepth - 1 + 4

// Parse reads rules JSON (stored, or sent by the builder). Nesting is
// checked first in one linear scan, so a hostile document thousands of
// levels deep costs no more than its length.
func Parse(b []byte) (Rules, error) {
	if jsonDepthExceeds(b, maxJSONDepth) {
		return Rules{}, fmt.Errorf("segment rules: %w", ErrTooDeep)
	}
	var r Rules
	if err := json.Unmarshal(b, &r); err != nil {
		return Rules{}, fmt.Errorf("segment rules: %w", err)
	}
	return r, nil
}

// jsonDepthExceeds reports whether b nests objects/arrays deeper than max,
// skipping brackets inside strings. It does not validate the JSON (the
// decoder that follows does).
func jsonDepthExceeds(b []byte, max int) bool {
	depth, inString, escaped := 0, false, false
	for _, c := range b {
		switch {
		case inString:
			switch {
			case escaped:
				escaped = false
			case c == '\\':
				escaped = true
			case c == '"':
				inString = false
			}
		case c == '"':
			inString = true
		case c == '{' || c == '[':
			depth++
			if depth > max {
				return true
			}
		case c == '}' || c == ']':
			depth--
		}
	}
	return false
}

// Walk calls fn for each condition in tree order.
func (r Rules) Walk(fn func(c Condition)) { walk(r.Root, fn) }

func walk(g Group, fn func(c Condition)) {
	for _, n := range g.Items {
		switch {
		case n.Group != nil:
			walk(*n.Group, fn)
		case n.Condition != nil:
			fn(*n.Condition)
		}
	}
}
