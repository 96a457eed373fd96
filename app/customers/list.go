package customers

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/lib/pq"
	"github.com/shopspring/decimal"
)

// ListFilter selects customers for the admin list and the CSV export.
// Zero values mean "no filter".
type ListFilter struct {
	Query     string // substring of email or name
	Consent   string // one of the Consent* states
	HasOrders string // "yes" | "no" | ""
	Country   string // ISO code as stored
	Tag       string
	After     int64 // keyset cursor: only ids below it (the list is newest first)
	Limit     int
}

// Normalize trims the filter and drops values that can't match anything
// valid, so a tampered URL gets an unfiltered list rather than an error.
func (f *ListFilter) Normalize() {
	f.Query = strings.TrimSpace(f.Query)
	if len(f.Query) > 200 {
		f.Query = f.Query[:200]
	}
	f.Consent = strings.TrimSpace(f.Consent)
	if !ValidConsent(f.Consent) {
		f.Consent = ""
	}
	if f.HasOrders != "yes" && f.HasOrders != "no" {
		f.HasOrders = ""
	}
	f.Country = strings.ToUpper(strings.TrimSpace(f.Country))
	f.Tag = strings.TrimSpace(f.Tag)
	if f.After < 0 {
		f.After = 0
	}
	if f.Limit <= 0 || f.Limit > 250 {
		f.Limit = 50
	}
}

// Active reports whether any filter besides the cursor is set.
func (f ListFilter) Active() bool {
	return f.Query != "" || f.Consent != "" || f.HasOrders != "" || f.Country != "" || f.Tag != ""
}

// ListItem is one row of the customers list.
type ListItem struct {
	ID          int64           `db:"id"`
	Email       *string         `db:"email"`
	FirstName   string          `db:"first_name"`
	LastName    string          `db:"last_name"`
	Country     string          `db:"country"`
	City        string          `db:"city"`
	Tags        pq.StringArray  `db:"tags"`
	Consent     string          `db:"email_consent"`
	Source      string          `db:"source"`
	OrdersCount int             `db:"orders_count"`
	TotalSpent  decimal.Decimal `db:"total_spent"`
	LastOrderAt *time.Time      `db:"last_order_at"`
	CreatedAt   time.Time       `db:"created_at"`
}

// Name is the display name, falling back to the email.
func (c ListItem) Name() string {
	n := strings.TrimSpace(c.FirstName + " " + c.LastName)
	if n == "" && c.Email != nil {
		return *c.Email
	}
	return n
}

// ListPage is one page of customers and the cursor of the next one (0 when
// this is the last page).
type ListPage struct {
	Customers []ListItem
	Next      int64
}

// likePattern escapes LIKE's wildcards so a search for "a_b" means that text.
func likePattern(q string) string {
	r := strings.NewReplacer(`\`, `\\`, `%`, `\%`, `_`, `\_`)
	return "%" + r.Replace(strings.ToLower(q)) + "%"
}

// The search expression must stay identical to customers_search_idx's.
const searchExpr = `lower(COALESCE(email, '') || ' ' || first_name || ' ' || last_name)`

// listWhere is the shared filter; every argument is a bound parameter and
// an empty one switches its condition off. $1 is always the shop.
const listWhere = `shop_id = $1 AND deleted_at IS NULL
	AND ($2 = '' OR ` + searchExpr + ` LIKE $2)
	AND ($3 = '' OR email_consent = $3)
	AND ($4 = '' OR ($4 = 'yes' AND orders_count > 0) OR ($4 = 'no' AND orders_count = 0))
	AND ($5 = '' OR country = $5)
	AND ($6 = '' OR tags @> ARRAY[$6]::text[])
	AND ($7 = 0 OR id < $7)`

// created_at is when the person became a customer: Shopify's date when we
// have it, not when the row was synced.
const listColumns = `id, email, first_name, last_name, country, city, tags, email_consent, source, orders_count,
	total_spent, last_order_at, COALESCE(shopify_created_at, created_at) AS created_at`

func listArgs(shopID int64, f ListFilter) []any {
	q := ""
	if f.Query != "" {
		q = likePattern(f.Query)
	}
	return []any{shopID, q, f.Consent, f.HasOrders, f.Country, f.Tag, f.After}
}

// List returns one page of the shop's customers, newest first, filtered.
// Paging is by keyset (id below the cursor), so a deep page costs the same
// as the first. Searches take the cheapest path that is still exact:
//   - a whole email address is an index lookup on (shop_id, lower(email));
//   - other text is first looked for among the newest searchWindow profiles
//     in id order, which fills a page at once when the text is common;
//   - only when that window doesn't fill the page does the trigram index
//     run, which is fast precisely when the text is rare.
func (s *Store) List(ctx context.Context, shopID int64, f ListFilter) (ListPage, error) {
	f.Normalize()
	var rows []ListItem
	var err error
	switch {
	case f.Query != "" && PlausibleEmail(f.Query) && !strings.ContainsAny(f.Query, " %_"):
		rows, err = s.list(ctx, shopID, f, `email IS NOT NULL AND lower(email) = lower($9)`, f.Query)
		if err == nil && len(rows) == 0 {
			rows, err = s.list(ctx, shopID, f, "", nil)
		}
	case f.Query != "":
		rows, err = s.listRecent(ctx, shopID, f)
		if err == nil && len(rows) <= f.Limit {
			rows, err = s.list(ctx, shopID, f, "", nil)
		}
	default:
		rows, err = s.list(ctx, shopID, f, "", nil)
	}
	if err != nil {
		return ListPage{}, fmt.Errorf("customers: list: %w", err)
	}
	page := ListPage{Customers: rows}
	if len(rows) > f.Limit {
		page.Customers = rows[:f.Limit]
		page.Next = page.Customers[f.Limit-1].ID
	}
	return page, nil
}

// searchWindow bounds the recent-first search pass: about 10 ms of index
// order scan at a million profiles.
const searchWindow = 20000

// list runs the filtered query; extra is an optional additional condition
// on $9.
func (s *Store) list(ctx context.Context, shopID int64, f ListFilter, extra string, extraArg any) ([]ListItem, error) {
	args := append(listArgs(shopID, f), f.Limit+1)
	where := listWhere
	if extra != "" {
		where += " AND " + extra
		args = append(args, extraArg)
	}
	var rows []ListItem
	err := s.db.SelectContext(ctx, &rows, `SELECT `+listColumns+` FROM customers WHERE `+where+`
		ORDER BY id DESC LIMIT $8`, args...)
	return rows, err
}

// listRecent searches only the newest searchWindow profiles below the
// cursor; a full page from it is the same page the full search would give.
func (s *Store) listRecent(ctx context.Context, shopID int64, f ListFilter) ([]ListItem, error) {
	args := append(listArgs(shopID, f), f.Limit+1, searchWindow)
	var rows []ListItem
	err := s.db.SelectContext(ctx, &rows, `SELECT `+listColumns+` FROM (
			SELECT * FROM customers WHERE shop_id = $1 AND deleted_at IS NULL AND ($7 = 0 OR id < $7)
			ORDER BY id DESC LIMIT $9
		) recent WHERE `+listWhere+` ORDER BY id DESC LIMIT $8`, args...)
	return rows, err
}

// Countries lists the countries present in the shop, for the filter menu.
func (s *Store) Countries(ctx context.Context, shopID int64) ([]string, error) {
	var out []string
	// A loose index scan over customers_country_idx: one probe per distinct
	// country instead of reading a million rows.
	err := s.db.SelectContext(ctx, &out, `
		WITH RECURSIVE c AS (
			(SELECT country FROM customers WHERE shop_id = $1 AND deleted_at IS NULL ORDER BY country LIMIT 1)
			UNION ALL
			SELECT (SELECT country FROM customers WHERE shop_id = $1 AND deleted_at IS NULL AND country > c.country
			        ORDER BY country LIMIT 1)
			FROM c WHERE c.country IS NOT NULL
		)
		SELECT country FROM c WHERE country IS NOT NULL AND country <> '' LIMIT 300`, shopID)
	if err != nil {
		return nil, fmt.Errorf("customers: countries: %w", err)
	}
	return out, nil
}
