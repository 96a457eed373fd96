package ratelimit_test

import (
	"context"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jmoiron/sqlx"

	"github.com/cartwheel/cartwheel/app/db"
	"github.com/cartwheel/cartwheel/app/db/dbtest"
	"github.com/cartwheel/cartwheel/app/ratelimit"
)

type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *clock) add(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

func TestBucketEmptiesAndRefills(t *testing.T) {
	d := dbtest.New(t)
	clk := &clock{t: time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC)}
	l := ratelimit.New(d, clk.now)
	rule := ratelimit.PerWindow("test", 3, time.Minute, "slow down") // one token per 20 s
	ctx := context.Background()
	for i := range 3 {
		dec, err := l.Allow(ctx, rule, "k")
		if err != nil || !dec.Allowed {
			t.Fatalf("request %d: %+v %v, want allowed", i, dec, err)
		}
	}
	dec, err := l.Allow(ctx, rule, "k")
	if err != nil || dec.Allowed {
		t.Fatalf("4th request: %+v %v, want refused", dec, err)
	}
	if dec.RetryAfter <= 0 || dec.RetryAfter > 20*time.Second {
		t.Errorf("RetryAfter = %v, want (0, 20s]", dec.RetryAfter)
	}
	// Another key has its own bucket.
	if dec, _ := l.Allow(ctx, rule, "other"); !dec.Allowed {
		t.Error("another key was refused")
	}
	clk.add(20 * time.Second)
	if dec, _ := l.Allow(ctx, rule, "k"); !dec.Allowed {
		t.Error("refused after one token dripped back")
	}
	if dec, _ := l.Allow(ctx, rule, "k"); dec.Allowed {
		t.Error("allowed a second request with only one token refilled")
	}
	// A clock behind the stored time (another instance) adds no tokens.
	clk.add(-time.Hour)
	if dec, _ := l.Allow(ctx, rule, "k"); dec.Allowed {
		t.Error("a clock running behind refilled the bucket")
	}
}

// Two instances are two Limiters (each its own pool) on one database;
// many goroutines hit one key through both at once: exactly the burst
// gets through, whatever the interleaving.
func TestConcurrentChecksAcrossInstances(t *testing.T) {
	d1, url := dbtest.NewWithURL(t)
	d2 := openAgain(t, url)
	frozen := time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC)
	now := func() time.Time { return frozen } // no refill during the test
	limiters := []*ratelimit.Limiter{ratelimit.New(d1, now), ratelimit.New(d2, now)}
	rule := ratelimit.PerWindow("conc", 25, time.Hour, "")
	var allowed, refused atomic.Int64
	var wg sync.WaitGroup
	for g := range 40 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range 5 {
				dec, err := limiters[g%2].Allow(context.Background(), rule, "shared")
				if err != nil {
					t.Error(err)
					return
				}
				if dec.Allowed {
					allowed.Add(1)
				} else {
					refused.Add(1)
				}
			}
		}()
	}
	wg.Wait()
	if allowed.Load() != 25 || refused.Load() != 175 {
		t.Fatalf("allowed %d, refused %d; want 25 and 175", allowed.Load(), refused.Load())
	}
}

func TestPurgeDropsRefilledBuckets(t *testing.T) {
	d := dbtest.New(t)
	clk := &clock{t: time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC)}
	l := ratelimit.New(d, clk.now)
	rule := ratelimit.PerWindow("p", 2, time.Minute, "")
	ctx := context.Background()
	l.Allow(ctx, rule, "old")
	clk.add(50 * time.Second)
	l.Allow(ctx, rule, "new")
	clk.add(20 * time.Second) // "old" is full again, "new" is not
	n, err := l.Purge(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var keys []string
	if err := d.Select(&keys, `SELECT key FROM rate_limits`); err != nil {
		t.Fatal(err)
	}
	if n != 1 || len(keys) != 1 || keys[0] != "p:new" {
		t.Fatalf("purged %d, left %v; want 1 and [p:new]", n, keys)
	}
}

// BenchmarkSelect1 is one bare round trip to the same database, the floor
// BenchmarkAllow compares with.
func BenchmarkSelect1(b *testing.B) {
	d := dbtest.New(b)
	ctx := context.Background()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			var n int
			if err := d.GetContext(ctx, &n, `SELECT 1`); err != nil {
				b.Error(err)
				return
			}
		}
	})
}

// BenchmarkAllow is the cost of one limiter check (one UPSERT round trip)
// on the local cluster, spread over 1,000 keys.
func BenchmarkAllow(b *testing.B) {
	d := dbtest.New(b)
	l := ratelimit.New(d, nil)
	rule := ratelimit.PerWindow("bench", 1_000_000, time.Second, "")
	keys := make([]string, 1000)
	for i := range keys {
		keys[i] = "visitor-" + string(rune('a'+i%26)) + time.Duration(i).String()
	}
	ctx := context.Background()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		i := 0
		for pb.Next() {
			if _, err := l.Allow(ctx, rule, keys[i%len(keys)]); err != nil {
				b.Error(err)
				return
			}
			i++
		}
	})
}

func openAgain(t *testing.T, url string) *sqlx.DB {
	t.Helper()
	d, err := db.Open(context.Background(), url)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { d.Close() })
	return d
}
