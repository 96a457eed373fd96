-- +goose Up
-- Campaigns (issue 12): one-off emails to segments. This migration holds the
-- campaign, its audience snapshot (which is also the send checkpoint) and the
-- two shop settings campaigns read.

-- "Skip people who got a marketing email in the last N days" was stored as
-- an automation setting, but flows carry that rule as a per-flow filter and
-- the sender never applied it to them: it is the campaigns' frequency window.
ALTER TABLE shops RENAME COLUMN automation_skip_days TO campaign_skip_days;
ALTER TABLE shops RENAME CONSTRAINT shops_automation_skip_days_check TO shops_campaign_skip_days_check;
-- Marketing emails per day (in the shop's timezone); 0 = no limit.
ALTER TABLE shops ADD COLUMN daily_send_limit integer NOT NULL DEFAULT 0
    CHECK (daily_send_limit BETWEEN 0 AND 100000000);

CREATE TABLE campaigns (
    id               bigserial PRIMARY KEY,
    shop_id          bigint NOT NULL REFERENCES shops (id) ON DELETE CASCADE,
    name             text NOT NULL CHECK (name <> ''),
    status           text NOT NULL DEFAULT 'draft'
                     CHECK (status IN ('draft', 'scheduled', 'sending', 'paused', 'sent', 'cancelled')),
    -- No foreign keys to templates and segments: a sent campaign outlives
    -- them (its report reads the ledger); drafts are checked when saved.
    template_id      bigint,
    subject          text NOT NULL DEFAULT '',
    preheader        text NOT NULL DEFAULT '',
    sender_name      text NOT NULL DEFAULT '',
    utm_campaign     text NOT NULL DEFAULT '',
    include_segments bigint[] NOT NULL DEFAULT '{}',
    exclude_segments bigint[] NOT NULL DEFAULT '{}',
    -- now | at (send_at, shop's timezone) | local (send_at's wall time in
    -- each recipient's zone; past_zones: next_day | now)
    send_mode        text NOT NULL DEFAULT 'now' CHECK (send_mode IN ('now', 'at', 'local')),
    send_at          timestamptz,
    past_zones       text NOT NULL DEFAULT 'next_day' CHECK (past_zones IN ('next_day', 'now')),
    most_engaged_first boolean NOT NULL DEFAULT false,
    -- {"variants": [{"key": "A", "subject": …, "preheader": …, "sender_name": …,
    --   "template_id": …}], "test_percent": 20, "winner_by": "clicks",
    --   "wait_hours": 4, "holdout_percent": 0}
    ab               jsonb NOT NULL DEFAULT '{}' CHECK (jsonb_typeof(ab) = 'object'),
    -- Makes the A/B and holdout split of the snapshot reproducible.
    seed             bigint NOT NULL DEFAULT floor(random() * 9007199254740991)::bigint,
    audience_size    integer,
    snapshot_at      timestamptz,
    paused_reason    text NOT NULL DEFAULT '',
    created_at       timestamptz NOT NULL DEFAULT now(),
    updated_at       timestamptz NOT NULL DEFAULT now(),
    started_at       timestamptz,
    finished_at      timestamptz
);
CREATE INDEX campaigns_shop_idx ON campaigns (shop_id, id DESC);

-- The audience as snapshotted right before sending, in send order
-- (position), with each recipient's A/B variant ('' = the rest, sent the
-- winner; 'holdout' = gets nothing). Batches move a keyset cursor on
-- position in the transaction that records their ledger rows.
CREATE TABLE campaign_recipients (
    shop_id     bigint NOT NULL REFERENCES shops (id) ON DELETE CASCADE,
    campaign_id bigint NOT NULL REFERENCES campaigns (id) ON DELETE CASCADE,
    customer_id bigint NOT NULL REFERENCES customers (id) ON DELETE CASCADE,
    position    integer NOT NULL,
    variant     text NOT NULL DEFAULT '',
    status      text NOT NULL DEFAULT 'pending' CHECK (status IN ('pending', 'sent', 'skipped')),
    reason      text NOT NULL DEFAULT '',
    message_id  bigint,
    PRIMARY KEY (campaign_id, customer_id)
);
CREATE INDEX campaign_recipients_position_idx ON campaign_recipients (campaign_id, position);
-- ON DELETE CASCADE from customers (privacy redaction) looks rows up by customer.
CREATE INDEX campaign_recipients_customer_idx ON campaign_recipients (customer_id);

-- The daily sending limit counts a shop's marketing emails sent since the
-- start of its day; the only index on sent_at is per customer.
CREATE INDEX email_messages_marketing_sent_idx ON email_messages (shop_id, sent_at)
    WHERE marketing AND sent_at IS NOT NULL;

-- +goose Down
DROP INDEX email_messages_marketing_sent_idx;
DROP TABLE campaign_recipients;
DROP TABLE campaigns;
ALTER TABLE shops DROP COLUMN daily_send_limit;
ALTER TABLE shops RENAME CONSTRAINT shops_campaign_skip_days_check TO shops_automation_skip_days_check;
ALTER TABLE shops RENAME COLUMN campaign_skip_days TO automation_skip_days;
