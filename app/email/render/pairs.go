package render

import (
	"context"
	"fmt"

	"github.com/jmoiron/sqlx"
	"github.com/riverqueue/river"
	"github.com/riverqueue/river/rivertype"
)

// PairsPerProduct is how many "bought together" partners are kept per product.
const PairsPerProduct = 20

// RefreshPairs rebuilds the shop's product_pairs from order co-occurrence
// in the last 365 days (cancelled and test orders left out; orders with
// more than 50 products too, as they say little and cost a lot). It
// replaces the shop's rows in one transaction, so readers see the old or
// the new set, never half of one.
func RefreshPairs(ctx context.Context, db *sqlx.DB, shopID int64) error {
	tx, err := db.BeginTxx(ctx, nil)
	if err != nil {
		return fmt.Errorf("render: refresh pairs: %w", err)
	}
	defer tx.Rollback()
	if _, err := tx.ExecContext(ctx, `DELETE FROM product_pairs WHERE shop_id = $1`, shopID); err != nil {
		return fmt.Errorf("render: refresh pairs: %w", err)
	}
	_, err = tx.ExecContext(ctx, `
		WITH items AS (
			SELECT DISTINCT li.order_id, li.product_id
			FROM order_line_items li
			JOIN orders o ON o.shop_id = li.shop_id AND o.shopify_id = li.order_id
			WHERE li.shop_id = $1 AND li.product_id IS NOT NULL
			  AND o.processed_at >= now() - interval '365 days'
			  AND o.cancelled_at IS NULL AND NOT o.test),
		small AS (
			SELECT order_id FROM items GROUP BY order_id HAVING count(*) BETWEEN 2 AND 50),
		pairs AS (
			SELECT a.product_id, b.product_id AS other_id, count(*) AS orders
			FROM items a
			JOIN small s ON s.order_id = a.order_id
			JOIN items b ON b.order_id = a.order_id AND b.product_id <> a.product_id
			GROUP BY a.product_id, b.product_id),
		ranked AS (
			SELECT product_id, other_id, orders,
			       row_number() OVER (PARTITION BY product_id ORDER BY orders DESC, other_id) AS rn
			FROM pairs)
		INSERT INTO product_pairs (shop_id, product_id, other_id, orders)
		SELECT $1, product_id, other_id, orders FROM ranked WHERE rn <= $2`, shopID, PairsPerProduct)
	if err != nil {
		return fmt.Errorf("render: refresh pairs: %w", err)
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("render: refresh pairs: %w", err)
	}
	return nil
}

// RefreshPairsArgs is the email.refresh_pairs job: one shop, or every
// installed shop when ShopID is 0 (the periodic run).
type RefreshPairsArgs struct {
	ShopID int64 `json:"shop_id"`
}

// Kind implements river.JobArgs.
func (RefreshPairsArgs) Kind() string { return "email.refresh_pairs" }

// InsertOpts keeps one pending refresh per shop.
func (RefreshPairsArgs) InsertOpts() river.InsertOpts {
	return river.InsertOpts{UniqueOpts: river.UniqueOpts{ByArgs: true, ByState: []rivertype.JobState{
		rivertype.JobStateAvailable, rivertype.JobStatePending, rivertype.JobStateRunning,
		rivertype.JobStateScheduled, rivertype.JobStateRetryable}}}
}

// RefreshPairsWorker runs email.refresh_pairs.
type RefreshPairsWorker struct {
	river.WorkerDefaults[RefreshPairsArgs]
	DB *sqlx.DB
}

// Work refreshes one shop or all installed shops.
func (w *RefreshPairsWorker) Work(ctx context.Context, job *river.Job[RefreshPairsArgs]) error {
	if job.Args.ShopID != 0 {
		return RefreshPairs(ctx, w.DB, job.Args.ShopID)
	}
	var ids []int64
	if err := w.DB.SelectContext(ctx, &ids, `SELECT id FROM shops WHERE uninstalled_at IS NULL ORDER BY id`); err != nil {
		return fmt.Errorf("render: refresh pairs: %w", err)
	}
	for _, id := range ids {
		if err := RefreshPairs(ctx, w.DB, id); err != nil {
			return err
		}
	}
	return nil
}
