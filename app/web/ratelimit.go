package web

import (
	"container/list"
	"math"
	"sync"
	"time"
)

// rateLimiter is a set of token buckets keyed by a string (an IP, a
// visitor id). It lives in this process's memory, so limits apply per
// instance: with N instances behind a load balancer a client gets up to N
// times the rate. That is acceptable for abuse protection; a shared limit
// would need PostgreSQL or a cache on every request. Memory is bounded: the
// least recently used keys are evicted beyond maxKeys (an evicted key just
// starts again with a full bucket).
type rateLimiter struct {
	rate    float64 // tokens per second
	burst   float64
	maxKeys int

	mu   sync.Mutex
	keys map[string]*list.Element
	lru  *list.List // front = most recently used
}

type bucket struct {
	key    string
	tokens float64
	at     time.Time
}

func newRateLimiter(perSecond float64, burst, maxKeys int) *rateLimiter {
	return &rateLimiter{rate: perSecond, burst: float64(burst), maxKeys: maxKeys,
		keys: map[string]*list.Element{}, lru: list.New()}
}

// allow takes a token for key; when none is left it returns how long until
// one is.
func (l *rateLimiter) allow(key string, now time.Time) (bool, time.Duration) {
	if l == nil || l.rate <= 0 {
		return true, 0
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	el, ok := l.keys[key]
	if !ok {
		el = l.lru.PushFront(&bucket{key: key, tokens: l.burst, at: now})
		l.keys[key] = el
		for l.lru.Len() > l.maxKeys {
			old := l.lru.Back()
			l.lru.Remove(old)
			delete(l.keys, old.Value.(*bucket).key)
		}
	} else {
		l.lru.MoveToFront(el)
	}
	b := el.Value.(*bucket)
	b.tokens = math.Min(l.burst, b.tokens+now.Sub(b.at).Seconds()*l.rate)
	b.at = now
	if b.tokens >= 1 {
		b.tokens--
		return true, 0
	}
	wait := time.Duration((1 - b.tokens) / l.rate * float64(time.Second))
	return false, wait
}
