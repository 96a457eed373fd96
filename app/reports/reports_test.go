package reports_test

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jmoiron/sqlx"
	"github.com/lib/pq"
	"github.com/riverqueue/river"
	"github.com/riverqueue/river/rivertype"

	"github.com/cartwheel/cartwheel/app/customers"
	"github.com/cartwheel/cartwheel/app/db/dbtest"
	"github.com/cartwheel/cartwheel/app/email/tracking"
	"github.com/cartwheel/cartwheel/app/reports"
	"github.com/cartwheel/cartwheel/app/signals"
	"github.com/cartwheel/cartwheel/app/signals/signalstest"
)

type noJobs struct{}

func (noJobs) InsertTx(context.Context, *sql.Tx, river.JobArgs, *river.InsertOpts) (*rivertype.JobInsertResult, error) {
	return &rivertype.JobInsertResult{}, nil
}

// User-Agents of real mail clients and browsers, and of machines.
var (
	humanOpenUAs = []string{
		"Mozilla/5.0 (iPhone; CPU iPhone OS 17_1 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Mobile/15E148",
		"Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko)",
		"Mozilla/5.0 (Windows NT 5.1; rv:11.0) Gecko Firefox/11.0 (via ggpht.com GoogleImageProxy)",
		"Mozilla/4.0 (compatible; ms-office; MSOffice 16)",
		"Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0 Safari/537.36",
		"YahooMailProxy; https://help.yahoo.com/kb/yahoo-mail-proxy-SLN28749.html",
		"Mozilla/5.0 (iPad; CPU OS 17_1 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Mobile/15E148",
	}
	browserUAs = []string{
		"Mozilla/5.0 (iPhone; CPU iPhone OS 17_1 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.0 Mobile/15E148 Safari/604.1",
		"Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0 Safari/537.36",
		"Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0 Mobile Safari/537.36",
	}
	applePrefetchUA = "Mozilla/5.0"
	scannerUA       = "Mozilla/5.0 (compatible; Barracuda Sentinel)"
)

var links = []string{"https://shop.example/sale", "https://shop.example/new", "https://shop.example/hat"}

type world struct {
	t        *testing.T
	db       *sqlx.DB
	svc      *tracking.Service
	tk       *tracking.Tokens
	shop     int64
	campaign int64
	msgs     []msgInfo
	clock    struct {
		sync.Mutex
		now time.Time
	}
}

type msgInfo struct {
	id, customer int64
	to           string
}

func (w *world) now() time.Time {
	w.clock.Lock()
	defer w.clock.Unlock()
	return w.clock.now
}

func (w *world) exec(q string, args ...any) {
	w.t.Helper()
	if _, err := w.db.Exec(q, args...); err != nil {
		w.t.Fatal(err)
	}
}

func (w *world) id(q string, args ...any) int64 {
	w.t.Helper()
	var id int64
	if err := w.db.Get(&id, q, args...); err != nil {
		w.t.Fatal(err)
	}
	return id
}

// newWorld makes a New York shop with a sent campaign: n recipients split
// over variants A, B, the rest and a holdout, each non-held-out one with a
// ledger row sent at sentAt and its email_sent signal (as the sender
// records it).
func newWorld(t *testing.T, n int, sentAt time.Time) *world {
	d := dbtest.New(t)
	w := &world{t: t, db: d}
	w.clock.now = sentAt
	tk, err := tracking.NewTokens([]byte(strings.Repeat("k", 32)))
	if err != nil {
		t.Fatal(err)
	}
	w.tk = tk
	w.svc = tracking.New(tracking.Deps{DB: d, Tokens: tk, Customers: customers.NewStore(d), Jobs: noJobs{}, Now: w.now})
	w.shop = w.id(`INSERT INTO shops (domain, name, iana_timezone) VALUES ('r.myshopify.com', 'R', 'America/New_York') RETURNING id`)
	w.campaign = w.id(`INSERT INTO campaigns (shop_id, name, status, audience_size, snapshot_at, started_at)
		VALUES ($1, 'Sale', 'sending', $2, $3, $3) RETURNING id`, w.shop, n, sentAt)
	variants := []string{"A", "B", "", "", "holdout"}
	for i := range n {
		to := fmt.Sprintf("c%d@example.com", i)
		c := w.id(`INSERT INTO customers (shop_id, email, email_consent, shopify_id) VALUES ($1, $2, 'subscribed', $3) RETURNING id`,
			w.shop, to, 5000+i)
		v := variants[i%len(variants)]
		w.exec(`INSERT INTO campaign_recipients (shop_id, campaign_id, customer_id, position, variant, status) VALUES ($1, $2, $3, $4, $5, 'sent')`,
			w.shop, w.campaign, c, i+1, v)
		if v == "holdout" {
			continue
		}
		at := sentAt.Add(time.Duration(i) * time.Second)
		var m int64
		err := w.inTx(func(tx *sqlx.Tx) error {
			if err := tx.Get(&m, `INSERT INTO email_messages (shop_id, customer_id, to_email, kind, dedupe_key, links, marketing, status, sent_at,
				campaign_id, campaign_variant) VALUES ($1, $2, $3, 'campaign', $4, $5, true, 'sent', $6, $7, $8) RETURNING id`,
				w.shop, c, to, fmt.Sprintf("campaign:%d:customer:%d", w.campaign, c), pq.Array(links), at, w.campaign, v); err != nil {
				return err
			}
			return signals.Record(context.Background(), tx.Tx, signals.Signal{ShopID: w.shop, CustomerID: c, Kind: signals.EmailSent,
				Ref: strconv.FormatInt(m, 10), At: at})
		})
		if err != nil {
			t.Fatal(err)
		}
		w.msgs = append(w.msgs, msgInfo{m, c, to})
	}
	return w
}

func (w *world) inTx(fn func(tx *sqlx.Tx) error) error {
	tx, err := w.db.Beginx()
	if err != nil {
		return err
	}
	defer tx.Rollback()
	if err := fn(tx); err != nil {
		return err
	}
	return tx.Commit()
}

// sendgrid posts one SendGrid event about m through the real webhook path.
func (w *world) sendgrid(r *rand.Rand, m msgInfo, event string, at time.Time, extra map[string]any) {
	w.t.Helper()
	e := map[string]any{"email": m.to, "timestamp": at.Unix(), "event": event,
		"sg_event_id": fmt.Sprintf("ev-%d-%d", m.id, r.Int64()), "cw_message_id": strconv.FormatInt(m.id, 10),
		"cw_shop_id": strconv.FormatInt(w.shop, 10)}
	for k, v := range extra {
		e[k] = v
	}
	body, _ := json.Marshal([]any{e})
	if _, err := w.svc.ProcessEvents(context.Background(), body); err != nil {
		w.t.Error(err)
	}
}

// randomEvents gives message m a random life through every write site:
// SendGrid's events, the open pixel, the click redirect and the
// unsubscribe page, machine opens and scanner clicks included.
func (w *world) randomEvents(r *rand.Rand, m msgInfo, sentAt time.Time) {
	ctx := context.Background()
	at := func() time.Time { return sentAt.Add(time.Duration(r.IntN(100*3600)) * time.Second) }
	switch p := r.IntN(100); {
	case p < 6:
		w.sendgrid(r, m, "bounce", at(), map[string]any{"type": "bounce", "reason": "550 no such user"})
		return
	case p < 10:
		w.sendgrid(r, m, "bounce", at(), map[string]any{"type": "blocked", "reason": "421 try later"})
		return
	case p < 12:
		w.sendgrid(r, m, "dropped", at(), map[string]any{"reason": "Spam Content"})
		return
	}
	if r.IntN(10) < 8 {
		w.sendgrid(r, m, "delivered", sentAt.Add(time.Minute), nil)
		if r.IntN(10) == 0 { // SendGrid repeats itself
			w.sendgrid(r, m, "delivered", sentAt.Add(2*time.Minute), nil)
		}
	}
	if r.IntN(3) == 0 { // Apple's prefetch: never an open
		w.svc.Open(ctx, w.tk.OpenToken(m.id), tracking.Request{Method: "GET", UserAgent: applePrefetchUA})
	}
	for range r.IntN(4) {
		if r.IntN(2) == 0 {
			w.sendgrid(r, m, "open", at(), map[string]any{"useragent": humanOpenUAs[r.IntN(len(humanOpenUAs))]})
		} else {
			w.setNow(at())
			w.svc.Open(ctx, w.tk.OpenToken(m.id), tracking.Request{Method: "GET", UserAgent: humanOpenUAs[r.IntN(len(humanOpenUAs))]})
		}
	}
	if r.IntN(4) == 0 { // a link scanner
		w.setNow(at())
		w.svc.Click(ctx, w.tk.ClickToken(m.id, r.IntN(len(links))), tracking.Request{Method: "GET", UserAgent: scannerUA})
	}
	for range r.IntN(5) * r.IntN(2) {
		if r.IntN(3) == 0 {
			w.sendgrid(r, m, "click", at(), map[string]any{"url": links[r.IntN(len(links))], "useragent": browserUAs[r.IntN(len(browserUAs))]})
		} else {
			w.setNow(at())
			if _, err := w.svc.Click(ctx, w.tk.ClickToken(m.id, r.IntN(len(links))), tracking.Request{Method: "GET", UserAgent: browserUAs[r.IntN(len(browserUAs))]}); err != nil {
				w.t.Error(err)
			}
		}
	}
	switch p := r.IntN(100); {
	case p < 4:
		w.sendgrid(r, m, "spamreport", at(), nil)
	case p < 8:
		w.sendgrid(r, m, "unsubscribe", at(), nil)
	case p < 14:
		w.setNow(at())
		if _, err := w.svc.Unsubscribe(ctx, w.tk.UnsubscribeToken(m.id), "unsubscribe"); err != nil {
			w.t.Error(err)
		}
	}
}

func (w *world) setNow(t time.Time) {
	w.clock.Lock()
	w.clock.now = t
	w.clock.Unlock()
}

// expected computes the report straight from the raw rows: the ledger, the
// events and the snapshot.
func (w *world) expected(loc *time.Location) reports.CampaignReport {
	w.t.Helper()
	want := reports.CampaignReport{CampaignID: w.campaign}
	var msgs []struct {
		ID      int64     `db:"id"`
		Variant string    `db:"variant"`
		SentAt  time.Time `db:"sent_at"`
	}
	if err := w.db.Select(&msgs, `SELECT id, campaign_variant AS variant, sent_at FROM email_messages WHERE campaign_id = $1 ORDER BY id`, w.campaign); err != nil {
		w.t.Fatal(err)
	}
	var evs []struct {
		Message int64     `db:"message_id"`
		Kind    string    `db:"kind"`
		Detail  string    `db:"detail"`
		URL     string    `db:"url"`
		Link    *int      `db:"link_index"`
		UA      string    `db:"user_agent"`
		At      time.Time `db:"occurred_at"`
	}
	if err := w.db.Select(&evs, `SELECT e.message_id, e.kind, e.detail, e.url, e.link_index, e.user_agent, e.occurred_at
		FROM email_events e JOIN email_messages m ON m.id = e.message_id
		WHERE m.campaign_id = $1 AND NOT e.machine ORDER BY e.id`, w.campaign); err != nil {
		w.t.Fatal(err)
	}
	byMsg := map[int64][]int{}
	for i, e := range evs {
		byMsg[e.Message] = append(byMsg[e.Message], i)
	}
	variants := map[string]*reports.Counts{}
	rows := map[string]map[string]*reports.Row{}
	row := func(dim, key string) *reports.Row {
		if rows[dim] == nil {
			rows[dim] = map[string]*reports.Row{}
		}
		if rows[dim][key] == nil {
			rows[dim][key] = &reports.Row{Key: key}
		}
		return rows[dim][key]
	}
	for _, m := range msgs {
		c := variants[m.Variant]
		if c == nil {
			c = &reports.Counts{}
			variants[m.Variant] = c
		}
		c.Sent++
		var delivered, bounced, dropped, opened, clicked, unsub, complained bool
		clickedLinks := map[string]bool{}
		for _, i := range byMsg[m.ID] {
			e := evs[i]
			keys := func() [][2]string {
				h := min(max(int(e.At.Sub(m.SentAt)/time.Hour), 0), reports.SinceHours)
				l := e.At.In(loc)
				k := [][2]string{{reports.DimSince, strconv.Itoa(h)}, {reports.DimWeekHour, fmt.Sprintf("%d:%d", l.Weekday(), l.Hour())},
					{reports.DimDevice, reports.Device(e.UA)}}
				if e.Kind == "open" {
					k = append(k, [2]string{reports.DimClient, reports.Client(e.UA)})
				}
				return k
			}
			switch e.Kind {
			case "delivered", "open", "click", "unsubscribe", "spamreport":
				delivered = true
			}
			switch e.Kind {
			case "bounce":
				if !bounced {
					bounced = true
					if strings.HasPrefix(e.Detail, "blocked") {
						c.BouncedSoft++
					} else {
						c.BouncedHard++
					}
				}
			case "dropped":
				dropped = true
			case "open", "click":
				if e.Kind == "open" {
					c.Opens++
					for _, k := range keys() {
						row(k[0], k[1]).Opens++
					}
				} else {
					c.Clicks++
					for _, k := range keys() {
						row(k[0], k[1]).Clicks++
					}
					row(reports.DimLink, e.URL).Clicks++
					if !clickedLinks[e.URL] {
						clickedLinks[e.URL] = true
						row(reports.DimLink, e.URL).Clicked++
					}
				}
				if !opened {
					opened = true
					c.Opened++
					for _, k := range keys() {
						row(k[0], k[1]).Opened++
					}
				}
				if e.Kind == "click" && !clicked {
					clicked = true
					c.Clicked++
					for _, k := range keys() {
						row(k[0], k[1]).Clicked++
					}
				}
			case "unsubscribe":
				unsub = true
			case "spamreport":
				complained = true
			}
		}
		if delivered {
			c.Delivered++
		}
		if dropped {
			c.Dropped++
		}
		if unsub {
			c.Unsubscribed++
		}
		if complained {
			c.Complained++
		}
	}
	var aud []struct {
		Variant string `db:"variant"`
		N       int64  `db:"n"`
	}
	if err := w.db.Select(&aud, `SELECT variant, count(*) AS n FROM campaign_recipients WHERE campaign_id = $1 GROUP BY variant`, w.campaign); err != nil {
		w.t.Fatal(err)
	}
	for _, a := range aud {
		want.Audience += a.N
		if a.Variant == "holdout" {
			want.Holdout = a.N
			continue
		}
		c := variants[a.Variant]
		want.Variants = append(want.Variants, reports.Variant{Key: a.Variant, Recipients: a.N, Counts: *c})
	}
	for _, v := range want.Variants {
		addCounts(&want.Total, v.Counts)
	}
	for k, r := range rows[reports.DimSince] {
		h, _ := strconv.Atoi(k)
		want.Since[h] = *r
	}
	for k, r := range rows[reports.DimWeekHour] {
		var d, h int
		fmt.Sscanf(k, "%d:%d", &d, &h)
		want.WeekHour[d][h] = *r
	}
	for _, r := range rows[reports.DimDevice] {
		want.Devices = append(want.Devices, *r)
	}
	for _, r := range rows[reports.DimClient] {
		want.Clients = append(want.Clients, *r)
	}
	for _, r := range rows[reports.DimLink] {
		want.Links = append(want.Links, *r)
	}
	return want
}

func addCounts(c *reports.Counts, o reports.Counts) {
	c.Sent += o.Sent
	c.Delivered += o.Delivered
	c.BouncedHard += o.BouncedHard
	c.BouncedSoft += o.BouncedSoft
	c.Dropped += o.Dropped
	c.Opened += o.Opened
	c.Clicked += o.Clicked
	c.Clicks += o.Clicks
	c.Opens += o.Opens
	c.Unsubscribed += o.Unsubscribed
	c.Complained += o.Complained
}

// compare fails the test on every difference between the report and the
// direct computation.
func compare(t *testing.T, got, want reports.CampaignReport) {
	t.Helper()
	if got.Total != want.Total {
		t.Errorf("totals:\n got  %+v\n want %+v", got.Total, want.Total)
	}
	if got.Audience != want.Audience || got.Holdout != want.Holdout {
		t.Errorf("audience %d holdout %d, want %d and %d", got.Audience, got.Holdout, want.Audience, want.Holdout)
	}
	gv := map[string]reports.Variant{}
	for _, v := range got.Variants {
		gv[v.Key] = v
	}
	if len(got.Variants) != len(want.Variants) {
		t.Errorf("%d variants, want %d", len(got.Variants), len(want.Variants))
	}
	for _, v := range want.Variants {
		if g := gv[v.Key]; g.Counts != v.Counts || g.Recipients != v.Recipients {
			t.Errorf("variant %q:\n got  %d %+v\n want %d %+v", v.Key, g.Recipients, g.Counts, v.Recipients, v.Counts)
		}
	}
	if got.Since != want.Since {
		for h := range got.Since {
			if got.Since[h] != want.Since[h] {
				t.Errorf("hour %d since sending: got %+v, want %+v", h, got.Since[h], want.Since[h])
			}
		}
	}
	if got.WeekHour != want.WeekHour {
		t.Errorf("weekday × hour differs")
	}
	for _, c := range []struct {
		name      string
		got, want []reports.Row
	}{{"device", got.Devices, want.Devices}, {"client", got.Clients, want.Clients}, {"link", got.Links, want.Links}} {
		m := map[string]reports.Row{}
		for _, r := range c.got {
			m[r.Key] = r
		}
		if len(c.got) != len(c.want) {
			t.Errorf("%s: %d rows, want %d (%+v vs %+v)", c.name, len(c.got), len(c.want), c.got, c.want)
		}
		for _, r := range c.want {
			if m[r.Key] != r {
				t.Errorf("%s %q: got %+v, want %+v", c.name, r.Key, m[r.Key], r)
			}
		}
	}
}

// The report equals a direct computation over the ledger and the events,
// for random lives written through every real write site by 8 writers at
// once while two consumers count them; a signal handed again afterwards
// changes nothing.
func TestCampaignReportMatchesRawRows(t *testing.T) {
	sentAt := time.Date(2026, 11, 27, 14, 0, 0, 0, time.UTC)
	w := newWorld(t, 250, sentAt)
	signalstest.Start(t, w.db, signals.Handlers{Reports: reports.Handler{}})
	signalstest.Start(t, w.db, signals.Handlers{Reports: reports.Handler{}})
	var wg sync.WaitGroup
	const writers = 8
	for g := range writers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			r := rand.New(rand.NewPCG(uint64(g), 42))
			for i := g; i < len(w.msgs); i += writers {
				w.randomEvents(r, w.msgs[i], sentAt)
			}
		}()
	}
	wg.Wait()
	signalstest.Drain(t, w.db)
	st := &reports.Store{DB: w.db}
	ctx := context.Background()
	got, err := st.Campaign(ctx, w.shop, w.campaign)
	if err != nil {
		t.Fatal(err)
	}
	ny, _ := time.LoadLocation("America/New_York")
	want := w.expected(ny)
	compare(t, got, want)
	// The test exercised what it claims to.
	if want.Total.Clicks <= want.Total.Clicked || want.Total.BouncedHard == 0 || want.Total.BouncedSoft == 0 ||
		want.Total.Complained == 0 || want.Total.Unsubscribed == 0 || len(want.Links) != len(links) {
		t.Fatalf("random data too thin: %+v", want.Total)
	}
	var machine int
	w.db.Get(&machine, `SELECT count(*) FROM email_events WHERE machine`)
	if machine == 0 {
		t.Fatal("no machine events were generated")
	}

	// Signals handed a second time (a re-delivery): every email_sent and
	// every event signal of the campaign again.
	w.exec(`INSERT INTO customer_signals (shop_id, customer_id, kind, ref, data, at)
		SELECT m.shop_id, m.customer_id, 'email_sent', m.id::text, '{}', m.sent_at FROM email_messages m WHERE m.campaign_id = $1`, w.campaign)
	w.exec(`INSERT INTO customer_signals (shop_id, customer_id, kind, ref, data, at)
		SELECT m.shop_id, m.customer_id, 'email_event', m.id::text,
		       jsonb_build_object('status', CASE e.kind WHEN 'open' THEN 'opened' WHEN 'click' THEN 'clicked' ELSE e.kind END, 'event', e.id), e.occurred_at
		FROM email_events e JOIN email_messages m ON m.id = e.message_id WHERE m.campaign_id = $1 AND NOT e.machine`, w.campaign)
	signalstest.Drain(t, w.db)
	again, err := st.Campaign(ctx, w.shop, w.campaign)
	if err != nil {
		t.Fatal(err)
	}
	compare(t, again, want)

	// Rebuilding from the raw rows gives the same report.
	if err := reports.Rebuild(ctx, w.db, w.shop, w.campaign); err != nil {
		t.Fatal(err)
	}
	rebuilt, err := st.Campaign(ctx, w.shop, w.campaign)
	if err != nil {
		t.Fatal(err)
	}
	compare(t, rebuilt, want)

	// Another shop's id reads nothing.
	other := w.id(`INSERT INTO shops (domain, name) VALUES ('o.myshopify.com', 'O') RETURNING id`)
	if r, err := st.Campaign(ctx, other, w.campaign); err != nil || r.Total != (reports.Counts{}) || len(r.Variants) != 0 {
		t.Errorf("another shop sees %+v, %v", r, err)
	}
}

// Many transactions count into one campaign's rollups at the same moment
// (24 goroutines, one transaction per message, each adding its send and
// three clicks): every addition is kept, none twice.
func TestConcurrentCountersAreExact(t *testing.T) {
	sentAt := time.Date(2026, 11, 27, 14, 0, 0, 0, time.UTC)
	w := newWorld(t, 600, sentAt)
	w.exec(`DELETE FROM customer_signals`) // counted by hand below
	w.exec(`INSERT INTO email_events (shop_id, message_id, source, kind, link_index, url, user_agent, occurred_at)
		SELECT m.shop_id, m.id, 'redirect', 'click', g % 3, ($2::text[])[g % 3 + 1], $3, m.sent_at + g * interval '1 hour'
		FROM email_messages m, generate_series(0, 2) g WHERE m.campaign_id = $1 ORDER BY m.id, g`,
		w.campaign, pq.Array(links), browserUAs[0])
	var evs []struct {
		ID, Message int64
	}
	if err := w.db.Select(&evs, `SELECT id, message_id AS message FROM email_events ORDER BY id`); err != nil {
		t.Fatal(err)
	}
	byMsg := map[int64][]int64{}
	for _, e := range evs {
		byMsg[e.Message] = append(byMsg[e.Message], e.ID)
	}
	ctx := context.Background()
	start := make(chan struct{})
	var wg sync.WaitGroup
	const workers = 24
	for g := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			for i := g; i < len(w.msgs); i += workers {
				m := w.msgs[i]
				b := &signals.Batch{ShopID: w.shop, CustomerID: m.customer, Now: sentAt, Memo: &signals.Memo{},
					Signals: []signals.Signal{{Kind: signals.EmailSent, Ref: strconv.FormatInt(m.id, 10), At: sentAt}}}
				for _, e := range byMsg[m.id] {
					b.Signals = append(b.Signals, signals.Signal{Kind: signals.EmailEvent, Ref: strconv.FormatInt(m.id, 10),
						Data: signals.Data(map[string]any{"status": "clicked", "event": e})})
				}
				if err := w.inTx(func(tx *sqlx.Tx) error { return handle(ctx, tx, b) }); err != nil {
					t.Error(err)
					return
				}
			}
		}()
	}
	close(start)
	wg.Wait()
	got, err := (&reports.Store{DB: w.db}).Campaign(ctx, w.shop, w.campaign)
	if err != nil {
		t.Fatal(err)
	}
	n := int64(len(w.msgs))
	want := reports.Counts{Sent: n, Delivered: n, Opened: n, Clicked: n, Clicks: 3 * n}
	if got.Total != want {
		t.Errorf("totals %+v, want %+v", got.Total, want)
	}
	for _, l := range got.Links {
		if l.Clicks != n || l.Clicked != n {
			t.Errorf("link %s: %d clicks by %d, want %d by %d", l.Key, l.Clicks, l.Clicked, n, n)
		}
	}
	var slotsUsed int
	w.db.Get(&slotsUsed, `SELECT count(DISTINCT slot) FROM report_daily`)
	if slotsUsed < 2 {
		t.Errorf("%d slots used: the writers never overlapped", slotsUsed)
	}
}

// Signals recorded before they carried their event row (status only)
// still count each fact once per email.
func TestSignalsWithoutEventCountOnce(t *testing.T) {
	sentAt := time.Date(2026, 11, 27, 14, 0, 0, 0, time.UTC)
	w := newWorld(t, 5, sentAt) // A, B, '', '' get emails; one held out
	w.exec(`DELETE FROM customer_signals`)
	ctx := context.Background()
	m := w.msgs[0]
	var sigs []signals.Signal
	for range 2 {
		for _, st := range []string{"delivered", "opened", "clicked", "clicked", "unsubscribed"} {
			sigs = append(sigs, signals.Signal{Kind: signals.EmailEvent, Ref: strconv.FormatInt(m.id, 10), At: sentAt.Add(time.Hour),
				Data: signals.Data(map[string]any{"status": st})})
		}
	}
	b := &signals.Batch{ShopID: w.shop, CustomerID: m.customer, Now: sentAt, Memo: &signals.Memo{}, Signals: sigs}
	if err := w.inTx(func(tx *sqlx.Tx) error { return handle(ctx, tx, b) }); err != nil {
		t.Fatal(err)
	}
	got, err := (&reports.Store{DB: w.db}).Campaign(ctx, w.shop, w.campaign)
	if err != nil {
		t.Fatal(err)
	}
	want := reports.Counts{Sent: 1, Delivered: 1, Opened: 1, Opens: 1, Clicked: 1, Clicks: 1, Unsubscribed: 1}
	if got.Total != want {
		t.Errorf("totals %+v, want %+v", got.Total, want)
	}
	if got.Since[1].Opened != 1 {
		t.Errorf("first open not in hour 1 after sending: %+v", got.Since)
	}
}

// handle hands one customer's batch to the handler as the consumer does.
func handle(ctx context.Context, tx *sqlx.Tx, b *signals.Batch) error {
	if err := (reports.Handler{}).HandleSignals(ctx, tx, b); err != nil {
		return err
	}
	return reports.Handler{}.FinishSignals(ctx, tx, b.ShopID, b.Memo)
}
