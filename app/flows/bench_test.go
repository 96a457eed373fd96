package flows_test

import (
	"context"
	"fmt"
	"os"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jmoiron/sqlx"
	"github.com/riverqueue/river"
	"github.com/riverqueue/river/riverdriver/riverdatabasesql"

	"github.com/cartwheel/cartwheel/app/customers"
	"github.com/cartwheel/cartwheel/app/db/dbtest"
	"github.com/cartwheel/cartwheel/app/flows"
	"github.com/cartwheel/cartwheel/app/jobs"
	"github.com/cartwheel/cartwheel/app/segments"
	"github.com/cartwheel/cartwheel/app/signals"
)

func envInt(name string, def int) int {
	if v, err := strconv.Atoi(os.Getenv(name)); err == nil && v > 0 {
		return v
	}
	return def
}

// BenchmarkFlows (make bench-flows) measures the engine with
// BENCH_FLOWS_WAITING runs waiting (default 1,000,000): due steps executed
// per second into the ledger and the email queue, and the lateness of due
// steps. Figures are printed, not asserted.
func BenchmarkFlows(b *testing.B) {
	waiting := envInt("BENCH_FLOWS_WAITING", 1_000_000)
	due := envInt("BENCH_FLOWS_DUE", 20_000)
	d, _ := dbtest.Persistent(b, "bench_flows", true)
	ctx := context.Background()
	v := &eng{db: d, now: time.Now()}
	must := func(q string, args ...any) {
		if _, err := d.ExecContext(ctx, q, args...); err != nil {
			b.Fatalf("%s: %v", q[:40], err)
		}
	}
	if err := d.Get(&v.shopID, `INSERT INTO shops (domain, installed_at, marketing_cap_hours, quiet_hours_start, quiet_hours_end)
		VALUES ('bench-flows.myshopify.com', now(), 16, '', '') RETURNING id`); err != nil {
		b.Fatal(err)
	}
	if err := d.Get(&v.tmpl, `INSERT INTO email_templates (shop_id, name, locale, doc) VALUES ($1, 'T', 'en', '{}') RETURNING id`, v.shopID); err != nil {
		b.Fatal(err)
	}
	def := flows.Definition{
		Trigger: flows.Trigger{Type: flows.TriggerCheckoutAbandoned, Delay: dur("1h")},
		Exits:   []flows.Exit{{Kind: flows.ExitOrderPlaced}}, ReEntry: flows.ReEntry{Mode: flows.ReEntryEveryTime},
		Priority: 90, MaxLateness: dur("12h"),
		Steps: []flows.Step{{ID: "day1", Type: flows.StepSendEmail, TemplateID: v.tmpl}, {ID: "w", Type: flows.StepWait, Wait: dur("2d")},
			{ID: "day3", Type: flows.StepSendEmail, TemplateID: v.tmpl}},
	}
	raw := mustJSON(def)
	var flowID int64
	if err := d.Get(&flowID, `INSERT INTO flows (shop_id, name, status, trigger_type, draft, live_version) VALUES ($1, 'bench', 'live', $2, $3, 1) RETURNING id`,
		v.shopID, def.Trigger.Type, raw); err != nil {
		b.Fatal(err)
	}
	must(`INSERT INTO flow_versions (shop_id, flow_id, version, definition) VALUES ($1, $2, 1, $3)`, v.shopID, flowID, raw)

	if os.Getenv("BENCH_FLOWS_ASYNC") != "" {
		must(`ALTER DATABASE bench_flows SET synchronous_commit = off`)
	}
	start := time.Now()
	must(`INSERT INTO customers (shop_id, email, email_consent) SELECT $1, 'c' || g || '@example.com', 'subscribed' FROM generate_series(1, $2) g`, v.shopID, waiting)
	// All but `due` wait for days; `due` are due now, at the first send.
	must(`INSERT INTO flow_runs (shop_id, flow_id, version, priority, customer_id, trigger_ref, step_id, phase, wake_at, due_at, started_at)
		SELECT $1, $2, 1, 90, id, 'tok' || id, CASE WHEN rn <= $3 THEN 'day1' ELSE 'w' END, CASE WHEN rn <= $3 THEN 'step' ELSE 'wait' END,
		       CASE WHEN rn <= $3 THEN now() ELSE now() + interval '2 days' END, now(), now()
		FROM (SELECT id, row_number() OVER (ORDER BY id) AS rn FROM customers WHERE shop_id = $1) c`, v.shopID, flowID, due)
	must(`ANALYZE`)
	fmt.Printf("seeded %d customers and %d waiting runs in %s\n", waiting, waiting, time.Since(start).Round(time.Second))

	// The deliveries are queued as in production (an insert-only River
	// client: nothing sends them here).
	jc, err := river.NewClient(riverdatabasesql.New(d.DB), &river.Config{SkipUnknownJobCheck: true})
	if err != nil {
		b.Fatal(err)
	}
	e := &flows.Engine{DB: d, Mail: &flows.LedgerMailer{Jobs: jc}, Profiles: customers.NewStore(d), Workers: envInt("BENCH_FLOWS_WORKERS", 8)}
	e.QueueWith(jc)
	b.ResetTimer()
	t := time.Now()
	n, err := e.RunDue(ctx, v.shopID, time.Now())
	if err != nil {
		b.Fatal(err)
	}
	el := time.Since(t)
	b.StopTimer()
	var msgs int
	d.Get(&msgs, `SELECT count(*) FROM email_messages WHERE shop_id = $1`, v.shopID)
	fmt.Printf("due steps: %d executed in %s = %.0f steps/s; %d emails reserved and queued for delivery = %.0f sends/s (%d workers, %d runs waiting)\n",
		n, el.Round(time.Millisecond), float64(n)/el.Seconds(), msgs, float64(msgs)/el.Seconds(), e.Workers, waiting)

	// Lateness: the sends executed vs when they were due.
	var late []float64
	d.Select(&late, `SELECT EXTRACT(EPOCH FROM (s.at - r.due_at)) FROM flow_run_steps s JOIN flow_runs r ON r.id = s.run_id
		WHERE s.shop_id = $1 AND s.outcome = 'sent'`, v.shopID)
	sort.Float64s(late)
	if len(late) > 0 {
		fmt.Printf("lateness of due steps (one pass, all due at once): p50 %.2fs p99 %.2fs\n", late[len(late)/2], late[len(late)*99/100])
	}
	fmt.Printf("peak RSS: %s\n", peakRSS())
}

func peakRSS() string {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return "unknown"
	}
	for _, l := range strings.Split(string(b), "\n") {
		if strings.HasPrefix(l, "VmHWM:") {
			return strings.TrimSpace(strings.TrimPrefix(l, "VmHWM:"))
		}
	}
	return "unknown"
}

// BenchmarkFlowsSignals (make bench-flows) measures event → run started:
// BENCH_FLOWS_RATE checkout signals per second (default 1,000), each in its
// own transaction as the webhook processor records them, for
// BENCH_FLOWS_SECONDS (default 10), through the real consumer (segments,
// then flows) on River; latency is from the signal's commit to the run's
// row.
func BenchmarkFlowsSignals(b *testing.B) {
	rate, secs := envInt("BENCH_FLOWS_RATE", 1000), envInt("BENCH_FLOWS_SECONDS", 10)
	total := rate * secs
	sb := newSignalsBench(b, "bench_flows_signals", total)
	d, v, ids, consumer, ctx := sb.d, sb.v, sb.ids, sb.consumer, context.Background()
	cctx, stopConsumer := context.WithCancel(ctx)
	consumed := make(chan struct{})
	go func() {
		defer close(consumed)
		consumer.Run(cctx)
	}()
	defer func() { stopConsumer(); <-consumed }()

	b.ResetTimer()
	// Eight producers, as webhook and ingest workers are many: customer i
	// is recorded at start + i/rate.
	start := time.Now()
	tick := time.Second / time.Duration(rate)
	var wg sync.WaitGroup
	for p := 0; p < 8; p++ {
		wg.Add(1)
		go func(p int) {
			defer wg.Done()
			for i := p; i < len(ids); i += 8 {
				if wait := time.Until(start.Add(time.Duration(i) * tick)); wait > 0 {
					time.Sleep(wait)
				}
				tx, err := d.BeginTx(ctx, nil)
				if err != nil {
					b.Error(err)
					return
				}
				id := ids[i]
				err = signals.Record(ctx, tx, signals.Signal{ShopID: v.shopID, CustomerID: id, Kind: signals.CheckoutStarted, Ref: fmt.Sprint("tok-", id), At: time.Now()})
				if err == nil {
					err = tx.Commit()
				}
				if err != nil {
					tx.Rollback()
					b.Error(err)
					return
				}
			}
		}(p)
	}
	wg.Wait()
	sent := time.Since(start)
	for {
		var n int
		d.Get(&n, `SELECT count(*) FROM flow_runs WHERE shop_id = $1 AND trigger_ref NOT LIKE 'old-%'`, v.shopID)
		if n >= total || time.Since(start) > sent+2*time.Minute {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	b.StopTimer()
	var lat []float64
	d.Select(&lat, `SELECT EXTRACT(EPOCH FROM (updated_at - started_at)) FROM flow_runs WHERE shop_id = $1 AND trigger_ref NOT LIKE 'old-%'`, v.shopID)
	sort.Float64s(lat)
	if len(lat) == 0 {
		b.Fatal("no run started")
	}
	fmt.Printf("event → run started: %d signals at %.0f/s (offered %d/s); %d runs; p50 %.2fs p99 %.2fs max %.2fs; peak RSS %s\n",
		total, float64(total)/sent.Seconds(), rate, len(lat), lat[len(lat)/2], lat[len(lat)*99/100], lat[len(lat)-1], peakRSS())
}

// BenchmarkFlowsLateness (make bench-flows) measures how late due steps
// run in real time: BENCH_FLOWS_LATE runs (default 5,000: 250 a second) come due spread
// over 20 s, with River running the wake jobs as in production; lateness
// is the step's execution minus its wake-up time.
func BenchmarkFlowsLateness(b *testing.B) {
	n := envInt("BENCH_FLOWS_LATE", 5_000)
	d, _ := dbtest.Persistent(b, "bench_flows_lateness", true)
	ctx := context.Background()
	var shopID, tmpl int64
	if err := d.Get(&shopID, `INSERT INTO shops (domain, installed_at, marketing_cap_hours) VALUES ('bench-late.myshopify.com', now(), 0) RETURNING id`); err != nil {
		b.Fatal(err)
	}
	d.Get(&tmpl, `INSERT INTO email_templates (shop_id, name, locale, doc) VALUES ($1, 'T', 'en', '{}') RETURNING id`, shopID)
	def := flows.Definition{Trigger: flows.Trigger{Type: flows.TriggerCustomerCreated}, ReEntry: flows.ReEntry{Mode: flows.ReEntryEveryTime},
		Priority: 50, MaxLateness: dur("12h"), Steps: []flows.Step{{ID: "w", Type: flows.StepWait, Wait: dur("1h")}, {ID: "s", Type: flows.StepSendEmail, TemplateID: tmpl}}}
	raw := mustJSON(def)
	var flowID int64
	if err := d.Get(&flowID, `INSERT INTO flows (shop_id, name, status, trigger_type, draft, live_version) VALUES ($1, 'bench', 'live', $2, $3, 1) RETURNING id`,
		shopID, def.Trigger.Type, raw); err != nil {
		b.Fatal(err)
	}
	d.MustExec(`INSERT INTO flow_versions (shop_id, flow_id, version, definition) VALUES ($1, $2, 1, $3)`, shopID, flowID, raw)
	d.MustExec(`INSERT INTO customers (shop_id, email, email_consent) SELECT $1, 'l' || g || '@example.com', 'subscribed' FROM generate_series(1, $2) g`, shopID, n)

	e := &flows.Engine{DB: d, Mail: &flows.LedgerMailer{}, Profiles: customers.NewStore(d)}
	workers := river.NewWorkers()
	river.AddWorker(workers, &flows.WakeWorker{E: e})
	jc, err := jobs.New(d.DB, workers, jobs.Options{})
	if err != nil {
		b.Fatal(err)
	}
	e.QueueWith(jc)
	// A running app's client has its leader (which moves scheduled jobs to
	// available) elected long before: wait for a probe scheduled job to run.
	if err := jc.Start(ctx); err != nil {
		b.Fatal(err)
	}
	defer jc.Stop(ctx)
	probe, err := jc.Insert(ctx, flows.WakeArgs{ShopID: shopID, At: time.Now()}, &river.InsertOpts{Queue: flows.Queue, ScheduledAt: time.Now().Add(time.Second)})
	if err != nil {
		b.Fatal(err)
	}
	for {
		var state string
		d.Get(&state, `SELECT state FROM river_job WHERE id = $1`, probe.Job.ID)
		if state == "completed" {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	// The runs wait at "w" until a time spread over the next 20 s (from
	// 5 s on); their wake jobs are scheduled as the engine schedules them.
	start := time.Now().Add(5 * time.Second)
	tx := d.MustBegin()
	var rows []struct {
		ID   int64     `db:"id"`
		Wake time.Time `db:"wake_at"`
	}
	if err := tx.Select(&rows, `INSERT INTO flow_runs (shop_id, flow_id, version, priority, customer_id, step_id, phase, wake_at, due_at, started_at)
		SELECT $1, $2, 1, 50, id, 'w', 'wait', $3::timestamptz + (row_number() OVER (ORDER BY id)) * interval '1 millisecond' * (20000.0 / $4),
		       now(), now() FROM customers WHERE shop_id = $1 RETURNING id, wake_at`, shopID, flowID, start, n); err != nil {
		b.Fatal(err)
	}
	wakeOf := map[int64]time.Time{}
	seen := map[time.Time]bool{}
	for _, r := range rows {
		w := r.Wake
		wakeOf[r.ID] = w
		at := w.Truncate(time.Second).Add(time.Second)
		if !seen[at] {
			seen[at] = true
			if _, err := jc.InsertTx(ctx, tx.Tx, flows.WakeArgs{ShopID: shopID, At: at}, &river.InsertOpts{Queue: flows.Queue, ScheduledAt: at}); err != nil {
				b.Fatal(err)
			}
		}
	}
	if err := tx.Commit(); err != nil {
		b.Fatal(err)
	}
	b.ResetTimer()
	deadline := start.Add(2 * time.Minute)
	for time.Now().Before(deadline) {
		var sent int
		d.Get(&sent, `SELECT count(*) FROM flow_run_steps WHERE shop_id = $1 AND outcome = 'sent'`, shopID)
		if sent >= n {
			break
		}
		time.Sleep(200 * time.Millisecond)
	}
	b.StopTimer()
	// When the email's ledger row was written (the start of the chunk's
	// transaction), against the run's wake-up.
	var sent []struct {
		Run int64     `db:"run_id"`
		At  time.Time `db:"at"`
	}
	d.Select(&sent, `SELECT flow_run_id AS run_id, created_at AS at FROM email_messages WHERE shop_id = $1 AND flow_run_id IS NOT NULL`, shopID)
	var late []float64
	for _, s := range sent {
		late = append(late, s.At.Sub(wakeOf[s.Run]).Seconds())
	}
	sort.Float64s(late)
	if len(late) == 0 {
		b.Fatal("nothing ran")
	}
	fmt.Printf("lateness of due steps in real time (%d runs due over 20 s, wake jobs on River): %d ran; p50 %.2fs p99 %.2fs max %.2fs\n",
		n, len(late), late[len(late)/2], late[len(late)*99/100], late[len(late)-1])
}

// signalsBench is a shop with a live abandoned-checkout flow (1 h, one
// email) and total subscribed customers, the engine on River (wake jobs)
// and a signals consumer with the real segments and flows handlers.
type signalsBench struct {
	d        *sqlx.DB
	v        *eng
	ids      []int64
	consumer *signals.Consumer
}

func newSignalsBench(b *testing.B, name string, total int) *signalsBench {
	d, _ := dbtest.Persistent(b, name, true)
	ctx := context.Background()
	v := &eng{db: d, now: time.Now()}
	if err := d.Get(&v.shopID, `INSERT INTO shops (domain, installed_at) VALUES ('bench-signals.myshopify.com', now()) RETURNING id`); err != nil {
		b.Fatal(err)
	}
	def := flows.Definition{Trigger: flows.Trigger{Type: flows.TriggerCheckoutAbandoned, Delay: dur("1h")}, ReEntry: flows.ReEntry{Mode: flows.ReEntryEveryTime},
		Priority: 90, MaxLateness: dur("12h"), Steps: []flows.Step{{ID: "s", Type: flows.StepSendEmail, TemplateID: 1}}}
	raw := mustJSON(def)
	var flowID int64
	if err := d.Get(&flowID, `INSERT INTO flows (shop_id, name, status, trigger_type, draft, live_version) VALUES ($1, 'bench', 'live', $2, $3, 1) RETURNING id`,
		v.shopID, def.Trigger.Type, raw); err != nil {
		b.Fatal(err)
	}
	if _, err := d.Exec(`INSERT INTO flow_versions (shop_id, flow_id, version, definition) VALUES ($1, $2, 1, $3)`, v.shopID, flowID, raw); err != nil {
		b.Fatal(err)
	}
	// BENCH_FLOWS_SIGNALS_WAITING other customers (default 200,000) already
	// wait in the flow, and the planner knows it: the lookups run on a
	// table the size a live shop has, not on an empty one.
	waiting := envInt("BENCH_FLOWS_SIGNALS_WAITING", 200_000)
	if _, err := d.Exec(`INSERT INTO customers (shop_id, email, email_consent) SELECT $1, 's' || g || '@example.com', 'subscribed' FROM generate_series(1, $2) g`, v.shopID, total+waiting); err != nil {
		b.Fatal(err)
	}
	var ids []int64
	d.Select(&ids, `SELECT id FROM customers WHERE shop_id = $1 ORDER BY id LIMIT $2`, v.shopID, total)
	if _, err := d.Exec(`INSERT INTO flow_runs (shop_id, flow_id, version, priority, customer_id, trigger_ref, phase, wake_at, due_at, started_at)
		SELECT $1, $2, 1, 90, id, 'old-' || id, 'trigger', now() + interval '1 hour', now() + interval '1 hour', now()
		FROM customers WHERE shop_id = $1 AND id > $3`, v.shopID, flowID, ids[len(ids)-1]); err != nil {
		b.Fatal(err)
	}
	if _, err := d.Exec(`ANALYZE`); err != nil {
		b.Fatal(err)
	}

	e := &flows.Engine{DB: d, Mail: &flows.LedgerMailer{}, Profiles: customers.NewStore(d)}
	consumer, err := signals.NewConsumer(d, signals.Handlers{Segments: segments.NewStore(d), Flows: e, Reports: signals.Discard}, nil)
	if err != nil {
		b.Fatal(err)
	}
	workers := river.NewWorkers()
	river.AddWorker(workers, &flows.WakeWorker{E: e})
	jc, err := jobs.New(d.DB, workers, jobs.Options{})
	if err != nil {
		b.Fatal(err)
	}
	e.QueueWith(jc)
	if err := jc.Start(ctx); err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { jc.Stop(context.Background()) })
	return &signalsBench{d: d, v: v, ids: ids, consumer: consumer}
}

// BenchmarkFlowsSignalsDrain (make bench-flows) measures the consumer on
// its own: BENCH_FLOWS_DRAIN checkout signals (default 20,000) recorded
// at once, then taken by one consumer (as one worker process runs it).
func BenchmarkFlowsSignalsDrain(b *testing.B) {
	total := envInt("BENCH_FLOWS_DRAIN", 20_000)
	sb := newSignalsBench(b, "bench_flows_drain", total)
	ctx := context.Background()
	at := time.Now()
	for i := 0; i < len(sb.ids); i += 1000 {
		var sigs []signals.Signal
		for _, id := range sb.ids[i:min(i+1000, len(sb.ids))] {
			sigs = append(sigs, signals.Signal{ShopID: sb.v.shopID, CustomerID: id, Kind: signals.CheckoutStarted, Ref: fmt.Sprint("tok-", id), At: at})
		}
		tx, err := sb.d.BeginTx(ctx, nil)
		if err != nil {
			b.Fatal(err)
		}
		if err := signals.Record(ctx, tx, sigs...); err != nil {
			b.Fatal(err)
		}
		if err := tx.Commit(); err != nil {
			b.Fatal(err)
		}
	}
	b.ResetTimer()
	start := time.Now()
	taken := 0
	for taken < total {
		n, err := sb.consumer.Pass(ctx)
		if err != nil {
			b.Fatal(err)
		}
		if n == 0 {
			break
		}
		taken += n
	}
	took := time.Since(start)
	b.StopTimer()
	var runs int
	sb.d.Get(&runs, `SELECT count(*) FROM flow_runs WHERE shop_id = $1 AND trigger_ref NOT LIKE 'old-%'`, sb.v.shopID)
	fmt.Printf("signals consumer alone: %d signals taken in %.1fs (%.0f customers/s), %d runs started; peak RSS %s\n",
		taken, took.Seconds(), float64(taken)/took.Seconds(), runs, peakRSS())
}
