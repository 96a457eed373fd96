package customers_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/jmoiron/sqlx"

	"github.com/cartwheel/cartwheel/app/customers"
	"github.com/cartwheel/cartwheel/app/db/dbtest"
)

func newShop(t *testing.T, d *sqlx.DB, domain string) int64 {
	t.Helper()
	var id int64
	if err := d.Get(&id, `INSERT INTO shops (domain, installed_at) VALUES ($1, now()) RETURNING id`, domain); err != nil {
		t.Fatal(err)
	}
	return id
}

// importFile uploads and runs an import with the default mapping.
func importFile(t *testing.T, st *customers.Store, shopID int64, kind, body string) customers.Import {
	t.Helper()
	ctx := context.Background()
	im, err := st.Upload(ctx, shopID, kind, "test.csv", strings.NewReader(body))
	if err != nil {
		t.Fatalf("upload: %v", err)
	}
	if err := st.StartImport(ctx, nopInserter{}, shopID, im.ID, im.Mapping()); err != nil {
		t.Fatalf("start: %v", err)
	}
	if err := st.RunImport(ctx, shopID, im.ID); err != nil {
		t.Fatalf("run: %v", err)
	}
	im, err = st.GetImport(ctx, shopID, im.ID)
	if err != nil {
		t.Fatal(err)
	}
	return im
}

// Klaviyo's profile export (Lists & Segments › Export), with a custom
// property column at the end, written by Excel: BOM, CRLF, a quoted newline.
const klaviyoExport = "\ufeffEmail,First Name,Last Name,Phone Number,Address,Address 2,City,State / Region,Country,Zip Code,Source,Klaviyo ID,Organization,Title,Timezone,Initial Source,Email Marketing Consent,Email Marketing Consent Timestamp,Date Added,Last Active,Favourite Colour\r\n" +
	"ada@example.com,Ada,Lovelace,+44 20 7946 0958,\"12 St James's Sq\nFlat 2\",,London,,GB,SW1Y 4JH,Shopify,01HABCDEF,,,Europe/London,Signup form,SUBSCRIBED,2024-03-01T10:00:00+00:00,2024-03-01 10:00:00,2024-05-01 09:00:00,teal\r\n" +
	"grace@example.com,Grace,Hopper,,,,Arlington,VA,US,22201,Manual Import,01HABCDEG,,,America/New_York,Manual Import,UNSUBSCRIBED,2024-02-01T10:00:00+00:00,2023-12-01 10:00:00,,\r\n" +
	"not-an-email,Bad,Row,,,,,,,,,01HABCDEH,,,,,SUBSCRIBED,,,,\r\n" +
	"ADA@example.com,Ada,Again,,,,,,,,,01HABCDEI,,,,,SUBSCRIBED,,,,\r\n" +
	"linus@example.com,Linus,Torvalds,,,,Portland,OR,US,,,01HABCDEJ,,,,,NEVER_SUBSCRIBED,,,,\r\n"

func TestImportKlaviyoProfiles(t *testing.T) {
	d := dbtest.New(t)
	st := customers.NewStore(d)
	shop := newShop(t, d, "csv-shop.myshopify.com")
	im := importFile(t, st, shop, customers.ImportProfiles, klaviyoExport)

	if im.Format != "klaviyo" || im.Status != "done" {
		t.Fatalf("format %q status %q (%s)", im.Format, im.Status, im.Error)
	}
	if im.RowsTotal != 5 || im.RowsDone != 5 || im.RowsCreated != 3 || im.RowsRejected != 2 {
		t.Fatalf("counts: total %d done %d created %d rejected %d", im.RowsTotal, im.RowsDone, im.RowsCreated, im.RowsRejected)
	}
	var ada struct {
		First, City, Country, Consent string
		Phone                         *string
		Props                         string
	}
	if err := d.Get(&ada, `SELECT first_name AS first, city, country, email_consent AS consent, phone, properties::text AS props
		FROM customers WHERE shop_id = $1 AND lower(email) = 'ada@example.com'`, shop); err != nil {
		t.Fatal(err)
	}
	if ada.First != "Ada" || ada.City != "London" || ada.Country != "GB" || ada.Consent != "subscribed" || ada.Phone == nil {
		t.Fatalf("ada: %+v", ada)
	}
	if !strings.Contains(ada.Props, `"Favourite Colour": "teal"`) || !strings.Contains(ada.Props, "Flat 2") {
		t.Fatalf("custom columns should be kept as properties, got %s", ada.Props)
	}
	var events int
	d.Get(&events, `SELECT count(*) FROM consent_events WHERE shop_id = $1 AND source = 'import'`, shop)
	if events != 2 { // Ada subscribed, Grace unsubscribed; Linus never subscribed
		t.Fatalf("consent events: %d", events)
	}

	var report bytes.Buffer
	if err := st.WriteRejects(context.Background(), shop, im.ID, &report); err != nil {
		t.Fatal(err)
	}
	want := []string{"Line,Email,Reason", `5,not-an-email,"""not-an-email"" is not a valid email address"`,
		"6,ADA@example.com,duplicate email: already on line 2"} // Ada's address spans lines 2-3
	got := strings.Split(strings.TrimSpace(report.String()), "\n")
	if len(got) != len(want) {
		t.Fatalf("report:\n%s", report.String())
	}
	for i := range want {
		if got[i] != want[i] {
			t.Fatalf("report line %d: %q, want %q", i, got[i], want[i])
		}
	}
	var chunks int
	d.Get(&chunks, `SELECT count(*) FROM csv_import_chunks WHERE import_id = $1`, im.ID)
	if chunks != 0 {
		t.Fatal("the stored file should be dropped after the import")
	}
}

// snapshot is everything an import can touch, to compare before and after.
func snapshot(t *testing.T, d *sqlx.DB, shop int64) string {
	t.Helper()
	var s string
	if err := d.Get(&s, `SELECT
		COALESCE((SELECT string_agg(c::text, E'\n' ORDER BY id) FROM customers c WHERE shop_id = $1), '') ||
		COALESCE((SELECT string_agg(e::text, E'\n' ORDER BY id) FROM consent_events e WHERE shop_id = $1), '') ||
		COALESCE((SELECT string_agg(s::text, E'\n' ORDER BY email) FROM suppressions s WHERE shop_id = $1), '')`, shop); err != nil {
		t.Fatal(err)
	}
	return s
}

func TestImportTwiceChangesNothing(t *testing.T) {
	d := dbtest.New(t)
	st := customers.NewStore(d)
	shop := newShop(t, d, "twice.myshopify.com")
	importFile(t, st, shop, customers.ImportProfiles, klaviyoExport)
	before := snapshot(t, d, shop)
	im := importFile(t, st, shop, customers.ImportProfiles, klaviyoExport)
	if after := snapshot(t, d, shop); after != before {
		t.Fatalf("second import changed data:\nbefore %s\nafter  %s", before, after)
	}
	if im.RowsCreated != 0 || im.RowsUpdated != 0 {
		t.Fatalf("second import reported created %d updated %d", im.RowsCreated, im.RowsUpdated)
	}
}

func TestImportNeverResubscribesAndSemicolons(t *testing.T) {
	d := dbtest.New(t)
	st := customers.NewStore(d)
	shop := newShop(t, d, "semi.myshopify.com")
	// European Excel: ; separator, generic headers.
	importFile(t, st, shop, customers.ImportProfiles, "email;first_name;accepts marketing;tags;Loyalty tier\nmia@example.com;Mia;no;VIP, wholesale;gold\n")
	importFile(t, st, shop, customers.ImportProfiles, "email;accepts marketing\nmia@example.com;unsubscribed\n")
	importFile(t, st, shop, customers.ImportProfiles, "email;accepts marketing;tags\nmia@example.com;yes;vip, new\n")
	var c struct {
		First, Consent, Tags, Props string
	}
	d.Get(&c, `SELECT first_name AS first, email_consent AS consent, array_to_string(tags, '|') AS tags, properties::text AS props
		FROM customers WHERE shop_id = $1`, shop)
	if c.First != "Mia" || c.Consent != "unsubscribed" || c.Tags != "VIP|wholesale|new" || !strings.Contains(c.Props, "gold") {
		t.Fatalf("after three imports: %+v", c)
	}
}

func TestUploadRefusesBadFiles(t *testing.T) {
	d := dbtest.New(t)
	st := customers.NewStore(d)
	shop := newShop(t, d, "bad.myshopify.com")
	cases := map[string]struct{ body, want string }{
		"latin-1":      {"Email,First Name\nzoe@example.com,Zo\xe9\n", "line 2 is not UTF-8"},
		"utf-16":       {"\xff\xfeE\x00m\x00", "UTF-16"},
		"empty":        {"", "empty"},
		"header only":  {"Email,First Name\n", "no rows"},
		"broken quote": {"Email,Name\n\"a@example.com,Ann\nb@example.com,\"B\"x\n", "not valid CSV"},
	}
	for name, c := range cases {
		_, err := st.Upload(context.Background(), shop, customers.ImportProfiles, name+".csv", strings.NewReader(c.body))
		var ie *customers.ImportError
		if !errors.As(err, &ie) || !strings.Contains(ie.Msg, c.want) {
			t.Errorf("%s: got %v, want an ImportError containing %q", name, err, c.want)
		}
	}
	var n int
	d.Get(&n, `SELECT (SELECT count(*) FROM csv_imports) + (SELECT count(*) FROM csv_import_chunks)`)
	if n != 0 {
		t.Fatalf("refused uploads left %d rows behind", n)
	}
}

func TestStartImportChecksMapping(t *testing.T) {
	d := dbtest.New(t)
	st := customers.NewStore(d)
	shop := newShop(t, d, "map.myshopify.com")
	im, err := st.Upload(context.Background(), shop, customers.ImportProfiles, "x.csv", strings.NewReader("E-mail address,Name\na@example.com,A\n"))
	if err != nil {
		t.Fatal(err)
	}
	var ie *customers.ImportError
	if err := st.StartImport(context.Background(), nopInserter{}, shop, im.ID, []string{"ignore", "first_name"}); !errors.As(err, &ie) {
		t.Fatalf("no email column: %v", err)
	}
	if err := st.StartImport(context.Background(), nopInserter{}, shop, im.ID, []string{"email", "email"}); !errors.As(err, &ie) {
		t.Fatalf("two email columns: %v", err)
	}
	if _, err := st.GetImport(context.Background(), shop+999, im.ID); !errors.Is(err, customers.ErrNotFound) {
		t.Fatalf("another shop's import: %v", err)
	}
}

func TestImportMailchimpSuppressions(t *testing.T) {
	d := dbtest.New(t)
	st := customers.NewStore(d)
	shop := newShop(t, d, "supp.myshopify.com")
	// Mailchimp's cleaned-members export (audience export zip, cleaned_members_export_*.csv).
	cleaned := `"Email Address","First Name","Last Name",MEMBER_RATING,OPTIN_TIME,OPTIN_IP,CONFIRM_TIME,CONFIRM_IP,LATITUDE,LONGITUDE,GMTOFF,DSTOFF,TIMEZONE,CC,REGION,CLEAN_TIME,CLEAN_CAMPAIGN_TITLE,CLEAN_CAMPAIGN_ID,LEID,EUID,NOTES,TAGS
Bounced@Example.com,Bo,Unce,1,"2021-01-05 10:00:00",,"2021-01-05 10:01:00",,,,,,,US,,"2023-06-01 12:00:00","June newsletter",abc123,12345,e1f2,,"VIP"
nobody@,No,Body,1,,,,,,,,,,,,"2023-06-01 12:00:00",,,12346,e1f3,,
`
	im := importFile(t, st, shop, customers.ImportSuppressions, cleaned)
	if im.Format != "mailchimp" || im.RowsCreated != 1 || im.RowsRejected != 1 {
		t.Fatalf("import: %+v", im)
	}
	sup, err := st.Suppression(context.Background(), shop, "BOUNCED@example.com")
	if err != nil || sup.Reason != customers.SuppressCleaned || sup.Email != "bounced@example.com" || sup.Source != "import" {
		t.Fatalf("suppression: %+v %v", sup, err)
	}
	if ok, _ := st.IsSuppressed(context.Background(), shop+1, "bounced@example.com"); ok {
		t.Fatal("a suppression must not leak to another shop")
	}
	im = importFile(t, st, shop, customers.ImportSuppressions, cleaned)
	if im.RowsCreated != 0 {
		t.Fatal("re-importing a suppression list should add nothing")
	}
}

func TestExportRoundTrip(t *testing.T) {
	d := dbtest.New(t)
	st := customers.NewStore(d)
	shop := newShop(t, d, "export.myshopify.com")
	importFile(t, st, shop, customers.ImportProfiles, klaviyoExport)
	// An injection attempt in a name must reach spreadsheets inert.
	d.MustExec(`UPDATE customers SET last_name = '=HYPERLINK("http://evil")' WHERE lower(email) = 'linus@example.com'`)
	var out bytes.Buffer
	n, err := st.ExportCSV(context.Background(), shop, customers.ListFilter{}, &out)
	if err != nil || n != 3 {
		t.Fatalf("export: %d rows, %v", n, err)
	}
	if !strings.Contains(out.String(), `'=HYPERLINK`) {
		t.Fatalf("formula not neutralised:\n%s", out.String())
	}
	d.MustExec(`UPDATE customers SET last_name = 'Torvalds' WHERE lower(email) = 'linus@example.com'`)
	out.Reset()
	st.ExportCSV(context.Background(), shop, customers.ListFilter{}, &out)
	before := snapshot(t, d, shop)
	im := importFile(t, st, shop, customers.ImportProfiles, out.String())
	if im.RowsRejected != 0 || snapshot(t, d, shop) != before {
		t.Fatalf("re-importing an export changed data (rejected %d)", im.RowsRejected)
	}
	out.Reset()
	n, _ = st.ExportCSV(context.Background(), shop, customers.ListFilter{Consent: "subscribed"}, &out)
	if n != 1 || !strings.Contains(out.String(), "ada@example.com") {
		t.Fatalf("filtered export: %d rows\n%s", n, out.String())
	}
}

func TestListFiltersAndKeyset(t *testing.T) {
	d := dbtest.New(t)
	st := customers.NewStore(d)
	shop := newShop(t, d, "list.myshopify.com")
	other := newShop(t, d, "other.myshopify.com")
	for i := 0; i < 120; i++ {
		consent := "not_subscribed"
		if i%3 == 0 {
			consent = "subscribed"
		}
		country := "US"
		if i%2 == 0 {
			country = "FR"
		}
		d.MustExec(`INSERT INTO customers (shop_id, email, first_name, last_name, country, email_consent, orders_count, tags)
			VALUES ($1, $2, $3, 'Smith', $4, $5, $6, $7)`, shop, fmt.Sprintf("user%03d@example.com", i), fmt.Sprintf("Name%03d", i),
			country, consent, i%4, fmt.Sprintf("{t%d}", i%5))
	}
	d.MustExec(`INSERT INTO customers (shop_id, email, first_name) VALUES ($1, 'user001@example.com', 'Intruder')`, other)
	ctx := context.Background()

	seen := map[int64]bool{}
	f := customers.ListFilter{}
	pages := 0
	for {
		p, err := st.List(ctx, shop, f)
		if err != nil {
			t.Fatal(err)
		}
		pages++
		for _, c := range p.Customers {
			if seen[c.ID] {
				t.Fatalf("customer %d on two pages", c.ID)
			}
			seen[c.ID] = true
		}
		if p.Next == 0 {
			break
		}
		f.After = p.Next
	}
	if len(seen) != 120 || pages != 3 {
		t.Fatalf("paged %d customers in %d pages", len(seen), pages)
	}

	check := func(name string, f customers.ListFilter, want int) {
		t.Helper()
		f.Limit = 250
		p, err := st.List(ctx, shop, f)
		if err != nil {
			t.Fatal(err)
		}
		if len(p.Customers) != want {
			t.Errorf("%s: %d customers, want %d", name, len(p.Customers), want)
		}
	}
	check("subscribed", customers.ListFilter{Consent: "subscribed"}, 40)
	check("has orders", customers.ListFilter{HasOrders: "yes"}, 90)
	check("no orders", customers.ListFilter{HasOrders: "no"}, 30)
	check("country", customers.ListFilter{Country: "fr"}, 60)
	check("tag", customers.ListFilter{Tag: "t1"}, 24)
	check("search email", customers.ListFilter{Query: "user00"}, 10)
	check("search name", customers.ListFilter{Query: "name011"}, 1)
	check("search wildcard is literal", customers.ListFilter{Query: "%"}, 0)
	check("combined", customers.ListFilter{Consent: "subscribed", Country: "FR", HasOrders: "yes"}, 10)
	check("other shop's customer is not found", customers.ListFilter{Query: "intruder"}, 0)

	countries, err := st.Countries(ctx, shop)
	if err != nil || strings.Join(countries, ",") != "FR,US" {
		t.Fatalf("countries: %v %v", countries, err)
	}
}

func TestProfile(t *testing.T) {
	d := dbtest.New(t)
	st := customers.NewStore(d)
	shop := newShop(t, d, "profile.myshopify.com")
	other := newShop(t, d, "profile-other.myshopify.com")
	importFile(t, st, shop, customers.ImportProfiles, klaviyoExport)
	var id int64
	d.Get(&id, `SELECT id FROM customers WHERE shop_id = $1 AND email = 'ada@example.com'`, shop)
	d.MustExec(`INSERT INTO orders (shop_id, shopify_id, name, customer_id, currency, total_price, total_refunded, processed_at)
		VALUES ($1, 1001, '#1001', $2, 'GBP', 120.50, 20, now() - interval '3 days')`, shop, id)
	d.MustExec(`INSERT INTO refunds (shop_id, shopify_id, order_id, amount, created_at) VALUES ($1, 1, 1001, 20, now() - interval '1 day')`, shop)
	tx := d.MustBegin()
	st.Suppress(context.Background(), tx, shop, []string{"Ada@Example.com"}, []string{customers.SuppressBounced}, "manual")
	tx.Commit()

	p, err := st.Profile(context.Background(), shop, id)
	if err != nil {
		t.Fatal(err)
	}
	if len(p.Orders) != 1 || p.Orders[0].Net().StringFixed(2) != "100.50" || len(p.Consent) != 1 || p.Suppressed == nil {
		t.Fatalf("profile: orders %+v consent %+v suppressed %v", p.Orders, p.Consent, p.Suppressed)
	}
	kinds := []string{}
	for _, e := range p.Timeline {
		kinds = append(kinds, e.Kind)
	}
	if strings.Join(kinds, ",") != "created,refund,order,consent" {
		t.Fatalf("timeline order: %v", kinds)
	}
	if _, err := st.Profile(context.Background(), other, id); !errors.Is(err, customers.ErrNotFound) {
		t.Fatalf("another shop's customer: %v", err)
	}
}

// An unsubscribe carried by an import reaches Shopify for a customer Shopify
// has; import-only profiles are not pushed (an import creates no Shopify
// customers), and rows that change nothing queue nothing.
func TestImportQueuesConsentPushForShopifyCustomers(t *testing.T) {
	d := dbtest.New(t)
	shopID := newShop(t, d, "push.myshopify.com")
	st := customers.NewStore(d)
	pushes := &captureInserter{}
	st.PushConsentWith(pushes)
	var inShopify int64
	d.Get(&inShopify, `INSERT INTO customers (shop_id, shopify_id, email, email_consent) VALUES ($1, 42, 'shop@example.com', 'subscribed') RETURNING id`, shopID)
	d.MustExec(`INSERT INTO customers (shop_id, email, email_consent, source) VALUES ($1, 'local@example.com', 'subscribed', 'import')`, shopID)
	body := "Email,Email Marketing Consent\nshop@example.com,UNSUBSCRIBED\nlocal@example.com,UNSUBSCRIBED\n"
	importFile(t, st, shopID, customers.ImportProfiles, body)
	if len(pushes.args) != 1 {
		t.Fatalf("want one consent push, got %d", len(pushes.args))
	}
	if a, ok := pushes.args[0].(customers.ConsentPushArgs); !ok || a.CustomerID != inShopify || a.ShopID != shopID {
		t.Fatalf("queued %+v", pushes.args[0])
	}
	importFile(t, st, shopID, customers.ImportProfiles, body)
	if len(pushes.args) != 1 {
		t.Fatalf("a second identical import queued more pushes: %d", len(pushes.args))
	}
}

// An upload nobody imported is dropped after a week, at the shop's next upload.
func TestAbandonedUploadsArePruned(t *testing.T) {
	d := dbtest.New(t)
	shopID := newShop(t, d, "prune.myshopify.com")
	st := customers.NewStore(d)
	ctx := context.Background()
	old, err := st.Upload(ctx, shopID, customers.ImportProfiles, "old.csv", strings.NewReader("Email\na@example.com\n"))
	if err != nil {
		t.Fatal(err)
	}
	d.MustExec(`UPDATE csv_imports SET created_at = now() - interval '8 days' WHERE id = $1`, old.ID)
	if _, err := st.Upload(ctx, shopID, customers.ImportProfiles, "new.csv", strings.NewReader("Email\nb@example.com\n")); err != nil {
		t.Fatal(err)
	}
	var n int
	d.Get(&n, `SELECT count(*) FROM csv_import_chunks WHERE import_id = $1`, old.ID)
	if n != 0 {
		t.Fatal("the abandoned upload's file is still stored")
	}
	d.Get(&n, `SELECT count(*) FROM csv_imports WHERE shop_id = $1`, shopID)
	if n != 1 {
		t.Fatalf("uploads left: %d", n)
	}
}
