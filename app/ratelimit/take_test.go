package ratelimit_test

import (
	"context"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/cartwheel/cartwheel/app/db/dbtest"
	"github.com/cartwheel/cartwheel/app/ratelimit"
)

// Twelve processes (each its own Limiter) asking 30 tokens at once of a
// bucket of 100: exactly three get them, all or nothing; the rest are told
// how long until 30 are there.
func TestAllowNAllOrNothingAcrossLimiters(t *testing.T) {
	d := dbtest.New(t)
	clk := &clock{t: time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC)}
	rule := ratelimit.Rule{Name: "batch", Rate: 100, Burst: 100}
	ctx := context.Background()
	var allowed atomic.Int64
	var wg sync.WaitGroup
	for range 12 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			dec, err := ratelimit.New(d, clk.now).AllowN(ctx, rule, "shop", 30)
			if err != nil {
				t.Error(err)
				return
			}
			if dec.Allowed {
				allowed.Add(1)
			} else if dec.RetryAfter <= 0 || dec.RetryAfter > 300*time.Millisecond {
				t.Errorf("RetryAfter %v with 10 tokens left, want about 200ms", dec.RetryAfter)
			}
		}()
	}
	wg.Wait()
	if allowed.Load() != 3 {
		t.Fatalf("%d batches of 30 allowed from a bucket of 100, want 3", allowed.Load())
	}
	l := ratelimit.New(d, clk.now)
	clk.add(200 * time.Millisecond) // 10 + 20 = 30 tokens
	if dec, _ := l.AllowN(ctx, rule, "shop", 31); dec.Allowed {
		t.Fatal("31 tokens taken from 30")
	}
	if dec, _ := l.AllowN(ctx, rule, "shop", 30); !dec.Allowed {
		t.Fatal("30 tokens refused with 30 in the bucket")
	}
	if _, err := l.AllowN(ctx, rule, "shop", 101); err == nil {
		t.Fatal("more tokens than the burst were asked without an error")
	}
}
