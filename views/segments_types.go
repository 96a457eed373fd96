package views

import (
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
)

// SegmentRow is one line of the segments list.
type SegmentRow struct {
	Href, Name string
	Preset     bool
	Size       int
	Trend      string // "+12 this week", "−3 this week", "new"
	TrendTone  string // Polaris badge tone
	Summary    string
	Updated    string
}

// SegmentList is Admin › Segments.
type SegmentList struct {
	Rows     []SegmentRow
	Q        string
	Filtered bool
	Total    int // segments of the shop, before the name filter
}

// SegmentMember is one member on a segment's page.
type SegmentMember struct {
	Href, Name, Email, Country string
	Consent, ConsentTone       string
	Orders                     int
	Spent                      string
	Since                      string
}

// SizePoint is the segment's size on one day.
type SizePoint struct {
	Day  string
	Size int
}

// SegmentPage is one segment: what it is, its size over time and members.
type SegmentPage struct {
	ID            int64
	Name, Summary string
	Size          int
	Preset        bool
	Updated       string
	Error         string // e.g. why it can't be deleted
	// CampaignSegmentID, when set, offers "Send a campaign to this segment".
	CampaignSegmentID                string
	History                          []SizePoint
	Members                          []SegmentMember
	Paged                            bool
	NextHref, FirstHref              string
	EditHref, ExportHref, DeleteHref string
}

// SegmentError is one problem with the rules, for the summary banner.
type SegmentError struct{ Where, Message string }

// SegmentEditor is the builder: the name, the rules as JSON (the source of
// truth the script edits), the builder's configuration and the problems
// of the last save.
type SegmentEditor struct {
	ID                 int64
	Name, NameError    string
	RulesJSON          string
	Preset             bool
	Action, CancelHref string
	Errors             []SegmentError
	Config             any // JSON for the builder script (choices, inline errors)
}

func (e SegmentEditor) hasErrors() bool { return len(e.Errors) > 0 || e.NameError != "" }

func (e SegmentEditor) submitLabel() string {
	if e.ID == 0 {
		return "Create segment"
	}
	return "Save segment"
}

func plural(n int, one, many string) string {
	if n == 1 {
		return "1 " + one
	}
	return thousands(n) + " " + many
}

// thousands writes 12345 as "12,345".
func thousands(n int) string {
	s := strconv.Itoa(n)
	neg := strings.HasPrefix(s, "-")
	s = strings.TrimPrefix(s, "-")
	var b strings.Builder
	for i, r := range s {
		if i > 0 && (len(s)-i)%3 == 0 {
			b.WriteByte(',')
		}
		b.WriteRune(r)
	}
	if neg {
		return "-" + b.String()
	}
	return b.String()
}

// sizeChartSpec is the size history as a line chart for charts.js.
func sizeChartSpec(pts []SizePoint) string {
	x := make([]string, len(pts))
	v := make([]int, len(pts))
	for i, p := range pts {
		x[i], v[i] = p.Day, p.Size
	}
	b, _ := json.Marshal(map[string]any{"kind": "line", "format": "number", "x": x,
		"series": []map[string]any{{"label": "Customers", "values": v}}})
	return string(b)
}

func chartDesc(pts []SizePoint) string {
	if len(pts) == 0 {
		return ""
	}
	return fmt.Sprintf("Segment size from %s (%s) to %s (%s)", pts[0].Day, thousands(pts[0].Size),
		pts[len(pts)-1].Day, thousands(pts[len(pts)-1].Size))
}
