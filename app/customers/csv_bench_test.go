package customers_test

import (
	"context"
	"fmt"
	"io"
	"os"
	"runtime"
	"strconv"
	"testing"
	"time"

	"github.com/cartwheel/cartwheel/app/customers"
	"github.com/cartwheel/cartwheel/app/db/dbtest"
)

// BenchmarkCSVImport uploads and applies a generated Klaviyo-style profile
// export of BENCH_CSV_ROWS rows (default 1,000,000, about 120 MB) and prints
// upload and import rates. The file is generated while it is uploaded, so
// the test process never holds it.
//
//	go test -run '^$' -bench BenchmarkCSVImport -benchtime 1x -timeout 30m ./app/customers/
func BenchmarkCSVImport(b *testing.B) {
	rows, _ := strconv.Atoi(os.Getenv("BENCH_CSV_ROWS"))
	if rows <= 0 {
		rows = 1_000_000
	}
	d := dbtest.New(b)
	var shopID int64
	d.Get(&shopID, `INSERT INTO shops (domain, installed_at) VALUES ('csv-bench.myshopify.com', now()) RETURNING id`)
	st := customers.NewStore(d)
	ctx := context.Background()
	for i := 0; i < b.N; i++ {
		pr, pw := io.Pipe()
		written := int64(0)
		go func() {
			w := &countWriter{w: pw}
			fmt.Fprint(w, "Email,First Name,Last Name,Phone Number,City,Country,Email Marketing Consent,Favourite Colour\n")
			consents := []string{"SUBSCRIBED", "UNSUBSCRIBED", "NEVER_SUBSCRIBED"}
			for r := 0; r < rows; r++ {
				fmt.Fprintf(w, "person%d@example.com,First%d,Last%d,+1 555 01%05d,Springfield,US,%s,teal\n",
					r, r%977, r%1013, r%100000, consents[r%3])
			}
			written = w.n
			pw.Close()
		}()
		start := time.Now()
		im, err := st.Upload(ctx, shopID, customers.ImportProfiles, "bench.csv", pr)
		if err != nil {
			b.Fatal(err)
		}
		uploaded := time.Since(start)
		if err := st.StartImport(ctx, nopInserter{}, shopID, im.ID, im.Mapping()); err != nil {
			b.Fatal(err)
		}
		start = time.Now()
		if err := st.RunImport(ctx, shopID, im.ID); err != nil {
			b.Fatal(err)
		}
		applied := time.Since(start)
		im, _ = st.GetImport(ctx, shopID, im.ID)
		if im.RowsCreated+im.RowsUpdated != int64(rows) {
			b.Fatalf("imported %d+%d of %d rows", im.RowsCreated, im.RowsUpdated, rows)
		}
		var ms runtime.MemStats
		runtime.ReadMemStats(&ms)
		fmt.Printf("csv import: %d rows, %.0f MB: upload %s (%.0f MB/s), apply %s (%.0f rows/s), Go heap %.1f MiB\n",
			rows, float64(written)/1e6, uploaded.Round(time.Millisecond), float64(written)/1e6/uploaded.Seconds(),
			applied.Round(time.Millisecond), float64(rows)/applied.Seconds(), float64(ms.HeapInuse)/(1<<20))
		b.ReportMetric(float64(rows)/applied.Seconds(), "rows/s")
	}
}

type countWriter struct {
	w io.Writer
	n int64
}

func (c *countWriter) Write(p []byte) (int, error) {
	n, err := c.w.Write(p)
	c.n += int64(n)
	return n, err
}
