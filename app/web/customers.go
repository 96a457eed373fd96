package web

import (
	"context"
	"errors"
	"fmt"
	"io"
	"mime/multipart"
	"net/http"
	"net/url"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/cartwheel/cartwheel/app/customers"
	"github.com/cartwheel/cartwheel/app/flows"
	"github.com/cartwheel/cartwheel/app/input"
	"github.com/cartwheel/cartwheel/views"
)

// customerRoutes serves Customers: list, profile, CSV import and export.
func (s *server) customerRoutes(app *gin.RouterGroup) {
	app.GET("/customers", s.customersList)
	app.GET("/customers/export.csv", s.customersExport)
	app.GET("/customers/import", s.importForm)
	app.POST("/customers/import", s.importUpload)
	app.GET("/customers/import/:id", s.importShow)
	app.POST("/customers/import/:id/start", s.importStart)
	app.POST("/customers/import/:id/retry", s.importRetry)
	app.GET("/customers/import/:id/progress", s.importProgress)
	app.GET("/customers/import/:id/rejected.csv", s.importRejects)
	app.GET("/customers/:id", s.customerShow)
}

// listFilter reads the list's query parameters; `after` is the keyset cursor.
// A cursor that is not an id is refused (400) rather than guessed at.
func listFilter(c *gin.Context) (customers.ListFilter, error) {
	after, err := input.Cursor("after", c.Query("after"))
	if err != nil {
		return customers.ListFilter{}, err
	}
	f := customers.ListFilter{Query: c.Query("q"), Consent: c.Query("consent"), HasOrders: c.Query("orders"),
		Country: c.Query("country"), Tag: c.Query("tag"), After: after}
	f.Normalize()
	return f, nil
}

func filterQuery(f customers.ListFilter) url.Values {
	v := url.Values{}
	for k, val := range map[string]string{"q": f.Query, "consent": f.Consent, "orders": f.HasOrders, "country": f.Country, "tag": f.Tag} {
		if val != "" {
			v.Set(k, val)
		}
	}
	return v
}

func hrefWith(path string, v url.Values) string {
	if len(v) == 0 {
		return path
	}
	return path + "?" + v.Encode()
}

func (s *server) customersList(c *gin.Context) {
	sh := currentShop(c)
	ctx := c.Request.Context()
	f, err := listFilter(c)
	if err != nil {
		s.refuse(c, http.StatusBadRequest, "The address is not valid: "+err.Error()+".")
		return
	}
	page, err := s.Customers.List(ctx, sh.ID, f)
	if err != nil {
		s.fail(c, err)
		return
	}
	countries, err := s.Customers.Countries(ctx, sh.ID)
	if err != nil {
		s.fail(c, err)
		return
	}
	q := filterQuery(f)
	l := views.CustomerList{
		Q: f.Query, Consent: f.Consent, HasOrders: f.HasOrders, Country: f.Country, Tag: f.Tag,
		Countries: countries, Filtered: f.Active(), Paged: f.After > 0,
		FirstHref: hrefWith("/app/customers", q), ExportHref: hrefWith("/app/customers/export.csv", q),
		ConsentOptions: []views.Option{{Value: "", Label: "Any"}, {Value: customers.ConsentSubscribed, Label: "Subscribed"},
			{Value: customers.ConsentNotSubscribed, Label: "Not subscribed"}, {Value: customers.ConsentUnsubscribed, Label: "Unsubscribed"},
			{Value: customers.ConsentPending, Label: "Pending confirmation"}},
		HasOrdersOptions: []views.Option{{Value: "", Label: "Any"}, {Value: "yes", Label: "Has ordered"}, {Value: "no", Label: "No orders"}},
	}
	if page.Next != 0 {
		next := filterQuery(f)
		next.Set("after", strconv.FormatInt(page.Next, 10))
		l.NextHref = hrefWith("/app/customers", next)
	}
	for _, r := range page.Customers {
		email := ""
		if r.Email != nil {
			email = *r.Email
		}
		l.Rows = append(l.Rows, views.CustomerRow{
			Href: "/app/customers/" + strconv.FormatInt(r.ID, 10), Name: r.Name(), Email: email,
			Location: joinNonEmpty(", ", r.City, r.Country), Consent: customers.ConsentLabel(r.Consent), ConsentTone: consentTone(r.Consent),
			Orders: r.OrdersCount, Spent: r.TotalSpent.StringFixed(2) + " " + sh.Currency, Tags: r.Tags,
		})
	}
	s.render(c, http.StatusOK, views.Customers(s.page(c, "Customers", "customers"), l))
}

func (s *server) customerShow(c *gin.Context) {
	sh := currentShop(c)
	id, err := strconv.ParseInt(c.Param("id"), 10, 64)
	if err != nil || id <= 0 {
		s.renderError(c, http.StatusNotFound, "There is no customer with that id.")
		return
	}
	p, err := s.Customers.Profile(c.Request.Context(), sh.ID, id, s.Timelines...)
	if errors.Is(err, customers.ErrNotFound) {
		s.renderError(c, http.StatusNotFound, "There is no customer with that id in your store.")
		return
	}
	if err != nil {
		s.fail(c, err)
		return
	}
	// Waits and quiet hours use the shop's zone (its setting, else
	// Shopify's) for a customer of unknown zone: say which.
	st, err := s.Shops.Settings(c.Request.Context(), sh.ID)
	if err != nil {
		s.fail(c, err)
		return
	}
	v := profileView(p, sh.Currency, sh.IanaTimezone)
	if err := s.attributeOrderRows(c.Request.Context(), sh.ID, p.Orders, v.Orders); err != nil {
		s.fail(c, err)
		return
	}
	zone := p.Customer.Timezone
	if zone == "" {
		zone = "Shop's (" + orDefault(st.EffectiveTimezone(), "UTC") + ")"
	}
	v.Attributes = append([]views.KV{{Key: "Timezone", Value: zone}}, v.Attributes...)
	s.render(c, http.StatusOK, views.CustomerPage(s.page(c, "Customer", "customers"), v))
}

// attributeOrderRows adds to each order row (rows[i] shows orders[i]) why
// Cartwheel credits it to an email, if it does.
func (s *server) attributeOrderRows(ctx context.Context, shopID int64, orders []customers.OrderSummary, rows []views.OrderRow) error {
	if s.Reports == nil || len(orders) == 0 {
		return nil
	}
	ids := make([]int64, len(orders))
	for i, o := range orders {
		ids[i] = o.ShopifyID
	}
	attr, err := s.Reports.OrderAttributions(ctx, shopID, ids)
	if err != nil {
		return err
	}
	for i, o := range orders {
		if a, ok := attr[o.ShopifyID]; ok && i < len(rows) {
			r := a.Reason()
			rows[i].Attribution = strings.ToUpper(r[:1]) + r[1:]
		}
	}
	return nil
}

func profileView(p customers.Profile, currency, tz string) views.CustomerProfile {
	loc, err := time.LoadLocation(tz)
	if err != nil {
		loc = time.UTC
	}
	day := func(t *time.Time) string {
		if t == nil {
			return ""
		}
		return t.In(loc).Format("2 Jan 2006")
	}
	stamp := func(t time.Time) string { return t.In(loc).Format("2 Jan 2006 15:04") }
	d := p.Customer
	v := views.CustomerProfile{
		ID: d.ID, Name: d.Name(), Location: joinNonEmpty(", ", d.City, d.Country), Source: d.Source,
		Created: day(&d.CreatedAt), Consent: customers.ConsentLabel(d.Consent), ConsentTone: consentTone(d.Consent),
		ConsentSince: day(d.ConsentUpdatedAt), OptInLevel: strings.ReplaceAll(d.OptInLevel, "_", " "), Tags: d.Tags,
		OrdersCount: d.OrdersCount, TotalSpent: d.TotalSpent.StringFixed(2) + " " + currency,
		AverageOrder: d.AverageOrderValue.StringFixed(2) + " " + currency, FirstOrder: day(d.FirstOrderAt), LastOrder: day(d.LastOrderAt),
	}
	if d.Email != nil {
		v.Email = *d.Email
	}
	if v.Name == "" {
		v.Name = "Customer " + strconv.FormatInt(d.ID, 10)
	}
	if d.Phone != nil {
		v.Phone = *d.Phone
	}
	if d.Locale != "" {
		v.Attributes = append(v.Attributes, views.KV{Key: "Language", Value: d.Locale})
	}
	if d.ShopifyID != nil {
		v.Attributes = append(v.Attributes, views.KV{Key: "Shopify customer id", Value: strconv.FormatInt(*d.ShopifyID, 10)})
	}
	props := d.PropertyMap()
	keys := make([]string, 0, len(props))
	for k := range props {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		v.Properties = append(v.Properties, views.KV{Key: k, Value: fmt.Sprint(props[k])})
	}
	if p.Suppressed != nil {
		v.Suppressed = fmt.Sprintf("Suppressed (%s, from %s) on %s.", p.Suppressed.Reason, p.Suppressed.Source, day(&p.Suppressed.CreatedAt))
	}
	for _, e := range p.Consent {
		v.ConsentHistory = append(v.ConsentHistory, views.ConsentRow{At: stamp(e.OccurredAt), State: customers.ConsentLabel(e.State),
			Level: e.OptInLevel, Source: e.Source})
	}
	for _, o := range p.Orders {
		status := o.FinancialStatus
		if o.Cancelled {
			status = "cancelled"
		}
		v.Orders = append(v.Orders, views.OrderRow{Name: o.Name, At: day(o.ProcessedAt), Status: strings.ReplaceAll(status, "_", " "),
			Items: strconv.Itoa(o.Items), Total: o.Total.StringFixed(2) + " " + o.Currency,
			Refunded: o.Refunded.StringFixed(2), Net: o.Net().StringFixed(2) + " " + o.Currency})
	}
	for _, e := range p.Timeline {
		v.Timeline = append(v.Timeline, views.TimelineRow{At: stamp(e.At), Kind: e.Kind, Title: e.Title, Detail: e.Detail})
	}
	return v
}

func consentTone(state string) string {
	switch state {
	case customers.ConsentSubscribed:
		return "Success"
	case customers.ConsentUnsubscribed, customers.ConsentInvalid:
		return "Critical"
	case customers.ConsentPending:
		return "Attention"
	}
	return ""
}

func joinNonEmpty(sep string, parts ...string) string {
	out := parts[:0:0]
	for _, p := range parts {
		if strings.TrimSpace(p) != "" {
			out = append(out, p)
		}
	}
	return strings.Join(out, sep)
}

// customersExport streams the (filtered) list as CSV; nothing is buffered.
func (s *server) customersExport(c *gin.Context) {
	sh := currentShop(c)
	f, err := listFilter(c)
	if err != nil {
		s.refuse(c, http.StatusBadRequest, "The address is not valid: "+err.Error()+".")
		return
	}
	c.Header("Content-Type", "text/csv; charset=utf-8")
	c.Header("Content-Disposition", fmt.Sprintf(`attachment; filename="customers-%s.csv"`, s.Now().UTC().Format("2006-01-02")))
	c.Header("Cache-Control", "no-store")
	c.Status(http.StatusOK)
	if _, err := s.Customers.ExportCSV(c.Request.Context(), sh.ID, f, c.Writer); err != nil {
		// Headers are gone; the truncated file is all we can do. Log it.
		s.Log.Error("customers export", "shop", sh.Domain, "err", err)
	}
}

func (s *server) importForm(c *gin.Context) {
	s.renderImportForm(c, http.StatusOK, "")
}

func (s *server) renderImportForm(c *gin.Context, status int, msg string) {
	sh := currentShop(c)
	recent, err := s.Customers.RecentImports(c.Request.Context(), sh.ID, 10)
	if err != nil {
		s.fail(c, err)
		return
	}
	d := views.ImportsPage{Error: msg, MaxMB: customers.MaxImportBytes >> 20}
	for _, im := range recent {
		d.Recent = append(d.Recent, importView(im))
	}
	s.render(c, status, views.ImportUpload(s.page(c, "Import customers", "customers"), d))
}

// uploadOverhead is room for the multipart envelope and form fields on top
// of the file itself.
const uploadOverhead = 1 << 20

// importUpload streams the multipart file straight into the import store:
// never whole in memory, never on local disk.
func (s *server) importUpload(c *gin.Context) {
	sh := currentShop(c)
	if c.Request.ContentLength > customers.MaxImportBytes+uploadOverhead {
		s.importTooLarge(c)
		return
	}
	c.Request.Body = http.MaxBytesReader(c.Writer, c.Request.Body, customers.MaxImportBytes+uploadOverhead)
	mr, err := c.Request.MultipartReader()
	if err != nil {
		s.renderImportForm(c, http.StatusBadRequest, "Send the file as a multipart/form-data upload with a field named file.")
		return
	}
	kind := customers.ImportProfiles
	var part *multipart.Part
	for {
		p, err := mr.NextPart()
		if err == io.EOF {
			break
		}
		if err != nil {
			s.importBodyError(c, err)
			return
		}
		if p.FormName() == "kind" {
			b, _ := io.ReadAll(io.LimitReader(p, 64))
			kind = strings.TrimSpace(string(b))
			continue
		}
		if p.FormName() == "file" {
			part = p
			break
		}
	}
	if part == nil {
		s.renderImportForm(c, http.StatusBadRequest, "Choose a CSV file to upload.")
		return
	}
	im, err := s.Customers.Upload(c.Request.Context(), sh.ID, kind, part.FileName(), part)
	var ie *customers.ImportError
	switch {
	case errors.As(err, &ie):
		s.renderImportForm(c, http.StatusUnprocessableEntity, ie.Msg)
		return
	case err != nil:
		s.importBodyError(c, err)
		return
	}
	s.redirect(c, "/app/customers/import/"+strconv.FormatInt(im.ID, 10))
}

func (s *server) importBodyError(c *gin.Context, err error) {
	var mbe *http.MaxBytesError
	if errors.Is(err, customers.ErrTooLarge) || errors.As(err, &mbe) {
		s.importTooLarge(c)
		return
	}
	if errors.Is(err, io.ErrUnexpectedEOF) || strings.Contains(err.Error(), "multipart") {
		s.renderImportForm(c, http.StatusBadRequest, "The upload was cut off or malformed; please try again.")
		return
	}
	s.fail(c, err)
}

func (s *server) importTooLarge(c *gin.Context) {
	c.Header("Connection", "close") // don't read the rest of a huge body
	s.renderImportForm(c, http.StatusRequestEntityTooLarge,
		fmt.Sprintf("The file is larger than %d MB. Split it into smaller files and import them one after another.", customers.MaxImportBytes>>20))
}

// redirect answers htmx with HX-Redirect (a full load, which gets a fresh
// session token through the bounce page) and a plain form post with 303.
func (s *server) redirect(c *gin.Context, to string) {
	if c.GetHeader("HX-Request") != "" {
		c.Header("HX-Redirect", to)
		c.Status(http.StatusOK)
		return
	}
	c.Redirect(http.StatusSeeOther, to)
}

func (s *server) loadImport(c *gin.Context) (customers.Import, bool) {
	sh := currentShop(c)
	id, err := strconv.ParseInt(c.Param("id"), 10, 64)
	if err != nil || id <= 0 {
		s.renderError(c, http.StatusNotFound, "There is no import with that id.")
		return customers.Import{}, false
	}
	im, err := s.Customers.GetImport(c.Request.Context(), sh.ID, id)
	if errors.Is(err, customers.ErrNotFound) {
		s.renderError(c, http.StatusNotFound, "There is no import with that id in your store.")
		return customers.Import{}, false
	}
	if err != nil {
		s.fail(c, err)
		return customers.Import{}, false
	}
	return im, true
}

func (s *server) importShow(c *gin.Context) {
	im, ok := s.loadImport(c)
	if !ok {
		return
	}
	v := importView(im)
	if im.Kind == customers.ImportProfiles && im.Status == "uploaded" {
		n, err := s.importFlowCount(c.Request.Context(), im.ShopID)
		if err != nil {
			s.fail(c, err)
			return
		}
		v.ImportFlows = n
	}
	s.render(c, http.StatusOK, views.ImportPage(s.page(c, "Import", "customers"), v))
}

// importFlowCount is how many live flows an import would start when the
// merchant ticks "start welcome flows" (-1 without flows wired).
func (s *server) importFlowCount(ctx context.Context, shopID int64) (int, error) {
	if s.Flows.Store == nil {
		return -1, nil
	}
	live, err := s.Flows.Store.LiveFlows(ctx, nil, shopID, flows.TriggerSubscribed)
	if err != nil {
		return 0, err
	}
	n := 0
	for _, f := range live {
		if f.Definition.Trigger.TakesImports() {
			n++
		}
	}
	return n, nil
}

func (s *server) importProgress(c *gin.Context) {
	im, ok := s.loadImport(c)
	if !ok {
		return
	}
	s.render(c, http.StatusOK, views.ImportProgress(importView(im)))
}

func (s *server) importStart(c *gin.Context) {
	im, ok := s.loadImport(c)
	if !ok {
		return
	}
	mapping := make([]string, len(im.Header))
	current := im.Mapping()
	for i := range mapping {
		mapping[i] = c.PostForm("map_" + strconv.Itoa(i))
		if mapping[i] == "" {
			mapping[i] = current[i]
		}
	}
	var opts customers.StartOptions
	switch v := c.PostForm("start_flows"); v {
	case "":
	case "on", "true", "1":
		opts.StartFlows = true
	default:
		s.renderError(c, http.StatusBadRequest, fmt.Sprintf("start_flows must be on or left out, not %q.", string([]rune(v)[:min(20, len([]rune(v)))])))
		return
	}
	err := s.Customers.StartImportWith(c.Request.Context(), s.Jobs, im.ShopID, im.ID, mapping, opts)
	var ie *customers.ImportError
	switch {
	case errors.As(err, &ie):
		s.renderError(c, http.StatusUnprocessableEntity, ie.Msg)
		return
	case err != nil:
		s.fail(c, err)
		return
	}
	s.redirect(c, "/app/customers/import/"+strconv.FormatInt(im.ID, 10))
}

// importRetry queues an import that stopped again and shows its progress.
func (s *server) importRetry(c *gin.Context) {
	im, ok := s.loadImport(c)
	if !ok {
		return
	}
	err := s.Customers.RetryImport(c.Request.Context(), s.Jobs, im.ShopID, im.ID)
	var ie *customers.ImportError
	switch {
	case errors.As(err, &ie):
		s.renderError(c, http.StatusConflict, ie.Msg)
		return
	case err != nil:
		s.fail(c, err)
		return
	}
	s.redirect(c, "/app/customers/import/"+strconv.FormatInt(im.ID, 10))
}

func (s *server) importRejects(c *gin.Context) {
	im, ok := s.loadImport(c)
	if !ok {
		return
	}
	c.Header("Content-Type", "text/csv; charset=utf-8")
	c.Header("Content-Disposition", fmt.Sprintf(`attachment; filename="import-%d-rejected.csv"`, im.ID))
	c.Header("Cache-Control", "no-store")
	c.Status(http.StatusOK)
	if err := s.Customers.WriteRejects(c.Request.Context(), im.ShopID, im.ID, c.Writer); err != nil {
		s.Log.Error("import rejects", "import", im.ID, "err", err)
	}
}

func importView(im customers.Import) views.ImportView {
	id := strconv.FormatInt(im.ID, 10)
	v := views.ImportView{
		ID: im.ID, Kind: im.Kind, Format: im.Format, Filename: im.Filename, Status: im.Status, Error: im.Error,
		RowsTotal: im.RowsTotal, RowsDone: im.RowsDone, Created: im.RowsCreated, Updated: im.RowsUpdated, Rejected: im.RowsRejected,
		Percent: im.Percent(), Size: fmt.Sprintf("%.1f MB", float64(im.BytesTotal)/(1<<20)),
		ReportHref:   "/app/customers/import/" + id + "/rejected.csv",
		ProgressHref: "/app/customers/import/" + id + "/progress",
		StartHref:    "/app/customers/import/" + id + "/start",
		RetryHref:    "/app/customers/import/" + id + "/retry",
		KindLabel:    "Customer profiles",
		StartFlows:   im.StartFlows,
	}
	fields := customers.ProfileFields
	if im.Kind == customers.ImportSuppressions {
		v.KindLabel = "Suppression list"
		fields = customers.SuppressionFields
	}
	for _, f := range fields {
		v.Fields = append(v.Fields, views.Option{Value: f, Label: customers.FieldLabel(f)})
	}
	sample := im.Sample()
	for i, h := range im.Header {
		col := views.ImportColumn{Index: i, Header: h, Field: im.Mapping()[i]}
		for _, row := range sample {
			if i < len(row) && strings.TrimSpace(row[i]) != "" {
				col.Sample = row[i]
				if r := []rune(col.Sample); len(r) > 60 {
					col.Sample = string(r[:60]) + "…"
				}
				break
			}
		}
		v.Columns = append(v.Columns, col)
	}
	return v
}
