package customers_test

import (
	"context"
	"errors"
	"io"
	"strings"
	"testing"

	"github.com/cartwheel/cartwheel/app/customers"
	"github.com/cartwheel/cartwheel/app/db/dbtest"
)

// countingReader reports how much of the source was read.
type countingReader struct {
	r io.Reader
	n int64
}

func (c *countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n += int64(n)
	return n, err
}

// hugeCell is a CSV whose second row has one cell of size bytes.
func hugeCell(size int64, quoted bool) io.Reader {
	head, tail := "Email,Note\nann@example.com,", "\nbob@example.com,short\n"
	if quoted {
		head, tail = head+`"`, `"`+tail
	}
	return io.MultiReader(strings.NewReader(head), io.LimitReader(repeatReader('x'), size), strings.NewReader(tail))
}

type repeatReader byte

func (r repeatReader) Read(p []byte) (int, error) {
	for i := range p {
		p[i] = byte(r)
	}
	return len(p), nil
}

// A file with one enormous cell is refused after reading about one row's
// limit, naming the line, and leaves nothing behind.
func TestUploadRefusesHugeCellsAndRows(t *testing.T) {
	d := dbtest.New(t)
	st := customers.NewStore(d)
	shop := newShop(t, d, "huge.myshopify.com")
	ctx := context.Background()
	for _, quoted := range []bool{false, true} {
		src := &countingReader{r: hugeCell(20<<20, quoted)}
		_, err := st.Upload(ctx, shop, customers.ImportProfiles, "huge.csv", src)
		var ie *customers.ImportError
		if !errors.As(err, &ie) || !strings.Contains(ie.Msg, "line") || !strings.Contains(ie.Msg, "longer than 1 MB") {
			t.Fatalf("quoted=%v: got %v, want an ImportError about a row over 1 MB", quoted, err)
		}
		if !strings.Contains(ie.Msg, "line 1") && !strings.Contains(ie.Msg, "line 2") {
			t.Errorf("quoted=%v: the message should name the line: %s", quoted, ie.Msg)
		}
		// The upload stops near the limit (plus read-ahead buffers), not at the end of the file.
		if src.n > customers.MaxRowBytes+256<<10 {
			t.Errorf("quoted=%v: read %d bytes of a 20 MB file before refusing it", quoted, src.n)
		}
	}
	// A cell under the row limit but over the cell limit names its column.
	_, err := st.Upload(ctx, shop, customers.ImportProfiles, "cell.csv", hugeCell(customers.MaxCellBytes+1, false))
	var ie *customers.ImportError
	if !errors.As(err, &ie) || ie.Msg != `line 2, column "Note": the cell is longer than 64 KB` {
		t.Fatalf("long cell: %v", err)
	}
	// NUL bytes in a header or a cell: PostgreSQL text can't hold them.
	for body, want := range map[string]string{
		"Email,No\x00te\nann@example.com,x\n":  `line 1, column 2 contains a NUL character`,
		"Email,Note\nann@example.com,a\x00b\n": `line 2, column "Note" contains a NUL character`,
	} {
		_, err := st.Upload(ctx, shop, customers.ImportProfiles, "nul.csv", strings.NewReader(body))
		if !errors.As(err, &ie) || !strings.HasPrefix(ie.Msg, want) {
			t.Errorf("%q: got %v, want %q", body, err, want)
		}
	}
	var n int
	d.Get(&n, `SELECT (SELECT count(*) FROM csv_imports) + (SELECT count(*) FROM csv_import_chunks)`)
	if n != 0 {
		t.Fatalf("refused uploads left %d rows behind", n)
	}
}

// The preview keeps a short sample, and lists and progress polls don't
// load it at all.
func TestImportSampleIsShortAndOutOfLists(t *testing.T) {
	d := dbtest.New(t)
	st := customers.NewStore(d)
	shop := newShop(t, d, "sample.myshopify.com")
	ctx := context.Background()
	body := "Email,Note\nann@example.com," + strings.Repeat("é", 60<<10/2) + "\n"
	im, err := st.Upload(ctx, shop, customers.ImportProfiles, "long.csv", strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	var stored int
	d.Get(&stored, `SELECT octet_length(sample::text) FROM csv_imports WHERE id = $1`, im.ID)
	if stored > 1000 {
		t.Fatalf("sample stored with %d bytes", stored)
	}
	if s := im.Sample(); len(s) != 1 || len([]rune(s[0][1])) != 101 || !strings.HasSuffix(s[0][1], "…") {
		t.Fatalf("sample for the preview: %q", s)
	}
	recent, err := st.RecentImports(ctx, shop, 10)
	if err != nil || len(recent) != 1 {
		t.Fatalf("recent: %v %v", recent, err)
	}
	if recent[0].SampleJSON != nil {
		t.Fatalf("the list loaded the sample: %s", recent[0].SampleJSON)
	}
	if err := st.StartImport(ctx, nopInserter{}, shop, im.ID, im.Mapping()); err != nil {
		t.Fatal(err)
	}
	running, err := st.GetImport(ctx, shop, im.ID)
	if err != nil {
		t.Fatal(err)
	}
	if running.Status == "uploaded" || running.SampleJSON != nil {
		t.Fatalf("a started import (%s) loaded its sample", running.Status)
	}
	// The row itself is imported.
	if err := st.RunImport(ctx, shop, im.ID); err != nil {
		t.Fatal(err)
	}
	var n int
	d.Get(&n, `SELECT count(*) FROM customers WHERE shop_id = $1 AND properties->>'Note' LIKE 'éé%'`, shop)
	if n != 1 {
		t.Fatalf("imported %d customers with the note", n)
	}
}

func FuzzUploadCSV(f *testing.F) {
	d := dbtest.New(f)
	st := customers.NewStore(d)
	var shop int64
	if err := d.Get(&shop, `INSERT INTO shops (domain, installed_at) VALUES ('fuzz.myshopify.com', now()) RETURNING id`); err != nil {
		f.Fatal(err)
	}
	for _, s := range []string{
		"Email,First Name,Last Name,Phone,Tags,Email Marketing Consent\nann@example.com,Ann,Lee,+15550100,\"vip, new\",subscribed\n",
		"\xef\xbb\xbfEmail;Vorname\nzoe@example.com;Zoë\n",
		"Email\tReason\nx@example.com\tbounced\n",
		"Email,Note\n\"a@example.com\",\"multi\nline\"\n\n\nb@example.com,\"x\"\"y\"\n",
		"Email,Note\nann@example.com,a\x00b\n",
		"Email,First Name\nzoe@example.com,Zo\xe9\n",
		"\xff\xfeE\x00m\x00",
		"Email,Name\n\"a@example.com,Ann\nb@example.com,\"B\"x\n",
		"Email\n",
		"",
	} {
		f.Add([]byte(s), false)
		f.Add([]byte(s), true)
	}
	f.Fuzz(func(t *testing.T, b []byte, suppressions bool) {
		kind := customers.ImportProfiles
		if suppressions {
			kind = customers.ImportSuppressions
		}
		ctx := context.Background()
		im, err := st.Upload(ctx, shop, kind, "fuzz.csv", strings.NewReader(string(b)))
		if err != nil {
			var ie *customers.ImportError
			if !errors.As(err, &ie) {
				t.Fatalf("upload failed with an unexpected error (a 500): %v", err)
			}
			return
		}
		// Whatever is accepted must import without a database error.
		m := im.Mapping()
		if err := st.StartImport(ctx, nopInserter{}, shop, im.ID, m); err != nil {
			var ie *customers.ImportError
			if !errors.As(err, &ie) {
				t.Fatalf("start: %v", err)
			}
			return
		}
		if err := st.RunImport(ctx, shop, im.ID); err != nil {
			t.Fatalf("run: %v", err)
		}
	})
}
