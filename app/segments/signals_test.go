package segments_test

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/jmoiron/sqlx"

	"github.com/cartwheel/cartwheel/app/db"
	"github.com/cartwheel/cartwheel/app/db/dbtest"
	"github.com/cartwheel/cartwheel/app/segments"
	"github.com/cartwheel/cartwheel/app/signals"
	"github.com/cartwheel/cartwheel/app/signals/signalstest"
)

// flowsRecorder stands in for the flows consumer: it keeps what it is
// handed.
type flowsRecorder struct{ got []string }

func (f *flowsRecorder) HandleSignals(_ context.Context, _ *sqlx.Tx, b *signals.Batch) error {
	for _, s := range b.Signals {
		f.got = append(f.got, strings.TrimSpace(string(s.Kind)+" "+s.Ref))
	}
	return nil
}

// A full refresh (here: creating a segment) records segment_entered for the
// members it added; a customer's signals consumed
// through the segments handler re-evaluate them, and the exit it finds is
// handed to flows as segment_exited.
func TestSegmentChangesAreSignals(t *testing.T) {
	d := dbtest.New(t)
	ctx := context.Background()
	var shop, ada, bob int64
	d.Get(&shop, `INSERT INTO shops (domain, installed_at, access_token_enc) VALUES ('seg-sig.myshopify.com', now(), '\x00') RETURNING id`)
	d.Get(&ada, `INSERT INTO customers (shop_id, email, total_spent) VALUES ($1, 'ada@example.com', 150) RETURNING id`, shop)
	d.Get(&bob, `INSERT INTO customers (shop_id, email, total_spent) VALUES ($1, 'bob@example.com', 5) RETURNING id`, shop)
	st := segments.NewStore(d)
	hundred := 100.0
	now := time.Now()
	seg, err := st.Create(ctx, shop, "Spent 100+", segments.Rules{Version: segments.Version,
		Root: segments.Group{Op: "and", Items: []segments.Node{{Condition: &segments.Condition{
			Field: segments.FieldTotalSpent, Op: "gte", Number: &hundred}}}}}, now)
	if err != nil {
		t.Fatal(err)
	}
	if got := signalstest.Take(t, d); len(got) != 1 || got[0] != fmt.Sprintf("%d segment_entered %d", ada, seg.ID) {
		t.Fatalf("signals of the full refresh: %v", got)
	}

	d.MustExec(`UPDATE customers SET total_spent = 0 WHERE id = $1`, ada)
	if err := db.InTx(ctx, d, func(tx *sqlx.Tx) error {
		return signals.Record(ctx, tx.Tx, signals.Signal{ShopID: shop, CustomerID: ada, Kind: signals.OrderUpdated, Ref: "1001"})
	}); err != nil {
		t.Fatal(err)
	}
	flows := &flowsRecorder{}
	c, err := signals.NewConsumer(d, signals.Handlers{Segments: st, Flows: flows, Reports: signals.Discard}, func() time.Time { return now.Add(time.Minute) })
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.Consume(ctx, shop, ada); err != nil {
		t.Fatal(err)
	}
	want := fmt.Sprintf("order_updated 1001, segment_exited %d", seg.ID)
	if strings.Join(flows.got, ", ") != want {
		t.Fatalf("flows got %v, want %s", flows.got, want)
	}
	var n int
	d.Get(&n, `SELECT count(*) FROM segment_members WHERE segment_id = $1`, seg.ID)
	if n != 0 {
		t.Fatalf("%d members left after ada's exit", n)
	}
}
