package web

import (
	"encoding/csv"
	"errors"
	"net/http"
	"net/url"
	"sort"
	"strconv"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/cartwheel/cartwheel/app/flows"
	"github.com/cartwheel/cartwheel/app/reports"
	"github.com/cartwheel/cartwheel/views"
)

// A flow's report (issue 13): its metrics for a date range, a line per
// email step, the holdout comparison and its latest attributed orders with
// why each is credited; and the steps as CSV. Read from the rollups only.

func (s *server) flowReportRoutes(app *gin.RouterGroup) {
	app.GET("/flows/:id/report", s.flowReport)
	app.GET("/flows/:id/report.csv", s.flowReportCSV)
}

// flowRange reads the report's date range from the query (the Reports
// page's presets and custom dates); its error wraps reports.ErrBadRange.
func (s *server) flowRange(c *gin.Context, shopID int64) (reports.Range, error) {
	today, err := s.Reports.Today(c.Request.Context(), shopID, time.Now())
	if err != nil {
		return reports.Range{}, err
	}
	return reports.ParseRange(c.Query("preset"), c.Query("from"), c.Query("to"), today)
}

// flowEmailSteps are the flow's send steps in the order they come, from
// the live version (what ran) or else the draft, for the steps table.
func (s *server) flowEmailSteps(c *gin.Context, f flows.Flow) ([]flows.Step, error) {
	def := f.Draft
	if f.LiveVersion > 0 {
		live, err := s.Flows.Store.Version(c.Request.Context(), f.ShopID, f.ID, f.LiveVersion)
		if err != nil {
			return nil, err
		}
		def = live
	}
	var out []flows.Step
	flows.Walk(def.Steps, func(st *flows.Step) {
		if st.Type == flows.StepSendEmail {
			out = append(out, *st)
		}
	})
	return out, nil
}

// stepRow is one email step's line in the report.
type stepRow struct {
	ID, Name string
	T        reports.Totals
}

// stepRows pairs each step with figures: the definition's email steps in
// order, then any step that has figures but is no longer in it.
func stepRows(steps []flows.Step, figures map[string]reports.Totals) []stepRow {
	var out []stepRow
	seen := map[string]bool{}
	for _, st := range steps {
		name := st.Name
		if name == "" {
			name = "Send email (" + st.ID + ")"
		}
		out = append(out, stepRow{st.ID, name, figures[st.ID]})
		seen[st.ID] = true
	}
	var gone []string
	for id := range figures {
		if !seen[id] {
			gone = append(gone, id)
		}
	}
	sort.Strings(gone)
	for _, id := range gone {
		out = append(out, stepRow{id, "Removed step (" + id + ")", figures[id]})
	}
	return out
}

func (s *server) flowReport(c *gin.Context) {
	f, ok := s.loadFlow(c)
	if !ok {
		return
	}
	sh := currentShop(c)
	ctx := c.Request.Context()
	v := views.FlowReport{Name: f.Name, FlowHref: flowHref(f.ID), Href: flowHref(f.ID) + "/report", Status: f.Status,
		StatusTone: statusTone(f.Status), Preset: c.Query("preset"), From: c.Query("from"), To: c.Query("to")}
	if v.Preset == "" && v.From == "" && v.To == "" {
		v.Preset = "30"
	}
	if v.Preset == "" {
		v.Preset = "custom"
	}
	v.Presets = rangePresets(v.Preset)
	rg, err := s.flowRange(c, sh.ID)
	if errors.Is(err, reports.ErrBadRange) {
		v.Error = err.Error()
		s.render(c, http.StatusUnprocessableEntity, views.FlowReportPage(s.page(c, f.Name+" — report", "flows"), v))
		return
	}
	if err != nil {
		s.fail(c, err)
		return
	}
	if v.From == "" || v.Preset != "custom" {
		// A preset's own days, not dates left in the form from before.
		v.From, v.To = rg.From.Format(time.DateOnly), rg.To.Format(time.DateOnly)
	}
	v.RangeLabel = rg.From.Format("2 Jan 2006") + " – " + rg.To.Format("2 Jan 2006")
	rep, err := s.Reports.FlowReport(ctx, sh.ID, f.ID, rg)
	if err != nil {
		s.fail(c, err)
		return
	}
	v.Metrics = rangeMetrics(reports.Compute(rep.Totals), sh.Currency)
	steps, err := s.flowEmailSteps(c, f)
	if err != nil {
		s.fail(c, err)
		return
	}
	for _, r := range stepRows(steps, rep.Steps) {
		m := reports.Compute(r.T)
		v.Steps = append(v.Steps, views.FlowReportStep{ID: r.ID, Name: r.Name, Sent: count64(m.Sent), Delivered: count64(m.Delivered),
			OpenRate: percent(m.OpenRate), ClickRate: percent(m.ClickRate), Orders: count64(m.Orders), Sales: money(m.Sales, sh.Currency),
			Conversion: percent(m.ConversionRate)})
	}
	orders, err := s.Reports.FlowOrders(ctx, sh.ID, f.ID, rg, reportOrders)
	if err != nil {
		s.fail(c, err)
		return
	}
	v.Orders = reportOrderRows(orders, sh.IanaTimezone)
	if v.Recomputing, err = s.recomputeNote(ctx, sh.ID); err != nil {
		s.fail(c, err)
		return
	}
	if err := s.addFlowIncrementality(c, &v, f, rg, sh.Currency); err != nil {
		s.fail(c, err)
		return
	}
	q := url.Values{"preset": {v.Preset}, "from": {v.From}, "to": {v.To}}
	v.CSVHref = v.Href + ".csv?" + q.Encode()
	s.render(c, http.StatusOK, views.FlowReportPage(s.page(c, f.Name+" — report", "flows"), v))
}

// flowReportCSV is the flow and each of its email steps for the range
// (exact figures: rates as fractions with four decimals, sales with two).
func (s *server) flowReportCSV(c *gin.Context) {
	f, ok := s.loadFlow(c)
	if !ok {
		return
	}
	sh := currentShop(c)
	rg, err := s.flowRange(c, sh.ID)
	if errors.Is(err, reports.ErrBadRange) {
		c.String(http.StatusUnprocessableEntity, err.Error())
		return
	}
	if err != nil {
		s.fail(c, err)
		return
	}
	rep, err := s.Reports.FlowReport(c.Request.Context(), sh.ID, f.ID, rg)
	if err != nil {
		s.fail(c, err)
		return
	}
	steps, err := s.flowEmailSteps(c, f)
	if err != nil {
		s.fail(c, err)
		return
	}
	c.Header("Content-Type", "text/csv; charset=utf-8")
	c.Header("Content-Disposition", `attachment; filename="cartwheel-flow-`+strconv.FormatInt(f.ID, 10)+`-`+
		rg.From.Format(time.DateOnly)+`-`+rg.To.Format(time.DateOnly)+`.csv"`)
	c.Header("Cache-Control", "no-store")
	w := csv.NewWriter(c.Writer)
	frac := func(r reports.Rate) string {
		if !r.OK {
			return ""
		}
		return strconv.FormatFloat(r.Value, 'f', 4, 64)
	}
	line := func(kind, id, name string, t reports.Totals) {
		m := reports.Compute(t)
		_ = w.Write([]string{kind, id, csvSafe(name), strconv.FormatInt(m.Sent, 10), strconv.FormatInt(m.Delivered, 10),
			strconv.FormatInt(m.Bounced, 10), strconv.FormatInt(m.Opened, 10), strconv.FormatInt(m.Clicks, 10),
			strconv.FormatInt(m.Unsubscribes, 10), strconv.FormatInt(m.Complaints, 10), strconv.FormatInt(m.Orders, 10),
			m.Sales.StringFixed(2), frac(m.ConversionRate), frac(m.OpenRate), frac(m.ClickRate), frac(m.UniqueClickRate),
			frac(m.UnsubscribeRate), frac(m.ComplaintRate)})
	}
	_ = w.Write([]string{"kind", "id", "name", "sent", "delivered", "bounced", "opened", "clicks", "unsubscribes", "complaints",
		"orders", "sales", "conversion_rate", "open_rate", "click_rate", "unique_click_rate", "unsubscribe_rate", "complaint_rate"})
	line("flow", strconv.FormatInt(f.ID, 10), f.Name, rep.Totals)
	for _, r := range stepRows(steps, rep.Steps) {
		line("step", r.ID, r.Name, r.T)
	}
	w.Flush()
}

// rangePresets are the date range choices, preset selected.
func rangePresets(preset string) []views.ReportOption {
	var out []views.ReportOption
	for _, n := range reports.Presets {
		v := strconv.Itoa(n)
		out = append(out, views.ReportOption{Value: v, Label: "Last " + v + " days", Selected: preset == v})
	}
	return append(out, views.ReportOption{Value: "custom", Label: "Custom", Selected: preset == "custom"})
}

// reportOrderRows are attributed orders as a report lists them: name,
// time in the shop's timezone, what it paid, why it's credited and a link
// to its customer (whose page shows the same reason).
func reportOrderRows(orders []reports.Attribution, tz string) []views.ReportOrder {
	loc, err := time.LoadLocation(tz)
	if err != nil {
		loc = time.UTC
	}
	out := make([]views.ReportOrder, 0, len(orders))
	for _, o := range orders {
		ro := views.ReportOrder{Name: o.OrderName, At: o.OrderedAt.In(loc).Format("2 Jan 2006 15:04"), Amount: money(o.Amount, o.Currency),
			Reason: o.Reason(), Cancelled: o.Cancelled}
		if ro.Name == "" {
			ro.Name = "Order " + strconv.FormatInt(o.OrderID, 10)
		}
		if o.CustomerID != nil {
			ro.Href = "/app/customers/" + strconv.FormatInt(*o.CustomerID, 10)
		}
		out = append(out, ro)
	}
	return out
}
