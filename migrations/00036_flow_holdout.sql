-- +goose Up
-- Flow holdouts (issue 13 §1): a flow may keep a random share of its
-- entrants from getting its emails, to compare their orders with those who
-- got them. A held-out run goes through every step like the others, but
-- each send step is skipped with reason 'holdout' (flow_run_steps), so the
-- report can tell the two groups apart. Decided once per run at entry.
ALTER TABLE flow_runs ADD COLUMN holdout boolean NOT NULL DEFAULT false;

-- A flow's report reads the runs that started in its range.
CREATE INDEX flow_runs_flow_started_idx ON flow_runs (shop_id, flow_id, started_at);

-- +goose Down
DROP INDEX flow_runs_flow_started_idx;
ALTER TABLE flow_runs DROP COLUMN holdout;
