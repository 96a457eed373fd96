package campaigns_test

import (
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/cartwheel/cartwheel/app/campaigns"
)

func TestDraftCheck(t *testing.T) {
	at := time.Date(2026, 7, 1, 9, 0, 0, 0, time.UTC)
	valid := campaigns.Draft{Name: "Launch", Subject: "New", Preheader: "p", SenderName: "Acme", UTMCampaign: "launch",
		Audience: campaigns.Audience{Include: []int64{1, 2}, Exclude: []int64{3}},
		Schedule: campaigns.Schedule{Mode: campaigns.SendLocal, SendAt: &at, PastZones: campaigns.PastZonesNow},
		AB: campaigns.AB{Variants: []campaigns.Variant{{Key: "A"}, {Key: "B", Subject: "Other"}}, TestPercent: 20,
			WinnerBy: campaigns.WinnerByOpens, WaitHours: 4, HoldoutPercent: 5}}
	if errs := valid.Normalize().Check(); errs != nil {
		t.Fatal(errs)
	}
	if errs := (campaigns.Draft{Name: "unfinished"}).Normalize().Check(); errs != nil {
		t.Fatalf("an unfinished draft must save (autosave): %v", errs)
	}
	cases := []struct {
		field string
		set   func(*campaigns.Draft)
	}{
		{"name", func(d *campaigns.Draft) { d.Name = "  " }},
		{"name", func(d *campaigns.Draft) { d.Name = strings.Repeat("n", 101) }},
		{"name", func(d *campaigns.Draft) { d.Name = "a\x00b" }},
		{"subject", func(d *campaigns.Draft) { d.Subject = "Hi\r\nBcc: x@y.z" }},
		{"subject", func(d *campaigns.Draft) { d.Subject = strings.Repeat("s", 201) }},
		{"preheader", func(d *campaigns.Draft) { d.Preheader = "\xff" }},
		{"sender_name", func(d *campaigns.Draft) { d.SenderName = `Acme "Official"` }},
		{"utm_campaign", func(d *campaigns.Draft) { d.UTMCampaign = strings.Repeat("u", 101) }},
		{"template_id", func(d *campaigns.Draft) { d.TemplateID = -1 }},
		{"include_segments", func(d *campaigns.Draft) { d.Audience.Include = []int64{0} }},
		{"include_segments", func(d *campaigns.Draft) {
			d.Audience.Include = nil
			for i := 1; i <= 21; i++ {
				d.Audience.Include = append(d.Audience.Include, int64(i))
			}
		}},
		{"exclude_segments", func(d *campaigns.Draft) { d.Audience.Exclude = []int64{2} }},
		{"send_mode", func(d *campaigns.Draft) { d.Schedule.Mode = "later" }},
		{"send_at", func(d *campaigns.Draft) { d.Schedule.Mode, d.Schedule.SendAt = campaigns.SendAt, nil }},
		{"past_zones", func(d *campaigns.Draft) { d.Schedule.PastZones = "skip" }},
		{"ab_variants", func(d *campaigns.Draft) { d.AB.Variants = d.AB.Variants[:1] }},
		{"ab_variants", func(d *campaigns.Draft) {
			d.AB.Variants = []campaigns.Variant{{Key: "A"}, {Key: "B"}, {Key: "C"}, {Key: "D"}, {}}
		}},
		{"ab_variants.1.key", func(d *campaigns.Draft) { d.AB.Variants[1].Key = "A" }},
		{"ab_variants.1.key", func(d *campaigns.Draft) { d.AB.Variants[1].Key = "E" }},
		{"ab_variants.0.subject", func(d *campaigns.Draft) { d.AB.Variants[0].Subject = "a\nb" }},
		{"ab_variants.0.sender_name", func(d *campaigns.Draft) { d.AB.Variants[0].SenderName = "<x>" }},
		{"ab_test_percent", func(d *campaigns.Draft) { d.AB.TestPercent = 0 }},
		{"ab_test_percent", func(d *campaigns.Draft) { d.AB.TestPercent = 101 }},
		{"ab_test_percent", func(d *campaigns.Draft) { d.AB.TestPercent, d.AB.HoldoutPercent = 60, 50 }},
		{"ab_holdout_percent", func(d *campaigns.Draft) { d.AB.HoldoutPercent = 51 }},
		{"ab_holdout_percent", func(d *campaigns.Draft) { d.AB.HoldoutPercent = -1 }},
		{"ab_winner_by", func(d *campaigns.Draft) { d.AB.WinnerBy = "vibes" }},
		{"ab_wait_hours", func(d *campaigns.Draft) { d.AB.WaitHours = 0 }},
		{"ab_wait_hours", func(d *campaigns.Draft) { d.AB.WaitHours = 169 }},
	}
	for _, tc := range cases {
		d := valid
		d.AB.Variants = append([]campaigns.Variant(nil), valid.AB.Variants...)
		d.Audience.Include = append([]int64(nil), valid.Audience.Include...)
		tc.set(&d)
		errs := d.Normalize().Check()
		if errs[tc.field] == "" {
			t.Errorf("%s: want an error, got %v", tc.field, errs)
		}
	}
}

func TestStore(t *testing.T) {
	e := newEnv(t)
	now := time.Now()
	segA, segB := e.tagSegment(1, "a", now), e.tagSegment(1, "b", now)
	other := e.tagSegment(2, "a", now)
	tpl, tpl2 := e.template(1), e.template(2)
	at := time.Date(2026, 7, 1, 9, 0, 0, 123456789, time.FixedZone("X", 3600))
	d := campaigns.Draft{Name: "  Launch  ", TemplateID: tpl, Subject: "New things", SenderName: "Acme",
		Audience: campaigns.Audience{Include: []int64{segB, segA, segB}, MostEngagedFirst: true},
		Schedule: campaigns.Schedule{Mode: campaigns.SendAt, SendAt: &at},
		AB:       campaigns.AB{Variants: []campaigns.Variant{{Subject: "a"}, {Subject: "b"}}, TestPercent: 20, WaitHours: 4}}
	c, err := e.store.Create(e.ctx, 1, d)
	if err != nil {
		t.Fatal(err)
	}
	got, err := e.store.Get(e.ctx, 1, c.ID)
	if err != nil {
		t.Fatal(err)
	}
	wantAt := at.UTC().Truncate(time.Microsecond)
	if got.Name != "Launch" || got.Status != campaigns.StatusDraft || got.TemplateID != tpl ||
		fmt.Sprint(got.Audience.Include) != fmt.Sprint([]int64{segA, segB}) || !got.Audience.MostEngagedFirst ||
		got.Schedule.SendAt == nil || !got.Schedule.SendAt.Equal(wantAt) || got.Schedule.PastZones != campaigns.PastZonesNextDay ||
		got.AB.Variants[0].Key != "A" || got.AB.Variants[1].Key != "B" || got.AB.WinnerBy != campaigns.WinnerByClicks || got.Seed == 0 {
		t.Fatalf("read back: %+v", got)
	}
	if _, err := e.store.Get(e.ctx, 2, c.ID); !errors.Is(err, campaigns.ErrNotFound) {
		t.Errorf("another shop read it: %v", err)
	}

	// Autosave: the whole draft, unfinished parts and all.
	d.Subject, d.TemplateID, d.Audience.Include = "", 0, nil
	up, err := e.store.Update(e.ctx, 1, c.ID, d)
	if err != nil || up.Subject != "" || up.TemplateID != 0 || len(up.Audience.Include) != 0 {
		t.Fatalf("update: %+v %v", up, err)
	}
	if errs := up.Ready(now, campaigns.Refs{}); errs["subject"] == "" || errs["template_id"] == "" || errs["include_segments"] == "" {
		t.Errorf("ready: %v", errs)
	}
	// References must exist in the shop.
	var fe campaigns.FieldErrors
	for field, bad := range map[string]campaigns.Draft{
		"include_segments": {Name: "x", Audience: campaigns.Audience{Include: []int64{other}}},
		"exclude_segments": {Name: "x", Audience: campaigns.Audience{Exclude: []int64{999999}}},
		"template_id":      {Name: "x", TemplateID: tpl2},
		"name":             {Name: ""},
	} {
		if _, err := e.store.Update(e.ctx, 1, c.ID, bad); !errors.As(err, &fe) || fe[field] == "" {
			t.Errorf("%s: %v", field, err)
		}
		if _, err := e.store.Create(e.ctx, 1, bad); !errors.As(err, &fe) || fe[field] == "" {
			t.Errorf("create %s: %v", field, err)
		}
	}
	if _, err := e.store.Update(e.ctx, 2, c.ID, campaigns.Draft{Name: "mine"}); !errors.Is(err, campaigns.ErrNotFound) {
		t.Errorf("another shop updated it: %v", err)
	}

	// Duplicate: a new draft, same content, own seed; from any status.
	e.exec(`UPDATE campaigns SET status = 'sent' WHERE id = $1`, c.ID)
	var se campaigns.StatusError
	if _, err := e.store.Update(e.ctx, 1, c.ID, d); !errors.As(err, &se) || se.Status != "sent" {
		t.Errorf("editing a sent campaign: %v", err)
	}
	if err := e.store.Delete(e.ctx, 1, c.ID); !errors.As(err, &se) {
		t.Errorf("deleting a sent campaign: %v", err)
	}
	dup, err := e.store.Duplicate(e.ctx, 1, c.ID)
	if err != nil {
		t.Fatal(err)
	}
	if dup.ID == c.ID || dup.Name != "Copy of Launch" || dup.Status != campaigns.StatusDraft || dup.Seed == got.Seed ||
		len(dup.AB.Variants) != 2 || !dup.Audience.MostEngagedFirst || dup.SnapshotAt != nil {
		t.Errorf("duplicate: %+v", dup)
	}
	// A duplicate drops what no longer exists instead of failing.
	e.exec(`UPDATE campaigns SET include_segments = $1, template_id = 999999 WHERE id = $2`, fmt.Sprintf("{%d,999998}", segA), c.ID)
	dup2, err := e.store.Duplicate(e.ctx, 1, c.ID)
	if err != nil || fmt.Sprint(dup2.Audience.Include) != fmt.Sprint([]int64{segA}) || dup2.TemplateID != 0 {
		t.Errorf("duplicate with dangling refs: %+v %v", dup2, err)
	}

	// List: newest first, keyset pages, search by name (LIKE characters literal).
	for i := 0; i < 5; i++ {
		if _, err := e.store.Create(e.ctx, 1, campaigns.Draft{Name: fmt.Sprintf("Promo %d%%", i)}); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := e.store.Create(e.ctx, 2, campaigns.Draft{Name: "Promo elsewhere"}); err != nil {
		t.Fatal(err)
	}
	var names []string
	after := int64(0)
	for {
		p, err := e.store.List(e.ctx, 1, after, "promo", 2)
		if err != nil {
			t.Fatal(err)
		}
		for _, c := range p.Campaigns {
			names = append(names, c.Name)
		}
		if p.Next == 0 {
			break
		}
		after = p.Next
	}
	if strings.Join(names, "|") != "Promo 4%|Promo 3%|Promo 2%|Promo 1%|Promo 0%" {
		t.Errorf("list: %v", names)
	}
	if p, _ := e.store.List(e.ctx, 1, 0, "1%", 50); len(p.Campaigns) != 1 {
		t.Errorf("search for 1%%: %d", len(p.Campaigns))
	}
	if p, _ := e.store.List(e.ctx, 1, 0, "", 50); len(p.Campaigns) != 8 {
		t.Errorf("all of shop 1: %d", len(p.Campaigns))
	}

	if err := e.store.Delete(e.ctx, 2, dup.ID); !errors.Is(err, campaigns.ErrNotFound) {
		t.Errorf("another shop deleted it: %v", err)
	}
	if err := e.store.Delete(e.ctx, 1, dup.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := e.store.Get(e.ctx, 1, dup.ID); !errors.Is(err, campaigns.ErrNotFound) {
		t.Errorf("deleted draft still there: %v", err)
	}
}
