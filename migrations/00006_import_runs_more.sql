-- +goose Up
-- What the import progress bar needs beyond the checkpoint: when the current
-- download (re)started and how many rows were already done then, for a rate
-- that stays honest after a resume; and the first few bad lines, so a
-- merchant can report them.
ALTER TABLE import_runs
    ADD COLUMN download_started_at timestamptz,
    ADD COLUMN rows_at_download_start bigint NOT NULL DEFAULT 0,
    ADD COLUMN error_samples text[] NOT NULL DEFAULT '{}';

-- orders.addRefunds sums refunds per order after every batch, and deleting
-- an order cascades to its refunds: both look refunds up by order, which
-- 00004 did not index (each lookup scanned every refund of the shop).
CREATE INDEX refunds_order_idx ON refunds (shop_id, order_id);

-- +goose Down
DROP INDEX refunds_order_idx;
ALTER TABLE import_runs
    DROP COLUMN download_started_at,
    DROP COLUMN rows_at_download_start,
    DROP COLUMN error_samples;
