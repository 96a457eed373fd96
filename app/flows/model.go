// Package flows is the automation engine: flow definitions (a trigger,
// filters, a tree of steps, exits, re-entry and priority), their published
// versions, the runs of customers through them and the steps those runs
// execute at their wake-up times.
//
// A definition is stored as JSON in flow_versions.definition. Publishing a
// change to a live flow creates a new version; a run keeps the version it
// entered with. Step IDs are stable across versions: the ledger's
// (flow run, step) key and "move waiting runs to the new version" rely on
// them.
package flows

import (
	"encoding/json"
	"fmt"
	"strings"
	"time"
)

// Statuses of a flow.
const (
	StatusDraft  = "draft"
	StatusLive   = "live"
	StatusPaused = "paused"
	StatusOff    = "off" // turned off: its runs ended; can be edited and go live again
)

// Trigger types: what starts a run.
const (
	TriggerSubscribed        = "subscribed"         // consent became subscribed (Sources: wheel, checkout, admin, shopify, import)
	TriggerCustomerCreated   = "customer_created"   // a profile was created
	TriggerCartAbandoned     = "cart_abandoned"     // cart activity, no checkout started or completed for Delay
	TriggerCheckoutAbandoned = "checkout_abandoned" // checkout started, not completed for Delay
	TriggerBrowseAbandoned   = "browse_abandoned"   // viewed products, no add-to-cart for Delay
	TriggerSearchAbandoned   = "search_abandoned"   // searched, no add-to-cart for Delay; at most daily
	TriggerOrderPlaced       = "order_placed"
	TriggerFirstOrder        = "first_order"
	TriggerOrderFulfilled    = "order_fulfilled"
	TriggerSegmentEntered    = "segment_entered"
	TriggerSegmentExited     = "segment_exited"
	TriggerDateProperty      = "date_property" // DateProperty, Days
	TriggerEmailOpened       = "email_opened"  // of EmailFlowID or EmailCampaignID (0: any)
	TriggerEmailClicked      = "email_clicked"
)

// TriggerTypes in the order the editor offers them.
var TriggerTypes = []string{
	TriggerCheckoutAbandoned, TriggerCartAbandoned, TriggerBrowseAbandoned, TriggerSearchAbandoned,
	TriggerSubscribed, TriggerCustomerCreated, TriggerOrderPlaced, TriggerFirstOrder, TriggerOrderFulfilled,
	TriggerSegmentEntered, TriggerSegmentExited, TriggerDateProperty, TriggerEmailOpened, TriggerEmailClicked,
}

// Date properties a date_property trigger can use.
const (
	DateBirthday           = "birthday"              // profile property "birthday" (YYYY-MM-DD or MM-DD), every year
	DateSignupAnniversary  = "signup_anniversary"    // the day consent became subscribed, every year
	DateDaysAfterLastOrder = "days_after_last_order" // Days after the last order
)

// Subscription sources for TriggerSubscribed.
const (
	SourceWheel    = "wheel"
	SourceCheckout = "checkout"
	SourceAdmin    = "admin"
	SourceShopify  = "shopify"
	SourceImport   = "import" // only when the merchant asks for it on the import screen
)

// Step types.
const (
	StepWait         = "wait"           // Wait: a duration, or until a weekday/time of day
	StepWaitForEvent = "wait_for_event" // Event, Timeout; Branches[0] = happened, Branches[1] = timed out
	StepCondition    = "condition"      // Conditions (all must hold); Branches[0] = yes, Branches[1] = no
	StepRandomSplit  = "random_split"   // Branches with Percent summing to 100
	StepSendEmail    = "send_email"     // TemplateID, optional Discount
	StepUpdate       = "update_profile" // AddTag and/or SetProperty
	StepExit         = "exit"
)

// Events a wait_for_event step can wait for.
const (
	EventCheckoutCompleted = "checkout_completed"
	EventOrderPlaced       = "order_placed"
	EventAddedToCart       = "added_to_cart"
	EventEmailOpened       = "email_opened" // an email of this run
	EventEmailClicked      = "email_clicked"
)

// Exit kinds (Flow.Exits).
const (
	ExitOrderPlaced  = "order_placed"  // placed an order since the run started
	ExitUnsubscribed = "unsubscribed"  // consent no longer subscribed, or suppressed
	ExitLeftSegment  = "left_segment"  // left the trigger's segment (segment_entered flows)
	ExitAddedToCart  = "added_to_cart" // browse/search abandonment
	ExitCheckout     = "checkout_started"
	ExitCondition    = "condition" // Exit.Condition holds
)

// Re-entry rules.
const (
	ReEntryNever     = "never"
	ReEntryAfter     = "after" // again after ReEntry.Days days since the last run started
	ReEntryEveryTime = "every_time"
)

// Condition fields, for trigger filters, flow filters, condition splits and
// custom exits.
const (
	CondCartValue         = "cart_value"            // Op gte|lte, Number (the trigger object's total)
	CondProductInCart     = "product_in_collection" // CollectionID: a product of the trigger object is in it
	CondSource            = "source"                // Op eq, Text (subscription source)
	CondInSegment         = "in_segment"            // SegmentID
	CondNotInSegment      = "not_in_segment"        // SegmentID
	CondOrdersSinceStart  = "orders_since_start"    // Op eq|gte|lte, Number
	CondOpenedRunEmail    = "opened_run_email"      // opened an earlier email of this run (StepID: that step; empty: any)
	CondClickedRunEmail   = "clicked_run_email"
	CondHasTag            = "has_tag"                  // Text
	CondOrdersCount       = "orders_count"             // Op, Number (lifetime)
	CondLastOrderDaysAgo  = "last_order_days_ago"      // Op, Number
	CondAverageOrderValue = "average_order_value"      // Op, Number
	CondBoughtProduct     = "bought_product"           // ProductID; Negate for "did not buy"
	CondNoAutomationEmail = "no_automation_email_days" // Number: no flow email in the last N days (other runs)
	CondNoEngagementDays  = "no_engagement_days"       // Number: no open or click in the last N days
)

// Duration is a time.Duration that reads and writes JSON as "36h", "15m".
type Duration time.Duration

// D converts.
func (d Duration) D() time.Duration { return time.Duration(d) }

// MarshalJSON implements json.Marshaler.
func (d Duration) MarshalJSON() ([]byte, error) {
	return json.Marshal(formatDuration(time.Duration(d)))
}

// UnmarshalJSON implements json.Unmarshaler: "1h30m", "3d" (days) or a number of seconds.
func (d *Duration) UnmarshalJSON(b []byte) error {
	var s string
	if err := json.Unmarshal(b, &s); err != nil {
		var n float64
		if err2 := json.Unmarshal(b, &n); err2 != nil {
			return fmt.Errorf("duration: %s is not a string like \"36h\" or a number of seconds", b)
		}
		*d = Duration(time.Duration(n * float64(time.Second)))
		return nil
	}
	v, err := ParseDuration(s)
	if err != nil {
		return err
	}
	*d = Duration(v)
	return nil
}

// ParseDuration reads "90m", "36h", "3d", "1d12h" ("d" = 24 hours).
func ParseDuration(s string) (time.Duration, error) {
	s = strings.TrimSpace(s)
	if s == "" {
		return 0, nil
	}
	var days int
	if i := strings.Index(s, "d"); i > 0 {
		if _, err := fmt.Sscanf(s[:i], "%d", &days); err != nil || days < 0 {
			return 0, fmt.Errorf("duration: %q: days must be a whole number", s)
		}
		s = s[i+1:]
	}
	var rest time.Duration
	if s != "" {
		v, err := time.ParseDuration(s)
		if err != nil {
			return 0, fmt.Errorf("duration: %q: use a form like 36h, 90m or 3d", s)
		}
		rest = v
	}
	return time.Duration(days)*24*time.Hour + rest, nil
}

func formatDuration(d time.Duration) string {
	if d == 0 {
		return "0s"
	}
	if d%(24*time.Hour) == 0 {
		return fmt.Sprintf("%dd", d/(24*time.Hour))
	}
	return d.String()
}

// Definition is one version of a flow: everything the engine needs.
type Definition struct {
	Trigger Trigger `json:"trigger"`
	// Filters are checked at entry and again before every email.
	Filters []Condition `json:"filters,omitempty"`
	Exits   []Exit      `json:"exits,omitempty"`
	ReEntry ReEntry     `json:"reentry"`
	// Priority decides which flow's email goes first when the frequency cap
	// allows one: higher wins (see DefaultPriority).
	Priority int `json:"priority"`
	// MaxLateness: an email deferred (cap, quiet hours) or held (paused
	// flow) longer than this past its due time is skipped, not sent late.
	MaxLateness Duration `json:"max_lateness"`
	// HoldoutPercent (0–MaxHoldoutPercent) of the entrants run through the
	// flow without being sent its emails, to measure what the emails add
	// (see HeldOut).
	HoldoutPercent int    `json:"holdout_percent,omitempty"`
	Steps          []Step `json:"steps"`
}

// Trigger is what starts a run, with its trigger filters (checked once, at
// entry).
type Trigger struct {
	Type string `json:"type"`
	// Delay: the "for N" of the abandonment triggers (default 1h).
	Delay Duration `json:"delay,omitempty"`
	// Sources: subscribed via which (empty: any). An import counts only
	// when its merchant ticked "start welcome flows" on the import screen.
	Sources         []string    `json:"sources,omitempty"`
	SegmentID       int64       `json:"segment_id,omitempty"`
	DateProperty    string      `json:"date_property,omitempty"`
	Days            int         `json:"days,omitempty"`
	EmailFlowID     int64       `json:"email_flow_id,omitempty"`
	EmailCampaignID int64       `json:"email_campaign_id,omitempty"`
	Filters         []Condition `json:"filters,omitempty"`
}

// Condition is one test on the customer, the run or the trigger object.
type Condition struct {
	Field        string  `json:"field"`
	Op           string  `json:"op,omitempty"` // eq | gte | lte (numbers); eq (text)
	Number       float64 `json:"number,omitempty"`
	Text         string  `json:"text,omitempty"`
	SegmentID    int64   `json:"segment_id,omitempty"`
	CollectionID int64   `json:"collection_id,omitempty"`
	ProductID    int64   `json:"product_id,omitempty"`
	StepID       string  `json:"step_id,omitempty"`
	Negate       bool    `json:"negate,omitempty"`
}

// Exit ends a run the moment it holds.
type Exit struct {
	Kind      string     `json:"kind"`
	Condition *Condition `json:"condition,omitempty"` // ExitCondition
}

// ReEntry says whether a customer may start the flow again.
type ReEntry struct {
	Mode string `json:"mode"` // never | after | every_time
	Days int    `json:"days,omitempty"`
}

// Step is one node of the vertical canvas. Splits carry their branches;
// branches don't rejoin: a run that reaches the end of a branch is done.
type Step struct {
	ID   string `json:"id"` // stable across versions, unique in the definition
	Type string `json:"type"`
	Name string `json:"name,omitempty"`

	// wait
	Wait      Duration `json:"wait,omitempty"`
	UntilDays []int    `json:"until_days,omitempty"` // weekdays (0 = Sunday) to wait until; empty: any
	UntilTime string   `json:"until_time,omitempty"` // "09:00" in the recipient's timezone (else the shop's)

	// wait_for_event
	Event   string   `json:"event,omitempty"`
	Timeout Duration `json:"timeout,omitempty"`

	// condition
	Conditions []Condition `json:"conditions,omitempty"`

	// condition, wait_for_event, random_split
	Branches []Branch `json:"branches,omitempty"`

	// send_email
	TemplateID int64     `json:"template_id,omitempty"`
	Discount   *Discount `json:"discount,omitempty"`

	// update_profile
	AddTag      string `json:"add_tag,omitempty"`
	SetProperty string `json:"set_property,omitempty"` // key
	SetValue    string `json:"set_value,omitempty"`
}

// Branch is one path out of a split.
type Branch struct {
	Label   string `json:"label,omitempty"`
	Percent int    `json:"percent,omitempty"` // random_split
	Steps   []Step `json:"steps"`
}

// Discount asks for a unique Shopify code for this recipient.
type Discount struct {
	Kind   string   `json:"kind"`  // percentage | fixed_amount | free_shipping
	Value  float64  `json:"value"` // 10 = 10 % or 10.00 in the shop's currency
	Expiry Duration `json:"expiry"`
	Prefix string   `json:"prefix,omitempty"`
	// Scope: "all" products, or a collection.
	Scope        string `json:"scope"`
	CollectionID int64  `json:"collection_id,omitempty"`
}

// DefaultPriority by trigger: checkout > cart > browse > search > welcome >
// post-purchase > win-back/repeat > sunset.
func DefaultPriority(trigger string) int {
	switch trigger {
	case TriggerCheckoutAbandoned:
		return 90
	case TriggerCartAbandoned:
		return 80
	case TriggerBrowseAbandoned:
		return 70
	case TriggerSearchAbandoned:
		return 60
	case TriggerSubscribed, TriggerCustomerCreated:
		return 50
	case TriggerOrderPlaced, TriggerFirstOrder, TriggerOrderFulfilled:
		return 40
	case TriggerSegmentEntered, TriggerSegmentExited, TriggerDateProperty, TriggerEmailOpened, TriggerEmailClicked:
		return 30
	}
	return 20
}

// Walk calls fn for every step of the tree, depth first in canvas order.
func Walk(steps []Step, fn func(s *Step)) {
	for i := range steps {
		fn(&steps[i])
		for b := range steps[i].Branches {
			Walk(steps[i].Branches[b].Steps, fn)
		}
	}
}

// Find returns the step with the id, or nil.
func (d *Definition) Find(id string) *Step {
	var out *Step
	Walk(d.Steps, func(s *Step) {
		if s.ID == id && out == nil {
			out = s
		}
	})
	return out
}

// Parse reads a definition from JSON (strict: unknown fields are refused).
func Parse(b []byte) (Definition, error) {
	var d Definition
	dec := json.NewDecoder(strings.NewReader(string(b)))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&d); err != nil {
		return Definition{}, fmt.Errorf("flows: definition: %w", err)
	}
	return d, nil
}
