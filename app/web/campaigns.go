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

	"github.com/gin-gonic/gin"

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
	app.POST("/campaigns/:id/duplicate", s.campaignDuplicate)
	app.POST("/campaigns/:id/delete", s.campaignDelete)
	if s.Mail.Templates != nil {
		app.GET("/campaigns/:id/preview", s.campaignPreview)
		if s.Mail.Sender != nil {
			app.POST("/campaigns/:id/test", s.campaignTest)
		}
	}
	if s.Campaigns.Sending != nil {
		app.POST("/campaigns/:id/start", s.campaignLifecycle("start"))
		app.POST("/campaigns/:id/pause", s.campaignLifecycle("pause"))
		app.POST("/campaigns/:id/resume", s.campaignLifecycle("resume"))
		app.POST("/campaigns/:id/cancel", s.campaignLifecycle("cancel"))
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
	case "scheduled", "started", "paused", "resumed", "cancelled":
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
		case err != nil:
			s.fail(c, err)
			return
		}
		done := map[string]string{"pause": "paused", "resume": "resumed", "cancel": "cancelled"}[action]
		if action == "start" {
			done = "started"
			if after.Status == campaigns.StatusScheduled {
				done = "scheduled"
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
	e.Form = views.CampaignForm{Name: form.Get("name"), TemplateID: form.Get("template_id"), Subject: form.Get("subject"),
		Preheader: form.Get("preheader"), SenderName: form.Get("sender_name"), UTMCampaign: form.Get("utm_campaign"),
		SendMode: form.Get("send_mode"), SendAt: form.Get("send_at"), PastZones: form.Get("past_zones"),
		MostEngagedFirst: form.Get("most_engaged_first") == "on"}
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
		b, err := s.Campaigns.Store.Reachable(ctx, sh.ID, cp.Audience, s.Now())
		if err != nil {
			return e, err
		}
		e.Reach = campaignReach(b, href)
	}
	if cp.Status == campaigns.StatusDraft {
		refs, err := campaigns.LoadRefs(ctx, s.Campaigns.Store.DB, sh.ID, cp.Draft)
		if err != nil {
			return e, err
		}
		e.Missing = views.ErrorMessages(cp.Ready(s.Now(), refs))
	}
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
		if cp.Schedule.Mode == campaigns.SendAt {
			e.StartLabel = "Schedule"
		}
	case campaigns.StatusScheduled:
		e.CanCancel = true
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
		e.Progress = campaignProgress(p, cp)
	}
	return e, nil
}

// campaignProgress shows a campaign's sending figures.
func campaignProgress(p campaigns.Progress, cp campaigns.Campaign) *views.CampaignProgress {
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
