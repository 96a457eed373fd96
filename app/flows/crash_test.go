package flows_test

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"syscall"
	"testing"
	"time"

	"github.com/cartwheel/cartwheel/app/customers"
	"github.com/cartwheel/cartwheel/app/db"
	"github.com/cartwheel/cartwheel/app/db/dbtest"
	"github.com/cartwheel/cartwheel/app/flows"
)

// The crash test runs the engine in a child process (this test binary,
// re-executed) so it can be killed with SIGKILL mid-batch.
const childEnv = "CARTWHEEL_FLOWS_WORKER_URL"

func TestMain(m *testing.M) {
	if u := os.Getenv(childEnv); u != "" {
		os.Exit(worker(u))
	}
	os.Exit(m.Run())
}

// worker executes every due run of the shop, then exits.
func worker(u string) int {
	ctx := context.Background()
	d, err := db.Open(ctx, u)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 2
	}
	shop, _ := strconv.ParseInt(os.Getenv("CARTWHEEL_FLOWS_SHOP"), 10, 64)
	e := &flows.Engine{DB: d, Mail: &flows.LedgerMailer{}, Profiles: customers.NewStore(d), Workers: 4}
	for {
		n, err := e.RunDue(ctx, shop, time.Now().Add(time.Hour))
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			return 1
		}
		if n == 0 {
			return 0
		}
	}
}

func TestKilledWorkerNeitherDuplicatesNorMisses(t *testing.T) {
	d, u := dbtest.NewWithURL(t)
	v := &eng{t: t, db: d, now: time.Now()}
	if err := d.Get(&v.shopID, `INSERT INTO shops (domain, installed_at, marketing_cap_hours) VALUES ('crash.myshopify.com', now(), 0) RETURNING id`); err != nil {
		t.Fatal(err)
	}
	if err := d.Get(&v.tmpl, `INSERT INTO email_templates (shop_id, name, locale, doc) VALUES ($1, 'T', 'en', '{}') RETURNING id`, v.shopID); err != nil {
		t.Fatal(err)
	}
	f := v.publish(flows.Definition{
		Trigger: flows.Trigger{Type: flows.TriggerCustomerCreated}, ReEntry: flows.ReEntry{Mode: flows.ReEntryEveryTime},
		Priority: 50, MaxLateness: dur("24h"),
		Steps: []flows.Step{{ID: "one", Type: flows.StepSendEmail, TemplateID: v.tmpl}, {ID: "two", Type: flows.StepSendEmail, TemplateID: v.tmpl}},
	})
	const n = 2000
	v.exec(`INSERT INTO customers (shop_id, email, email_consent) SELECT $1, 'c' || g || '@example.com', 'subscribed' FROM generate_series(1, $2) g`, v.shopID, n)
	v.exec(`INSERT INTO flow_runs (shop_id, flow_id, version, priority, customer_id, step_id, phase, wake_at, due_at, started_at)
		SELECT $1, $2, 1, 50, id, 'one', 'step', now(), now(), now() FROM customers WHERE shop_id = $1`, v.shopID, f)

	start := func() *exec.Cmd {
		cmd := exec.Command(os.Args[0], "-test.run=^$")
		cmd.Env = append(os.Environ(), childEnv+"="+u, "CARTWHEEL_FLOWS_SHOP="+strconv.FormatInt(v.shopID, 10))
		cmd.Stderr = os.Stderr
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		return cmd
	}
	count := func() int {
		var c int
		if err := d.Get(&c, `SELECT count(*) FROM email_messages WHERE shop_id = $1`, v.shopID); err != nil {
			t.Fatal(err)
		}
		return c
	}
	cmd := start()
	deadline := time.Now().Add(2 * time.Minute)
	for count() < n/4 && time.Now().Before(deadline) {
		time.Sleep(5 * time.Millisecond)
	}
	if err := cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	cmd.Wait()
	atKill := count()
	if atKill >= 2*n {
		t.Fatalf("the worker finished all %d emails before it was killed", atKill)
	}
	again := start()
	if err := again.Wait(); err != nil {
		t.Fatalf("restarted worker: %v", err)
	}
	var got struct {
		Msgs     int `db:"msgs"`
		Distinct int `db:"distinct_steps"`
		Done     int `db:"done"`
		Logged   int `db:"logged"`
	}
	err := d.Get(&got, `SELECT (SELECT count(*) FROM email_messages WHERE shop_id = $1) AS msgs,
		(SELECT count(DISTINCT (flow_run_id, flow_step)) FROM email_messages WHERE shop_id = $1) AS distinct_steps,
		(SELECT count(*) FROM flow_runs WHERE shop_id = $1 AND status = 'completed') AS done,
		(SELECT count(*) FROM flow_run_steps WHERE shop_id = $1 AND outcome = 'sent') AS logged`, v.shopID)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("killed at %d of %d emails", atKill, 2*n)
	if got.Msgs != 2*n || got.Distinct != 2*n || got.Done != n || got.Logged != 2*n {
		t.Fatalf("after the kill and a restart: %d emails (%d distinct run steps), %d runs completed, %d sends logged; want %d, %d, %d, %d",
			got.Msgs, got.Distinct, got.Done, got.Logged, 2*n, 2*n, n, 2*n)
	}
}
