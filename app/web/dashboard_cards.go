package web

import (
	"encoding/csv"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/cartwheel/cartwheel/app/csvcell"
	"github.com/cartwheel/cartwheel/app/lifecycle"
	"github.com/cartwheel/cartwheel/app/segments"
	"github.com/cartwheel/cartwheel/views"
)

// Dashboard cards that load in their own request (the dashboard places
// them with hx-get … hx-trigger="load"): the lifecycle funnel and the
// member composition, each with its CSV.

func (s *server) dashboardCardRoutes(app *gin.RouterGroup) {
	app.GET("/dashboard/lifecycle", s.lifecycleCard)
	app.GET("/dashboard/lifecycle.csv", s.lifecycleCSV)
	app.POST("/dashboard/lifecycle/segment", s.lifecycleSegment)
	app.GET("/dashboard/composition", s.compositionCard)
	app.GET("/dashboard/composition.csv", s.compositionCSV)
}

// chartData is the cw-Chart convention's JSON (drawn by the dashboard's
// chart script; the figure's table holds the same data).
type chartData struct {
	Kind     string        `json:"kind"`
	X        []string      `json:"x"`
	Series   []chartSeries `json:"series"`
	Format   string        `json:"format"`
	Currency string        `json:"currency,omitempty"`
}

func (d chartData) json() string {
	b, _ := json.Marshal(d)
	return string(b)
}

// errBadTo is a refused window end; its text is shown to the merchant.
type errBadTo string

func (e errBadTo) Error() string { return string(e) }

// lifecycleWindow reads "to" (the window's last day, default today in the
// shop's timezone); today is returned for the picker's maximum.
func (s *server) lifecycleWindow(c *gin.Context, shopID int64) (lifecycle.Window, time.Time, error) {
	loc, err := lifecycle.Location(c.Request.Context(), s.Lifecycle.DB, shopID)
	if err != nil {
		return lifecycle.Window{}, time.Time{}, err
	}
	now := s.Now()
	today := lifecycle.WindowEnding(now, loc).Last
	v := c.Query("to")
	if c.Request.Method == http.MethodPost {
		v = c.PostForm("to")
	}
	if v == "" {
		return lifecycle.WindowEnding(now, loc), today, nil
	}
	d, err := time.ParseInLocation(time.DateOnly, v, loc)
	switch {
	case err != nil:
		return lifecycle.Window{}, today, errBadTo(fmt.Sprintf("The window's last day %q is not a date like 2026-06-30.", v))
	case d.After(today):
		return lifecycle.Window{}, today, errBadTo(fmt.Sprintf("The window's last day %s is after today (%s).", v, today.Format(time.DateOnly)))
	case d.Year() < 2000:
		return lifecycle.Window{}, today, errBadTo("The window's last day must be in 2000 or later.")
	}
	return lifecycle.WindowEnding(d.Add(12*time.Hour), loc), today, nil
}

func (s *server) lifecycleCard(c *gin.Context) {
	sh := currentShop(c)
	w, today, err := s.lifecycleWindow(c, sh.ID)
	var bad errBadTo
	if errors.As(err, &bad) {
		s.render(c, http.StatusUnprocessableEntity, views.LifecycleCard(views.LifecycleCardData{
			To: c.Query("to"), Max: today.Format(time.DateOnly), Error: bad.Error()}))
		return
	}
	if err != nil {
		s.fail(c, err)
		return
	}
	f, err := s.Lifecycle.Lifecycle(c.Request.Context(), sh.ID, w.Last.Add(12*time.Hour))
	if err != nil {
		s.fail(c, err)
		return
	}
	to := w.Last.Format(time.DateOnly)
	q := url.Values{"to": {to}}
	d := views.LifecycleCardData{To: to, Max: today.Format(time.DateOnly), WindowLabel: windowLabel(w),
		Counted: f.ComputedAt.In(w.Loc).Format("Jan 2, 15:04"),
		CSVHref: "/app/dashboard/lifecycle.csv?" + q.Encode(), SaveAction: "/app/dashboard/lifecycle/segment"}
	chart := chartData{Kind: "bars", Format: "number", Series: []chartSeries{{Label: "Customers"}}}
	for i, st := range f.Steps {
		row := views.LifecycleStepRow{Key: st.Level.Key(), Label: st.Level.Label(), Definition: st.Level.Definition(),
			Count: count64(st.Count), MembersHref: "/app/segments/new?" + url.Values{"lifecycle": {st.Level.Key()}, "to": {to}}.Encode()}
		if i > 0 {
			row.Conversion = share(st.Count, f.Steps[i-1].Count)
		}
		d.Steps = append(d.Steps, row)
		chart.X = append(chart.X, st.Level.Label())
		chart.Series[0].Values = append(chart.Series[0].Values, float64(st.Count))
	}
	d.ChartJSON = chart.json()
	s.render(c, http.StatusOK, views.LifecycleCard(d))
}

func windowLabel(w lifecycle.Window) string {
	return w.First.Format("Jan 2, 2006") + " – " + w.Last.Format("Jan 2, 2006")
}

// lifecycleCSV is the card's table: exact counts, conversion as a fraction
// with four decimals.
func (s *server) lifecycleCSV(c *gin.Context) {
	sh := currentShop(c)
	w, _, err := s.lifecycleWindow(c, sh.ID)
	var bad errBadTo
	if errors.As(err, &bad) {
		c.String(http.StatusUnprocessableEntity, bad.Error())
		return
	}
	if err != nil {
		s.fail(c, err)
		return
	}
	f, err := s.Lifecycle.Lifecycle(c.Request.Context(), sh.ID, w.Last.Add(12*time.Hour))
	if err != nil {
		s.fail(c, err)
		return
	}
	from, to := w.First.Format(time.DateOnly), w.Last.Format(time.DateOnly)
	c.Header("Content-Type", "text/csv; charset=utf-8")
	c.Header("Content-Disposition", `attachment; filename="cartwheel-lifecycle-`+from+`-`+to+`.csv"`)
	c.Header("Cache-Control", "no-store")
	cw := csv.NewWriter(c.Writer)
	_ = cw.Write([]string{"window_from", "window_to", "level", "customers", "conversion_from_previous", "definition"})
	for i, st := range f.Steps {
		conv := ""
		if i > 0 {
			conv = strconv.FormatFloat(st.Conversion, 'f', 4, 64)
		}
		_ = cw.Write([]string{from, to, st.Level.Key(), strconv.FormatInt(st.Count, 10), conv, csvcell.Safe(st.Level.Definition())})
	}
	cw.Flush()
}

// lifecycleSegment saves a level of a window as a segment (rolling when
// the window ends today) and redirects to it.
func (s *server) lifecycleSegment(c *gin.Context) {
	sh := currentShop(c)
	l, ok := lifecycle.ParseLevel(c.PostForm("level"))
	if !ok {
		c.String(http.StatusUnprocessableEntity, "Choose a funnel level: prospects, reached, engaged, ordered or repurchased.")
		return
	}
	w, _, err := s.lifecycleWindow(c, sh.ID)
	var bad errBadTo
	if errors.As(err, &bad) {
		c.String(http.StatusUnprocessableEntity, bad.Error())
		return
	}
	if err != nil {
		s.fail(c, err)
		return
	}
	now := s.Now()
	sg, err := s.Segments.Create(c.Request.Context(), sh.ID, segments.LifecycleName(l, w, now), segments.LifecycleRules(l, w, now), now)
	if err != nil {
		s.fail(c, err)
		return
	}
	s.redirect(c, segmentHref(sg.ID, ""))
}

func (s *server) compositionCard(c *gin.Context) {
	sh := currentShop(c)
	comp, err := s.Lifecycle.Composition(c.Request.Context(), sh.ID, s.Now())
	if err != nil {
		s.fail(c, err)
		return
	}
	d := views.CompositionCardData{Total: count64(comp.Current.Total()), CSVHref: "/app/dashboard/composition.csv",
		AsOf: "As of " + comp.At.Format("Jan 2, 15:04")}
	var first *lifecycle.Point
	if len(comp.History) > 0 {
		first = &comp.History[0]
		d.Since = first.Day.Format(time.DateOnly)
	}
	chart := chartData{Kind: "stacked", Format: "number"}
	for _, g := range lifecycle.Groups {
		row := views.CompositionGroupRow{Key: groupKey(g), Label: g.Label(), Definition: g.Definition(),
			Count: count64(comp.Current[g]), Share: sharePct(comp.Current.Share(g), comp.Current.Total())}
		if first != nil && first.Total() > 0 && comp.Current.Total() > 0 {
			pp := 100 * (comp.Current.Share(g) - first.Share(g))
			row.Change = strconv.FormatFloat(pp, 'f', 1, 64) + " pts"
			if pp > 0 {
				row.Change = "+" + row.Change
			}
		}
		d.Groups = append(d.Groups, row)
		chart.Series = append(chart.Series, chartSeries{Label: g.Label()})
	}
	for _, p := range comp.History {
		day := p.Day.Format(time.DateOnly)
		row := views.CompositionPointRow{Day: day, Total: count64(p.Total())}
		chart.X = append(chart.X, day)
		for i, g := range lifecycle.Groups {
			row.Counts = append(row.Counts, count64(p.Counts[g]))
			chart.Series[i].Values = append(chart.Series[i].Values, float64(p.Counts[g]))
		}
		d.Points = append(d.Points, row)
	}
	d.ChartJSON = chart.json()
	s.render(c, http.StatusOK, views.CompositionCard(d))
}

func groupKey(g lifecycle.Group) string {
	return [...]string{"prospects", "first_time", "repeat", "lapsed"}[g]
}

func sharePct(v float64, total int64) string {
	if total <= 0 {
		return "—"
	}
	return strconv.FormatFloat(100*v, 'f', 1, 64) + " %"
}

// compositionCSV is the history and the current figures, one row per
// point: counts and shares (fractions with four decimals).
func (s *server) compositionCSV(c *gin.Context) {
	sh := currentShop(c)
	comp, err := s.Lifecycle.Composition(c.Request.Context(), sh.ID, s.Now())
	if err != nil {
		s.fail(c, err)
		return
	}
	c.Header("Content-Type", "text/csv; charset=utf-8")
	c.Header("Content-Disposition", `attachment; filename="cartwheel-composition.csv"`)
	c.Header("Cache-Control", "no-store")
	cw := csv.NewWriter(c.Writer)
	head := []string{"as_of"}
	for _, g := range lifecycle.Groups {
		head = append(head, groupKey(g))
	}
	for _, g := range lifecycle.Groups {
		head = append(head, groupKey(g)+"_share")
	}
	_ = cw.Write(append(head, "total"))
	row := func(asOf string, n lifecycle.Counts) {
		r := []string{asOf}
		for _, g := range lifecycle.Groups {
			r = append(r, strconv.FormatInt(n[g], 10))
		}
		for _, g := range lifecycle.Groups {
			r = append(r, strconv.FormatFloat(n.Share(g), 'f', 4, 64))
		}
		_ = cw.Write(append(r, strconv.FormatInt(n.Total(), 10)))
	}
	for _, p := range comp.History {
		row(p.Day.Format(time.DateOnly), p.Counts)
	}
	row("current", comp.Current)
	cw.Flush()
}
