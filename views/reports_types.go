package views

// ReportOption is one choice of a select.
type ReportOption struct {
	Value, Label string
	Selected     bool
}

// RangeMetric is one figure of the Reports page with its definition.
type RangeMetric struct {
	Key, Label, Value, Definition string
}

// ReportLine is one campaign's row in the Reports page's table.
type ReportLine struct {
	Kind, Name, Href                                                string
	Sent, Delivered, OpenRate, ClickRate, Orders, Sales, Conversion string
}

// ReportsData is the Reports page (Admin › Reports).
type ReportsData struct {
	Preset, From, To string // the form's values
	Presets          []ReportOption
	RangeLabel       string
	Scopes           []ReportOption // all email, all campaigns, each campaign, flow and template
	Variants         []ReportOption // the chosen campaign's variants or flow's steps ("*" = all of it)
	Error            string         // why the range or scope was refused
	Metrics          []RangeMetric
	Lines            []ReportLine
	CSVHref          string
}
