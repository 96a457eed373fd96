package reports_test

import (
	"context"
	"errors"
	"math/rand/v2"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/shopspring/decimal"

	"github.com/cartwheel/cartwheel/app/reports"
	"github.com/cartwheel/cartwheel/app/signals"
	"github.com/cartwheel/cartwheel/app/signals/signalstest"
)

// A small store worked by hand: 10 emails sent, 2 bounced, 8 delivered to
// 8 customers, 4 opened, 3 of those clicked with 5 clicks in all, 1
// unsubscribed, 1 complained; 2 attributed orders of 30.00 and 15.55.
func TestMetricsWorkedExample(t *testing.T) {
	tot := reports.Totals{
		Counts: reports.Counts{Sent: 10, BouncedHard: 1, BouncedSoft: 1, Delivered: 8, Opened: 4, Clicked: 3, Clicks: 5,
			Opens: 9, Unsubscribed: 1, Complained: 1},
		Customers: 8, UnsubCustomers: 1, ComplainedCustomers: 1,
		Revenue: reports.Revenue{Orders: 2, Sales: decimal.RequireFromString("45.55")},
	}
	m := reports.Compute(tot)
	eqD := func(name string, got decimal.Decimal, want string) {
		t.Helper()
		if got.StringFixed(2) != want {
			t.Errorf("%s = %s, want %s", name, got.StringFixed(2), want)
		}
	}
	eqR := func(name string, got reports.Rate, want float64) {
		t.Helper()
		if !got.OK || got.Value != want {
			t.Errorf("%s = %+v, want %v", name, got, want)
		}
	}
	eqN := func(name string, got, want int64) {
		t.Helper()
		if got != want {
			t.Errorf("%s = %d, want %d", name, got, want)
		}
	}
	eqD("sales", m.Sales, "45.55")
	eqN("orders", m.Orders, 2)
	eqR("conversion", m.ConversionRate, 2.0/8)              // 25 %
	eqD("aov", m.AOV, "22.78")                              // 45.55 / 2 = 22.775 → 22.78
	eqD("revenue per recipient", m.RevenuePerRecip, "5.69") // 45.55 / 8 = 5.69375
	eqN("sent", m.Sent, 10)
	eqN("bounced", m.Bounced, 2)
	eqN("delivered", m.Delivered, 8)
	eqN("opened", m.Opened, 4)
	eqN("clicks", m.Clicks, 5)
	eqN("unsubscribes", m.Unsubscribes, 1)
	eqN("complaints", m.Complaints, 1)
	eqR("delivery rate", m.DeliveryRate, 8.0/10)
	eqR("bounce rate", m.BounceRate, 2.0/10)
	eqR("open rate", m.OpenRate, 4.0/8)
	eqR("click rate", m.ClickRate, 5.0/8)
	eqR("unsubscribe rate", m.UnsubscribeRate, 1.0/8)
	eqR("complaint rate", m.ComplaintRate, 1.0/8)
	eqR("unique click rate", m.UniqueClickRate, 3.0/8)
	eqR("click-to-open rate", m.ClickToOpenRate, 3.0/4)

	// Nothing delivered, no orders: no rate, no average (shown "—").
	z := reports.Compute(reports.Totals{Counts: reports.Counts{Sent: 3, BouncedHard: 3}})
	if z.OpenRate.OK || z.ConversionRate.OK || z.AOVOK || z.RevenuePerRecipOK || z.UnsubscribeRate.OK || !z.BounceRate.OK {
		t.Errorf("empty denominators: %+v", z)
	}
	for _, k := range []string{"sales", "orders", "conversion", "aov", "rpr", "sent", "delivered", "bounced", "opened", "clicks",
		"unsubscribes", "complaints", "delivery_rate", "bounce_rate", "open_rate", "click_rate", "unique_click", "click_to_open",
		"unsubscribe_rate", "complaint_rate"} {
		if reports.Definitions[k] == "" {
			t.Errorf("metric %q has no definition", k)
		}
	}
}

func TestParseRange(t *testing.T) {
	today := time.Date(2026, 12, 3, 0, 0, 0, 0, time.UTC)
	d := func(s string) time.Time { x, _ := time.Parse(time.DateOnly, s); return x }
	for _, c := range []struct {
		preset, from, to string
		want             reports.Range
		bad              string
	}{
		{"", "", "", reports.Range{From: d("2026-11-04"), To: today}, ""},
		{"7", "", "", reports.Range{From: d("2026-11-27"), To: today}, ""},
		{"90", "", "", reports.Range{From: d("2026-09-05"), To: today}, ""},
		{"custom", "2026-01-01", "2026-01-01", reports.Range{From: d("2026-01-01"), To: d("2026-01-01")}, ""},
		{"", "2025-01-01", "2025-12-31", reports.Range{From: d("2025-01-01"), To: d("2025-12-31")}, ""},
		{"14", "", "", reports.Range{}, "preset"},
		{"custom", "2026-02-01", "2026-01-01", reports.Range{}, "after"},
		{"custom", "yesterday", "2026-01-01", reports.Range{}, "from must be a date"},
		{"custom", "2026-01-01", "", reports.Range{}, "to must be a date"},
		{"custom", "2024-01-01", "2026-01-01", reports.Range{}, "at most"},
	} {
		got, err := reports.ParseRange(c.preset, c.from, c.to, today)
		if c.bad != "" {
			if !errors.Is(err, reports.ErrBadRange) || !strings.Contains(err.Error(), c.bad) {
				t.Errorf("%+v: err %v, want one saying %q", c, err, c.bad)
			}
			continue
		}
		if err != nil || got != c.want {
			t.Errorf("%+v: got %v, %v", c, got, err)
		}
	}
}

// For random events (machine opens and scanner clicks included) counted by
// concurrent consumers, the metrics of random ranges and scopes read from
// the rollups equal a direct computation from the raw rows (the ledger and
// its events, each fact on the day of the event that made it true).
func TestRangeMetricsMatchRawRows(t *testing.T) {
	sentAt := time.Date(2026, 11, 27, 14, 0, 0, 0, time.UTC)
	w := newWorld(t, 150, sentAt)
	signalstest.Start(t, w.db, signals.Handlers{Reports: reports.Handler{}})
	signalstest.Start(t, w.db, signals.Handlers{Reports: reports.Handler{}})
	var wg sync.WaitGroup
	const writers = 6
	for g := range writers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			r := rand.New(rand.NewPCG(uint64(g), 7))
			for i := g; i < len(w.msgs); i += writers {
				w.randomEvents(r, w.msgs[i], sentAt)
			}
		}()
	}
	wg.Wait()
	signalstest.Drain(t, w.db)
	ny, _ := time.LoadLocation("America/New_York")
	day := func(at time.Time) time.Time {
		y, m, d := at.In(ny).Date()
		return time.Date(y, m, d, 0, 0, 0, 0, time.UTC)
	}

	// The raw model: per message, the day each once-per-message fact became
	// true (its first event, in event order) and the day of every click.
	type rawMsg struct {
		variant                                                         string
		sent                                                            time.Time
		delivered, bounced, opened, clicked, unsub, complained, dropped time.Time
		soft                                                            bool
		clicks                                                          []time.Time
	}
	var msgs []struct {
		ID      int64     `db:"id"`
		Variant string    `db:"variant"`
		SentAt  time.Time `db:"sent_at"`
	}
	if err := w.db.Select(&msgs, `SELECT id, campaign_variant AS variant, sent_at FROM email_messages WHERE campaign_id = $1`, w.campaign); err != nil {
		t.Fatal(err)
	}
	raw := map[int64]*rawMsg{}
	for _, m := range msgs {
		raw[m.ID] = &rawMsg{variant: m.Variant, sent: day(m.SentAt)}
	}
	var evs []struct {
		Message int64     `db:"message_id"`
		Kind    string    `db:"kind"`
		Detail  string    `db:"detail"`
		At      time.Time `db:"occurred_at"`
	}
	if err := w.db.Select(&evs, `SELECT message_id, kind, detail, occurred_at FROM email_events
		WHERE shop_id = $1 AND NOT machine ORDER BY id`, w.shop); err != nil {
		t.Fatal(err)
	}
	first := func(p *time.Time, at time.Time) {
		if p.IsZero() {
			*p = day(at)
		}
	}
	for _, e := range evs {
		m := raw[e.Message]
		switch e.Kind {
		case "delivered", "open", "click", "unsubscribe", "group_unsubscribe", "spamreport":
			first(&m.delivered, e.At)
		}
		switch e.Kind {
		case "bounce":
			if m.bounced.IsZero() {
				m.soft = strings.HasPrefix(e.Detail, "blocked")
			}
			first(&m.bounced, e.At)
		case "dropped":
			first(&m.dropped, e.At)
		case "open":
			first(&m.opened, e.At)
		case "click":
			first(&m.opened, e.At)
			first(&m.clicked, e.At)
			m.clicks = append(m.clicks, day(e.At))
		case "unsubscribe", "group_unsubscribe":
			first(&m.unsub, e.At)
		case "spamreport":
			first(&m.complained, e.At)
		}
	}
	expect := func(r reports.Range, sc reports.Scope) reports.Totals {
		in := func(d time.Time) int64 {
			if !d.IsZero() && !d.Before(r.From) && !d.After(r.To) {
				return 1
			}
			return 0
		}
		var t reports.Totals
		for _, m := range raw {
			if sc.CampaignID != 0 && sc.VariantSet && m.variant != sc.Variant {
				continue
			}
			t.Sent += in(m.sent)
			t.Delivered += in(m.delivered)
			if m.soft {
				t.BouncedSoft += in(m.bounced)
			} else {
				t.BouncedHard += in(m.bounced)
			}
			t.Dropped += in(m.dropped)
			t.Opened += in(m.opened)
			t.Clicked += in(m.clicked)
			for _, c := range m.clicks {
				t.Clicks += in(c)
			}
			t.Unsubscribed += in(m.unsub)
			t.Complained += in(m.complained)
		}
		// One message per customer in a campaign.
		t.Customers, t.UnsubCustomers, t.ComplainedCustomers = t.Delivered, t.Unsubscribed, t.Complained
		return t
	}

	st := &reports.Store{DB: w.db}
	ctx := context.Background()
	r := rand.New(rand.NewPCG(1, 2))
	base := day(sentAt).AddDate(0, 0, -1)
	variants := []string{"A", "B", ""}
	for i := range 40 {
		from := base.AddDate(0, 0, r.IntN(7))
		rg := reports.Range{From: from, To: from.AddDate(0, 0, r.IntN(6))}
		var sc reports.Scope
		switch i % 3 {
		case 1:
			sc.CampaignID = w.campaign
		case 2:
			sc = reports.Scope{CampaignID: w.campaign, Variant: variants[r.IntN(len(variants))], VariantSet: true}
		}
		got, err := st.Metrics(ctx, w.shop, rg, sc)
		if err != nil {
			t.Fatal(err)
		}
		want := expect(rg, sc)
		// Opens (every open) are not a §2 metric; the rollup counts them but the model doesn't.
		got.Totals.Opens = 0
		if got.Totals.Counts != want.Counts || got.Totals.Customers != want.Customers ||
			got.Totals.UnsubCustomers != want.UnsubCustomers || got.Totals.ComplainedCustomers != want.ComplainedCustomers {
			t.Errorf("range %s…%s scope %+v:\n got %+v\nwant %+v", rg.From.Format(time.DateOnly), rg.To.Format(time.DateOnly), sc, got.Totals, want)
		}
		if sc.CampaignID == 0 && want.Sent > 0 && (len(got.Lines) != 1 || got.Lines[0].ID != w.campaign || got.Lines[0].Name != "Sale") {
			t.Errorf("lines: %+v", got.Lines)
		}
	}
	whole := expect(reports.Range{From: base, To: base.AddDate(0, 0, 10)}, reports.Scope{})
	if whole.Clicks <= whole.Clicked || whole.Unsubscribed == 0 || whole.Complained == 0 || whole.BouncedSoft == 0 {
		t.Fatalf("random data too thin: %+v", whole)
	}

	// Another shop sees nothing.
	other := w.id(`INSERT INTO shops (domain, name) VALUES ('o2.myshopify.com', 'O') RETURNING id`)
	got, err := st.Metrics(ctx, other, reports.Range{From: base, To: base.AddDate(0, 0, 10)}, reports.Scope{})
	if err != nil || got.Totals != (reports.Totals{}) || len(got.Lines) != 0 {
		t.Errorf("another shop sees %+v, %v", got, err)
	}
}
