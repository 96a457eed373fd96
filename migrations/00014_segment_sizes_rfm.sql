-- +goose Up
-- Segment size over time: one row per segment and day (in the shop's
-- timezone), written by every full refresh, for the size chart and the
-- trend in the segment list.
CREATE TABLE segment_sizes (
    shop_id    bigint NOT NULL REFERENCES shops (id) ON DELETE CASCADE,
    segment_id bigint NOT NULL REFERENCES segments (id) ON DELETE CASCADE,
    day        date NOT NULL,
    size       integer NOT NULL,
    PRIMARY KEY (segment_id, day)
);

-- RFM quintile boundaries of a shop's buyers (20/40/60/80th percentiles of
-- last order time, order count and total spent), recomputed by full
-- refreshes. Keeping them lets one customer's RFM cell be found without
-- ranking every buyer again.
CREATE TABLE rfm_thresholds (
    shop_id     bigint PRIMARY KEY REFERENCES shops (id) ON DELETE CASCADE,
    recency     timestamptz[] NOT NULL,
    frequency   integer[] NOT NULL,
    monetary    numeric[] NOT NULL,
    computed_at timestamptz NOT NULL
);

-- Which generation of preset segments the shop has been given: presets are
-- created once (a merchant may delete one for good), and a release that
-- adds presets raises the version so existing shops get only the new ones.
ALTER TABLE shops ADD COLUMN segment_presets_version integer NOT NULL DEFAULT 0;

-- +goose Down
ALTER TABLE shops DROP COLUMN segment_presets_version;
DROP TABLE rfm_thresholds;
DROP TABLE segment_sizes;
