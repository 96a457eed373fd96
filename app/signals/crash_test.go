package signals_test

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"syscall"
	"testing"
	"time"

	"github.com/jmoiron/sqlx"

	"github.com/cartwheel/cartwheel/app/db"
	"github.com/cartwheel/cartwheel/app/db/dbtest"
	"github.com/cartwheel/cartwheel/app/signals"
)

// The crash test runs the consumer in a child process (this test binary,
// re-executed) so it can be killed with SIGKILL mid-pass.
const childEnv = "CARTWHEEL_SIGNALS_CONSUMER_URL"

func TestMain(m *testing.M) {
	if u := os.Getenv(childEnv); u != "" {
		os.Exit(consumeAll(u))
	}
	os.Exit(m.Run())
}

// handledTable is a Handler that writes a row per signal it is handed, in
// the consumer's transaction, as the real handlers write what they derive.
type handledTable struct{}

func (handledTable) HandleSignals(ctx context.Context, tx *sqlx.Tx, b *signals.Batch) error {
	for _, s := range b.Signals {
		if _, err := tx.ExecContext(ctx, `INSERT INTO handled (signal_id, customer_id) VALUES ($1, $2)`, s.ID, s.CustomerID); err != nil {
			return err
		}
	}
	return nil
}

// consumeAll takes every pending signal, then exits.
func consumeAll(u string) int {
	ctx := context.Background()
	d, err := db.Open(ctx, u)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 2
	}
	c, err := signals.NewConsumer(d, signals.Handlers{Segments: signals.Discard, Flows: handledTable{}, Reports: signals.Discard}, nil)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 2
	}
	for {
		n, err := c.Pass(ctx)
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			return 1
		}
		if n == 0 {
			return 0
		}
	}
}

// A consumer killed (SIGKILL) in the middle of its passes, then started
// again: every signal was handed to the handlers exactly once, by what the
// handlers wrote, and none is left.
func TestKilledConsumerHandsEverySignalOnce(t *testing.T) {
	d, u := dbtest.NewWithURL(t)
	shop := newShop(t, d, "sig-crash.myshopify.com")
	d.MustExec(`CREATE TABLE handled (signal_id bigint NOT NULL, customer_id bigint NOT NULL)`)
	const customers, perCustomer = 3000, 8
	d.MustExec(`INSERT INTO customers (shop_id) SELECT $1 FROM generate_series(1, $2)`, shop, customers)
	var ids []int64
	if err := d.Select(&ids, `SELECT id FROM customers WHERE shop_id = $1 ORDER BY id`, shop); err != nil {
		t.Fatal(err)
	}
	// Signals of one customer recorded in several transactions, interleaved
	// with the others', as webhooks and events arrive.
	for round := range perCustomer {
		var sigs []signals.Signal
		for _, id := range ids {
			sigs = append(sigs, signals.Signal{ShopID: shop, CustomerID: id, Kind: signals.StorefrontEvent, Ref: "r" + strconv.Itoa(round)})
		}
		record(t, d, sigs...)
	}
	total := customers * perCustomer
	handled := func() int { return count(t, d, `SELECT count(*) FROM handled`) }

	start := func() *exec.Cmd {
		cmd := exec.Command(os.Args[0], "-test.run=^$")
		cmd.Env = append(os.Environ(), childEnv+"="+u)
		cmd.Stderr = os.Stderr
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		return cmd
	}
	cmd := start()
	deadline := time.Now().Add(2 * time.Minute)
	for handled() < total/4 && time.Now().Before(deadline) {
		time.Sleep(5 * time.Millisecond)
	}
	if err := cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	cmd.Wait()
	atKill := handled()
	if atKill >= total {
		t.Fatalf("the consumer handled all %d signals before it was killed", atKill)
	}
	if err := start().Wait(); err != nil {
		t.Fatalf("restarted consumer: %v", err)
	}
	t.Logf("killed after %d of %d signals", atKill, total)
	var got struct {
		Rows     int `db:"rows"`
		Distinct int `db:"distinct_ids"`
		Left     int `db:"left_over"`
	}
	if err := d.Get(&got, `SELECT (SELECT count(*) FROM handled) AS rows, (SELECT count(DISTINCT signal_id) FROM handled) AS distinct_ids,
		(SELECT count(*) FROM customer_signals) AS left_over`); err != nil {
		t.Fatal(err)
	}
	if got.Rows != total || got.Distinct != total || got.Left != 0 {
		t.Fatalf("after the kill and a restart: %d handed (%d distinct), %d left; want %d, %d, 0", got.Rows, got.Distinct, got.Left, total, total)
	}
	// And every customer got all of its own.
	if n := count(t, d, `SELECT count(*) FROM (SELECT customer_id, count(*) FROM handled GROUP BY customer_id HAVING count(*) <> $1) x`, perCustomer); n != 0 {
		t.Fatalf("%d customers got a number of signals other than %d", n, perCustomer)
	}
}
