package web

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"reflect"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/cartwheel/cartwheel/app/email/render"
	"github.com/cartwheel/cartwheel/app/flows"
	"github.com/cartwheel/cartwheel/app/input"
	"github.com/cartwheel/cartwheel/app/reports"
	"github.com/cartwheel/cartwheel/views"
)

// Admin › Flows: the list with the ready-made flows, and the editor (flow
// settings, the canvas of steps, the step panel, going live, pause, resume,
// turn off). Every handler takes the shop from the session; the flow id in
// the path is looked up in that shop only.

// FlowAdmin is what the flow pages call. Store is required; the rest is
// optional and hides what it would show when nil.
type FlowAdmin struct {
	Store       *flows.Store
	Numbers     flows.FlowNumbers
	Waiting     flows.Waiting
	StepNumbers flows.StepNumbers
	DevClock    flows.DevClock
	DryRuns     FlowDryRuns
}

// FlowDryRuns estimates a definition over the shop's recent data
// (*flows.Engine).
type FlowDryRuns interface {
	DryRun(ctx context.Context, shopID int64, def flows.Definition, now time.Time) (flows.DryRun, error)
}

func (s *server) flowRoutes(app *gin.RouterGroup) {
	if s.Flows.Store == nil {
		for _, p := range comingSoonPages {
			if p.key == "flows" {
				app.GET(p.path, s.comingSoon(p))
			}
		}
		return
	}
	app.GET("/flows", s.flowsList)
	app.POST("/flows", s.flowCreate)
	app.GET("/flows/:id", s.flowShow)
	app.POST("/flows/:id/settings", s.flowSettings)
	app.POST("/flows/:id/steps", s.flowAddStep)
	app.POST("/flows/:id/steps/:step", s.flowSaveStep)
	app.POST("/flows/:id/steps/:step/delete", s.flowDeleteStep)
	app.POST("/flows/:id/publish", s.flowPublish)
	app.POST("/flows/:id/pause", s.flowStatus("pause"))
	app.POST("/flows/:id/resume", s.flowStatus("resume"))
	app.POST("/flows/:id/off", s.flowStatus("off"))
	if s.Flows.DryRuns != nil {
		app.GET("/flows/:id/dry-run", s.flowDryRun)
	}
	if s.Config.Dev() {
		app.POST("/flows/:id/dev/run-due", s.flowRunDue)
	}
	if s.Reports != nil {
		s.flowReportRoutes(app) // flow_report.go
	}
}

func flowHref(id int64) string { return "/app/flows/" + strconv.FormatInt(id, 10) }

func statusTone(status string) string {
	switch status {
	case flows.StatusLive:
		return "Success"
	case flows.StatusPaused:
		return "Attention"
	case flows.StatusOff:
		return "Critical"
	}
	return ""
}

func (s *server) flowsList(c *gin.Context) {
	s.renderFlowList(c, http.StatusOK, "")
}

func (s *server) renderFlowList(c *gin.Context, status int, msg string) {
	sh := currentShop(c)
	ctx := c.Request.Context()
	q, err := input.Text("q", c.Query("q"), 100)
	if err != nil {
		c.String(http.StatusBadRequest, err.Error())
		return
	}
	after, err := input.Cursor("after", c.Query("after"))
	if err != nil {
		c.String(http.StatusBadRequest, err.Error())
		return
	}
	page, err := s.Flows.Store.List(ctx, sh.ID, after, q, 50)
	if err != nil {
		s.fail(c, err)
		return
	}
	var numbers map[int64]flows.ListNumbers
	if s.Flows.Numbers != nil && len(page.Flows) > 0 {
		ids := make([]int64, len(page.Flows))
		for i, f := range page.Flows {
			ids[i] = f.ID
		}
		if numbers, err = s.Flows.Numbers.Numbers(ctx, sh.ID, ids); err != nil {
			s.fail(c, err)
			return
		}
	}
	revenue, err := s.flowRevenue30(c, sh.ID, page.Flows)
	if err != nil {
		s.fail(c, err)
		return
	}
	l := views.FlowList{Q: q, Filtered: q != "", Error: msg,
		Locales: []views.Option{{Value: render.LocaleEN, Label: "English"}, {Value: render.LocaleZH, Label: "中文"}}}
	for _, f := range page.Flows {
		row := views.FlowRow{ID: f.ID, Name: f.Name, Href: flowHref(f.ID), Status: f.Status, StatusTone: statusTone(f.Status),
			Trigger: triggerLabel(f.TriggerType), Sent: "—", Ordered: "—"}
		if n, ok := numbers[f.ID]; ok || numbers != nil {
			row.Sent, row.Ordered = thousands(n.Sent), thousands(n.Ordered)
		}
		if revenue != nil {
			r := reports.Sum(revenue[f.ID])
			row.Orders30, row.Sales30, row.ReportHref = count64(r.Orders), money(r.Sales, sh.Currency), flowHref(f.ID)+"/report"
		}
		l.Rows = append(l.Rows, row)
	}
	if page.Next != 0 {
		v := url.Values{"after": {strconv.FormatInt(page.Next, 10)}}
		if q != "" {
			v.Set("q", q)
		}
		l.NextHref = "/app/flows?" + v.Encode()
	}
	for _, p := range flows.Presets() {
		l.Presets = append(l.Presets, views.FlowPresetCard{Key: p.Key, Name: p.Name, Description: p.Description, Trigger: triggerLabel(p.Trigger)})
	}
	s.render(c, status, views.Flows(s.page(c, "Flows", "flows"), l))
}

// flowRevenue30 is the listed flows' attributed orders and sales of the
// last 30 days (today included, in the shop's timezone) per step, read in
// one query; nil without reports.
func (s *server) flowRevenue30(c *gin.Context, shopID int64, fs []flows.Flow) (map[int64]map[string]reports.Revenue, error) {
	if s.Reports == nil || len(fs) == 0 {
		return nil, nil
	}
	today, err := s.Reports.Today(c.Request.Context(), shopID, time.Now())
	if err != nil {
		return nil, err
	}
	rg, err := reports.ParseRange("30", "", "", today)
	if err != nil {
		return nil, err
	}
	ids := make([]int64, len(fs))
	for i, f := range fs {
		ids[i] = f.ID
	}
	return s.Reports.FlowRevenue(c.Request.Context(), shopID, ids, rg)
}

func thousands(n int) string {
	s := strconv.Itoa(n)
	for i := len(s) - 3; i > 0 && s[i-1] != '-'; i -= 3 {
		s = s[:i] + "," + s[i:]
	}
	return s
}

// flowCreate makes a draft from a ready-made flow.
func (s *server) flowCreate(c *gin.Context) {
	sh := currentShop(c)
	key, err1 := input.Text("preset", c.PostForm("preset"), 50)
	locale, err2 := input.Text("locale", c.PostForm("locale"), 10)
	if err := errors.Join(err1, err2); err != nil {
		s.renderFlowList(c, http.StatusBadRequest, err.Error())
		return
	}
	f, err := s.Flows.Store.CreateFromPreset(c.Request.Context(), sh.ID, key, locale)
	var ie flows.InputError
	if errors.As(err, &ie) {
		s.renderFlowList(c, http.StatusUnprocessableEntity, ie.Message)
		return
	}
	if err != nil {
		s.fail(c, err)
		return
	}
	s.toFlow(c, f.ID, "")
}

// toFlow answers a successful POST: htmx follows HX-Redirect, a plain form
// gets 303 to the flow page.
func (s *server) toFlow(c *gin.Context, id int64, query string) {
	to := flowHref(id)
	if query != "" {
		to += "?" + query
	}
	if c.GetHeader("HX-Request") != "" {
		c.Header("HX-Redirect", to)
		c.Status(http.StatusNoContent)
		return
	}
	c.Redirect(http.StatusSeeOther, to)
}

// loadFlow reads the :id flow of the current shop; false after answering 404.
func (s *server) loadFlow(c *gin.Context) (flows.Flow, bool) {
	err := flows.ErrNotFound
	if id, perr := input.ID("id", c.Param("id")); perr == nil {
		var f flows.Flow
		f, err = s.Flows.Store.Get(c.Request.Context(), currentShop(c).ID, id)
		if err == nil {
			return f, true
		}
	}
	if !errors.Is(err, flows.ErrNotFound) {
		s.fail(c, err)
		return flows.Flow{}, false
	}
	if c.GetHeader("HX-Request") != "" || c.Request.Method != http.MethodGet {
		c.AbortWithStatusJSON(http.StatusNotFound, gin.H{"error": "no such flow"})
		return flows.Flow{}, false
	}
	s.renderError(c, http.StatusNotFound, "There is no such flow in your store.")
	c.Abort()
	return flows.Flow{}, false
}

// editorState is what one render of the editor needs besides the flow.
type editorState struct {
	notice      string
	refused     bool
	step        string            // the step whose panel is open
	stepValues  map[string]string // the panel's values as typed (after a refused save)
	stepErrors  map[string]string
	settings    *views.FlowSettingsForm // the settings form as typed (after a refused save)
	showPublish bool
	failure     string // why an edit wasn't saved
}

func (s *server) flowShow(c *gin.Context) {
	f, ok := s.loadFlow(c)
	if !ok {
		return
	}
	st := editorState{step: c.Query("step"), showPublish: c.Query("publish") == "1"}
	switch c.Query("done") {
	case "published":
		st.notice = fmt.Sprintf("The flow is live (version %d).", f.LiveVersion)
	case "paused":
		st.notice = "The flow is paused: nothing is sent and customers wait where they are."
	case "resumed":
		st.notice = "The flow is live again."
	case "off":
		st.notice = "The flow is off: customers in it have left it."
	case "saved":
		st.notice = "Saved."
	case "ran":
		st.notice = "Due steps ran: " + c.Query("n") + "."
	}
	s.renderEditor(c, http.StatusOK, f, st)
}

func (s *server) renderEditor(c *gin.Context, status int, f flows.Flow, st editorState) {
	sh := currentShop(c)
	ctx := c.Request.Context()
	problems, err := s.Flows.Store.Check(ctx, sh.ID, f.Draft)
	if err != nil {
		s.fail(c, err)
		return
	}
	tpls, err := s.templateOptions(ctx, sh.ID)
	if err != nil {
		s.fail(c, err)
		return
	}
	tplNames := map[int64]string{}
	for _, o := range tpls {
		id, _ := strconv.ParseInt(o.Value, 10, 64)
		tplNames[id] = o.Label
	}
	var segOpts []views.Option
	if s.Segments != nil {
		segs, err := s.Segments.List(ctx, sh.ID)
		if err != nil {
			s.fail(c, err)
			return
		}
		for _, sg := range segs {
			segOpts = append(segOpts, views.Option{Value: strconv.FormatInt(sg.ID, 10), Label: sg.Name})
		}
	}
	var counts map[string]flows.StepCounts
	if s.Flows.StepNumbers != nil {
		if counts, err = s.Flows.StepNumbers.StepNumbers(ctx, sh.ID, f.ID); err != nil {
			s.fail(c, err)
			return
		}
	}
	e := views.FlowEditor{ID: f.ID, Name: f.Name, Href: flowHref(f.ID), Status: f.Status, StatusTone: statusTone(f.Status),
		LiveVersion: f.LiveVersion, Notice: st.notice, Refused: st.refused, Failure: st.failure, FlowProblems: problems.Flow,
		ProblemCount: problems.Count(), StepsMarked: len(problems.Steps), Dev: s.Config.Dev() && s.Flows.DevClock != nil, DryRun: s.Flows.DryRuns != nil,
		HasNumbers: counts != nil,
		CanPause:   f.Status == flows.StatusLive, CanResume: f.Status == flows.StatusPaused,
		CanTurnOff: f.Status == flows.StatusLive || f.Status == flows.StatusPaused,
	}
	if f.LiveVersion > 0 {
		live, err := s.Flows.Store.Version(ctx, sh.ID, f.ID, f.LiveVersion)
		if err != nil {
			s.fail(c, err)
			return
		}
		e.HasDraftEdit = !reflect.DeepEqual(live, f.Draft)
	}
	// Going live: a draft or a flow that is off; publishing changes: a live
	// or paused flow whose draft differs.
	e.CanGoLive = f.Status == flows.StatusDraft || f.Status == flows.StatusOff || e.HasDraftEdit
	if st.showPublish && f.LiveVersion > 0 {
		e.Publish = &views.FlowPublishDialog{}
		if s.Flows.Waiting != nil {
			waiting, err := s.Flows.Waiting.WaitingBySteps(ctx, sh.ID, f.ID)
			if err != nil {
				s.fail(c, err)
				return
			}
			ids := make([]string, 0, len(waiting))
			for id := range waiting {
				ids = append(ids, id)
			}
			sort.Strings(ids)
			for _, id := range ids {
				e.Publish.Waiting = append(e.Publish.Waiting, views.FlowWaiting{Step: id, N: waiting[id]})
				e.Publish.Total += waiting[id]
			}
		}
	}
	if st.settings != nil {
		e.Settings = *st.settings
	} else {
		e.Settings = flowSettingsForm(f.Name, f.Draft)
	}
	e.Settings.TriggerOptions, e.Settings.SegmentOptions = triggerOptions(), segOpts
	e.Settings.DateOptions, e.Settings.SourceOptions, e.Settings.ExitOptions = dateOptions, sourceOptions, exitOptions
	e.Settings.ReEntryOptions, e.Settings.FilterFieldOptions = reEntryOptions, condOptions

	var build func(steps []flows.Step) []views.FlowStepView
	build = func(steps []flows.Step) []views.FlowStepView {
		out := make([]views.FlowStepView, 0, len(steps))
		for _, st2 := range steps {
			v := views.FlowStepView{ID: st2.ID, Type: st2.Type, TypeLabel: orText(stepTypeLabels[st2.Type], st2.Type), Name: st2.Name,
				Summary: stepSummary(st2, tplNames), Problems: problems.Steps[st2.ID], Selected: st2.ID == st.step,
				EditHref: flowHref(f.ID) + "?step=" + url.QueryEscape(st2.ID)}
			if n, ok := counts[st2.ID]; ok {
				v.Numbers = stepNumbers(st2.Type, n)
			}
			for i, b := range st2.Branches {
				lbl := b.Label
				if lbl == "" {
					lbl = fmt.Sprintf("Path %d", i+1)
				}
				if st2.Type == flows.StepRandomSplit {
					lbl += fmt.Sprintf(" (%d%%)", b.Percent)
				}
				v.Branches = append(v.Branches, views.FlowBranchView{Label: lbl, Index: i, ParentID: st2.ID, Steps: build(b.Steps)})
			}
			out = append(out, v)
		}
		return out
	}
	e.Steps = build(f.Draft.Steps)
	if s.Reports != nil {
		e.ReportHref = flowHref(f.ID) + "/report"
		revenue, err := s.flowRevenue30(c, sh.ID, []flows.Flow{f})
		if err != nil {
			s.fail(c, err)
			return
		}
		byStep := revenue[f.ID]
		t := reports.Sum(byStep)
		e.Revenue30 = fmt.Sprintf("Last 30 days: %s attributed orders, %s", count64(t.Orders), money(t.Sales, sh.Currency))
		var mark func(vs []views.FlowStepView)
		mark = func(vs []views.FlowStepView) {
			for i := range vs {
				if vs[i].Type == flows.StepSendEmail {
					r := byStep[vs[i].ID]
					vs[i].Revenue = fmt.Sprintf("Last 30 days: %s attributed orders · %s", count64(r.Orders), money(r.Sales, sh.Currency))
				}
				for j := range vs[i].Branches {
					mark(vs[i].Branches[j].Steps)
				}
			}
		}
		mark(e.Steps)
	}
	if n, ok := counts["trigger"]; ok {
		e.TriggerNumbers = fmt.Sprintf("%s entered · %s waiting", thousands(n.Entered), thousands(n.Waiting))
	}
	for _, n := range counts {
		// Emails reserved by a step go out from a job moments later: the
		// canvas refreshes itself until they have.
		e.Sending = e.Sending || n.Queued > 0
	}
	if st.step != "" {
		if step := f.Draft.Find(st.step); step != nil {
			p := &views.FlowStepPanel{StepID: step.ID, Type: step.Type, TypeLabel: orText(stepTypeLabels[step.Type], step.Type),
				Values: stepValues(*step), Errors: st.stepErrors, Problems: problems.Steps[step.ID], Templates: tpls,
				Events: eventOptions, CondFields: condOptions, Segments: segOpts, Ops: opOptions,
				DiscountKinds: discountOptions, Scopes: scopeOptions, Branches: len(step.Branches)}
			if st.stepValues != nil {
				p.Values = st.stepValues
			}
			e.Panel = p
		}
	}
	s.render(c, status, views.FlowEditorPage(s.page(c, f.Name, "flows"), e))
}

func stepNumbers(t string, n flows.StepCounts) string {
	parts := []string{fmt.Sprintf("%s entered", thousands(n.Entered)), fmt.Sprintf("%s waiting", thousands(n.Waiting))}
	if t == flows.StepSendEmail {
		parts = append(parts, thousands(n.Sent)+" sent")
		if n.Queued > 0 {
			parts = append(parts, thousands(n.Queued)+" sending")
		}
		parts = append(parts, thousands(n.Opened)+" opened", thousands(n.Clicked)+" clicked", thousands(n.Ordered)+" ordered")
	}
	for _, m := range []struct {
		what string
		by   map[string]int
	}{{"skipped", n.Skipped}, {"deferred", n.Deferred}} {
		reasons := make([]string, 0, len(m.by))
		for r := range m.by {
			reasons = append(reasons, r)
		}
		sort.Strings(reasons)
		for _, r := range reasons {
			parts = append(parts, fmt.Sprintf("%s %s (%s)", thousands(m.by[r]), m.what, r))
		}
	}
	return strings.Join(parts, " · ")
}

func (s *server) templateOptions(ctx context.Context, shopID int64) ([]views.Option, error) {
	if s.Mail.Templates == nil {
		return nil, nil
	}
	list, err := s.Mail.Templates.List(ctx, shopID, 500)
	if err != nil {
		return nil, err
	}
	out := make([]views.Option, 0, len(list))
	for _, t := range list {
		out = append(out, views.Option{Value: strconv.FormatInt(t.ID, 10), Label: t.Name + " (" + t.Locale + ")"})
	}
	return out, nil
}

func flowSettingsForm(name string, d flows.Definition) views.FlowSettingsForm {
	f := views.FlowSettingsForm{Name: name, Trigger: d.Trigger.Type, Delay: dur(d.Trigger.Delay), DateProperty: d.Trigger.DateProperty,
		Sources: map[string]bool{}, Exits: map[string]bool{}, ReEntryMode: d.ReEntry.Mode,
		Priority: strconv.Itoa(d.Priority), MaxLateness: dur(d.MaxLateness), HoldoutPercent: strconv.Itoa(d.HoldoutPercent)}
	if d.Trigger.SegmentID != 0 {
		f.SegmentID = strconv.FormatInt(d.Trigger.SegmentID, 10)
	}
	if d.Trigger.Days != 0 {
		f.Days = strconv.Itoa(d.Trigger.Days)
	}
	if d.ReEntry.Days != 0 {
		f.ReEntryDays = strconv.Itoa(d.ReEntry.Days)
	}
	for _, src := range d.Trigger.Sources {
		f.Sources[src] = true
	}
	for _, x := range d.Exits {
		f.Exits[x.Kind] = true
	}
	for i, cd := range d.Filters {
		f.Filters = append(f.Filters, views.FlowFilterView{Index: i, Summary: conditionText(cd)})
	}
	return f
}

// saveDraft stores the edited draft; a refused save re-renders the editor
// (422) with the field named, nothing stored.
func (s *server) saveDraft(c *gin.Context, f flows.Flow, name string, d flows.Definition, st editorState) bool {
	_, err := s.Flows.Store.SaveDraft(c.Request.Context(), currentShop(c).ID, f.ID, name, d)
	var ie flows.InputError
	if errors.As(err, &ie) {
		st.failure = ie.Message
		s.renderEditor(c, http.StatusUnprocessableEntity, f, st)
		return false
	}
	if err != nil {
		s.fail(c, err)
		return false
	}
	return true
}

func (s *server) flowSettings(c *gin.Context) {
	f, ok := s.loadFlow(c)
	if !ok {
		return
	}
	name, d, errs := parseSettings(c, f.Draft)
	if len(errs) > 0 {
		typed := views.FlowSettingsForm{Name: c.PostForm("name"), Trigger: c.PostForm("trigger"), Delay: c.PostForm("delay"),
			SegmentID: c.PostForm("segment_id"), DateProperty: c.PostForm("date_property"), Days: c.PostForm("days"),
			Sources: map[string]bool{}, Exits: map[string]bool{}, ReEntryMode: c.PostForm("reentry"), ReEntryDays: c.PostForm("reentry_days"),
			Priority: c.PostForm("priority"), MaxLateness: c.PostForm("max_lateness"), HoldoutPercent: c.PostForm("holdout_percent"), Errors: errs}
		for _, v := range c.PostFormArray("source") {
			typed.Sources[v] = true
		}
		for _, v := range c.PostFormArray("exit") {
			typed.Exits[v] = true
		}
		typed.Filters = flowSettingsForm("", f.Draft).Filters
		s.renderEditor(c, http.StatusUnprocessableEntity, f, editorState{settings: &typed})
		return
	}
	if s.saveDraft(c, f, name, d, editorState{}) {
		s.toFlow(c, f.ID, "done=saved")
	}
}

func (s *server) flowAddStep(c *gin.Context) {
	f, ok := s.loadFlow(c)
	if !ok {
		return
	}
	d := f.Draft
	step, ok := newStep(&d, c.PostForm("type"))
	if !ok {
		c.JSON(http.StatusBadRequest, gin.H{"error": "type: choose a kind of step from the list"})
		return
	}
	branch := -1
	if c.PostForm("parent") != "" {
		n, err := input.Int("branch", c.PostForm("branch"), 0, 100)
		if err != nil {
			c.JSON(http.StatusBadRequest, gin.H{"error": err.Error()})
			return
		}
		branch = int(n)
	}
	if !insertStep(&d, step, c.PostForm("after"), c.PostForm("parent"), branch) {
		c.JSON(http.StatusUnprocessableEntity, gin.H{"error": "after: the step to add after is no longer in the flow; reload the page"})
		return
	}
	if s.saveDraft(c, f, f.Name, d, editorState{}) {
		s.toFlow(c, f.ID, "step="+url.QueryEscape(step.ID))
	}
}

func (s *server) flowSaveStep(c *gin.Context) {
	f, ok := s.loadFlow(c)
	if !ok {
		return
	}
	old := f.Draft.Find(c.Param("step"))
	if old == nil {
		c.JSON(http.StatusNotFound, gin.H{"error": "step: no such step in this flow"})
		return
	}
	step, errs := parseStep(c, *old)
	if len(errs) > 0 {
		typed := map[string]string{}
		for k, v := range c.Request.PostForm {
			if len(v) > 0 {
				typed[k] = v[0]
			}
		}
		s.renderEditor(c, http.StatusUnprocessableEntity, f, editorState{step: old.ID, stepValues: typed, stepErrors: errs})
		return
	}
	d := f.Draft
	replaceStep(&d, step)
	if s.saveDraft(c, f, f.Name, d, editorState{step: old.ID}) {
		s.toFlow(c, f.ID, "done=saved&step="+url.QueryEscape(step.ID))
	}
}

func (s *server) flowDeleteStep(c *gin.Context) {
	f, ok := s.loadFlow(c)
	if !ok {
		return
	}
	d := f.Draft
	if !deleteStep(&d, c.Param("step")) {
		c.JSON(http.StatusNotFound, gin.H{"error": "step: no such step in this flow"})
		return
	}
	if s.saveDraft(c, f, f.Name, d, editorState{}) {
		s.toFlow(c, f.ID, "done=saved")
	}
}

func (s *server) flowPublish(c *gin.Context) {
	f, ok := s.loadFlow(c)
	if !ok {
		return
	}
	_, err := s.Flows.Store.Publish(c.Request.Context(), currentShop(c).ID, f.ID, c.PostForm("move_waiting") == "on")
	var p flows.Problems
	if errors.As(err, &p) {
		s.renderEditor(c, http.StatusUnprocessableEntity, f, editorState{refused: true})
		return
	}
	if err != nil {
		s.fail(c, err)
		return
	}
	s.toFlow(c, f.ID, "done=published")
}

func (s *server) flowStatus(action string) gin.HandlerFunc {
	return func(c *gin.Context) {
		f, ok := s.loadFlow(c)
		if !ok {
			return
		}
		ctx, shopID := c.Request.Context(), currentShop(c).ID
		var err error
		done := ""
		switch action {
		case "pause":
			err, done = s.Flows.Store.Pause(ctx, shopID, f.ID), "paused"
		case "resume":
			err, done = s.Flows.Store.Resume(ctx, shopID, f.ID), "resumed"
		default:
			err, done = s.Flows.Store.TurnOff(ctx, shopID, f.ID), "off"
		}
		var se flows.StatusError
		if errors.As(err, &se) {
			c.JSON(http.StatusConflict, gin.H{"error": fmt.Sprintf("status: a %s flow can't be %s", se.Status, se.Action)})
			return
		}
		if err != nil {
			s.fail(c, err)
			return
		}
		s.toFlow(c, f.ID, "done="+done)
	}
}

// flowRunDue is dev only: run the flow's due steps now, optionally moving
// waiting runs forward first.
func (s *server) flowRunDue(c *gin.Context) {
	f, ok := s.loadFlow(c)
	if !ok {
		return
	}
	if s.Flows.DevClock == nil {
		c.JSON(http.StatusNotFound, gin.H{"error": "the dev clock is not available"})
		return
	}
	var advance time.Duration
	if v := c.PostForm("advance"); v != "" {
		if v != "24h" {
			c.JSON(http.StatusBadRequest, gin.H{"error": "advance: only 24h is offered"})
			return
		}
		advance = 24 * time.Hour
	}
	n, err := s.Flows.DevClock.RunDueNow(c.Request.Context(), currentShop(c).ID, f.ID, advance)
	if err != nil {
		s.fail(c, err)
		return
	}
	s.toFlow(c, f.ID, "done=ran&n="+strconv.Itoa(n))
}

// flowDryRun shows who the draft would have reached in the last 30 days.
func (s *server) flowDryRun(c *gin.Context) {
	f, ok := s.loadFlow(c)
	if !ok {
		return
	}
	dr, err := s.Flows.DryRuns.DryRun(c.Request.Context(), currentShop(c).ID, f.Draft, s.Now())
	if err != nil {
		s.fail(c, err)
		return
	}
	v := views.FlowDryRun{Name: f.Name, Href: flowHref(f.ID), Days: flows.DryRunDays, Entered: dr.Entered, Emails: dr.Emails, Note: dr.Note}
	for _, st := range flowSendSteps(f.Draft) {
		v.Steps = append(v.Steps, views.FlowDryRunStep{Name: st.name, Emails: dr.EmailsByStep[st.id]})
	}
	s.render(c, http.StatusOK, views.FlowDryRunPage(s.page(c, "Dry run · "+f.Name, "flows"), v))
}

type namedStep struct{ id, name string }

// flowSendSteps are the draft's send steps in canvas order.
func flowSendSteps(d flows.Definition) []namedStep {
	var out []namedStep
	flows.Walk(d.Steps, func(st *flows.Step) {
		if st.Type == flows.StepSendEmail {
			name := st.Name
			if name == "" {
				name = st.ID
			}
			out = append(out, namedStep{st.ID, name})
		}
	})
	return out
}
