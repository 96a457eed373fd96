package web

import (
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"sort"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/gin-gonic/gin"
	"github.com/shopspring/decimal"

	"github.com/cartwheel/cartwheel/app/campaigns"
	"github.com/cartwheel/cartwheel/app/customers"
	"github.com/cartwheel/cartwheel/app/email/render"
	"github.com/cartwheel/cartwheel/app/input"
	"github.com/cartwheel/cartwheel/views"
)

// Admin › Campaigns: the list, the draft editor (saved as the merchant
// types) with the reachable count by reason, the customers behind each
// number, duplicate and delete. Every handler takes the shop from the
// session; the campaign id in the path is looked up in that shop only.

// CampaignAdmin is what the campaign pages call. Store is required;
// Sending (start, pause, resume, cancel, progress) is optional and hides
// those when nil.
type CampaignAdmin struct {
	Store   *campaigns.Store
	Sending *campaigns.Sending
}

func (s *server) campaignRoutes(app *gin.RouterGroup) {
	if s.Campaigns.Store == nil {
		for _, p := range comingSoonPages {
			if p.key == "campaigns" {
				app.GET(p.path, s.comingSoon(p))
			}
		}
		return
	}
	app.GET("/campaigns", s.campaignsList)
	app.POST("/campaigns", s.campaignCreate)
	app.GET("/campaigns/:id", s.campaignShow)
	app.POST("/campaigns/:id", s.campaignSave)
	app.GET("/campaigns/:id/audience", s.campaignMembers)
	app.GET("/campaigns/:id/reach", s.campaignReachPanel)
	app.POST("/campaigns/:id/duplicate", s.campaignDuplicate)
	app.POST("/campaigns/:id/delete", s.campaignDelete)
	if s.Mail.Templates != nil {
		app.GET("/campaigns/:id/preview", s.campaignPreview)
		app.POST("/campaigns/:id/template-copy", s.campaignTemplateCopy)
		if s.Mail.Sender != nil {
			app.POST("/campaigns/:id/test", s.campaignTest)
		}
	}
	if s.Campaigns.Sending != nil {
		app.POST("/campaigns/:id/start", s.campaignLifecycle("start"))
		app.POST("/campaigns/:id/pause", s.campaignLifecycle("pause"))
		app.POST("/campaigns/:id/resume", s.campaignLifecycle("resume"))
		app.POST("/campaigns/:id/cancel", s.campaignLifecycle("cancel"))
		app.POST("/campaigns/:id/winner", s.campaignLifecycle("winner"))
	}
}

func campaignHref(id int64) string { return "/app/campaigns/" + strconv.FormatInt(id, 10) }

func campaignTone(status string) string {
	switch status {
	case campaigns.StatusScheduled, campaigns.StatusSending:
		return "Info"
	case campaigns.StatusSent:
		return "Success"
	case campaigns.StatusPaused:
		return "Attention"
	case campaigns.StatusCancelled:
		return "Critical"
	}
	return ""
}

func (s *server) campaignsList(c *gin.Context) { s.renderCampaignList(c, http.StatusOK, "") }

func (s *server) renderCampaignList(c *gin.Context, status int, msg string) {
	sh := currentShop(c)
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
	page, err := s.Campaigns.Store.List(c.Request.Context(), sh.ID, after, q, 50)
	if err != nil {
		s.fail(c, err)
		return
	}
	loc := s.campaignZone(c)
	l := views.CampaignList{Q: q, Filtered: q != "", Error: msg}
	for _, cp := range page.Campaigns {
		audience := "—"
		if cp.SnapshotAt != nil {
			audience = strconv.Itoa(cp.AudienceSize)
		}
		l.Rows = append(l.Rows, views.CampaignRow{Name: cp.Name, Href: campaignHref(cp.ID), Status: cp.Status,
			StatusTone: campaignTone(cp.Status), Audience: audience, Updated: cp.UpdatedAt.In(loc).Format("Jan 2, 2006 15:04")})
	}
	if err := s.campaignListFigures(c, sh.ID, page.Campaigns, l.Rows); err != nil {
		s.fail(c, err)
		return
	}
	if page.Next != 0 {
		v := url.Values{"after": {strconv.FormatInt(page.Next, 10)}}
		if q != "" {
			v.Set("q", q)
		}
		l.NextHref = "/app/campaigns?" + v.Encode()
	}
	s.render(c, status, views.Campaigns(s.page(c, "Campaigns", "campaigns"), l))
}

// campaignCreate starts a draft; from a segment's page (segment_id) it
// goes to that segment.
func (s *server) campaignCreate(c *gin.Context) {
	sh := currentShop(c)
	d := campaigns.Draft{Name: "Campaign of " + s.Now().In(s.campaignZone(c)).Format("Jan 2, 2006 15:04")}
	if v := c.PostForm("segment_id"); v != "" {
		id, err := input.ID("segment_id", v)
		if err != nil {
			s.renderCampaignList(c, http.StatusBadRequest, err.Error())
			return
		}
		d.Audience.Include = []int64{id}
	}
	cp, err := s.Campaigns.Store.Create(c.Request.Context(), sh.ID, d)
	var fe campaigns.FieldErrors
	if errors.As(err, &fe) {
		s.renderCampaignList(c, http.StatusUnprocessableEntity, strings.Join(views.ErrorMessages(fe), " "))
		return
	}
	if err != nil {
		s.fail(c, err)
		return
	}
	s.redirect(c, campaignHref(cp.ID))
}

// loadCampaign reads the :id campaign of the current shop; false after
// answering 404.
func (s *server) loadCampaign(c *gin.Context) (campaigns.Campaign, bool) {
	err := campaigns.ErrNotFound
	var cp campaigns.Campaign
	if id, perr := input.ID("id", c.Param("id")); perr == nil {
		cp, err = s.Campaigns.Store.Get(c.Request.Context(), currentShop(c).ID, id)
	}
	if errors.Is(err, campaigns.ErrNotFound) {
		s.renderError(c, http.StatusNotFound, "This campaign doesn't exist in this shop.")
		return cp, false
	}
	if err != nil {
		s.fail(c, err)
		return cp, false
	}
	return cp, true
}

// campaignTemplateCopy makes a copy of the draft's template for this
// campaign alone ("<template> — <campaign>"), points the draft at it and
// opens it in the template editor, so the merchant can change the email
// without touching the template other campaigns and flows use.
func (s *server) campaignTemplateCopy(c *gin.Context) {
	cp, ok := s.loadCampaign(c)
	if !ok {
		return
	}
	ctx, shopID := c.Request.Context(), currentShop(c).ID
	if cp.Status != campaigns.StatusDraft {
		s.renderError(c, http.StatusConflict, "This campaign is "+cp.Status+": only drafts can be edited. Duplicate it to make changes.")
		return
	}
	if cp.TemplateID == 0 {
		s.renderError(c, http.StatusUnprocessableEntity, "Choose a template first; then you can edit a copy of it for this campaign.")
		return
	}
	saved, err := s.Mail.Templates.Get(ctx, shopID, cp.TemplateID)
	if errors.Is(err, render.ErrNotFound) {
		s.renderError(c, http.StatusUnprocessableEntity, "The chosen template no longer exists. Choose another.")
		return
	}
	if err != nil {
		s.fail(c, err)
		return
	}
	t := saved.Template
	// Template names hold 200 bytes: cut at a rune boundary, with room for "…".
	t.Name = t.Name + " — " + cp.Name
	if len(t.Name) > 200 {
		cut := 197
		for !utf8.RuneStart(t.Name[cut]) {
			cut--
		}
		t.Name = t.Name[:cut] + "…"
	}
	id, err := s.Mail.Templates.Save(ctx, shopID, 0, saved.StarterKey, t)
	if err != nil {
		s.fail(c, err)
		return
	}
	d := cp.Draft
	d.TemplateID = id
	if _, err := s.Campaigns.Store.Update(ctx, shopID, cp.ID, d); err != nil {
		s.fail(c, err)
		return
	}
	s.redirect(c, "/app/templates/"+strconv.FormatInt(id, 10))
}

// reachNowKey marks a request for the reachable count itself (the lazy
// panel of a large audience).
const reachNowKey = "campaign_reach_now"

// campaignReachPanel is the editor with its reachable count computed,
// whatever the audience's size; the page's lazy panel selects its card.
func (s *server) campaignReachPanel(c *gin.Context) {
	cp, ok := s.loadCampaign(c)
	if !ok {
		return
	}
	c.Set(reachNowKey, true)
	e, err := s.campaignEditor(c, cp, nil)
	if err != nil {
		s.fail(c, err)
		return
	}
	s.render(c, http.StatusOK, views.CampaignEditorPage(s.page(c, cp.Name, "campaigns"), e))
}

func (s *server) campaignShow(c *gin.Context) {
	cp, ok := s.loadCampaign(c)
	if !ok {
		return
	}
	e, err := s.campaignEditor(c, cp, nil)
	if err != nil {
		s.fail(c, err)
		return
	}
	switch done := c.Query("done"); done {
	case "scheduled", "started", "paused", "resumed", "cancelled", "winner":
		e.Done = done
	}
	s.render(c, http.StatusOK, views.CampaignEditorPage(s.page(c, cp.Name, "campaigns"), e))
}

// campaignLifecycle starts (or schedules), pauses, resumes or cancels the
// campaign. What is missing before it can go is shown on the page (422); a
// status that doesn't allow the action gets 409 saying why.
func (s *server) campaignLifecycle(action string) gin.HandlerFunc {
	return func(c *gin.Context) {
		cp, ok := s.loadCampaign(c)
		if !ok {
			return
		}
		ctx, shopID, now := c.Request.Context(), currentShop(c).ID, s.Now()
		var err error
		var after campaigns.Campaign
		switch action {
		case "start":
			after, err = s.Campaigns.Sending.Start(ctx, shopID, cp.ID, now)
		case "pause":
			after, err = s.Campaigns.Sending.Pause(ctx, shopID, cp.ID, "")
		case "resume":
			after, err = s.Campaigns.Sending.Resume(ctx, shopID, cp.ID, now)
		case "cancel":
			after, err = s.Campaigns.Sending.Cancel(ctx, shopID, cp.ID, now)
		case "winner":
			after, err = s.Campaigns.Sending.PickWinner(ctx, shopID, cp.ID, c.PostForm("winner"), now)
		}
		var fe campaigns.FieldErrors
		var se campaigns.StatusError
		switch {
		case errors.As(err, &fe):
			e, err := s.campaignEditor(c, cp, fe)
			if err != nil {
				s.fail(c, err)
				return
			}
			s.render(c, http.StatusUnprocessableEntity, views.CampaignEditorPage(s.page(c, cp.Name, "campaigns"), e))
			return
		case errors.As(err, &se):
			s.renderError(c, http.StatusConflict, "This campaign is "+se.Status+", so it can't be "+se.Action+".")
			return
		case errors.Is(err, campaigns.ErrNoTest):
			s.renderError(c, http.StatusConflict, "This campaign has no A/B test waiting for a winner.")
			return
		case err != nil:
			s.fail(c, err)
			return
		}
		done := map[string]string{"pause": "paused", "resume": "resumed", "cancel": "cancelled", "winner": "winner"}[action]
		if action == "start" {
			done = "started"
			if after.Status == campaigns.StatusScheduled && after.StartsAt != nil && after.StartsAt.After(now) {
				done = "scheduled" // a large audience starting now is scheduled for now: started
			}
		}
		s.redirect(c, campaignHref(cp.ID)+"?done="+done)
	}
}

// campaignSave saves the draft as typed (the form posts itself on every
// change). A field that is wrong leaves the stored draft as it was and is
// marked, with what was typed shown back.
func (s *server) campaignSave(c *gin.Context) {
	cp, ok := s.loadCampaign(c)
	if !ok {
		return
	}
	if err := c.Request.ParseForm(); err != nil {
		c.String(http.StatusBadRequest, "the form could not be read: "+err.Error())
		return
	}
	form := c.Request.PostForm
	d, errs := campaignDraft(form, cp.Draft, s.campaignZone(c))
	if errs == nil {
		saved, err := s.Campaigns.Store.Update(c.Request.Context(), currentShop(c).ID, cp.ID, d)
		var fe campaigns.FieldErrors
		var se campaigns.StatusError
		switch {
		case errors.As(err, &fe):
			errs = fe
		case errors.As(err, &se):
			s.renderError(c, http.StatusConflict, "This campaign is "+se.Status+": only drafts can be edited. Duplicate it to make changes.")
			return
		case err != nil:
			s.fail(c, err)
			return
		default:
			e, err := s.campaignEditor(c, saved, nil)
			if err != nil {
				s.fail(c, err)
				return
			}
			e.Saved = true
			s.render(c, http.StatusOK, views.CampaignEditorPage(s.page(c, saved.Name, "campaigns"), e))
			return
		}
	}
	e, err := s.campaignEditor(c, cp, errs)
	if err != nil {
		s.fail(c, err)
		return
	}
	e.Form = campaignFormTyped(form)
	s.render(c, http.StatusUnprocessableEntity, views.CampaignEditorPage(s.page(c, cp.Name, "campaigns"), e))
}

// campaignEditor builds the editor of a stored campaign.
func (s *server) campaignEditor(c *gin.Context, cp campaigns.Campaign, errs campaigns.FieldErrors) (views.CampaignEditor, error) {
	ctx := c.Request.Context()
	sh := currentShop(c)
	loc := s.campaignZone(c)
	href := campaignHref(cp.ID)
	e := views.CampaignEditor{Href: href, Name: cp.Name, Status: cp.Status, StatusTone: campaignTone(cp.Status),
		Editable: cp.Status == campaigns.StatusDraft, Errors: errs, Form: campaignFormOf(cp.Draft, loc), ShopTimezone: loc.String(),
		SendModeOptions: []views.Option{{Value: campaigns.SendNow, Label: "Now, when you send it"},
			{Value: campaigns.SendAt, Label: "At a date and time"}, {Value: campaigns.SendLocal, Label: "At a time in each recipient's timezone"}},
		PastZoneOptions: []views.Option{{Value: campaigns.PastZonesNextDay, Label: "Send the next day at that time"},
			{Value: campaigns.PastZonesNow, Label: "Send right away"}}}
	if s.Mail.Templates != nil {
		tpls, err := s.Mail.Templates.List(ctx, sh.ID, 500)
		if err != nil {
			return e, err
		}
		for _, t := range tpls {
			e.TemplateOptions = append(e.TemplateOptions, views.Option{Value: strconv.FormatInt(t.ID, 10), Label: t.Name})
		}
	}
	segs, err := s.Segments.List(ctx, sh.ID)
	if err != nil {
		return e, err
	}
	in, out := idSet(cp.Audience.Include), idSet(cp.Audience.Exclude)
	for _, sg := range segs {
		e.Segments = append(e.Segments, views.CampaignSegment{ID: strconv.FormatInt(sg.ID, 10), Name: sg.Name,
			Include: in[sg.ID], Exclude: out[sg.ID]})
	}
	if len(cp.Audience.Include) > 0 {
		// A large audience's count takes seconds: the page (and each
		// autosave) comes back at once and the panel asks for it.
		lazy := false
		if !c.GetBool(reachNowKey) {
			var err error
			if lazy, err = s.Campaigns.Store.AudienceOver(ctx, sh.ID, cp.Audience.Include, campaigns.DefaultBackgroundOver); err != nil {
				return e, err
			}
		}
		if lazy {
			e.ReachHref = href + "/reach"
		} else {
			b, err := s.Campaigns.Store.Reachable(ctx, sh.ID, cp.Audience, s.Now())
			if err != nil {
				return e, err
			}
			e.Reach = campaignReach(b, href)
		}
	}
	if cp.Status == campaigns.StatusDraft {
		refs, err := campaigns.LoadRefs(ctx, s.Campaigns.Store.DB, sh.ID, cp.Draft)
		if err != nil {
			return e, err
		}
		e.Missing = views.ErrorMessages(cp.Ready(s.Now(), refs))
	}
	e.ScheduleSummary, e.ABSummary = campaignSummary(cp, loc)
	if cp.TemplateID != 0 && s.Mail.Templates != nil {
		e.Review = &views.TestSend{ActionURL: href + "/test"}
		e.PreviewSrc = href + "/preview"
		e.TestSend = s.Mail.Sender != nil
	}
	if s.Reports != nil && hasReport(cp.Status) {
		e.ReportHref = href + "/report"
	}
	if s.Campaigns.Sending == nil {
		return e, nil
	}
	switch cp.Status {
	case campaigns.StatusDraft:
		e.StartLabel = "Send now"
		if cp.Schedule.Mode != campaigns.SendNow {
			e.StartLabel = "Schedule"
		}
	case campaigns.StatusScheduled:
		e.CanCancel = true
		if cp.StartsAt != nil && cp.StartsAt.After(s.Now()) {
			e.ScheduledFor = cp.StartsAt.In(loc).Format("Jan 2, 2006 15:04") + " (" + loc.String() + ")"
			if cp.Schedule.Mode == campaigns.SendLocal {
				e.ScheduledFor += ", when the chosen time comes in the first timezone; each recipient gets it at that time on their own clock"
			}
		} else {
			e.Preparing = true
		}
	case campaigns.StatusSending:
		e.CanPause, e.CanCancel = true, true
	case campaigns.StatusPaused:
		e.CanResume, e.CanCancel = true, true
	}
	if cp.Status != campaigns.StatusDraft && cp.Status != campaigns.StatusScheduled {
		p, err := s.Campaigns.Sending.Progress(ctx, sh.ID, cp.ID, s.Now())
		if err != nil {
			return e, err
		}
		e.Progress = campaignProgress(p, cp, loc)
	}
	if cp.HasTest() && cp.SnapshotAt != nil {
		rs, err := s.Campaigns.Store.ABResults(ctx, cp)
		if err != nil {
			return e, err
		}
		e.AB = campaignABResults(cp, rs, loc, sh.Currency)
	}
	return e, nil
}

// campaignSummary says in words when the campaign goes and what its A/B
// test does, for the Review card.
func campaignSummary(cp campaigns.Campaign, loc *time.Location) (schedule, ab string) {
	when := func() string {
		if cp.Schedule.SendAt == nil {
			return "a time not chosen yet"
		}
		return cp.Schedule.SendAt.In(loc).Format("Jan 2, 2006 15:04")
	}
	switch cp.Schedule.Mode {
	case campaigns.SendAt:
		schedule = "at " + when() + " (" + loc.String() + ")."
	case campaigns.SendLocal:
		at := "a time not chosen yet"
		if cp.Schedule.SendAt != nil {
			w := cp.Schedule.SendAt.In(loc)
			at = w.Format("15:04") + " on " + w.Format("Jan 2, 2006")
		}
		schedule = "at " + at + " on each recipient's own clock; "
		if cp.Schedule.PastZones == campaigns.PastZonesNow {
			schedule += "where that time has passed, right away."
		} else {
			schedule += "where that time has passed, the next day at that time."
		}
	default:
		schedule = "now, when you send it."
	}
	if cp.Audience.MostEngagedFirst {
		schedule += " Most engaged first."
	}
	if cp.HasTest() {
		metric := abMetric(cp.AB.WinnerBy)
		ab = strconv.Itoa(len(cp.AB.Variants)) + " versions to " + strconv.Itoa(cp.AB.TestPercent) + "% of the audience; after " +
			strconv.Itoa(cp.AB.WaitHours) + " h the best by " + metric + " goes to the rest."
	}
	if cp.AB.HoldoutPercent > 0 {
		ab += " " + strconv.Itoa(cp.AB.HoldoutPercent) + "% held out (get nothing, for comparison)."
	}
	return schedule, strings.TrimSpace(ab)
}

// abMetric names what an A/B winner is picked by.
func abMetric(by string) string {
	switch by {
	case campaigns.WinnerByOpens:
		return "open rate"
	case campaigns.WinnerByRevenue:
		return "revenue per email sent"
	}
	return "click rate"
}

// campaignABResults shows an A/B test's figures and winner.
func campaignABResults(cp campaigns.Campaign, rs []campaigns.VariantResult, loc *time.Location, currency string) *views.CampaignABResults {
	v := &views.CampaignABResults{Metric: "click rate", Decided: cp.ABWinner != "", PickHref: campaignHref(cp.ID) + "/winner",
		CanPick: cp.ABWinner == "" && cp.AB.TestPercent < 100 && (cp.Status == campaigns.StatusSending || cp.Status == campaigns.StatusPaused)}
	v.Metric = abMetric(cp.AB.WinnerBy)
	switch {
	case cp.ABDecidedAt != nil:
		v.When = cp.ABDecidedAt.In(loc).Format("Jan 2, 15:04")
	case cp.ABDecideAt != nil:
		v.When = cp.ABDecideAt.In(loc).Format("Jan 2, 15:04")
	case cp.AB.TestPercent >= 100:
		v.When = "never: everyone is in the test"
	}
	rate := func(n, of int) string {
		if of == 0 {
			return "—"
		}
		return strconv.FormatFloat(float64(n)*100/float64(of), 'f', 1, 64) + "%"
	}
	for _, r := range rs {
		subject := cp.Subject
		for _, va := range cp.AB.Variants {
			if va.Key == r.Key && va.Subject != "" {
				subject = va.Subject
			}
		}
		sales := "—"
		if r.Sales != "" {
			sales = strings.TrimSpace(r.Sales + " " + currency)
			if d, err := decimal.NewFromString(r.Sales); err == nil && r.Sent > 0 {
				sales += " (" + d.DivRound(decimal.NewFromInt(int64(r.Sent)), 2).StringFixed(2) + " per email)"
			}
		}
		v.Rows = append(v.Rows, views.CampaignABResultRow{Key: r.Key, Subject: subject, Sent: strconv.Itoa(r.Sent),
			Opened: strconv.Itoa(r.Opened), OpenRate: rate(r.Opened, r.Sent), Clicked: strconv.Itoa(r.Clicked),
			ClickRate: rate(r.Clicked, r.Sent), Sales: sales, Winner: r.Key == cp.ABWinner})
	}
	return v
}

// campaignProgress shows a campaign's sending figures.
func campaignProgress(p campaigns.Progress, cp campaigns.Campaign, loc *time.Location) *views.CampaignProgress {
	skipped := 0
	var lines []views.CampaignReachLine
	keys := make([]string, 0, len(p.Skipped))
	for k := range p.Skipped {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		skipped += p.Skipped[k]
		lines = append(lines, views.CampaignReachLine{Key: k, Label: strings.ReplaceAll(k, "_", " "), N: strconv.Itoa(p.Skipped[k])})
	}
	handled := p.Sent + p.Failed + skipped
	v := &views.CampaignProgress{Total: strconv.Itoa(p.Total), Handled: strconv.Itoa(handled), Sent: strconv.Itoa(p.Sent),
		Queued: strconv.Itoa(p.Queued), Pending: strconv.Itoa(p.Pending), Failed: strconv.Itoa(p.Failed), Skipped: lines,
		PausedReason: cp.PausedReason, Live: p.Status == campaigns.StatusSending || p.Queued > 0 && p.Status != campaigns.StatusCancelled}
	if p.Total > 0 {
		v.Percent = handled * 100 / p.Total
	}
	if p.DueLater > 0 && p.NextDue != nil {
		v.DueLater, v.NextDue = strconv.Itoa(p.DueLater), p.NextDue.In(loc).Format("Jan 2, 15:04")+" ("+loc.String()+")"
	}
	if p.ForWinner > 0 {
		v.ForWinner = strconv.Itoa(p.ForWinner)
	}
	if p.PerMinute > 0 {
		v.PerMinute = strconv.Itoa(p.PerMinute)
		if p.ETA > 0 {
			v.ETA = "; about " + p.ETA.Round(time.Second).String() + " left at that rate"
		}
	}
	return v
}

// campaignZone is the timezone campaign times are shown and typed in: the
// one in Settings, else the shop's.
func (s *server) campaignZone(c *gin.Context) *time.Location {
	sh := currentShop(c)
	if st, err := s.Shops.Settings(c.Request.Context(), sh.ID); err == nil {
		if loc, err := time.LoadLocation(st.EffectiveTimezone()); err == nil && st.EffectiveTimezone() != "" {
			return loc
		}
	}
	return shopLocation(sh)
}

func idSet(ids []int64) map[int64]bool {
	m := make(map[int64]bool, len(ids))
	for _, id := range ids {
		m[id] = true
	}
	return m
}

// knownReason: one of the numbers of the breakdown (a suppression's reason
// is a lower-case word or two).
func knownReason(reason string) bool {
	switch reason {
	case campaigns.ReasonInSegments, campaigns.ReasonExcluded, campaigns.ReasonNoEmail, campaigns.ReasonNotSubscribed,
		campaigns.ReasonFrequencyWindow, campaigns.ReasonDailyLimit, campaigns.ReasonReachable:
		return true
	}
	r, ok := strings.CutPrefix(reason, campaigns.ReasonSuppressed)
	return ok && r != "" && len(r) <= 40 && strings.Trim(r, "abcdefghijklmnopqrstuvwxyz_") == ""
}

// reasonLabel says what one number of the breakdown counts.
func reasonLabel(reason string) string {
	switch reason {
	case campaigns.ReasonInSegments:
		return "In the chosen segments"
	case campaigns.ReasonExcluded:
		return "In a segment left out"
	case campaigns.ReasonNoEmail:
		return "No email address, or an invalid one"
	case campaigns.ReasonNotSubscribed:
		return "Not subscribed to email marketing"
	case campaigns.ReasonFrequencyWindow:
		return "Got a marketing email within the frequency window"
	case campaigns.ReasonDailyLimit:
		return "Over today's sending limit"
	case campaigns.ReasonReachable:
		return "Reachable now"
	}
	if r, ok := strings.CutPrefix(reason, campaigns.ReasonSuppressed); ok {
		return "Suppressed: " + strings.ReplaceAll(r, "_", " ")
	}
	return reason
}

func campaignReach(b campaigns.Breakdown, href string) *views.CampaignReach {
	r := &views.CampaignReach{WillSend: strconv.Itoa(b.WillSend()), WindowDays: b.WindowDays, DailyLimit: b.DailyLimit}
	for _, l := range b.Lines() {
		label := reasonLabel(l.Reason)
		if l.Reason == campaigns.ReasonFrequencyWindow && b.WindowDays > 0 {
			label = fmt.Sprintf("Got a marketing email in the last %d days", b.WindowDays)
		}
		if l.Reason == campaigns.ReasonDailyLimit && b.DailyLimit > 0 {
			label = fmt.Sprintf("Over today's limit of %d (%d sent today; carried over)", b.DailyLimit, b.SentToday)
		}
		r.Lines = append(r.Lines, views.CampaignReachLine{Key: l.Reason, Label: label, N: strconv.Itoa(l.N),
			Href:  href + "/audience?" + url.Values{"reason": {l.Reason}}.Encode(),
			Total: l.Reason == campaigns.ReasonInSegments || l.Reason == campaigns.ReasonReachable})
	}
	return r
}

// campaignMembers lists the customers one number of the breakdown counts.
func (s *server) campaignMembers(c *gin.Context) {
	cp, ok := s.loadCampaign(c)
	if !ok {
		return
	}
	reason, err := input.Text("reason", c.Query("reason"), 100)
	if err == nil && reason == "" {
		err = errors.New("reason: choose one of the numbers on the campaign page")
	}
	if err != nil {
		c.String(http.StatusBadRequest, err.Error())
		return
	}
	after, err := input.Cursor("after", c.Query("after"))
	if err != nil {
		c.String(http.StatusBadRequest, err.Error())
		return
	}
	if !knownReason(reason) {
		c.String(http.StatusBadRequest, "reason: %q is not one of the numbers on the campaign page", reason)
		return
	}
	page, err := s.Campaigns.Store.Members(c.Request.Context(), currentShop(c).ID, cp.Audience, reason, after, 50, s.Now())
	if err != nil {
		s.fail(c, err)
		return
	}
	m := views.CampaignMembers{Campaign: cp.Name, CampaignHref: campaignHref(cp.ID), Reason: reasonLabel(reason)}
	for _, r := range page.Members {
		row := views.SegmentMember{Href: "/app/customers/" + strconv.FormatInt(r.ID, 10), Name: r.Name(), Country: r.Country,
			Consent: customers.ConsentLabel(r.Consent), ConsentTone: consentTone(r.Consent), Orders: r.OrdersCount}
		if r.Email != nil {
			row.Email = *r.Email
		}
		m.Rows = append(m.Rows, row)
	}
	if page.Next != 0 {
		m.NextHref = campaignHref(cp.ID) + "/audience?" + url.Values{"reason": {reason}, "after": {strconv.FormatInt(page.Next, 10)}}.Encode()
	}
	s.render(c, http.StatusOK, views.CampaignMembersPage(s.page(c, cp.Name, "campaigns"), m))
}

func (s *server) campaignDuplicate(c *gin.Context) {
	cp, ok := s.loadCampaign(c)
	if !ok {
		return
	}
	dup, err := s.Campaigns.Store.Duplicate(c.Request.Context(), currentShop(c).ID, cp.ID)
	if err != nil {
		s.fail(c, err)
		return
	}
	s.redirect(c, campaignHref(dup.ID))
}

func (s *server) campaignDelete(c *gin.Context) {
	cp, ok := s.loadCampaign(c)
	if !ok {
		return
	}
	err := s.Campaigns.Store.Delete(c.Request.Context(), currentShop(c).ID, cp.ID)
	var se campaigns.StatusError
	if errors.As(err, &se) {
		s.renderError(c, http.StatusConflict, "This campaign is "+se.Status+": only drafts can be deleted.")
		return
	}
	if err != nil {
		s.fail(c, err)
		return
	}
	s.redirect(c, "/app/campaigns")
}

// campaignTemplate is the campaign's template with the campaign's subject
// and preview text over the template's, as its emails are composed; false
// after answering when there is none.
func (s *server) campaignTemplate(c *gin.Context, cp campaigns.Campaign) (render.Template, bool) {
	if cp.TemplateID == 0 {
		c.Data(http.StatusUnprocessableEntity, "text/plain; charset=utf-8", []byte("Choose a template for this campaign first."))
		return render.Template{}, false
	}
	saved, err := s.Mail.Templates.Get(c.Request.Context(), currentShop(c).ID, cp.TemplateID)
	if errors.Is(err, render.ErrNotFound) {
		c.Data(http.StatusUnprocessableEntity, "text/plain; charset=utf-8", []byte("This campaign's template no longer exists. Choose another."))
		return render.Template{}, false
	}
	if err != nil {
		s.fail(c, err)
		return render.Template{}, false
	}
	t := saved.Template
	if cp.Subject != "" {
		t.Subject = cp.Subject
	}
	if cp.Preheader != "" {
		t.Preheader = cp.Preheader
	}
	return t, true
}

// campaignPreview shows the campaign's email for a customer of the shop
// (or a sample one), in the admin's sandboxed frame.
func (s *server) campaignPreview(c *gin.Context) {
	cp, ok := s.loadCampaign(c)
	if !ok {
		return
	}
	t, ok := s.campaignTemplate(c, cp)
	if !ok {
		return
	}
	framedHeaders(c, currentShop(c).Domain)
	s.renderPreview(c, t, c.Query("customer_id"))
}

// campaignTest sends the campaign's email to the merchant's address.
func (s *server) campaignTest(c *gin.Context) {
	cp, ok := s.loadCampaign(c)
	if !ok {
		return
	}
	t, ok := s.campaignTemplate(c, cp)
	if !ok {
		return
	}
	v := views.TestSend{ActionURL: campaignHref(cp.ID) + "/test", To: strings.TrimSpace(c.PostForm("to"))}
	s.sendTest(c, v, t, "campaign:"+strconv.FormatInt(cp.ID, 10))
}
