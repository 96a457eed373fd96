package web

import (
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/cartwheel/cartwheel/app/privacy"
	"github.com/cartwheel/cartwheel/app/shops"
	"github.com/cartwheel/cartwheel/views"
)

func (s *server) settingsPage(c *gin.Context) {
	sh := currentShop(c)
	ctx := c.Request.Context()
	st, err := s.Shops.Settings(ctx, sh.ID)
	if err != nil {
		s.fail(c, err)
		return
	}
	reqs, err := s.Privacy.List(ctx, sh.ID, 50)
	if err != nil {
		s.fail(c, err)
		return
	}
	sender, err := s.senderSection(ctx, sh.ID)
	if err != nil {
		s.fail(c, err)
		return
	}
	f, err := s.withRecompute(ctx, withWarmup(settingsForm(st.Input(), st.ShopTimezone, nil, false), st, s.Now()), sh.ID)
	if err != nil {
		s.fail(c, err)
		return
	}
	s.render(c, http.StatusOK, views.Settings(s.page(c, "Settings", "settings"), f, privacyRows(reqs), sender))
}

// settingsSave validates everything and stores nothing unless all is valid;
// the form comes back with every problem next to its field.
func (s *server) settingsSave(c *gin.Context) {
	sh := currentShop(c)
	ctx := c.Request.Context()
	in := shops.SettingsInput{
		SenderName: c.PostForm("sender_name"), SenderEmail: c.PostForm("sender_email"),
		ReplyTo: c.PostForm("reply_to"), PostalAddress: c.PostForm("postal_address"),
		Timezone:             c.PostForm("timezone"),
		AttributionClickDays: c.PostForm("attribution_click_days"),
		AttributionOpenDays:  c.PostForm("attribution_open_days"),
		MarketingCapHours:    c.PostForm("marketing_cap_hours"),
		CampaignSkipDays:     c.PostForm("campaign_skip_days"),
		DailySendLimit:       c.PostForm("daily_send_limit"),
		SendRatePerSecond:    c.PostForm("send_rate_per_second"),
		QuietHoursStart:      c.PostForm("quiet_hours_start"),
		QuietHoursEnd:        c.PostForm("quiet_hours_end"),
		Warmup:               c.PostForm("warmup") == "on",
	}
	st, err := s.Shops.SaveSettings(ctx, sh.ID, in)
	var fieldErrs shops.FieldErrors
	switch {
	case errors.As(err, &fieldErrs):
		s.renderSettingsForm(c, http.StatusUnprocessableEntity, settingsForm(in, sh.IanaTimezone, fieldErrs, false))
	case err != nil:
		s.fail(c, err)
	default:
		f, err := s.withRecompute(ctx, withWarmup(settingsForm(st.Input(), st.ShopTimezone, nil, true), st, s.Now()), sh.ID)
		if err != nil {
			s.fail(c, err)
			return
		}
		s.renderSettingsForm(c, http.StatusOK, f)
	}
}

// renderSettingsForm answers htmx with the form alone and a plain form post
// with the whole page.
func (s *server) renderSettingsForm(c *gin.Context, status int, f views.SettingsForm) {
	if c.GetHeader("HX-Request") != "" {
		s.render(c, status, views.SettingsFormFragment(f))
		return
	}
	reqs, err := s.Privacy.List(c.Request.Context(), currentShop(c).ID, 50)
	if err != nil {
		s.fail(c, err)
		return
	}
	sender, err := s.senderSection(c.Request.Context(), currentShop(c).ID)
	if err != nil {
		s.fail(c, err)
		return
	}
	s.render(c, status, views.Settings(s.page(c, "Settings", "settings"), f, privacyRows(reqs), sender))
}

// privacyExport downloads a data request's export; the id is looked up
// within the session's shop only.
func (s *server) privacyExport(c *gin.Context) {
	sh := currentShop(c)
	id, err := strconv.ParseInt(c.Param("id"), 10, 64)
	if err != nil || id <= 0 {
		s.renderError(c, http.StatusBadRequest, "That export id is not a number.")
		return
	}
	doc, err := s.Privacy.ExportJSON(c.Request.Context(), sh.ID, id)
	if errors.Is(err, privacy.ErrNotFound) {
		s.renderError(c, http.StatusNotFound, "There is no data export with that id for your store (it may have been erased after a redaction request).")
		return
	}
	if err != nil {
		s.fail(c, err)
		return
	}
	c.Header("Content-Disposition", fmt.Sprintf(`attachment; filename="cartwheel-data-request-%d.json"`, id))
	c.Header("Cache-Control", "no-store")
	c.Data(http.StatusOK, "application/json", doc)
}

func settingsForm(in shops.SettingsInput, shopTZ string, errs shops.FieldErrors, saved bool) views.SettingsForm {
	return views.SettingsForm{
		SenderName: in.SenderName, SenderEmail: in.SenderEmail, ReplyTo: in.ReplyTo,
		PostalAddress: in.PostalAddress, Timezone: in.Timezone,
		AttributionClickDays: in.AttributionClickDays, AttributionOpenDays: in.AttributionOpenDays,
		MarketingCapHours: in.MarketingCapHours, CampaignSkipDays: in.CampaignSkipDays,
		DailySendLimit:  in.DailySendLimit,
		SendRate:        in.SendRatePerSecond,
		QuietHoursStart: in.QuietHoursStart, QuietHoursEnd: in.QuietHoursEnd, Warmup: in.Warmup,
		Errors: errs, Saved: saved, Timezones: shops.Timezones(), ShopTimezone: shopTZ,
	}
}

// withWarmup adds where the stored warm-up stands today.
func withWarmup(f views.SettingsForm, st shops.Settings, now time.Time) views.SettingsForm {
	loc, err := time.LoadLocation(st.EffectiveTimezone())
	if err != nil || st.EffectiveTimezone() == "" {
		loc = time.UTC
	}
	switch day, on := st.WarmupDay(now, loc); {
	case on:
		f.WarmupStatus = fmt.Sprintf("Day %d of %d: up to %s marketing emails today, %s tomorrow.", day, shops.WarmupDays,
			thousands(st.DailyLimitOn(now, loc)), thousands(st.DailyLimitOn(now.AddDate(0, 0, 1), loc)))
	case st.WarmupStartedOn != nil:
		f.WarmupStatus = "Warm-up finished: only the daily sending limit applies."
	}
	return f
}

func privacyRows(reqs []privacy.Request) []views.PrivacyRequest {
	rows := make([]views.PrivacyRequest, 0, len(reqs))
	for _, r := range reqs {
		row := views.PrivacyRequest{
			ID:          r.ID,
			CustomerRef: "Shopify customer " + strconv.FormatInt(r.ShopifyCustomerID, 10),
			ReceivedAt:  r.ReceivedAt.UTC().Format(time.RFC1123),
		}
		switch r.Kind {
		case "data_request":
			row.Kind = "Data request"
			if r.HasExport {
				row.DownloadURL = fmt.Sprintf("/app/settings/privacy/%d/export", r.ID)
			}
		case "customer_redact":
			row.Kind = "Customer data erased"
		}
		rows = append(rows, row)
	}
	return rows
}
