package sender_test

import (
	"context"
	"errors"
	"fmt"
	"html"
	"io"
	"log/slog"
	"math/rand"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/lib/pq"
	"github.com/riverqueue/river"

	"github.com/cartwheel/cartwheel/app/email"
	"github.com/cartwheel/cartwheel/app/email/ledger"
	"github.com/cartwheel/cartwheel/app/email/render"
	"github.com/cartwheel/cartwheel/app/email/sender"
	"github.com/cartwheel/cartwheel/app/email/tracking"
	"github.com/cartwheel/cartwheel/app/jobs"
)

// The caps hold across concurrent batches, not only concurrent single
// messages: 6 deliver jobs of 20 campaign emails each, every job holding
// one email (of its own campaign) for each of the same 20 customers, in a
// shuffled order, all run at once. Each customer gets exactly one email,
// the other five of theirs are skipped by the cap, whatever the
// interleaving; and no batch deadlocks on another (each locks its
// customers in id order).
func TestCapsHoldAcrossConcurrentBatches(t *testing.T) {
	for _, tc := range []struct{ capHours, windowDays int }{{16, 0}, {0, 7}} {
		t.Run(fmt.Sprintf("cap %dh window %dd", tc.capHours, tc.windowDays), func(t *testing.T) {
			de := setupDeliver(t)
			de.db.MustExec(`UPDATE shops SET marketing_cap_hours = $2, campaign_skip_days = $3 WHERE id = $1`, de.shop, tc.capHours, tc.windowDays)
			const jobs, people = 6, 20
			var custs []int64
			for i := 0; i < people; i++ {
				custs = append(custs, named(t, de, fmt.Sprintf("P%d", i), "", fmt.Sprintf("p%d@example.com", i)))
			}
			batches := make([][]int64, jobs)
			for j := 0; j < jobs; j++ {
				for i, c := range custs {
					id, _, err := ledger.Reserve(context.Background(), de.db, ledger.Reservation{ShopID: de.shop, CustomerID: c,
						To: fmt.Sprintf("p%d@example.com", i), Kind: ledger.KindCampaign, Marketing: true,
						Source: ledger.Source{CampaignID: int64(j + 1), TemplateID: de.tpl}})
					if err != nil {
						t.Fatal(err)
					}
					batches[j] = append(batches[j], id)
				}
				rand.Shuffle(len(batches[j]), func(a, b int) { batches[j][a], batches[j][b] = batches[j][b], batches[j][a] })
			}
			// Every batch composes its last message only once all the
			// batches got there, so they claim at the same moment.
			last := map[int64]bool{}
			for _, b := range batches {
				last[slices.Max(b)] = true
			}
			s, err := sender.New(sender.Deps{DB: de.db, Shops: de.shops, Provider: de.prov,
				Tracker:  lastBarrier{last: last, arrived: new(atomic.Int64), all: make(chan struct{})},
				Verifier: sender.AlwaysVerified, Templates: de.templates, Products: render.NewProductSource(de.db)}, sender.Options{})
			if err != nil {
				t.Fatal(err)
			}
			start := make(chan struct{})
			var wg sync.WaitGroup
			for j := 0; j < jobs; j++ {
				wg.Add(1)
				go func(ids []int64) {
					defer wg.Done()
					<-start
					if _, err := s.Deliver(context.Background(), de.shop, ids); err != nil {
						t.Error(err)
					}
				}(batches[j])
			}
			close(start)
			wg.Wait()
			var perCustomer []int
			if err := de.db.Select(&perCustomer, `SELECT count(*) FILTER (WHERE status = 'sent') FROM email_messages
				WHERE shop_id = $1 AND campaign_id IS NOT NULL GROUP BY customer_id ORDER BY customer_id`, de.shop); err != nil {
				t.Fatal(err)
			}
			var held, queued int
			de.db.Get(&held, `SELECT count(*) FROM email_messages WHERE shop_id = $1 AND status = 'skipped'
				AND skip_reason IN ('frequency_cap', 'frequency_window')`, de.shop)
			de.db.Get(&queued, `SELECT count(*) FROM email_messages WHERE shop_id = $1 AND status IN ('queued', 'sending')`, de.shop)
			if len(perCustomer) != people {
				t.Fatalf("%d customers have rows, want %d", len(perCustomer), people)
			}
			for i, n := range perCustomer {
				if n != 1 {
					t.Errorf("customer %d got %d emails, want 1", i, n)
				}
			}
			if held != people*(jobs-1) || queued != 0 || de.prov.calls.Load() != people {
				t.Errorf("held by the caps %d (want %d), left queued %d, provider calls %d (want %d)",
					held, people*(jobs-1), queued, de.prov.calls.Load(), people)
			}
		})
	}
}

// Two campaign emails to one customer inside one batch: the first goes,
// the second is held by the window, as it would be in two batches.
func TestCapsHoldWithinOneBatch(t *testing.T) {
	de := setupDeliver(t)
	de.db.MustExec(`UPDATE shops SET campaign_skip_days = 7 WHERE id = $1`, de.shop)
	ada := named(t, de, "Ada", "", "ada@example.com")
	var ids []int64
	for c := 1; c <= 2; c++ {
		id, _, err := ledger.Reserve(context.Background(), de.db, ledger.Reservation{ShopID: de.shop, CustomerID: ada, To: "ada@example.com",
			Kind: ledger.KindCampaign, Marketing: true, Source: ledger.Source{CampaignID: int64(c), TemplateID: de.tpl}})
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, id)
	}
	res, err := de.s.Deliver(context.Background(), de.shop, ids)
	if err != nil || len(res) != 2 || res[0].Outcome != sender.OutcomeSent || res[1].SkipReason != sender.SkipFrequencyWindow {
		t.Fatalf("%+v %v", res, err)
	}
	if de.prov.calls.Load() != 1 {
		t.Errorf("provider calls %d, want 1", de.prov.calls.Load())
	}
}

// A batch and single sends (Send) to the same customer at once: the cap
// lets one through in all, because both paths take the customer's profile
// lock around the check and the claim.
func TestCapsHoldBetweenBatchAndSingleSends(t *testing.T) {
	de := setupDeliver(t)
	de.db.MustExec(`UPDATE shops SET marketing_cap_hours = 16 WHERE id = $1`, de.shop)
	ada := named(t, de, "Ada", "", "ada@example.com")
	var ids []int64
	for c := 1; c <= 4; c++ {
		id, _, err := ledger.Reserve(context.Background(), de.db, ledger.Reservation{ShopID: de.shop, CustomerID: ada, To: "ada@example.com",
			Kind: ledger.KindCampaign, Marketing: true, Source: ledger.Source{CampaignID: int64(c), TemplateID: de.tpl}})
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, id)
	}
	start := make(chan struct{})
	var wg sync.WaitGroup
	for _, id := range ids {
		wg.Add(1)
		go func(id int64) {
			defer wg.Done()
			<-start
			if _, err := de.s.Deliver(context.Background(), de.shop, []int64{id}); err != nil {
				t.Error(err)
			}
		}(id)
	}
	for i := 0; i < 4; i++ {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			<-start
			req := campaign(de.shop, ada, "ada@example.com", 100+i)
			if _, err := de.s.Send(context.Background(), req); err != nil {
				t.Error(err)
			}
		}(i)
	}
	close(start)
	wg.Wait()
	var sent int
	de.db.Get(&sent, `SELECT count(*) FROM email_messages WHERE shop_id = $1 AND status = 'sent'`, de.shop)
	if sent != 1 || de.prov.calls.Load() != 1 {
		t.Errorf("sent %d, provider calls %d; want 1 and 1", sent, de.prov.calls.Load())
	}
}

// lastBarrier holds the tracking of the messages in last until all of
// them have arrived (a batch composes in id order, so holding its highest
// id holds the batch just before its claim).
type lastBarrier struct {
	sender.NoTracking
	last    map[int64]bool
	arrived *atomic.Int64
	all     chan struct{}
}

func (b lastBarrier) Decorate(shopID, id int64, html, text string, marketing bool) (email.Decorated, error) {
	if b.last[id] {
		if b.arrived.Add(1) == int64(len(b.last)) {
			close(b.all)
		}
		<-b.all
	}
	return b.NoTracking.Decorate(shopID, id, html, text, marketing)
}

// Deliver through SendGrid batches a campaign's recipients into one
// request with a personalization each, and sends on its own a message
// whose content differs beyond merge tags and tracking (a discount code of
// its own). Every recipient receives their own name, unsubscribe link and
// open pixel, and nobody else's; the ledger rows carry the request's
// X-Message-Id. A 503 on the batch request puts every row of it back to
// queued; the retry sends them all, once.
func TestDeliverBatchesSendGridPersonalizations(t *testing.T) {
	de := setupDeliver(t)
	ctx := context.Background()
	tokens, err := tracking.NewTokens([]byte("0123456789abcdef0123456789abcdef"))
	if err != nil {
		t.Fatal(err)
	}
	tr := tracking.NewTracker("https://app.example", tokens)
	s, err := sender.New(sender.Deps{DB: de.db, Shops: de.shops, Provider: de.prov.Provider, Tracker: tr,
		Verifier: sender.AlwaysVerified, Templates: de.templates, Products: render.NewProductSource(de.db)}, sender.Options{})
	if err != nil {
		t.Fatal(err)
	}
	const n = 40
	var ids []int64
	first := map[int64]string{}
	for i := 0; i < n; i++ {
		addr := fmt.Sprintf("b%d@example.com", i)
		c := named(t, de, fmt.Sprintf("Name%d", i), "Doe", addr)
		id, _, err := ledger.Reserve(ctx, de.db, ledger.Reservation{ShopID: de.shop, CustomerID: c, To: addr, Kind: ledger.KindCampaign,
			Marketing: true, Source: ledger.Source{CampaignID: 3, TemplateID: de.tpl}})
		if err != nil {
			t.Fatal(err)
		}
		ids, first[id] = append(ids, id), fmt.Sprintf("Name%d", i)
	}
	coded := de.reserveFlow(t, de.db, named(t, de, "Cody", "Doe", "cody@example.com"), "cody@example.com", 1,
		ledger.Context{ledger.ContextDiscountCode: "CODY-10"})
	ids = append(ids, coded)
	first[coded] = "Cody"

	de.fake.FailNext(3, 503) // the provider's own attempts at the batch request
	if _, err := s.Deliver(ctx, de.shop, ids); !errors.Is(err, email.ErrRetryable) {
		t.Fatalf("a 503 on the batch: %v", err)
	}
	var queued int
	de.db.Get(&queued, `SELECT count(*) FROM email_messages WHERE shop_id = $1 AND status = 'queued'`, de.shop)
	if queued != n+1 || len(de.fake.Received()) != 0 {
		t.Fatalf("after the 503: %d queued (want %d), %d accepted", queued, n+1, len(de.fake.Received()))
	}
	res, err := s.Deliver(ctx, de.shop, ids)
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range res {
		if r.Outcome != sender.OutcomeSent {
			t.Errorf("%+v", r)
		}
	}
	got := de.fake.Received()
	if len(got) != 2 || len(got[0].Mail.Personalizations)+len(got[1].Mail.Personalizations) != n+1 {
		t.Fatalf("%d requests; want the %d campaign emails in one and the coded one alone", len(got), n)
	}
	deliveries := de.fake.Deliveries()
	if len(deliveries) != n+1 {
		t.Fatalf("%d deliveries", len(deliveries))
	}
	for _, d := range deliveries {
		idText, _ := d.CustomArgs["cw_message_id"].(string)
		var id int64
		fmt.Sscan(idText, &id)
		name, ok := first[id]
		if !ok {
			t.Fatalf("delivery for message %q", idText)
		}
		delete(first, id)
		if !strings.Contains(d.HTML, "Hello "+name+" Doe") || !strings.HasPrefix(d.Subject, name+",") {
			t.Errorf("message %d: not greeting %s (subject %q)", id, name, d.Subject)
		}
		if !strings.Contains(d.HTML, html.EscapeString(tr.UnsubscribeURL(id))) || !strings.Contains(d.Text, tr.UnsubscribeURL(id)) ||
			!strings.Contains(d.HTML, html.EscapeString(tr.OpenURL(id))) || d.Headers["List-Unsubscribe"] != "<"+tr.UnsubscribeURL(id)+">" {
			t.Errorf("message %d: its own unsubscribe link or open pixel is missing", id)
		}
		for _, other := range ids {
			if other != id && (strings.Contains(d.HTML, tr.UnsubscribeURL(other)) || strings.Contains(d.HTML, tr.OpenURL(other))) {
				t.Errorf("message %d holds message %d's tracking", id, other)
			}
		}
		if (id == coded) != strings.Contains(d.HTML, "CODY-10") {
			t.Errorf("message %d: the discount code where it doesn't belong, or missing", id)
		}
	}
	var withRequestID int
	de.db.Get(&withRequestID, `SELECT count(*) FROM email_messages WHERE shop_id = $1 AND status = 'sent' AND provider_message_id = ANY($2)`,
		de.shop, pq.Array([]string{got[0].MessageID, got[1].MessageID}))
	if withRequestID != n+1 {
		t.Errorf("%d sent rows carry their request's X-Message-Id, want %d", withRequestID, n+1)
	}
}

// A row its batch claimed but never handed to the provider (the worker
// died between the claim and the hand-off) is queued again by the sweep,
// with its delivery, and sent; a row that was handed over is failed, never
// resent. A retried job that finds such a row stale sends it too.
func TestClaimedButNotHandedOverIsSentAfterAll(t *testing.T) {
	de := setupDeliver(t)
	ctx := context.Background()
	workers := river.NewWorkers()
	river.AddWorker(workers, sender.NewDeliverWorker(de.s))
	jc, err := jobs.New(de.db.DB, workers, jobs.Options{Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		t.Fatal(err)
	}
	de.s.QueueWith(jc)
	var ids []int64
	for i := 0; i < 4; i++ {
		addr := fmt.Sprintf("h%d@example.com", i)
		ids = append(ids, de.reserveFlow(t, de.db, named(t, de, "H", "", addr), addr, int64(i+1), nil))
	}
	// A dead batch: 0 and 1 claimed, not handed over; 2 handed over; all an
	// hour old. 3 is stale and not handed over too, but no sweep runs
	// before its job's retry.
	de.db.MustExec(`UPDATE email_messages SET status = 'sending', sending_at = now() - interval '1 hour', hand_off_pending = id <> $2
		WHERE id = ANY($1)`, pq.Array(ids), ids[2])
	if err := de.s.Sweep(ctx, de.shop); err != nil {
		t.Fatal(err)
	}
	statuses := map[int64]string{}
	rows, _ := de.db.Query(`SELECT id, status FROM email_messages WHERE shop_id = $1`, de.shop)
	for rows.Next() {
		var id int64
		var st string
		rows.Scan(&id, &st)
		statuses[id] = st
	}
	rows.Close()
	if statuses[ids[0]] != "queued" || statuses[ids[1]] != "queued" || statuses[ids[2]] != "failed" || statuses[ids[3]] != "queued" {
		t.Fatalf("after the sweep: %v", statuses)
	}
	var args []string
	de.db.Select(&args, `SELECT args->>'message_ids' FROM river_job WHERE kind = 'email.deliver'`)
	if len(args) != 1 || args[0] != fmt.Sprintf("[%d, %d, %d]", ids[0], ids[1], ids[3]) {
		t.Fatalf("deliveries queued by the sweep: %v", args)
	}
	// A stale, not handed-over row found by a batch (no sweep between).
	de.db.MustExec(`UPDATE email_messages SET status = 'sending', sending_at = now() - interval '1 hour', hand_off_pending = true WHERE id = $1`, ids[3])
	res, err := de.s.Deliver(ctx, de.shop, ids)
	if err != nil {
		t.Fatal(err)
	}
	sent := 0
	for _, r := range res {
		if r.Outcome == sender.OutcomeSent {
			sent++
		}
	}
	if sent != 3 || de.prov.calls.Load() != 3 {
		t.Errorf("sent %d, provider calls %d; want the 3 never handed over", sent, de.prov.calls.Load())
	}
}

// hookOnce runs fn before the first message it is handed.
type hookOnce struct {
	email.Provider
	once  sync.Once
	fn    func()
	calls atomic.Int64
}

func (h *hookOnce) Send(ctx context.Context, m email.Message) (email.Result, error) {
	h.once.Do(h.fn)
	h.calls.Add(1)
	return h.Provider.Send(ctx, m)
}

// A batch so slow that the sweep took back its rows not yet handed over,
// and another worker claimed them, hands none of them over: each claim is
// fenced by the row's attempts, so the first batch finds them someone
// else's (in progress) and only the other worker may send them.
func TestSweptRowsAreNotHandedOverByTheirFirstBatch(t *testing.T) {
	de := setupDeliver(t)
	ctx := context.Background()
	var ids []int64
	for i := 0; i < 3; i++ {
		addr := fmt.Sprintf("s%d@example.com", i)
		ids = append(ids, de.reserveFlow(t, de.db, named(t, de, "S", "", addr), addr, int64(i+1), nil))
	}
	workers := river.NewWorkers()
	river.AddWorker(workers, sender.NewDeliverWorker(de.s))
	jc, err := jobs.New(de.db.DB, workers, jobs.Options{Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		t.Fatal(err)
	}
	sweeper, err := sender.New(sender.Deps{DB: de.db, Shops: de.shops, Provider: de.prov, Tracker: sender.NoTracking{},
		Verifier: sender.AlwaysVerified, Templates: de.templates, Products: render.NewProductSource(de.db)},
		sender.Options{StaleAfter: 30 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	sweeper.QueueWith(jc)
	hook := &hookOnce{Provider: de.prov}
	// While the first message is being handed over: the sweep takes back
	// the other two, and another worker claims them.
	hook.fn = func() {
		de.db.MustExec(`UPDATE email_messages SET sending_at = now() - interval '1 minute' WHERE id = ANY($1) AND hand_off_pending`, pq.Array(ids))
		if err := sweeper.Sweep(ctx, de.shop); err != nil {
			t.Error(err)
		}
		var rows []ledger.ClaimRow
		for _, id := range ids[1:] {
			m, _ := ledger.Get(ctx, de.db, de.shop, id)
			rows = append(rows, ledger.ClaimRow{ID: id, CustomerID: m.CustomerID.Int64})
		}
		won, err := ledger.ClaimComposedMany(ctx, de.db, de.shop, "other", false, rows)
		if err != nil || len(won) != 2 {
			t.Errorf("the other worker's claim: %v %v", won, err)
		}
	}
	first, err := sender.New(sender.Deps{DB: de.db, Shops: de.shops, Provider: hook, Tracker: sender.NoTracking{},
		Verifier: sender.AlwaysVerified, Templates: de.templates, Products: render.NewProductSource(de.db)},
		sender.Options{HandOffChunk: 1})
	if err != nil {
		t.Fatal(err)
	}
	res, err := first.Deliver(ctx, de.shop, ids)
	if err != nil {
		t.Fatal(err)
	}
	outcomes := map[int64]string{}
	for _, r := range res {
		outcomes[r.MessageID] = r.Outcome
	}
	want := map[int64]string{ids[0]: sender.OutcomeSent, ids[1]: sender.OutcomeInProgress, ids[2]: sender.OutcomeInProgress}
	if fmt.Sprint(outcomes) != fmt.Sprint(want) || hook.calls.Load() != 1 {
		t.Errorf("outcomes %v, want %v; the first batch handed over %d", outcomes, want, hook.calls.Load())
	}
	var theirs int
	de.db.Get(&theirs, `SELECT count(*) FROM email_messages WHERE id = ANY($1) AND status = 'sending' AND hand_off_pending AND provider = 'other'`,
		pq.Array(ids[1:]))
	if theirs != 2 {
		t.Errorf("%d of the swept rows are still the other worker's, want 2", theirs)
	}
}
