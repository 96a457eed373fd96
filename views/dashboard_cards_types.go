package views

// LifecycleStepRow is one level of the lifecycle card.
type LifecycleStepRow struct {
	Key, Label, Definition string
	Count, Conversion      string // Conversion from the previous level ("" for the first)
	MembersHref            string // the new-segment page prefilled with the level
}

// LifecycleCardData is the lifecycle funnel card (an htmx fragment).
type LifecycleCardData struct {
	To, Max     string // the window's last day and the latest allowed (today), YYYY-MM-DD
	WindowLabel string
	Counted     string // when the figures were counted (they are kept up to an hour)
	Error       string // why "to" was refused (the card shows it, status 422)
	Steps       []LifecycleStepRow
	ChartJSON   string // the cw-Chart data (bars)
	CSVHref     string
	SaveAction  string // POST: level, to → a new segment
}

// CompositionGroupRow is one group of the composition card, now.
type CompositionGroupRow struct {
	Key, Label, Definition string
	Count, Share           string
	Change                 string // share change since the oldest point ("" without history)
}

// CompositionPointRow is one week of the composition's history.
type CompositionPointRow struct {
	Day    string
	Counts []string // by group, in the groups' order
	Total  string
}

// CompositionCardData is the member composition card (an htmx fragment).
type CompositionCardData struct {
	Groups    []CompositionGroupRow
	Total     string
	AsOf      string // when the current figures were counted
	Since     string // the oldest point's day ("" without history)
	Points    []CompositionPointRow
	ChartJSON string // the cw-Chart data (stacked)
	CSVHref   string
}
