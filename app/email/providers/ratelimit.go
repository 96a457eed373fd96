package providers

import (
	"context"
	"sync"
	"time"
)

// ShopLimiter is a token bucket per shop: at most Rate messages per second
// per shop, with bursts of up to Burst. A zero Rate means no limit.
type ShopLimiter struct {
	Rate  float64
	Burst int

	mu      sync.Mutex
	buckets map[int64]*bucket
}

type bucket struct {
	tokens float64
	last   time.Time
}

// NewShopLimiter returns a limiter of rate msgs/s per shop.
func NewShopLimiter(rate float64, burst int) *ShopLimiter {
	if burst < 1 {
		burst = 1
	}
	return &ShopLimiter{Rate: rate, Burst: burst, buckets: map[int64]*bucket{}}
}

// reserve takes a token now or returns how long to wait for one (the token
// is then already taken).
func (l *ShopLimiter) reserve(shopID int64, now time.Time) time.Duration {
	l.mu.Lock()
	defer l.mu.Unlock()
	b := l.buckets[shopID]
	if b == nil {
		b = &bucket{tokens: float64(l.Burst), last: now}
		l.buckets[shopID] = b
	}
	b.tokens += now.Sub(b.last).Seconds() * l.Rate
	if b.tokens > float64(l.Burst) {
		b.tokens = float64(l.Burst)
	}
	b.last = now
	b.tokens--
	if b.tokens >= 0 {
		return 0
	}
	return time.Duration(-b.tokens / l.Rate * float64(time.Second))
}

// Wait blocks until the shop may send one more message, or ctx ends.
func (l *ShopLimiter) Wait(ctx context.Context, shopID int64) error {
	if l == nil || l.Rate <= 0 {
		return ctx.Err()
	}
	d := l.reserve(shopID, time.Now())
	if d <= 0 {
		return nil
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}
