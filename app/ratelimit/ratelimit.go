// Package ratelimit keeps rate limits in PostgreSQL, so a limit holds
// across every running app instance: each check is one UPSERT on a token
// bucket row keyed by (rule, key). Old rows are dropped by a periodic job.
package ratelimit

import (
	"context"
	"fmt"
	"math"
	"sync"
	"time"

	"github.com/jmoiron/sqlx"
)

// Rule is one limit: a bucket of Burst tokens refilled at Rate per second;
// each request takes a token. Message is what the client is told when the
// bucket is empty.
type Rule struct {
	Name    string
	Rate    float64 // tokens per second
	Burst   int
	Message string
}

// PerWindow is a rule allowing n requests per window (a burst of n,
// refilled evenly over the window).
func PerWindow(name string, n int, window time.Duration, message string) Rule {
	return Rule{Name: name, Rate: float64(n) / window.Seconds(), Burst: n, Message: message}
}

// Decision is the answer to one check.
type Decision struct {
	Allowed bool
	// RetryAfter is how long until a token is available (0 when allowed).
	RetryAfter time.Duration
}

// Limiter checks rules against the shared table.
type Limiter struct {
	db  *sqlx.DB
	now func() time.Time

	// take is takeSQL prepared once (database/sql prepares it on each
	// pooled connection as needed): a check skips parsing and planning.
	mu   sync.Mutex
	take *sqlx.Stmt
}

// stmt returns the prepared check, preparing it on first use (again
// after a failure, so a database that was down at start is no lasting
// harm).
func (l *Limiter) stmt(ctx context.Context) (*sqlx.Stmt, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.take == nil {
		st, err := l.db.PreparexContext(context.WithoutCancel(ctx), takeSQL)
		if err != nil {
			return nil, err
		}
		l.take = st
	}
	return l.take, nil
}

// New returns a Limiter on db; now may be nil (time.Now).
func New(db *sqlx.DB, now func() time.Time) *Limiter {
	if now == nil {
		now = time.Now
	}
	return &Limiter{db: db, now: now}
}

// refill is the bucket's level now: what it held plus what has dripped in
// since, capped at the burst. A clock behind the stored time (another
// instance's) adds nothing rather than taking tokens away.
const refill = `least($2::float8, r.tokens + greatest(0, extract(epoch FROM ($3::timestamptz - r.at)))::float8 * $4::float8)`

// takeSQL takes a token from the bucket in one statement. The row lock
// taken by ON CONFLICT serialises concurrent checks of one key across
// instances, so n concurrent requests against a bucket of b tokens let
// exactly min(n, b) through.
const takeSQL = `
INSERT INTO rate_limits AS r (key, tokens, at, allowed, expires_at)
VALUES ($1, $2::float8 - 1, $3, true, $3::timestamptz + make_interval(secs => $2::float8 / $4::float8))
ON CONFLICT (key) DO UPDATE SET
    tokens = CASE WHEN ` + refill + ` >= 1 THEN ` + refill + ` - 1 ELSE ` + refill + ` END,
    allowed = ` + refill + ` >= 1,
    at = greatest(r.at, $3::timestamptz),
    expires_at = greatest(r.at, $3::timestamptz) + make_interval(secs => $2::float8 / $4::float8)
RETURNING allowed, tokens`

// Allow takes a token for key under rule. A database error is returned
// with an allowing decision: callers log it and let the request through
// rather than turn a limiter hiccup into an outage (the request then
// needs the same database anyway).
func (l *Limiter) Allow(ctx context.Context, rule Rule, key string) (Decision, error) {
	if l == nil || rule.Rate <= 0 || rule.Burst <= 0 {
		return Decision{Allowed: true}, nil
	}
	var row struct {
		Allowed bool    `db:"allowed"`
		Tokens  float64 `db:"tokens"`
	}
	take, err := l.stmt(ctx)
	if err != nil {
		return Decision{Allowed: true}, fmt.Errorf("ratelimit: prepare: %w", err)
	}
	if err := take.GetContext(ctx, &row, rule.Name+":"+key, float64(rule.Burst), l.now(), rule.Rate); err != nil {
		return Decision{Allowed: true}, fmt.Errorf("ratelimit: %s: %w", rule.Name, err)
	}
	if row.Allowed {
		return Decision{Allowed: true}, nil
	}
	wait := time.Duration(math.Ceil((1 - row.Tokens) / rule.Rate * float64(time.Second)))
	return Decision{RetryAfter: wait}, nil
}

// Purge drops buckets that have refilled completely (absent and full are
// the same thing) and returns how many.
func (l *Limiter) Purge(ctx context.Context) (int64, error) {
	res, err := l.db.ExecContext(ctx, `DELETE FROM rate_limits WHERE expires_at < $1`, l.now())
	if err != nil {
		return 0, fmt.Errorf("ratelimit: purge: %w", err)
	}
	return res.RowsAffected()
}
