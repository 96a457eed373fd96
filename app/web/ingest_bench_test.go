package web_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jmoiron/sqlx"

	"github.com/cartwheel/cartwheel/app/events"
)

// BenchmarkIngest measures sustained storefront ingestion: an open-loop Go
// load generator sends batches of 10 events (many visitors) at a steady
// rate over loopback to the real app (POST /ingest: parse, shop check,
// group commit, 202 after COMMIT), for a bounded time. Latency is taken from
// each request's scheduled send time. It then checks that the durable rows
// equal the accepted events, and runs the same load against a naive handler
// (one INSERT per event, autocommit, no group commit) for comparison.
//
//	make bench-ingest                      (1,000 batches/s = 10,000 events/s for 15 s)
//	BENCH_INGEST_RATE=2000 BENCH_SECONDS=30 make bench-ingest
func BenchmarkIngest(b *testing.B) {
	rate := envInt("BENCH_INGEST_RATE", 1000)
	seconds := envInt("BENCH_SECONDS", 15)
	visitors := envInt("BENCH_VISITORS", 5000)
	for iter := 0; iter < b.N; iter++ {
		h := newHarness(b, harnessOpts{noIngestLimits: true})
		shopID := h.install(benchShop).ID
		r := runIngestLoad(b, h.srv.URL+"/ingest", "group", rate, seconds, visitors)
		h.srv.Close()
		h.app.Events.Close(context.Background())
		rows := h.count(`SELECT count(*) FROM events WHERE shop_id = $1`, shopID)
		r.report(b, rows)
		if rows != r.accepted {
			b.Errorf("group commit: %d durable rows but %d events acknowledged", rows, r.accepted)
		}

		naiveH := newHarness(b, harnessOpts{noIngestLimits: true})
		shop2 := naiveH.install(benchShop).ID
		naive := httptest.NewServer(naiveIngest(naiveH.db))
		r2 := runIngestLoad(b, naive.URL+"/ingest", "naive", rate, seconds, visitors)
		naive.Close()
		r2.report(b, naiveH.count(`SELECT count(*) FROM events WHERE shop_id = $1`, shop2))
	}
}

const benchShop = "bench-ingest.myshopify.com"

type loadResult struct {
	name               string
	seconds            float64
	requests, failures int
	accepted           int
	lat                []time.Duration
}

func (r loadResult) report(b *testing.B, rows int) {
	sort.Slice(r.lat, func(i, j int) bool { return r.lat[i] < r.lat[j] })
	pct := func(p float64) time.Duration { return percentile(r.lat, p) }
	b.Logf("%-5s: %d requests, %d failed, %d events accepted in %.1fs = %.0f events/s; latency p50 %v p99 %v max %v; durable rows %d",
		r.name, r.requests, r.failures, r.accepted, r.seconds, float64(r.accepted)/r.seconds,
		pct(0.50).Round(100*time.Microsecond), pct(0.99).Round(100*time.Microsecond), pct(1).Round(100*time.Microsecond), rows)
	b.ReportMetric(float64(r.accepted)/r.seconds, r.name+"_events/s")
	b.ReportMetric(float64(pct(0.99).Microseconds())/1000, r.name+"_p99_ms")
}

func runIngestLoad(b *testing.B, url, name string, rate, seconds, visitors int) loadResult {
	client := &http.Client{Timeout: 10 * time.Second,
		Transport: &http.Transport{MaxIdleConnsPerHost: 512, MaxConnsPerHost: 512}}
	total := rate * seconds
	lat := make([]time.Duration, total)
	var failures, accepted atomic.Int64
	var wg sync.WaitGroup
	interval := time.Second / time.Duration(rate)
	start := time.Now()
	for i := 0; i < total; i++ {
		scheduled := start.Add(time.Duration(i) * interval)
		time.Sleep(time.Until(scheduled))
		wg.Add(1)
		go func(i int, scheduled time.Time) {
			defer wg.Done()
			body := benchBatch(name, i, fmt.Sprintf("v_bench_%06d", i%visitors))
			resp, err := client.Post(url, "text/plain", bytes.NewReader(body))
			lat[i] = time.Since(scheduled)
			if err != nil {
				failures.Add(1)
				return
			}
			defer resp.Body.Close()
			var a struct{ Accepted int }
			if resp.StatusCode != http.StatusAccepted || json.NewDecoder(resp.Body).Decode(&a) != nil {
				failures.Add(1)
				return
			}
			accepted.Add(int64(a.Accepted))
		}(i, scheduled)
	}
	wg.Wait()
	return loadResult{name: name, seconds: time.Since(start).Seconds(), requests: total, failures: int(failures.Load()),
		accepted: int(accepted.Load()), lat: lat}
}

// benchBatch is 10 events shaped like the pixel's: product views and page
// views with realistic payloads (about 4 KB a batch).
func benchBatch(run string, i int, visitor string) []byte {
	ts := time.Now().UTC().Format(time.RFC3339Nano)
	evs := make([]string, 10)
	for j := range evs {
		id := fmt.Sprintf("%s-%d-%d", run, i, j)
		if j%2 == 0 {
			evs[j] = fmt.Sprintf(`{"id": %q, "name": "page_viewed", "timestamp": %q, "context": {"url": "https://bench-ingest.myshopify.com/collections/all?page=%d"}, "data": {}}`, id, ts, j)
			continue
		}
		evs[j] = fmt.Sprintf(`{"id": %q, "name": "product_viewed", "timestamp": %q, "clientId": "c-%s",
			"context": {"url": "https://bench-ingest.myshopify.com/products/p%d", "referrer": "https://bench-ingest.myshopify.com/"},
			"data": {"productVariant": {"id": "4%08d", "title": "Default Title", "sku": "SKU-%d", "price": {"amount": 24.5, "currencyCode": "EUR"},
			"image": {"src": "https://cdn.shopify.com/s/files/1/p%d.jpg"},
			"product": {"id": "7%08d", "title": "Product %d", "vendor": "Bench", "type": "Shirts", "url": "/products/p%d"}}}}`,
			id, ts, visitor, j, i, i, j, i, i, j)
	}
	return []byte(fmt.Sprintf(`{"shop": %q, "visitor_id": %q, "events": [%s]}`, benchShop, visitor, strings.Join(evs, ",")))
}

// naiveIngest is the comparison: the same parsing and shop check, then one
// INSERT per event, each its own transaction (and fsync).
func naiveIngest(d *sqlx.DB) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, events.MaxBodyBytes))
		if err != nil {
			http.Error(w, "too large", http.StatusRequestEntityTooLarge)
			return
		}
		batch, _, err := events.Parse(body, events.SourcePixel)
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		var shopID int64
		if err := d.GetContext(r.Context(), &shopID, `SELECT id FROM shops WHERE domain = $1 AND access_token_enc IS NOT NULL`, batch.Shop); err != nil {
			http.Error(w, "not installed", http.StatusNotFound)
			return
		}
		accepted := 0
		for _, e := range batch.Events {
			res, err := d.ExecContext(r.Context(), `
				INSERT INTO events (shop_id, event_id, visitor_id, name, occurred_at, source, url, data)
				VALUES ($1, $2, $3, $4, $5, 'pixel', $6, $7) ON CONFLICT DO NOTHING`,
				shopID, e.ID, batch.VisitorID, e.Name, e.OccurredAt, e.URL, string(e.Data))
			if err != nil {
				http.Error(w, err.Error(), http.StatusInternalServerError)
				return
			}
			n, _ := res.RowsAffected()
			accepted += int(n)
		}
		w.WriteHeader(http.StatusAccepted)
		fmt.Fprintf(w, `{"accepted": %d}`, accepted)
	})
}
