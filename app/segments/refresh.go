package segments

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/jmoiron/sqlx"
	"github.com/lib/pq"
)

func isUniqueViolation(err error) bool {
	var pe *pq.Error
	return errors.As(err, &pe) && pe.Code == "23505"
}

// order sorts segments so that each comes after every segment its rules
// refer to ("in segment X" refreshes after X). References to segments not
// in the list are ignored; a cycle (which Validate prevents) is an error.
func order(segs []Segment) ([]Segment, error) {
	byID := make(map[int64]int, len(segs))
	for i, s := range segs {
		byID[s.ID] = i
	}
	state := make([]int, len(segs)) // 0 new, 1 visiting, 2 done
	out := make([]Segment, 0, len(segs))
	var visit func(i int) error
	visit = func(i int) error {
		switch state[i] {
		case 1:
			return fmt.Errorf("segments: segment %d is part of a membership cycle", segs[i].ID)
		case 2:
			return nil
		}
		state[i] = 1
		var err error
		segs[i].Rules.Walk(func(c Condition) {
			if err != nil || c.Field != FieldSegment {
				return
			}
			if j, ok := byID[c.SegmentID]; ok {
				err = visit(j)
			}
		})
		if err != nil {
			return err
		}
		state[i] = 2
		out = append(out, segs[i])
		return nil
	}
	for i := range segs {
		if err := visit(i); err != nil {
			return nil, err
		}
	}
	return out, nil
}

// dependents returns id and every segment that depends on it, directly or
// not, in refresh order.
func dependents(segs []Segment, id int64) ([]Segment, error) {
	ordered, err := order(segs)
	if err != nil {
		return nil, err
	}
	in := map[int64]bool{id: true}
	var out []Segment
	for _, s := range ordered {
		hit := in[s.ID]
		s.Rules.Walk(func(c Condition) { hit = hit || (c.Field == FieldSegment && in[c.SegmentID]) })
		if hit {
			in[s.ID] = true
			out = append(out, s)
		}
	}
	return out, nil
}

// lockSegments takes row locks on the segments being refreshed (FOR UPDATE
// for a full refresh, FOR SHARE for one customer's), so a full refresh and
// incremental refreshes of the same segment don't interleave.
func lockSegments(ctx context.Context, tx *sqlx.Tx, shopID int64, segs []Segment, mode string) error {
	ids := make(pq.Int64Array, len(segs))
	for i, s := range segs {
		ids[i] = s.ID
	}
	_, err := tx.ExecContext(ctx, "SELECT id FROM segments WHERE shop_id = $1 AND id = ANY($2::bigint[]) ORDER BY id "+mode, shopID, ids)
	return err
}

func ph(n int) string { return "$" + strconv.Itoa(n) }

// diffSQL wraps a compiled member query: one statement (one snapshot) that
// adds new members, removes leavers and logs both. segArg and atArg are the
// placeholders of the segment id and the change time.
func diffSQL(members string, segArg, atArg string) string {
	segArg, atArg = segArg+"::bigint", atArg+"::timestamptz"
	return `WITH cur AS MATERIALIZED (` + members + `),
del AS (
	DELETE FROM segment_members sm WHERE sm.shop_id = $1 AND sm.segment_id = ` + segArg + `
	AND NOT EXISTS (SELECT 1 FROM cur WHERE cur.id = sm.customer_id)
	RETURNING sm.customer_id),
ins AS (
	INSERT INTO segment_members (shop_id, segment_id, customer_id, since)
	SELECT $1, ` + segArg + `, n.id, ` + atArg + ` FROM (
		SELECT id FROM cur EXCEPT SELECT customer_id FROM segment_members WHERE shop_id = $1 AND segment_id = ` + segArg + `) n
	RETURNING customer_id)
INSERT INTO segment_changes (shop_id, segment_id, customer_id, change, at)
SELECT $1, ` + segArg + `, customer_id, 'entered', ` + atArg + ` FROM ins
UNION ALL
SELECT $1, ` + segArg + `, customer_id, 'exited', ` + atArg + ` FROM del`
}

// refreshOne recomputes one segment's membership inside tx.
func refreshOne(ctx context.Context, tx *sqlx.Tx, shopID int64, seg Segment, now time.Time, loc *time.Location) error {
	q, args, err := Compile(shopID, seg.Rules, now, loc)
	if err != nil {
		return fmt.Errorf("segments: segment %d: %w", seg.ID, err)
	}
	args = append(args, seg.ID, now)
	if _, err := tx.ExecContext(ctx, diffSQL(q, ph(len(args)-1), ph(len(args))), args...); err != nil {
		return fmt.Errorf("segments: refresh %d: %w", seg.ID, err)
	}
	return nil
}

// Refresh recomputes the membership of one segment, then of every segment
// that depends on it, in one transaction, logging entries and exits at now.
func (s *Store) Refresh(ctx context.Context, shopID, segmentID int64, now time.Time) error {
	return s.inTx(ctx, func(tx *sqlx.Tx) error {
		segs, err := loadSegments(ctx, tx, shopID)
		if err != nil {
			return err
		}
		todo, err := dependents(segs, segmentID)
		if err != nil {
			return err
		}
		if len(todo) == 0 {
			return ErrNotFound
		}
		return s.refresh(ctx, tx, shopID, todo, now)
	})
}

// RefreshShop recomputes every segment of the shop in dependency order, in
// one transaction.
func (s *Store) RefreshShop(ctx context.Context, shopID int64, now time.Time) error {
	return s.inTx(ctx, func(tx *sqlx.Tx) error {
		segs, err := loadSegments(ctx, tx, shopID)
		if err != nil {
			return err
		}
		todo, err := order(segs)
		if err != nil {
			return err
		}
		return s.refresh(ctx, tx, shopID, todo, now)
	})
}

func (s *Store) refresh(ctx context.Context, tx *sqlx.Tx, shopID int64, todo []Segment, now time.Time) error {
	if len(todo) == 0 {
		return nil
	}
	loc, err := Location(ctx, tx, shopID)
	if err != nil {
		return err
	}
	if err := lockSegments(ctx, tx, shopID, todo, "FOR UPDATE"); err != nil {
		return err
	}
	if err := setWorkMem(ctx, tx); err != nil {
		return err
	}
	if usesRFM(todo) {
		if err := refreshRFM(ctx, tx, shopID, now); err != nil {
			return err
		}
	}
	day := now.In(loc).Format(time.DateOnly)
	for _, seg := range todo {
		if err := refreshOne(ctx, tx, shopID, seg, now, loc); err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, recordSizeSQL, shopID, seg.ID, day); err != nil {
			return fmt.Errorf("segments: record size of %d: %w", seg.ID, err)
		}
	}
	return nil
}

// recordSizeSQL keeps the day's size of a segment after a full refresh (the
// last refresh of the day wins).
const recordSizeSQL = `INSERT INTO segment_sizes (shop_id, segment_id, day, size)
	SELECT $1, $2, $3::date, count(*) FROM segment_members WHERE segment_id = $2
	ON CONFLICT (segment_id, day) DO UPDATE SET size = EXCLUDED.size`

// CompileFor is Compile narrowed to one customer: the query returns that
// customer's id when they match, no row otherwise.
func CompileFor(shopID int64, r Rules, now time.Time, loc *time.Location, customerID int64) (string, []any, error) {
	q, args, err := Compile(shopID, r, now, loc)
	if err != nil {
		return "", nil, err
	}
	args = append(args, customerID)
	return q + " AND c.id = " + ph(len(args)), args, nil
}

// RefreshCustomer re-evaluates one customer against every segment of the
// shop (in dependency order, in one transaction) and logs the entries and
// exits. It is the incremental path: run it after anything about the
// customer changed.
func (s *Store) RefreshCustomer(ctx context.Context, shopID, customerID int64, now time.Time) error {
	return s.inTx(ctx, func(tx *sqlx.Tx) error {
		segs, err := loadSegments(ctx, tx, shopID)
		if err != nil {
			return err
		}
		todo, err := order(segs)
		if err != nil || len(todo) == 0 {
			return err
		}
		loc, err := Location(ctx, tx, shopID)
		if err != nil {
			return err
		}
		if err := lockSegments(ctx, tx, shopID, todo, "FOR SHARE"); err != nil {
			return err
		}
		// One customer's refreshes run one at a time.
		if _, err := tx.ExecContext(ctx, "SELECT pg_advisory_xact_lock(hashtext('segments.customer'), hashtext($1))", strconv.FormatInt(customerID, 10)); err != nil {
			return err
		}
		for _, seg := range todo {
			q, args, err := CompileFor(shopID, seg.Rules, now, loc, customerID)
			if err != nil {
				return fmt.Errorf("segments: segment %d: %w", seg.ID, err)
			}
			args = append(args, seg.ID, now)
			if _, err := tx.ExecContext(ctx, diffForSQL(q, ph(len(args)-2), ph(len(args)-1), ph(len(args))), args...); err != nil {
				return fmt.Errorf("segments: refresh %d for customer %d: %w", seg.ID, customerID, err)
			}
		}
		return nil
	})
}

// diffForSQL is diffSQL restricted to one customer (custArg).
func diffForSQL(members, custArg, segArg, atArg string) string {
	custArg, segArg, atArg = custArg+"::bigint", segArg+"::bigint", atArg+"::timestamptz"
	return `WITH cur AS MATERIALIZED (` + members + `),
del AS (
	DELETE FROM segment_members sm WHERE sm.segment_id = ` + segArg + ` AND sm.customer_id = ` + custArg + `
	AND NOT EXISTS (SELECT 1 FROM cur)
	RETURNING sm.customer_id),
ins AS (
	INSERT INTO segment_members (shop_id, segment_id, customer_id, since)
	SELECT $1, ` + segArg + `, cur.id, ` + atArg + ` FROM cur
	ON CONFLICT (segment_id, customer_id) DO NOTHING
	RETURNING customer_id)
INSERT INTO segment_changes (shop_id, segment_id, customer_id, change, at)
SELECT $1, ` + segArg + `, customer_id, 'entered', ` + atArg + ` FROM ins
UNION ALL
SELECT $1, ` + segArg + `, customer_id, 'exited', ` + atArg + ` FROM del`
}

func (s *Store) inTx(ctx context.Context, fn func(tx *sqlx.Tx) error) error {
	tx, err := s.DB.BeginTxx(ctx, &sql.TxOptions{})
	if err != nil {
		return err
	}
	defer tx.Rollback()
	if err := fn(tx); err != nil {
		return err
	}
	return tx.Commit()
}
