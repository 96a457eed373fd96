package storesync

import (
	"context"
	"fmt"
	"os"
	"runtime"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

func envInt(name string, def int) int {
	if v, err := strconv.Atoi(os.Getenv(name)); err == nil && v > 0 {
		return v
	}
	return def
}

// vmHWM reads the process's peak resident memory from /proc (0 elsewhere).
func vmHWM() int64 {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return 0
	}
	for _, l := range strings.Split(string(b), "\n") {
		if f := strings.Fields(l); len(f) >= 2 && f[0] == "VmHWM:" {
			kb, _ := strconv.ParseInt(f[1], 10, 64)
			return kb << 10
		}
	}
	return 0
}

// BenchmarkImport imports a generated store from the fake Admin API into
// PostgreSQL and prints rows/s per resource, total time and peak memory.
// Sizes: BENCH_CUSTOMERS (100000), BENCH_ORDERS (300000),
// BENCH_ITEMS_PER_ORDER (3), BENCH_PRODUCTS (5000), BENCH_CHECKOUTS (2000).
func BenchmarkImport(b *testing.B) {
	d := storeData{
		customers:     envInt("BENCH_CUSTOMERS", 100000),
		orders:        envInt("BENCH_ORDERS", 300000),
		itemsPerOrder: envInt("BENCH_ITEMS_PER_ORDER", 3),
		products:      envInt("BENCH_PRODUCTS", 5000),
		checkouts:     envInt("BENCH_CHECKOUTS", 2000),
	}
	for i := 0; i < b.N; i++ {
		h := newHarness(b, envInt("BENCH_BATCH", 2000))
		d.register(h.fake, testShop)
		ids := h.start(b)

		var peakHeap atomic.Int64
		stop := make(chan struct{})
		sampled := make(chan struct{})
		go func() {
			defer close(sampled)
			var ms runtime.MemStats
			t := time.NewTicker(50 * time.Millisecond)
			defer t.Stop()
			for {
				runtime.ReadMemStats(&ms)
				if v := int64(ms.HeapInuse); v > peakHeap.Load() {
					peakHeap.Store(v)
				}
				select {
				case <-stop:
					return
				case <-t.C:
				}
			}
		}()

		started := time.Now()
		last := started
		type lap struct {
			resource string
			rows     int64
			secs     float64
		}
		var laps []lap
		b.ResetTimer()
		for _, id := range ids {
			if err := h.w.Run(context.Background(), h.shopID, []int64{id}); err != nil {
				b.Fatal(err)
			}
			var res string
			var rows int64
			if err := h.db.QueryRow(`SELECT resource, rows_done FROM import_runs WHERE id = $1`, id).Scan(&res, &rows); err != nil {
				b.Fatal(err)
			}
			now := time.Now()
			laps = append(laps, lap{res, rows, now.Sub(last).Seconds()})
			last = now
		}
		total := time.Since(started)
		b.StopTimer()
		close(stop)
		<-sampled

		var all int64
		fmt.Printf("\nBenchmarkImport: %d customers, %d orders × %d items, %d products, %d checkouts (batch %d)\n",
			d.customers, d.orders, d.itemsPerOrder, d.products, d.checkouts, h.w.o.BatchSize)
		for _, l := range laps {
			all += l.rows
			fmt.Printf("  %-10s %9d rows  %6.1f s  %8.0f rows/s  (incl. refresh)\n", l.resource, l.rows, l.secs, float64(l.rows)/l.secs)
		}
		fmt.Printf("  total      %9d rows  %6.1f s  %8.0f rows/s\n", all, total.Seconds(), float64(all)/total.Seconds())
		fmt.Printf("  peak Go heap in use %.1f MiB, peak RSS (VmHWM) %.1f MiB\n",
			float64(peakHeap.Load())/(1<<20), float64(vmHWM())/(1<<20))
		b.ReportMetric(float64(all)/total.Seconds(), "rows/s")
		b.ReportMetric(float64(peakHeap.Load())/(1<<20), "peak-heap-MiB")
	}
}
