package ratelimit

import (
	"context"
	"fmt"
	"math"
	"time"
)

// takeNSQL is takeSQL for n tokens at once ($5): all or none, so a batch of
// n messages either goes whole or waits until the bucket holds n.
const takeNSQL = `
INSERT INTO rate_limits AS r (key, tokens, at, allowed, expires_at)
VALUES ($1, $2::float8 - $5::float8, $3, true, $3::timestamptz + make_interval(secs => $5::float8 / $4::float8))
ON CONFLICT (key) DO UPDATE SET
    tokens = CASE WHEN ` + refill + ` >= $5::float8 THEN ` + refill + ` - $5::float8 ELSE ` + refill + ` END,
    allowed = ` + refill + ` >= $5::float8,
    at = greatest(r.at, $3::timestamptz),
    expires_at = greatest(r.at, $3::timestamptz) + make_interval(secs => $2::float8 / $4::float8)
RETURNING allowed, tokens`

// AllowN takes n tokens for key under rule at once (a batch of n sends),
// or none. n must be between 1 and the rule's burst: a bucket never holds
// more than its burst, so a larger n could never pass. Unlike Allow, a
// database error is returned with a refusing decision: callers of AllowN
// are background jobs that retry, and letting a batch through unmetered
// would break the limit it exists for.
func (l *Limiter) AllowN(ctx context.Context, rule Rule, key string, n int) (Decision, error) {
	if l == nil || rule.Rate <= 0 || rule.Burst <= 0 {
		return Decision{Allowed: true}, nil
	}
	if n < 1 || n > rule.Burst {
		return Decision{}, fmt.Errorf("ratelimit: %s: %d tokens asked of a bucket of %d", rule.Name, n, rule.Burst)
	}
	var row struct {
		Allowed bool    `db:"allowed"`
		Tokens  float64 `db:"tokens"`
	}
	if err := l.db.GetContext(ctx, &row, takeNSQL, rule.Name+":"+key, float64(rule.Burst), l.now(), rule.Rate, float64(n)); err != nil {
		return Decision{RetryAfter: time.Second}, fmt.Errorf("ratelimit: %s: %w", rule.Name, err)
	}
	if row.Allowed {
		return Decision{Allowed: true}, nil
	}
	wait := time.Duration(math.Ceil((float64(n) - row.Tokens) / rule.Rate * float64(time.Second)))
	return Decision{RetryAfter: wait}, nil
}
