package segments

import (
	"context"
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"

	"github.com/jmoiron/sqlx"
	"github.com/lib/pq"
	"github.com/shopspring/decimal"

	"github.com/cartwheel/cartwheel/app/csvcell"
)

// Member is one customer in a segment (or in a builder preview).
type Member struct {
	ID          int64           `db:"id"`
	Email       *string         `db:"email"`
	FirstName   string          `db:"first_name"`
	LastName    string          `db:"last_name"`
	Country     string          `db:"country"`
	Consent     string          `db:"email_consent"`
	OrdersCount int             `db:"orders_count"`
	TotalSpent  decimal.Decimal `db:"total_spent"`
	LastOrderAt *time.Time      `db:"last_order_at"`
	Since       *time.Time      `db:"since"` // when they entered (nil in previews)
}

// Name is the display name, falling back to the email.
func (m Member) Name() string {
	n := strings.TrimSpace(m.FirstName + " " + m.LastName)
	if n == "" && m.Email != nil {
		return *m.Email
	}
	return n
}

const memberCols = `c.id, c.email, c.first_name, c.last_name, c.country, c.email_consent, c.orders_count,
	c.total_spent, c.last_order_at`

// MembersPage is one page of members, newest customers first, and the
// cursor of the next page (0 on the last).
type MembersPage struct {
	Members []Member
	Next    int64
}

// Members returns one keyset page of a segment's members: customer ids below
// after (0 for the first page), driven by the membership key so a deep page
// costs the same as the first.
func (s *Store) Members(ctx context.Context, shopID, segmentID, after int64, limit int) (MembersPage, error) {
	if limit <= 0 || limit > 250 {
		limit = 50
	}
	var rows []Member
	err := s.DB.SelectContext(ctx, &rows, `SELECT `+memberCols+`, sm.since
		FROM segment_members sm JOIN customers c ON c.id = sm.customer_id
		WHERE sm.shop_id = $1 AND sm.segment_id = $2 AND ($3 = 0 OR sm.customer_id < $3) AND c.deleted_at IS NULL
		ORDER BY sm.customer_id DESC LIMIT $4`, shopID, segmentID, after, limit+1)
	if err != nil {
		return MembersPage{}, fmt.Errorf("segments: members of %d: %w", segmentID, err)
	}
	p := MembersPage{Members: rows}
	if len(rows) > limit {
		p.Members = rows[:limit]
		p.Next = p.Members[limit-1].ID
	}
	return p, nil
}

// ExportHeader is the header of a segment's CSV export.
var ExportHeader = []string{"Customer ID", "Email", "First Name", "Last Name", "Country", "Email Marketing Consent",
	"Orders", "Total Spent", "Last Order At", "In Segment Since"}

const exportBatch = 5000

// ExportCSV streams a segment's members as CSV to w and returns how many
// rows it wrote; memory stays flat whatever the segment's size.
func (s *Store) ExportCSV(ctx context.Context, shopID, segmentID int64, w io.Writer) (int, error) {
	cw := csv.NewWriter(w)
	if err := cw.Write(ExportHeader); err != nil {
		return 0, err
	}
	n := 0
	var after int64
	stamp := func(t *time.Time) string {
		if t == nil {
			return ""
		}
		return t.UTC().Format(time.RFC3339)
	}
	for {
		p, err := s.Members(ctx, shopID, segmentID, after, 250)
		if err != nil {
			return n, err
		}
		for _, m := range p.Members {
			email := ""
			if m.Email != nil {
				email = *m.Email
			}
			if err := cw.Write([]string{strconv.FormatInt(m.ID, 10), csvcell.Safe(email), csvcell.Safe(m.FirstName),
				csvcell.Safe(m.LastName), csvcell.Safe(m.Country), m.Consent, strconv.Itoa(m.OrdersCount),
				m.TotalSpent.StringFixed(2), stamp(m.LastOrderAt), stamp(m.Since)}); err != nil {
				return n, err
			}
			n++
		}
		cw.Flush()
		if err := cw.Error(); err != nil {
			return n, fmt.Errorf("segments: export: %w", err)
		}
		if p.Next == 0 {
			return n, nil
		}
		after = p.Next
	}
}

// PreviewTimeout bounds a builder count: a merchant's odd rule must not
// hold a connection for long.
const PreviewTimeout = 20 * time.Second

// Preview is the builder's live result: how many customers match the rules
// now, and a few of them.
type Preview struct {
	Count  int
	Sample []Member
}

// Preview validates rules (against the shop's other segments) and counts
// the matching customers without storing anything. Invalid rules return
// Errors.
func (s *Store) Preview(ctx context.Context, shopID, selfID int64, r Rules, now time.Time, sample int) (Preview, error) {
	segs, err := loadSegments(ctx, s.DB, shopID)
	if err != nil {
		return Preview{}, err
	}
	if err := Validate(r, selfID, lookupFor(segs)); err != nil {
		return Preview{}, err
	}
	var out Preview
	err = s.inTx(ctx, func(tx *sqlx.Tx) error {
		if _, err := tx.ExecContext(ctx, "SET LOCAL statement_timeout = "+strconv.Itoa(int(PreviewTimeout/time.Millisecond))); err != nil {
			return err
		}
		if err := setShopQuerySettings(ctx, tx); err != nil {
			return err
		}
		loc, err := Location(ctx, tx, shopID)
		if err != nil {
			return err
		}
		q, args := compile(shopID, r, now, loc)
		if err := tx.GetContext(ctx, &out.Count, "SELECT count(*) FROM ("+q+") x", args...); err != nil {
			return fmt.Errorf("segments: count: %w", err)
		}
		if sample > 0 && out.Count > 0 {
			args = append(args, sample)
			err := tx.SelectContext(ctx, &out.Sample, `SELECT `+memberCols+`, NULL::timestamptz AS since FROM customers c
				WHERE c.id IN (`+q+`) ORDER BY c.id DESC LIMIT `+ph(len(args)), args...)
			if err != nil {
				return fmt.Errorf("segments: sample: %w", err)
			}
		}
		return nil
	})
	var pe *pq.Error
	if errors.As(err, &pe) && pe.Code == "57014" {
		return Preview{}, ErrTooSlow
	}
	return out, err
}

// ErrTooSlow: a preview ran past PreviewTimeout.
var ErrTooSlow = errors.New("segments: counting took too long; narrow the rules and try again")

// setShopQuerySettings tunes a transaction that runs whole-shop segment
// queries. Nested loops are switched off: the planner's row estimates for
// these rules are often far off (a collection filter over millions of
// purchases, the membership of a segment just created, which has no
// statistics yet), and a nested loop chosen on a low estimate ran for
// minutes at a million customers where hash joins take about a second. JIT
// compilation only added latency. Parallel workers are off: at a million
// customers, a count that took one second in a fresh session ran past the
// 20 s timeout when repeated on the same pooled connection with parallel
// workers planned, and they gain little on two cores. (A larger work_mem
// was measured too and made the event queries slower.)
func setShopQuerySettings(ctx context.Context, tx *sqlx.Tx) error {
	_, err := tx.ExecContext(ctx, "SELECT set_config('enable_nestloop', 'off', true), set_config('jit', 'off', true), set_config('max_parallel_workers_per_gather', '0', true)")
	return err
}

// Sizes returns each of the shop's segments' current member count.
func (s *Store) Sizes(ctx context.Context, shopID int64) (map[int64]int, error) {
	var rows []struct {
		ID   int64 `db:"segment_id"`
		Size int   `db:"size"`
	}
	err := s.DB.SelectContext(ctx, &rows, `SELECT s.id AS segment_id,
		(SELECT count(*) FROM segment_members sm WHERE sm.segment_id = s.id) AS size
		FROM segments s WHERE s.shop_id = $1`, shopID)
	if err != nil {
		return nil, fmt.Errorf("segments: sizes: %w", err)
	}
	out := make(map[int64]int, len(rows))
	for _, r := range rows {
		out[r.ID] = r.Size
	}
	return out, nil
}

// SizePoint is a segment's size on one day (in the shop's timezone).
type SizePoint struct {
	Day  time.Time `db:"day"`
	Size int       `db:"size"`
}

// History returns a segment's recorded daily sizes from the last days days,
// oldest first.
func (s *Store) History(ctx context.Context, shopID, segmentID int64, now time.Time, days int) ([]SizePoint, error) {
	var out []SizePoint
	err := s.DB.SelectContext(ctx, &out, `SELECT day, size FROM segment_sizes
		WHERE shop_id = $1 AND segment_id = $2 AND day > $3::date - $4::int ORDER BY day`,
		shopID, segmentID, now.UTC().Format(time.DateOnly), days)
	if err != nil {
		return nil, fmt.Errorf("segments: history of %d: %w", segmentID, err)
	}
	return out, nil
}

// SizesAgo returns each segment's recorded size on the latest day at least
// days days before now (segments with no such record are absent): the
// baseline of the list's trend.
func (s *Store) SizesAgo(ctx context.Context, shopID int64, now time.Time, days int) (map[int64]int, error) {
	var rows []struct {
		ID   int64 `db:"segment_id"`
		Size int   `db:"size"`
	}
	err := s.DB.SelectContext(ctx, &rows, `SELECT DISTINCT ON (segment_id) segment_id, size FROM segment_sizes
		WHERE shop_id = $1 AND day <= $2::date - $3::int ORDER BY segment_id, day DESC`,
		shopID, now.UTC().Format(time.DateOnly), days)
	if err != nil {
		return nil, fmt.Errorf("segments: sizes %d days ago: %w", days, err)
	}
	out := make(map[int64]int, len(rows))
	for _, r := range rows {
		out[r.ID] = r.Size
	}
	return out, nil
}

// ErrInUse: the segment is referenced by other segments' rules.
type ErrInUse struct{ Names []string }

func (e ErrInUse) Error() string {
	return "This segment is used by " + strings.Join(quoteAll(e.Names), ", ") + "; change those segments first."
}

func quoteAll(v []string) []string {
	out := make([]string, len(v))
	for i, s := range v {
		out[i] = strconv.Quote(s)
	}
	return out
}

// Delete removes a segment and its membership and history. A segment that
// other segments refer to ("in segment") is refused with ErrInUse.
func (s *Store) Delete(ctx context.Context, shopID, id int64) error {
	return s.inTx(ctx, func(tx *sqlx.Tx) error {
		segs, err := loadSegments(ctx, tx, shopID)
		if err != nil {
			return err
		}
		found := false
		var users []string
		for _, sg := range segs {
			found = found || sg.ID == id
			uses := false
			sg.Rules.Walk(func(c Condition) { uses = uses || (c.Field == FieldSegment && c.SegmentID == id) })
			if uses && sg.ID != id {
				users = append(users, sg.Name)
			}
		}
		if !found {
			return ErrNotFound
		}
		if len(users) > 0 {
			return ErrInUse{Names: users}
		}
		res, err := tx.ExecContext(ctx, "DELETE FROM segments WHERE shop_id = $1 AND id = $2", shopID, id)
		if err != nil {
			return fmt.Errorf("segments: delete %d: %w", id, err)
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return ErrNotFound
		}
		return nil
	})
}
