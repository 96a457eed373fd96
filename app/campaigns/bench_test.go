package campaigns_test

import (
	"bytes"
	"context"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/jmoiron/sqlx"

	"github.com/cartwheel/cartwheel/app/campaigns"
	"github.com/cartwheel/cartwheel/app/db/dbtest"
	"github.com/cartwheel/cartwheel/app/segments"
)

// BenchmarkSnapshot snapshots a campaign whose audience is one segment of
// BENCH_CAMPAIGN_CUSTOMERS customers (default 1,000,000) with suppressions,
// recent emails and engagement mixed in, most-engaged-first and an A/B test
// with a holdout: the segment refresh, then the one INSERT. It also times
// the reachable count on the same audience. The seeded database
// (bench_campaigns) is kept and reused. Run it with `make bench-campaign`.
//
// Back-to-back snapshots (b.N > 1) also pay for the previous ones' WAL,
// checkpoints and autovacuum: the first is the representative figure.
func BenchmarkSnapshot(b *testing.B) {
	b.StopTimer() // ns/op times the A/B snapshots only
	n := 1_000_000
	if v, err := strconv.Atoi(os.Getenv("BENCH_CAMPAIGN_CUSTOMERS")); err == nil && v > 0 {
		n = v
	}
	ctx := context.Background()
	d, _ := dbtest.Persistent(b, "bench_campaigns", false)
	now := time.Now()
	var have int
	if err := d.Get(&have, `SELECT count(*) FROM customers WHERE shop_id = 1`); err != nil {
		b.Fatal(err)
	}
	if have != n {
		b.Logf("seeding %d customers…", n)
		start := time.Now()
		for _, q := range []string{
			`TRUNCATE shops CASCADE`,
			`INSERT INTO shops (id, domain, iana_timezone, daily_send_limit) VALUES (1, 'bench.myshopify.com', 'Europe/Paris', 200000)`,
			// 90 % subscribed, 1 % without an address, everyone tagged vip.
			`INSERT INTO customers (shop_id, email, email_consent, tags)
			 SELECT 1, CASE WHEN g % 100 = 0 THEN NULL ELSE 'user' || g || '@example.com' END,
			        CASE WHEN g % 10 = 0 THEN 'unsubscribed' ELSE 'subscribed' END, '{vip}'
			 FROM generate_series(1, $1) g`,
			`INSERT INTO suppressions (shop_id, email, reason)
			 SELECT 1, email, CASE WHEN id % 2 = 0 THEN 'hard_bounce' ELSE 'complaint' END
			 FROM customers WHERE shop_id = 1 AND email IS NOT NULL AND id % 50 IN (3, 4)`,
			// 10 % got a campaign three days ago (inside the 7-day window).
			`INSERT INTO email_messages (shop_id, customer_id, to_email, kind, dedupe_key, marketing, status, sent_at)
			 SELECT 1, id, email, 'campaign', 'campaign:0:customer:' || id, true, 'delivered', now() - interval '3 days'
			 FROM customers WHERE shop_id = 1 AND email IS NOT NULL AND id % 10 = 7`,
			// 30 % opened or clicked at some point.
			`INSERT INTO customer_activity (shop_id, customer_id, name, n, first_at, last_at)
			 SELECT 1, id, CASE WHEN id % 2 = 0 THEN 'email:open' ELSE 'email:click' END, 1,
			        now() - (id % 1000) * interval '1 hour', now() - (id % 1000) * interval '1 hour'
			 FROM customers WHERE shop_id = 1 AND id % 10 IN (1, 4, 8)`,
			`ANALYZE`,
		} {
			var args []any
			if strings.Contains(q, "$1") {
				args = append(args, n)
			}
			if _, err := d.ExecContext(ctx, q, args...); err != nil {
				b.Fatalf("%s: %v", q, err)
			}
		}
		r := segments.Rules{Version: segments.Version, Root: segments.Group{Op: "and", Items: []segments.Node{
			{Condition: &segments.Condition{Field: segments.FieldTags, Op: "has_any", Values: []string{"vip"}}}}}}
		if _, err := segments.NewStore(d).Create(ctx, 1, "VIP", r, now); err != nil {
			b.Fatal(err)
		}
		if _, err := d.ExecContext(ctx, `ANALYZE`); err != nil {
			b.Fatal(err)
		}
		b.Logf("seeded in %s", time.Since(start).Round(time.Second))
	}
	var segID int64
	if err := d.Get(&segID, `SELECT id FROM segments WHERE shop_id = 1 ORDER BY id LIMIT 1`); err != nil {
		b.Fatal(err)
	}
	store := campaigns.NewStore(d)
	a := campaigns.Audience{Include: []int64{segID}, MostEngagedFirst: true}

	t0 := time.Now()
	bd, err := store.Reachable(ctx, 1, a, now)
	if err != nil {
		b.Fatal(err)
	}
	reach := time.Since(t0)
	b.Logf("reachable count of %d in segment: %s (%+v)", bd.InSegments, reach.Round(time.Millisecond), bd)
	// The first page behind two of the numbers (the links in the UI).
	for _, reason := range []string{campaigns.ReasonDailyLimit, campaigns.ReasonSuppressed + "hard_bounce"} {
		t := time.Now()
		p, err := store.Members(ctx, 1, a, reason, 0, 50, now)
		if err != nil || len(p.Members) != 50 {
			b.Fatalf("members %s: %d %v", reason, len(p.Members), err)
		}
		b.Logf("first page of %s: %s", reason, time.Since(t).Round(time.Millisecond))
	}

	// Wall time on a machine shared with other work varies by half from run
	// to run; the database's CPU time (all server processes, read from
	// /proc when the cluster is local) is the steadier figure.
	post := postmasterPID(ctx, d)
	for _, tc := range []struct {
		name string
		ab   campaigns.AB
	}{
		{"A/B 20 % over two variants, 5 % holdout", campaigns.AB{Variants: []campaigns.Variant{{Key: "A"}, {Key: "B"}}, TestPercent: 20, WaitHours: 4, HoldoutPercent: 5}},
		{"no A/B test", campaigns.AB{}},
	} {
		var total, refresh, cpu time.Duration
		size := 0
		for i := 0; i < b.N; i++ {
			if _, err := d.ExecContext(ctx, `TRUNCATE campaign_recipients, campaigns`); err != nil {
				b.Fatal(err)
			}
			c, err := store.Create(ctx, 1, campaigns.Draft{Name: "bench", Audience: a, AB: tc.ab})
			if err != nil {
				b.Fatal(err)
			}
			// The refresh alone, to split the figure (nothing changed since,
			// so the snapshot's own refresh costs about the same).
			t1 := time.Now()
			if err := store.Segments.Refresh(ctx, 1, segID, now); err != nil {
				b.Fatal(err)
			}
			refresh += time.Since(t1)
			t2, c0 := time.Now(), serverCPU(post)
			if tc.ab.TestPercent > 0 {
				b.StartTimer()
			}
			got, err := store.Snapshot(ctx, 1, c.ID, now)
			b.StopTimer()
			if err != nil {
				b.Fatal(err)
			}
			total += time.Since(t2)
			cpu += serverCPU(post) - c0
			size = got.AudienceSize
		}
		if size != bd.WillSend() {
			b.Fatalf("snapshot holds %d, the reachable count said %d", size, bd.WillSend())
		}
		n := time.Duration(b.N)
		b.Logf("%s: snapshot of %d recipients out of %d in the segment: %s per snapshot (of which the segment refresh ≈ %s), database CPU %s",
			tc.name, size, bd.InSegments, (total / n).Round(time.Millisecond), (refresh / n).Round(time.Millisecond), (cpu / n).Round(time.Millisecond))
		if tc.ab.TestPercent > 0 {
			b.ReportMetric((total / n).Seconds(), "s/snapshot")
			b.ReportMetric((cpu / n).Seconds(), "db-cpu-s/snapshot")
		} else {
			b.ReportMetric((total / n).Seconds(), "s/plain-snapshot")
		}
	}
	b.ReportMetric(reach.Seconds(), "s/reachable")
}

// postmasterPID is the parent of this connection's server process (0 when
// the server isn't on this machine).
func postmasterPID(ctx context.Context, d *sqlx.DB) int {
	var pid int
	if err := d.GetContext(ctx, &pid, `SELECT pg_backend_pid()`); err != nil {
		return 0
	}
	f, ok := procStat(pid)
	if !ok {
		return 0
	}
	ppid, _ := strconv.Atoi(f[1])
	return ppid
}

// procStat returns the fields of /proc/<pid>/stat after the command name.
func procStat(pid int) ([]string, bool) {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return nil, false
	}
	i := bytes.LastIndexByte(b, ')')
	if i < 0 {
		return nil, false
	}
	f := strings.Fields(string(b[i+1:]))
	return f, len(f) > 12
}

// serverCPU sums the user and system CPU time of the postmaster's children
// (clock ticks of 10 ms).
func serverCPU(postmaster int) time.Duration {
	if postmaster == 0 {
		return 0
	}
	dirs, _ := os.ReadDir("/proc")
	var ticks int64
	for _, e := range dirs {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		f, ok := procStat(pid)
		if !ok || f[1] != strconv.Itoa(postmaster) {
			continue
		}
		u, _ := strconv.ParseInt(f[11], 10, 64)
		s, _ := strconv.ParseInt(f[12], 10, 64)
		ticks += u + s
	}
	return time.Duration(ticks) * 10 * time.Millisecond
}
