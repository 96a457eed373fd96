package web_test

import (
	"context"
	"fmt"
	"net/http"
	"sort"
	"testing"
	"time"

	"github.com/cartwheel/cartwheel/app/seed"
)

// BenchmarkCustomersPages seeds BENCH_CUSTOMERS customers (default 1M, SQL
// bulk seeding) into one shop, then measures the server time of the
// customers list (first page, filtered, a deep keyset page, a search) and of
// a profile page over the full app on loopback, 200 requests each.
//
//	make bench-customers
func BenchmarkCustomersPages(b *testing.B) {
	n := envInt("BENCH_CUSTOMERS", 1_000_000)
	reqs := envInt("BENCH_REQUESTS", 200)
	h := newHarness(b, harnessOpts{})
	sh := h.install("bench-customers.myshopify.com")
	start := time.Now()
	if err := seed.BulkCustomers(context.Background(), h.db, sh.ID, n, nil); err != nil {
		b.Fatal(err)
	}
	b.Logf("seeded %d customers in %s", n, time.Since(start).Round(time.Second))
	var deep, profile, busy int64
	h.db.Get(&deep, `SELECT id FROM customers WHERE shop_id = $1 ORDER BY id LIMIT 1 OFFSET 100`, sh.ID)
	h.db.Get(&profile, `SELECT id FROM customers WHERE shop_id = $1 AND orders_count > 0 ORDER BY id DESC LIMIT 1`, sh.ID)
	h.db.Get(&busy, `SELECT id FROM customers WHERE shop_id = $1 ORDER BY orders_count DESC LIMIT 1`, sh.ID)
	pages := []struct{ name, path string }{
		{"list first page", "/app/customers"},
		{"list filtered", "/app/customers?consent=subscribed&orders=yes&country=GB"},
		{"list by tag", "/app/customers?tag=VIP"},
		{"list deep page", fmt.Sprintf("/app/customers?after=%d", deep)},
		{"search email", "/app/customers?q=bulk2000123456"},
		{"search name", "/app/customers?q=tanaka"},
		{"search rare", "/app/customers?q=nobody-has-this"},
		{"profile", fmt.Sprintf("/app/customers/%d", profile)},
		{"profile busiest", fmt.Sprintf("/app/customers/%d", busy)},
	}
	client := &http.Client{}
	for i := 0; i < b.N; i++ {
		for _, p := range pages {
			lat := make([]time.Duration, 0, reqs)
			token := h.token(sh.Domain)
			for r := 0; r < reqs; r++ {
				if r%100 == 0 {
					token = h.token(sh.Domain)
				}
				req, _ := http.NewRequest(http.MethodGet, h.srv.URL+p.path, nil)
				req.Header.Set("Authorization", "Bearer "+token)
				t0 := time.Now()
				resp, err := client.Do(req)
				if err != nil {
					b.Fatal(err)
				}
				drain(resp)
				lat = append(lat, time.Since(t0))
				if resp.StatusCode != 200 {
					b.Fatalf("%s: %d", p.path, resp.StatusCode)
				}
			}
			sort.Slice(lat, func(i, j int) bool { return lat[i] < lat[j] })
			fmt.Printf("%-16s p50 %6.1f ms  p99 %6.1f ms  max %6.1f ms  (%d customers, %d requests)\n", p.name,
				ms(lat[len(lat)/2]), ms(lat[len(lat)*99/100]), ms(lat[len(lat)-1]), n, reqs)
		}
	}
}

func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }

func drain(resp *http.Response) {
	buf := make([]byte, 32<<10)
	for {
		if _, err := resp.Body.Read(buf); err != nil {
			break
		}
	}
	resp.Body.Close()
}
