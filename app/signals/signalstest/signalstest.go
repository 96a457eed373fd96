// Package signalstest helps tests look at the signals a write recorded.
package signalstest

import (
	"context"
	"fmt"
	"log/slog"
	"sort"
	"sync"
	"testing"
	"time"

	"github.com/jmoiron/sqlx"

	"github.com/cartwheel/cartwheel/app/signals"
)

// Start runs the signals consumer with h (nil handlers: signals.Discard)
// the way the app does, until the test ends, and returns it. A customer
// whose signals fail to be consumed fails the test.
func Start(t testing.TB, d *sqlx.DB, h signals.Handlers) *signals.Consumer {
	t.Helper()
	if h.Segments == nil {
		h.Segments = signals.Discard
	}
	if h.Flows == nil {
		h.Flows = signals.Discard
	}
	if h.Reports == nil {
		h.Reports = signals.Discard
	}
	c, err := signals.NewConsumer(d, h, nil)
	if err != nil {
		t.Fatal(err)
	}
	var failures errorLog
	c.Log = slog.New(&failures)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		c.Run(ctx)
	}()
	t.Cleanup(func() {
		cancel()
		<-done
		for _, f := range failures.get() {
			t.Errorf("signals consumer: %s", f)
		}
	})
	return c
}

// Drain waits until no signal is pending (the consumer started by Start
// took them all), failing the test after a generous deadline.
func Drain(t testing.TB, d *sqlx.DB) {
	t.Helper()
	deadline := time.Now().Add(90 * time.Second)
	for {
		var n int
		if err := d.Get(&n, `SELECT count(*) FROM customer_signals`); err != nil {
			t.Fatal(err)
		}
		if n == 0 {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d signals still pending", n)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// errorLog keeps the consumer's error records.
type errorLog struct {
	mu  sync.Mutex
	got []string
}

func (l *errorLog) Enabled(_ context.Context, lv slog.Level) bool { return lv >= slog.LevelError }
func (l *errorLog) Handle(_ context.Context, r slog.Record) error {
	msg := r.Message
	r.Attrs(func(a slog.Attr) bool {
		msg += " " + a.String()
		return true
	})
	l.mu.Lock()
	l.got = append(l.got, msg)
	l.mu.Unlock()
	return nil
}
func (l *errorLog) WithAttrs([]slog.Attr) slog.Handler { return l }
func (l *errorLog) WithGroup(string) slog.Handler      { return l }
func (l *errorLog) get() []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]string(nil), l.got...)
}

// Row is a pending signal as stored.
type Row struct {
	ID         int64     `db:"id"`
	ShopID     int64     `db:"shop_id"`
	CustomerID int64     `db:"customer_id"`
	Kind       string    `db:"kind"`
	Ref        string    `db:"ref"`
	Data       string    `db:"data"`
	At         time.Time `db:"at"`
}

// String is "customer kind ref" (ref left out when empty).
func (r Row) String() string {
	if r.Ref == "" {
		return fmt.Sprintf("%d %s", r.CustomerID, r.Kind)
	}
	return fmt.Sprintf("%d %s %s", r.CustomerID, r.Kind, r.Ref)
}

// Pending returns the pending signals in record order.
func Pending(t testing.TB, d *sqlx.DB) []Row {
	t.Helper()
	var rows []Row
	if err := d.Select(&rows, `SELECT id, shop_id, customer_id, kind, ref, data::text AS data, at FROM customer_signals ORDER BY id`); err != nil {
		t.Fatal(err)
	}
	return rows
}

// Take returns the pending signals as sorted "customer kind ref" strings and
// forgets them, so the next step starts clean.
func Take(t testing.TB, d *sqlx.DB) []string {
	t.Helper()
	rows := Pending(t, d)
	d.MustExec(`DELETE FROM customer_signals`)
	out := make([]string, len(rows))
	for i, r := range rows {
		out[i] = r.String()
	}
	sort.Strings(out)
	return out
}
