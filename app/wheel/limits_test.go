package wheel_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"

	"github.com/cartwheel/cartwheel/app/wheel"
)

// winsOnly makes every spin land on the 10 % slice.
func winsOnly(c *wheel.Config) {
	for i := range c.Slices {
		c.Slices[i].Weight = 0
	}
	c.Slices[0].Weight = 1
}

// A flood of spins can't create more codes in a day than the merchant's
// cap, even all at once; beyond it the spin is refused and nothing is
// written. The cap counts the last 24 hours.
func TestDailyCodeCap(t *testing.T) {
	e := newEnv(t, 11)
	e.configure(func(c *wheel.Config) { winsOnly(c); c.DailyCodeCap = 3 })
	var wg sync.WaitGroup
	var mu sync.Mutex
	outcomes := map[string]int{}
	for i := range 10 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, err := e.svc.Spin(context.Background(), e.shopID, spinReq(fmt.Sprintf("flood%d@example.com", i)))
			mu.Lock()
			defer mu.Unlock()
			switch {
			case err == nil:
				outcomes["ok"]++
			case errors.Is(err, wheel.ErrDailyLimit):
				outcomes["limit"]++
			default:
				t.Error(err)
			}
		}()
	}
	wg.Wait()
	if outcomes["ok"] != 3 || outcomes["limit"] != 7 {
		t.Fatalf("outcomes %v; want 3 spins and 7 refusals", outcomes)
	}
	if n := e.count(`SELECT count(*) FROM spins WHERE code IS NOT NULL`); n != 3 {
		t.Fatalf("%d codes, want 3", n)
	}
	if n := e.count(`SELECT count(*) FROM customers`); n != 3 {
		t.Fatalf("%d profiles: refused spins must write nothing", n)
	}
	// The storefront stops offering the wheel until then.
	if d, err := e.svc.Config(context.Background(), e.shopID, "v_newcomer_01", 0); err != nil || d.Show || d.Reason != "daily_limit" {
		t.Fatalf("wheel config at the cap: %+v %v", d, err)
	}
	// A day later the cap has room again.
	e.db.MustExec(`UPDATE spins SET created_at = created_at - interval '25 hours'`)
	if d, err := e.svc.Config(context.Background(), e.shopID, "v_newcomer_01", 0); err != nil || !d.Show {
		t.Fatalf("wheel config a day later: %+v %v", d, err)
	}
	if _, err := e.svc.Spin(context.Background(), e.shopID, spinReq("nextday@example.com")); err != nil {
		t.Fatalf("spin after 24 hours: %v", err)
	}
}

// On an email-the-code wheel the answer never shows the code, and is the
// same whether the address is new, already subscribed, or already spun: a
// stranger can't probe the list. Only the new address gets a code, by
// email, once Shopify has it.
func TestEmailCodeAnswersAlikeForEveryAddress(t *testing.T) {
	e := newEnv(t, 12)
	e.configure(func(c *wheel.Config) { winsOnly(c); c.EmailCode = true })
	e.db.MustExec(`INSERT INTO customers (shop_id, email, email_consent) VALUES ($1, 'member@example.com', 'subscribed')`, e.shopID)

	answers := map[string]wheel.Result{}
	for _, addr := range []string{"new@example.com", "member@example.com", "new@example.com"} {
		res, err := e.svc.Spin(context.Background(), e.shopID, spinReq(addr))
		if err != nil {
			t.Fatalf("%s: %v", addr, err)
		}
		answers[addr+fmt.Sprint(len(answers))] = res
	}
	var first *wheel.Result
	for k, r := range answers {
		if r.Code != "" || r.ApplyURL != "" || r.SpinID != 0 || r.ExpiresAt != nil || r.CodeStatus != "emailed" ||
			!strings.Contains(r.Message, "Check your inbox") {
			t.Fatalf("%s: %+v", k, r)
		}
		if first == nil {
			first = &r
			continue
		}
		if r != *first {
			t.Fatalf("answers differ:\n%+v\n%+v", r, *first)
		}
	}
	if n := e.count(`SELECT count(*) FROM spins`); n != 1 {
		t.Fatalf("%d spins stored, want only the new address's", n)
	}
	if n := e.count(`SELECT count(*) FROM spins WHERE email_code AND code_status = 'pending'`); n != 1 {
		t.Fatal("the new address's spin is not waiting to be emailed")
	}
	if k := e.jobs.kinds(); k["wheel.create_code"] != 1 || k["customers.push_consent"] != 1 {
		t.Fatalf("jobs queued: %v (the decoys must queue nothing)", k)
	}
	// No call to Shopify while the shopper waits: the job makes the code,
	// and the code is emailed once it exists.
	if n := len(e.fake.DiscountCodes(shopDomain)); n != 0 {
		t.Fatalf("%d codes created during the spin", n)
	}
	e.runQueued("wheel.create_code")
	codes := e.fake.DiscountCodes(shopDomain)
	mail := e.sendQueuedEmails()
	if len(codes) != 1 || len(mail) != 1 || mail[0].To != "new@example.com" || !strings.Contains(mail[0].Text, codes[0].Code) {
		t.Fatalf("codes %+v, mail %+v", codes, mail)
	}
}

// Once the prize cap is reached real spins only land on "no prize": so do
// the decoys, or a prize would give away that an address is on the list.
func TestEmailCodeDecoyRespectsPrizeCap(t *testing.T) {
	e := newEnv(t, 13)
	e.configure(func(c *wheel.Config) {
		winsOnly(c)
		c.Slices[1].Weight = 1 // "No luck", for once the cap is reached
		c.PrizeCap = 1
		c.EmailCode = true
	})
	e.db.MustExec(`INSERT INTO customers (shop_id, email, email_consent) VALUES ($1, 'member@example.com', 'subscribed')`, e.shopID)
	// New addresses spin until one has won the only prize.
	for i := 0; e.count(`SELECT count(*) FROM spins WHERE prize_kind <> 'none'`) == 0; i++ {
		if i == 50 {
			t.Fatal("no spin won in 50 tries at even odds")
		}
		if _, err := e.svc.Spin(context.Background(), e.shopID, spinReq(fmt.Sprintf("new%d@example.com", i))); err != nil {
			t.Fatal(err)
		}
	}
	for i := range 20 {
		res, err := e.svc.Spin(context.Background(), e.shopID, spinReq("member@example.com"))
		if err != nil {
			t.Fatal(err)
		}
		if res.Prize.Kind != wheel.PrizeNone || res.CodeStatus != "none" {
			t.Fatalf("decoy %d won %+v after the prize cap was reached", i, res)
		}
	}
}
