package web

import (
	"encoding/csv"
	"errors"
	"fmt"
	"math"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/gin-gonic/gin"
	"github.com/shopspring/decimal"

	"github.com/cartwheel/cartwheel/app/reports"
	"github.com/cartwheel/cartwheel/views"
)

// The Admin home (issue 13 §3): KPI cards against the period before,
// charts, the email funnel, the weekday × hour heatmap, device and client
// splits, subscriber growth, the top campaigns and flows, and a CSV of each
// table. The figures are reports.Store.Dashboard's (rollups only); the
// lifecycle and composition cards load on their own (dashboard_cards.go).

func (s *server) dashboard(c *gin.Context) {
	sh := currentShop(c)
	st, err := s.Shops.Settings(c.Request.Context(), sh.ID)
	if err != nil {
		s.fail(c, err)
		return
	}
	missing := st.Missing()
	installed := ""
	if sh.InstalledAt.Valid {
		installed = sh.InstalledAt.Time.UTC().Format("2 January 2006")
	}
	data := views.DashboardData{
		ShopName: sh.Name, InstalledAt: installed, SettingsComplete: len(missing) == 0, MissingSettings: missing,
	}
	if s.Imports != nil {
		sync, err := s.storeSyncData(c.Request.Context(), sh.ID)
		if err != nil {
			s.fail(c, err)
			return
		}
		if sync.Running {
			sync.Compact = true
			data.StoreSync = &sync
		}
	}
	status := http.StatusOK
	if s.Reports != nil {
		rep, err := s.dashboardReport(c, sh.ID, sh.Currency)
		if err != nil && !errors.Is(err, reports.ErrBadRange) && !errors.Is(err, errBadCompare) {
			s.fail(c, err)
			return
		}
		if rep.Error != "" {
			status = http.StatusUnprocessableEntity
		}
		data.Report = &rep
	}
	s.render(c, status, views.Dashboard(s.page(c, "Dashboard", "dashboard"), data))
}

var errBadCompare = errors.New("compare must be previous, year or none")

// dashboardQuery reads the range (presets 7, 30, 90 or custom dates) and
// what to compare it with: the period before, the same days a year
// before, or nothing (ok false).
func (s *server) dashboardQuery(c *gin.Context, shopID int64) (r, cmp reports.Range, ok bool, err error) {
	today, err := s.Reports.Today(c.Request.Context(), shopID, s.Now())
	if err != nil {
		return r, cmp, false, err
	}
	if r, err = reports.ParseRange(c.Query("preset"), c.Query("from"), c.Query("to"), today); err != nil {
		return r, cmp, false, err
	}
	switch c.DefaultQuery("compare", "previous") {
	case "previous":
		return r, reports.PreviousPeriod(r), true, nil
	case "year":
		if y := reports.YearBefore(r); y.To.Before(r.From) {
			return r, y, true, nil
		}
		return r, cmp, false, fmt.Errorf("%w: a range over a year long can't be compared with the year before", reports.ErrBadRange)
	case "none":
		return r, reports.PreviousPeriod(r), false, nil
	}
	return r, cmp, false, errBadCompare
}

func (s *server) dashboardReport(c *gin.Context, shopID int64, currency string) (views.DashboardReport, error) {
	v := views.DashboardReport{Preset: c.Query("preset"), From: c.Query("from"), To: c.Query("to"), Compare: c.DefaultQuery("compare", "previous")}
	if v.Preset == "" && v.From == "" && v.To == "" {
		v.Preset = "30"
	}
	if v.Preset == "" {
		v.Preset = "custom"
	}
	for _, n := range reports.Presets {
		p := strconv.Itoa(n)
		v.Presets = append(v.Presets, views.ReportOption{Value: p, Label: "Last " + p + " days", Selected: v.Preset == p})
	}
	v.Presets = append(v.Presets, views.ReportOption{Value: "custom", Label: "Custom", Selected: v.Preset == "custom"})
	v.Compares = []views.ReportOption{{Value: "previous", Label: "The period before", Selected: v.Compare == "previous"},
		{Value: "year", Label: "The same days a year before", Selected: v.Compare == "year"},
		{Value: "none", Label: "Nothing", Selected: v.Compare == "none"}}
	r, cmp, compare, err := s.dashboardQuery(c, shopID)
	if err != nil {
		v.Error = err.Error()
		return v, err
	}
	d, err := s.Reports.DashboardCompared(c.Request.Context(), shopID, r, cmp)
	if err != nil {
		return v, err
	}
	if v.From == "" || v.Preset != "custom" {
		// A preset's own days, not dates left in the form from before.
		v.From, v.To = r.From.Format(time.DateOnly), r.To.Format(time.DateOnly)
	}
	q := url.Values{"preset": {v.Preset}, "from": {v.From}, "to": {v.To}, "compare": {v.Compare}}
	v.Query = q.Encode()
	v.RangeLabel = dayRange(d.Range)
	if compare {
		v.CompareLabel = dayRange(d.Compare)
	}
	fillDashboard(&v, d, compare, currency)
	return v, nil
}

func dayRange(r reports.Range) string {
	return r.From.Format("2 Jan 2006") + " – " + r.To.Format("2 Jan 2006")
}

// dashDefinitions adds the dashboard's own figures to the metrics'
// definitions.
var dashDefinitions = map[string]string{
	"new_subscribers": "New subscribers: profiles that became subscribed to email marketing in the range (from any source; the wheel's share below).",
	"list_size":       "List size: profiles subscribed to email marketing at the end of the range.",
	"delivered_kpi":   reports.Definitions["delivered"],
}

func definition(key string) string {
	if d, ok := dashDefinitions[key]; ok {
		return d
	}
	return reports.Definitions[key]
}

// fillDashboard turns the figures into cards, charts and tables.
func fillDashboard(v *views.DashboardReport, d reports.Dashboard, compare bool, currency string) {
	cur, prev := reports.Compute(d.Current), reports.Compute(d.Previous)
	moneyKPI := func(key, label string, now, before decimal.Decimal, ok, prevOK bool) views.KPI {
		k := views.KPI{Key: key, Label: label, Value: "—", Definition: definition(key)}
		if ok {
			k.Value, k.Raw = money(now, currency), now.StringFixed(2)
		}
		if compare {
			k.Previous = "—"
			if prevOK {
				k.Previous, k.RawPrevious = money(before, currency), before.StringFixed(2)
			}
			nf, _ := now.Float64()
			bf, _ := before.Float64()
			k.Change, k.Trend = relChange(nf, bf, ok, prevOK)
			k.Good = k.Trend == "up"
		}
		return k
	}
	countKPI := func(key, label string, now, before int64) views.KPI {
		k := views.KPI{Key: key, Label: label, Value: count64(now), Definition: definition(key), Raw: strconv.FormatInt(now, 10)}
		if compare {
			k.Previous, k.RawPrevious = count64(before), strconv.FormatInt(before, 10)
			k.Change, k.Trend = relChange(float64(now), float64(before), true, true)
			k.Good = k.Trend == "up"
		}
		return k
	}
	rateKPI := func(key, label string, now, before reports.Rate) views.KPI {
		k := views.KPI{Key: key, Label: label, Value: percent(now), Definition: definition(key), Raw: rateFraction(now)}
		if compare {
			k.Previous, k.RawPrevious = percent(before), rateFraction(before)
			k.Change, k.Trend = pointChange(now, before)
			k.Good = k.Trend == "up"
		}
		return k
	}
	sub, psub := d.Subscribers, d.PrevSubscribers
	newSubs := countKPI("new_subscribers", "New subscribers", sub.New, psub.New)
	newSubs.Note = plural64(sub.FromWheel, "from the signup wheel", "from the signup wheel")
	v.KPIs = []views.KPI{
		moneyKPI("sales", "Sales from Cartwheel", cur.Sales, prev.Sales, true, true),
		countKPI("orders", "Orders from Cartwheel", cur.Orders, prev.Orders),
		rateKPI("conversion", "Conversion rate", cur.ConversionRate, prev.ConversionRate),
		moneyKPI("rpr", "Revenue per recipient", cur.RevenuePerRecip, prev.RevenuePerRecip, cur.RevenuePerRecipOK, prev.RevenuePerRecipOK),
		countKPI("delivered", "Emails delivered", cur.Delivered, prev.Delivered),
		rateKPI("open_rate", "Open rate", cur.OpenRate, prev.OpenRate),
		rateKPI("click_rate", "Click rate", cur.ClickRate, prev.ClickRate),
		newSubs,
		countKPI("list_size", "List size", sub.ListSize, psub.ListSize),
	}

	// Trends, one point per day.
	var days []string
	var attrSales, storeSales, attrOrders, storeOrders, subs, unsubs []float64
	salesT := views.DashTable{Name: "sales", Caption: "Sales per day", Head: []string{"Day", "Sales from Cartwheel", "Store sales"}}
	ordersT := views.DashTable{Name: "orders", Caption: "Orders per day", Head: []string{"Day", "Orders from Cartwheel", "Store orders"}}
	subsT := views.DashTable{Name: "subscribers", Caption: "Subscribers per day", Head: []string{"Day", "Subscribed", "Unsubscribed"}}
	var anySales, anyOrders, anySubs bool
	for _, p := range d.Days {
		day := p.Day.Format(time.DateOnly)
		days = append(days, day)
		as, _ := p.AttributedSales.Float64()
		ss, _ := p.StoreSales.Float64()
		attrSales, storeSales = append(attrSales, as), append(storeSales, ss)
		attrOrders, storeOrders = append(attrOrders, float64(p.AttributedOrders)), append(storeOrders, float64(p.StoreOrders))
		subs, unsubs = append(subs, float64(p.Subscribed)), append(unsubs, float64(p.Unsubscribed))
		anySales = anySales || !p.AttributedSales.IsZero() || !p.StoreSales.IsZero()
		anyOrders = anyOrders || p.AttributedOrders != 0 || p.StoreOrders != 0
		anySubs = anySubs || p.Subscribed != 0 || p.Unsubscribed != 0
		salesT.Rows = append(salesT.Rows, views.DashRow{Cells: []string{day, money(p.AttributedSales, currency), money(p.StoreSales, currency)},
			Raw: []string{day, p.AttributedSales.StringFixed(2), p.StoreSales.StringFixed(2)}})
		ordersT.Rows = append(ordersT.Rows, views.DashRow{Cells: []string{day, count64(p.AttributedOrders), count64(p.StoreOrders)},
			Raw: []string{day, strconv.FormatInt(p.AttributedOrders, 10), strconv.FormatInt(p.StoreOrders, 10)}})
		subsT.Rows = append(subsT.Rows, views.DashRow{Cells: []string{day, count64(p.Subscribed), count64(p.Unsubscribed)},
			Raw: []string{day, strconv.FormatInt(p.Subscribed, 10), strconv.FormatInt(p.Unsubscribed, 10)}})
	}
	v.Sales = views.DashChart{ID: "chart-sales", Title: "Sales from Cartwheel, with your store's sales for scale", Table: salesT,
		Spec: chartSpec("line", days, "money", currency, chartSeries{"Sales from Cartwheel", attrSales}, chartSeries{"Store sales", storeSales})}
	v.Orders = views.DashChart{ID: "chart-orders", Title: "Orders from Cartwheel and all store orders", Table: ordersT,
		Spec: chartSpec("line", days, "number", "", chartSeries{"Orders from Cartwheel", attrOrders}, chartSeries{"Store orders", storeOrders})}
	v.Subscribers = views.DashChart{ID: "chart-subscribers", Title: "Subscriber growth", Table: subsT,
		Spec: chartSpec("bars", days, "number", "", chartSeries{"Subscribed", subs}, chartSeries{"Unsubscribed", unsubs})}
	if !anySales {
		v.Sales.Empty = "No sales in this range yet."
	}
	if !anyOrders {
		v.Orders.Empty = "No orders in this range yet."
	}
	if !anySubs {
		v.Subscribers.Empty = "Nobody subscribed or unsubscribed in this range."
	}

	// The email funnel: each step's share of the one before.
	steps := []struct {
		key, label string
		n          int64
	}{{"sent", "Sent", cur.Sent}, {"delivered", "Delivered", cur.Delivered}, {"opened", "Opened", cur.Opened},
		{"unique_click", "Clicked", d.Current.Clicked}, {"orders", "Ordered", cur.Orders}}
	v.FunnelTable = views.DashTable{Name: "funnel", Head: []string{"Step", "Count", "Of the step before"}}
	for i, st := range steps {
		f := views.FunnelStep{Label: st.label, Count: count64(st.n), Definition: definition(st.key)}
		if steps[0].n > 0 {
			f.Width = int(math.Round(float64(st.n) * 100 / float64(steps[0].n)))
		}
		raw := ""
		if i > 0 && steps[i-1].n > 0 {
			f.Rate = share(st.n, steps[i-1].n)
			raw = strconv.FormatFloat(float64(st.n)/float64(steps[i-1].n), 'f', 4, 64)
		}
		v.Funnel = append(v.Funnel, f)
		v.FunnelTable.Rows = append(v.FunnelTable.Rows, views.DashRow{Cells: []string{st.label, f.Count, f.Rate},
			Raw: []string{st.label, strconv.FormatInt(st.n, 10), raw}})
	}

	// Weekday × hour.
	v.Heatmap = heatmap(d.WeekHour)

	// Device and mail-client splits.
	v.Devices = shareChart("chart-devices", "devices", "Opens and clicks by device", d.Devices, true)
	v.Clients = shareChart("chart-clients", "clients", "Opens by mail client", d.Clients, false)

	v.TopCampaigns = topTable("campaigns", d.TopCampaigns, currency)
	v.TopFlows = topTable("flows", d.TopFlows, currency)
}

// relChange is the change from before to now in percent of before.
func relChange(now, before float64, ok, prevOK bool) (string, string) {
	switch {
	case !ok || !prevOK:
		return "", ""
	case before == 0 && now == 0:
		return "no change", "flat"
	case before == 0:
		return "new", "up"
	}
	ch := (now - before) * 100 / math.Abs(before)
	return signed(ch, " %"), trendOf(ch)
}

// pointChange is a rate's change in percentage points.
func pointChange(now, before reports.Rate) (string, string) {
	if !now.OK || !before.OK {
		return "", ""
	}
	ch := now.Percent() - before.Percent()
	return signed(ch, " pts"), trendOf(ch)
}

func signed(v float64, unit string) string {
	v = math.Round(v*10) / 10
	if v == 0 {
		return "no change"
	}
	s := strconv.FormatFloat(math.Abs(v), 'f', 1, 64) + unit
	if v > 0 {
		return "+" + s
	}
	return "−" + s
}

func trendOf(v float64) string {
	switch v = math.Round(v*10) / 10; {
	case v > 0:
		return "up"
	case v < 0:
		return "down"
	}
	return "flat"
}

func plural64(n int64, one, many string) string {
	if n == 1 {
		return "1 " + one
	}
	return count64(n) + " " + many
}

type chartSeries struct {
	Label  string    `json:"label"`
	Values []float64 `json:"values"`
}

// chartSpec is the JSON charts.js draws (see views/assets/charts.js).
func chartSpec(kind string, x []string, format, currency string, series ...chartSeries) string {
	if x == nil {
		x = []string{}
	}
	for i := range series {
		if series[i].Values == nil {
			series[i].Values = []float64{}
		}
	}
	return chartData{Kind: kind, X: x, Series: series, Format: format, Currency: currency}.json()
}

// heatmap shades each weekday-hour by its opened emails: level 1–4 in
// quarters of the busiest hour, 0 for none.
func heatmap(wh [7][24]reports.Engagement) views.Heatmap {
	h := views.Heatmap{Table: views.DashTable{Name: "weekhour", Caption: "Emails opened and clicked by weekday and hour",
		Head: []string{"Weekday", "Hour", "Opened", "Clicked"}}}
	var top int64
	for _, day := range wh {
		for _, e := range day {
			top = max(top, e.Opened)
		}
	}
	h.Empty = top == 0
	for i := range 24 {
		h.Hours = append(h.Hours, strconv.Itoa(i))
	}
	// Monday first, as most merchants read a week.
	for _, d := range []int{1, 2, 3, 4, 5, 6, 0} {
		row := views.HeatmapRow{Day: weekdays[d]}
		for hour, e := range wh[d] {
			level := 0
			if top > 0 && e.Opened > 0 {
				level = int(math.Ceil(float64(e.Opened) * 4 / float64(top)))
			}
			title := weekdays[d] + " " + strconv.Itoa(hour) + ":00 — " + plural64(e.Opened, "opened", "opened") + ", " + plural64(e.Clicked, "clicked", "clicked")
			row.Cells = append(row.Cells, views.HeatmapCell{Level: level, Title: title})
			if e.Opened > 0 || e.Clicked > 0 {
				h.Table.Rows = append(h.Table.Rows, views.DashRow{
					Cells: []string{weekdays[d], strconv.Itoa(hour) + ":00", count64(e.Opened), count64(e.Clicked)},
					Raw:   []string{weekdays[d], strconv.Itoa(hour), strconv.FormatInt(e.Opened, 10), strconv.FormatInt(e.Clicked, 10)}})
			}
		}
		h.Rows = append(h.Rows, row)
	}
	return h
}

var deviceNames = map[string]string{reports.DeviceDesktop: "Desktop", reports.DeviceMobile: "Mobile",
	reports.DeviceTablet: "Tablet", reports.DeviceUnknown: "Unknown"}

func shareChart(id, name, title string, rows []reports.Share, clicks bool) views.DashChart {
	c := views.DashChart{ID: id, Title: title}
	t := views.DashTable{Name: name, Caption: title, Head: []string{"Name", "Opened", "Share of opened"}}
	if clicks {
		t.Head = append(t.Head, "Clicked")
	}
	var total int64
	for _, r := range rows {
		total += r.Opened
	}
	var labels []string
	var opened, clicked []float64
	for _, r := range rows {
		label := r.Key
		if n, ok := deviceNames[r.Key]; ok && clicks {
			label = n
		}
		labels = append(labels, label)
		opened, clicked = append(opened, float64(r.Opened)), append(clicked, float64(r.Clicked))
		row := views.DashRow{Cells: []string{label, count64(r.Opened), share(r.Opened, total)},
			Raw: []string{r.Key, strconv.FormatInt(r.Opened, 10), fraction(r.Opened, total)}}
		if clicks {
			row.Cells = append(row.Cells, count64(r.Clicked))
			row.Raw = append(row.Raw, strconv.FormatInt(r.Clicked, 10))
		}
		t.Rows = append(t.Rows, row)
	}
	c.Table = t
	series := []chartSeries{{"Opened", opened}}
	if clicks {
		series = append(series, chartSeries{"Clicked", clicked})
	}
	c.Spec = chartSpec("bars", labels, "number", "", series...)
	if len(rows) == 0 {
		c.Empty = "No opens in this range yet."
	}
	return c
}

func rateFraction(r reports.Rate) string {
	if !r.OK {
		return ""
	}
	return strconv.FormatFloat(r.Value, 'f', 4, 64)
}

func fraction(n, total int64) string {
	if total <= 0 {
		return ""
	}
	return strconv.FormatFloat(float64(n)/float64(total), 'f', 4, 64)
}

func topTable(name string, lines []reports.Line, currency string) views.DashTable {
	t := views.DashTable{Name: name, Caption: "Top " + name + " by sales",
		Head: []string{"Name", "Sales", "Orders", "Delivered", "Open rate", "Click rate", "Conversion"}}
	frac := rateFraction
	for _, l := range lines {
		m := reports.Compute(l.Totals)
		href := "/app/campaigns/" + strconv.FormatInt(l.ID, 10) + "/report"
		if l.Kind == reports.ScopeFlow {
			href = "/app/flows/" + strconv.FormatInt(l.ID, 10) + "/report"
		}
		t.Rows = append(t.Rows, views.DashRow{Href: href,
			Cells: []string{l.Name, money(m.Sales, currency), count64(m.Orders), count64(m.Delivered), percent(m.OpenRate), percent(m.ClickRate), percent(m.ConversionRate)},
			Raw: []string{l.Name, m.Sales.StringFixed(2), strconv.FormatInt(m.Orders, 10), strconv.FormatInt(m.Delivered, 10),
				frac(m.OpenRate), frac(m.ClickRate), frac(m.ConversionRate)}})
	}
	return t
}

// dashboardCSV writes one of the dashboard's tables (table=kpis, sales,
// orders, subscribers, funnel, weekhour, devices, clients, campaigns,
// flows) for the same range, with exact figures: rates as fractions,
// money with two decimals.
func (s *server) dashboardCSV(c *gin.Context) {
	sh := currentShop(c)
	rep, err := s.dashboardReport(c, sh.ID, sh.Currency)
	if errors.Is(err, reports.ErrBadRange) || errors.Is(err, errBadCompare) {
		c.String(http.StatusUnprocessableEntity, err.Error())
		return
	}
	if err != nil {
		s.fail(c, err)
		return
	}
	name := c.Query("table")
	var t views.DashTable
	switch name {
	case "kpis":
		t = views.DashTable{Head: []string{"figure", "value", "previous"}}
		for _, k := range rep.KPIs {
			t.Rows = append(t.Rows, views.DashRow{Raw: []string{k.Key, k.Raw, k.RawPrevious}})
		}
	case "sales":
		t = rep.Sales.Table
	case "orders":
		t = rep.Orders.Table
	case "subscribers":
		t = rep.Subscribers.Table
	case "funnel":
		t = rep.FunnelTable
	case "weekhour":
		t = rep.Heatmap.Table
	case "devices":
		t = rep.Devices.Table
	case "clients":
		t = rep.Clients.Table
	case "campaigns":
		t = rep.TopCampaigns
	case "flows":
		t = rep.TopFlows
	default:
		c.String(http.StatusUnprocessableEntity, "table must be one of kpis, sales, orders, subscribers, funnel, weekhour, devices, clients, campaigns, flows")
		return
	}
	from, to := rep.From, rep.To
	c.Header("Content-Type", "text/csv; charset=utf-8")
	c.Header("Content-Disposition", `attachment; filename="cartwheel-dashboard-`+name+`-`+from+`-`+to+`.csv"`)
	c.Header("Cache-Control", "no-store")
	w := csv.NewWriter(c.Writer)
	head := make([]string, len(t.Head))
	for i, h := range t.Head {
		head[i] = strings.ToLower(strings.ReplaceAll(h, " ", "_"))
	}
	_ = w.Write(head)
	for _, r := range t.Rows {
		row := make([]string, len(r.Raw))
		copy(row, r.Raw)
		if len(row) > 0 {
			row[0] = csvSafe(row[0]) // a campaign's or flow's name: never a formula
		}
		_ = w.Write(row)
	}
	w.Flush()
}
