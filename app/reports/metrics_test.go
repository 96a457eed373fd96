package reports_test

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jmoiron/sqlx"
	"github.com/lib/pq"
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
			if sc.ID != 0 && sc.VariantSet && m.variant != sc.Variant {
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
		sc := reports.Scope{Kind: reports.ScopeCampaign}
		switch i % 3 {
		case 1:
			sc.ID = w.campaign
		case 2:
			sc = reports.Scope{Kind: reports.ScopeCampaign, ID: w.campaign, Variant: variants[r.IntN(len(variants))], VariantSet: true}
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
		if sc.ID == 0 && want.Sent > 0 && (len(got.Lines) != 1 || got.Lines[0].ID != w.campaign || got.Lines[0].Name != "Sale") {
			t.Errorf("lines: %+v", got.Lines)
		}
	}
	whole := expect(reports.Range{From: base, To: base.AddDate(0, 0, 10)}, reports.Scope{})
	if whole.Clicks <= whole.Clicked || whole.Unsubscribed == 0 || whole.Complained == 0 || whole.BouncedSoft == 0 {
		t.Fatalf("random data too thin: %+v", whole)
	}

	// Another shop sees nothing.
	other := w.id(`INSERT INTO shops (domain, name) VALUES ('o2.myshopify.com', 'O') RETURNING id`)
	got, err := st.Metrics(ctx, other, reports.Range{From: base, To: base.AddDate(0, 0, 10)}, reports.Scope{Kind: reports.ScopeAll})
	if err != nil || got.Totals.Counts != (reports.Counts{}) || got.Totals.Customers != 0 || got.Totals.Orders != 0 || !got.Totals.Sales.IsZero() || len(got.Lines) != 0 {
		t.Errorf("another shop sees %+v, %v", got, err)
	}
}

// Every email (campaign and flow), a flow, a flow step and a template:
// for random events counted by concurrent consumers and handed twice, the
// rollups of migration 00032 give, for random ranges, what the raw rows
// give — unique customers included (a flow emails a customer twice).
func TestEmailMetricsMatchRawRows(t *testing.T) {
	sentAt := time.Date(2026, 11, 27, 14, 0, 0, 0, time.UTC)
	w := newWorld(t, 60, sentAt)
	flow := w.id(`INSERT INTO flows (shop_id, name, draft) VALUES ($1, 'Abandoned cart', '{}') RETURNING id`, w.shop)
	tmpl := int64(777)
	// Every campaign recipient gets flow step s1 (template tmpl) and, for
	// two in three, step s2 a day later.
	all := append([]msgInfo(nil), w.msgs...)
	for i, m := range w.msgs {
		for j, step := range []string{"s1", "s2"} {
			if j == 1 && i%3 == 0 {
				continue
			}
			at := sentAt.Add(time.Duration(j*24)*time.Hour + time.Duration(i)*time.Minute)
			var tp any
			if step == "s1" {
				tp = tmpl
			}
			var id int64
			err := w.inTx(func(tx *sqlx.Tx) error {
				if err := tx.Get(&id, `INSERT INTO email_messages (shop_id, customer_id, to_email, kind, dedupe_key, links, marketing, status, sent_at,
					flow_id, flow_version, flow_run_id, flow_step, template_id) VALUES ($1, $2, $3, 'flow', $4, $5, true, 'sent', $6, $7, 1, $8, $9, $10) RETURNING id`,
					w.shop, m.customer, m.to, fmt.Sprintf("flow_run:%d:step:%s", 9000+i, step), pq.Array(links), at, flow, 9000+i, step, tp); err != nil {
					return err
				}
				return signals.Record(context.Background(), tx.Tx, signals.Signal{ShopID: w.shop, CustomerID: m.customer, Kind: signals.EmailSent,
					Ref: strconv.FormatInt(id, 10), At: at})
			})
			if err != nil {
				t.Fatal(err)
			}
			all = append(all, msgInfo{id, m.customer, m.to})
		}
	}
	signalstest.Start(t, w.db, signals.Handlers{Reports: reports.Handler{}})
	signalstest.Start(t, w.db, signals.Handlers{Reports: reports.Handler{}})
	var wg sync.WaitGroup
	const writers = 6
	for g := range writers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			r := rand.New(rand.NewPCG(uint64(g), 11))
			for i := g; i < len(all); i += writers {
				w.randomEvents(r, all[i], sentAt)
			}
		}()
	}
	wg.Wait()
	signalstest.Drain(t, w.db)
	// Handed a second time: nothing changes.
	w.exec(`INSERT INTO customer_signals (shop_id, customer_id, kind, ref, data, at)
		SELECT m.shop_id, m.customer_id, 'email_event', m.id::text,
		       jsonb_build_object('status', CASE e.kind WHEN 'open' THEN 'opened' WHEN 'click' THEN 'clicked' ELSE e.kind END, 'event', e.id), e.occurred_at
		FROM email_events e JOIN email_messages m ON m.id = e.message_id WHERE m.shop_id = $1`, w.shop)
	w.exec(`INSERT INTO customer_signals (shop_id, customer_id, kind, ref, data, at)
		SELECT shop_id, customer_id, 'email_sent', id::text, '{}', sent_at FROM email_messages WHERE shop_id = $1`, w.shop)
	signalstest.Drain(t, w.db)

	ny, _ := time.LoadLocation("America/New_York")
	day := func(at time.Time) time.Time {
		y, m, d := at.In(ny).Date()
		return time.Date(y, m, d, 0, 0, 0, 0, time.UTC)
	}
	type rawMsg struct {
		kind, step                                                   string
		customer                                                     int64
		template                                                     *int64
		sent, delivered, bounced, opened, clicked, unsub, complained time.Time
		clicks                                                       []time.Time
	}
	var msgs []struct {
		ID       int64     `db:"id"`
		Kind     string    `db:"kind"`
		Step     *string   `db:"flow_step"`
		Customer int64     `db:"customer_id"`
		Template *int64    `db:"template_id"`
		SentAt   time.Time `db:"sent_at"`
	}
	if err := w.db.Select(&msgs, `SELECT id, kind, flow_step, customer_id, template_id, sent_at FROM email_messages WHERE shop_id = $1`, w.shop); err != nil {
		t.Fatal(err)
	}
	raw := map[int64]*rawMsg{}
	for _, m := range msgs {
		x := &rawMsg{kind: m.Kind, customer: m.Customer, template: m.Template, sent: day(m.SentAt)}
		if m.Step != nil {
			x.step = *m.Step
		}
		raw[m.ID] = x
	}
	var evs []struct {
		Message int64     `db:"message_id"`
		Kind    string    `db:"kind"`
		At      time.Time `db:"occurred_at"`
	}
	if err := w.db.Select(&evs, `SELECT message_id, kind, occurred_at FROM email_events WHERE shop_id = $1 AND NOT machine ORDER BY id`, w.shop); err != nil {
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
			first(&m.bounced, e.At)
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
		in := func(d time.Time) bool { return !d.IsZero() && !d.Before(r.From) && !d.After(r.To) }
		n := func(d time.Time) int64 {
			if in(d) {
				return 1
			}
			return 0
		}
		var t reports.Totals
		cust := [3]map[int64]bool{{}, {}, {}}
		for _, m := range raw {
			switch sc.Kind {
			case reports.ScopeFlow:
				if m.kind != "flow" || (sc.VariantSet && m.step != sc.Variant) {
					continue
				}
			case reports.ScopeTemplate:
				if m.template == nil || *m.template != sc.ID {
					continue
				}
			}
			t.Sent += n(m.sent)
			t.Delivered += n(m.delivered)
			t.BouncedHard += n(m.bounced)
			t.Opened += n(m.opened)
			t.Clicked += n(m.clicked)
			for _, c := range m.clicks {
				t.Clicks += n(c)
			}
			t.Unsubscribed += n(m.unsub)
			t.Complained += n(m.complained)
			for i, d := range []time.Time{m.delivered, m.unsub, m.complained} {
				if in(d) {
					cust[i][m.customer] = true
				}
			}
		}
		t.Customers, t.UnsubCustomers, t.ComplainedCustomers = int64(len(cust[0])), int64(len(cust[1])), int64(len(cust[2]))
		return t
	}

	st := &reports.Store{DB: w.db}
	ctx := context.Background()
	r := rand.New(rand.NewPCG(3, 4))
	base := day(sentAt).AddDate(0, 0, -1)
	scopes := []reports.Scope{{Kind: reports.ScopeAll}, {Kind: reports.ScopeFlow, ID: flow},
		{Kind: reports.ScopeFlow, ID: flow, Variant: "s1", VariantSet: true}, {Kind: reports.ScopeFlow, ID: flow, Variant: "s2", VariantSet: true},
		{Kind: reports.ScopeTemplate, ID: tmpl}}
	for i := range 40 {
		from := base.AddDate(0, 0, r.IntN(7))
		rg := reports.Range{From: from, To: from.AddDate(0, 0, r.IntN(6))}
		if i == 0 {
			rg = reports.Range{From: base, To: base.AddDate(0, 0, 10)}
		}
		sc := scopes[i%len(scopes)]
		got, err := st.Metrics(ctx, w.shop, rg, sc)
		if err != nil {
			t.Fatal(err)
		}
		want := expect(rg, sc)
		if got.Totals.Counts != want.Counts || got.Totals.Customers != want.Customers ||
			got.Totals.UnsubCustomers != want.UnsubCustomers || got.Totals.ComplainedCustomers != want.ComplainedCustomers {
			t.Errorf("range %s…%s scope %+v:\n got %+v\nwant %+v", rg.From.Format(time.DateOnly), rg.To.Format(time.DateOnly), sc, got.Totals, want)
		}
		if i == 0 {
			// The test exercised what it claims to: customers emailed twice.
			if want.Customers >= want.Delivered || want.Clicks <= want.Clicked || want.Unsubscribed == 0 {
				t.Fatalf("random data too thin: %+v", want)
			}
			var flowLine bool
			for _, l := range got.Lines {
				flowLine = flowLine || (l.Kind == reports.ScopeFlow && l.ID == flow && l.Name == "Abandoned cart" &&
					l.Totals.Customers == expect(rg, scopes[1]).Customers)
			}
			if !flowLine {
				t.Errorf("no line for the flow: %+v", got.Lines)
			}
			// The page's brief read: the same figures, lines without the flows' customers.
			brief, err := st.MetricsBrief(ctx, w.shop, rg, sc)
			if err != nil || brief.Totals.Counts != got.Totals.Counts || brief.Totals.Customers != got.Totals.Customers ||
				len(brief.Lines) != len(got.Lines) {
				t.Errorf("brief read differs: %+v, %v", brief, err)
			}
		}
	}
}
