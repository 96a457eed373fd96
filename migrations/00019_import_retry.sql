-- +goose Up
-- A store import whose job attempt failed and waits for River's retry is
-- marked, so the admin shows the reason while it waits and Re-sync may
-- replace it at once instead of the merchant waiting out the backoff.
ALTER TABLE import_runs ADD COLUMN attempt_failed_at timestamptz;

-- +goose Down
ALTER TABLE import_runs DROP COLUMN attempt_failed_at;
