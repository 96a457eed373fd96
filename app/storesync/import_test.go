package storesync

import (
	"bytes"
	"context"
	"database/sql"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/jmoiron/sqlx"
	"github.com/riverqueue/river"
	"github.com/riverqueue/river/rivertype"
	"github.com/shopspring/decimal"

	"github.com/cartwheel/cartwheel/app/catalog"
	"github.com/cartwheel/cartwheel/app/customers"
	"github.com/cartwheel/cartwheel/app/db/dbtest"
	"github.com/cartwheel/cartwheel/app/orders"
	"github.com/cartwheel/cartwheel/app/secretbox"
	"github.com/cartwheel/cartwheel/app/shopify"
	"github.com/cartwheel/cartwheel/app/shopify/shopifytest"
	"github.com/cartwheel/cartwheel/app/shops"
)

const testShop = "bulk-import.myshopify.com"

// captureInserter stands in for River: it records the jobs Start enqueues.
type captureInserter struct{ args []ImportArgs }

func (c *captureInserter) InsertTx(_ context.Context, _ *sql.Tx, a river.JobArgs, _ *river.InsertOpts) (*rivertype.JobInsertResult, error) {
	c.args = append(c.args, a.(ImportArgs))
	return &rivertype.JobInsertResult{Job: &rivertype.JobRow{}}, nil
}

type harness struct {
	db     *sqlx.DB
	fake   *shopifytest.Server
	shopID int64
	imp    *Importer
	jobs   *captureInserter
	w      *ImportWorker
}

func newHarness(t testing.TB, batchSize int) *harness {
	t.Helper()
	d := dbtest.New(t)
	box, err := secretbox.New(bytes.Repeat([]byte{7}, 32))
	if err != nil {
		t.Fatal(err)
	}
	st := shops.NewStore(d, box)
	fake := shopifytest.NewServer(t, "key", "secret")
	fake.AddShop(shopify.ShopInfo{Name: "Bulk", MyshopifyDomain: testShop})
	client := shopify.NewClient(shopify.ClientConfig{APIKey: "key", APISecret: "secret", BaseURL: fake.URL})
	ctx := context.Background()
	tok, err := client.ExchangeCode(ctx, testShop, fake.IssueCode(testShop))
	if err != nil {
		t.Fatal(err)
	}
	tx := d.MustBegin()
	sh, err := st.Install(ctx, tx, testShop, tok.Token, tok.Scope, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	if err := tx.Commit(); err != nil {
		t.Fatal(err)
	}
	cust := customers.NewStore(d)
	w := NewImportWorker(ImportDeps{DB: d, Shops: st, API: client, Customers: cust, Orders: orders.NewStore(d, cust),
		Catalog: catalog.NewStore(d), Log: slog.New(slog.NewTextHandler(io.Discard, nil))},
		ImportOptions{PollInterval: 5 * time.Millisecond, BatchSize: batchSize})
	j := &captureInserter{}
	return &harness{db: d, fake: fake, shopID: sh.ID, imp: NewImporter(d, j), jobs: j, w: w}
}

// start queues an import and returns its runs, as the job would get them.
func (h *harness) start(t testing.TB) []int64 {
	t.Helper()
	if err := h.imp.Start(context.Background(), h.shopID); err != nil {
		t.Fatal(err)
	}
	return h.jobs.args[len(h.jobs.args)-1].RunIDs
}

func (h *harness) count(t testing.TB, q string, args ...any) int64 {
	t.Helper()
	var n int64
	if err := h.db.Get(&n, q, args...); err != nil {
		t.Fatalf("%s: %v", q, err)
	}
	return n
}

var small = storeData{customers: 40, orders: 120, itemsPerOrder: 3, products: 9, checkouts: 6}

func TestFullImport(t *testing.T) {
	h := newHarness(t, 50)
	small.register(h.fake, testShop)
	ids := h.start(t)
	if err := h.w.Run(context.Background(), h.shopID, ids); err != nil {
		t.Fatal(err)
	}
	for q, want := range map[string]int64{
		`SELECT count(*) FROM customers WHERE shop_id = $1`:                       40,
		`SELECT count(*) FROM products WHERE shop_id = $1`:                        9,
		`SELECT count(*) FROM variants WHERE shop_id = $1`:                        18,
		`SELECT count(*) FROM collections WHERE shop_id = $1`:                     3,
		`SELECT count(*) FROM orders WHERE shop_id = $1`:                          120,
		`SELECT count(*) FROM order_line_items WHERE shop_id = $1`:                360,
		`SELECT count(*) FROM refunds WHERE shop_id = $1`:                         24,
		`SELECT count(*) FROM checkouts WHERE shop_id = $1`:                       6,
		`SELECT count(*) FROM import_runs WHERE shop_id = $1 AND status = 'done'`: 4,
		`SELECT count(*) FROM orders WHERE shop_id = $1 AND customer_id IS NULL`:  0,
	} {
		if got := h.count(t, q, h.shopID); got != want {
			t.Errorf("%s = %d, want %d", q, got, want)
		}
	}

	// The fixture customer, as go-shopify's customer.json describes her.
	var c struct {
		Email, Consent, Country, City, Level string
		Tags                                 []byte
	}
	if err := h.db.QueryRow(`SELECT email, email_consent, country, city, email_opt_in_level, array_to_string(tags, ',')
		FROM customers WHERE shop_id = $1 AND shopify_id = 1`, h.shopID).Scan(&c.Email, &c.Consent, &c.Country, &c.City, &c.Level, &c.Tags); err != nil {
		t.Fatal(err)
	}
	if c.Email != "test@example.com" || c.Consent != "not_subscribed" || c.Country != "AU" || c.City != "BRISBANE" ||
		c.Level != "single_opt_in" || string(c.Tags) != "tag1,tag2" {
		t.Errorf("customer 1 = %+v", c)
	}
	// The zone of the address: Queensland's, Ontario's for the others.
	if n := h.count(t, `SELECT count(*) FROM customers WHERE shop_id = $1 AND shopify_id = 1 AND timezone = 'Australia/Brisbane'`, h.shopID); n != 1 {
		t.Error("customer 1 (Queensland) is not in Australia/Brisbane")
	}
	if n := h.count(t, `SELECT count(*) FROM customers WHERE shop_id = $1 AND shopify_id <> 1 AND timezone <> 'America/Toronto'`, h.shopID); n != 0 {
		t.Errorf("%d Ontario customers are not in America/Toronto", n)
	}
	if n := h.count(t, `SELECT count(*) FROM customers WHERE shop_id = $1 AND email_consent = 'subscribed'`, h.shopID); n != 13 {
		t.Errorf("subscribed customers = %d, want 13", n)
	}
	// Product with its variants, price range and collection.
	var title string
	var lo, hi decimal.Decimal
	var colls int
	if err := h.db.QueryRow(`SELECT title, price_min, price_max, cardinality(collection_ids) FROM products
		WHERE shop_id = $1 AND shopify_id = $2`, h.shopID, firstProductID).Scan(&title, &lo, &hi, &colls); err != nil {
		t.Fatal(err)
	}
	if title != "Burton Custom Freestyle 151" || !lo.Equal(decimal.NewFromInt(10)) || !hi.Equal(decimal.NewFromInt(15)) || colls != 1 {
		t.Errorf("product = %q %s..%s in %d collections", title, lo, hi, colls)
	}
	// An order's line item kept its custom attributes as REST-shaped properties.
	var props string
	if err := h.db.Get(&props, `SELECT properties::text FROM order_line_items WHERE shop_id = $1 AND shopify_id = $2`,
		h.shopID, firstItemID); err != nil {
		t.Fatal(err)
	}
	if props != `[{"name": "gift", "value": "yes"}]` {
		t.Errorf("properties = %s", props)
	}
	// The checkout's token came from its recovery URL, as webhooks key it.
	if n := h.count(t, `SELECT count(*) FROM checkouts WHERE shop_id = $1 AND token = 'tok7000' AND jsonb_array_length(line_items) = 2
		AND customer_id IS NOT NULL`, h.shopID); n != 1 {
		t.Errorf("checkout tok7000 not stored with its lines and customer")
	}
	checkFigures(t, h, small)

	// Progress says done, with totals from Shopify's object counts.
	p, err := h.imp.Progress(context.Background(), h.shopID)
	if err != nil {
		t.Fatal(err)
	}
	if p.Running() || len(p.Runs) != 4 || p.Runs[2].Resource != "orders" || p.Runs[2].RowsTotal != 480 || p.Runs[2].RowsDone != 480 ||
		p.Runs[2].Percent() != 100 {
		t.Errorf("progress = %+v", p)
	}
}

// checkFigures compares every customer's derived figures with totals
// computed here from the generator's own facts.
func checkFigures(t *testing.T, h *harness, d storeData) {
	t.Helper()
	type fig struct {
		n     int
		spent decimal.Decimal
	}
	want := map[int]fig{}
	for i := 0; i < d.orders; i++ {
		f := d.order(i)
		if f.cancelled || f.test {
			continue
		}
		w := want[f.customer]
		w.n++
		w.spent = w.spent.Add(f.total.Sub(f.refunded))
		want[f.customer] = w
	}
	rows, err := h.db.Query(`SELECT shopify_id, orders_count, total_spent FROM customers WHERE shop_id = $1`, h.shopID)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	seen := 0
	for rows.Next() {
		var id, n int
		var spent decimal.Decimal
		if err := rows.Scan(&id, &n, &spent); err != nil {
			t.Fatal(err)
		}
		seen++
		if w := want[id]; w.n != n || !w.spent.Equal(spent) {
			t.Errorf("customer %d: %d orders / %s spent, want %d / %s", id, n, spent, w.n, w.spent)
		}
	}
	if seen != d.customers {
		t.Errorf("checked %d customers, want %d", seen, d.customers)
	}
}

func TestImportResumesAfterKill(t *testing.T) {
	h := newHarness(t, 40)
	small.register(h.fake, testShop)
	ids := h.start(t)

	// Kill the job (cancel its context) after the third orders batch.
	ctx, cancel := context.WithCancel(context.Background())
	batches := 0
	var killedAt int64
	h.w.afterBatch = func(resource string, lines int64) {
		if resource == ResourceOrders {
			if batches++; batches == 3 {
				killedAt = lines
				cancel()
			}
		}
	}
	if err := h.w.Run(ctx, h.shopID, ids); !errors.Is(err, context.Canceled) {
		t.Fatalf("killed run: err = %v", err)
	}
	var status string
	var linesDone int64
	if err := h.db.QueryRow(`SELECT status, lines_done FROM import_runs WHERE id = $1`, ids[2]).Scan(&status, &linesDone); err != nil {
		t.Fatal(err)
	}
	if status != "downloading" || linesDone != killedAt || linesDone == 0 {
		t.Fatalf("orders run after kill: %s at line %d (killed at %d)", status, linesDone, killedAt)
	}
	opsBefore := h.fake.BulkOperationsStarted(testShop)

	// The retried job continues from the checkpoint, without a new bulk query.
	var resumedFrom int64 = -1
	h.w.afterBatch = func(resource string, lines int64) {
		if resource == ResourceOrders && resumedFrom < 0 {
			resumedFrom = lines
		}
	}
	if err := h.w.Run(context.Background(), h.shopID, ids); err != nil {
		t.Fatal(err)
	}
	if resumedFrom <= linesDone {
		t.Errorf("first batch after resume ended at line %d, not past the checkpoint %d", resumedFrom, linesDone)
	}
	if got := h.fake.BulkOperationsStarted(testShop); got != opsBefore+1 { // +1: checkouts
		t.Errorf("bulk operations started on resume: %d, want 1 (checkouts only)", got-opsBefore)
	}
	if n := h.count(t, `SELECT rows_done FROM import_runs WHERE id = $1`, ids[2]); n != 480 {
		t.Errorf("orders rows_done = %d, want 480 (no double counting)", n)
	}
	if n := h.count(t, `SELECT count(*) FROM order_line_items WHERE shop_id = $1`, h.shopID); n != 360 {
		t.Errorf("line items = %d, want 360", n)
	}
	checkFigures(t, h, small)
}

func TestImportSurvivesThrottlingAndServerErrors(t *testing.T) {
	h := newHarness(t, 100)
	small.register(h.fake, testShop)
	ids := h.start(t)
	h.fake.SetBulkPolls(3)
	h.fake.ThrottleNext(1)  // on bulkOperationRunQuery
	h.fake.RateLimitNext(1) // on the next call
	h.fake.FailNext(1, http.StatusBadGateway)
	if err := h.w.Run(context.Background(), h.shopID, ids[:1]); err != nil {
		t.Fatal(err)
	}
	// Download failures: a 503 on the download and a connection cut mid-file.
	h.fake.BreakNextDownload(17)
	done := make(chan error, 1)
	go func() { done <- h.w.Run(context.Background(), h.shopID, ids[1:]) }()
	// Interleave a 5xx with the customers result download.
	h.fake.FailNext(2, http.StatusServiceUnavailable)
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if n := h.count(t, `SELECT count(*) FROM order_line_items WHERE shop_id = $1`, h.shopID); n != 360 {
		t.Errorf("line items = %d, want 360", n)
	}
	if n := h.count(t, `SELECT count(*) FROM import_runs WHERE shop_id = $1 AND status = 'done' AND errors = 0`, h.shopID); n != 4 {
		t.Errorf("%d runs done without errors, want 4", n)
	}
	checkFigures(t, h, small)
}

func TestImportRestartsFailedOperationAndExpiredLink(t *testing.T) {
	h := newHarness(t, 100)
	small.register(h.fake, testShop)
	ids := h.start(t)
	h.fake.FailNextBulkOperation("INTERNAL_SERVER_ERROR")
	if err := h.w.Run(context.Background(), h.shopID, ids[:1]); err != nil {
		t.Fatal(err)
	}
	if n := h.fake.BulkOperationsStarted(testShop); n != 2 {
		t.Errorf("bulk operations = %d, want 2 (failed one restarted)", n)
	}
	// Customers: die after one batch, let the link expire, resume.
	ctx, cancel := context.WithCancel(context.Background())
	h.w.afterBatch = func(string, int64) { cancel() }
	if err := h.w.Run(ctx, h.shopID, ids[1:2]); !errors.Is(err, context.Canceled) {
		t.Fatalf("err = %v", err)
	}
	h.w.afterBatch = nil
	h.fake.ExpireBulkResults(testShop)
	if err := h.w.Run(context.Background(), h.shopID, ids[1:2]); err != nil {
		t.Fatal(err)
	}
	if n := h.fake.BulkOperationsStarted(testShop); n != 4 {
		t.Errorf("bulk operations = %d, want 4 (expired link re-queried)", n)
	}
	if n := h.count(t, `SELECT rows_done FROM import_runs WHERE id = $1 AND status = 'done'`, ids[1]); n != 40 {
		t.Errorf("customers rows_done = %d, want 40", n)
	}
}

func TestStartRefusedWhileRunning(t *testing.T) {
	h := newHarness(t, 100)
	h.start(t)
	if err := h.imp.Start(context.Background(), h.shopID); !errors.Is(err, ErrImportRunning) {
		t.Fatalf("second Start: err = %v, want ErrImportRunning", err)
	}
	if len(h.jobs.args) != 1 {
		t.Fatalf("%d jobs enqueued, want 1", len(h.jobs.args))
	}
	p, err := h.imp.Progress(context.Background(), h.shopID)
	if err != nil || !p.Running() || len(p.Runs) != 4 {
		t.Fatalf("progress while queued: %+v %v", p, err)
	}
}

func TestBadLinesAreCountedNotFatal(t *testing.T) {
	h := newHarness(t, 3)
	lines := []string{
		small.customerLine(1),
		`{"id":"gid://shopify/Customer/2","email":`, // truncated JSON
		small.customerLine(3),
		`{"id":"not-a-gid","email":"x@example.com"}`,
		small.customerLine(5),
	}
	h.fake.SetBulkResult(testShop, "customers", shopifytest.BulkLines(lines))
	ids := h.start(t)
	h.fake.SetBulkResult(testShop, "orders", shopifytest.BulkLines([]string{
		// An order in an unknown currency and its line item are refused;
		// the next order imports.
		`{"id":"gid://shopify/Order/1","name":"#1","currencyCode":"XXX","totalPriceSet":{"shopMoney":{"amount":"5.00","currencyCode":"XXX"}},"refunds":[]}`,
		`{"id":"gid://shopify/LineItem/11","title":"A","quantity":1,"__parentId":"gid://shopify/Order/1"}`,
		`{"id":"gid://shopify/Order/2","name":"#2","currencyCode":"USD","totalPriceSet":{"shopMoney":{"amount":"5.00","currencyCode":"USD"}},"refunds":[]}`,
		`{"id":"gid://shopify/LineItem/21","title":"B","quantity":1,"originalUnitPriceSet":{"shopMoney":{"amount":"5.00","currencyCode":"USD"}},"__parentId":"gid://shopify/Order/2"}`,
	}))
	if err := h.w.Run(context.Background(), h.shopID, ids); err != nil {
		t.Fatal(err)
	}
	if n := h.count(t, `SELECT count(*) FROM customers WHERE shop_id = $1`, h.shopID); n != 3 {
		t.Errorf("customers = %d, want 3", n)
	}
	p, err := h.imp.Progress(context.Background(), h.shopID)
	if err != nil {
		t.Fatal(err)
	}
	cr, or := p.Runs[1], p.Runs[2]
	if cr.Status != "done" || cr.Errors != 2 || cr.RowsDone != 3 || len(cr.ErrorSamples) != 2 || cr.ErrorSamples[0][:7] != "line 2:" {
		t.Errorf("customers run = %+v", cr)
	}
	if or.Errors != 2 || or.RowsDone != 2 || h.count(t, `SELECT count(*) FROM order_line_items WHERE shop_id = $1`, h.shopID) != 1 {
		t.Errorf("orders run = %+v", or)
	}
}

// A customer erased by customers/redact stays erased through a re-sync:
// their profile is not re-created and their orders keep only the revenue.
func TestImportSkipsRedactedCustomers(t *testing.T) {
	h := newHarness(t, 50)
	small.register(h.fake, testShop)
	h.db.MustExec(`INSERT INTO privacy_requests (shop_id, kind, webhook_id, shopify_customer_id, completed_at)
		VALUES ($1, 'customer_redact', 'redact-1', 1, now())`, h.shopID)
	if err := h.w.Run(context.Background(), h.shopID, h.start(t)); err != nil {
		t.Fatal(err)
	}
	if n := h.count(t, `SELECT count(*) FROM customers WHERE shop_id = $1 AND shopify_id = 1`, h.shopID); n != 0 {
		t.Fatal("a redacted customer came back with the import")
	}
	if n := h.count(t, `SELECT count(*) FROM customers WHERE shop_id = $1`, h.shopID); n != 39 {
		t.Fatalf("customers = %d, want the other 39", n)
	}
	if n := h.count(t, `SELECT count(*) FROM orders WHERE shop_id = $1 AND (shopify_customer_id = 1 OR lower(email) = 'test@example.com')`, h.shopID); n != 0 {
		t.Fatal("orders still name the redacted customer")
	}
}

// A failed attempt is recorded on the runs with its reason and lets a new
// Start replace them; the last attempt fails them for good, with the reason.
func TestFailedAttemptsAreVisible(t *testing.T) {
	h := newHarness(t, 100)
	ctx := context.Background()
	ids := h.start(t)
	h.fake.FailNext(1_000_000, http.StatusInternalServerError)
	job := func(attempt int, ids []int64) *river.Job[ImportArgs] {
		return &river.Job[ImportArgs]{JobRow: &rivertype.JobRow{Attempt: attempt, MaxAttempts: importAttempts},
			Args: ImportArgs{ShopID: h.shopID, RunIDs: ids}}
	}
	if err := h.w.Work(ctx, job(1, ids)); err == nil {
		t.Fatal("attempt against a failing Shopify succeeded")
	}
	p, err := h.imp.Progress(ctx, h.shopID)
	if err != nil {
		t.Fatal(err)
	}
	if !p.Running() || !p.Retrying() || p.Failed() || !strings.HasPrefix(p.Runs[0].LastError, "attempt 1 of 5 failed: ") ||
		!strings.Contains(p.Runs[0].LastError, "Internal Server Error") {
		t.Fatalf("after a failed attempt: %+v", p)
	}
	// Waiting for River's backoff is no reason to refuse a new import.
	if err := h.imp.Start(ctx, h.shopID); err != nil {
		t.Fatalf("Start while the old import waits to retry: %v", err)
	}
	if n := h.count(t, `SELECT count(*) FROM import_runs WHERE id = ANY($1) AND status = 'failed'`, int64Array(ids)); n != 4 {
		t.Fatalf("%d replaced runs failed, want 4", n)
	}
	// The replaced job, retried, leaves the replacement alone.
	if err := h.w.Work(ctx, job(2, ids)); err != nil {
		t.Fatalf("retry of a replaced import: %v", err)
	}

	ids = h.jobs.args[len(h.jobs.args)-1].RunIDs
	if err := h.w.Work(ctx, job(importAttempts, ids)); err == nil {
		t.Fatal("last attempt against a failing Shopify succeeded")
	}
	p, err = h.imp.Progress(ctx, h.shopID)
	if err != nil {
		t.Fatal(err)
	}
	if p.Running() || p.Retrying() || !p.Failed() || !strings.Contains(p.Runs[0].LastError, "Internal Server Error") {
		t.Fatalf("after the last attempt: %+v", p)
	}
	if err := h.imp.Start(ctx, h.shopID); err != nil {
		t.Fatalf("Start after a failed import: %v", err)
	}
}
