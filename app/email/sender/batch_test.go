package sender_test

import (
	"context"
	"fmt"
	"math/rand"
	"slices"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/cartwheel/cartwheel/app/email"
	"github.com/cartwheel/cartwheel/app/email/ledger"
	"github.com/cartwheel/cartwheel/app/email/render"
	"github.com/cartwheel/cartwheel/app/email/sender"
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
