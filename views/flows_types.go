package views

import "strconv"

// FlowList is Admin › Flows: the shop's flows and the ready-made ones.
type FlowList struct {
	Rows     []FlowRow
	Q        string
	Filtered bool
	NextHref string
	Presets  []FlowPresetCard
	Locales  []Option
	Error    string
}

// FlowRow is one flow on the list.
type FlowRow struct {
	ID                 int64
	Name, Href         string
	Status, StatusTone string
	Trigger            string
	Sent, Ordered      string // "—" when the numbers aren't available
	Updated            string
	// Attributed orders and sales of the last 30 days ("" without reports)
	// and the report's link.
	Orders30, Sales30, ReportHref string
}

// FlowPresetCard offers a ready-made flow.
type FlowPresetCard struct {
	Key, Name, Description, Trigger string
}

// FlowEditor is the flow page: settings, the canvas and the step panel.
type FlowEditor struct {
	ID                 int64
	Name               string
	Href               string
	Status, StatusTone string
	LiveVersion        int
	// Notice is a success message ("The flow is live (version 2).").
	Notice string
	// Failure says why an edit wasn't saved.
	Failure string
	// Refused: Go live was refused; the marks say why.
	Refused      bool
	FlowProblems []string
	ProblemCount int
	StepsMarked  int
	Settings     FlowSettingsForm
	Steps        []FlowStepView
	Panel        *FlowStepPanel
	Publish      *FlowPublishDialog
	CanGoLive    bool
	CanPause     bool
	CanResume    bool
	CanTurnOff   bool
	HasDraftEdit bool // the draft differs from the live version
	Dev          bool // shows the dev clock controls
	DryRun       bool // offers the dry run
	HasNumbers   bool
	// TriggerNumbers: runs started and still in the trigger's delay.
	TriggerNumbers string
	// ReportHref is the flow's report ("" without reports); Revenue30 its
	// attributed orders and sales of the last 30 days, each step's in
	// FlowStepView.Revenue.
	ReportHref, Revenue30 string
	// Sending: some email of this flow is reserved but not yet sent; the
	// canvas polls itself until none is.
	Sending bool
}

// FlowSettingsForm is the flow-level form: trigger, filters, exits, re-entry,
// priority and maximum lateness.
type FlowSettingsForm struct {
	Name, Trigger, Delay, SegmentID, DateProperty, Days string
	Sources                                             map[string]bool
	Exits                                               map[string]bool
	ReEntryMode, ReEntryDays                            string
	Priority, MaxLateness                               string
	HoldoutPercent                                      string
	Filters                                             []FlowFilterView
	Errors                                              map[string]string

	TriggerOptions, SegmentOptions, DateOptions, SourceOptions, ExitOptions, ReEntryOptions []Option
	FilterFieldOptions                                                                      []Option
}

// FlowFilterView is one flow filter, in words, with its position for removal.
type FlowFilterView struct {
	Index   int
	Summary string
}

// FlowStepView is one step on the canvas.
type FlowStepView struct {
	ID, Type, TypeLabel, Name, Summary string
	Problems                           []string
	Numbers                            string
	Revenue                            string // attributed orders and sales of the last 30 days (send steps)
	EditHref                           string
	Selected                           bool
	Branches                           []FlowBranchView
}

// FlowBranchView is one path out of a split.
type FlowBranchView struct {
	Label    string
	Index    int
	ParentID string
	Steps    []FlowStepView
}

// FlowStepPanel is the side panel's form for one step.
type FlowStepPanel struct {
	StepID, Type, TypeLabel string
	Values                  map[string]string
	Errors                  map[string]string
	Problems                []string
	Templates               []Option
	Events                  []Option
	CondFields              []Option
	Segments                []Option
	Ops                     []Option
	DiscountKinds           []Option
	Scopes                  []Option
	Branches                int
}

// FlowPublishDialog is shown before publishing over a live version.
type FlowPublishDialog struct {
	Waiting []FlowWaiting
	Total   int
}

// FlowWaiting is how many customers wait at one step.
type FlowWaiting struct {
	Step string
	N    int
}

// StepTypes the "Add step" control offers.
var StepTypeOptions = []Option{
	{"send_email", "Send email"}, {"wait", "Wait"}, {"wait_for_event", "Wait for an event"},
	{"condition", "Condition split"}, {"random_split", "Random split"}, {"update_profile", "Update profile"}, {"exit", "Exit"},
}

func (p *FlowStepPanel) v(name string) string { return p.Values[name] }

func flowStepHref(f FlowEditor, suffix string) string { return f.Href + suffix }

func flowOptionLabel(opts []Option, v, empty string) string {
	for _, o := range opts {
		if o.Value == v {
			return o.Label
		}
	}
	if v == "" {
		return empty
	}
	return v
}

func buttonVariant(v string) string {
	switch v {
	case "primary":
		return "Polaris-Button--variantPrimary"
	case "critical":
		return "Polaris-Button--variantPrimary Polaris-Button--toneCritical"
	}
	return "Polaris-Button--variantSecondary"
}

func flowSubtitle(f FlowEditor) string {
	if f.LiveVersion == 0 {
		return "Draft: not live yet"
	}
	s := "Live version " + strconv.Itoa(f.LiveVersion)
	if f.HasDraftEdit {
		s += " · unpublished changes"
	}
	return s
}

func problemTone(refused bool) string {
	if refused {
		return "critical"
	}
	return "warning"
}

func problemTitle(f FlowEditor) string {
	if f.Refused {
		return "The flow can't go live yet: " + plural(f.ProblemCount, "problem", "problems") + " to fix"
	}
	return plural(f.ProblemCount, "thing", "things") + " to fix before going live"
}

func addParent(parent string, branch int) string {
	if parent == "" {
		return ""
	}
	return parent + ":" + strconv.Itoa(branch)
}

func addID(after, parent string, branch int) string {
	switch {
	case after != "":
		return "add-after-" + after
	case parent != "":
		return "add-in-" + parent + "-" + strconv.Itoa(branch)
	}
	return "add-start"
}

// FlowDryRun is the dry-run page of a flow's draft.
type FlowDryRun struct {
	Name, Href, Note string
	Days             int
	Entered, Emails  int
	Steps            []FlowDryRunStep
}

// FlowDryRunStep is one send step's emails in a dry run.
type FlowDryRunStep struct {
	Name   string
	Emails int
}
