package customers

import (
	"context"
	"encoding/csv"
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"

	"github.com/cartwheel/cartwheel/app/csvcell"
)

// ExportHeader is the header of the customers CSV export. Email, names,
// phone, country, city, tags and consent use names the import recognises,
// so an exported file can be imported back unchanged.
var ExportHeader = []string{"Customer ID", "Email", "First Name", "Last Name", "Phone", "Country", "City", "Tags",
	"Email Marketing Consent", "Orders", "Total Spent", "Last Order At", "Created At", "Source"}

// exportBatch is how many rows each keyset step reads: large enough to be
// efficient, small enough that no statement holds a snapshot for long.
const exportBatch = 5000

type exportRow struct {
	ListItem
	Phone *string `db:"phone"`
}

// ExportCSV writes the shop's customers matching f (all when f is empty) as
// CSV to w, newest first, and returns how many rows it wrote. It streams:
// memory stays flat whatever the shop's size.
func (s *Store) ExportCSV(ctx context.Context, shopID int64, f ListFilter, w io.Writer) (int, error) {
	f.Normalize()
	f.After = 0
	cw := csv.NewWriter(w)
	if err := cw.Write(ExportHeader); err != nil {
		return 0, err
	}
	n := 0
	for {
		var rows []exportRow
		args := append(listArgs(shopID, f), exportBatch)
		if err := s.db.SelectContext(ctx, &rows, `SELECT `+listColumns+`, phone FROM customers WHERE `+listWhere+`
			ORDER BY id DESC LIMIT $8`, args...); err != nil {
			return n, fmt.Errorf("customers: export: %w", err)
		}
		for _, r := range rows {
			email, phone, last := "", "", ""
			if r.Email != nil {
				email = *r.Email
			}
			if r.Phone != nil {
				phone = *r.Phone
			}
			if r.LastOrderAt != nil {
				last = r.LastOrderAt.UTC().Format(time.RFC3339)
			}
			if err := cw.Write([]string{strconv.FormatInt(r.ID, 10), csvcell.Safe(email), csvcell.Safe(r.FirstName), csvcell.Safe(r.LastName),
				csvcell.Safe(phone), csvcell.Safe(r.Country), csvcell.Safe(r.City), csvcell.Safe(strings.Join(r.Tags, ", ")), r.Consent,
				strconv.Itoa(r.OrdersCount), r.TotalSpent.StringFixed(2), last, r.CreatedAt.UTC().Format(time.RFC3339), r.Source}); err != nil {
				return n, err
			}
			n++
		}
		cw.Flush()
		if err := cw.Error(); err != nil {
			return n, fmt.Errorf("customers: export: %w", err)
		}
		if len(rows) < exportBatch {
			return n, nil
		}
		f.After = rows[len(rows)-1].ID
	}
}
