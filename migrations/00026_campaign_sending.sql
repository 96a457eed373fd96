-- +goose Up
-- Campaign sending (issue 12, §3): the shop's sending rate and the two
-- indexes the send pipeline reads on every batch.

-- Messages per second a shop's campaigns hand to delivery, across every
-- worker process (app/ratelimit keeps the bucket in PostgreSQL).
ALTER TABLE shops ADD COLUMN send_rate_per_second integer NOT NULL DEFAULT 50
    CHECK (send_rate_per_second BETWEEN 1 AND 100000);

-- A batch claims the next pending recipients in send order. Without this
-- index each batch walks past every recipient already sent (the position
-- index holds them all): the last batch of a 100,000-recipient campaign
-- would read 100,000 entries to find 500. Sent rows leave the index.
CREATE INDEX campaign_recipients_pending_idx ON campaign_recipients (campaign_id, position)
    WHERE status = 'pending';

-- The daily limit counts today's marketing emails sent (sent_at index of
-- 00025) plus those reserved and not yet sent; this partial index holds
-- only the latter, so it stays small.
CREATE INDEX email_messages_marketing_unsent_idx ON email_messages (shop_id, created_at)
    WHERE marketing AND status IN ('queued', 'sending');

-- +goose Down
DROP INDEX email_messages_marketing_unsent_idx;
DROP INDEX campaign_recipients_pending_idx;
ALTER TABLE shops DROP COLUMN send_rate_per_second;
