package campaigns_test

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/riverqueue/river"

	"github.com/cartwheel/cartwheel/app/campaigns"
	"github.com/cartwheel/cartwheel/app/db"
	"github.com/cartwheel/cartwheel/app/email/ledger"
	"github.com/cartwheel/cartwheel/app/email/providers"
	"github.com/cartwheel/cartwheel/app/email/render"
	"github.com/cartwheel/cartwheel/app/email/sender"
	"github.com/cartwheel/cartwheel/app/jobs"
	"github.com/cartwheel/cartwheel/app/ratelimit"
	"github.com/cartwheel/cartwheel/app/shops"
)

// The crash test runs the app's workers — River with the campaign batch
// and delivery workers, the SMTP provider — in a child process (this test
// binary, re-executed) so it can be killed with SIGKILL mid-send.
const (
	childDBEnv   = "CARTWHEEL_CAMPAIGNS_WORKER_URL"
	childSMTPEnv = "CARTWHEEL_CAMPAIGNS_SMTP_URL"
	childCampEnv = "CARTWHEEL_CAMPAIGNS_CAMPAIGN"
	deliverers   = 8 // email queue workers in the child: at most this many messages in flight
	// staleAfter: a row in sending this long belongs to a dead worker (far
	// longer than a send to the local SMTP server takes).
	staleAfter = 5 * time.Second
)

func TestMain(m *testing.M) {
	if u := os.Getenv(childDBEnv); u != "" {
		os.Exit(sendWorker(u))
	}
	if u := os.Getenv(benchChildEnv); u != "" {
		os.Exit(benchWorker(u))
	}
	os.Exit(m.Run())
}

// sendWorker works the email queue until campaign 1 of shop 1 is sent and
// none of its emails is queued or being sent, then exits.
func sendWorker(u string) int {
	ctx := context.Background()
	fail := func(err error) int { fmt.Fprintln(os.Stderr, "worker:", err); return 1 }
	d, err := db.Open(ctx, u)
	if err != nil {
		return fail(err)
	}
	smtp, err := providers.NewSMTP(os.Getenv(childSMTPEnv))
	if err != nil {
		return fail(err)
	}
	campaignID, _ := strconv.ParseInt(os.Getenv(childCampEnv), 10, 64)
	snd, err := sender.New(sender.Deps{DB: d, Shops: shops.NewStore(d, nil), Provider: smtp, Tracker: sender.NoTracking{},
		Verifier: sender.AlwaysVerified, Templates: render.NewStore(d), Products: render.NewProductSource(d)},
		sender.Options{StaleAfter: staleAfter})
	if err != nil {
		return fail(err)
	}
	sending := &campaigns.Sending{Store: campaigns.NewStore(d), Limiter: ratelimit.New(d, nil)}
	workers := river.NewWorkers()
	river.AddWorker(workers, &campaigns.SendWorker{S: sending})
	river.AddWorker(workers, &campaigns.StartDueWorker{S: sending})
	river.AddWorker(workers, sender.NewDeliverWorker(snd))
	jc, err := jobs.New(d.DB, workers, jobs.Options{EmailWorkers: deliverers, PollInterval: 20 * time.Millisecond,
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		return fail(err)
	}
	sending.QueueWith(jc)
	snd.QueueWith(jc)
	if err := jc.Start(ctx); err != nil {
		return fail(err)
	}
	for {
		// What the periodic sweep does in the app: a row a killed worker
		// left in sending is failed, never resent, unless it was never
		// handed to the provider: then it is queued again.
		if err := snd.Sweep(ctx, 1); err != nil {
			return fail(err)
		}
		var done bool
		if err := d.Get(&done, `SELECT (SELECT status FROM campaigns WHERE id = $1) = 'sent'
			AND NOT EXISTS (SELECT 1 FROM email_messages WHERE campaign_id = $1 AND status IN ('queued', 'sending'))`, campaignID); err != nil {
			return fail(err)
		}
		if done {
			stop, cancel := context.WithTimeout(ctx, 10*time.Second)
			defer cancel()
			jc.Stop(stop)
			return 0
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// startNow starts campaign campaignID of shop 1 and, when Start handed a
// large audience's snapshot to a job (the campaign is then scheduled for
// now), runs that job's work here, so the campaign is sending when it
// returns.
func startNow(ctx context.Context, s *campaigns.Sending, campaignID int64) error {
	c, err := s.Start(ctx, 1, campaignID, time.Now())
	if err != nil {
		return err
	}
	if c.Status == campaigns.StatusSending {
		return nil
	}
	if _, err := s.StartDue(ctx, time.Now()); err != nil {
		return err
	}
	if c, err = s.Store.Get(ctx, 1, campaignID); err != nil {
		return err
	}
	if c.Status != campaigns.StatusSending {
		return fmt.Errorf("campaign %d is %s after the start", campaignID, c.Status)
	}
	return nil
}

// sink is an in-process SMTP server that counts what it receives by the
// ledger id (X-Cartwheel-Message-Id) and by recipient.
type sink struct {
	ln   net.Listener
	mu   sync.Mutex
	byID map[string]int
	byTo map[string]int
	n    int
}

func newSink(t testing.TB) *sink {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s := &sink{ln: ln, byID: map[string]int{}, byTo: map[string]int{}}
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go s.serve(c)
		}
	}()
	return s
}

func (s *sink) serve(c net.Conn) {
	defer c.Close()
	r := bufio.NewReader(c)
	say := func(l string) { fmt.Fprintf(c, "%s\r\n", l) }
	say("220 sink ESMTP")
	for {
		line, err := r.ReadString('\n')
		if err != nil {
			return
		}
		cmd := strings.ToUpper(strings.TrimRight(line, "\r\n"))
		switch {
		case strings.HasPrefix(cmd, "EHLO"):
			say("250-sink")
			say("250 8BITMIME")
		case strings.HasPrefix(cmd, "MAIL FROM:"), strings.HasPrefix(cmd, "RCPT TO:"), cmd == "RSET", cmd == "NOOP":
			say("250 OK")
		case cmd == "DATA":
			say("354 go ahead")
			var id, to string
			headers := true
			for {
				l, err := r.ReadString('\n')
				if err != nil {
					return // cut off mid-message: not received
				}
				if l == ".\r\n" {
					break
				}
				if l == "\r\n" {
					headers = false
				}
				if headers {
					if v, ok := strings.CutPrefix(l, "X-Cartwheel-Message-Id: "); ok {
						id = strings.TrimSpace(v)
					}
					if v, ok := strings.CutPrefix(l, "To: "); ok {
						to = strings.TrimSpace(v)
					}
				}
			}
			// Counted when accepted: the 250 below is what makes the
			// message the server's.
			s.mu.Lock()
			s.byID[id]++
			s.byTo[to]++
			s.n++
			s.mu.Unlock()
			say("250 OK queued")
		case cmd == "QUIT":
			say("221 bye")
			return
		default:
			say("502 unknown")
		}
	}
}

func (s *sink) received() int { s.mu.Lock(); defer s.mu.Unlock(); return s.n }

// A worker process killed with SIGKILL in the middle of a 20,000-recipient
// campaign (CRASH_RECIPIENTS to change; the 100,000 take about two
// minutes here), then two restarted side by side: no one gets the email
// twice (counted at the SMTP server by ledger id and by address), and
// everyone gets it except at most the few messages that were in the
// provider's hands at the kill, which the sender never resends (a row
// handed over and left in "sending" is failed: a duplicate is worse than a
// miss). The rows the killed worker's batches had claimed but not handed
// over are queued again by the sweep and sent by the restarted workers.
func TestKilledWorkerNeitherDuplicatesNorMisses(t *testing.T) {
	n := 20000
	if v, err := strconv.Atoi(os.Getenv("CRASH_RECIPIENTS")); err == nil && v > 0 {
		n = v
	}
	se := newSendEnv(t, n)
	u := se.dbURL
	smtpSink := newSink(t)
	c := se.campaign(campaigns.Draft{})
	se.sending.Now = nil // the real clock: the child runs on it
	if err := startNow(se.ctx, se.sending, c.ID); err != nil {
		t.Fatal(err)
	}
	start := func() *exec.Cmd {
		cmd := exec.Command(os.Args[0], "-test.run=^$")
		cmd.Env = append(os.Environ(), childDBEnv+"="+u, childSMTPEnv+"=smtp://"+smtpSink.ln.Addr().String(),
			childCampEnv+"="+strconv.FormatInt(c.ID, 10))
		cmd.Stderr = os.Stderr
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		return cmd
	}
	cmd := start()
	deadline := time.Now().Add(3 * time.Minute)
	for smtpSink.received() < n/4 && time.Now().Before(deadline) {
		time.Sleep(5 * time.Millisecond)
	}
	if err := cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	cmd.Wait()
	atKill := smtpSink.received()
	pendingAtKill := se.count(`SELECT count(*) FROM campaign_recipients WHERE campaign_id = $1 AND status = 'pending'`, c.ID)
	if atKill >= n || pendingAtKill == 0 {
		t.Fatalf("the worker got too far before the kill: %d received, %d recipients pending", atKill, pendingAtKill)
	}
	// River's rescuer would put the dead process's running jobs back after
	// RescueStuckJobsAfter (an hour by default); do now what it does.
	se.exec(`UPDATE river_job SET state = 'available', scheduled_at = now() WHERE state = 'running'`)
	// Two worker processes now send the rest of the campaign together.
	began := time.Now()
	one, two := start(), start()
	for _, w := range []*exec.Cmd{one, two} {
		if err := w.Wait(); err != nil {
			t.Fatalf("restarted worker: %v", err)
		}
	}
	t.Logf("killed with %d received and %d recipients not yet handed to delivery; two restarted workers finished the rest in %v",
		atKill, pendingAtKill, time.Since(began).Round(time.Millisecond))

	var ledgerRows []struct {
		ID     int64  `db:"id"`
		To     string `db:"to_email"`
		Status string `db:"status"`
		Error  string `db:"last_error"`
	}
	if err := se.db.Select(&ledgerRows, `SELECT id, to_email, status, last_error FROM email_messages WHERE campaign_id = $1`, c.ID); err != nil {
		t.Fatal(err)
	}
	if len(ledgerRows) != n {
		t.Fatalf("%d ledger rows, want one for each of %d recipients", len(ledgerRows), n)
	}
	if st := se.status(c.ID); st != campaigns.StatusSent {
		t.Fatalf("campaign %s after the restart", st)
	}
	smtpSink.mu.Lock()
	defer smtpSink.mu.Unlock()
	for k, v := range smtpSink.byID {
		if v > 1 {
			t.Errorf("message %s received %d times", k, v)
		}
	}
	for k, v := range smtpSink.byTo {
		if v > 1 {
			t.Errorf("%s received %d emails", k, v)
		}
	}
	missed, interrupted := 0, 0
	for _, m := range ledgerRows {
		got := smtpSink.byID[strconv.FormatInt(m.ID, 10)]
		switch {
		case m.Status == ledger.Sent && got == 1:
		case m.Status == ledger.Failed && m.Error == ledger.InterruptedReason:
			// In the provider's hands at the kill: received or not, never resent.
			interrupted++
			if got == 0 {
				missed++
			}
		default:
			t.Errorf("message %d to %s: ledger %s (%s), received %d times", m.ID, m.To, m.Status, m.Error, got)
		}
	}
	// A deliver job hands its claimed messages over a chunk at a time and
	// records them as sent every sender.MarkSentEvery: at the kill, each
	// running job had at most one chunk in the provider's hands (the only
	// ones that can be missed) and at most MarkSentEvery + a chunk handed
	// over and not yet recorded (failed as interrupted, received or not).
	// The rest of its batch, claimed but never handed over, was queued
	// again by the sweep and sent by the restarted workers.
	if missed > deliverers*sender.DefaultHandOffChunk {
		t.Errorf("%d messages missed; at most %d can be in the provider's hands", missed, deliverers*sender.DefaultHandOffChunk)
	}
	if interrupted > deliverers*(sender.DefaultHandOffChunk+sender.MarkSentEvery) {
		t.Errorf("%d messages interrupted; at most %d can be handed over and not recorded", interrupted,
			deliverers*(sender.DefaultHandOffChunk+sender.MarkSentEvery))
	}
	t.Logf("%d received once each, none twice; %d interrupted by the kill (%d of them missed)", smtpSink.n, interrupted, missed)
	if smtpSink.n != n-missed {
		t.Errorf("%d received, want %d - %d missed", smtpSink.n, n, missed)
	}
}
