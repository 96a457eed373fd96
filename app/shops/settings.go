package shops

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"net/mail"
	"strconv"
	"strings"
	"time"
	_ "time/tzdata" // timezone names validate even on hosts without zoneinfo
	"unicode/utf8"

	"github.com/cartwheel/cartwheel/app/input"
)

// The campaigns' sending rate: what a new shop gets, and the most allowed
// (migration 00026 holds the same bounds).
const (
	DefaultSendRate = 50
	MaxSendRate     = 100000
)

// Settings are the merchant's choices that every email and report reads.
type Settings struct {
	SenderName           string `db:"sender_name"`
	SenderEmail          string `db:"sender_email"`
	ReplyTo              string `db:"reply_to"`
	PostalAddress        string `db:"postal_address"`
	Timezone             string `db:"timezone"` // empty: follow the shop's timezone
	AttributionClickDays int    `db:"attribution_click_days"`
	AttributionOpenDays  int    `db:"attribution_open_days"`
	MarketingCapHours    int    `db:"marketing_cap_hours"`
	// CampaignSkipDays is the campaigns' frequency window: skip people who
	// got a marketing email (campaign or flow) in the last N days; 0: off.
	// Flows carry the same rule as a per-flow filter instead.
	CampaignSkipDays int `db:"campaign_skip_days"`
	// DailySendLimit caps the marketing emails sent per day in the shop's
	// timezone (0: no limit); campaigns carry what is over it to the next day.
	DailySendLimit int `db:"daily_send_limit"`
	// WarmupStartedOn is the first day (the shop's) of a new sending
	// domain's warm-up (nil: off): see DailyLimitOn.
	WarmupStartedOn *time.Time `db:"warmup_started_on"`
	// SendRatePerSecond is how many campaign emails a second the shop hands
	// to delivery, across every worker process.
	SendRatePerSecond int `db:"send_rate_per_second"`
	// Quiet hours for flow emails ("21:00" to "08:00", in the recipient's
	// timezone, else the shop's); both empty: off.
	QuietHoursStart string `db:"quiet_hours_start"`
	QuietHoursEnd   string `db:"quiet_hours_end"`

	ShopTimezone string `db:"iana_timezone"` // read-only: the shop's own zone in Shopify
}

// The warm-up schedule of a new sending domain: WarmupFirstDay marketing
// emails on its first day, doubling each day, for WarmupDays days (the
// last allows 1,024,000); after that only the daily sending limit holds.
// Mailbox providers judge a new domain by its first weeks: a steady ramp
// like this is what SendGrid's and others' warm-up guides describe.
const (
	WarmupFirstDay = 250
	WarmupDays     = 13
)

// DailyLimitOn is the most marketing emails the shop may send on the day
// that contains t (in loc, the shop's timezone): the daily sending limit,
// lowered by the warm-up schedule while it runs; 0 means no limit.
func (s Settings) DailyLimitOn(t time.Time, loc *time.Location) int {
	limit := s.DailySendLimit
	if day, on := s.WarmupDay(t, loc); on {
		w := WarmupFirstDay << (day - 1)
		if limit == 0 || w < limit {
			limit = w
		}
	}
	return limit
}

// WarmupDay is which day of the warm-up t falls on (1 = its first), and
// whether the warm-up still runs then.
func (s Settings) WarmupDay(t time.Time, loc *time.Location) (int, bool) {
	if s.WarmupStartedOn == nil {
		return 0, false
	}
	l := t.In(loc)
	today := time.Date(l.Year(), l.Month(), l.Day(), 0, 0, 0, 0, time.UTC)
	start := time.Date(s.WarmupStartedOn.Year(), s.WarmupStartedOn.Month(), s.WarmupStartedOn.Day(), 0, 0, 0, 0, time.UTC)
	day := int(today.Sub(start).Hours()/24) + 1
	return max(day, 1), day <= WarmupDays
}

// EffectiveTimezone is the zone relative dates and daily jobs use.
func (s Settings) EffectiveTimezone() string {
	if s.Timezone != "" {
		return s.Timezone
	}
	return s.ShopTimezone
}

// Missing names what the merchant still has to fill in before email can go out.
func (s Settings) Missing() []string {
	var m []string
	if s.SenderName == "" {
		m = append(m, "sender name")
	}
	if s.SenderEmail == "" {
		m = append(m, "sender email")
	}
	if s.PostalAddress == "" {
		m = append(m, "company postal address")
	}
	return m
}

// SettingsInput is the form as typed, so invalid numbers can be shown back.
type SettingsInput struct {
	SenderName, SenderEmail, ReplyTo, PostalAddress, Timezone                      string
	AttributionClickDays, AttributionOpenDays, MarketingCapHours, CampaignSkipDays string
	DailySendLimit                                                                 string
	Warmup                                                                         bool
	SendRatePerSecond                                                              string
	QuietHoursStart, QuietHoursEnd                                                 string
}

// FieldErrors maps a form field name to a message a merchant understands.
type FieldErrors map[string]string

func (f FieldErrors) Error() string {
	parts := make([]string, 0, len(f))
	for k, v := range f {
		parts = append(parts, k+": "+v)
	}
	return "shops: invalid settings: " + strings.Join(parts, "; ")
}

// Parse validates the input and returns the settings, or every problem at once.
func (in SettingsInput) Parse() (Settings, FieldErrors) {
	errs := FieldErrors{}
	for field, v := range map[string]string{"sender_name": in.SenderName, "sender_email": in.SenderEmail, "reply_to": in.ReplyTo,
		"postal_address": in.PostalAddress, "timezone": in.Timezone,
		"quiet_hours_start": in.QuietHoursStart, "quiet_hours_end": in.QuietHoursEnd} {
		if p := input.Problem(v); p != "" {
			errs[field] = "This " + p + "."
		}
	}
	if len(errs) > 0 {
		return Settings{}, errs
	}
	s := Settings{
		SenderName:    strings.TrimSpace(in.SenderName),
		SenderEmail:   strings.TrimSpace(in.SenderEmail),
		ReplyTo:       strings.TrimSpace(in.ReplyTo),
		PostalAddress: strings.TrimSpace(strings.ReplaceAll(in.PostalAddress, "\r\n", "\n")),
		Timezone:      strings.TrimSpace(in.Timezone),

		QuietHoursStart: strings.TrimSpace(in.QuietHoursStart),
		QuietHoursEnd:   strings.TrimSpace(in.QuietHoursEnd),
	}
	switch {
	case s.SenderName == "":
		errs["sender_name"] = "Enter the name shoppers see as the sender, such as your store's name."
	case utf8.RuneCountInString(s.SenderName) > 100:
		errs["sender_name"] = "Keep the sender name to 100 characters or fewer."
	case strings.ContainsAny(s.SenderName, "\r\n<>\""):
		errs["sender_name"] = "The sender name can't contain line breaks, quotes or angle brackets."
	}
	if s.SenderEmail == "" {
		errs["sender_email"] = "Enter the email address your emails are sent from."
	} else if !validAddress(s.SenderEmail) {
		errs["sender_email"] = "Enter a valid email address, such as hello@yourstore.com."
	}
	if s.ReplyTo != "" && !validAddress(s.ReplyTo) {
		errs["reply_to"] = "Enter a valid email address for replies, or leave it empty to use the sender email."
	}
	switch {
	case s.PostalAddress == "":
		errs["postal_address"] = "Enter your company's postal address. Anti-spam laws require it in every email footer."
	case utf8.RuneCountInString(s.PostalAddress) > 500:
		errs["postal_address"] = "Keep the postal address to 500 characters or fewer."
	}
	if s.Timezone != "" {
		if _, err := time.LoadLocation(s.Timezone); err != nil || s.Timezone == "Local" {
			errs["timezone"] = "Choose a timezone from the list."
		}
	}
	num := func(field, raw string, min, max int, msg string) int {
		n, err := strconv.Atoi(strings.TrimSpace(raw))
		if err != nil || n < min || n > max {
			errs[field] = msg
		}
		return n
	}
	s.AttributionClickDays = num("attribution_click_days", in.AttributionClickDays, 1, 90, "Enter a whole number of days from 1 to 90.")
	s.AttributionOpenDays = num("attribution_open_days", in.AttributionOpenDays, 0, 90, "Enter a whole number of days from 0 to 90 (0 turns open attribution off).")
	s.MarketingCapHours = num("marketing_cap_hours", in.MarketingCapHours, 0, 720, "Enter a whole number of hours from 0 to 720 (0 turns the cap off).")
	s.CampaignSkipDays = num("campaign_skip_days", in.CampaignSkipDays, 0, 90, "Enter a whole number of days from 0 to 90 (0 turns this off).")
	if strings.TrimSpace(in.DailySendLimit) == "" {
		s.DailySendLimit = 0 // an empty field means no limit
	} else {
		s.DailySendLimit = num("daily_send_limit", in.DailySendLimit, 0, 100000000, "Enter a whole number of emails from 0 to 100,000,000 (0 means no limit).")
	}
	if strings.TrimSpace(in.SendRatePerSecond) == "" {
		s.SendRatePerSecond = DefaultSendRate
	} else {
		s.SendRatePerSecond = num("send_rate_per_second", in.SendRatePerSecond, 1, MaxSendRate, "Enter a whole number of emails a second from 1 to 100,000.")
	}
	for field, v := range map[string]string{"quiet_hours_start": s.QuietHoursStart, "quiet_hours_end": s.QuietHoursEnd} {
		if v != "" && !clockTime(v) {
			errs[field] = "Enter a time of day as HH:MM (24-hour), such as 21:00, or leave both quiet-hours fields empty."
		}
	}
	if _, bad := errs["quiet_hours_start"]; !bad && errs["quiet_hours_end"] == "" {
		switch {
		case (s.QuietHoursStart == "") != (s.QuietHoursEnd == ""):
			field := "quiet_hours_end"
			if s.QuietHoursStart == "" {
				field = "quiet_hours_start"
			}
			errs[field] = "Enter both the start and the end of quiet hours, or leave both empty to turn them off."
		case s.QuietHoursStart != "" && s.QuietHoursStart == s.QuietHoursEnd:
			errs["quiet_hours_end"] = "Quiet hours must end at a different time than they start."
		}
	}
	if len(errs) > 0 {
		return Settings{}, errs
	}
	return s, nil
}

// clockTime accepts "HH:MM" on a 24-hour clock.
func clockTime(v string) bool {
	t, err := time.Parse("15:04", v)
	return err == nil && t.Format("15:04") == v
}

// Input renders stored settings back into form values.
func (s Settings) Input() SettingsInput {
	return SettingsInput{
		SenderName: s.SenderName, SenderEmail: s.SenderEmail, ReplyTo: s.ReplyTo,
		PostalAddress: s.PostalAddress, Timezone: s.Timezone,
		AttributionClickDays: strconv.Itoa(s.AttributionClickDays),
		AttributionOpenDays:  strconv.Itoa(s.AttributionOpenDays),
		MarketingCapHours:    strconv.Itoa(s.MarketingCapHours),
		CampaignSkipDays:     strconv.Itoa(s.CampaignSkipDays),
		DailySendLimit:       strconv.Itoa(s.DailySendLimit),
		Warmup:               s.WarmupStartedOn != nil,
		SendRatePerSecond:    strconv.Itoa(s.SendRatePerSecond),
		QuietHoursStart:      s.QuietHoursStart,
		QuietHoursEnd:        s.QuietHoursEnd,
	}
}

// validAddress accepts a bare address only: a display name or a second
// address would let a form value rewrite the From header.
func validAddress(s string) bool {
	if len(s) > 254 || strings.ContainsAny(s, " \r\n<>,;\"") {
		return false
	}
	a, err := mail.ParseAddress(s)
	if err != nil || a.Address != s || a.Name != "" {
		return false
	}
	at := strings.LastIndexByte(s, '@')
	return at > 0 && strings.Contains(s[at+1:], ".")
}

// Settings loads the shop's settings.
func (s *Store) Settings(ctx context.Context, shopID int64) (Settings, error) {
	var st Settings
	err := s.db.GetContext(ctx, &st, `
		SELECT sender_name, sender_email, reply_to, postal_address, timezone, attribution_click_days,
		       attribution_open_days, marketing_cap_hours, campaign_skip_days, daily_send_limit, quiet_hours_start, quiet_hours_end, iana_timezone,
		       send_rate_per_second, warmup_started_on
		FROM shops WHERE id = $1`, shopID)
	if errors.Is(err, sql.ErrNoRows) {
		return Settings{}, ErrNotFound
	}
	if err != nil {
		return Settings{}, fmt.Errorf("shops: settings %d: %w", shopID, err)
	}
	return st, nil
}

// SaveSettings validates and stores the settings in one statement, so an
// invalid form leaves the previous settings untouched.
func (s *Store) SaveSettings(ctx context.Context, shopID int64, in SettingsInput) (Settings, error) {
	st, errs := in.Parse()
	if errs != nil {
		return Settings{}, errs
	}
	tx, err := s.db.BeginTxx(ctx, nil)
	if err != nil {
		return Settings{}, fmt.Errorf("shops: save settings %d: %w", shopID, err)
	}
	defer tx.Rollback()
	// The windows before the save, read under the row's lock so two saves
	// can't both miss (or both see) the change. NO KEY UPDATE, as the
	// UPDATE below takes anyway: rows inserted meanwhile that reference
	// the shop (key-share locks) don't wait for this transaction.
	var oldClick, oldOpen int
	err = tx.QueryRowContext(ctx, `SELECT attribution_click_days, attribution_open_days FROM shops WHERE id = $1 FOR NO KEY UPDATE`,
		shopID).Scan(&oldClick, &oldOpen)
	if errors.Is(err, sql.ErrNoRows) {
		return Settings{}, ErrNotFound
	}
	if err != nil {
		return Settings{}, fmt.Errorf("shops: save settings %d: %w", shopID, err)
	}
	res, err := tx.ExecContext(ctx, `
		UPDATE shops SET sender_name = $2, sender_email = $3, reply_to = $4, postal_address = $5,
			timezone = $6, attribution_click_days = $7, attribution_open_days = $8,
			marketing_cap_hours = $9, campaign_skip_days = $10, quiet_hours_start = $11, quiet_hours_end = $12,
			daily_send_limit = $13, send_rate_per_second = $14,
			warmup_started_on = CASE WHEN $15 THEN COALESCE(warmup_started_on,
				(now() AT TIME ZONE COALESCE(NULLIF($6, ''), NULLIF(iana_timezone, ''), 'UTC'))::date) END,
			updated_at = now()
		WHERE id = $1`, shopID, st.SenderName, st.SenderEmail, st.ReplyTo, st.PostalAddress, st.Timezone,
		st.AttributionClickDays, st.AttributionOpenDays, st.MarketingCapHours, st.CampaignSkipDays,
		st.QuietHoursStart, st.QuietHoursEnd, st.DailySendLimit, st.SendRatePerSecond, in.Warmup)
	if err != nil {
		return Settings{}, fmt.Errorf("shops: save settings %d: %w", shopID, err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return Settings{}, ErrNotFound
	}
	if s.onWindows != nil && (oldClick != st.AttributionClickDays || oldOpen != st.AttributionOpenDays) {
		if err := s.onWindows(ctx, tx, shopID, st.AttributionClickDays, st.AttributionOpenDays); err != nil {
			return Settings{}, fmt.Errorf("shops: save settings %d: %w", shopID, err)
		}
	}
	if err := tx.Commit(); err != nil {
		return Settings{}, fmt.Errorf("shops: save settings %d: %w", shopID, err)
	}
	return s.Settings(ctx, shopID)
}
