package campaigns_test

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/riverqueue/river"
	"github.com/riverqueue/river/rivertype"

	"github.com/cartwheel/cartwheel/app/campaigns"
	"github.com/cartwheel/cartwheel/app/db/dbtest"
	"github.com/cartwheel/cartwheel/app/email/ledger"
	"github.com/cartwheel/cartwheel/app/email/providers"
	"github.com/cartwheel/cartwheel/app/email/render"
	"github.com/cartwheel/cartwheel/app/email/sender"
	"github.com/cartwheel/cartwheel/app/jobs"
	"github.com/cartwheel/cartwheel/app/ratelimit"
	"github.com/cartwheel/cartwheel/app/segments"
	"github.com/cartwheel/cartwheel/app/shops"
)

// clock is a test clock shared by the pipeline and the rate limiter.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) Now() time.Time  { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *clock) Set(t time.Time) { c.mu.Lock(); c.t = t; c.mu.Unlock() }

// sendEnv is shop 1 ready to send: installed, a verified sender, a postal
// address, n subscribed customers tagged vip in segment seg, a template.
type sendEnv struct {
	*env
	dbURL   string
	seg     int64
	tpl     int64
	clock   *clock
	jc      *jobs.Client
	sender  *sender.Sender
	sending *campaigns.Sending
}

func newSendEnv(t *testing.T, n int) *sendEnv {
	// newEnv's, with the database's URL kept for the crash test's child.
	d, u := dbtest.NewWithURL(t)
	e := &env{t: t, ctx: context.Background(), db: d, store: campaigns.NewStore(d), segs: segments.NewStore(d)}
	e.exec(`INSERT INTO shops (id, domain, iana_timezone) VALUES (1, 'one.myshopify.com', 'America/New_York'),
		(2, 'two.myshopify.com', 'UTC')`)
	se := &sendEnv{env: e, clock: &clock{t: now0}, dbURL: u}
	e.exec(`UPDATE shops SET installed_at = now(), access_token_enc = '\x00'::bytea, sender_name = 'Demo Store', sender_email = 'hello@demo.example',
		postal_address = '1 Harbour Road, Dublin', marketing_cap_hours = 0, campaign_skip_days = 0,
		send_rate_per_second = 100000 WHERE id = 1`)
	e.exec(`INSERT INTO customers (shop_id, email, email_consent, first_name, tags)
		SELECT 1, 'c' || g || '@example.com', 'subscribed', 'C' || g, '{vip}' FROM generate_series(1, $1) g`, n)
	se.seg = e.tagSegment(1, "vip", now0)
	var err error
	se.tpl, err = render.NewStore(e.db).Save(e.ctx, 1, 0, "", render.Template{
		Name: "News", Locale: render.LocaleEN, Subject: "Template subject", Preheader: "Template preheader",
		Blocks: []render.Block{{Type: render.BlockHeading, Text: "Hello {{ first_name }}"}, {Type: render.BlockFooter}}})
	if err != nil {
		t.Fatal(err)
	}
	se.sender, err = sender.New(sender.Deps{DB: e.db, Shops: shops.NewStore(e.db, nil), Provider: providers.NewOutbox(e.db),
		Tracker: sender.NoTracking{}, Verifier: sender.AlwaysVerified, Templates: render.NewStore(e.db),
		Products: render.NewProductSource(e.db)}, sender.Options{})
	if err != nil {
		t.Fatal(err)
	}
	se.sending = &campaigns.Sending{Store: e.store, Limiter: ratelimit.New(e.db, se.clock.Now), Now: se.clock.Now, BatchSize: 100}
	workers := river.NewWorkers()
	river.AddWorker(workers, &campaigns.SendWorker{S: se.sending})
	river.AddWorker(workers, &campaigns.StartDueWorker{S: se.sending})
	river.AddWorker(workers, sender.NewDeliverWorker(se.sender))
	// Insert-only: the tests run the batch function themselves.
	se.jc, err = jobs.New(e.db.DB, workers, jobs.Options{Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		t.Fatal(err)
	}
	se.sending.QueueWith(se.jc)
	return se
}

// campaign creates a ready campaign to the vip segment.
func (se *sendEnv) campaign(d campaigns.Draft) campaigns.Campaign {
	se.t.Helper()
	if d.Name == "" {
		d.Name = "Launch"
	}
	if d.Subject == "" {
		d.Subject = "Campaign subject"
	}
	d.TemplateID = se.tpl
	d.Audience.Include = []int64{se.seg}
	c, err := se.store.Create(se.ctx, 1, d)
	if err != nil {
		se.t.Fatal(err)
	}
	return c
}

func (se *sendEnv) status(id int64) string {
	se.t.Helper()
	c, err := se.store.Get(se.ctx, 1, id)
	if err != nil {
		se.t.Fatal(err)
	}
	return c.Status
}

// drain runs SendBatch from workers goroutines at once until the campaign
// stops sending, and returns how many batches reserved something.
func (se *sendEnv) drain(id int64, workers int) int {
	se.t.Helper()
	var mu sync.Mutex
	batches := 0
	var wg sync.WaitGroup
	for w := 0; w < workers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < 100000; i++ {
				r, err := se.sending.SendBatch(se.ctx, 1, id)
				if err != nil {
					se.t.Error(err)
					return
				}
				if r.Reserved > 0 {
					mu.Lock()
					batches++
					mu.Unlock()
				}
				if r.Stopped != "" || r.Finished || !r.Until.IsZero() {
					return
				}
			}
			se.t.Error("drain: the campaign never stopped")
		}()
	}
	wg.Wait()
	return batches
}

// checkOnce asserts that every recipient not skipped by the snapshot or
// the batch has exactly one ledger row of the campaign, which the
// recipient row names, and that no other row of the campaign exists.
func (se *sendEnv) checkOnce(id int64) {
	se.t.Helper()
	var got struct {
		Rows      int `db:"rows"`
		Customers int `db:"customers"`
		Sent      int `db:"sent"`
		Matching  int `db:"matching"`
		Pending   int `db:"pending"`
	}
	if err := se.db.Get(&got, `SELECT
		(SELECT count(*) FROM email_messages WHERE shop_id = 1 AND campaign_id = $1) AS rows,
		(SELECT count(DISTINCT customer_id) FROM email_messages WHERE shop_id = 1 AND campaign_id = $1) AS customers,
		(SELECT count(*) FROM campaign_recipients WHERE campaign_id = $1 AND status = 'sent') AS sent,
		(SELECT count(*) FROM campaign_recipients r JOIN email_messages m ON m.id = r.message_id
			AND m.customer_id = r.customer_id AND m.campaign_id = r.campaign_id WHERE r.campaign_id = $1) AS matching,
		(SELECT count(*) FROM campaign_recipients WHERE campaign_id = $1 AND status = 'pending') AS pending`, id); err != nil {
		se.t.Fatal(err)
	}
	if got.Rows != got.Customers || got.Rows != got.Sent || got.Matching != got.Sent || got.Pending != 0 {
		se.t.Fatalf("ledger rows %d for %d customers; recipients sent %d (%d naming their row), pending %d",
			got.Rows, got.Customers, got.Sent, got.Matching, got.Pending)
	}
}

func TestLifecycleTransitions(t *testing.T) {
	se := newSendEnv(t, 20)
	ctx := se.ctx

	// Not ready: no subject, no template, no audience.
	bare, err := se.store.Create(ctx, 1, campaigns.Draft{Name: "Bare"})
	if err != nil {
		t.Fatal(err)
	}
	var fe campaigns.FieldErrors
	if _, err := se.sending.Start(ctx, 1, bare.ID, now0); !errors.As(err, &fe) || fe["subject"] == "" || fe["template_id"] == "" || fe["include_segments"] == "" {
		t.Fatalf("starting an unfinished draft: %v", err)
	}
	// Local-time sending at a time that has passed in every timezone is
	// refused on the time: 02:00 in New York is 14:00 UTC in the last
	// zone (UTC-12), an hour before now0.
	past := now0.Add(-9 * time.Hour)
	local := se.campaign(campaigns.Draft{Schedule: campaigns.Schedule{Mode: campaigns.SendLocal, SendAt: &past}})
	if _, err := se.sending.Start(ctx, 1, local.ID, now0); !errors.As(err, &fe) || fe["send_at"] == "" {
		t.Fatalf("local-time campaign past everywhere: %v", err)
	}
	at := now0.Add(2 * time.Hour)
	if se.status(local.ID) != campaigns.StatusDraft {
		t.Fatal("a refused start changed the status")
	}
	// A merge tag typed wrong in the subject, or a variant's, is refused
	// on its field before anything is sent.
	typo := se.campaign(campaigns.Draft{Name: "Typo", Subject: "Hi {{ frist_name }}",
		AB: campaigns.AB{Variants: []campaigns.Variant{{Key: "A"}, {Key: "B", Preheader: "{{ nope"}}, TestPercent: 20, WaitHours: 2}})
	if _, err := se.sending.Start(ctx, 1, typo.ID, now0); !errors.As(err, &fe) || fe["subject"] == "" || fe["ab_variants.1.preheader"] == "" {
		t.Fatalf("a subject with a bad merge tag: %v", err)
	}
	if se.status(typo.ID) != campaigns.StatusDraft || se.count(`SELECT count(*) FROM campaign_recipients WHERE campaign_id = $1`, typo.ID) != 0 {
		t.Fatal("a refused start snapshotted the campaign")
	}

	// Another shop can't start it, or run its batches.
	w := &campaigns.SendWorker{S: se.sending}
	if err := w.Work(ctx, &river.Job[campaigns.SendArgs]{JobRow: &rivertype.JobRow{}, Args: campaigns.SendArgs{ShopID: 2, CampaignID: local.ID}}); err != nil {
		t.Fatalf("a batch job of a campaign that isn't there ends quietly: %v", err)
	}
	if _, err := se.sending.Start(ctx, 2, local.ID, now0); !errors.Is(err, campaigns.ErrNotFound) {
		t.Fatalf("shop 2 starting shop 1's campaign: %v", err)
	}

	// Scheduled, then started by the periodic job when due.
	sched := se.campaign(campaigns.Draft{Schedule: campaigns.Schedule{Mode: campaigns.SendAt, SendAt: &at}})
	c, err := se.sending.Start(ctx, 1, sched.ID, now0)
	if err != nil || c.Status != campaigns.StatusScheduled || c.SnapshotAt != nil {
		t.Fatalf("start of a future campaign: %+v %v", c, err)
	}
	var se2 campaigns.StatusError
	if _, err := se.sending.Start(ctx, 1, sched.ID, now0); !errors.As(err, &se2) {
		t.Fatalf("second start: %v", err)
	}
	if _, err := se.store.Update(ctx, 1, sched.ID, sched.Draft); !errors.As(err, &se2) {
		t.Fatalf("editing a scheduled campaign: %v", err)
	}
	if n, err := se.sending.StartDue(ctx, at.Add(-time.Second)); err != nil || n != 0 {
		t.Fatalf("before its time: started %d, %v", n, err)
	}
	if n, err := se.sending.StartDue(ctx, at); err != nil || n != 1 {
		t.Fatalf("at its time: started %d, %v", n, err)
	}
	c, _ = se.store.Get(ctx, 1, sched.ID)
	if c.Status != campaigns.StatusSending || c.SnapshotAt == nil || c.AudienceSize != 20 || c.StartedAt == nil {
		t.Fatalf("started by the periodic job: %+v", c)
	}
	if n := se.count(`SELECT count(*) FROM river_job WHERE kind = 'campaigns.send' AND (args->>'campaign_id')::bigint = $1`, sched.ID); n != campaigns.DefaultChains {
		t.Fatalf("%d batch jobs enqueued, want %d", n, campaigns.DefaultChains)
	}

	// Paused before its time, a scheduled campaign resumes as scheduled.
	early := se.campaign(campaigns.Draft{Name: "Early", Schedule: campaigns.Schedule{Mode: campaigns.SendAt, SendAt: &at}})
	if _, err := se.sending.Start(ctx, 1, early.ID, now0); err != nil {
		t.Fatal(err)
	}
	if c, err = se.sending.Pause(ctx, 1, early.ID, ""); err != nil || c.Status != campaigns.StatusPaused {
		t.Fatalf("pause of a scheduled campaign: %+v %v", c, err)
	}
	if c, err = se.sending.Resume(ctx, 1, early.ID, now0); err != nil || c.Status != campaigns.StatusScheduled || c.SnapshotAt != nil {
		t.Fatalf("resume before its time: %+v %v", c, err)
	}
	if _, err := se.sending.Cancel(ctx, 1, early.ID, now0); err != nil {
		t.Fatal(err)
	}

	// Pause, pause again, resume, cancel, and what is refused after.
	if c, err = se.sending.Pause(ctx, 1, sched.ID, ""); err != nil || c.Status != campaigns.StatusPaused {
		t.Fatalf("pause: %+v %v", c, err)
	}
	if _, err := se.sending.Pause(ctx, 1, sched.ID, ""); !errors.As(err, &se2) || se2.Status != campaigns.StatusPaused {
		t.Fatalf("second pause: %v", err)
	}
	if c, err = se.sending.Resume(ctx, 1, sched.ID, at); err != nil || c.Status != campaigns.StatusSending || c.AudienceSize != 20 {
		t.Fatalf("resume: %+v %v", c, err)
	}
	if _, err := se.sending.Resume(ctx, 1, sched.ID, at); !errors.As(err, &se2) {
		t.Fatalf("resuming a sending campaign: %v", err)
	}
	if c, err = se.sending.Cancel(ctx, 1, sched.ID, at); err != nil || c.Status != campaigns.StatusCancelled || c.FinishedAt == nil {
		t.Fatalf("cancel: %+v %v", c, err)
	}
	for name, f := range map[string]func() error{
		"resume": func() error { _, err := se.sending.Resume(ctx, 1, sched.ID, at); return err },
		"cancel": func() error { _, err := se.sending.Cancel(ctx, 1, sched.ID, at); return err },
		"pause":  func() error { _, err := se.sending.Pause(ctx, 1, sched.ID, ""); return err },
		"start":  func() error { _, err := se.sending.Start(ctx, 1, sched.ID, at); return err },
		"delete": func() error { return se.store.Delete(ctx, 1, sched.ID) },
	} {
		if err := f(); !errors.As(err, &se2) || se2.Status != campaigns.StatusCancelled {
			t.Errorf("%s of a cancelled campaign: %v", name, err)
		}
	}
	// A draft can't be cancelled (it is deleted instead) or paused.
	if _, err := se.sending.Cancel(ctx, 1, bare.ID, at); !errors.As(err, &se2) {
		t.Errorf("cancel of a draft: %v", err)
	}

	// A scheduled campaign whose segment was deleted is paused with the
	// reason when its time comes, not retried every minute.
	later := at.Add(time.Hour)
	gone := se.tagSegment(1, "gone", now0)
	d := campaigns.Draft{Name: "Orphan", Subject: "S", TemplateID: se.tpl, Audience: campaigns.Audience{Include: []int64{gone}},
		Schedule: campaigns.Schedule{Mode: campaigns.SendAt, SendAt: &later}}
	orphan, err := se.store.Create(ctx, 1, d)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := se.sending.Start(ctx, 1, orphan.ID, now0); err != nil {
		t.Fatal(err)
	}
	se.exec(`DELETE FROM segments WHERE id = $1`, gone)
	if n, err := se.sending.StartDue(ctx, later); err != nil || n != 0 {
		t.Fatalf("due orphan: started %d, %v", n, err)
	}
	c, _ = se.store.Get(ctx, 1, orphan.ID)
	if c.Status != campaigns.StatusPaused || c.PausedReason == "" {
		t.Fatalf("orphan: %s %q", c.Status, c.PausedReason)
	}
}

// Two clicks on Start at once: one starts the campaign, the other is told
// it is already sending; the audience is snapshotted once and the batch
// jobs enqueued once.
func TestConcurrentStartsOneWins(t *testing.T) {
	se := newSendEnv(t, 50)
	c := se.campaign(campaigns.Draft{})
	const n = 6
	errs := make(chan error, n)
	var wg sync.WaitGroup
	for i := 0; i < n; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, err := se.sending.Start(se.ctx, 1, c.ID, now0)
			errs <- err
		}()
	}
	wg.Wait()
	close(errs)
	won := 0
	for err := range errs {
		var st campaigns.StatusError
		switch {
		case err == nil:
			won++
		case errors.As(err, &st):
		default:
			t.Errorf("start: %v", err)
		}
	}
	if won != 1 {
		t.Fatalf("%d starts won, want 1", won)
	}
	if n := se.count(`SELECT count(*) FROM campaign_recipients WHERE campaign_id = $1`, c.ID); n != 50 {
		t.Fatalf("%d recipients, want 50", n)
	}
	if n := se.count(`SELECT count(*) FROM river_job WHERE kind = 'campaigns.send'`); n != campaigns.DefaultChains {
		t.Fatalf("%d batch jobs, want %d", n, campaigns.DefaultChains)
	}
}

// Four senders on one campaign at once: every reachable recipient gets
// exactly one ledger row, none is missed, the holdout gets none, and the
// variants carry their own subject. Then the progress figures add up.
func TestConcurrentSendersReserveEachOnce(t *testing.T) {
	se := newSendEnv(t, 3000)
	se.exec(`UPDATE customers SET email = NULL WHERE shop_id = 1 AND id IN (SELECT id FROM customers WHERE shop_id = 1 ORDER BY id LIMIT 7)`)
	c := se.campaign(campaigns.Draft{AB: campaigns.AB{
		Variants:    []campaigns.Variant{{Key: "A", Subject: "Subject A"}, {Key: "B", SenderName: "Team B"}},
		TestPercent: 20, WaitHours: 4, HoldoutPercent: 10}})
	if _, err := se.sending.Start(se.ctx, 1, c.ID, now0); err != nil {
		t.Fatal(err)
	}
	// The snapshot leaves out the 7 without an address; then they lose it
	// after the snapshot, for 5 others.
	se.exec(`UPDATE customers SET email = NULL WHERE shop_id = 1 AND id IN (
		SELECT customer_id FROM campaign_recipients WHERE campaign_id = $1 AND variant = '' ORDER BY position DESC LIMIT 5)`, c.ID)
	batches := se.drain(c.ID, 4)
	// The test's share has gone; the rest wait for the winner, due 4
	// hours after the start.
	if st := se.status(c.ID); st != campaigns.StatusSending {
		t.Fatalf("status %s before the winner is picked", st)
	}
	if n := se.count(`SELECT count(*) FROM email_messages WHERE campaign_id = $1 AND campaign_variant NOT IN ('A', 'B')`, c.ID); n != 0 {
		t.Fatalf("%d of the rest got an email before the winner was picked", n)
	}
	if r, err := se.sending.SendBatch(se.ctx, 1, c.ID); err != nil || r.Reserved != 0 || !r.Until.Equal(now0.Add(4*time.Hour)) {
		t.Fatalf("waiting for the winner: %+v %v", r, err)
	}
	se.clock.Set(now0.Add(4 * time.Hour))
	batches += se.drain(c.ID, 4)
	if st := se.status(c.ID); st != campaigns.StatusSent {
		t.Fatalf("status %s after draining", st)
	}
	se.checkOnce(c.ID)
	total := se.count(`SELECT count(*) FROM campaign_recipients WHERE campaign_id = $1`, c.ID)
	holdout := se.count(`SELECT count(*) FROM campaign_recipients WHERE campaign_id = $1 AND variant = 'holdout' AND status = 'skipped' AND reason = 'holdout'`, c.ID)
	noEmail := se.count(`SELECT count(*) FROM campaign_recipients WHERE campaign_id = $1 AND status = 'skipped' AND reason = 'no_email'`, c.ID)
	rows := se.count(`SELECT count(*) FROM email_messages WHERE campaign_id = $1`, c.ID)
	if total != 2993 || holdout != 299 || noEmail != 5 || rows != total-holdout-noEmail {
		t.Fatalf("%d recipients, %d holdout, %d without address, %d ledger rows", total, holdout, noEmail, rows)
	}
	if n := se.count(`SELECT count(*) FROM email_messages m JOIN campaign_recipients r ON r.message_id = m.id
		WHERE r.campaign_id = $1 AND r.variant = 'holdout'`, c.ID); n != 0 {
		t.Fatalf("%d holdout recipients got an email", n)
	}
	// Each variant's row carries its content; the rest the winner's: with
	// nothing delivered yet the variants tie, and the first (A) wins.
	if got, err := se.store.Get(se.ctx, 1, c.ID); err != nil || got.ABWinner != "A" || got.ABDecidedAt == nil || len(got.ABResults) != 2 {
		t.Fatalf("winner: %+v %v", got, err)
	}
	type want struct{ variant, subject, sender string }
	for _, w := range []want{{"A", "Subject A", ""}, {"B", "Campaign subject", "Team B"}, {"", "Subject A", ""}} {
		bad := se.count(`SELECT count(*) FROM email_messages m JOIN campaign_recipients r ON r.message_id = m.id
			WHERE r.campaign_id = $1 AND r.variant = $2 AND NOT (COALESCE(m.campaign_variant, '') = $2
				AND m.context->>'subject' = $3 AND COALESCE(m.context->>'sender_name', '') = $4 AND m.template_id = $5
				AND m.kind = 'campaign' AND m.marketing AND m.status = 'queued')`, c.ID, w.variant, w.subject, w.sender, se.tpl)
		if bad != 0 {
			t.Errorf("variant %q: %d rows without its content", w.variant, bad)
		}
	}
	// Every reserved row is in exactly one queued deliver job.
	if n := se.count(`SELECT count(*) FROM (SELECT id FROM (SELECT jsonb_array_elements_text(args->'message_ids') AS id
		FROM river_job WHERE kind = 'email.deliver') j GROUP BY id HAVING count(*) > 1) d`); n != 0 {
		t.Fatalf("%d messages queued for delivery twice", n)
	}
	if n := se.count(`SELECT count(*) FROM (SELECT jsonb_array_elements_text(args->'message_ids') FROM river_job WHERE kind = 'email.deliver') j`); n != rows {
		t.Fatalf("%d messages queued for delivery, want %d", n, rows)
	}
	t.Logf("%d recipients in %d batches", rows, batches)

	p, err := se.sending.Progress(se.ctx, 1, c.ID, now0)
	if err != nil {
		t.Fatal(err)
	}
	if p.Status != campaigns.StatusSent || p.Total != total || p.Pending != 0 || p.Reserved != rows || p.Queued != rows ||
		p.Skipped["holdout"] != holdout || p.Skipped["no_email"] != noEmail || p.Sent != 0 {
		t.Fatalf("progress %+v", p)
	}
}

// Pausing mid-send stops new batches as soon as Pause returns; resuming
// sends the rest, each recipient once. Cancelling stops the rest for good.
func TestPauseResumeCancel(t *testing.T) {
	se := newSendEnv(t, 2000)
	c := se.campaign(campaigns.Draft{})
	if _, err := se.sending.Start(se.ctx, 1, c.ID, now0); err != nil {
		t.Fatal(err)
	}
	// Three senders run; the first to see 300 reserved pauses the
	// campaign while the other two keep going.
	reserved := func() int {
		return se.count(`SELECT count(*) FROM email_messages WHERE campaign_id = $1`, c.ID)
	}
	var wg sync.WaitGroup
	var atPause int
	var once sync.Once
	for w := 0; w < 3; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				r, err := se.sending.SendBatch(se.ctx, 1, c.ID)
				if err != nil {
					t.Error(err)
					return
				}
				if r.Stopped != "" || r.Finished {
					return
				}
				if reserved() >= 300 {
					once.Do(func() {
						if _, err := se.sending.Pause(se.ctx, 1, c.ID, ""); err != nil {
							t.Error(err)
						}
						atPause = reserved()
					})
				}
			}
		}()
	}
	wg.Wait()
	if atPause >= 2000 || atPause < 300 {
		t.Fatalf("paused at %d of 2000", atPause)
	}
	if r, err := se.sending.SendBatch(se.ctx, 1, c.ID); err != nil || r.Stopped != campaigns.StatusPaused || r.Reserved != 0 {
		t.Fatalf("a batch of a paused campaign: %+v %v", r, err)
	}
	if n := reserved(); n != atPause {
		t.Fatalf("%d ledger rows after the pause returned with %d", n, atPause)
	}
	se.checkOnceSoFar(c.ID)

	if _, err := se.sending.Resume(se.ctx, 1, c.ID, now0); err != nil {
		t.Fatal(err)
	}
	se.drain(c.ID, 3)
	se.checkOnce(c.ID)
	if n := reserved(); n != 2000 {
		t.Fatalf("%d ledger rows after resuming, want 2000", n)
	}

	// Cancel: a second campaign, one batch in.
	c2 := se.campaign(campaigns.Draft{Name: "Second"})
	if _, err := se.sending.Start(se.ctx, 1, c2.ID, now0); err != nil {
		t.Fatal(err)
	}
	if r, err := se.sending.SendBatch(se.ctx, 1, c2.ID); err != nil || r.Reserved != 100 {
		t.Fatalf("first batch: %+v %v", r, err)
	}
	// One of its emails already went.
	var first int64
	if err := se.db.Get(&first, `SELECT min(id) FROM email_messages WHERE campaign_id = $1`, c2.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := se.sender.Deliver(se.ctx, 1, []int64{first}); err != nil {
		t.Fatal(err)
	}
	if _, err := se.sending.Cancel(se.ctx, 1, c2.ID, now0); err != nil {
		t.Fatal(err)
	}
	if r, err := se.sending.SendBatch(se.ctx, 1, c2.ID); err != nil || r.Stopped != campaigns.StatusCancelled {
		t.Fatalf("a batch of a cancelled campaign: %+v %v", r, err)
	}
	p, err := se.sending.Progress(se.ctx, 1, c2.ID, now0)
	if err != nil {
		t.Fatal(err)
	}
	if p.Sent != 1 || p.Skipped["campaign_cancelled"] != 99 || p.Skipped["cancelled"] != 1900 || p.Pending != 0 || p.Queued != 0 {
		t.Fatalf("after cancel: %+v", p)
	}
	// The queued deliveries of the cancelled campaign send nothing more.
	var ids []int64
	if err := se.db.Select(&ids, `SELECT id FROM email_messages WHERE campaign_id = $1`, c2.ID); err != nil {
		t.Fatal(err)
	}
	res, err := se.sender.Deliver(se.ctx, 1, ids)
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range res {
		if r.Outcome == sender.OutcomeSent {
			t.Fatalf("message %d of a cancelled campaign was sent", r.MessageID)
		}
	}
}

// checkOnceSoFar is checkOnce for a campaign still under way: every
// recipient marked sent names its one ledger row, and no ledger row lacks
// its recipient.
func (se *sendEnv) checkOnceSoFar(id int64) {
	se.t.Helper()
	rows := se.count(`SELECT count(*) FROM email_messages WHERE campaign_id = $1`, id)
	sent := se.count(`SELECT count(*) FROM campaign_recipients r JOIN email_messages m ON m.id = r.message_id
		AND m.customer_id = r.customer_id WHERE r.campaign_id = $1 AND r.status = 'sent'`, id)
	if rows != sent {
		se.t.Fatalf("%d ledger rows, %d recipients marked sent with theirs", rows, sent)
	}
}

// The shop's rate holds across batches: with 100 a second, a batch is 100
// recipients and the next waits until the bucket has refilled.
func TestSendingRate(t *testing.T) {
	se := newSendEnv(t, 500)
	se.exec(`UPDATE shops SET send_rate_per_second = 100 WHERE id = 1`)
	c := se.campaign(campaigns.Draft{})
	if _, err := se.sending.Start(se.ctx, 1, c.ID, now0); err != nil {
		t.Fatal(err)
	}
	other := &campaigns.Sending{Store: se.store, Limiter: ratelimit.New(se.db, se.clock.Now), Now: se.clock.Now, BatchSize: 500, Jobs: se.jc}
	r, err := se.sending.SendBatch(se.ctx, 1, c.ID)
	if err != nil || r.Reserved != 100 {
		t.Fatalf("first batch: %+v %v", r, err)
	}
	// Another process (its own limiter) sees the same bucket.
	r, err = other.SendBatch(se.ctx, 1, c.ID)
	if err != nil || r.Reserved != 0 || r.Wait <= 0 || r.Wait > time.Second {
		t.Fatalf("second batch in the same second: %+v %v", r, err)
	}
	se.clock.Set(now0.Add(500 * time.Millisecond))
	if r, _ = other.SendBatch(se.ctx, 1, c.ID); r.Reserved != 0 || r.Wait <= 0 {
		t.Fatalf("half a second later: %+v", r)
	}
	// The job snoozes for what the bucket needs, without using an attempt.
	w := &campaigns.SendWorker{S: other}
	err = w.Work(se.ctx, &river.Job[campaigns.SendArgs]{JobRow: &rivertype.JobRow{}, Args: campaigns.SendArgs{ShopID: 1, CampaignID: c.ID}})
	var snooze *rivertype.JobSnoozeError
	if !errors.As(err, &snooze) || snooze.Duration <= 0 || snooze.Duration > 500*time.Millisecond {
		t.Fatalf("the job with the rate used up: %v", err)
	}
	se.clock.Set(now0.Add(time.Second))
	if r, err = other.SendBatch(se.ctx, 1, c.ID); err != nil || r.Reserved != 100 {
		t.Fatalf("a second later: %+v %v", r, err)
	}
}

// The daily limit: today's remaining (after what the shop already sent
// today) goes out, the rest waits for the start of the shop's next day
// (New York), then goes.
func TestDailyLimitCarriesOver(t *testing.T) {
	se := newSendEnv(t, 600)
	se.exec(`UPDATE shops SET daily_send_limit = 250 WHERE id = 1`)
	// 30 marketing emails already sent today, 10 yesterday (don't count),
	// 5 transactional (don't count).
	se.exec(`INSERT INTO email_messages (shop_id, to_email, kind, dedupe_key, marketing, status, sent_at)
		SELECT 1, 'x@example.com', 'flow', 'old:' || g, g <= 40, 'sent',
			CASE WHEN g <= 30 OR g > 40 THEN $1::timestamptz ELSE $1::timestamptz - interval '1 day' END
		FROM generate_series(1, 45) g`, now0.Add(-time.Hour))
	c := se.campaign(campaigns.Draft{})
	if _, err := se.sending.Start(se.ctx, 1, c.ID, now0); err != nil {
		t.Fatal(err)
	}
	se.drain(c.ID, 3)
	reserved := se.count(`SELECT count(*) FROM email_messages WHERE campaign_id = $1`, c.ID)
	if reserved != 220 {
		t.Fatalf("%d reserved today, want 250 - 30", reserved)
	}
	r, err := se.sending.SendBatch(se.ctx, 1, c.ID)
	ny, _ := time.LoadLocation("America/New_York")
	midnight := time.Date(2026, 6, 16, 0, 0, 0, 0, ny)
	if err != nil || r.Reserved != 0 || !r.Until.Equal(midnight) {
		t.Fatalf("over the limit: %+v %v, want until %v", r, err, midnight)
	}
	// The deliveries go out today.
	se.exec(`UPDATE email_messages SET status = 'sent', sent_at = $2 WHERE campaign_id = $1`, c.ID, now0)
	// Still today, a minute before midnight: nothing.
	se.clock.Set(midnight.Add(-time.Minute))
	if r, _ = se.sending.SendBatch(se.ctx, 1, c.ID); r.Reserved != 0 || r.Until.IsZero() {
		t.Fatalf("a minute before midnight: %+v", r)
	}
	// The next day: 250 more.
	se.clock.Set(midnight.Add(time.Minute))
	se.drain(c.ID, 3)
	if n := se.count(`SELECT count(*) FROM email_messages WHERE campaign_id = $1`, c.ID); n != 470 {
		t.Fatalf("%d reserved after the second day, want 470", n)
	}
	se.exec(`UPDATE email_messages SET status = 'sent', sent_at = $2 WHERE campaign_id = $1 AND status = 'queued'`, c.ID, midnight.Add(time.Minute))
	se.clock.Set(midnight.Add(25 * time.Hour))
	se.drain(c.ID, 3)
	se.checkOnce(c.ID)
	if st := se.status(c.ID); st != campaigns.StatusSent {
		t.Fatalf("status %s on the third day", st)
	}
}

// Delivered emails carry the campaign's (or variant's) subject, preheader
// and sender name over the template's.
func TestDeliveredContent(t *testing.T) {
	se := newSendEnv(t, 40)
	c := se.campaign(campaigns.Draft{Subject: "Sale for {{ first_name }}", Preheader: "Ends Sunday", SenderName: "Sale Team",
		AB: campaigns.AB{Variants: []campaigns.Variant{{Key: "A", Subject: "Variant A"}, {Key: "B"}}, TestPercent: 100, WaitHours: 1}})
	if _, err := se.sending.Start(se.ctx, 1, c.ID, now0); err != nil {
		t.Fatal(err)
	}
	se.drain(c.ID, 1)
	var ids []int64
	if err := se.db.Select(&ids, `SELECT id FROM email_messages WHERE campaign_id = $1`, c.ID); err != nil {
		t.Fatal(err)
	}
	// Half delivered: the progress shows the rate and the time left.
	half, err := se.sender.Deliver(se.ctx, 1, ids[:20])
	if err != nil {
		t.Fatal(err)
	}
	p, err := se.sending.Progress(se.ctx, 1, c.ID, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	if p.Total != 40 || p.Reserved != 40 || p.Sent != 20 || p.Queued != 20 || p.PerMinute != 20 || p.ETA != time.Minute {
		t.Fatalf("half way: %+v", p)
	}
	res, err := se.sender.Deliver(se.ctx, 1, ids[20:])
	if err != nil {
		t.Fatal(err)
	}
	res = append(half, res...)
	for _, r := range res {
		if r.Outcome != sender.OutcomeSent {
			t.Fatalf("message %d: %+v", r.MessageID, r)
		}
	}
	var got []struct {
		Variant string `db:"variant"`
		First   string `db:"first_name"`
		Subject string `db:"subject"`
		From    string `db:"from_email"`
		HTML    string `db:"html"`
	}
	if err := se.db.Select(&got, `SELECT r.variant, c.first_name, o.subject, o.headers->>'From' AS from_email, o.html
		FROM outbox_messages o JOIN email_messages m ON m.id = o.message_id
		JOIN campaign_recipients r ON r.message_id = m.id JOIN customers c ON c.id = r.customer_id
		WHERE r.campaign_id = $1`, c.ID); err != nil {
		t.Fatal(err)
	}
	if len(got) != 40 {
		t.Fatalf("%d emails in the outbox, want 40", len(got))
	}
	for _, g := range got {
		want := "Sale for " + g.First
		if g.Variant == "A" {
			want = "Variant A"
		}
		if g.Subject != want || !strings.Contains(g.From, "Sale Team") || !strings.Contains(g.HTML, "Ends Sunday") {
			t.Fatalf("variant %q: subject %q from %q, want %q from Sale Team with the campaign's preheader", g.Variant, g.Subject, g.From, want)
		}
	}
	if n := se.count(`SELECT count(*) FROM email_messages WHERE campaign_id = $1 AND status = $2`, c.ID, ledger.Sent); n != 40 {
		t.Fatalf("%d sent", n)
	}
}
