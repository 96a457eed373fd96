package views

import (
	"sort"
	"strconv"

	"github.com/a-h/templ"
)

// CampaignList is Admin › Campaigns.
type CampaignList struct {
	Q        string
	Filtered bool
	Rows     []CampaignRow
	NextHref string
	Error    string
}

// CampaignRow is one campaign in the list.
type CampaignRow struct {
	Name, Href, Status, StatusTone, Audience, Updated string
	// From the report ("" before anything was sent).
	Sent, OpenRate, ClickRate, ReportHref string
	Sales                                 string // attributed sales, every variant, since it started
}

// CampaignEditor is one campaign: the draft form (or, once it has left
// draft, what was chosen), the reachable count by reason and what is still
// missing before it can go out.
type CampaignEditor struct {
	Href, Name, Status, StatusTone string
	Editable                       bool
	Saved                          bool
	Errors                         map[string]string
	Form                           CampaignForm
	TemplateOptions                []Option
	Segments                       []CampaignSegment
	SendModeOptions                []Option
	PastZoneOptions                []Option
	ShopTimezone                   string
	Reach                          *CampaignReach
	// ReachHref, for a large audience, is where the panel loads the count
	// from (Reach is nil then).
	ReachHref string
	// Missing is what the draft still lacks before it can be sent.
	Missing []string
	// Actions on the campaign's sending ("" label: not offered).
	StartLabel                     string
	CanPause, CanResume, CanCancel bool
	Done                           string // what just happened ("started", "paused", …)
	Progress                       *CampaignProgress
	ReportHref                     string // "" until it has started
	// Review, when the campaign has a template: its email as a customer
	// would get it (PreviewSrc) and, with TestSend, the test-send form.
	Review     *TestSend
	PreviewSrc string
	TestSend   bool
	// AB is the A/B test's results once the campaign has started.
	AB *CampaignABResults
	// Preparing: started, its audience being refreshed and snapshotted by
	// a job. ScheduledFor: when a scheduled campaign starts.
	Preparing    bool
	ScheduledFor string
	// The Review card's summary of when it goes and of its A/B test.
	ScheduleSummary, ABSummary string
}

// abLetters names the four A/B versions.
var abLetters = [4]string{"A", "B", "C", "D"}

// abField is the form name of one version's field (the names
// campaigns.FieldErrors uses).
func abField(i int, name string) string { return "ab_variants." + strconv.Itoa(i) + "." + name }

// CampaignProgress is a campaign's sending, live while it sends.
type CampaignProgress struct {
	Total, Handled, Sent, Queued, Pending, Failed string
	Percent                                       int
	PerMinute, ETA                                string
	Skipped                                       []CampaignReachLine
	PausedReason                                  string
	Live                                          bool // refresh itself
	// Waits: recipients whose local time is still ahead (the next at
	// NextDue) and the A/B test's rest, waiting for the winner.
	DueLater, NextDue, ForWinner string
}

// CampaignForm is the draft as typed.
type CampaignForm struct {
	Name, TemplateID, Subject, Preheader, SenderName, UTMCampaign string
	SendMode, SendAt, PastZones                                   string
	MostEngagedFirst                                              bool
	// The A/B test: how many versions (0 = no test), each version's
	// fields (always four rows; those past Versions are not used), and
	// the test's settings.
	ABVersions                                               string
	ABRows                                                   [4]CampaignABRow
	ABTestPercent, ABWinnerBy, ABWaitHours, ABHoldoutPercent string
}

// CampaignABRow is one A/B version as typed; empty fields take the
// campaign's own.
type CampaignABRow struct {
	Subject, Preheader, SenderName, TemplateID string
}

// CampaignABResults is an A/B test's figures per version and its winner.
type CampaignABResults struct {
	Metric   string // "click rate" | "open rate" | "revenue per email sent"
	When     string // when the winner is (or was) picked
	Decided  bool
	CanPick  bool // the merchant may pick a winner now
	PickHref string
	Rows     []CampaignABResultRow
}

// CampaignABResultRow is one version's figures.
type CampaignABResultRow struct {
	Key, Subject, Sent, Opened, OpenRate, Clicked, ClickRate string
	Sales                                                    string // "12.50 EUR (0.31 per email)", "—" without figures
	Winner                                                   bool
}

// CampaignSegment is one segment with whether the draft includes or
// excludes it.
type CampaignSegment struct {
	ID, Name         string
	Include, Exclude bool
}

// CampaignReach is the reachable count by reason: each line counts the
// customers the reason removes (or, for the first and last, who is in the
// segments and who is reachable), and links to them.
type CampaignReach struct {
	Lines      []CampaignReachLine
	WillSend   string
	WindowDays int
	DailyLimit int
}

// CampaignReachLine is one number of the breakdown.
type CampaignReachLine struct {
	Key, Label, N, Href string
	Total               bool // the first and last lines
}

// CampaignMembers lists the customers one number counts.
type CampaignMembers struct {
	Campaign, CampaignHref, Reason, Count string
	Rows                                  []SegmentMember
	NextHref                              string
}

// progressWidth is the filled share of a progress bar.
func progressWidth(percent int) templ.SafeCSS {
	return templ.SafeCSS("width:" + strconv.Itoa(min(max(percent, 0), 100)) + "%")
}

// ErrorMessages lists field errors' messages in field order.
func ErrorMessages(errs map[string]string) []string {
	keys := make([]string, 0, len(errs))
	for k := range errs {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	out := make([]string, len(keys))
	for i, k := range keys {
		out[i] = errs[k]
	}
	return out
}
