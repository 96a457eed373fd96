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

	"github.com/cartwheel/cartwheel/app/email/internal/emailtest"
	"github.com/cartwheel/cartwheel/app/email/ledger"
	"github.com/cartwheel/cartwheel/app/email/sender"
)

func envInt(name string, def int) int {
	if n, err := strconv.Atoi(os.Getenv(name)); err == nil && n > 0 {
		return n
	}
	return def
}

// BenchmarkHandoff sends BENCH_SEND_MESSAGES (5,000) distinct campaign
// emails with BENCH_SEND_WORKERS (16) concurrent senders through the whole
// path (ledger reserve, send-time checks, claim, SendGrid provider over
// loopback HTTP to the fake, mark sent) and prints messages per second.
func BenchmarkHandoff(b *testing.B) {
	n := envInt("BENCH_SEND_MESSAGES", 5000)
	workers := envInt("BENCH_SEND_WORKERS", 16)
	e := setup(b, nil)
	e.db.SetMaxOpenConns(workers * 2)
	e.db.Exec(`UPDATE shops SET marketing_cap_hours = 0 WHERE id = $1`, e.shop)
	// One subscribed customer per message, in one statement.
	var ids []int64
	if err := e.db.Select(&ids, `
		INSERT INTO customers (shop_id, email, email_consent)
		SELECT $1, 'c' || g || '@example.com', 'subscribed' FROM generate_series(1, $2) g RETURNING id`, e.shop, n); err != nil {
		b.Fatal(err)
	}
	_ = emailtest.Shop
	ctx := context.Background()
	b.ResetTimer()
	for round := 0; round < b.N; round++ {
		var next, failed atomic.Int64
		start := time.Now()
		var wg sync.WaitGroup
		for w := 0; w < workers; w++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for {
					i := next.Add(1) - 1
					if i >= int64(n) {
						return
					}
					res, err := e.s.Send(ctx, sender.Request{ShopID: e.shop, CustomerID: ids[i], To: fmt.Sprintf("c%d@example.com", i+1),
						Kind: ledger.KindCampaign, DedupeKey: fmt.Sprintf("campaign:%d:customer:%d", round, ids[i]), Marketing: true,
						Subject: "Spring sale", HTML: "<table><tr><td><p>Sale: 20% off everything</p></td></tr></table>", Text: "Sale: 20% off everything"})
					if err != nil || res.Outcome != sender.OutcomeSent {
						failed.Add(1)
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
		b.ReportMetric(rate, "msgs/s")
		fmt.Printf("handoff: %d messages, %d workers, %s, %.0f msgs/s (ledger + checks + SendGrid fake over loopback)\n", n, workers, el.Round(time.Millisecond), rate)
	}
	if got := len(e.fake.Received()); got != n*b.N {
		b.Fatalf("fake received %d, want %d", got, n*b.N)
	}
}
