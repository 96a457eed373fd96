package wheel_test

import (
	"bytes"
	"context"
	"database/sql"
	"errors"
	"io"
	"log/slog"
	"math/rand/v2"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jmoiron/sqlx"
	"github.com/riverqueue/river"
	"github.com/riverqueue/river/rivertype"
	"github.com/shopspring/decimal"

	"github.com/cartwheel/cartwheel/app/customers"
	"github.com/cartwheel/cartwheel/app/db"
	"github.com/cartwheel/cartwheel/app/db/dbtest"
	"github.com/cartwheel/cartwheel/app/email/sender"
	"github.com/cartwheel/cartwheel/app/secretbox"
	"github.com/cartwheel/cartwheel/app/shopify"
	"github.com/cartwheel/cartwheel/app/shopify/shopifytest"
	"github.com/cartwheel/cartwheel/app/shops"
	"github.com/cartwheel/cartwheel/app/wheel"
)

const shopDomain = "wheel-test.myshopify.com"

// captureInserter records the jobs queued (thread-safe: spins run in parallel).
type captureInserter struct {
	mu   sync.Mutex
	args []river.JobArgs
}

func (c *captureInserter) InsertTx(_ context.Context, _ *sql.Tx, a river.JobArgs, _ *river.InsertOpts) (*rivertype.JobInsertResult, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.args = append(c.args, a)
	return &rivertype.JobInsertResult{}, nil
}

func (c *captureInserter) kinds() map[string]int {
	c.mu.Lock()
	defer c.mu.Unlock()
	m := map[string]int{}
	for _, a := range c.args {
		m[a.Kind()]++
	}
	return m
}

type env struct {
	t      *testing.T
	db     *sqlx.DB
	fake   *shopifytest.Server
	svc    *wheel.Service
	jobs   *captureInserter
	mail   *recordMailer
	shopID int64
}

// recordMailer stands in for app/email/sender (which has its own tests
// down to SendGrid's fake): it records what the wheel asks to send.
type recordMailer struct {
	mu   sync.Mutex
	sent []sender.Request
}

func (m *recordMailer) Send(_ context.Context, r sender.Request) (sender.Result, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.sent = append(m.sent, r)
	return sender.Result{Outcome: sender.OutcomeSent}, nil
}

// runQueued runs the queued jobs of one kind (and forgets them).
func (e *env) runQueued(kind string) {
	e.t.Helper()
	e.jobs.mu.Lock()
	var run []river.JobArgs
	keep := e.jobs.args[:0]
	for _, a := range e.jobs.args {
		if a.Kind() == kind {
			run = append(run, a)
		} else {
			keep = append(keep, a)
		}
	}
	e.jobs.args = keep
	e.jobs.mu.Unlock()
	for _, a := range run {
		var err error
		switch a := a.(type) {
		case wheel.CreateCodeArgs:
			err = e.svc.Worker().Work(context.Background(), &river.Job[wheel.CreateCodeArgs]{JobRow: &rivertype.JobRow{Attempt: 1, MaxAttempts: 12}, Args: a})
		case wheel.EmailCodeArgs:
			err = e.svc.EmailWorker().Work(context.Background(), &river.Job[wheel.EmailCodeArgs]{JobRow: &rivertype.JobRow{Attempt: 1, MaxAttempts: 12}, Args: a})
		}
		if err != nil {
			e.t.Fatalf("%s: %v", kind, err)
		}
	}
}

// sendQueuedEmails runs the queued code emails and returns what was sent.
func (e *env) sendQueuedEmails() []sender.Request {
	e.t.Helper()
	e.runQueued("wheel.email_code")
	e.mail.mu.Lock()
	defer e.mail.mu.Unlock()
	return append([]sender.Request(nil), e.mail.sent...)
}

func newEnv(t *testing.T, seed uint64) *env {
	t.Helper()
	d := dbtest.New(t)
	box, _ := secretbox.New(bytes.Repeat([]byte{7}, 32))
	sh := shops.NewStore(d, box)
	fake := shopifytest.NewServer(t, "key", "secret")
	fake.AddShop(shopify.ShopInfo{Name: "Wheel", MyshopifyDomain: shopDomain})
	client := shopify.NewClient(shopify.ClientConfig{APIKey: "key", APISecret: "secret", BaseURL: fake.URL, Retries: 1})
	tok, err := client.ExchangeCode(context.Background(), shopDomain, fake.IssueCode(shopDomain))
	if err != nil {
		t.Fatal(err)
	}
	var shop shops.Shop
	if err := db.InTx(context.Background(), d, func(tx *sqlx.Tx) error {
		shop, err = sh.Install(context.Background(), tx, shopDomain, tok.Token, "write_discounts", time.Now().Add(-time.Hour))
		return err
	}); err != nil {
		t.Fatal(err)
	}
	svc := wheel.New(wheel.Deps{DB: d, Customers: customers.NewStore(d), Shops: sh, API: client, Events: wheel.TableEvents{},
		Log: slog.New(slog.NewTextHandler(io.Discard, nil)), Rand: rand.New(rand.NewPCG(seed, 42))})
	jobs := &captureInserter{}
	svc.QueueWith(jobs)
	mail := &recordMailer{}
	svc.MailWith(mail)
	return &env{t: t, db: d, fake: fake, svc: svc, jobs: jobs, mail: mail, shopID: shop.ID}
}

// configure saves a configuration built from the default with changes.
func (e *env) configure(change func(*wheel.Config)) {
	e.t.Helper()
	c := wheel.DefaultConfig()
	change(&c)
	if _, err := e.svc.Save(context.Background(), e.shopID, wheel.InputFrom(true, c)); err != nil {
		e.t.Fatalf("save config: %v", err)
	}
}

func (e *env) count(q string, args ...any) int {
	e.t.Helper()
	var n int
	if err := e.db.Get(&n, q, args...); err != nil {
		e.t.Fatal(err)
	}
	return n
}

func spinReq(email string) wheel.SpinRequest {
	return wheel.SpinRequest{Email: email, FirstName: "Ada", Consent: true, VisitorID: "v_visitor_0001"}
}

func TestParseMessages(t *testing.T) {
	base := wheel.InputFrom(true, wheel.DefaultConfig())
	cases := []struct {
		name  string
		edit  func(*wheel.Input)
		field string
		want  string
	}{
		{"negative weight", func(in *wheel.Input) { in.Slices[1].Weight = "-5" }, "slice_weight.1", "can't be negative"},
		{"all zero", func(in *wheel.Input) {
			for i := range in.Slices {
				in.Slices[i].Weight = "0"
			}
		}, "slices", "weight above 0"},
		{"too many slices", func(in *wheel.Input) {
			for len(in.Slices) < 13 {
				in.Slices = append(in.Slices, in.Slices[0])
			}
		}, "slices", "at most 12 slices"},
		{"label required", func(in *wheel.Input) { in.Slices[0].Label = "  " }, "slice_label.0", "Enter a label"},
		{"label too long", func(in *wheel.Input) { in.Slices[2].Label = strings.Repeat("x", 41) }, "slice_label.2", "40 characters"},
		{"colour", func(in *wheel.Input) { in.Slices[0].Color = "red" }, "slice_color.0", "#F6C445"},
		{"NaN weight", func(in *wheel.Input) { in.Slices[1].Weight = "NaN" }, "slice_weight.1", "as a number"},
		{"infinite weight", func(in *wheel.Input) { in.Slices[1].Weight = "+Inf" }, "slice_weight.1", "as a number"},
		{"NUL in a label", func(in *wheel.Input) { in.Slices[0].Label = "10%\x00off" }, "slice_label.0", "NUL character"},
		{"invalid UTF-8 headline", func(in *wheel.Input) { in.Headline = "Spin\xff" }, "headline", "UTF-8"},
		{"percent range", func(in *wheel.Input) { in.Slices[0].PrizeValue = "150" }, "slice_value.0", "1 to 100"},
		{"fixed amount", func(in *wheel.Input) { in.Slices[4].PrizeValue = "0" }, "slice_value.4", "above 0"},
		{"expiry", func(in *wheel.Input) { in.PrizeExpiryDays = "400" }, "prize_expiry_days", "1 to 365"},
		{"headline", func(in *wheel.Input) { in.Headline = "" }, "headline", "required"},
		{"cap without no-prize", func(in *wheel.Input) {
			in.Cap = "10"
			for i := range in.Slices {
				if in.Slices[i].PrizeKind == wheel.PrizeNone {
					in.Slices[i].Weight = "0"
				}
			}
		}, "prize_cap", "No prize"},
		{"daily code cap", func(in *wheel.Input) { in.DailyCodeCap = "0" }, "daily_code_cap", "from 1 to 100000"},
		{"daily code cap not a number", func(in *wheel.Input) { in.DailyCodeCap = "NaN" }, "daily_code_cap", "from 1 to 100000"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			in := base
			in.Slices = append([]wheel.SliceInput(nil), base.Slices...)
			tc.edit(&in)
			_, err := wheel.Parse(in)
			var fe wheel.FieldErrors
			if !errors.As(err, &fe) {
				t.Fatalf("want field errors, got %v", err)
			}
			if !strings.Contains(fe[tc.field], tc.want) {
				t.Fatalf("%s: want message containing %q, got %q (all: %v)", tc.field, tc.want, fe[tc.field], fe)
			}
		})
	}
	if _, err := wheel.Parse(base); err != nil {
		t.Fatalf("default config must be valid: %v", err)
	}
}

// TestPickDistribution: 100,000 picks with a fixed seed match the
// configured odds (Pearson's chi-square, k-1 degrees of freedom).
func TestPickDistribution(t *testing.T) {
	slices := wheel.DefaultConfig().Slices
	slices = append(slices, wheel.Slice{Label: "never", Weight: 0})
	rng := rand.New(rand.NewPCG(20261124, 7))
	const n = 100_000
	counts := make([]int, len(slices))
	for range n {
		counts[wheel.Pick(rng, slices)]++
	}
	if counts[len(counts)-1] != 0 {
		t.Fatalf("a zero-weight slice was picked %d times", counts[len(counts)-1])
	}
	pct := wheel.Percentages(slices)
	chi := 0.0
	k := 0
	for i, p := range pct {
		if p == 0 {
			continue
		}
		k++
		exp := n * p / 100
		d := float64(counts[i]) - exp
		chi += d * d / exp
	}
	// Critical values of chi-square at p = 0.001.
	critical := map[int]float64{1: 10.828, 2: 13.816, 3: 16.266, 4: 18.467, 5: 20.515, 6: 22.458, 7: 24.322}[k-1]
	t.Logf("chi-square = %.3f with %d degrees of freedom (critical value at p=0.001: %.3f); counts %v", chi, k-1, critical, counts)
	if chi >= critical {
		t.Fatalf("distribution does not match the odds: chi-square %.3f >= %.3f", chi, critical)
	}
}

func TestSpinSubscribesAndCreatesCode(t *testing.T) {
	e := newEnv(t, 1)
	min := decimal.RequireFromString("40")
	e.configure(func(c *wheel.Config) {
		c.MinOrderAmount = &min
		c.PrizeExpiryDays = 10
		for i := range c.Slices {
			if c.Slices[i].PrizeKind != wheel.PrizePercentage {
				c.Slices[i].Weight = 0
			}
		}
	})
	res, err := e.svc.Spin(context.Background(), e.shopID, spinReq("  Ada.Lovelace@Example.com "))
	if err != nil {
		t.Fatal(err)
	}
	if res.CodeStatus != "created" || !strings.HasPrefix(res.Code, "CW-") || len(res.Code) != 11 || res.Prize.Kind != "percentage" {
		t.Fatalf("unexpected result %+v", res)
	}
	codes := e.fake.DiscountCodes(shopDomain)
	if len(codes) != 1 {
		t.Fatalf("want 1 discount at Shopify, got %d", len(codes))
	}
	d := codes[0]
	if d.Code != res.Code || d.UsageLimit != 1 || !d.AppliesOncePerCustomer || !d.ContextAll || !d.ItemsAll || d.MinSubtotal != "40.00" || d.EndsAt == nil {
		t.Fatalf("discount not as expected: %+v", d)
	}
	if got := d.EndsAt.Sub(d.StartsAt); got < 10*24*time.Hour-time.Minute || got > 10*24*time.Hour+time.Minute {
		t.Fatalf("expiry %v, want 10 days", got)
	}
	if d.Percentage != 0.1 && d.Percentage != 0.15 {
		t.Fatalf("percentage %v", d.Percentage)
	}
	// The profile is subscribed with history, the push queued, the event recorded.
	if n := e.count(`SELECT count(*) FROM customers WHERE shop_id = $1 AND email = 'Ada.Lovelace@Example.com' AND email_consent = 'subscribed' AND source = 'wheel' AND first_name = 'Ada'`, e.shopID); n != 1 {
		t.Fatalf("subscribed profiles: %d", n)
	}
	if n := e.count(`SELECT count(*) FROM consent_events WHERE shop_id = $1 AND source = 'wheel' AND state = 'subscribed'`, e.shopID); n != 1 {
		t.Fatalf("consent history rows: %d", n)
	}
	if e.jobs.kinds()[customers.ConsentPushArgs{}.Kind()] != 1 {
		t.Fatalf("consent push not queued: %v", e.jobs.kinds())
	}
	if n := e.count(`SELECT count(*) FROM events WHERE shop_id = $1 AND name = 'subscribed' AND source = 'server' AND customer_id IS NOT NULL`, e.shopID); n != 1 {
		t.Fatalf("subscribed events: %d", n)
	}
	if n := e.count(`SELECT count(*) FROM visitors WHERE shop_id = $1 AND visitor_id = 'v_visitor_0001' AND identified_by = 'wheel'`, e.shopID); n != 1 {
		t.Fatalf("visitor not identified")
	}
	// Same address, other case and spacing: one spin per email.
	_, err = e.svc.Spin(context.Background(), e.shopID, spinReq("ada.lovelace@example.COM\t"))
	if !errors.Is(err, wheel.ErrAlreadySpun) {
		t.Fatalf("second spin: want already spun, got %v", err)
	}
	// The visitor no longer sees the wheel.
	disp, err := e.svc.Config(context.Background(), e.shopID, "v_visitor_0001", 0)
	if err != nil || disp.Show {
		t.Fatalf("config after spin: %+v %v", disp, err)
	}
}

func TestSecondSpinSameEmailNotSubscribedIsAlreadySpun(t *testing.T) {
	e := newEnv(t, 2)
	if _, err := e.svc.Spin(context.Background(), e.shopID, spinReq("bob@example.com")); err != nil {
		t.Fatal(err)
	}
	// The shopper unsubscribed meanwhile: still one spin per email.
	e.db.MustExec(`UPDATE customers SET email_consent = 'unsubscribed' WHERE shop_id = $1`, e.shopID)
	_, err := e.svc.Spin(context.Background(), e.shopID, spinReq(" BOB@Example.com "))
	if !errors.Is(err, wheel.ErrAlreadySpun) {
		t.Fatalf("want ErrAlreadySpun, got %v", err)
	}
}

func TestParallelSpinsOneEmail(t *testing.T) {
	e := newEnv(t, 3)
	var wg sync.WaitGroup
	errs := make([]error, 20)
	for i := range 20 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			email := "race@example.com"
			if i%2 == 1 {
				email = " RACE@example.com"
			}
			_, errs[i] = e.svc.Spin(context.Background(), e.shopID, spinReq(email))
		}()
	}
	wg.Wait()
	ok := 0
	for _, err := range errs {
		switch {
		case err == nil:
			ok++
		case errors.Is(err, wheel.ErrAlreadySpun):
		default:
			t.Fatalf("unexpected error: %v", err)
		}
	}
	if ok != 1 {
		t.Fatalf("%d spins succeeded, want 1", ok)
	}
	if n := e.count(`SELECT count(*) FROM spins WHERE shop_id = $1`, e.shopID); n != 1 {
		t.Fatalf("%d spin rows", n)
	}
	if n := e.count(`SELECT count(*) FROM customers WHERE shop_id = $1`, e.shopID); n != 1 {
		t.Fatalf("%d customers", n)
	}
}

func TestBadEmails(t *testing.T) {
	e := newEnv(t, 4)
	for _, email := range []string{"", "not-an-email", "a@b", "Ada <ada@example.com>", "x@mailinator.com", "y@sub.guerrillamail.com",
		"z@10minutemail.com", "w@my-tempmail.io", "q@example..com"} {
		_, err := e.svc.Spin(context.Background(), e.shopID, spinReq(email))
		var ie *wheel.InputError
		if !errors.As(err, &ie) || ie.Field != "email" {
			t.Errorf("%q: want an email input error, got %v", email, err)
		}
	}
	r := spinReq("fine@example.com")
	r.Consent = false
	if _, err := e.svc.Spin(context.Background(), e.shopID, r); err == nil {
		t.Fatal("a spin without consent was accepted")
	}
	if n := e.count(`SELECT count(*) FROM spins`); n != 0 {
		t.Fatalf("%d spins recorded from bad input", n)
	}
}

func TestPrizeCap(t *testing.T) {
	e := newEnv(t, 5)
	e.configure(func(c *wheel.Config) {
		c.PrizeCap = 2
		for i := range c.Slices {
			c.Slices[i].Weight = 0
		}
		c.Slices[0].Weight = 1000 // 10% off: almost always
		c.Slices[1].Weight = 1    // No luck
	})
	for i := range 6 {
		if _, err := e.svc.Spin(context.Background(), e.shopID, spinReq("cap"+strconv.Itoa(i)+"@example.com")); err != nil {
			t.Fatal(err)
		}
	}
	if n := e.count(`SELECT count(*) FROM spins WHERE prize_kind <> 'none'`); n != 2 {
		t.Fatalf("%d winning spins, want the cap of 2", n)
	}
	if n := e.count(`SELECT count(*) FROM spins WHERE prize_kind = 'none' AND code IS NULL AND code_status = 'none'`); n != 4 {
		t.Fatalf("%d no-prize spins, want 4", n)
	}
}

func TestCodeFailureIsRetriedByJob(t *testing.T) {
	e := newEnv(t, 6)
	e.configure(func(c *wheel.Config) {
		for i := range c.Slices {
			if c.Slices[i].PrizeKind != wheel.PrizeFreeShipping {
				c.Slices[i].Weight = 0
			}
		}
	})
	e.fake.FailNextDiscount(1)
	res, err := e.svc.Spin(context.Background(), e.shopID, spinReq("retry@example.com"))
	if err != nil {
		t.Fatal(err)
	}
	// The shopper is told at once that the code will come by email, not
	// left polling "still creating".
	if res.CodeStatus != "pending" || res.Code != "" || !strings.Contains(res.Message, "We'll email it to you") {
		t.Fatalf("want a pending code with an honest message, got %+v", res)
	}
	if e.jobs.kinds()["wheel.create_code"] != 1 {
		t.Fatalf("retry job not queued: %v", e.jobs.kinds())
	}
	var spinID int64
	if err := e.db.Get(&spinID, `SELECT id FROM spins WHERE code_status = 'pending' AND code_error <> ''`); err != nil {
		t.Fatalf("spin not kept as pending with its error: %v", err)
	}
	job := &river.Job[wheel.CreateCodeArgs]{JobRow: &rivertype.JobRow{Attempt: 1, MaxAttempts: 12},
		Args: wheel.CreateCodeArgs{ShopID: e.shopID, SpinID: spinID}}
	if err := e.svc.Worker().Work(context.Background(), job); err != nil {
		t.Fatal(err)
	}
	got, err := e.svc.SpinStatus(context.Background(), e.shopID, spinID, "v_visitor_0001")
	if err != nil {
		t.Fatal(err)
	}
	if got.CodeStatus != "created" || got.Code == "" || got.Prize.Kind != "free_shipping" {
		t.Fatalf("after the job: %+v", got)
	}
	codes := e.fake.DiscountCodes(shopDomain)
	if len(codes) != 1 || codes[0].Kind != "free_shipping" || !codes[0].AllCountries || codes[0].Code != got.Code || codes[0].UsageLimit != 1 {
		t.Fatalf("fake discounts: %+v", codes)
	}
	// The code that now exists is emailed, once.
	if e.jobs.kinds()["wheel.email_code"] != 1 {
		t.Fatalf("code email not queued with the code: %v", e.jobs.kinds())
	}
	mail := e.sendQueuedEmails()
	if len(mail) != 1 || mail[0].To != "retry@example.com" || !strings.Contains(mail[0].HTML, got.Code) || !strings.Contains(mail[0].Text, got.Code) ||
		mail[0].Marketing || mail[0].DedupeKey != "wheel_code:"+strconv.FormatInt(spinID, 10) {
		t.Fatalf("code email: %+v", mail)
	}
	// Another visitor can't read it.
	if _, err := e.svc.SpinStatus(context.Background(), e.shopID, spinID, "v_someone_else"); !errors.Is(err, wheel.ErrNotFound) {
		t.Fatalf("other visitor: %v", err)
	}
	// Running the job again (a duplicate) changes nothing.
	if err := e.svc.Worker().Work(context.Background(), job); err != nil || len(e.fake.DiscountCodes(shopDomain)) != 1 {
		t.Fatalf("repeat job: %v, %d codes", err, len(e.fake.DiscountCodes(shopDomain)))
	}
	if e.jobs.kinds()["wheel.email_code"] != 0 {
		t.Fatalf("a repeated job queued another email: %v", e.jobs.kinds())
	}
}

func TestCodeFailsForGoodOnLastAttempt(t *testing.T) {
	e := newEnv(t, 7)
	e.configure(func(c *wheel.Config) {
		for i := range c.Slices {
			if c.Slices[i].PrizeKind != wheel.PrizeFixedAmount {
				c.Slices[i].Weight = 0
			}
		}
	})
	e.fake.FailNextDiscount(2)
	res, err := e.svc.Spin(context.Background(), e.shopID, spinReq("unlucky@example.com"))
	if err != nil || res.CodeStatus != "pending" {
		t.Fatalf("%+v %v", res, err)
	}
	job := &river.Job[wheel.CreateCodeArgs]{JobRow: &rivertype.JobRow{Attempt: 12, MaxAttempts: 12},
		Args: wheel.CreateCodeArgs{ShopID: e.shopID, SpinID: res.SpinID}}
	if err := e.svc.Worker().Work(context.Background(), job); err == nil {
		t.Fatal("want the failure reported to River")
	}
	got, _ := e.svc.SpinStatus(context.Background(), e.shopID, res.SpinID, "v_visitor_0001")
	if got.CodeStatus != "failed" || !strings.Contains(got.Message, "contact the store") {
		t.Fatalf("after the last attempt: %+v", got)
	}
	if n := e.count(`SELECT count(*) FROM spins`); n != 1 {
		t.Fatal("the spin was lost")
	}
}
