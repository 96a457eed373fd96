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
// stored one. Fields that
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
	campaignABDraft(form, &d, errs)
	if len(errs) > 0 {
		return d, errs
	}
	return d, nil
}

// campaignABDraft reads the A/B test's fields: ab_versions (0: no test,
// else 2–4 versions, the first rows of ab_variants.<i>.<field>), the test
// share, winner metric, wait and holdout. A number that isn't one is a
// field error.
func campaignABDraft(form url.Values, d *campaigns.Draft, errs campaigns.FieldErrors) {
	number := func(field string) int {
		v := form.Get(field)
		if v == "" {
			return 0
		}
		n, err := strconv.Atoi(v)
		if err != nil {
			errs[field] = "Enter a whole number."
		}
		return n
	}
	ab := campaigns.AB{TestPercent: number("ab_test_percent"), WinnerBy: form.Get("ab_winner_by"),
		WaitHours: number("ab_wait_hours"), HoldoutPercent: number("ab_holdout_percent")}
	n := 0
	switch v := form.Get("ab_versions"); v {
	case "", "0":
	case "2", "3", "4":
		n = int(v[0] - '0')
	default:
		errs["ab_variants"] = "Choose no test, or 2 to 4 versions."
	}
	for i := 0; i < n; i++ {
		f := func(name string) string { return form.Get("ab_variants." + strconv.Itoa(i) + "." + name) }
		v := campaigns.Variant{Key: string(rune('A' + i)), Subject: f("subject"), Preheader: f("preheader"), SenderName: f("sender_name")}
		if t := f("template_id"); t != "" {
			id, err := strconv.ParseInt(t, 10, 64)
			if err != nil || id <= 0 {
				errs["ab_variants."+strconv.Itoa(i)+".template_id"] = "Choose a template from the list."
			}
			v.TemplateID = id
		}
		ab.Variants = append(ab.Variants, v)
	}
	d.AB = ab
}

// campaignFormTyped shows a form back as it was typed (when it can't be
// saved).
func campaignFormTyped(form url.Values) views.CampaignForm {
	f := views.CampaignForm{Name: form.Get("name"), TemplateID: form.Get("template_id"), Subject: form.Get("subject"),
		Preheader: form.Get("preheader"), SenderName: form.Get("sender_name"), UTMCampaign: form.Get("utm_campaign"),
		SendMode: form.Get("send_mode"), SendAt: form.Get("send_at"), PastZones: form.Get("past_zones"),
		MostEngagedFirst: form.Get("most_engaged_first") == "on",
		ABVersions:       form.Get("ab_versions"), ABTestPercent: form.Get("ab_test_percent"), ABWinnerBy: form.Get("ab_winner_by"),
		ABWaitHours: form.Get("ab_wait_hours"), ABHoldoutPercent: form.Get("ab_holdout_percent")}
	for i := range f.ABRows {
		g := func(name string) string { return form.Get("ab_variants." + strconv.Itoa(i) + "." + name) }
		f.ABRows[i] = views.CampaignABRow{Subject: g("subject"), Preheader: g("preheader"), SenderName: g("sender_name"), TemplateID: g("template_id")}
	}
	return f
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
	// A campaign without a test shows the usual test settings, ready for
	// when the merchant adds versions.
	f.ABVersions = strconv.Itoa(len(d.AB.Variants))
	f.ABTestPercent, f.ABWaitHours = "20", "4"
	if d.AB.TestPercent > 0 || len(d.AB.Variants) > 0 {
		f.ABTestPercent = strconv.Itoa(d.AB.TestPercent)
	}
	if d.AB.WaitHours > 0 || len(d.AB.Variants) > 0 {
		f.ABWaitHours = strconv.Itoa(d.AB.WaitHours)
	}
	f.ABWinnerBy, f.ABHoldoutPercent = d.AB.WinnerBy, strconv.Itoa(d.AB.HoldoutPercent)
	for i, v := range d.AB.Variants {
		if i >= len(f.ABRows) {
			break
		}
		f.ABRows[i] = views.CampaignABRow{Subject: v.Subject, Preheader: v.Preheader, SenderName: v.SenderName}
		if v.TemplateID != 0 {
			f.ABRows[i].TemplateID = strconv.FormatInt(v.TemplateID, 10)
		}
	}
	return f
}
