-- +goose Up
-- Auto-pause reads a campaign's hard bounces and complaints before each
-- batch: a small partial index keeps that read to the troubled rows, not
-- the campaign's million.
CREATE INDEX email_messages_campaign_trouble_idx ON email_messages (shop_id, campaign_id)
    WHERE campaign_id IS NOT NULL AND status IN ('bounced', 'complained');

-- auto_paused: the last pause was auto-pause's. Resuming such a campaign
-- is the merchant accepting what they were shown: trouble_accepted stops
-- auto-pause from stopping it again.
ALTER TABLE campaigns
    ADD COLUMN auto_paused      boolean NOT NULL DEFAULT false,
    ADD COLUMN trouble_accepted boolean NOT NULL DEFAULT false;

-- +goose Down
ALTER TABLE campaigns DROP COLUMN auto_paused, DROP COLUMN trouble_accepted;
DROP INDEX email_messages_campaign_trouble_idx;
