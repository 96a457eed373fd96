package web

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/cartwheel/cartwheel/app/catalog"
	"github.com/cartwheel/cartwheel/app/customers"
	"github.com/cartwheel/cartwheel/app/events"
	"github.com/cartwheel/cartwheel/app/input"
	"github.com/cartwheel/cartwheel/app/lifecycle"
	"github.com/cartwheel/cartwheel/app/segments"
	"github.com/cartwheel/cartwheel/app/shops"
	"github.com/cartwheel/cartwheel/views"
)

// Admin › Segments: the list, the rule builder (with its live preview), the
// detail page with members, history and CSV export, and delete.

// maxSegmentBody bounds a builder POST: at most 50 conditions of at most 100
// short values each fit well under it.
const maxSegmentBody = 1 << 20

// segmentMembersPage is how many members the detail page shows at once.
const segmentMembersPage = 50

// previewSample is how many matching customers the builder shows.
const previewSample = 5

func (s *server) segmentRoutes(app, api *gin.RouterGroup) {
	if s.Segments == nil {
		for _, p := range comingSoonPages {
			if p.key == "segments" {
				app.GET(p.path, s.comingSoon(p))
			}
		}
		return
	}
	app.GET("/segments", s.segmentsList)
	app.GET("/segments/new", s.segmentNew)
	app.POST("/segments", s.segmentCreate)
	app.GET("/segments/:id", s.segmentShow)
	app.GET("/segments/:id/edit", s.segmentEdit)
	app.POST("/segments/:id", s.segmentSave)
	app.POST("/segments/:id/delete", s.segmentDelete)
	app.GET("/segments/:id/export.csv", s.segmentExport)
	api.POST("/segments/preview", s.segmentPreview)
	api.GET("/segments/catalog", s.segmentCatalog)
}

// shopLocation is the shop's timezone for dates shown to the merchant.
func shopLocation(sh shops.Shop) *time.Location {
	if loc, err := time.LoadLocation(sh.IanaTimezone); err == nil {
		return loc
	}
	return time.UTC
}

func segmentHref(id int64, suffix string) string {
	return "/app/segments/" + strconv.FormatInt(id, 10) + suffix
}

// catalogTitles finds the titles of the products and collections rules
// refer to, by kind (catalog.KindProduct, catalog.KindCollection).
func (s *server) catalogTitles(ctx context.Context, shopID int64, rules ...segments.Rules) (map[string]map[int64]string, error) {
	out := map[string]map[int64]string{}
	if s.Catalog == nil {
		return out, nil
	}
	ids := map[string][]int64{}
	for _, r := range rules {
		r.Walk(func(cd segments.Condition) {
			switch cd.Field {
			case segments.FieldBoughtProd:
				ids[catalog.KindProduct] = append(ids[catalog.KindProduct], cd.IDs...)
			case segments.FieldBoughtColl:
				ids[catalog.KindCollection] = append(ids[catalog.KindCollection], cd.IDs...)
			case segments.FieldEvent:
				if f := cd.Filter; f != nil && (f.Kind == catalog.KindProduct || f.Kind == catalog.KindCollection) {
					if n, err := strconv.ParseInt(f.Value, 10, 64); err == nil {
						ids[f.Kind] = append(ids[f.Kind], n)
					}
				}
			}
		})
	}
	for kind, list := range ids {
		titles, err := s.Catalog.Titles(ctx, shopID, kind, list)
		if err != nil {
			return nil, err
		}
		out[kind] = titles
	}
	return out, nil
}

// summaryNames resolves the segments, products and collections that rules
// refer to, for segments.Summary.
func (s *server) summaryNames(ctx context.Context, shopID int64, segs []segments.Segment, rules ...segments.Rules) (segments.Names, error) {
	m := make(map[int64]string, len(segs))
	for _, sg := range segs {
		m[sg.ID] = sg.Name
	}
	titles, err := s.catalogTitles(ctx, shopID, rules...)
	if err != nil {
		return segments.Names{}, err
	}
	return segments.Names{
		Segment:    func(id int64) string { return m[id] },
		Product:    func(id int64) string { return titles[catalog.KindProduct][id] },
		Collection: func(id int64) string { return titles[catalog.KindCollection][id] },
	}, nil
}

func trend(now int, before int, known bool) (string, string) {
	switch d := now - before; {
	case !known:
		return "new", ""
	case d > 0:
		return fmt.Sprintf("+%d this week", d), "Success"
	case d < 0:
		return fmt.Sprintf("−%d this week", -d), "Critical"
	}
	return "no change this week", ""
}

func (s *server) segmentsList(c *gin.Context) {
	sh := currentShop(c)
	ctx := c.Request.Context()
	now := s.Now()
	segs, err := s.Segments.List(ctx, sh.ID)
	if err != nil {
		s.fail(c, err)
		return
	}
	sizes, err := s.Segments.Sizes(ctx, sh.ID)
	if err != nil {
		s.fail(c, err)
		return
	}
	ago, err := s.Segments.SizesAgo(ctx, sh.ID, now, 7)
	if err != nil {
		s.fail(c, err)
		return
	}
	q := strings.TrimSpace(c.Query("q"))
	loc := shopLocation(sh)
	all := make([]segments.Rules, len(segs))
	for i, sg := range segs {
		all[i] = sg.Rules
	}
	names, err := s.summaryNames(ctx, sh.ID, segs, all...)
	if err != nil {
		s.fail(c, err)
		return
	}
	l := views.SegmentList{Q: q, Filtered: q != "", Total: len(segs)}
	for _, sg := range segs {
		if q != "" && !strings.Contains(strings.ToLower(sg.Name), strings.ToLower(q)) {
			continue
		}
		before, known := ago[sg.ID]
		tr, tone := trend(sizes[sg.ID], before, known)
		l.Rows = append(l.Rows, views.SegmentRow{
			Href: segmentHref(sg.ID, ""), Name: sg.Name, Preset: sg.PresetKey.Valid, Size: sizes[sg.ID],
			Trend: tr, TrendTone: tone, Summary: segments.Summary(sg.Rules, names),
			Updated: sg.UpdatedAt.In(loc).Format("2 Jan 2006"),
		})
	}
	s.render(c, http.StatusOK, views.Segments(s.page(c, "Segments", "segments"), l))
}

// loadSegment reads the :id segment of the current shop; false after
// answering 404 (another shop's segment is no different from none).
func (s *server) loadSegment(c *gin.Context) (segments.Segment, bool) {
	err := segments.ErrNotFound
	if id, perr := strconv.ParseInt(c.Param("id"), 10, 64); perr == nil && id > 0 {
		var sg segments.Segment
		sg, err = s.Segments.Get(c.Request.Context(), currentShop(c).ID, id)
		if err == nil {
			return sg, true
		}
	}
	if !errors.Is(err, segments.ErrNotFound) {
		s.fail(c, err)
		return segments.Segment{}, false
	}
	s.segmentNotFound(c)
	return segments.Segment{}, false
}

func (s *server) segmentNotFound(c *gin.Context) {
	if c.GetHeader("HX-Request") != "" || c.Request.Method != http.MethodGet {
		c.AbortWithStatusJSON(http.StatusNotFound, gin.H{"error": "There is no such segment in your store."})
		return
	}
	s.renderError(c, http.StatusNotFound, "There is no such segment in your store.")
	c.Abort()
}

func (s *server) segmentShow(c *gin.Context) {
	sg, ok := s.loadSegment(c)
	if !ok {
		return
	}
	s.renderSegmentPage(c, http.StatusOK, sg, "")
}

func (s *server) renderSegmentPage(c *gin.Context, status int, sg segments.Segment, errMsg string) {
	sh := currentShop(c)
	ctx := c.Request.Context()
	after, err := input.Cursor("after", c.Query("after"))
	if err != nil {
		s.refuse(c, http.StatusBadRequest, "The address is not valid: "+err.Error()+".")
		return
	}
	segs, err := s.Segments.List(ctx, sh.ID)
	if err != nil {
		s.fail(c, err)
		return
	}
	sizes, err := s.Segments.Sizes(ctx, sh.ID)
	if err != nil {
		s.fail(c, err)
		return
	}
	hist, err := s.Segments.History(ctx, sh.ID, sg.ID, s.Now(), 90)
	if err != nil {
		s.fail(c, err)
		return
	}
	page, err := s.Segments.Members(ctx, sh.ID, sg.ID, after, segmentMembersPage)
	if err != nil {
		s.fail(c, err)
		return
	}
	names, err := s.summaryNames(ctx, sh.ID, segs, sg.Rules)
	if err != nil {
		s.fail(c, err)
		return
	}
	loc := shopLocation(sh)
	p := views.SegmentPage{
		ID: sg.ID, Name: sg.Name, Summary: segments.Summary(sg.Rules, names), Size: sizes[sg.ID],
		Preset: sg.PresetKey.Valid, Updated: sg.UpdatedAt.In(loc).Format("2 Jan 2006 15:04"), Error: errMsg,
		EditHref: segmentHref(sg.ID, "/edit"), ExportHref: segmentHref(sg.ID, "/export.csv"),
		DeleteHref: segmentHref(sg.ID, "/delete"), FirstHref: segmentHref(sg.ID, ""), Paged: after > 0,
	}
	if s.Campaigns.Store != nil {
		p.CampaignSegmentID = strconv.FormatInt(sg.ID, 10)
	}
	for _, h := range hist {
		p.History = append(p.History, views.SizePoint{Day: h.Day.Format("2 Jan"), Size: h.Size})
	}
	if page.Next != 0 {
		p.NextHref = segmentHref(sg.ID, "") + "?" + url.Values{"after": {strconv.FormatInt(page.Next, 10)}}.Encode()
	}
	for _, m := range page.Members {
		row := views.SegmentMember{Href: "/app/customers/" + strconv.FormatInt(m.ID, 10), Name: m.Name(),
			Country: m.Country, Consent: customers.ConsentLabel(m.Consent), ConsentTone: consentTone(m.Consent),
			Orders: m.OrdersCount, Spent: m.TotalSpent.StringFixed(2) + " " + sh.Currency}
		if m.Email != nil {
			row.Email = *m.Email
		}
		if m.Since != nil {
			row.Since = m.Since.In(loc).Format("2 Jan 2006")
		}
		p.Members = append(p.Members, row)
	}
	s.render(c, status, views.SegmentDetail(s.page(c, sg.Name, "segments"), p))
}

func (s *server) segmentExport(c *gin.Context) {
	sg, ok := s.loadSegment(c)
	if !ok {
		return
	}
	c.Header("Content-Type", "text/csv; charset=utf-8")
	c.Header("Content-Disposition", fmt.Sprintf(`attachment; filename="segment-%d-%s.csv"`, sg.ID, s.Now().UTC().Format("2006-01-02")))
	c.Header("Cache-Control", "no-store")
	c.Status(http.StatusOK)
	if _, err := s.Segments.ExportCSV(c.Request.Context(), sg.ShopID, sg.ID, c.Writer); err != nil {
		// Headers are gone; the truncated file is all we can do. Log it.
		s.Log.Error("segment export", "segment", sg.ID, "err", err)
	}
}

// segmentDelete removes a segment; one that others use is refused, with
// their names, and nothing is deleted.
func (s *server) segmentDelete(c *gin.Context) {
	sg, ok := s.loadSegment(c)
	if !ok {
		return
	}
	err := s.Segments.Delete(c.Request.Context(), sg.ShopID, sg.ID)
	var inUse segments.ErrInUse
	switch {
	case errors.As(err, &inUse):
		// 422 so htmx swaps the page in with its banner (see htmxConfig).
		s.renderSegmentPage(c, http.StatusUnprocessableEntity, sg, inUse.Error())
		return
	case errors.Is(err, segments.ErrNotFound):
		s.segmentNotFound(c)
		return
	case err != nil:
		s.fail(c, err)
		return
	}
	s.redirect(c, "/app/segments")
}

// --- builder ---------------------------------------------------------------------

func (s *server) segmentNew(c *gin.Context) {
	if c.Query("lifecycle") != "" && s.Lifecycle != nil {
		s.segmentNewLifecycle(c)
		return
	}
	r := segments.Rules{Version: segments.Version, Root: segments.Group{Op: "and", Items: []segments.Node{
		{Condition: &segments.Condition{Field: segments.FieldOrdersCount, Op: "gte", Number: ptr(1.0)}},
	}}}
	b, _ := json.MarshalIndent(r, "", "  ")
	s.renderBuilder(c, http.StatusOK, 0, "", string(b), false, nil)
}

// segmentNewLifecycle opens the builder on a lifecycle funnel level
// (?lifecycle=level&to=last day), where the dashboard's counts link: the
// preview lists the level's customers and Save keeps them as a segment.
func (s *server) segmentNewLifecycle(c *gin.Context) {
	sh := currentShop(c)
	l, ok := lifecycle.ParseLevel(c.Query("lifecycle"))
	if !ok {
		s.renderError(c, http.StatusUnprocessableEntity, "Choose a funnel level: prospects, reached, engaged, ordered or repurchased.")
		return
	}
	w, _, err := s.lifecycleWindow(c, sh.ID)
	var bad errBadTo
	if errors.As(err, &bad) {
		s.renderError(c, http.StatusUnprocessableEntity, bad.Error())
		return
	}
	if err != nil {
		s.fail(c, err)
		return
	}
	now := s.Now()
	b, _ := json.MarshalIndent(segments.LifecycleRules(l, w, now), "", "  ")
	s.renderBuilder(c, http.StatusOK, 0, segments.LifecycleName(l, w, now), string(b), false, nil)
}

func (s *server) segmentEdit(c *gin.Context) {
	sg, ok := s.loadSegment(c)
	if !ok {
		return
	}
	b, _ := json.MarshalIndent(sg.Rules, "", "  ")
	s.renderBuilder(c, http.StatusOK, sg.ID, sg.Name, string(b), sg.PresetKey.Valid, nil)
}

func (s *server) segmentCreate(c *gin.Context) {
	sh := currentShop(c)
	c.Request.Body = http.MaxBytesReader(c.Writer, c.Request.Body, maxSegmentBody)
	name, raw := c.PostForm("name"), c.PostForm("rules")
	r, errs := parseRulesForm(raw)
	if errs == nil {
		sg, err := s.Segments.Create(c.Request.Context(), sh.ID, name, r, s.Now())
		if !errors.As(err, &errs) {
			if err != nil {
				s.fail(c, err)
				return
			}
			s.redirect(c, segmentHref(sg.ID, ""))
			return
		}
	}
	s.renderBuilder(c, http.StatusUnprocessableEntity, 0, name, raw, false, errs)
}

func (s *server) segmentSave(c *gin.Context) {
	sg, ok := s.loadSegment(c)
	if !ok {
		return
	}
	c.Request.Body = http.MaxBytesReader(c.Writer, c.Request.Body, maxSegmentBody)
	name, raw := c.PostForm("name"), c.PostForm("rules")
	r, errs := parseRulesForm(raw)
	if errs == nil {
		_, err := s.Segments.Save(c.Request.Context(), sg.ShopID, sg.ID, name, r, s.Now())
		if !errors.As(err, &errs) {
			switch {
			case errors.Is(err, segments.ErrNotFound):
				s.segmentNotFound(c)
			case err != nil:
				s.fail(c, err)
			default:
				s.redirect(c, segmentHref(sg.ID, ""))
			}
			return
		}
	}
	s.renderBuilder(c, http.StatusUnprocessableEntity, sg.ID, name, raw, sg.PresetKey.Valid, errs)
}

// parseRulesForm reads the builder's rules JSON; unreadable JSON is a
// problem with the "rules" field.
func parseRulesForm(raw string) (segments.Rules, segments.Errors) {
	if strings.TrimSpace(raw) == "" {
		return segments.Rules{}, segments.Errors{{Path: "root", Message: "Add at least one condition."}}
	}
	r, err := segments.Parse([]byte(raw))
	if errors.Is(err, segments.ErrTooDeep) {
		return segments.Rules{}, segments.Errors{{Path: "root", Message: segments.ErrTooDeep.Error()}}
	}
	if err != nil {
		return segments.Rules{}, segments.Errors{{Path: "rules", Message: "The rules could not be read as JSON: " + jsonProblem(err) + "."}}
	}
	return r, nil
}

func jsonProblem(err error) string {
	var se *json.SyntaxError
	var te *json.UnmarshalTypeError
	switch {
	case errors.As(err, &se):
		return fmt.Sprintf("%s (at character %d)", se.Error(), se.Offset)
	case errors.As(err, &te):
		return fmt.Sprintf("%s should be a %s, not a %s", orDefault(te.Field, "the value"), te.Type.String(), te.Value)
	}
	return strings.TrimPrefix(err.Error(), "segment rules: ")
}

func orDefault(s, def string) string {
	if s == "" {
		return def
	}
	return s
}

// BuilderConfig is what the builder script needs besides the rules: the
// choices its pickers offer and the problems to show inline.
type builderConfig struct {
	SelfID             int64               `json:"self_id"`
	PreviewURL         string              `json:"preview_url"`
	CatalogURL         string              `json:"catalog_url"`
	Events             []string            `json:"events"`
	EventLabels        map[string]string   `json:"event_labels"`
	SuppressionReasons []views.Option      `json:"suppression_reasons"`
	RFM                []views.Option      `json:"rfm"`
	Segments           []segmentChoice     `json:"segments"`
	Titles             map[string]idTitles `json:"titles"` // "product"/"collection" → id → title
	Errors             segments.Errors     `json:"errors"`
	Limits             map[string]int      `json:"limits"`
}

type segmentChoice struct {
	ID   int64  `json:"id"`
	Name string `json:"name"`
}

type idTitles map[string]string

func (s *server) renderBuilder(c *gin.Context, status int, id int64, name, rulesJSON string, preset bool, errs segments.Errors) {
	sh := currentShop(c)
	ctx := c.Request.Context()
	segs, err := s.Segments.List(ctx, sh.ID)
	if err != nil {
		s.fail(c, err)
		return
	}
	cfg := builderConfig{SelfID: id, PreviewURL: "/api/segments/preview", CatalogURL: "/api/segments/catalog",
		Events: events.SegmentEvents(), EventLabels: map[string]string{}, Errors: errs, Titles: map[string]idTitles{},
		Limits: map[string]int{"depth": segments.MaxDepth, "conditions": segments.MaxConditions, "values": segments.MaxValues}}
	if cfg.Errors == nil {
		cfg.Errors = segments.Errors{}
	}
	for _, e := range cfg.Events {
		cfg.EventLabels[e] = segments.EventLabel(e)
	}
	for _, r := range segments.SuppressionReasons {
		cfg.SuppressionReasons = append(cfg.SuppressionReasons, views.Option{Value: r, Label: segments.ReasonLabels[r]})
	}
	for _, r := range segments.RFMCells {
		cfg.RFM = append(cfg.RFM, views.Option{Value: r, Label: segments.RFMLabels[r]})
	}
	for _, sg := range segs {
		if sg.ID != id {
			cfg.Segments = append(cfg.Segments, segmentChoice{ID: sg.ID, Name: sg.Name})
		}
	}
	// Name the products and collections the rules already use.
	if r, err := segments.Parse([]byte(rulesJSON)); err == nil {
		titles, err := s.catalogTitles(ctx, sh.ID, r)
		if err != nil {
			s.fail(c, err)
			return
		}
		for kind, m := range titles {
			out := idTitles{}
			for k, v := range m {
				out[strconv.FormatInt(k, 10)] = v
			}
			cfg.Titles[kind] = out
		}
	}
	e := views.SegmentEditor{ID: id, Name: name, RulesJSON: rulesJSON, Preset: preset, Config: cfg, Action: "/app/segments"}
	if id != 0 {
		e.Action = segmentHref(id, "")
		e.CancelHref = segmentHref(id, "")
	} else {
		e.CancelHref = "/app/segments"
	}
	for _, fe := range errs {
		if fe.Path == "name" {
			e.NameError = fe.Message
			continue
		}
		e.Errors = append(e.Errors, views.SegmentError{Where: errorWhere(fe.Path), Message: fe.Message})
	}
	title := "Create segment"
	if id != 0 {
		title = "Edit " + name
	}
	if c.GetHeader("HX-Request") != "" && c.Request.Method == http.MethodPost {
		s.render(c, status, views.SegmentEditorForm(e))
		return
	}
	s.render(c, status, views.SegmentBuilder(s.page(c, title, "segments"), e))
}

var itemIndexRe = regexp.MustCompile(`\.items\[(\d+)\]`)

// errorWhere names the place of a problem for merchants: "root.items[2]
// .items[0].window" is "Rule 3 › 1".
func errorWhere(path string) string {
	idx := itemIndexRe.FindAllStringSubmatch(path, -1)
	if len(idx) == 0 {
		if path == "rules" || path == "version" {
			return "Rules"
		}
		return "Segment"
	}
	parts := make([]string, len(idx))
	for i, m := range idx {
		n, _ := strconv.Atoi(m[1])
		parts[i] = strconv.Itoa(n + 1)
	}
	return "Rule " + strings.Join(parts, " › ")
}

// --- JSON endpoints for the builder ------------------------------------------------

type previewRequest struct {
	Rules  json.RawMessage `json:"rules"`
	SelfID int64           `json:"self_id"`
}

type previewMember struct {
	ID    int64  `json:"id"`
	Name  string `json:"name"`
	Email string `json:"email"`
	Href  string `json:"href"`
}

// segmentPreview counts the customers the (unsaved) rules match, with a few
// of them and the rules in words; invalid rules get 422 with every problem
// and its path in the tree. Nothing is stored.
func (s *server) segmentPreview(c *gin.Context) {
	sh := currentShop(c)
	ctx := c.Request.Context()
	c.Request.Body = http.MaxBytesReader(c.Writer, c.Request.Body, maxSegmentBody)
	var req previewRequest
	if err := json.NewDecoder(c.Request.Body).Decode(&req); err != nil {
		c.JSON(http.StatusBadRequest, gin.H{"error": "Send JSON like {\"rules\": {…}, \"self_id\": 0}: " + jsonProblem(err) + "."})
		return
	}
	r, errs := parseRulesForm(string(req.Rules))
	if errs != nil {
		c.JSON(http.StatusUnprocessableEntity, gin.H{"errors": errs})
		return
	}
	if req.SelfID != 0 {
		if _, err := s.Segments.Get(ctx, sh.ID, req.SelfID); errors.Is(err, segments.ErrNotFound) {
			c.JSON(http.StatusNotFound, gin.H{"error": "There is no such segment in your store."})
			return
		} else if err != nil {
			s.fail(c, err)
			return
		}
	}
	p, err := s.Segments.Preview(ctx, sh.ID, req.SelfID, r, s.Now(), previewSample)
	switch {
	case errors.As(err, &errs):
		c.JSON(http.StatusUnprocessableEntity, gin.H{"errors": errs})
		return
	case errors.Is(err, segments.ErrTooSlow):
		c.JSON(http.StatusServiceUnavailable, gin.H{"error": "Counting took too long; narrow the rules and try again."})
		return
	case err != nil:
		s.fail(c, err)
		return
	}
	segs, err := s.Segments.List(ctx, sh.ID)
	if err != nil {
		s.fail(c, err)
		return
	}
	sample := []previewMember{}
	for _, m := range p.Sample {
		pm := previewMember{ID: m.ID, Name: m.Name(), Href: "/app/customers/" + strconv.FormatInt(m.ID, 10)}
		if m.Email != nil {
			pm.Email = *m.Email
		}
		sample = append(sample, pm)
	}
	names, err := s.summaryNames(ctx, sh.ID, segs, r)
	if err != nil {
		s.fail(c, err)
		return
	}
	c.Header("Cache-Control", "no-store")
	c.JSON(http.StatusOK, gin.H{"count": p.Count, "sample": sample, "summary": segments.Summary(r, names)})
}

// segmentCatalog answers the product and collection pickers:
// ?kind=product|collection&q=title words.
func (s *server) segmentCatalog(c *gin.Context) {
	kind := c.Query("kind")
	if kind != catalog.KindProduct && kind != catalog.KindCollection {
		c.JSON(http.StatusBadRequest, gin.H{"error": "kind must be product or collection"})
		return
	}
	q := c.Query("q")
	if len([]rune(q)) > segments.MaxTextLen {
		c.JSON(http.StatusBadRequest, gin.H{"error": fmt.Sprintf("Search for at most %d characters.", segments.MaxTextLen)})
		return
	}
	items, err := s.Catalog.Search(c.Request.Context(), currentShop(c).ID, kind, q)
	if err != nil {
		s.fail(c, err)
		return
	}
	sort.SliceStable(items, func(i, j int) bool { return strings.ToLower(items[i].Title) < strings.ToLower(items[j].Title) })
	c.Header("Cache-Control", "no-store")
	c.JSON(http.StatusOK, gin.H{"items": items})
}
