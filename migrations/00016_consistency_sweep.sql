-- +goose Up
-- The daily consistency sweep (app/consistency) recomputes derived data
-- and repairs what differs. It checks activity totals and soft-bounce
-- streaks only for what changed since the shop's last sweep, kept here.
CREATE TABLE consistency_sweeps (
    shop_id    bigint PRIMARY KEY REFERENCES shops (id) ON DELETE CASCADE,
    swept_at   timestamptz NOT NULL,
    -- What the last sweep repaired, by kind (figures, products, activity,
    -- soft_bounce_streaks): 0 everywhere unless a write path has a bug.
    repaired   jsonb NOT NULL DEFAULT '{}'
);

-- Recomputing an address's soft-bounce streak reads every message to it.
CREATE INDEX email_messages_to_idx ON email_messages (shop_id, lower(to_email));

-- Soft-bounce streak rows now stay at 0 after a delivery: the row is the
-- address's lock (app/email/tracking). Nothing to migrate.

-- +goose Down
DROP INDEX email_messages_to_idx;
DROP TABLE consistency_sweeps;
