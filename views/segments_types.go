package views

import (
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

// sizeChart lays out a line chart of the history in a 600×160 box.
type sizeChart struct {
	Line, Area       string
	Top, Bottom      string // axis labels
	First, Last      string // first and last day
	LastX, LastY     string
	LastLabel        string
	Width, Height    int
	PlotTop, PlotBot int
}

const (
	chartW, chartH        = 600, 160
	chartLeft, chartRight = 48, 8
	chartTop, chartBot    = 10, 130
)

func newSizeChart(pts []SizePoint) sizeChart {
	c := sizeChart{Width: chartW, Height: chartH, PlotTop: chartTop, PlotBot: chartBot}
	if len(pts) < 2 {
		return c
	}
	lo, hi := pts[0].Size, pts[0].Size
	for _, p := range pts {
		lo, hi = min(lo, p.Size), max(hi, p.Size)
	}
	if lo == hi {
		lo = max(0, lo-1)
		hi++
	}
	x := func(i int) float64 {
		return chartLeft + float64(i)*float64(chartW-chartLeft-chartRight)/float64(len(pts)-1)
	}
	y := func(v int) float64 {
		return chartBot - float64(v-lo)*float64(chartBot-chartTop)/float64(hi-lo)
	}
	var line strings.Builder
	for i, p := range pts {
		if i > 0 {
			line.WriteByte(' ')
		}
		fmt.Fprintf(&line, "%.1f,%.1f", x(i), y(p.Size))
	}
	c.Line = line.String()
	c.Area = fmt.Sprintf("%.1f,%d %s %.1f,%d", x(0), chartBot, c.Line, x(len(pts)-1), chartBot)
	c.Top, c.Bottom = thousands(hi), thousands(lo)
	c.First, c.Last = pts[0].Day, pts[len(pts)-1].Day
	c.LastX, c.LastY = fmt.Sprintf("%.1f", x(len(pts)-1)), fmt.Sprintf("%.1f", y(pts[len(pts)-1].Size))
	c.LastLabel = thousands(pts[len(pts)-1].Size)
	return c
}

func chartDesc(pts []SizePoint) string {
	if len(pts) == 0 {
		return ""
	}
	return fmt.Sprintf("Segment size from %s (%s) to %s (%s)", pts[0].Day, thousands(pts[0].Size),
		pts[len(pts)-1].Day, thousands(pts[len(pts)-1].Size))
}
