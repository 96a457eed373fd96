-- +goose Up
-- When a shop's segments were last fully refreshed by the daily job (02:00
-- in the shop's timezone); NULL until the first run.
ALTER TABLE shops ADD COLUMN segments_refreshed_at timestamptz;

-- +goose Down
ALTER TABLE shops DROP COLUMN segments_refreshed_at;
