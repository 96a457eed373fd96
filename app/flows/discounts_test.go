package flows_test

import (
	"bytes"
	"context"
	"testing"
	"time"

	"github.com/jmoiron/sqlx"
	"github.com/riverqueue/river"
	"github.com/riverqueue/river/riverdriver/riverdatabasesql"
	"github.com/riverqueue/river/rivertype"

	"github.com/cartwheel/cartwheel/app/db"
	"github.com/cartwheel/cartwheel/app/email/ledger"
	"github.com/cartwheel/cartwheel/app/flows"
	"github.com/cartwheel/cartwheel/app/secretbox"
	"github.com/cartwheel/cartwheel/app/shopify"
	"github.com/cartwheel/cartwheel/app/shopify/shopifytest"
	"github.com/cartwheel/cartwheel/app/shops"
	"github.com/cartwheel/cartwheel/app/signals"
)

func TestDiscountStepCreatesTheCodeBeforeTheEmail(t *testing.T) {
	v := newEng(t)
	ctx := context.Background()
	fake := shopifytest.NewServer(t, "key", "secret")
	var domain string
	v.db.Get(&domain, `SELECT domain FROM shops WHERE id = $1`, v.shopID)
	fake.AddShop(shopify.ShopInfo{Name: "Flows", MyshopifyDomain: domain})
	client := shopify.NewClient(shopify.ClientConfig{APIKey: "key", APISecret: "secret", BaseURL: fake.URL, Retries: 1})
	tok, err := client.ExchangeCode(ctx, domain, fake.IssueCode(domain))
	if err != nil {
		t.Fatal(err)
	}
	box, _ := secretbox.New(bytes.Repeat([]byte{7}, 32))
	shopStore := shops.NewStore(v.db, box)
	if err := db.InTx(ctx, v.db, func(tx *sqlx.Tx) error {
		_, err := shopStore.Install(ctx, tx, domain, tok.Token, "write_discounts", time.Now())
		return err
	}); err != nil {
		t.Fatal(err)
	}
	// An insert-only client: the test runs the discount job itself.
	jc, err := river.NewClient(riverdatabasesql.New(v.db.DB), &river.Config{SkipUnknownJobCheck: true})
	if err != nil {
		t.Fatal(err)
	}
	v.e.Mail = &flows.LedgerMailer{Jobs: jc}
	def := sendNow(v.tmpl, flows.TriggerCustomerCreated, 50, "24h")
	def.Steps[0].Discount = &flows.Discount{Kind: "percentage", Value: 15, Expiry: dur("24h"), Scope: "all", Prefix: "LAST"}
	v.publish(def)
	a, b := v.customer("da@example.com"), v.customer("db@example.com")
	v.signal(a, signals.CustomerCreated, "", "")
	v.runDue()

	var m ledger.Message
	if err := v.db.Get(&m, `SELECT `+ledger.Columns+` FROM email_messages WHERE customer_id = $1`, a); err != nil {
		t.Fatal(err)
	}
	code := m.Context[ledger.ContextDiscountCode]
	var kinds []string
	v.db.Select(&kinds, `SELECT kind FROM river_job ORDER BY id`)
	if len(code) != 13 || code[:5] != "LAST-" || len(kinds) != 1 || kinds[0] != "flows.create_discount" {
		t.Fatalf("code %q, jobs %v: want a LAST- code and only the discount job queued", code, kinds)
	}
	w := &flows.DiscountWorker{E: v.e, API: client, Shops: shopStore, Jobs: jc}
	job := &river.Job[flows.DiscountArgs]{JobRow: &rivertype.JobRow{Attempt: 1, MaxAttempts: 12}, Args: flows.DiscountArgs{ShopID: v.shopID, MessageID: m.ID}}
	if err := w.Work(ctx, job); err != nil {
		t.Fatal(err)
	}
	got := fake.DiscountCodes(domain)
	if len(got) != 1 || got[0].Code != code || got[0].Percentage != 0.15 || got[0].EndsAt == nil ||
		got[0].EndsAt.Sub(m.CreatedAt.Truncate(time.Second)) > 24*time.Hour+time.Second {
		t.Fatalf("created %+v", got)
	}
	v.db.Select(&kinds, `SELECT kind FROM river_job ORDER BY id`)
	if len(kinds) != 2 || kinds[1] != "email.deliver" {
		t.Fatalf("jobs after the code: %v, want the delivery queued", kinds)
	}

	// A code Shopify refuses: the email is skipped, never sent without it.
	v.exec(`UPDATE flow_versions SET definition = jsonb_set(definition, '{steps,0,discount,value}', '150') WHERE shop_id = $1`, v.shopID)
	v2 := &flows.Engine{DB: v.db, Mail: &flows.LedgerMailer{Jobs: jc}, Profiles: v.e.Profiles, Clock: v.clock}
	v.e = v2
	v.signal(b, signals.CustomerCreated, "", "")
	v.runDue()
	if err := v.db.Get(&m, `SELECT `+ledger.Columns+` FROM email_messages WHERE customer_id = $1`, b); err != nil {
		t.Fatal(err)
	}
	w.E = v2
	job.Args.MessageID = m.ID
	if err := w.Work(ctx, job); err != nil {
		t.Fatal(err)
	}
	if err := v.db.Get(&m, `SELECT `+ledger.Columns+` FROM email_messages WHERE id = $1`, m.ID); err != nil {
		t.Fatal(err)
	}
	if m.Status != ledger.Skipped || m.SkipReason != flows.SkipDiscountFailed {
		t.Fatalf("refused code: message %s (%s), want skipped %s", m.Status, m.SkipReason, flows.SkipDiscountFailed)
	}
}
