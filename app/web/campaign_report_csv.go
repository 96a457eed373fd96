package web

import (
	"encoding/csv"
	"net/http"
	"strconv"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/cartwheel/cartwheel/app/reports"
)

// campaignReportCSV writes one of the campaign report's tables (table=
// figures, variants, orders, links, hours, weekhours, devices, clients)
// with exact figures: counts as integers, rates as fractions, money with
// two decimals.
func (s *server) campaignReportCSV(c *gin.Context) {
	cp, ok := s.loadCampaign(c)
	if !ok {
		return
	}
	sh := currentShop(c)
	name := c.Query("table")
	if !validReportTable[name] {
		c.String(http.StatusUnprocessableEntity, "table must be one of figures, variants, orders, links, hours, weekhours, devices, clients")
		return
	}
	r, err := s.Reports.Campaign(c.Request.Context(), sh.ID, cp.ID)
	if err != nil {
		s.fail(c, err)
		return
	}
	var orders []reports.Attribution
	if name == "orders" {
		// Every attributed order, not only the page's latest.
		if orders, err = s.Reports.CampaignOrders(c.Request.Context(), sh.ID, cp.ID, 100000); err != nil {
			s.fail(c, err)
			return
		}
	}
	c.Header("Content-Type", "text/csv; charset=utf-8")
	c.Header("Content-Disposition", `attachment; filename="cartwheel-campaign-`+strconv.FormatInt(cp.ID, 10)+`-`+name+`.csv"`)
	c.Header("Cache-Control", "no-store")
	w := csv.NewWriter(c.Writer)
	i64 := func(n int64) string { return strconv.FormatInt(n, 10) }
	t := r.Total
	switch name {
	case "figures":
		_ = w.Write([]string{"figure", "count", "rate"})
		for _, f := range []struct {
			key  string
			n    int64
			rate reports.Rate
		}{{"sent", t.Sent, reports.Rate{}}, {"delivered", t.Delivered, t.DeliveryRate()}, {"bounced", t.Bounced(), t.BounceRate()},
			{"bounced_hard", t.BouncedHard, reportsRate(t.BouncedHard, t.Sent)}, {"bounced_soft", t.BouncedSoft, reportsRate(t.BouncedSoft, t.Sent)},
			{"opened", t.Opened, t.OpenRate()}, {"clicks", t.Clicks, t.ClickRate()}, {"unique_clicks", t.Clicked, t.UniqueClickRate()},
			{"unsubscribed", t.Unsubscribed, t.UnsubscribeRate()}, {"complained", t.Complained, t.ComplaintRate()},
			{"dropped", t.Dropped, reportsRate(t.Dropped, t.Sent)}, {"orders", r.Revenue.Orders, reportsRate(r.Revenue.Orders, t.Delivered)}} {
			_ = w.Write([]string{f.key, i64(f.n), rateFraction(f.rate)})
		}
		_ = w.Write([]string{"click_to_open", "", rateFraction(t.ClickToOpenRate())})
		_ = w.Write([]string{"sales", r.Revenue.Sales.StringFixed(2), ""})
	case "variants":
		_ = w.Write([]string{"variant", "recipients", "sent", "delivered", "opened", "clicks", "unique_clicks", "unsubscribed", "orders", "sales", "winner"})
		for _, v := range r.Variants {
			_ = w.Write([]string{v.Key, i64(v.Recipients), i64(v.Sent), i64(v.Delivered), i64(v.Opened), i64(v.Clicks), i64(v.Clicked),
				i64(v.Unsubscribed), i64(v.Revenue.Orders), v.Revenue.Sales.StringFixed(2), strconv.FormatBool(v.Winner)})
		}
		if r.Holdout > 0 {
			_ = w.Write([]string{"holdout", i64(r.Holdout), "0", "0", "0", "0", "0", "0", "", "", "false"})
		}
	case "orders":
		_ = w.Write([]string{"order", "ordered_at", "amount", "currency", "cancelled", "touch", "touched_at", "window_days", "reason"})
		for _, o := range orders {
			_ = w.Write([]string{csvSafe(o.OrderName), o.OrderedAt.UTC().Format(time.RFC3339), o.Amount.StringFixed(2), o.Currency,
				strconv.FormatBool(o.Cancelled), o.Touch, o.TouchedAt.UTC().Format(time.RFC3339), strconv.Itoa(o.WindowDays), csvSafe(o.Reason())})
		}
	case "links", "devices", "clients":
		rows := map[string][]reports.Row{"links": r.Links, "devices": r.Devices, "clients": r.Clients}[name]
		_ = w.Write([]string{"key", "opens", "opened", "clicks", "clicked"})
		for _, x := range rows {
			_ = w.Write([]string{csvSafe(x.Key), i64(x.Opens), i64(x.Opened), i64(x.Clicks), i64(x.Clicked)})
		}
	case "hours":
		_ = w.Write([]string{"hours_after_sending", "opens", "opened", "clicks", "clicked"})
		for h, x := range r.Since {
			label := strconv.Itoa(h)
			if h == reports.SinceHours {
				label += "+"
			}
			_ = w.Write([]string{label, i64(x.Opens), i64(x.Opened), i64(x.Clicks), i64(x.Clicked)})
		}
	case "weekhours":
		_ = w.Write([]string{"weekday", "hour", "opens", "opened", "clicks", "clicked"})
		for d, day := range r.WeekHour {
			for h, x := range day {
				if x.Opens+x.Clicks > 0 {
					_ = w.Write([]string{weekdays[d], strconv.Itoa(h), i64(x.Opens), i64(x.Opened), i64(x.Clicks), i64(x.Clicked)})
				}
			}
		}
	}
	w.Flush()
}

var validReportTable = map[string]bool{"figures": true, "variants": true, "orders": true, "links": true, "hours": true,
	"weekhours": true, "devices": true, "clients": true}
