-- +goose Up
-- Local-time sending and A/B winner selection (issue 12, §1–§3).

-- When each recipient's email is due: the chosen time in their own
-- timezone for local-time sending; 'infinity' for the rest of an A/B test
-- until the winner is picked (then the winner's send time); '-infinity'
-- (due at once) otherwise. The send checkpoint becomes the pair
-- (send_due, send_position): batches take recipients in (due_at, position)
-- order, only those already due, so one index range serves every mode. The
-- snapshot numbers positions in due order, so both grow together and the
-- index is still written at its right edge.
ALTER TABLE campaign_recipients ADD COLUMN due_at timestamptz NOT NULL DEFAULT '-infinity';
DROP INDEX campaign_recipients_position_idx;
CREATE INDEX campaign_recipients_due_idx ON campaign_recipients (campaign_id, due_at, position);

ALTER TABLE campaigns
    ADD COLUMN send_due     timestamptz NOT NULL DEFAULT '-infinity',
    -- When a scheduled campaign starts (snapshot and first batch): send_at,
    -- or for local-time sending the moment the chosen time comes in the
    -- first timezone (UTC+14).
    ADD COLUMN starts_at    timestamptz,
    -- A/B: when the winner is due to be picked, when it was picked, which
    -- variant won ('' = not yet) and the figures it was picked on.
    ADD COLUMN ab_decide_at  timestamptz,
    ADD COLUMN ab_decided_at timestamptz,
    ADD COLUMN ab_winner     text NOT NULL DEFAULT '',
    ADD COLUMN ab_results    jsonb NOT NULL DEFAULT '[]';

UPDATE campaigns SET starts_at = send_at WHERE status = 'scheduled';
CREATE INDEX campaigns_starts_idx ON campaigns (starts_at) WHERE status = 'scheduled';

-- Warm-up of a new sending domain: from this day (the shop's) the daily
-- volume of marketing email ramps up (shops.DailyLimitOn); NULL = off.
ALTER TABLE shops ADD COLUMN warmup_started_on date;

-- +goose Down
ALTER TABLE shops DROP COLUMN warmup_started_on;
DROP INDEX campaigns_starts_idx;
ALTER TABLE campaigns DROP COLUMN send_due, DROP COLUMN starts_at, DROP COLUMN ab_decide_at,
    DROP COLUMN ab_decided_at, DROP COLUMN ab_winner, DROP COLUMN ab_results;
DROP INDEX campaign_recipients_due_idx;
CREATE INDEX campaign_recipients_position_idx ON campaign_recipients (campaign_id, position);
ALTER TABLE campaign_recipients DROP COLUMN due_at;
