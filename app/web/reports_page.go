package web

import (
	"encoding/csv"
	"errors"
	"net/http"
	"net/url"
	"strconv"
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
	var sc reports.Scope
	if v := c.Query("campaign"); v != "" {
		id, err := strconv.ParseInt(v, 10, 64)
		if err != nil || id <= 0 {
			return r, sc, errBadScope
		}
		sc.CampaignID = id
		if v, ok := c.GetQuery("variant"); ok && v != "*" {
			sc.Variant, sc.VariantSet = v, true
		}
	}
	return r, sc, nil
}

var errBadScope = errors.New("campaign must be a campaign's number")

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
	choices, err := s.Reports.CampaignChoices(ctx, sh.ID)
	if err != nil {
		s.fail(c, err)
		return
	}
	d.Campaigns = append(d.Campaigns, views.ReportOption{Value: "", Label: "All campaigns", Selected: c.Query("campaign") == ""})
	for _, ch := range choices {
		id := strconv.FormatInt(ch.ID, 10)
		d.Campaigns = append(d.Campaigns, views.ReportOption{Value: id, Label: ch.Name, Selected: c.Query("campaign") == id})
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
	if d.From == "" {
		d.From, d.To = rg.From.Format(time.DateOnly), rg.To.Format(time.DateOnly)
	}
	rep, err := s.Reports.Metrics(ctx, sh.ID, rg, sc)
	if err != nil {
		s.fail(c, err)
		return
	}
	if sc.CampaignID != 0 {
		d.Variants = append(d.Variants, views.ReportOption{Value: "*", Label: "All variants", Selected: !sc.VariantSet})
		for _, v := range rep.Variants {
			label := "Variant " + v
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
		d.Lines = append(d.Lines, views.ReportLine{Name: l.Name, Href: "/app/campaigns/" + strconv.FormatInt(l.ID, 10) + "/report",
			Sent: count64(m.Sent), Delivered: count64(m.Delivered), OpenRate: percent(m.OpenRate), ClickRate: percent(m.ClickRate),
			Orders: count64(m.Orders), Sales: money(m.Sales, sh.Currency), Conversion: percent(m.ConversionRate)})
	}
	q := url.Values{"preset": {d.Preset}, "from": {d.From}, "to": {d.To}}
	d.CSVHref = "/app/reports.csv?" + q.Encode()
	s.render(c, http.StatusOK, views.ReportsPage(s.page(c, "Reports", "reports"), d))
}

// reportsCSV is the campaigns table of the range as CSV (exact figures:
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
	rep, err := s.Reports.Metrics(c.Request.Context(), sh.ID, rg, reports.Scope{})
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
	_ = w.Write([]string{"campaign_id", "campaign", "sent", "delivered", "bounced", "opened", "clicks", "unsubscribes", "complaints",
		"orders", "sales", "conversion_rate", "open_rate", "click_rate", "unique_click_rate", "unsubscribe_rate", "complaint_rate"})
	for _, l := range rep.Lines {
		m := reports.Compute(l.Totals)
		_ = w.Write([]string{strconv.FormatInt(l.ID, 10), csvSafe(l.Name), strconv.FormatInt(m.Sent, 10), strconv.FormatInt(m.Delivered, 10),
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
