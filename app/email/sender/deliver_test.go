package sender_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/riverqueue/river"

	"github.com/cartwheel/cartwheel/app/email"
	"github.com/cartwheel/cartwheel/app/email/compose"
	"github.com/cartwheel/cartwheel/app/email/internal/emailtest"
	"github.com/cartwheel/cartwheel/app/email/ledger"
	"github.com/cartwheel/cartwheel/app/email/render"
	"github.com/cartwheel/cartwheel/app/email/sender"
	"github.com/cartwheel/cartwheel/app/jobs"
	"github.com/cartwheel/cartwheel/app/shops"
)

// countingShops counts what the sender reads about shops.
type countingShops struct {
	sender.ShopSource
	byID, settings atomic.Int64
}

func (c *countingShops) ByID(ctx context.Context, id int64) (shops.Shop, error) {
	c.byID.Add(1)
	return c.ShopSource.ByID(ctx, id)
}

func (c *countingShops) Settings(ctx context.Context, id int64) (shops.Settings, error) {
	c.settings.Add(1)
	return c.ShopSource.Settings(ctx, id)
}

// countingTemplates counts template loads.
type countingTemplates struct {
	compose.TemplateSource
	gets atomic.Int64
}

func (c *countingTemplates) Get(ctx context.Context, shopID, id int64) (render.Saved, error) {
	c.gets.Add(1)
	return c.TemplateSource.Get(ctx, shopID, id)
}

// deliverEnv is env with the counters and a template to compose from.
type deliverEnv struct {
	*env
	shops     *countingShops
	templates *countingTemplates
	verified  atomic.Int64
	unverify  atomic.Bool
	tpl       int64
}

func setupDeliver(t testing.TB) *deliverEnv {
	t.Helper()
	e := setup(t, nil)
	de := &deliverEnv{env: e}
	de.shops = &countingShops{ShopSource: shops.NewStore(e.db, nil)}
	de.templates = &countingTemplates{TemplateSource: render.NewStore(e.db)}
	verifier := sender.VerifierFunc(func(context.Context, int64) (bool, error) {
		de.verified.Add(1)
		return !de.unverify.Load(), nil
	})
	s, err := sender.New(sender.Deps{DB: e.db, Shops: de.shops, Provider: e.prov, Tracker: sender.NoTracking{}, Verifier: verifier,
		Templates: de.templates, Products: render.NewProductSource(e.db)}, sender.Options{})
	if err != nil {
		t.Fatal(err)
	}
	e.s = s
	e.db.MustExec(`UPDATE shops SET postal_address = '1 Harbour Road, Dublin', marketing_cap_hours = 0 WHERE id = $1`, e.shop)
	de.tpl, err = render.NewStore(e.db).Save(context.Background(), e.shop, 0, "", render.Template{
		Name: "Cart reminder", Locale: render.LocaleEN, Subject: "{{ first_name | default: \"Hi\" }}, your cart is waiting",
		Blocks: []render.Block{
			{Type: render.BlockHeading, Text: "Hello {{ first_name }} {{ last_name }}"},
			{Type: render.BlockProducts, Source: render.SourceCart, Count: 3, Text: "Your cart"},
			{Type: render.BlockDiscount, Text: "Your code"},
			{Type: render.BlockButton, Text: "Back to my cart", URL: "{{ cart_url }}"},
			{Type: render.BlockFooter},
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	return de
}

// reserveFlow reserves step "email-1" of run for the customer, composed
// from the environment's template.
func (de *deliverEnv) reserveFlow(t testing.TB, q ledger.Querier, cust int64, to string, run int64, cx ledger.Context) int64 {
	t.Helper()
	id, _, err := ledger.Reserve(context.Background(), q, ledger.Reservation{ShopID: de.shop, CustomerID: cust, To: to,
		Kind: ledger.KindFlow, Marketing: true, Context: cx,
		Source: ledger.Source{FlowID: 2, FlowVersion: 1, FlowRunID: run, FlowStep: "email-1", TemplateID: de.tpl}})
	if err != nil {
		t.Fatal(err)
	}
	return id
}

func named(t testing.TB, de *deliverEnv, first, last, address string) int64 {
	t.Helper()
	c := emailtest.Customer(t, de.db, de.shop, address, "subscribed")
	de.db.MustExec(`UPDATE customers SET first_name = $2, last_name = $3 WHERE id = $1`, c, first, last)
	return c
}

// A batch reads the shop, its settings and the sender verification once,
// loads its one template once, and sends every message.
func TestDeliverReadsShopOncePerBatch(t *testing.T) {
	de := setupDeliver(t)
	const n = 30
	var ids []int64
	for i := 0; i < n; i++ {
		addr := fmt.Sprintf("c%d@example.com", i)
		c := named(t, de, fmt.Sprintf("Name%d", i), "Doe", addr)
		ids = append(ids, de.reserveFlow(t, de.db, c, addr, int64(100+i), nil))
	}
	res, err := de.s.Deliver(context.Background(), de.shop, ids)
	if err != nil {
		t.Fatal(err)
	}
	sent := 0
	for _, r := range res {
		if r.Outcome == sender.OutcomeSent {
			sent++
		}
	}
	if sent != n || de.prov.calls.Load() != n || len(de.fake.Received()) != n {
		t.Fatalf("sent %d, provider calls %d, received %d; want %d", sent, de.prov.calls.Load(), len(de.fake.Received()), n)
	}
	if de.shops.byID.Load() != 1 || de.shops.settings.Load() != 1 || de.verified.Load() != 1 || de.templates.gets.Load() != 1 {
		t.Errorf("per batch: shop read %d, settings %d, verification %d, template loads %d; want 1 each",
			de.shops.byID.Load(), de.shops.settings.Load(), de.verified.Load(), de.templates.gets.Load())
	}
	// Every recipient got their own email.
	seen := map[string]bool{}
	for _, r := range de.fake.Received() {
		to := r.Mail.Personalizations[0].To[0].Email
		i := strings.TrimSuffix(strings.TrimPrefix(to, "c"), "@example.com")
		if !strings.Contains(r.ContentOf("text/html"), "Hello Name"+i+" Doe") || seen[to] {
			t.Errorf("email to %s (seen before: %v) doesn't greet Name%s", to, seen[to], i)
		}
		seen[to] = true
	}
}

// The email is composed when it is sent: a name and an address changed
// after the message was queued show in it; the context's discount code and
// checkout are used; the ledger keeps the subject that went out.
func TestDeliverComposesAtSendTime(t *testing.T) {
	de := setupDeliver(t)
	ctx := context.Background()
	ada := named(t, de, "Ada", "Lovelace", "ada@example.com")
	de.db.MustExec(`INSERT INTO checkouts (shop_id, token, kind, customer_id, recovery_url, shopify_updated_at) VALUES
		($1, 'tok-old', 'checkout', $2, 'https://shop.example/recover/old', now() - interval '1 day'),
		($1, 'tok-new', 'checkout', $2, 'https://shop.example/recover/new', now())`, de.shop, ada)
	id := de.reserveFlow(t, de.db, ada, "ada@example.com", 7, ledger.Context{
		ledger.ContextDiscountCode: "ADA-10-OFF", ledger.ContextCheckoutToken: "tok-old"})

	// After it was queued, the customer changed their name and address.
	de.db.MustExec(`UPDATE customers SET first_name = 'Adeline', email = 'adeline@example.com' WHERE id = $1`, ada)

	res, err := de.s.Deliver(ctx, de.shop, []int64{id})
	if err != nil || len(res) != 1 || res[0].Outcome != sender.OutcomeSent {
		t.Fatalf("%+v %v", res, err)
	}
	got := de.fake.Received()
	if len(got) != 1 {
		t.Fatalf("received %d", len(got))
	}
	html := got[0].ContentOf("text/html")
	p := got[0].Mail.Personalizations[0]
	subject := p.Subject
	if subject == "" {
		subject = got[0].Mail.Subject
	}
	if subject != "Adeline, your cart is waiting" || !strings.Contains(html, "Hello Adeline Lovelace") {
		t.Errorf("subject %q; html greets the old name: %v", subject, !strings.Contains(html, "Adeline"))
	}
	if p.To[0].Email != "adeline@example.com" || p.To[0].Name != "Adeline Lovelace" {
		t.Errorf("sent to %+v, want the current address", p.To[0])
	}
	if !strings.Contains(html, "ADA-10-OFF") || !strings.Contains(html, "https://shop.example/recover/old") || strings.Contains(html, "recover/new") {
		t.Errorf("the context's code and checkout are not in the email")
	}
	m, _ := ledger.Get(ctx, de.db, de.shop, id)
	if m.Subject != "Adeline, your cart is waiting" || m.To != "adeline@example.com" || m.Status != ledger.Sent {
		t.Errorf("ledger row: subject %q to %q status %s", m.Subject, m.To, m.Status)
	}
}

// Nothing in river_job names the recipients: a deliver job holds the shop
// and message ids, nothing else.
func TestRiverJobHoldsNoPersonalData(t *testing.T) {
	de := setupDeliver(t)
	ctx := context.Background()
	workers := river.NewWorkers()
	river.AddWorker(workers, sender.NewDeliverWorker(de.s))
	jc, err := jobs.New(de.db.DB, workers, jobs.Options{Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		t.Fatal(err)
	}
	people := [][3]string{{"Grace", "Hopper", "grace.hopper@navy.example"}, {"Katherine", "Johnson", "kj@nasa.example"}}
	tx, err := de.db.BeginTxx(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	var ids []int64
	for i, p := range people {
		c := named(t, de, p[0], p[1], p[2])
		ids = append(ids, de.reserveFlow(t, tx, c, p[2], int64(i+1), ledger.Context{ledger.ContextDiscountCode: "X"}))
	}
	if err := sender.EnqueueDeliver(ctx, tx.Tx, jc, de.shop, ids...); err != nil {
		t.Fatal(err)
	}
	if err := tx.Commit(); err != nil {
		t.Fatal(err)
	}
	var rows []struct {
		Kind  string `db:"kind"`
		Queue string `db:"queue"`
		Args  string `db:"args"`
	}
	if err := de.db.Select(&rows, `SELECT kind, queue, args::text AS args FROM river_job`); err != nil {
		t.Fatal(err)
	}
	if len(rows) != 1 || rows[0].Kind != "email.deliver" || rows[0].Queue != jobs.QueueEmail {
		t.Fatalf("jobs %+v", rows)
	}
	lower := strings.ToLower(rows[0].Args)
	for _, p := range people {
		for _, v := range p {
			if strings.Contains(lower, strings.ToLower(v)) {
				t.Errorf("river_job args hold %q: %s", v, rows[0].Args)
			}
		}
	}
	if strings.ContainsAny(rows[0].Args, "<@") {
		t.Errorf("river_job args hold HTML or an address: %s", rows[0].Args)
	}
	var args map[string]any
	json.Unmarshal([]byte(rows[0].Args), &args)
	if len(args) != 2 || args["shop_id"] == nil || args["message_ids"] == nil {
		t.Errorf("args %s: want only shop_id and message_ids", rows[0].Args)
	}
}

// EnqueueDeliver splits large sends into jobs of MaxBatch messages.
func TestEnqueueDeliverBatches(t *testing.T) {
	de := setupDeliver(t)
	ctx := context.Background()
	workers := river.NewWorkers()
	river.AddWorker(workers, sender.NewDeliverWorker(de.s))
	jc, err := jobs.New(de.db.DB, workers, jobs.Options{Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		t.Fatal(err)
	}
	ids := make([]int64, sender.MaxBatch*2+5)
	for i := range ids {
		ids[i] = int64(i + 1)
	}
	tx, _ := de.db.BeginTx(ctx, nil)
	if err := sender.EnqueueDeliver(ctx, tx, jc, de.shop, ids...); err != nil {
		t.Fatal(err)
	}
	tx.Commit()
	var sizes []int
	de.db.Select(&sizes, `SELECT jsonb_array_length(args->'message_ids') FROM river_job ORDER BY id`)
	if fmt.Sprint(sizes) != fmt.Sprintf("[%d %d 5]", sender.MaxBatch, sender.MaxBatch) {
		t.Errorf("batches %v", sizes)
	}
}

// blockArgs stands in for a long import on the default queue.
type blockArgs struct{}

func (blockArgs) Kind() string { return "test.block" }

type blockWorker struct {
	river.WorkerDefaults[blockArgs]
	running chan struct{}
	release chan struct{}
}

func (w *blockWorker) Work(ctx context.Context, _ *river.Job[blockArgs]) error {
	w.running <- struct{}{}
	select {
	case <-w.release:
	case <-ctx.Done():
	}
	return nil
}

// Deliveries have their own queue and workers: with every default-queue
// worker busy on a long job, a deliver job still runs.
func TestDeliverQueueIsSeparate(t *testing.T) {
	if q := (sender.DeliverArgs{}).InsertOpts().Queue; q != jobs.QueueEmail || q == river.QueueDefault {
		t.Fatalf("deliver jobs go to queue %q", q)
	}
	qs := jobs.Queues(jobs.Options{MaxWorkers: 1})
	if qs[jobs.QueueEmail].MaxWorkers < 1 || qs[river.QueueDefault].MaxWorkers != 1 {
		t.Fatalf("queues %+v: the email queue needs its own workers", qs)
	}

	de := setupDeliver(t)
	ctx := context.Background()
	bw := &blockWorker{running: make(chan struct{}, 1), release: make(chan struct{})}
	workers := river.NewWorkers()
	river.AddWorker(workers, sender.NewDeliverWorker(de.s))
	river.AddWorker(workers, bw)
	jc, err := jobs.New(de.db.DB, workers, jobs.Options{MaxWorkers: 1, PollInterval: 20 * time.Millisecond,
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		t.Fatal(err)
	}
	if err := jc.Start(ctx); err != nil {
		t.Fatal(err)
	}
	defer func() {
		close(bw.release)
		stop, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		jc.Stop(stop)
	}()
	if _, err := jc.Insert(ctx, blockArgs{}, nil); err != nil {
		t.Fatal(err)
	}
	<-bw.running // the only default-queue worker is now taken

	ada := named(t, de, "Ada", "Lovelace", "ada@example.com")
	tx, _ := de.db.BeginTxx(ctx, nil)
	id := de.reserveFlow(t, tx, ada, "ada@example.com", 1, nil)
	if err := sender.EnqueueDeliver(ctx, tx.Tx, jc, de.shop, id); err != nil {
		t.Fatal(err)
	}
	tx.Commit()
	waitStatus(t, de, id, ledger.Sent)
}

// waitStatus waits for the row to reach status (bounded, so a broken
// queue fails the test instead of hanging it).
func waitStatus(t *testing.T, de *deliverEnv, id int64, status string) {
	t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for {
		m, err := ledger.Get(context.Background(), de.db, de.shop, id)
		if err == nil && m.Status == status {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("message %d is %q, never reached %q", id, m.Status, status)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// A row left in sending by a worker that died is never resent by a later
// batch: fresh, it is left to its worker; stale, it is failed. Only the
// queued row goes out, and rows already sent are duplicates.
func TestDeliverNeverResendsInterrupted(t *testing.T) {
	de := setupDeliver(t)
	ctx := context.Background()
	var ids []int64
	for i := 0; i < 4; i++ {
		addr := fmt.Sprintf("k%d@example.com", i)
		ids = append(ids, de.reserveFlow(t, de.db, named(t, de, "K", "", addr), addr, int64(i+1), nil))
	}
	de.db.MustExec(`UPDATE email_messages SET status = 'sending', sending_at = now() WHERE id = $1`, ids[0])
	de.db.MustExec(`UPDATE email_messages SET status = 'sending', sending_at = now() - interval '1 hour' WHERE id = $1`, ids[1])
	de.db.MustExec(`UPDATE email_messages SET status = 'sent', sent_at = now() WHERE id = $1`, ids[2])

	res, err := de.s.Deliver(ctx, de.shop, ids)
	if err != nil {
		t.Fatal(err)
	}
	outcomes := map[int64]string{}
	for _, r := range res {
		outcomes[r.MessageID] = r.Outcome
	}
	want := map[int64]string{ids[0]: sender.OutcomeInProgress, ids[1]: sender.OutcomeFailed, ids[2]: sender.OutcomeDuplicate, ids[3]: sender.OutcomeSent}
	if fmt.Sprint(outcomes) != fmt.Sprint(want) || de.prov.calls.Load() != 1 {
		t.Fatalf("outcomes %v, want %v; provider calls %d", outcomes, want, de.prov.calls.Load())
	}
	m, _ := ledger.Get(ctx, de.db, de.shop, ids[1])
	if m.Status != ledger.Failed || m.LastError != ledger.InterruptedReason {
		t.Errorf("stale row %s %q", m.Status, m.LastError)
	}
	// The retry of the same job sends nothing more.
	if _, err := de.s.Deliver(ctx, de.shop, ids); err != nil || de.prov.calls.Load() != 1 {
		t.Errorf("retry: %v, provider calls %d", err, de.prov.calls.Load())
	}
}

// Deliver jobs racing over the same rows send each once.
func TestConcurrentDeliverSendsEachOnce(t *testing.T) {
	de := setupDeliver(t)
	de.prov.delay = 5 * time.Millisecond
	const n, workers = 15, 6
	var ids []int64
	for i := 0; i < n; i++ {
		addr := fmt.Sprintf("r%d@example.com", i)
		ids = append(ids, de.reserveFlow(t, de.db, named(t, de, "R", "", addr), addr, int64(i+1), nil))
	}
	var wg sync.WaitGroup
	for w := 0; w < workers; w++ {
		wg.Add(1)
		go func(w int) {
			defer wg.Done()
			batch := append([]int64(nil), ids...)
			if w%2 == 1 { // reversed, to cross the others
				for i, j := 0, len(batch)-1; i < j; i, j = i+1, j-1 {
					batch[i], batch[j] = batch[j], batch[i]
				}
			}
			if _, err := de.s.Deliver(context.Background(), de.shop, batch); err != nil {
				t.Error(err)
			}
		}(w)
	}
	wg.Wait()
	var sent int
	de.db.Get(&sent, `SELECT count(*) FROM email_messages WHERE shop_id = $1 AND status = 'sent'`, de.shop)
	if de.prov.calls.Load() != n || len(de.fake.Received()) != n || sent != n {
		t.Errorf("provider calls %d, received %d, sent rows %d; want %d", de.prov.calls.Load(), len(de.fake.Received()), sent, n)
	}
}

// Shop-wide reasons skip the whole batch without a provider call; the
// per-recipient ones skip only their message; a message whose template is
// gone fails; the rest of the batch goes.
func TestDeliverSkips(t *testing.T) {
	ctx := context.Background()
	t.Run("unverified sender", func(t *testing.T) {
		de := setupDeliver(t)
		de.unverify.Store(true)
		a := de.reserveFlow(t, de.db, named(t, de, "A", "", "a@example.com"), "a@example.com", 1, nil)
		b := de.reserveFlow(t, de.db, named(t, de, "B", "", "b@example.com"), "b@example.com", 2, nil)
		res, err := de.s.Deliver(ctx, de.shop, []int64{a, b})
		if err != nil || len(res) != 2 || res[0].SkipReason != sender.SkipSenderUnverified || res[1].SkipReason != sender.SkipSenderUnverified || de.prov.calls.Load() != 0 {
			t.Fatalf("%+v %v, provider calls %d", res, err, de.prov.calls.Load())
		}
	})
	t.Run("no postal address", func(t *testing.T) {
		de := setupDeliver(t)
		de.db.MustExec(`UPDATE shops SET postal_address = '' WHERE id = $1`, de.shop)
		a := de.reserveFlow(t, de.db, named(t, de, "A", "", "a@example.com"), "a@example.com", 1, nil)
		res, err := de.s.Deliver(ctx, de.shop, []int64{a})
		if err != nil || len(res) != 1 || res[0].SkipReason != sender.SkipNoPostalAddress || de.prov.calls.Load() != 0 {
			t.Fatalf("%+v %v", res, err)
		}
	})
	t.Run("per recipient", func(t *testing.T) {
		de := setupDeliver(t)
		ok := de.reserveFlow(t, de.db, named(t, de, "Ok", "", "ok@example.com"), "ok@example.com", 1, nil)
		gone := named(t, de, "Gone", "", "gone@example.com")
		redacted := de.reserveFlow(t, de.db, gone, "gone@example.com", 2, nil)
		// customers/redact after the row was queued: the ledger forgets them.
		de.db.MustExec(`UPDATE email_messages SET to_email = '', customer_id = NULL WHERE id = $1`, redacted)
		de.db.MustExec(`DELETE FROM customers WHERE id = $1`, gone)
		sup := named(t, de, "Sup", "", "sup@example.com")
		suppressed := de.reserveFlow(t, de.db, sup, "sup@example.com", 3, nil)
		de.db.MustExec(`INSERT INTO suppressions (shop_id, email, reason) VALUES ($1, 'sup@example.com', 'bounced')`, de.shop)
		unsub := named(t, de, "Un", "", "un@example.com")
		unsubscribed := de.reserveFlow(t, de.db, unsub, "un@example.com", 4, nil)
		de.db.MustExec(`UPDATE customers SET email_consent = 'unsubscribed' WHERE id = $1`, unsub)
		deleted := de.reserveFlow(t, de.db, named(t, de, "Del", "", "del@example.com"), "del@example.com", 5, nil)
		de.db.MustExec(`UPDATE customers SET deleted_at = now() WHERE email = 'del@example.com'`)
		noTpl, _, err := ledger.Reserve(ctx, de.db, ledger.Reservation{ShopID: de.shop, CustomerID: named(t, de, "T", "", "t@example.com"),
			To: "t@example.com", Kind: ledger.KindFlow, Marketing: true,
			Source: ledger.Source{FlowRunID: 6, FlowStep: "x", TemplateID: de.tpl + 1000}})
		if err != nil {
			t.Fatal(err)
		}
		res, err := de.s.Deliver(ctx, de.shop, []int64{ok, redacted, suppressed, unsubscribed, deleted, noTpl})
		if err != nil {
			t.Fatal(err)
		}
		got := map[int64]string{}
		for _, r := range res {
			got[r.MessageID] = r.Outcome + "/" + r.SkipReason
		}
		want := map[int64]string{
			ok: "sent/", redacted: "skipped/" + sender.SkipCustomerDeleted, suppressed: "skipped/" + sender.SkipSuppressed,
			unsubscribed: "skipped/" + sender.SkipNotConsented, deleted: "skipped/" + sender.SkipCustomerDeleted, noTpl: "failed/",
		}
		if fmt.Sprint(got) != fmt.Sprint(want) || de.prov.calls.Load() != 1 {
			t.Errorf("outcomes %v\nwant     %v\nprovider calls %d", got, want, de.prov.calls.Load())
		}
		m, _ := ledger.Get(ctx, de.db, de.shop, noTpl)
		if m.Status != ledger.Failed || !strings.Contains(m.LastError, "no longer exists") {
			t.Errorf("missing template: %s %q", m.Status, m.LastError)
		}
	})
}

// A provider that says "later" ends the batch with the error (the job
// retries) and leaves its row queued; the retry sends everything once.
func TestDeliverRetryableProviderError(t *testing.T) {
	de := setupDeliver(t)
	ctx := context.Background()
	var ids []int64
	for i := 0; i < 3; i++ {
		addr := fmt.Sprintf("p%d@example.com", i)
		ids = append(ids, de.reserveFlow(t, de.db, named(t, de, "P", "", addr), addr, int64(i+1), nil))
	}
	de.fake.FailNext(3, 503) // the provider's own attempts for the first message
	res, err := de.s.Deliver(ctx, de.shop, ids)
	if err == nil || len(res) != 1 || res[0].Outcome != sender.OutcomeRetry {
		t.Fatalf("%+v %v", res, err)
	}
	var queued int
	de.db.Get(&queued, `SELECT count(*) FROM email_messages WHERE shop_id = $1 AND status = 'queued'`, de.shop)
	if queued != 3 {
		t.Fatalf("%d rows queued after the failure, want 3", queued)
	}
	if _, err := de.s.Deliver(ctx, de.shop, ids); err != nil {
		t.Fatal(err)
	}
	var sent int
	de.db.Get(&sent, `SELECT count(*) FROM email_messages WHERE shop_id = $1 AND status = 'sent'`, de.shop)
	if sent != 3 || len(de.fake.Received()) != 3 {
		t.Errorf("sent %d, received %d", sent, len(de.fake.Received()))
	}
}

// eraseOnDecorate erases the customer (as customers/redact does) at the
// point between reading the profile and claiming the row.
type eraseOnDecorate struct {
	sender.NoTracking
	de   *deliverEnv
	cust int64
}

func (e eraseOnDecorate) Decorate(shopID, id int64, html, text string, marketing bool) (email.Decorated, error) {
	e.de.db.MustExec(`UPDATE email_messages SET to_email = '', customer_id = NULL, subject = '', context = '{}' WHERE id = $1`, id)
	e.de.db.MustExec(`DELETE FROM customers WHERE id = $1`, e.cust)
	return e.NoTracking.Decorate(shopID, id, html, text, marketing)
}

// A redaction that lands while the message is being composed wins: the
// message is skipped, and the address and subject are not written back.
func TestDeliverRedactedWhileComposing(t *testing.T) {
	de := setupDeliver(t)
	ctx := context.Background()
	ada := named(t, de, "Ada", "Lovelace", "ada@example.com")
	id := de.reserveFlow(t, de.db, ada, "ada@example.com", 1, nil)
	s, err := sender.New(sender.Deps{DB: de.db, Shops: de.shops, Provider: de.prov, Tracker: eraseOnDecorate{de: de, cust: ada},
		Verifier: sender.AlwaysVerified, Templates: de.templates, Products: render.NewProductSource(de.db)}, sender.Options{})
	if err != nil {
		t.Fatal(err)
	}
	res, err := s.Deliver(ctx, de.shop, []int64{id})
	if err != nil || len(res) != 1 || res[0].SkipReason != sender.SkipCustomerDeleted || de.prov.calls.Load() != 0 {
		t.Fatalf("%+v %v, provider calls %d", res, err, de.prov.calls.Load())
	}
	m, _ := ledger.Get(ctx, de.db, de.shop, id)
	if m.To != "" || m.Subject != "" || m.Status != ledger.Skipped {
		t.Errorf("row after redaction: to %q subject %q status %s", m.To, m.Subject, m.Status)
	}
}

// barrierTracker holds every message at tracking (after the send-time
// checks, before the claim) until n have arrived, so they all pass the
// first cap check before any is claimed.
type barrierTracker struct {
	sender.NoTracking
	n       int64
	arrived *atomic.Int64
	all     chan struct{}
}

func (b barrierTracker) Decorate(shopID, id int64, html, text string, marketing bool) (email.Decorated, error) {
	if b.arrived.Add(1) == b.n {
		close(b.all)
	}
	<-b.all
	return b.NoTracking.Decorate(shopID, id, html, text, marketing)
}

// The frequency cap holds across workers: deliver jobs sending one customer
// different marketing emails at the same moment, all past the first cap
// check, send one and skip the rest (the claim re-checks under a lock per
// customer and sees the first row in sending).
// The campaign frequency window alone (no cap) holds the same way.
func TestFrequencyCapHoldsAcrossConcurrentDeliveries(t *testing.T) {
	for _, tc := range []struct{ capHours, windowDays int }{{16, 0}, {0, 7}} {
		t.Run(fmt.Sprintf("cap %dh window %dd", tc.capHours, tc.windowDays), func(t *testing.T) {
			frequencyHoldsConcurrently(t, tc.capHours, tc.windowDays)
		})
	}
}

func frequencyHoldsConcurrently(t *testing.T, capHours, windowDays int) {
	de := setupDeliver(t)
	de.db.MustExec(`UPDATE shops SET marketing_cap_hours = $2, campaign_skip_days = $3 WHERE id = $1`, de.shop, capHours, windowDays)
	const workers = 8
	s, err := sender.New(sender.Deps{DB: de.db, Shops: de.shops, Provider: de.prov,
		Tracker:  barrierTracker{n: workers, arrived: new(atomic.Int64), all: make(chan struct{})},
		Verifier: sender.AlwaysVerified, Templates: de.templates, Products: render.NewProductSource(de.db)}, sender.Options{})
	if err != nil {
		t.Fatal(err)
	}
	ada := named(t, de, "Ada", "Lovelace", "ada@example.com")
	var ids []int64
	// Campaign emails: flow emails had the cap applied by the engine.
	for i := 0; i < workers; i++ {
		id, _, err := ledger.Reserve(context.Background(), de.db, ledger.Reservation{ShopID: de.shop, CustomerID: ada, To: "ada@example.com",
			Kind: ledger.KindCampaign, Marketing: true, Source: ledger.Source{CampaignID: int64(i + 1), TemplateID: de.tpl}})
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, id)
	}
	var wg sync.WaitGroup
	for _, id := range ids {
		wg.Add(1)
		go func(id int64) {
			defer wg.Done()
			if _, err := s.Deliver(context.Background(), de.shop, []int64{id}); err != nil {
				t.Error(err)
			}
		}(id)
	}
	wg.Wait()
	var sent, capped int
	de.db.Get(&sent, `SELECT count(*) FROM email_messages WHERE shop_id = $1 AND status = 'sent'`, de.shop)
	de.db.Get(&capped, `SELECT count(*) FROM email_messages WHERE shop_id = $1 AND status = 'skipped'
		AND skip_reason IN ('frequency_cap', 'frequency_window')`, de.shop)
	if sent != 1 || capped != workers-1 || de.prov.calls.Load() != 1 {
		t.Errorf("sent %d, held by the caps %d, provider calls %d; want 1, %d, 1", sent, capped, de.prov.calls.Load(), workers-1)
	}
}
