package reports

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/jmoiron/sqlx"
	"github.com/lib/pq"
	"github.com/riverqueue/river"

	"github.com/cartwheel/cartwheel/app/db"
	"github.com/cartwheel/cartwheel/app/jobs"
	"github.com/cartwheel/cartwheel/app/signals"
)

// # Recomputing attribution after a window change
//
// Changing the click or open window (Settings › Attribution) re-decides
// every past order of the shop by the new windows, in the background:
//
//   - StartRecompute runs in the settings' transaction. It bumps the shop's
//     recompute generation, resets the cursor and queues a RecomputeArgs
//     job for that generation. A job that finds a newer generation stops,
//     so a second change while one runs restarts cleanly from the start.
//   - The job walks the shop's customers with orders in id order (keyset
//     chunks). Per chunk, in one transaction: the chunk's profiles are
//     locked as every writer and the signals consumer lock them, then each
//     of their orders' attribution is deleted (its order and amount taken
//     out of the rollup on the day it was counted) and decided again by
//     the same statement the consumer uses, with the shop's current
//     windows. An order that arrives meanwhile is decided by the consumer
//     under the profile lock, with the new windows too; it is either
//     committed before the chunk (and re-decided, to the same answer) or
//     after it (and the chunk never saw it), never both: no double count.
//   - So that reports never show a mix of two rules, the rollup summed per
//     day as it stood when a recompute began (from a finished state) is
//     frozen in report_orders_frozen; revenue figures read it while a
//     recompute runs, with its progress shown beside them, and the live
//     rollup again once it finishes (the frozen copy is then deleted).
//     A restart keeps the frozen copy: it is still the last figures of
//     one rule.

// recomputeChunk is how many customers one transaction re-decides.
const recomputeChunk = 500

// RecomputeArgs is the job that recomputes a shop's attribution for one
// generation of its windows.
type RecomputeArgs struct {
	ShopID     int64 `json:"shop_id"`
	Generation int64 `json:"generation"`
}

// Kind names the job in River.
func (RecomputeArgs) Kind() string { return "reports.recompute_attribution" }

// Recompute is a shop's recompute state (Settings and the reports show it).
type Recompute struct {
	Generation     int64      `db:"generation"`
	ClickDays      int        `db:"click_days"`
	OpenDays       int        `db:"open_days"`
	CustomersTotal int64      `db:"customers_total"`
	CustomersDone  int64      `db:"customers_done"`
	OrdersDone     int64      `db:"orders_done"`
	StartedAt      time.Time  `db:"started_at"`
	FinishedAt     *time.Time `db:"finished_at"`
}

// Running says whether the recompute is still under way.
func (r Recompute) Running() bool { return r.FinishedAt == nil }

// Percent is the share of customers done, 0–100 (99 until finished).
func (r Recompute) Percent() int {
	if !r.Running() {
		return 100
	}
	if r.CustomersTotal <= 0 {
		return 0
	}
	return int(min(99, r.CustomersDone*100/r.CustomersTotal))
}

// ordersDailySource is report_orders_daily as revenue reads must see it:
// the live rollup, or while the shop's attribution is being recomputed,
// the figures frozen when it began (one row per day, slot 0). Readers
// filter it by shop_id like the table.
const ordersDailySource = `(
	SELECT d.shop_id, d.scope, d.scope_id, d.variant, d.day, d.slot, d.orders, d.sales FROM report_orders_daily d
	WHERE NOT EXISTS (SELECT 1 FROM attribution_recomputes r WHERE r.shop_id = d.shop_id AND r.finished_at IS NULL)
	UNION ALL
	SELECT f.shop_id, f.scope, f.scope_id, f.variant, f.day, 0::smallint, f.orders, f.sales FROM report_orders_frozen f
	WHERE EXISTS (SELECT 1 FROM attribution_recomputes r WHERE r.shop_id = f.shop_id AND r.finished_at IS NULL)
)`

// StartRecompute begins (or restarts) the recompute of the shop's
// attribution with the windows just saved, in the caller's transaction
// (the one that saved them), and queues its job there too.
func StartRecompute(ctx context.Context, tx *sqlx.Tx, in jobs.Inserter, shopID int64, clickDays, openDays int) error {
	var running bool
	err := tx.GetContext(ctx, &running, `SELECT finished_at IS NULL FROM attribution_recomputes WHERE shop_id = $1 FOR UPDATE`, shopID)
	if err != nil && !errors.Is(err, sql.ErrNoRows) {
		return fmt.Errorf("reports: start recompute %d: %w", shopID, err)
	}
	if !running {
		if _, err := tx.ExecContext(ctx, `
			WITH gone AS (DELETE FROM report_orders_frozen WHERE shop_id = $1)
			INSERT INTO report_orders_frozen (shop_id, scope, scope_id, variant, day, orders, sales)
			SELECT shop_id, scope, scope_id, variant, day, sum(orders), sum(sales) FROM report_orders_daily
			WHERE shop_id = $1 GROUP BY 1, 2, 3, 4, 5 HAVING sum(orders) <> 0 OR sum(sales) <> 0`, shopID); err != nil {
			return fmt.Errorf("reports: freeze figures of %d: %w", shopID, err)
		}
	}
	var gen int64
	if err := tx.GetContext(ctx, &gen, `
		INSERT INTO attribution_recomputes AS r (shop_id, click_days, open_days, customers_total)
		VALUES ($1, $2, $3, (SELECT count(DISTINCT customer_id) FROM orders WHERE shop_id = $1 AND customer_id IS NOT NULL))
		ON CONFLICT (shop_id) DO UPDATE SET generation = r.generation + 1, click_days = excluded.click_days,
			open_days = excluded.open_days, customers_total = excluded.customers_total, after_customer = 0,
			customers_done = 0, orders_done = 0, started_at = now(), finished_at = NULL, updated_at = now()
		RETURNING generation`, shopID, clickDays, openDays); err != nil {
		return fmt.Errorf("reports: start recompute %d: %w", shopID, err)
	}
	if _, err := in.InsertTx(ctx, tx.Tx, RecomputeArgs{ShopID: shopID, Generation: gen}, nil); err != nil {
		return fmt.Errorf("reports: queue recompute %d: %w", shopID, err)
	}
	return nil
}

// RecomputeStatus is the shop's latest recompute, if it ever had one.
func (s *Store) RecomputeStatus(ctx context.Context, shopID int64) (Recompute, bool, error) {
	var r Recompute
	err := s.DB.GetContext(ctx, &r, `SELECT generation, click_days, open_days, customers_total, customers_done, orders_done,
		started_at, finished_at FROM attribution_recomputes WHERE shop_id = $1`, shopID)
	if errors.Is(err, sql.ErrNoRows) {
		return Recompute{}, false, nil
	}
	if err != nil {
		return Recompute{}, false, fmt.Errorf("reports: recompute status %d: %w", shopID, err)
	}
	return r, true, nil
}

// qUnattribute deletes the listed orders' attributions and takes them out
// of the rollup (slot $3) on the day and at the amount they were counted.
const qUnattribute = `
WITH gone AS (
	DELETE FROM order_attributions a WHERE a.shop_id = $1 AND a.order_id = ANY($2)
	RETURNING a.day, a.amount, a.campaign_id, a.campaign_variant, a.flow_id, a.flow_step, a.template_id
),
changes AS (
	SELECT v.scope, v.scope_id, v.variant, g.day, -count(*) AS orders, -sum(g.amount) AS sales
	FROM gone g CROSS JOIN LATERAL (VALUES ('campaign', g.campaign_id, g.campaign_variant), ('flow', g.flow_id, g.flow_step),
		('template', g.template_id, '')) AS v(scope, scope_id, variant)
	WHERE v.scope_id IS NOT NULL
	GROUP BY 1, 2, 3, 4
)
INSERT INTO report_orders_daily AS t (shop_id, scope, scope_id, variant, day, slot, orders, sales)
SELECT $1, scope, scope_id, variant, day, $3, orders, sales FROM changes
ORDER BY scope, scope_id, variant, day
ON CONFLICT (shop_id, scope, scope_id, variant, day, slot) DO UPDATE SET
	orders = t.orders + excluded.orders, sales = t.sales + excluded.sales`

// errSuperseded stops a recompute whose generation is no longer the shop's.
var errSuperseded = errors.New("reports: recompute superseded")

// RecomputeStep re-decides the next chunk of the shop's customers for
// generation gen. It returns done when the recompute finished (or was
// superseded by a newer generation, which its own job carries on).
func RecomputeStep(ctx context.Context, d *sqlx.DB, shopID, gen int64, chunk int) (done bool, err error) {
	err = db.InTx(ctx, d, func(tx *sqlx.Tx) error {
		var cur struct {
			Generation int64      `db:"generation"`
			After      int64      `db:"after_customer"`
			FinishedAt *time.Time `db:"finished_at"`
		}
		// The row lock orders chunks and window changes: a change waits
		// for the chunk in progress, then the chunk's job sees it.
		if err := tx.GetContext(ctx, &cur, `SELECT generation, after_customer, finished_at FROM attribution_recomputes
			WHERE shop_id = $1 FOR UPDATE`, shopID); err != nil {
			if errors.Is(err, sql.ErrNoRows) {
				return errSuperseded
			}
			return err
		}
		if cur.Generation != gen || cur.FinishedAt != nil {
			return errSuperseded
		}
		var custs []int64
		if err := tx.SelectContext(ctx, &custs, `SELECT DISTINCT customer_id FROM orders WHERE shop_id = $1 AND customer_id > $2
			ORDER BY customer_id LIMIT $3`, shopID, cur.After, chunk); err != nil {
			return err
		}
		if len(custs) == 0 {
			_, err := tx.ExecContext(ctx, `WITH f AS (DELETE FROM report_orders_frozen WHERE shop_id = $1)
				UPDATE attribution_recomputes SET finished_at = now(), customers_done = customers_total, updated_at = now()
				WHERE shop_id = $1`, shopID)
			done = true
			return err
		}
		if _, err := signals.LockProfiles(ctx, tx, shopID, custs); err != nil {
			return err
		}
		var ids []int64
		if err := tx.SelectContext(ctx, &ids, `SELECT shopify_id FROM orders WHERE shop_id = $1 AND customer_id = ANY($2) ORDER BY shopify_id`,
			shopID, pq.Array(custs)); err != nil {
			return err
		}
		set, err := loadAttrSettings(ctx, tx, shopID)
		if err != nil {
			return err
		}
		slot, err := claimSlot(ctx, tx, shopID)
		if err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, qUnattribute, shopID, pq.Array(ids), slot); err != nil {
			return fmt.Errorf("unattribute: %w", err)
		}
		if err := attribute(ctx, tx, shopID, set, slot, ids); err != nil {
			return err
		}
		_, err = tx.ExecContext(ctx, `UPDATE attribution_recomputes SET after_customer = $2, customers_done = customers_done + $3,
			orders_done = orders_done + $4, updated_at = now() WHERE shop_id = $1`, shopID, custs[len(custs)-1], len(custs), len(ids))
		return err
	})
	if errors.Is(err, errSuperseded) {
		return true, nil
	}
	if err != nil {
		return false, fmt.Errorf("reports: recompute shop %d: %w", shopID, err)
	}
	return done, nil
}

// RecomputeWorker runs RecomputeArgs jobs: chunks until done. A job that
// dies resumes from the stored cursor on retry.
type RecomputeWorker struct {
	river.WorkerDefaults[RecomputeArgs]
	DB *sqlx.DB
}

// Timeout lets a large store's recompute outlive River's default.
func (w *RecomputeWorker) Timeout(*river.Job[RecomputeArgs]) time.Duration { return 6 * time.Hour }

// Work recomputes until finished or superseded.
func (w *RecomputeWorker) Work(ctx context.Context, job *river.Job[RecomputeArgs]) error {
	for {
		done, err := RecomputeStep(ctx, w.DB, job.Args.ShopID, job.Args.Generation, recomputeChunk)
		if err != nil || done {
			return err
		}
	}
}
