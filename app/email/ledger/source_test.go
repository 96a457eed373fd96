package ledger_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/lib/pq"
	"github.com/pressly/goose/v3"

	"github.com/cartwheel/cartwheel/app/db/dbtest"
	"github.com/cartwheel/cartwheel/app/email/internal/emailtest"
	"github.com/cartwheel/cartwheel/app/email/ledger"
	"github.com/cartwheel/cartwheel/migrations"
)

// A reservation's source and context come back as written; the dedupe key
// is derived from the source when none is given.
func TestReserveWithSourceReadsBack(t *testing.T) {
	db := dbtest.New(t)
	ctx := context.Background()
	shop := emailtest.Shop(t, db)
	c := emailtest.Customer(t, db, shop, "ada@example.com", "subscribed")

	src := ledger.Source{FlowID: 7, FlowVersion: 3, FlowRunID: 41, FlowStep: "email-day-1", TemplateID: 9}
	cx := ledger.Context{ledger.ContextCheckoutToken: "tok-123", ledger.ContextDiscountCode: "SAVE-ABC"}
	id, existed, err := ledger.Reserve(ctx, db, ledger.Reservation{ShopID: shop, CustomerID: c, To: "ada@example.com",
		Kind: ledger.KindFlow, Marketing: true, Source: src, Context: cx})
	if err != nil || existed {
		t.Fatalf("reserve: %v %v", existed, err)
	}
	m, err := ledger.Get(ctx, db, shop, id)
	if err != nil {
		t.Fatal(err)
	}
	if m.Source != src || m.DedupeKey != "flow_run:41:step:email-day-1" {
		t.Errorf("source %+v key %q", m.Source, m.DedupeKey)
	}
	if len(m.Context) != 2 || m.Context[ledger.ContextCheckoutToken] != "tok-123" || m.Context[ledger.ContextDiscountCode] != "SAVE-ABC" {
		t.Errorf("context %v", m.Context)
	}

	camp := ledger.Source{CampaignID: 12, CampaignVariant: "B", TemplateID: 4}
	id2, _, err := ledger.Reserve(ctx, db, ledger.Reservation{ShopID: shop, CustomerID: c, To: "ada@example.com",
		Kind: ledger.KindCampaign, Marketing: true, Source: camp})
	if err != nil {
		t.Fatal(err)
	}
	m2, _ := ledger.Get(ctx, db, shop, id2)
	if m2.Source != camp || m2.DedupeKey != fmt.Sprintf("campaign:12:customer:%d", c) || len(m2.Context) != 0 {
		t.Errorf("campaign row: source %+v key %q context %v", m2.Source, m2.DedupeKey, m2.Context)
	}
	// Unset sources are NULL in the table (reports group by them).
	var nulls int
	db.Get(&nulls, `SELECT count(*) FROM email_messages WHERE id = $1 AND flow_id IS NULL AND flow_run_id IS NULL
		AND flow_step IS NULL AND flow_version IS NULL AND campaign_id = 12 AND context = '{}'::jsonb`, id2)
	if nulls != 1 {
		t.Error("unset source columns are not NULL")
	}

	// The same (run, step) again, without a key or with the same key: the same row.
	again, existed, err := ledger.Reserve(ctx, db, ledger.Reservation{ShopID: shop, CustomerID: c, To: "ada@example.com",
		Kind: ledger.KindFlow, DedupeKey: "flow_run:41:step:email-day-1", Source: ledger.Source{FlowRunID: 41, FlowStep: "email-day-1"}})
	if err != nil || !existed || again != id {
		t.Errorf("again: %d %v %v", again, existed, err)
	}
}

// A given key must agree with the source; sources that make no sense are
// refused with a message naming the problem, and nothing is written.
func TestReserveRefusesInconsistentSources(t *testing.T) {
	db := dbtest.New(t)
	ctx := context.Background()
	shop := emailtest.Shop(t, db)
	c := emailtest.Customer(t, db, shop, "ada@example.com", "subscribed")
	base := ledger.Reservation{ShopID: shop, CustomerID: c, To: "ada@example.com", Kind: ledger.KindFlow}
	cases := []struct {
		name string
		mod  func(r *ledger.Reservation)
		want string
	}{
		{"key disagrees", func(r *ledger.Reservation) {
			r.Source = ledger.Source{FlowRunID: 1, FlowStep: "a"}
			r.DedupeKey = "flow_run:1:step:b"
		}, "does not match"},
		{"no key, no source", func(r *ledger.Reservation) {}, "dedupe key is required"},
		{"flow and campaign", func(r *ledger.Reservation) {
			r.Source = ledger.Source{FlowRunID: 1, FlowStep: "a", CampaignID: 2}
		}, "not both"},
		{"run without step", func(r *ledger.Reservation) { r.Source = ledger.Source{FlowRunID: 1} }, "step's id"},
		{"step without run", func(r *ledger.Reservation) { r.Source = ledger.Source{FlowStep: "a"}; r.DedupeKey = "x" }, "needs the flow run"},
		{"campaign of kind flow", func(r *ledger.Reservation) { r.Source = ledger.Source{CampaignID: 2} }, "kind campaign"},
		{"campaign without customer", func(r *ledger.Reservation) {
			r.Kind, r.CustomerID, r.Source = ledger.KindCampaign, 0, ledger.Source{CampaignID: 2}
		}, "a customer"},
		{"variant without campaign", func(r *ledger.Reservation) {
			r.Source = ledger.Source{CampaignVariant: "A"}
			r.DedupeKey = "x"
		}, "needs the campaign"},
		{"huge context value", func(r *ledger.Reservation) {
			r.Source = ledger.Source{FlowRunID: 1, FlowStep: "a"}
			r.Context = ledger.Context{"search": strings.Repeat("x", 5000)}
		}, "context key"},
	}
	for _, tc := range cases {
		r := base
		tc.mod(&r)
		if _, _, err := ledger.Reserve(ctx, db, r); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: err %v, want it to say %q", tc.name, err, tc.want)
		}
	}
	var n int
	db.Get(&n, `SELECT count(*) FROM email_messages WHERE shop_id = $1`, shop)
	if n != 0 {
		t.Errorf("%d rows written by refused reservations", n)
	}
}

// Many workers reserving the same (flow run, step) at once make one row:
// one of them creates it, the others find it.
func TestConcurrentReservationsOfOneRunStep(t *testing.T) {
	db := dbtest.New(t)
	ctx := context.Background()
	shop := emailtest.Shop(t, db)
	c := emailtest.Customer(t, db, shop, "ada@example.com", "subscribed")
	const workers = 24
	var wg sync.WaitGroup
	start := make(chan struct{})
	type res struct {
		id      int64
		existed bool
		err     error
	}
	out := make(chan res, workers)
	for i := 0; i < workers; i++ {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			<-start
			r := ledger.Reservation{ShopID: shop, CustomerID: c, To: "ada@example.com", Kind: ledger.KindFlow, Marketing: true,
				Source: ledger.Source{FlowID: 3, FlowVersion: 1, FlowRunID: 77, FlowStep: "s2"}}
			if i%2 == 0 { // half give the key too
				r.DedupeKey = "flow_run:77:step:s2"
			}
			id, existed, err := ledger.Reserve(ctx, db, r)
			out <- res{id, existed, err}
		}(i)
	}
	close(start)
	wg.Wait()
	close(out)
	created := 0
	ids := map[int64]bool{}
	for r := range out {
		if r.err != nil {
			t.Fatal(r.err)
		}
		ids[r.id] = true
		if !r.existed {
			created++
		}
	}
	var rows int
	db.Get(&rows, `SELECT count(*) FROM email_messages WHERE shop_id = $1`, shop)
	if created != 1 || len(ids) != 1 || rows != 1 {
		t.Errorf("created %d, distinct ids %d, rows %d; want 1, 1, 1", created, len(ids), rows)
	}
}

// The unique indexes on the source hold on their own: a second row for a
// (run, step) or a (campaign, customer) is refused by PostgreSQL even under
// another dedupe key.
func TestSourceUniqueIndexes(t *testing.T) {
	db := dbtest.New(t)
	shop := emailtest.Shop(t, db)
	c := emailtest.Customer(t, db, shop, "ada@example.com", "subscribed")
	insert := func(key string, run int64, step string, campaign int64) error {
		_, err := db.Exec(`INSERT INTO email_messages (shop_id, customer_id, to_email, kind, dedupe_key, flow_run_id, flow_step, campaign_id)
			VALUES ($1, $2, 'ada@example.com', CASE WHEN $6::bigint IS NULL THEN 'flow' ELSE 'campaign' END, $3, $4, $5, $6)`,
			shop, c, key, nullable(run), nullableText(step), nullable(campaign))
		return err
	}
	unique := func(err error) bool {
		var pe *pq.Error
		return errors.As(err, &pe) && pe.Code == "23505"
	}
	if err := insert("k1", 5, "a", 0); err != nil {
		t.Fatal(err)
	}
	if err := insert("k2", 5, "a", 0); !unique(err) {
		t.Errorf("second row for run 5 step a: %v", err)
	}
	if err := insert("k3", 5, "b", 0); err != nil {
		t.Errorf("another step of the run: %v", err)
	}
	if err := insert("k4", 0, "", 8); err != nil {
		t.Fatal(err)
	}
	if err := insert("k5", 0, "", 8); !unique(err) {
		t.Errorf("second row for campaign 8 and the customer: %v", err)
	}
	// A step without its run (or the reverse) is refused too.
	if err := insert("k6", 0, "a", 0); err == nil {
		t.Error("a step without a run was stored")
	}
}

func nullable(v int64) any {
	if v == 0 {
		return nil
	}
	return v
}

func nullableText(v string) any {
	if v == "" {
		return nil
	}
	return v
}

// The automation quiet period's "other than this run" reads the run column:
// the same run's earlier step doesn't count, another run's does, and a
// campaign counts for everyone.
func TestMarketingSinceExceptRun(t *testing.T) {
	db := dbtest.New(t)
	ctx := context.Background()
	shop := emailtest.Shop(t, db)
	c := emailtest.Customer(t, db, shop, "ada@example.com", "subscribed")
	sent := func(r ledger.Reservation) int64 {
		t.Helper()
		id, _, err := ledger.Reserve(ctx, db, r)
		if err != nil {
			t.Fatal(err)
		}
		db.MustExec(`UPDATE email_messages SET status = 'sent', sent_at = now() - interval '1 day' WHERE id = $1`, id)
		return id
	}
	base := ledger.Reservation{ShopID: shop, CustomerID: c, To: "ada@example.com", Kind: ledger.KindFlow, Marketing: true}
	r := base
	r.Source = ledger.Source{FlowRunID: 10, FlowStep: "one"}
	sent(r)
	since := time.Now().Add(-7 * 24 * time.Hour)
	if hit, err := ledger.MarketingSince(ctx, db, shop, c, since, 0, 10); err != nil || hit {
		t.Errorf("same run counted: %v %v", hit, err)
	}
	if hit, _ := ledger.MarketingSince(ctx, db, shop, c, since, 0, 11); !hit {
		t.Error("another run's email didn't count")
	}
	if hit, _ := ledger.MarketingSince(ctx, db, shop, c, since, 0, 0); !hit {
		t.Error("without a run to except, the flow email didn't count")
	}
	camp := base
	camp.Kind, camp.Source = ledger.KindCampaign, ledger.Source{CampaignID: 3}
	id := sent(camp)
	if hit, _ := ledger.MarketingSince(ctx, db, shop, c, since, id, 10); hit {
		t.Error("the excepted message counted")
	}
	db.MustExec(`UPDATE email_messages SET sent_at = now() WHERE id = $1`, id)
	if hit, _ := ledger.MarketingSince(ctx, db, shop, c, since, 0, 10); !hit {
		t.Error("a campaign email didn't count against a run")
	}
	// An email being sent right now (claimed, not yet sent) counts too.
	db.MustExec(`UPDATE email_messages SET sent_at = now() - interval '30 days' WHERE shop_id = $1`, shop)
	if hit, _ := ledger.MarketingSince(ctx, db, shop, c, since, 0, 0); hit {
		t.Fatal("old emails counted")
	}
	r.Source = ledger.Source{FlowRunID: 12, FlowStep: "one"}
	busy, _, _ := ledger.Reserve(ctx, db, r)
	ledger.Claim(ctx, db, shop, busy, "sendgrid", nil)
	if hit, _ := ledger.MarketingSince(ctx, db, shop, c, since, 0, 0); !hit {
		t.Error("an email in sending didn't count")
	}
	if hit, _ := ledger.MarketingSince(ctx, db, shop, c, since, busy, 0); hit {
		t.Error("the message itself counted")
	}
}

// Migration 00021 fills the source of rows written before it from their
// dedupe keys, and leaves keys it can't read alone.
func TestMigrationBackfillsSourcesFromKeys(t *testing.T) {
	db := dbtest.New(t)
	ctx := context.Background()
	p, err := goose.NewProvider(goose.DialectPostgres, db.DB, migrations.FS)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := p.ApplyVersion(ctx, 21, false); err != nil {
		t.Fatal(err)
	}
	shop := emailtest.Shop(t, db)
	c := emailtest.Customer(t, db, shop, "ada@example.com", "subscribed")
	db.MustExec(`INSERT INTO email_messages (shop_id, customer_id, to_email, kind, dedupe_key) VALUES
		($1, $2, 'a@example.com', 'flow', 'flow_run:5:step:2'),
		($1, $2, 'a@example.com', 'flow', 'flow_run:6:step:abandoned-cart:email-1'),
		($1, $2, 'a@example.com', 'campaign', 'campaign:12:customer:' || $2),
		($1, NULL, '', 'campaign', 'campaign:13:customer:99'),
		($1, $2, 'a@example.com', 'campaign', 'campaign:14:customer:' || ($2 + 1)),
		($1, $2, 'a@example.com', 'flow', 'flow_run:x:step:1'),
		($1, NULL, 'b@example.com', 'test', 'test:abc')`, shop, c)
	if _, err := p.ApplyVersion(ctx, 21, true); err != nil {
		t.Fatal(err)
	}
	type row struct {
		Key      string `db:"dedupe_key"`
		Run      int64  `db:"run"`
		Step     string `db:"step"`
		Campaign int64  `db:"campaign"`
	}
	var rows []row
	db.Select(&rows, `SELECT dedupe_key, COALESCE(flow_run_id, 0) AS run, COALESCE(flow_step, '') AS step,
		COALESCE(campaign_id, 0) AS campaign FROM email_messages WHERE shop_id = $1 ORDER BY id`, shop)
	want := []row{
		{"flow_run:5:step:2", 5, "2", 0},
		{"flow_run:6:step:abandoned-cart:email-1", 6, "abandoned-cart:email-1", 0},
		{fmt.Sprintf("campaign:12:customer:%d", c), 0, "", 12},
		{"campaign:13:customer:99", 0, "", 13},
		{fmt.Sprintf("campaign:14:customer:%d", c+1), 0, "", 0},
		{"flow_run:x:step:1", 0, "", 0},
		{"test:abc", 0, "", 0},
	}
	if len(rows) != len(want) {
		t.Fatalf("rows %+v", rows)
	}
	for i := range want {
		if rows[i] != want[i] {
			t.Errorf("row %d: %+v, want %+v", i, rows[i], want[i])
		}
	}
}

// ReserveMany writes a batch in one statement: ids in the order asked,
// rows that already existed found (not duplicated), the same key twice one
// row; one invalid reservation refuses the batch.
func TestReserveMany(t *testing.T) {
	db := dbtest.New(t)
	ctx := context.Background()
	shop := emailtest.Shop(t, db)
	var custs []int64
	for i := 0; i < 4; i++ {
		custs = append(custs, emailtest.Customer(t, db, shop, fmt.Sprintf("c%d@example.com", i), "subscribed"))
	}
	res := func(i int) ledger.Reservation {
		return ledger.Reservation{ShopID: shop, CustomerID: custs[i], To: fmt.Sprintf("c%d@example.com", i), Kind: ledger.KindCampaign,
			Marketing: true, Subject: "Sale", Source: ledger.Source{CampaignID: 5, CampaignVariant: "A", TemplateID: 2},
			Context: ledger.Context{ledger.ContextDiscountCode: fmt.Sprintf("CODE%d", i)}}
	}
	// Customer 1's row exists already.
	pre, _, err := ledger.Reserve(ctx, db, res(1))
	if err != nil {
		t.Fatal(err)
	}
	ids, existed, err := ledger.ReserveMany(ctx, db, []ledger.Reservation{res(0), res(1), res(2), res(0)})
	if err != nil {
		t.Fatal(err)
	}
	if len(ids) != 4 || ids[1] != pre || ids[3] != ids[0] || fmt.Sprint(existed) != "[false true false true]" {
		t.Fatalf("ids %v existed %v (pre-existing %d)", ids, existed, pre)
	}
	for i, id := range ids[:3] {
		m, err := ledger.Get(ctx, db, shop, id)
		if err != nil {
			t.Fatal(err)
		}
		if !m.CustomerID.Valid || m.CustomerID.Int64 != custs[i] || m.Source != res(i).Source || m.Context[ledger.ContextDiscountCode] != fmt.Sprintf("CODE%d", i) ||
			m.DedupeKey != fmt.Sprintf("campaign:5:customer:%d", custs[i]) || !m.Marketing || m.Status != ledger.Queued {
			t.Errorf("row %d: %+v", i, m)
		}
	}
	bad := res(3)
	bad.Source.FlowStep = "x"
	if _, _, err := ledger.ReserveMany(ctx, db, []ledger.Reservation{res(3), bad}); err == nil || !strings.Contains(err.Error(), "message 2 of 2") {
		t.Errorf("invalid batch: %v", err)
	}
	var n int
	db.Get(&n, `SELECT count(*) FROM email_messages WHERE shop_id = $1`, shop)
	if n != 3 {
		t.Errorf("%d rows, want 3 (nothing of the refused batch)", n)
	}
}
