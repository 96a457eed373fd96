package campaigns_test

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"runtime/pprof"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/riverqueue/river"

	"github.com/cartwheel/cartwheel/app/campaigns"
	"github.com/cartwheel/cartwheel/app/db"
	"github.com/cartwheel/cartwheel/app/db/dbtest"
	"github.com/cartwheel/cartwheel/app/email"
	"github.com/cartwheel/cartwheel/app/email/providers"
	"github.com/cartwheel/cartwheel/app/email/render"
	"github.com/cartwheel/cartwheel/app/email/sender"
	"github.com/cartwheel/cartwheel/app/email/sendgridtest"
	"github.com/cartwheel/cartwheel/app/email/tracking"
	"github.com/cartwheel/cartwheel/app/jobs"
	"github.com/cartwheel/cartwheel/app/ratelimit"
	"github.com/cartwheel/cartwheel/app/segments"
	"github.com/cartwheel/cartwheel/app/shops"
)

// The send benchmark runs the workers — River with the campaign batch and
// delivery workers, the sender with the real tracker, the provider — in a
// child process (this test binary, re-executed), so that the figure of
// peak memory (the child's VmHWM) is the worker's alone: the seeding, the
// SMTP sink and the SendGrid fake stay in the parent.
const (
	benchChildEnv    = "CARTWHEEL_BENCH_SEND_WORKER" // the database URL
	benchProviderEnv = "CARTWHEEL_BENCH_SEND_PROVIDER"
	benchCampaignEnv = "CARTWHEEL_BENCH_SEND_CAMPAIGN"
	benchWorkersEnv  = "CARTWHEEL_BENCH_SEND_WORKERS"
)

// benchWorkerResult is what the child prints on its last line.
type benchWorkerResult struct {
	Seconds float64 `json:"seconds"` // River start → campaign sent, nothing queued or sending
	HWMKiB  int64   `json:"hwm_kib"` // VmHWM
	Sent    int     `json:"sent"`    // ledger rows sent
	HandOff float64 `json:"handoff"` // River start → the last batch handed to delivery
	CPU     float64 `json:"cpu"`     // the worker's user + system CPU seconds
}

// selfCPU is this process's user + system CPU time.
func selfCPU() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// benchWorker is the child: it works the email queue until the campaign is
// sent and none of its emails is queued or being sent, and prints a
// benchWorkerResult.
func benchWorker(u string) int {
	ctx := context.Background()
	fail := func(err error) int { fmt.Fprintln(os.Stderr, "bench worker:", err); return 1 }
	d, err := db.Open(ctx, u)
	if err != nil {
		return fail(err)
	}
	var prov email.Provider
	spec := os.Getenv(benchProviderEnv)
	switch {
	case strings.HasPrefix(spec, "smtp://"):
		if prov, err = providers.NewSMTP(spec); err != nil {
			return fail(err)
		}
	case strings.HasPrefix(spec, "sendgrid:"):
		if prov, err = providers.NewSendGrid(providers.SendGridOptions{APIKey: "SG.bench", BaseURL: strings.TrimPrefix(spec, "sendgrid:"),
			RatePerShop: 1e9}); err != nil {
			return fail(err)
		}
	default:
		return fail(fmt.Errorf("provider %q", spec))
	}
	tokens, err := tracking.NewTokens([]byte("bench-secret-bench-secret-bench-secret"))
	if err != nil {
		return fail(err)
	}
	snd, err := sender.New(sender.Deps{DB: d, Shops: shops.NewStore(d, nil), Provider: prov,
		Tracker:  tracking.NewTracker("https://app.example", tokens),
		Verifier: sender.AlwaysVerified, Templates: render.NewStore(d), Products: render.NewProductSource(d)}, sender.Options{})
	if err != nil {
		return fail(err)
	}
	campaignID, _ := strconv.ParseInt(os.Getenv(benchCampaignEnv), 10, 64)
	nw, _ := strconv.Atoi(os.Getenv(benchWorkersEnv))
	sending := &campaigns.Sending{Store: campaigns.NewStore(d), Limiter: ratelimit.New(d, nil)}
	workers := river.NewWorkers()
	river.AddWorker(workers, &campaigns.SendWorker{S: sending})
	river.AddWorker(workers, &campaigns.StartDueWorker{S: sending})
	river.AddWorker(workers, sender.NewDeliverWorker(snd))
	jc, err := jobs.New(d.DB, workers, jobs.Options{EmailWorkers: nw, PollInterval: 20 * time.Millisecond,
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		return fail(err)
	}
	sending.QueueWith(jc)
	if path := os.Getenv("BENCH_SEND_CPUPROFILE"); path != "" {
		f, err := os.Create(path)
		if err != nil {
			return fail(err)
		}
		defer f.Close()
		if err := pprof.StartCPUProfile(f); err != nil {
			return fail(err)
		}
		defer pprof.StopCPUProfile()
	}
	start, cpu0 := time.Now(), selfCPU()
	if err := jc.Start(ctx); err != nil {
		return fail(err)
	}
	// The parent closes stdin once every email is at the provider and the
	// campaign is sent (it counts at the sink, which costs the database
	// nothing).
	io.Copy(io.Discard, os.Stdin)
	res := benchWorkerResult{Seconds: time.Since(start).Seconds(), HWMKiB: vmHWM(), CPU: (selfCPU() - cpu0).Seconds()}
	var finished time.Time
	if err := d.Get(&finished, `SELECT finished_at FROM campaigns WHERE id = $1`, campaignID); err == nil {
		res.HandOff = finished.Sub(start).Seconds()
	}
	stop, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	jc.Stop(stop)
	if err := d.Get(&res.Sent, `SELECT count(*) FROM email_messages WHERE campaign_id = $1 AND status = 'sent'`, campaignID); err != nil {
		return fail(err)
	}
	out, _ := json.Marshal(res)
	fmt.Println(string(out))
	return 0
}

// vmHWM is this process's peak resident set, in KiB (0 when unknown).
func vmHWM() int64 {
	f, err := os.Open("/proc/self/status")
	if err != nil {
		return 0
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), "VmHWM:"); ok {
			n, _ := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 10, 64)
			return n
		}
	}
	return 0
}

// benchSizes reads BENCH_SEND_RECIPIENTS ("10000,100000" by default).
func benchSizes() []int {
	spec := os.Getenv("BENCH_SEND_RECIPIENTS")
	if spec == "" {
		spec = "10000,100000"
	}
	var out []int
	for _, f := range strings.Split(spec, ",") {
		if n, err := strconv.Atoi(strings.TrimSpace(f)); err == nil && n > 0 {
			out = append(out, n)
		}
	}
	return out
}

// BenchmarkCampaignSend sends a campaign of BENCH_SEND_RECIPIENTS
// recipients (default 10,000 then 100,000), personalised (first name in
// the subject and the heading) and tracked (three links rewritten, the open
// pixel, the unsubscribe link and headers), end to end: from the moment
// the worker process starts River on a started campaign (the snapshot is
// timed separately) until every email is at the provider and the campaign
// is sent. Providers: a local SMTP sink (persistent pooled connections)
// and the SendGrid fake (1,000 personalizations per request). Reports
// messages/s and the worker's peak RSS for each size.
// BENCH_SEND_WORKERS sets the email queue's workers (default 10, the
// app's default); BENCH_SEND_PROVIDERS picks "smtp", "sendgrid" or both;
// BENCH_SEND_CPUPROFILE writes the worker's CPU profile.
func BenchmarkCampaignSend(b *testing.B) {
	nw := 10
	if v, err := strconv.Atoi(os.Getenv("BENCH_SEND_WORKERS")); err == nil && v > 0 {
		nw = v
	}
	provs := []string{"smtp", "sendgrid"}
	if v := os.Getenv("BENCH_SEND_PROVIDERS"); v != "" {
		provs = strings.Split(v, ",")
	}
	for i := 0; i < b.N; i++ {
		for _, prov := range provs {
			for _, n := range benchSizes() {
				benchCampaignSend(b, prov, n, nw)
			}
		}
	}
}

func benchCampaignSend(b *testing.B, prov string, n, workers int) {
	ctx := context.Background()
	d, u := dbtest.NewWithURL(b)
	for _, q := range []string{
		`INSERT INTO shops (id, domain, iana_timezone, installed_at, access_token_enc, sender_name, sender_email, postal_address,
			marketing_cap_hours, campaign_skip_days, send_rate_per_second)
		 VALUES (1, 'bench.myshopify.com', 'UTC', now(), '\x00'::bytea, 'Bench', 'hello@bench.example', '1 Road', 0, 7, 100000)`,
		`INSERT INTO customers (shop_id, email, email_consent, first_name, last_name, tags)
		 SELECT 1, 'c' || g || '@example.com', 'subscribed', 'Name' || g, 'Family', '{vip}' FROM generate_series(1, ` + strconv.Itoa(n) + `) g`,
		// A shop with history, as a live one has: three earlier campaigns
		// to everyone, a month ago and more (outside the 7-day window the
		// sender checks). The tables are analyzed with it, as a live
		// shop's are: plans made on an empty ledger would scan it.
		`INSERT INTO email_messages (shop_id, customer_id, to_email, kind, dedupe_key, marketing, status, sent_at, created_at)
		 SELECT 1, c.id, c.email, 'campaign', 'old:' || k || ':' || c.id, true, 'delivered', now() - k * interval '30 days', now() - k * interval '30 days'
		 FROM customers c, generate_series(1, 3) k`,
		`ANALYZE`,
	} {
		d.MustExec(q)
	}
	seg, err := segments.NewStore(d).Create(ctx, 1, "vip", segments.Rules{Version: segments.Version, Root: segments.Group{Op: "and",
		Items: []segments.Node{{Condition: &segments.Condition{Field: segments.FieldTags, Op: "has_any", Values: []string{"vip"}}}}}}, time.Now())
	if err != nil {
		b.Fatal(err)
	}
	tpl, err := render.NewStore(d).Save(ctx, 1, 0, "", render.Template{Name: "News", Locale: render.LocaleEN, Subject: "News",
		Blocks: []render.Block{
			{Type: render.BlockLogo},
			{Type: render.BlockHeading, Text: "Hello {{ first_name }}, the spring collection is here"},
			{Type: render.BlockText, Text: `<p>Dear {{ first_name }} {{ last_name }}, new arrivals in <a href="https://bench.example/collections/spring">our spring collection</a>, and <a href="https://bench.example/pages/sale">the sale</a>.</p>`},
			{Type: render.BlockButton, Text: "Shop now", URL: "https://bench.example/collections/all"},
			{Type: render.BlockFooter}}})
	if err != nil {
		b.Fatal(err)
	}
	var spec string
	var smtpSink *sink
	var fake *sendgridtest.Server
	switch prov {
	case "smtp":
		smtpSink = newSink(b)
		spec = "smtp://" + smtpSink.ln.Addr().String()
	default:
		fake = sendgridtest.New("SG.bench")
		fake.KeepNoBodies = true // the parent's memory is not measured, but 100k bodies are a lot to keep
		defer fake.Close()
		spec = "sendgrid:" + fake.URL
	}
	sending := &campaigns.Sending{Store: campaigns.NewStore(d)}
	workersReg := river.NewWorkers()
	river.AddWorker(workersReg, &campaigns.SendWorker{S: sending})
	river.AddWorker(workersReg, &campaigns.StartDueWorker{S: sending})
	river.AddWorker(workersReg, sender.NewDeliverWorker(&sender.Sender{}))
	jc, err := jobs.New(d.DB, workersReg, jobs.Options{Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		b.Fatal(err)
	}
	sending.QueueWith(jc) // insert only: the child works the jobs
	c, err := sending.Store.Create(ctx, 1, campaigns.Draft{Name: "Bench", Subject: "{{ first_name }}, new in: spring", TemplateID: tpl,
		Audience: campaigns.Audience{Include: []int64{seg.ID}}})
	if err != nil {
		b.Fatal(err)
	}
	t0 := time.Now()
	if err := startNow(ctx, sending, c.ID); err != nil {
		b.Fatal(err)
	}
	snapshot := time.Since(t0)

	post := postmasterPID(ctx, d)
	db0, own0 := serverCPU(post), selfCPU()
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), benchChildEnv+"="+u, benchProviderEnv+"="+spec,
		benchCampaignEnv+"="+strconv.FormatInt(c.ID, 10), benchWorkersEnv+"="+strconv.Itoa(workers))
	cmd.Stderr = os.Stderr
	stdin, err := cmd.StdinPipe()
	if err != nil {
		b.Fatal(err)
	}
	var stdout strings.Builder
	cmd.Stdout = &stdout
	began := time.Now()
	if err := cmd.Start(); err != nil {
		b.Fatal(err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	count := func() int {
		if smtpSink != nil {
			return smtpSink.received()
		}
		return fake.Recipients()
	}
	var elapsed time.Duration
	for {
		select {
		case err := <-exited:
			b.Fatalf("worker exited early: %v", err)
		case <-time.After(2 * time.Millisecond):
		}
		if count() < n {
			continue
		}
		elapsed = time.Since(began)
		var done bool
		if err := d.Get(&done, `SELECT (SELECT status FROM campaigns WHERE id = $1) = 'sent'
			AND NOT EXISTS (SELECT 1 FROM email_messages WHERE campaign_id = $1 AND status IN ('queued', 'sending'))`, c.ID); err != nil {
			b.Fatal(err)
		}
		if done {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	stdin.Close()
	if err := <-exited; err != nil {
		b.Fatalf("worker: %v", err)
	}
	out := stdout.String()
	dbCPU, ownCPU := serverCPU(post)-db0, selfCPU()-own0
	lines := strings.Split(strings.TrimSpace(out), "\n")
	var res benchWorkerResult
	if err := json.Unmarshal([]byte(lines[len(lines)-1]), &res); err != nil {
		b.Fatalf("worker said %q: %v", out, err)
	}
	got, requests := 0, 0
	if smtpSink != nil {
		got = smtpSink.received()
	} else {
		got, requests = fake.Recipients(), fake.Requests()
	}
	if got != n || res.Sent != n {
		b.Fatalf("%s: %d received, %d ledger rows sent; want %d", prov, got, res.Sent, n)
	}
	res.Seconds = elapsed.Seconds() // the worker's start until the last email was at the provider
	rate := float64(n) / res.Seconds
	size := strconv.Itoa(n/1000) + "k"
	b.ReportMetric(rate, prov+"-"+size+"-msgs/s")
	b.ReportMetric(float64(res.HWMKiB)/1024, prov+"-"+size+"-peak-RSS-MiB")
	extra := ""
	if requests > 0 {
		extra = fmt.Sprintf(", %d requests", requests)
	}
	perMsg := func(sec float64) float64 { return sec * 1e6 / float64(n) }
	total := perMsg(res.CPU) + perMsg(dbCPU.Seconds()) + perMsg(ownCPU.Seconds())
	b.ReportMetric(1e6*2/total, prov+"-"+size+"-cpu-bound-msgs/s")
	b.Logf("%s, %d recipients: %.0f msgs/s end to end (%.2f s; last batch handed to delivery at %.2f s), worker peak RSS %.1f MiB%s; snapshot (Start) %.2f s, %d email workers",
		prov, n, rate, res.Seconds, res.HandOff, float64(res.HWMKiB)/1024, extra, snapshot.Seconds(), workers)
	b.Logf("%s, %d recipients: CPU per message: worker %.0f µs, PostgreSQL %.0f µs, %s %.0f µs; %.0f µs in all, so 2 cores to themselves would do ≈ %.0f msgs/s",
		prov, n, perMsg(res.CPU), perMsg(dbCPU.Seconds()), map[string]string{"smtp": "SMTP sink", "sendgrid": "SendGrid fake"}[prov], perMsg(ownCPU.Seconds()), total, 1e6*2/total)
}
