package web_test

import (
	"bytes"
	"fmt"
	"io"
	"mime/multipart"
	"net/http"
	"strings"
	"testing"
	"time"
)

// multipartBody builds an upload the way the import form sends it.
func multipartBody(t testing.TB, kind, name string, file io.Reader) (io.Reader, string) {
	pr, pw := io.Pipe()
	mw := multipart.NewWriter(pw)
	go func() {
		mw.WriteField("kind", kind)
		fw, _ := mw.CreateFormFile("file", name)
		if _, err := io.Copy(fw, file); err != nil {
			pw.CloseWithError(err)
			return
		}
		pw.CloseWithError(mw.Close())
	}()
	return pr, mw.FormDataContentType()
}

func (h *harness) upload(shop, kind, name string, file io.Reader) (*http.Response, string) {
	h.t.Helper()
	body, ctype := multipartBody(h.t, kind, name, file)
	return h.do(http.MethodPost, "/app/customers/import", body, "Content-Type", ctype,
		"Authorization", "Bearer "+h.token(shop), "HX-Request", "true")
}

func TestCustomersListProfileAndIsolation(t *testing.T) {
	h := newHarness(t, harnessOpts{})
	a := h.install("shop-a.myshopify.com")
	b := h.install("shop-b.myshopify.com")
	var idA, idB int64
	h.db.Get(&idA, `INSERT INTO customers (shop_id, email, first_name, last_name, country, email_consent, tags)
		VALUES ($1, 'ada@example.com', 'Ada', 'Lovelace', 'GB', 'subscribed', '{VIP}') RETURNING id`, a.ID)
	h.db.Get(&idB, `INSERT INTO customers (shop_id, email, first_name) VALUES ($1, 'bob@example.com', 'Bob') RETURNING id`, b.ID)
	h.db.MustExec(`INSERT INTO orders (shop_id, shopify_id, name, customer_id, currency, total_price, processed_at)
		VALUES ($1, 77, '#1077', $2, 'EUR', 42.00, now())`, a.ID, idA)
	auth := []string{"Authorization", "Bearer " + h.token(a.Domain)}

	resp, body := h.get("/app/customers", auth...)
	if resp.StatusCode != 200 || !strings.Contains(body, "Ada Lovelace") || strings.Contains(body, "Bob") {
		t.Fatalf("list: %d\n%s", resp.StatusCode, body)
	}
	if !strings.Contains(body, fmt.Sprintf(`href="/app/customers/%d"`, idA)) {
		t.Fatal("the list should link to the profile with a plain href")
	}
	_, body = h.get("/app/customers?q=lovel&consent=subscribed&country=GB&tag=VIP", auth...)
	if !strings.Contains(body, "Ada Lovelace") {
		t.Fatal("filtered search lost Ada")
	}
	_, body = h.get("/app/customers?q=nobody-matches", auth...)
	if !strings.Contains(body, "No customers match") {
		t.Fatal("empty filtered list should say so")
	}
	resp, body = h.get(fmt.Sprintf("/app/customers/%d", idA), auth...)
	if resp.StatusCode != 200 || !strings.Contains(body, "#1077") || !strings.Contains(body, "42.00 EUR") {
		t.Fatalf("profile: %d\n%s", resp.StatusCode, body)
	}
	resp, _ = h.get(fmt.Sprintf("/app/customers/%d", idB), auth...)
	if resp.StatusCode != http.StatusNotFound {
		t.Fatalf("shop A reading shop B's customer: %d, want 404", resp.StatusCode)
	}
	resp, _ = h.get("/app/customers/not-a-number", auth...)
	if resp.StatusCode != http.StatusNotFound {
		t.Fatalf("bad id: %d", resp.StatusCode)
	}
	resp, body = h.get("/app/customers/export.csv?consent=subscribed", auth...)
	if resp.StatusCode != 200 || !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/csv") ||
		!strings.Contains(body, "ada@example.com") || strings.Contains(body, "bob@") {
		t.Fatalf("export: %d %s\n%s", resp.StatusCode, resp.Header.Get("Content-Type"), body)
	}
	resp, _ = h.get("/app/customers")
	if resp.StatusCode != 200 || resp.Header.Get("Content-Type") == "text/csv" {
		t.Fatal("without a token the page must bounce, not serve data")
	}
}

func TestCustomersImportFlow(t *testing.T) {
	h := newHarness(t, harnessOpts{workers: true})
	a := h.install("import-a.myshopify.com")
	b := h.install("import-b.myshopify.com")
	csv := "Email;First Name;Last Name;Email Marketing Consent\r\nzoe@example.com;Zoë;Saldana;SUBSCRIBED\r\nbad@;Bad;Row;SUBSCRIBED\r\n"
	resp, body := h.upload(a.Domain, "profiles", "zoe.csv", strings.NewReader(csv))
	loc := resp.Header.Get("HX-Redirect")
	if resp.StatusCode != 200 || !strings.HasPrefix(loc, "/app/customers/import/") {
		t.Fatalf("upload: %d %q\n%s", resp.StatusCode, loc, body)
	}
	auth := []string{"Authorization", "Bearer " + h.token(a.Domain)}
	resp, body = h.get(loc, auth...)
	if resp.StatusCode != 200 || !strings.Contains(body, "Import 2 rows") || !strings.Contains(body, `<option value="email" selected`) {
		t.Fatalf("preview: %d\n%s", resp.StatusCode, body)
	}
	resp, _ = h.get(loc, "Authorization", "Bearer "+h.token(b.Domain))
	if resp.StatusCode != 404 {
		t.Fatalf("another shop's import: %d", resp.StatusCode)
	}
	resp, _ = h.do(http.MethodPost, loc+"/start", strings.NewReader(""), append(auth, "HX-Request", "true",
		"Content-Type", "application/x-www-form-urlencoded")...)
	if resp.StatusCode != 200 || resp.Header.Get("HX-Redirect") != loc {
		t.Fatalf("start: %d", resp.StatusCode)
	}
	h.eventually("import done", func() bool {
		_, body := h.get(loc+"/progress", append(auth, "HX-Request", "true")...)
		return strings.Contains(body, "Import finished")
	})
	if n := h.count(`SELECT count(*) FROM customers WHERE shop_id = $1 AND first_name = 'Zoë' AND email_consent = 'subscribed'`, a.ID); n != 1 {
		t.Fatalf("imported customers: %d", n)
	}
	resp, body = h.get(loc+"/rejected.csv", auth...)
	if resp.StatusCode != 200 || !strings.Contains(body, "3,bad@,") {
		t.Fatalf("report: %d\n%s", resp.StatusCode, body)
	}
	resp, body = h.upload(a.Domain, "profiles", "latin1.csv", strings.NewReader("Email,Name\nzoe@example.com,Zo\xe9\n"))
	if resp.StatusCode != http.StatusUnprocessableEntity || !strings.Contains(body, "not UTF-8") {
		t.Fatalf("latin-1 file: %d\n%s", resp.StatusCode, body)
	}
}

// csvGen generates a CSV file of about `left` bytes (it finishes the row
// it is on): a header, then valid profile rows.
type csvGen struct {
	left int64
	i    int
	buf  bytes.Buffer
}

func (g *csvGen) Read(p []byte) (int, error) {
	for g.buf.Len() < len(p) && g.left > 0 {
		n := g.buf.Len()
		if g.i == 0 {
			g.buf.WriteString("Email,First Name,Last Name,Phone Number,City,Country,Email Marketing Consent,Notes\n")
		}
		g.i++
		fmt.Fprintf(&g.buf, "user%07d@example.com,First%d,Last%d,+1 555 %07d,Springfield,US,SUBSCRIBED,\"%s\"\n",
			g.i, g.i, g.i, g.i, strings.Repeat("note ", 20))
		g.left -= int64(g.buf.Len() - n)
	}
	if g.buf.Len() == 0 {
		return 0, io.EOF
	}
	return g.buf.Read(p)
}

func TestCustomersImportLargeFiles(t *testing.T) {
	if testing.Short() {
		t.Skip("uploads 450 MB")
	}
	h := newHarness(t, harnessOpts{})
	a := h.install("big.myshopify.com")

	resp, body := h.upload(a.Domain, "profiles", "too-big.csv", &csvGen{left: 251 << 20})
	if resp.StatusCode != http.StatusRequestEntityTooLarge || !strings.Contains(body, "larger than 250 MB") {
		t.Fatalf("251 MB: %d\n%.300s", resp.StatusCode, body)
	}
	if n := h.count(`SELECT count(*) FROM csv_imports`); n != 0 {
		t.Fatalf("a refused upload left %d imports", n)
	}

	start := time.Now()
	resp, body = h.upload(a.Domain, "profiles", "big.csv", &csvGen{left: 200 << 20})
	if resp.StatusCode != 200 {
		t.Fatalf("200 MB: %d\n%.500s", resp.StatusCode, body)
	}
	t.Logf("200 MB upload and check: %s", time.Since(start))
	var rows int64
	h.db.Get(&rows, `SELECT rows_total FROM csv_imports WHERE shop_id = $1`, a.ID)
	if rows < 1_000_000 {
		t.Fatalf("200 MB file counted %d rows", rows)
	}
}
