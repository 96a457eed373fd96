// Package campaigns holds one-off emails to segments (issue 12): the
// campaign and its validation, the store (drafts that autosave, duplicate,
// delete), the reachable count by reason for an audience and the audience
// snapshot taken right before sending, which is also the send checkpoint.
//
// It is domain code: no HTTP types; every query filters by the shop id the
// caller took from the verified session.
package campaigns

import (
	"fmt"
	"sort"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/cartwheel/cartwheel/app/input"
)

// Statuses of a campaign.
const (
	StatusDraft     = "draft"
	StatusScheduled = "scheduled"
	StatusSending   = "sending"
	StatusPaused    = "paused"
	StatusSent      = "sent"
	StatusCancelled = "cancelled"
)

// Send modes.
const (
	SendNow   = "now"   // as soon as it is started
	SendAt    = "at"    // at SendAt (chosen in the shop's timezone)
	SendLocal = "local" // at SendAt's wall-clock time in each recipient's timezone
)

// What local-time sending does for zones where the time has already passed.
const (
	PastZonesNextDay = "next_day"
	PastZonesNow     = "now"
)

// A/B winner metrics.
const (
	WinnerByClicks  = "clicks" // default
	WinnerByOpens   = "opens"  // machine opens excluded
	WinnerByRevenue = "revenue"
)

// Variant values of a recipient.
const (
	VariantRest    = ""        // gets the winner once it is chosen
	VariantHoldout = "holdout" // gets nothing; reports compare against it
)

// Limits.
const (
	MaxVariants    = 4
	MaxSegments    = 20 // included, and excluded, each
	MaxNameRunes   = 100
	MaxSubject     = 200
	MaxPreheader   = 250
	MaxSenderName  = 100
	MaxUTMCampaign = 100
	MaxWaitHours   = 168
)

// Audience is who a campaign goes to: members of any included segment who
// are in no excluded segment. MostEngagedFirst orders the send (recent
// openers and clickers first) and with it who is over a daily limit.
type Audience struct {
	Include          []int64 `json:"include"`
	Exclude          []int64 `json:"exclude"`
	MostEngagedFirst bool    `json:"most_engaged_first"`
}

// Schedule is when a campaign goes out. Local-time sending is stored now and
// carried out by the send pipeline.
type Schedule struct {
	Mode      string     `json:"mode"`       // now | at | local
	SendAt    *time.Time `json:"send_at"`    // at and local
	PastZones string     `json:"past_zones"` // local: next_day | now
}

// Variant is one A/B version; empty fields take the campaign's own value.
type Variant struct {
	Key        string `json:"key"` // "A".."D"
	Subject    string `json:"subject"`
	Preheader  string `json:"preheader"`
	SenderName string `json:"sender_name"`
	TemplateID int64  `json:"template_id"`
}

// AB is the A/B test (no Variants: no test) and the holdout group.
type AB struct {
	Variants       []Variant `json:"variants"`
	TestPercent    int       `json:"test_percent"` // share of the audience split evenly over Variants
	WinnerBy       string    `json:"winner_by"`
	WaitHours      int       `json:"wait_hours"`      // before the winner is chosen
	HoldoutPercent int       `json:"holdout_percent"` // share of the audience that gets nothing
}

// Draft is what the merchant edits: everything but the lifecycle fields.
type Draft struct {
	Name        string
	TemplateID  int64 // 0: not chosen yet
	Subject     string
	Preheader   string
	SenderName  string // "": the shop's sender name
	UTMCampaign string
	Audience    Audience
	Schedule    Schedule
	AB          AB
}

// Campaign is one stored campaign.
type Campaign struct {
	ID     int64
	ShopID int64
	Status string
	Draft
	// Seed makes the snapshot's A/B and holdout split reproducible.
	Seed int64
	// AudienceSize and SnapshotAt are set by Snapshot.
	AudienceSize int
	SnapshotAt   *time.Time
	PausedReason string
	CreatedAt    time.Time
	UpdatedAt    time.Time
	StartedAt    *time.Time
	FinishedAt   *time.Time
	// StartsAt is when a scheduled campaign starts: the send time, or for
	// local-time sending the moment it comes in the first timezone.
	StartsAt *time.Time
	// The A/B test's outcome: when the winner is due to be picked (set by
	// the snapshot), when it was, the winning variant's key ("" = not
	// yet) and the test's figures at that moment.
	ABDecideAt  *time.Time
	ABDecidedAt *time.Time
	ABWinner    string
	ABResults   []VariantResult
}

// HasTest says whether the campaign runs an A/B test.
func (c Campaign) HasTest() bool { return len(c.AB.Variants) >= 2 }

// FieldErrors maps a form field to a message a merchant understands. Field
// names are the form's: name, template_id, subject, preheader, sender_name,
// utm_campaign, include_segments, exclude_segments, send_mode, send_at,
// past_zones, ab_variants, ab_variants.<i>.<field>, ab_test_percent,
// ab_winner_by, ab_wait_hours, ab_holdout_percent.
type FieldErrors map[string]string

func (f FieldErrors) Error() string {
	parts := make([]string, 0, len(f))
	for _, k := range f.fields() {
		parts = append(parts, k+": "+f[k])
	}
	return "campaigns: invalid campaign: " + strings.Join(parts, "; ")
}

// fields are the fields with an error, in name order.
func (f FieldErrors) fields() []string {
	keys := make([]string, 0, len(f))
	for k := range f {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

// Normalize trims the text fields, sorts and deduplicates the segment lists
// and fills the defaults, so a stored draft reads back as it was saved.
func (d Draft) Normalize() Draft {
	d.Name = strings.TrimSpace(d.Name)
	d.Subject = strings.TrimSpace(d.Subject)
	d.Preheader = strings.TrimSpace(d.Preheader)
	d.SenderName = strings.TrimSpace(d.SenderName)
	d.UTMCampaign = strings.TrimSpace(d.UTMCampaign)
	d.Audience.Include = uniqueIDs(d.Audience.Include)
	d.Audience.Exclude = uniqueIDs(d.Audience.Exclude)
	if d.Schedule.Mode == "" {
		d.Schedule.Mode = SendNow
	}
	if d.Schedule.PastZones == "" {
		d.Schedule.PastZones = PastZonesNextDay
	}
	if d.Schedule.Mode == SendNow {
		d.Schedule.SendAt = nil
	}
	if d.Schedule.SendAt != nil {
		t := d.Schedule.SendAt.UTC().Truncate(time.Microsecond) // what PostgreSQL keeps
		d.Schedule.SendAt = &t
	}
	if d.AB.WinnerBy == "" {
		d.AB.WinnerBy = WinnerByClicks
	}
	vs := make([]Variant, len(d.AB.Variants))
	for i, v := range d.AB.Variants {
		v.Key = strings.ToUpper(strings.TrimSpace(v.Key))
		if v.Key == "" && i < MaxVariants {
			v.Key = string(rune('A' + i))
		}
		v.Subject, v.Preheader, v.SenderName = strings.TrimSpace(v.Subject), strings.TrimSpace(v.Preheader), strings.TrimSpace(v.SenderName)
		vs[i] = v
	}
	d.AB.Variants = vs
	return d
}

func uniqueIDs(ids []int64) []int64 {
	out := make([]int64, 0, len(ids))
	seen := map[int64]bool{}
	for _, id := range ids {
		if !seen[id] {
			seen[id] = true
			out = append(out, id)
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i] < out[j] })
	return out
}

// Check validates the shape of a draft as typed (after Normalize). Drafts
// may be unfinished — they autosave — so an empty subject, template or
// audience is fine here; Ready says what is missing before sending. It
// returns every problem at once, or nil.
func (d Draft) Check() FieldErrors {
	errs := FieldErrors{}
	text := func(field, v string, max int, what string) {
		switch {
		case input.Problem(v) != "":
			errs[field] = "This " + input.Problem(v) + "."
		case utf8.RuneCountInString(v) > max:
			errs[field] = fmt.Sprintf("Keep the %s to %d characters or fewer.", what, max)
		case strings.ContainsAny(v, "\r\n"):
			errs[field] = fmt.Sprintf("The %s can't contain line breaks.", what)
		}
	}
	if d.Name == "" {
		errs["name"] = "Enter a name for the campaign."
	} else {
		text("name", d.Name, MaxNameRunes, "name")
	}
	text("subject", d.Subject, MaxSubject, "subject")
	text("preheader", d.Preheader, MaxPreheader, "preheader")
	text("sender_name", d.SenderName, MaxSenderName, "sender name")
	if _, bad := errs["sender_name"]; !bad && strings.ContainsAny(d.SenderName, "<>\"") {
		errs["sender_name"] = "The sender name can't contain quotes or angle brackets."
	}
	text("utm_campaign", d.UTMCampaign, MaxUTMCampaign, "UTM campaign name")
	if d.TemplateID < 0 {
		errs["template_id"] = "Choose a template."
	}
	segs := func(field string, ids []int64, what string) {
		if len(ids) > MaxSegments {
			errs[field] = fmt.Sprintf("Choose at most %d segments to %s.", MaxSegments, what)
		}
		for _, id := range ids {
			if id <= 0 {
				errs[field] = "Choose segments from the list."
			}
		}
	}
	segs("include_segments", d.Audience.Include, "include")
	segs("exclude_segments", d.Audience.Exclude, "exclude")
	if _, bad := errs["exclude_segments"]; !bad {
		in := map[int64]bool{}
		for _, id := range d.Audience.Include {
			in[id] = true
		}
		for _, id := range d.Audience.Exclude {
			if in[id] {
				errs["exclude_segments"] = "A segment can't be both included and excluded."
			}
		}
	}
	switch d.Schedule.Mode {
	case SendNow:
	case SendAt, SendLocal:
		if d.Schedule.SendAt == nil {
			errs["send_at"] = "Choose the date and time to send."
		}
	default:
		errs["send_mode"] = "Choose when to send: now, at a time, or at a time in each recipient's timezone."
	}
	if d.Schedule.PastZones != PastZonesNextDay && d.Schedule.PastZones != PastZonesNow {
		errs["past_zones"] = "Choose what happens where the time has already passed: the next day, or right away."
	}
	d.AB.check(errs)
	if len(errs) == 0 {
		return nil
	}
	return errs
}

func (ab AB) check(errs FieldErrors) {
	if len(ab.Variants) > MaxVariants {
		errs["ab_variants"] = fmt.Sprintf("An A/B test can have at most %d variants.", MaxVariants)
		return
	}
	if len(ab.Variants) == 1 {
		errs["ab_variants"] = "An A/B test needs at least two variants (or none for no test)."
	}
	seen := map[string]bool{}
	for i, v := range ab.Variants {
		f := fmt.Sprintf("ab_variants.%d.", i)
		if len(v.Key) != 1 || v.Key[0] < 'A' || v.Key[0] >= 'A'+MaxVariants {
			errs[f+"key"] = "Variants are named A to D."
		} else if seen[v.Key] {
			errs[f+"key"] = "Each variant needs its own letter."
		}
		seen[v.Key] = true
		for _, c := range []struct {
			field, v, what string
			max            int
		}{{"subject", v.Subject, "subject", MaxSubject}, {"preheader", v.Preheader, "preheader", MaxPreheader},
			{"sender_name", v.SenderName, "sender name", MaxSenderName}} {
			switch {
			case input.Problem(c.v) != "":
				errs[f+c.field] = "This " + input.Problem(c.v) + "."
			case utf8.RuneCountInString(c.v) > c.max:
				errs[f+c.field] = fmt.Sprintf("Keep the %s to %d characters or fewer.", c.what, c.max)
			case strings.ContainsAny(c.v, "\r\n"):
				errs[f+c.field] = fmt.Sprintf("The %s can't contain line breaks.", c.what)
			case c.field == "sender_name" && strings.ContainsAny(c.v, "<>\""):
				errs[f+c.field] = "The sender name can't contain quotes or angle brackets."
			}
		}
		if v.TemplateID < 0 {
			errs[f+"template_id"] = "Choose a template."
		}
	}
	if ab.TestPercent < 0 || ab.TestPercent > 100 {
		errs["ab_test_percent"] = "Enter a test share from 0 to 100 percent."
	} else if len(ab.Variants) >= 2 && ab.TestPercent == 0 {
		errs["ab_test_percent"] = "Enter the share of the audience that gets the test, such as 20 percent."
	}
	if ab.HoldoutPercent < 0 || ab.HoldoutPercent > 50 {
		errs["ab_holdout_percent"] = "Enter a holdout share from 0 to 50 percent."
	}
	if _, bad := errs["ab_test_percent"]; !bad && errs["ab_holdout_percent"] == "" && ab.TestPercent+ab.HoldoutPercent > 100 {
		errs["ab_test_percent"] = "The test share and the holdout together can't be more than 100 percent."
	}
	switch ab.WinnerBy {
	case WinnerByClicks, WinnerByOpens, WinnerByRevenue:
	default:
		errs["ab_winner_by"] = "Choose how the winner is picked: click rate, open rate or revenue."
	}
	if ab.WaitHours < 0 || ab.WaitHours > MaxWaitHours {
		errs["ab_wait_hours"] = fmt.Sprintf("Enter a wait from 0 to %d hours.", MaxWaitHours)
	} else if len(ab.Variants) >= 2 && ab.WaitHours == 0 && ab.TestPercent < 100 {
		errs["ab_wait_hours"] = "Enter how many hours to wait before the winner goes to the rest."
	}
}

// Ready says what a saved draft still lacks before it can be scheduled or
// sent (nil: nothing), given which of its template and segment ids exist
// in the shop.
func (c Campaign) Ready(now time.Time, refs Refs) FieldErrors {
	errs := FieldErrors{}
	if c.TemplateID == 0 {
		errs["template_id"] = "Choose a template."
	}
	if c.Subject == "" {
		errs["subject"] = "Enter a subject line."
	}
	if len(c.Audience.Include) == 0 {
		errs["include_segments"] = "Choose at least one segment to send to."
	}
	if c.Schedule.Mode == SendAt && c.Schedule.SendAt != nil && !c.Schedule.SendAt.After(now) {
		errs["send_at"] = "Choose a time in the future."
	}
	refs.check(c.Draft, errs)
	if len(errs) == 0 {
		return nil
	}
	return errs
}

// Refs are which ids a draft refers to exist in the shop.
type Refs struct {
	Templates, Segments map[int64]bool
}

func (r Refs) check(d Draft, errs FieldErrors) {
	if d.TemplateID != 0 && !r.Templates[d.TemplateID] {
		errs["template_id"] = "That template no longer exists. Choose another."
	}
	for field, ids := range map[string][]int64{"include_segments": d.Audience.Include, "exclude_segments": d.Audience.Exclude} {
		for _, id := range ids {
			if !r.Segments[id] {
				errs[field] = "A chosen segment no longer exists. Remove it or choose another."
			}
		}
	}
	for i, v := range d.AB.Variants {
		if v.TemplateID != 0 && !r.Templates[v.TemplateID] {
			errs[fmt.Sprintf("ab_variants.%d.template_id", i)] = "That template no longer exists. Choose another."
		}
	}
}
