package views

// DashboardData feeds the Admin home: the getting-started checklist until
// it is done, then (and beside it) what the emails earned for a range.
type DashboardData struct {
	ShopName         string
	InstalledAt      string
	SettingsComplete bool
	MissingSettings  []string // human names of required settings still empty, e.g. "sender", "address"
	// StoreSync is set while a store import runs (see imports.templ).
	StoreSync *StoreSyncData

	// Figures (nil Report: the shop has no reports yet, e.g. in tests that
	// run without them).
	Report *DashboardReport
}

// DashboardReport is the dashboard's figures for a range.
type DashboardReport struct {
	Preset, From, To, Compare string // the form's values
	Presets, Compares         []ReportOption
	RangeLabel, CompareLabel  string
	Error                     string // why the range was refused
	Query                     string // the range as a query string, for CSV links and cards loaded later

	KPIs []KPI

	Sales, Orders, Subscribers DashChart
	Funnel                     []FunnelStep
	FunnelTable                DashTable
	Heatmap                    Heatmap
	Devices, Clients           DashChart
	TopCampaigns, TopFlows     DashTable
}

// KPI is one card: the figure, its change against the comparison period,
// and how it is counted.
type KPI struct {
	Key, Label, Value, Definition string
	Change                        string // "+12.5 %", "−3.0 %", "new", "" without a comparison
	Trend                         string // "up", "down", "flat" or ""
	Good                          bool   // whether the change is good news (an unsubscribe rise isn't)
	Previous                      string // the comparison period's figure
	Note                          string // a line under the figure, e.g. "12 from the wheel"
	Raw, RawPrevious              string // for the CSV
}

// DashTable is a table of the dashboard with its CSV name (table=… on
// /app/dashboard.csv).
type DashTable struct {
	Name, Caption string
	Head          []string
	Rows          []DashRow
}

// DashRow is a table row: its cells, and optionally a link on the first.
type DashRow struct {
	Href  string
	Cells []string // as shown
	Raw   []string // for the CSV: exact numbers, rates as fractions
}

// DashChart is a chart (drawn by charts.js from Spec) with its table.
type DashChart struct {
	ID, Title string
	Spec      string // JSON, see views/assets/charts.js
	Table     DashTable
	Empty     string // said instead of the chart when there is nothing to draw
}

// FunnelStep is one step of the email funnel with its share of the step
// before.
type FunnelStep struct {
	Label, Count, Rate, Definition string
	Width                          int // percent of the first step, for the bar
}

// Heatmap is opens and clicks by weekday and hour.
type Heatmap struct {
	Hours []string // "0" … "23"
	Rows  []HeatmapRow
	Table DashTable
	Empty bool
}

// HeatmapRow is one weekday.
type HeatmapRow struct {
	Day   string
	Cells []HeatmapCell
}

// HeatmapCell is one hour of a weekday: Level 0–4 picks its shade.
type HeatmapCell struct {
	Level int
	Title string
}
