package sender_test

import (
	"context"
	"fmt"
	"os"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/cartwheel/cartwheel/app/email/ledger"
	"github.com/cartwheel/cartwheel/app/email/render"
	"github.com/cartwheel/cartwheel/app/email/sender"
)

func envInt(name string, def int) int {
	if n, err := strconv.Atoi(os.Getenv(name)); err == nil && n > 0 {
		return n
	}
	return def
}

// BenchmarkHandoff sends BENCH_SEND_MESSAGES (5,000) distinct campaign
// emails the way campaigns and flows do: the ledger rows are reserved (with
// their source and template) sender.MaxBatch at a time (ledger.ReserveMany), then
// BENCH_SEND_WORKERS (16) concurrent deliver batches of sender.MaxBatch
// each run the whole path (shop, settings and verification once per batch;
// per message: profile and suppression, caps, composing from the template
// and the profile, claim, SendGrid provider over loopback HTTP to the
// fake, mark sent). It prints messages per second for reserve + deliver
// and for deliver alone.
func BenchmarkHandoff(b *testing.B) {
	n := envInt("BENCH_SEND_MESSAGES", 5000)
	workers := envInt("BENCH_SEND_WORKERS", 16)
	de := setupDeliver(b)
	de.db.SetMaxOpenConns(workers * 2)
	// One subscribed customer per message, in one statement.
	var ids []int64
	if err := de.db.Select(&ids, `
		INSERT INTO customers (shop_id, email, email_consent, first_name)
		SELECT $1, 'c' || g || '@example.com', 'subscribed', 'Name' || g FROM generate_series(1, $2) g RETURNING id`, de.shop, n); err != nil {
		b.Fatal(err)
	}
	tpl, err := render.NewStore(de.db).Save(context.Background(), de.shop, 0, "", render.Template{
		Name: "Spring sale", Locale: render.LocaleEN, Subject: "{{ first_name }}, spring sale",
		Blocks: []render.Block{
			{Type: render.BlockHeading, Text: "Hello {{ first_name }}"},
			{Type: render.BlockText, HTML: "<p>Sale: 20% off everything</p>"},
			{Type: render.BlockButton, Text: "Shop now", URL: "{{ shop_url }}"},
			{Type: render.BlockFooter},
		}})
	if err != nil {
		b.Fatal(err)
	}
	ctx := context.Background()
	b.ResetTimer()
	for round := 0; round < b.N; round++ {
		start := time.Now()
		var batches [][]int64
		for lo := 0; lo < n; lo += sender.MaxBatch {
			hi := min(lo+sender.MaxBatch, n)
			rs := make([]ledger.Reservation, 0, hi-lo)
			for i := lo; i < hi; i++ {
				rs = append(rs, ledger.Reservation{ShopID: de.shop, CustomerID: ids[i], To: fmt.Sprintf("c%d@example.com", i+1),
					Kind: ledger.KindCampaign, Marketing: true, Source: ledger.Source{CampaignID: int64(round + 1), TemplateID: tpl}})
			}
			batch, _, err := ledger.ReserveMany(ctx, de.db, rs)
			if err != nil {
				b.Fatal(err)
			}
			batches = append(batches, batch)
		}
		reserved := time.Since(start)
		var next, failed atomic.Int64
		var wg sync.WaitGroup
		for w := 0; w < workers; w++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for {
					i := next.Add(1) - 1
					if i >= int64(len(batches)) {
						return
					}
					res, err := de.s.Deliver(ctx, de.shop, batches[i])
					if err != nil {
						failed.Add(int64(len(batches[i])))
						continue
					}
					for _, r := range res {
						if r.Outcome != sender.OutcomeSent {
							failed.Add(1)
						}
					}
				}
			}()
		}
		wg.Wait()
		el := time.Since(start)
		if failed.Load() > 0 {
			b.Fatalf("%d sends failed", failed.Load())
		}
		rate := float64(n) / el.Seconds()
		deliverRate := float64(n) / (el - reserved).Seconds()
		b.ReportMetric(rate, "msgs/s")
		b.ReportMetric(deliverRate, "deliver-msgs/s")
		fmt.Printf("handoff: %d messages, %d workers, batches of %d: %s, %.0f msgs/s (reserve %s + deliver %.0f msgs/s: checks, compose from template + profile, SendGrid fake over loopback)\n",
			n, workers, sender.MaxBatch, el.Round(time.Millisecond), rate, reserved.Round(time.Millisecond), deliverRate)
	}
	if got := len(de.fake.Received()); got != n*b.N {
		b.Fatalf("fake received %d, want %d", got, n*b.N)
	}
}
