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

// FlowReport is a flow's report page: the range form, its metrics, a line
// per email step, the holdout comparison and its latest attributed orders.
type FlowReport struct {
	Name, Href, FlowHref, CSVHref, Status, StatusTone string
	Preset, From, To                                  string // the form's values
	Presets                                           []ReportOption
	RangeLabel                                        string
	Error                                             string // why the range was refused
	Metrics                                           []RangeMetric
	Steps                                             []FlowReportStep
	// Incrementality is the holdout comparison (empty without a holdout
	// that ran); HoldoutNote says why it is missing when the flow has one.
	Incrementality []ReportMetric
	HoldoutNote    string
	Orders         []ReportOrder
	// Recomputing is the progress of a recompute of past attribution
	// ("" when none runs): revenue is then frozen.
	Recomputing string
}

// FlowReportStep is one email step's line.
type FlowReportStep struct {
	ID, Name                                                        string
	Sent, Delivered, OpenRate, ClickRate, Orders, Sales, Conversion string
}

// Column definitions of the flow report's steps table, shown on hover.
const (
	defSent       = "Sent: emails handed to the provider, each counted once."
	defDelivered  = "Delivered: emails the provider delivered (or that were opened, clicked, unsubscribed from or complained about), each counted once."
	defOpenRate   = "Open rate: opened ÷ delivered."
	defClickRate  = "Click rate: clicks (every click) ÷ delivered."
	defOrders     = "Orders from Cartwheel: orders attributed to this email (last click within the click window, else last open within the open window), cancelled ones included."
	defSales      = "Sales from Cartwheel: the total paid of orders attributed to this email (sales + tax + shipping − discounts − refunds)."
	defConversion = "Conversion rate: attributed orders ÷ delivered emails."
)
