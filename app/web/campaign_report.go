package web

import (
	"net/http"
	"strconv"
	"strings"

	"github.com/gin-gonic/gin"
	"github.com/shopspring/decimal"

	"github.com/cartwheel/cartwheel/app/campaigns"
	"github.com/cartwheel/cartwheel/app/reports"
	"github.com/cartwheel/cartwheel/views"
)

// The campaign report (issue 12 §4): read from the rollups app/reports
// keeps current from the signal stream, so it is as cheap for a campaign of
// a million recipients as for ten, and it refreshes itself while sending.

func (s *server) reportRoutes(app *gin.RouterGroup) {
	if s.Campaigns.Store == nil || s.Reports == nil {
		return
	}
	app.GET("/campaigns/:id/report", s.campaignReport)
	app.GET("/campaigns/:id/report.csv", s.campaignReportCSV)
}

func (s *server) campaignReport(c *gin.Context) {
	cp, ok := s.loadCampaign(c)
	if !ok {
		return
	}
	sh := currentShop(c)
	r, err := s.Reports.Campaign(c.Request.Context(), sh.ID, cp.ID)
	if err != nil {
		s.fail(c, err)
		return
	}
	orders, err := s.Reports.CampaignOrders(c.Request.Context(), sh.ID, cp.ID, reportOrders)
	if err != nil {
		s.fail(c, err)
		return
	}
	v := campaignReportView(cp, r)
	addReportRevenue(&v, r, orders, sh.Currency, sh.IanaTimezone)
	if err := s.addAttributionExtras(c.Request.Context(), &v, sh.ID, cp.ID, sh.Currency); err != nil {
		s.fail(c, err)
		return
	}
	s.render(c, http.StatusOK, views.CampaignReportPage(s.page(c, cp.Name, "campaigns"), v))
}

// reportOrders is how many of the latest attributed orders the report
// lists with their reasons.
const reportOrders = 20

// money writes an amount with two decimals and the currency.
func money(d decimal.Decimal, currency string) string {
	return strings.TrimSpace(d.StringFixed(2) + " " + currency)
}

// addReportRevenue fills the report's orders and revenue: attributed
// orders, sales and their rates, per variant, and the latest orders with
// why each is credited.
func addReportRevenue(v *views.CampaignReport, r reports.CampaignReport, orders []reports.Attribution, currency, tz string) {
	rev, t := r.Revenue, r.Total
	aov, aovOK := rev.AverageOrder()
	rpr, rprOK := rev.PerRecipient(t)
	orDash := func(d decimal.Decimal, ok bool) string {
		if !ok {
			return "—"
		}
		return money(d, currency)
	}
	v.Revenue = []views.ReportMetric{
		{Key: "orders", Label: "Orders", Count: count64(rev.Orders), Rate: percent(rev.ConversionRate(t)),
			Definition: "Orders whose customer last clicked this email within the click window before ordering (else last opened it within the open window; Settings › Attribution). Cancelled orders still count. Rate (conversion): orders ÷ delivered."},
		{Key: "sales", Label: "Sales", Count: money(rev.Sales, currency),
			Definition: "What those orders paid: sales + tax + shipping − discounts − refunds, kept current as orders are refunded or cancelled."},
		{Key: "average_order", Label: "Average order value", Count: orDash(aov, aovOK), Definition: "Sales ÷ orders."},
		{Key: "revenue_per_recipient", Label: "Revenue per recipient", Count: orDash(rpr, rprOK),
			Definition: "Sales ÷ recipients it was delivered to."},
	}
	byKey := map[string]reports.Revenue{}
	for _, x := range r.Variants {
		byKey[x.Key] = x.Revenue
	}
	for i := range v.Variants {
		if v.Variants[i].Holdout {
			continue
		}
		x := byKey[v.Variants[i].Key]
		v.Variants[i].Orders, v.Variants[i].Sales = count64(x.Orders), money(x.Sales, currency)
	}
	v.Orders = reportOrderRows(orders, tz)
}

// count64 writes n with thousands separators (1,234,567).
func count64(n int64) string { return thousands(int(n)) }

// percent shows a rate ("—" when it has no denominator yet).
func percent(r reports.Rate) string {
	if !r.OK {
		return "—"
	}
	return strconv.FormatFloat(r.Percent(), 'f', 1, 64) + " %"
}

func share(n, total int64) string {
	if total <= 0 {
		return "—"
	}
	return strconv.FormatFloat(float64(n)*100/float64(total), 'f', 1, 64) + " %"
}

func variantLabel(key, winner string) string {
	switch key {
	case "":
		if winner != "" {
			return "Rest of the audience (sent variant " + winner + ")"
		}
		return "Rest of the audience"
	case campaigns.VariantHoldout:
		return "Holdout"
	}
	return "Variant " + key
}

var weekdays = [7]string{"Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"}

func campaignReportView(cp campaigns.Campaign, r reports.CampaignReport) views.CampaignReport {
	href := campaignHref(cp.ID)
	t := r.Total
	v := views.CampaignReport{Name: cp.Name, Href: href + "/report", CampaignHref: href, Status: cp.Status,
		StatusTone: campaignTone(cp.Status), Live: cp.Status == campaigns.StatusSending,
		Audience: count64(r.Audience), Holdout: count64(r.Holdout), Empty: t.Sent == 0}
	n := count64
	v.Metrics = []views.ReportMetric{
		{Key: "sent", Label: "Sent", Count: n(t.Sent), Rate: "", Definition: "Emails handed to the mail provider, each once."},
		{Key: "delivered", Label: "Delivered", Count: n(t.Delivered), Rate: percent(t.DeliveryRate()),
			Definition: "Emails the provider delivered (an email opened or clicked was delivered too). Rate: delivered ÷ sent."},
		{Key: "bounced", Label: "Bounced", Count: n(t.Bounced()), Rate: percent(t.BounceRate()),
			Definition: "Emails the recipient's mail server refused, each once. Rate: bounced ÷ sent."},
		{Key: "bounced_hard", Label: "Hard bounces", Count: n(t.BouncedHard), Rate: percent(reportsRate(t.BouncedHard, t.Sent)),
			Definition: "The address doesn't exist or never accepts mail; it is suppressed. Rate: ÷ sent."},
		{Key: "bounced_soft", Label: "Soft bounces", Count: n(t.BouncedSoft), Rate: percent(reportsRate(t.BouncedSoft, t.Sent)),
			Definition: "The server blocked the email for now (full mailbox, policy). Rate: ÷ sent."},
		{Key: "opened", Label: "Opened", Count: n(t.Opened), Rate: percent(t.OpenRate()),
			Definition: "Emails a person opened at least once (a click counts as an open; Apple Mail's privacy prefetch doesn't). Rate: opened ÷ delivered."},
		{Key: "clicks", Label: "Clicks", Count: n(t.Clicks), Rate: percent(t.ClickRate()),
			Definition: "Every click on a link by a person (link scanners left out). Rate: clicks ÷ delivered."},
		{Key: "clicked", Label: "Unique clicks", Count: n(t.Clicked), Rate: percent(t.UniqueClickRate()),
			Definition: "Emails with at least one click. Rate: unique clicks ÷ delivered."},
		{Key: "click_to_open", Label: "Click-to-open", Count: "", Rate: percent(t.ClickToOpenRate()),
			Definition: "Emails clicked ÷ emails opened."},
		{Key: "unsubscribed", Label: "Unsubscribed", Count: n(t.Unsubscribed), Rate: percent(t.UnsubscribeRate()),
			Definition: "Recipients who unsubscribed from this email. Rate: ÷ recipients it was delivered to."},
		{Key: "complained", Label: "Spam complaints", Count: n(t.Complained), Rate: percent(t.ComplaintRate()),
			Definition: "Recipients who marked this email as spam. Rate: ÷ recipients it was delivered to."},
	}
	if t.Dropped > 0 {
		v.Metrics = append(v.Metrics, views.ReportMetric{Key: "dropped", Label: "Not sent by the provider", Count: n(t.Dropped),
			Rate: percent(reportsRate(t.Dropped, t.Sent)), Definition: "Emails the provider dropped without trying (an address it knows bounces, for example). Rate: ÷ sent."})
	}
	for _, x := range r.Variants {
		v.Variants = append(v.Variants, views.ReportVariant{Key: x.Key, Label: variantLabel(x.Key, r.Winner), Recipients: n(x.Recipients),
			Sent: n(x.Sent), Delivered: n(x.Delivered), OpenRate: percent(x.OpenRate()), ClickRate: percent(x.ClickRate()),
			UniqueClickRate: percent(x.UniqueClickRate()), UnsubscribeRate: percent(x.UnsubscribeRate()), Winner: x.Winner})
		if x.Key != "" {
			v.HasVariants = true
		}
	}
	if r.Holdout > 0 {
		v.HasVariants = true
		v.Variants = append(v.Variants, views.ReportVariant{Key: campaigns.VariantHoldout, Label: "Holdout", Recipients: n(r.Holdout), Holdout: true})
	}
	for _, l := range r.Links {
		v.Links = append(v.Links, views.ReportRow{Key: l.Key, Label: l.Key, Clicks: n(l.Clicks), Clicked: n(l.Clicked), Share: share(l.Clicks, t.Clicks)})
	}
	for h, x := range r.Since {
		label := strconv.Itoa(h) + "–" + strconv.Itoa(h+1) + " h"
		if h == reports.SinceHours {
			label = strconv.Itoa(h) + " h or later"
		}
		v.Hours = append(v.Hours, views.ReportHour{Label: label, Opens: x.Opens, Opened: x.Opened, Clicks: x.Clicks, Clicked: x.Clicked})
		v.HoursMax = max(v.HoursMax, x.Opens+x.Clicks)
	}
	for d := range r.WeekHour {
		v.WeekHours[d].Label = weekdays[d]
		for h, x := range r.WeekHour[d] {
			v.WeekHours[d].Hours[h] = x.Opens + x.Clicks
			v.WeekMax = max(v.WeekMax, x.Opens+x.Clicks)
		}
	}
	breakdown := func(rows []reports.Row, label func(string) string) []views.ReportRow {
		var out []views.ReportRow
		for _, x := range rows {
			out = append(out, views.ReportRow{Key: x.Key, Label: label(x.Key), Opens: n(x.Opens), Opened: n(x.Opened),
				Clicks: n(x.Clicks), Clicked: n(x.Clicked), Share: share(x.Opens, t.Opens)})
		}
		return out
	}
	v.Devices = breakdown(r.Devices, func(k string) string {
		if k == reports.DeviceUnknown {
			return "Unknown (hidden by an image proxy)"
		}
		return strings.ToUpper(k[:1]) + k[1:]
	})
	v.Clients = breakdown(r.Clients, func(k string) string { return k })
	return v
}

func reportsRate(n, d int64) reports.Rate {
	if d <= 0 {
		return reports.Rate{}
	}
	return reports.Rate{Value: float64(n) / float64(d), OK: true}
}

// campaignListFigures adds each listed campaign's sent, open and click
// rates (from the rollups) to its row.
func (s *server) campaignListFigures(c *gin.Context, shopID int64, cps []campaigns.Campaign, rows []views.CampaignRow) error {
	if s.Reports == nil || len(cps) == 0 {
		return nil
	}
	ids := make([]int64, len(cps))
	for i, cp := range cps {
		ids[i] = cp.ID
	}
	figs, err := s.Reports.Campaigns(c.Request.Context(), shopID, ids)
	if err != nil {
		return err
	}
	rev, err := s.Reports.CampaignRevenue(c.Request.Context(), shopID, ids)
	if err != nil {
		return err
	}
	cur := currentShop(c).Currency
	for i, cp := range cps {
		if i >= len(rows) {
			continue
		}
		if r, ok := rev[cp.ID]; ok {
			rows[i].Sales = money(r.Sales, cur)
		}
		f, ok := figs[cp.ID]
		if !ok {
			continue
		}
		rows[i].Sent = count64(f.Sent)
		rows[i].OpenRate = percent(f.OpenRate())
		rows[i].ClickRate = percent(f.ClickRate())
		rows[i].ReportHref = campaignHref(cp.ID) + "/report"
	}
	return nil
}

// hasReport: the campaign has started, so its report has something to say.
func hasReport(status string) bool {
	return status != campaigns.StatusDraft && status != campaigns.StatusScheduled
}
