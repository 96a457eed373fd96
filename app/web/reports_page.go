package web

import (
	"context"
	"encoding/csv"
	"errors"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/cartwheel/cartwheel/app/reports"
	"github.com/cartwheel/cartwheel/views"
)

// Admin › Reports (issue 13 §2): the seed's metrics for a date range and a
// scope, read from the daily rollups, with a table of campaigns and its CSV.

func (s *server) rangeReportRoutes(app *gin.RouterGroup) {
	app.GET("/reports", s.reportsPage)
	app.GET("/reports.csv", s.reportsCSV)
}

// reportsQuery reads the range and scope; a bad one is the reason (the
// page answers 422 with it).
func (s *server) reportsQuery(c *gin.Context, shopID int64) (reports.Range, reports.Scope, error) {
	today, err := s.Reports.Today(c.Request.Context(), shopID, time.Now())
	if err != nil {
		return reports.Range{}, reports.Scope{}, err
	}
	r, err := reports.ParseRange(c.Query("preset"), c.Query("from"), c.Query("to"), today)
	if err != nil {
		return r, reports.Scope{}, err
	}
	sc, err := parseScope(c.DefaultQuery("scope", "all"))
	if err != nil {
		return r, sc, err
	}
	if v, ok := c.GetQuery("variant"); ok && v != "*" && (sc.Kind == reports.ScopeFlow || (sc.Kind == reports.ScopeCampaign && sc.ID != 0)) {
		sc.Variant, sc.VariantSet = v, true
	}
	return r, sc, nil
}

// parseScope reads "all", "campaigns", "campaign:ID", "flow:ID" or
// "template:ID". An id of another shop reads nothing: every query filters
// by the session's shop.
func parseScope(v string) (reports.Scope, error) {
	switch v {
	case "all":
		return reports.Scope{Kind: reports.ScopeAll}, nil
	case "campaigns":
		return reports.Scope{Kind: reports.ScopeCampaign}, nil
	}
	kind, id, ok := strings.Cut(v, ":")
	n, err := strconv.ParseInt(id, 10, 64)
	if !ok || err != nil || n <= 0 || (kind != reports.ScopeCampaign && kind != reports.ScopeFlow && kind != reports.ScopeTemplate) {
		return reports.Scope{}, errBadScope
	}
	return reports.Scope{Kind: kind, ID: n}, nil
}

var errBadScope = errors.New("scope must be all, campaigns, or campaign:, flow: or template: and a number")

func (s *server) reportsPage(c *gin.Context) {
	sh := currentShop(c)
	ctx := c.Request.Context()
	d := views.ReportsData{Preset: c.Query("preset"), From: c.Query("from"), To: c.Query("to")}
	if d.Preset == "" && d.From == "" && d.To == "" {
		d.Preset = "30"
	}
	if d.Preset == "" {
		d.Preset = "custom"
	}
	for _, n := range reports.Presets {
		v := strconv.Itoa(n)
		d.Presets = append(d.Presets, views.ReportOption{Value: v, Label: "Last " + v + " days", Selected: d.Preset == v})
	}
	d.Presets = append(d.Presets, views.ReportOption{Value: "custom", Label: "Custom", Selected: d.Preset == "custom"})
	scope := c.DefaultQuery("scope", "all")
	d.Scopes = []views.ReportOption{{Value: "all", Label: "All email", Selected: scope == "all"},
		{Value: "campaigns", Label: "All campaigns", Selected: scope == "campaigns"}}
	for _, list := range []func(context.Context, int64) ([]reports.Line, error){s.Reports.CampaignChoices, s.Reports.FlowChoices, s.Reports.TemplateChoices} {
		choices, err := list(ctx, sh.ID)
		if err != nil {
			s.fail(c, err)
			return
		}
		for _, ch := range choices {
			v := ch.Kind + ":" + strconv.FormatInt(ch.ID, 10)
			label := map[string]string{reports.ScopeCampaign: "Campaign: ", reports.ScopeFlow: "Flow: ", reports.ScopeTemplate: "Template: "}[ch.Kind] + ch.Name
			d.Scopes = append(d.Scopes, views.ReportOption{Value: v, Label: label, Selected: scope == v})
		}
	}
	rg, sc, err := s.reportsQuery(c, sh.ID)
	if errors.Is(err, reports.ErrBadRange) || errors.Is(err, errBadScope) {
		d.Error = err.Error()
		s.render(c, http.StatusUnprocessableEntity, views.ReportsPage(s.page(c, "Reports", "reports"), d))
		return
	}
	if err != nil {
		s.fail(c, err)
		return
	}
	if d.From == "" || d.Preset != "custom" {
		// A preset's own days, not dates left in the form from before.
		d.From, d.To = rg.From.Format(time.DateOnly), rg.To.Format(time.DateOnly)
	}
	rep, err := s.Reports.MetricsBrief(ctx, sh.ID, rg, sc) // the table shows no per-customer rates
	if err != nil {
		s.fail(c, err)
		return
	}
	if (sc.Kind == reports.ScopeCampaign && sc.ID != 0) || sc.Kind == reports.ScopeFlow {
		all, part := "All variants", "Variant "
		if sc.Kind == reports.ScopeFlow {
			all, part = "All steps", "Step "
		}
		d.Variants = append(d.Variants, views.ReportOption{Value: "*", Label: all, Selected: !sc.VariantSet})
		for _, v := range rep.Variants {
			label := part + v
			if v == "" {
				label = "Rest of the audience"
			}
			d.Variants = append(d.Variants, views.ReportOption{Value: v, Label: label, Selected: sc.VariantSet && sc.Variant == v})
		}
	}
	d.RangeLabel = rg.From.Format("2 Jan 2006") + " – " + rg.To.Format("2 Jan 2006")
	d.Metrics = rangeMetrics(reports.Compute(rep.Totals), sh.Currency)
	for _, l := range rep.Lines {
		m := reports.Compute(l.Totals)
		href := "/app/campaigns/" + strconv.FormatInt(l.ID, 10) + "/report"
		if l.Kind == reports.ScopeFlow {
			href = "/app/flows/" + strconv.FormatInt(l.ID, 10)
		}
		d.Lines = append(d.Lines, views.ReportLine{Kind: l.Kind, Name: l.Name, Href: href,
			Sent: count64(m.Sent), Delivered: count64(m.Delivered), OpenRate: percent(m.OpenRate), ClickRate: percent(m.ClickRate),
			Orders: count64(m.Orders), Sales: money(m.Sales, sh.Currency), Conversion: percent(m.ConversionRate)})
	}
	q := url.Values{"preset": {d.Preset}, "from": {d.From}, "to": {d.To}}
	d.CSVHref = "/app/reports.csv?" + q.Encode()
	s.render(c, http.StatusOK, views.ReportsPage(s.page(c, "Reports", "reports"), d))
}

// reportsCSV is the campaigns and flows table of the range as CSV (exact figures:
// rates as fractions with four decimals, sales with two).
func (s *server) reportsCSV(c *gin.Context) {
	sh := currentShop(c)
	rg, _, err := s.reportsQuery(c, sh.ID)
	if errors.Is(err, reports.ErrBadRange) || errors.Is(err, errBadScope) {
		c.String(http.StatusUnprocessableEntity, err.Error())
		return
	}
	if err != nil {
		s.fail(c, err)
		return
	}
	rep, err := s.Reports.Metrics(c.Request.Context(), sh.ID, rg, reports.Scope{Kind: reports.ScopeAll})
	if err != nil {
		s.fail(c, err)
		return
	}
	c.Header("Content-Type", "text/csv; charset=utf-8")
	c.Header("Content-Disposition", `attachment; filename="cartwheel-campaigns-`+rg.From.Format(time.DateOnly)+`-`+rg.To.Format(time.DateOnly)+`.csv"`)
	c.Header("Cache-Control", "no-store")
	w := csv.NewWriter(c.Writer)
	frac := func(r reports.Rate) string {
		if !r.OK {
			return ""
		}
		return strconv.FormatFloat(r.Value, 'f', 4, 64)
	}
	_ = w.Write([]string{"kind", "id", "name", "sent", "delivered", "bounced", "opened", "clicks", "unsubscribes", "complaints",
		"orders", "sales", "conversion_rate", "open_rate", "click_rate", "unique_click_rate", "unsubscribe_rate", "complaint_rate"})
	for _, l := range rep.Lines {
		m := reports.Compute(l.Totals)
		_ = w.Write([]string{l.Kind, strconv.FormatInt(l.ID, 10), csvSafe(l.Name), strconv.FormatInt(m.Sent, 10), strconv.FormatInt(m.Delivered, 10),
			strconv.FormatInt(m.Bounced, 10), strconv.FormatInt(m.Opened, 10), strconv.FormatInt(m.Clicks, 10),
			strconv.FormatInt(m.Unsubscribes, 10), strconv.FormatInt(m.Complaints, 10), strconv.FormatInt(m.Orders, 10),
			m.Sales.StringFixed(2), frac(m.ConversionRate), frac(m.OpenRate), frac(m.ClickRate), frac(m.UniqueClickRate),
			frac(m.UnsubscribeRate), frac(m.ComplaintRate)})
	}
	w.Flush()
}

// csvSafe keeps a merchant-chosen name from being read as a formula by a
// spreadsheet.
func csvSafe(v string) string {
	if v != "" && (v[0] == '=' || v[0] == '+' || v[0] == '-' || v[0] == '@') {
		return "'" + v
	}
	return v
}

func rangeMetrics(m reports.Metrics, currency string) []views.RangeMetric {
	opt := func(ok bool, v string) string {
		if !ok {
			return "—"
		}
		return v
	}
	row := func(key, label, value string) views.RangeMetric {
		return views.RangeMetric{Key: key, Label: label, Value: value, Definition: reports.Definitions[key]}
	}
	return []views.RangeMetric{
		row("sales", "Sales from Cartwheel", money(m.Sales, currency)),
		row("orders", "Orders from Cartwheel", count64(m.Orders)),
		row("conversion", "Conversion rate", percent(m.ConversionRate)),
		row("aov", "Average order value", opt(m.AOVOK, money(m.AOV, currency))),
		row("rpr", "Revenue per recipient", opt(m.RevenuePerRecipOK, money(m.RevenuePerRecip, currency))),
		row("sent", "Sent", count64(m.Sent)),
		row("delivered", "Delivered", count64(m.Delivered)),
		row("bounced", "Bounced", count64(m.Bounced)),
		row("opened", "Opened", count64(m.Opened)),
		row("clicks", "Clicks", count64(m.Clicks)),
		row("unsubscribes", "Unsubscribes", count64(m.Unsubscribes)),
		row("complaints", "Complaints", count64(m.Complaints)),
		row("delivery_rate", "Delivery rate", percent(m.DeliveryRate)),
		row("bounce_rate", "Bounce rate", percent(m.BounceRate)),
		row("open_rate", "Open rate", percent(m.OpenRate)),
		row("click_rate", "Click rate", percent(m.ClickRate)),
		row("unique_click", "Unique click rate", percent(m.UniqueClickRate)),
		row("click_to_open", "Click-to-open rate", percent(m.ClickToOpenRate)),
		row("unsubscribe_rate", "Unsubscribe rate", percent(m.UnsubscribeRate)),
		row("complaint_rate", "Complaint rate", percent(m.ComplaintRate)),
	}
}
