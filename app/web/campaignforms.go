package web

import (
	"net/url"
	"strconv"
	"time"

	"github.com/cartwheel/cartwheel/app/campaigns"
	"github.com/cartwheel/cartwheel/views"
)

// sendAtLayout is the value of an <input type="datetime-local">.
const sendAtLayout = "2006-01-02T15:04"

// campaignDraft reads the editor's form into a draft, starting from the
// stored one (the form has no A/B fields yet: those are kept). Fields that
// can't be read at all are returned as field errors, in the names
// campaigns.FieldErrors uses.
func campaignDraft(form url.Values, stored campaigns.Draft, loc *time.Location) (campaigns.Draft, campaigns.FieldErrors) {
	d := stored
	errs := campaigns.FieldErrors{}
	d.Name = form.Get("name")
	d.Subject = form.Get("subject")
	d.Preheader = form.Get("preheader")
	d.SenderName = form.Get("sender_name")
	d.UTMCampaign = form.Get("utm_campaign")
	d.TemplateID = 0
	if v := form.Get("template_id"); v != "" {
		id, err := strconv.ParseInt(v, 10, 64)
		if err != nil || id <= 0 {
			errs["template_id"] = "Choose a template from the list."
		}
		d.TemplateID = id
	}
	ids := func(field, formName string) []int64 {
		var out []int64
		for _, v := range form[formName] {
			id, err := strconv.ParseInt(v, 10, 64)
			if err != nil || id <= 0 {
				errs[field] = "Choose segments from the list."
				continue
			}
			out = append(out, id)
		}
		return out
	}
	d.Audience.Include = ids("include_segments", "include")
	d.Audience.Exclude = ids("exclude_segments", "exclude")
	d.Audience.MostEngagedFirst = form.Get("most_engaged_first") == "on"
	d.Schedule.Mode = form.Get("send_mode")
	d.Schedule.PastZones = form.Get("past_zones")
	d.Schedule.SendAt = nil
	if v := form.Get("send_at"); v != "" {
		t, err := time.ParseInLocation(sendAtLayout, v, loc)
		if err != nil {
			errs["send_at"] = "Enter a date and time such as 2026-12-24T09:00."
		} else {
			d.Schedule.SendAt = &t
		}
	}
	if len(errs) > 0 {
		return d, errs
	}
	return d, nil
}

// campaignFormOf shows a draft in the editor's form.
func campaignFormOf(d campaigns.Draft, loc *time.Location) views.CampaignForm {
	f := views.CampaignForm{Name: d.Name, Subject: d.Subject, Preheader: d.Preheader, SenderName: d.SenderName,
		UTMCampaign: d.UTMCampaign, SendMode: d.Schedule.Mode, PastZones: d.Schedule.PastZones,
		MostEngagedFirst: d.Audience.MostEngagedFirst}
	if d.TemplateID != 0 {
		f.TemplateID = strconv.FormatInt(d.TemplateID, 10)
	}
	if d.Schedule.SendAt != nil {
		f.SendAt = d.Schedule.SendAt.In(loc).Format(sendAtLayout)
	}
	return f
}
