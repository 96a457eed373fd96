package shops_test

import (
	"bytes"
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/jmoiron/sqlx"

	"github.com/cartwheel/cartwheel/app/db"
	"github.com/cartwheel/cartwheel/app/db/dbtest"
	"github.com/cartwheel/cartwheel/app/secretbox"
	"github.com/cartwheel/cartwheel/app/shops"
)

func newStore(t *testing.T) (*shops.Store, *sqlx.DB) {
	d := dbtest.New(t)
	box, err := secretbox.New(bytes.Repeat([]byte{1}, 32))
	if err != nil {
		t.Fatal(err)
	}
	return shops.NewStore(d, box), d
}

func install(t *testing.T, s *shops.Store, d *sqlx.DB, domain, token string, at time.Time) shops.Shop {
	t.Helper()
	var sh shops.Shop
	if err := db.InTx(context.Background(), d, func(tx *sqlx.Tx) error {
		var err error
		sh, err = s.Install(context.Background(), tx, domain, token, "read_customers", at)
		return err
	}); err != nil {
		t.Fatal(err)
	}
	return sh
}

func uninstall(t *testing.T, s *shops.Store, d *sqlx.DB, domain string, at time.Time) bool {
	t.Helper()
	var applied bool
	if err := db.InTx(context.Background(), d, func(tx *sqlx.Tx) error {
		var err error
		applied, err = s.MarkUninstalled(context.Background(), tx, domain, at)
		return err
	}); err != nil {
		t.Fatal(err)
	}
	return applied
}

func TestInstallUninstallReinstall(t *testing.T) {
	s, d := newStore(t)
	ctx := context.Background()
	t0 := time.Now().Add(-time.Hour).Truncate(time.Microsecond)
	sh := install(t, s, d, "Mixed-Case.myshopify.com", "shpat_one", t0)
	if sh.Domain != "mixed-case.myshopify.com" || !sh.Installed() {
		t.Fatalf("install: %+v", sh)
	}
	var raw []byte
	d.Get(&raw, "SELECT access_token_enc FROM shops WHERE id = $1", sh.ID)
	if bytes.Contains(raw, []byte("shpat_one")) {
		t.Fatal("token stored in plain text")
	}
	if tok, _ := s.AccessToken(ctx, sh.ID); tok != "shpat_one" {
		t.Fatalf("token %q", tok)
	}
	// A second install while installed (token refresh) keeps the first install time.
	install(t, s, d, "mixed-case.myshopify.com", "shpat_two", t0.Add(30*time.Minute))
	sh2, _ := s.ByDomain(ctx, "MIXED-CASE.myshopify.com")
	if !sh2.InstalledAt.Time.Equal(t0) {
		t.Fatalf("installed_at moved on a token refresh: %v", sh2.InstalledAt.Time)
	}
	if tok, _ := s.AccessToken(ctx, sh.ID); tok != "shpat_two" {
		t.Fatalf("token not refreshed: %q", tok)
	}

	// Uninstall triggered before the install began: ignored.
	if uninstall(t, s, d, "mixed-case.myshopify.com", t0.Add(-time.Minute)) {
		t.Fatal("an uninstall from before this install applied")
	}
	if !uninstall(t, s, d, "mixed-case.myshopify.com", time.Now()) {
		t.Fatal("uninstall did not apply")
	}
	if uninstall(t, s, d, "mixed-case.myshopify.com", time.Now()) {
		t.Fatal("a repeated uninstall applied twice")
	}
	if _, err := s.Installed(ctx, "mixed-case.myshopify.com"); !errors.Is(err, shops.ErrNotInstalled) {
		t.Fatalf("want ErrNotInstalled, got %v", err)
	}
	if _, err := s.AccessToken(ctx, sh.ID); !errors.Is(err, shops.ErrNotInstalled) {
		t.Fatalf("token survived uninstall: %v", err)
	}

	// Reinstall starts a new installation.
	t2 := time.Now().Truncate(time.Microsecond)
	sh3 := install(t, s, d, "mixed-case.myshopify.com", "shpat_three", t2)
	if !sh3.Installed() || !sh3.InstalledAt.Time.Equal(t2) || sh3.ID != sh.ID {
		t.Fatalf("reinstall: %+v", sh3)
	}
	if _, err := s.ByDomain(ctx, "nobody.myshopify.com"); !errors.Is(err, shops.ErrNotFound) {
		t.Fatalf("want ErrNotFound, got %v", err)
	}
}

func TestTokenBoundToItsShop(t *testing.T) {
	s, d := newStore(t)
	a := install(t, s, d, "a.myshopify.com", "shpat_a", time.Now())
	b := install(t, s, d, "b.myshopify.com", "shpat_b", time.Now())
	// Copying A's sealed token onto B's row must not give B a usable token.
	d.MustExec("UPDATE shops SET access_token_enc = (SELECT access_token_enc FROM shops WHERE id = $1) WHERE id = $2", a.ID, b.ID)
	if _, err := s.AccessToken(context.Background(), b.ID); !errors.Is(err, secretbox.ErrDecrypt) {
		t.Fatalf("moved token decrypted: %v", err)
	}
}

func TestSettingsValidation(t *testing.T) {
	valid := shops.SettingsInput{
		SenderName: "Acme", SenderEmail: "hi@acme.test", PostalAddress: "1 Main St\r\nTown",
		AttributionClickDays: "5", AttributionOpenDays: "1", MarketingCapHours: "16", CampaignSkipDays: "7",
	}
	st, errs := valid.Parse()
	if errs != nil {
		t.Fatal(errs)
	}
	if st.PostalAddress != "1 Main St\nTown" {
		t.Fatalf("line endings not normalised: %q", st.PostalAddress)
	}
	cases := []struct {
		field string
		set   func(*shops.SettingsInput)
	}{
		{"sender_name", func(in *shops.SettingsInput) { in.SenderName = "" }},
		{"sender_name", func(in *shops.SettingsInput) { in.SenderName = "Acme\r\nBcc: victim@x.test" }},
		{"sender_name", func(in *shops.SettingsInput) { in.SenderName = strings.Repeat("a", 101) }},
		{"sender_email", func(in *shops.SettingsInput) { in.SenderEmail = "" }},
		{"sender_email", func(in *shops.SettingsInput) { in.SenderEmail = "Acme <hi@acme.test>" }},
		{"sender_email", func(in *shops.SettingsInput) { in.SenderEmail = "hi@acme.test, other@x.test" }},
		{"sender_email", func(in *shops.SettingsInput) { in.SenderEmail = "hi@localhost" }},
		{"reply_to", func(in *shops.SettingsInput) { in.ReplyTo = "nope" }},
		{"postal_address", func(in *shops.SettingsInput) { in.PostalAddress = " \n " }},
		{"postal_address", func(in *shops.SettingsInput) { in.PostalAddress = strings.Repeat("x", 501) }},
		{"timezone", func(in *shops.SettingsInput) { in.Timezone = "Local" }},
		{"timezone", func(in *shops.SettingsInput) { in.Timezone = "../../etc/passwd" }},
		{"attribution_click_days", func(in *shops.SettingsInput) { in.AttributionClickDays = "0" }},
		{"attribution_open_days", func(in *shops.SettingsInput) { in.AttributionOpenDays = "1.5" }},
		{"marketing_cap_hours", func(in *shops.SettingsInput) { in.MarketingCapHours = "721" }},
		{"campaign_skip_days", func(in *shops.SettingsInput) { in.CampaignSkipDays = "week" }},
		{"campaign_skip_days", func(in *shops.SettingsInput) { in.CampaignSkipDays = "99999999999999999999" }},
		{"campaign_skip_days", func(in *shops.SettingsInput) { in.CampaignSkipDays = "91" }},
		{"daily_send_limit", func(in *shops.SettingsInput) { in.DailySendLimit = "-1" }},
		{"daily_send_limit", func(in *shops.SettingsInput) { in.DailySendLimit = "1e6" }},
		{"daily_send_limit", func(in *shops.SettingsInput) { in.DailySendLimit = "100000001" }},
		{"send_rate_per_second", func(in *shops.SettingsInput) { in.SendRatePerSecond = "0" }},
		{"send_rate_per_second", func(in *shops.SettingsInput) { in.SendRatePerSecond = "100001" }},
		{"send_rate_per_second", func(in *shops.SettingsInput) { in.SendRatePerSecond = "fast" }},
		{"sender_name", func(in *shops.SettingsInput) { in.SenderName = "Acme\x00" }},
		{"postal_address", func(in *shops.SettingsInput) { in.PostalAddress = "1 Main St\xff" }},
		{"timezone", func(in *shops.SettingsInput) { in.Timezone = "Europe/Paris\x00" }},
		{"quiet_hours_start", func(in *shops.SettingsInput) { in.QuietHoursStart, in.QuietHoursEnd = "24:00", "08:00" }},
		{"quiet_hours_end", func(in *shops.SettingsInput) { in.QuietHoursStart, in.QuietHoursEnd = "21:00", "8am" }},
		{"quiet_hours_end", func(in *shops.SettingsInput) { in.QuietHoursStart = "21:00" }},
		{"quiet_hours_start", func(in *shops.SettingsInput) { in.QuietHoursEnd = "08:00" }},
		{"quiet_hours_end", func(in *shops.SettingsInput) { in.QuietHoursStart, in.QuietHoursEnd = "21:00", "21:00" }},
		{"quiet_hours_start", func(in *shops.SettingsInput) { in.QuietHoursStart, in.QuietHoursEnd = "9:00", "17:00" }},
	}
	for _, tc := range cases {
		in := valid
		tc.set(&in)
		_, errs := in.Parse()
		if errs[tc.field] == "" {
			t.Errorf("%+v: want an error on %s, got %v", in, tc.field, errs)
		}
	}
}

func TestSaveSettingsIsAllOrNothing(t *testing.T) {
	s, d := newStore(t)
	ctx := context.Background()
	sh := install(t, s, d, "settings.myshopify.com", "t", time.Now())
	d.MustExec("UPDATE shops SET iana_timezone = 'Asia/Tokyo' WHERE id = $1", sh.ID)
	st, err := s.Settings(ctx, sh.ID)
	if err != nil {
		t.Fatal(err)
	}
	if st.AttributionClickDays != 5 || st.AttributionOpenDays != 1 || st.MarketingCapHours != 16 || st.CampaignSkipDays != 7 || st.DailySendLimit != 0 || st.SendRatePerSecond != shops.DefaultSendRate || st.EffectiveTimezone() != "Asia/Tokyo" {
		t.Fatalf("defaults: %+v", st)
	}
	if len(st.Missing()) != 3 {
		t.Fatalf("missing: %v", st.Missing())
	}
	in := st.Input()
	in.SenderName, in.SenderEmail, in.PostalAddress = "Acme", "hi@acme.test", "1 Main St"
	in.MarketingCapHours = "oops"
	if _, err := s.SaveSettings(ctx, sh.ID, in); err == nil {
		t.Fatal("invalid settings saved")
	}
	if st2, _ := s.Settings(ctx, sh.ID); st2.SenderName != "" {
		t.Fatal("an invalid form stored some fields")
	}
	in.MarketingCapHours = "24"
	saved, err := s.SaveSettings(ctx, sh.ID, in)
	if err != nil {
		t.Fatal(err)
	}
	if saved.MarketingCapHours != 24 || saved.SenderEmail != "hi@acme.test" || len(saved.Missing()) != 0 {
		t.Fatalf("saved: %+v", saved)
	}
	if saved.QuietHoursStart != "" || saved.QuietHoursEnd != "" {
		t.Fatalf("quiet hours are off by default: %+v", saved)
	}
	in.QuietHoursStart, in.QuietHoursEnd = "21:00", "08:00"
	if saved, err = s.SaveSettings(ctx, sh.ID, in); err != nil || saved.QuietHoursStart != "21:00" || saved.QuietHoursEnd != "08:00" {
		t.Fatalf("quiet hours: %+v %v", saved, err)
	}
	in.CampaignSkipDays, in.DailySendLimit = "3", "5000"
	if saved, err = s.SaveSettings(ctx, sh.ID, in); err != nil || saved.CampaignSkipDays != 3 || saved.DailySendLimit != 5000 {
		t.Fatalf("campaign frequency window and daily limit: %+v %v", saved, err)
	}
	in.SendRatePerSecond = "200"
	if saved, err = s.SaveSettings(ctx, sh.ID, in); err != nil || saved.SendRatePerSecond != 200 || saved.Input().SendRatePerSecond != "200" {
		t.Fatalf("sending rate: %+v %v", saved, err)
	}
	// An empty rate (a form from before the field existed) is the default.
	in.SendRatePerSecond = ""
	if saved, err = s.SaveSettings(ctx, sh.ID, in); err != nil || saved.SendRatePerSecond != shops.DefaultSendRate {
		t.Fatalf("empty sending rate: %+v %v", saved, err)
	}
	if _, err := s.SaveSettings(ctx, 999999, in); !errors.Is(err, shops.ErrNotFound) {
		t.Fatalf("unknown shop: %v", err)
	}
}

func TestOAuthStatesSingleUse(t *testing.T) {
	_, d := newStore(t)
	o := shops.NewOAuthStates(d)
	ctx := context.Background()
	now := time.Now()
	if err := o.Create(ctx, "n1", "A.myshopify.com", now); err != nil {
		t.Fatal(err)
	}
	if ok, _ := o.Consume(ctx, "n1", "b.myshopify.com", now); ok {
		t.Fatal("state consumed for another shop")
	}
	if ok, _ := o.Consume(ctx, "n1", "a.myshopify.com", now.Add(shops.StateTTL+time.Second)); ok {
		t.Fatal("expired state accepted")
	}
	if ok, _ := o.Consume(ctx, "n1", "a.myshopify.com", now); !ok {
		t.Fatal("valid state refused")
	}
	if ok, _ := o.Consume(ctx, "n1", "a.myshopify.com", now); ok {
		t.Fatal("state used twice")
	}
}
