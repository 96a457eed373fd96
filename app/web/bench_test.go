package web_test

import (
	"bytes"
	"fmt"
	"io"
	"net/http"
	"os"
	"sort"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/cartwheel/cartwheel/app/shopify"
)

// BenchmarkWebhookAck measures how fast Shopify gets its answer: signed
// deliveries (go-shopify's real order payload) sent open-loop at a steady
// rate over loopback to the full app — HMAC check, validation, durable insert
// and job enqueue — while the workers process the queue. Latency is taken
// from each request's scheduled send time, so a slow answer also delays the
// ones queued behind it instead of hiding them.
//
//	make bench            (500 req/s for 10 s)
//	BENCH_RATE=1000 BENCH_SECONDS=20 make bench
func BenchmarkWebhookAck(b *testing.B) {
	rate := envInt("BENCH_RATE", 500)
	seconds := envInt("BENCH_SECONDS", 10)
	h := newHarness(b, harnessOpts{workers: true})
	const shop = "bench-store.myshopify.com"
	h.install(shop)
	body := fixture(b, "order.json", "order")
	sig := shopify.SignWebhook(body, apiSecret)
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 256, MaxConnsPerHost: 256}}

	for iter := 0; iter < b.N; iter++ {
		total := rate * seconds
		lat := make([]time.Duration, total)
		failures := 0
		var mu sync.Mutex
		var wg sync.WaitGroup
		interval := time.Second / time.Duration(rate)
		start := time.Now()
		for i := 0; i < total; i++ {
			scheduled := start.Add(time.Duration(i) * interval)
			time.Sleep(time.Until(scheduled))
			wg.Add(1)
			go func(i int, scheduled time.Time) {
				defer wg.Done()
				req, _ := http.NewRequest(http.MethodPost, h.srv.URL+"/webhooks", bytes.NewReader(body))
				req.Header.Set("Content-Type", "application/json")
				req.Header.Set("X-Shopify-Topic", "orders/create")
				req.Header.Set("X-Shopify-Shop-Domain", shop)
				req.Header.Set("X-Shopify-Hmac-Sha256", sig)
				req.Header.Set("X-Shopify-Webhook-Id", fmt.Sprintf("bench-%d-%d", iter, i))
				req.Header.Set("X-Shopify-API-Version", shopify.APIVersion)
				resp, err := client.Do(req)
				lat[i] = time.Since(scheduled)
				if err != nil || resp.StatusCode != http.StatusOK {
					mu.Lock()
					failures++
					mu.Unlock()
				}
				if resp != nil {
					io.Copy(io.Discard, resp.Body)
					resp.Body.Close()
				}
			}(i, scheduled)
		}
		wg.Wait()
		elapsed := time.Since(start)
		if failures > 0 {
			b.Fatalf("%d of %d deliveries were not acknowledged with 200", failures, total)
		}
		if n := h.count("SELECT count(*) FROM webhook_deliveries WHERE webhook_id LIKE $1", fmt.Sprintf("bench-%d-%%", iter)); n != total {
			b.Fatalf("acknowledged %d deliveries but stored %d", total, n)
		}
		sort.Slice(lat, func(i, j int) bool { return lat[i] < lat[j] })
		pct := func(p float64) time.Duration { return percentile(lat, p) }
		b.ReportMetric(float64(pct(0.50).Microseconds())/1000, "p50_ms")
		b.ReportMetric(float64(pct(0.99).Microseconds())/1000, "p99_ms")
		b.ReportMetric(float64(lat[len(lat)-1].Microseconds())/1000, "max_ms")
		b.ReportMetric(float64(total)/elapsed.Seconds(), "req/s")
		fmt.Printf("webhook ack: %d deliveries at %d req/s over %s: p50 %s  p90 %s  p99 %s  max %s\n",
			total, rate, elapsed.Round(time.Millisecond), pct(0.5).Round(time.Microsecond),
			pct(0.9).Round(time.Microsecond), pct(0.99).Round(time.Microsecond), lat[len(lat)-1].Round(time.Microsecond))
	}
}

func envInt(name string, def int) int {
	if n, err := strconv.Atoi(os.Getenv(name)); err == nil && n > 0 {
		return n
	}
	return def
}
