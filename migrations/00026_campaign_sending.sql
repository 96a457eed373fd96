-- +goose Up
-- Campaign sending (issue 12, §3): the shop's sending rate, the send
-- checkpoint, and an index the daily limit reads on every batch.

-- Messages per second a shop's campaigns hand to delivery, across every
-- worker process (app/ratelimit keeps the bucket in PostgreSQL).
ALTER TABLE shops ADD COLUMN send_rate_per_second integer NOT NULL DEFAULT 50
    CHECK (send_rate_per_second BETWEEN 1 AND 100000);

-- The send checkpoint: every recipient at or before this position has been
-- handed to delivery (or skipped). A batch locks the campaign row, takes
-- the recipients after it in position order and moves it, in the
-- transaction that writes their ledger rows, so a crash before the commit
-- leaves both where they were. (A partial index on the pending recipients
-- would serve the same claim without a cursor, but it made the snapshot's
-- INSERT of 760,000 rows 0.5–1.5 s slower; the cursor costs nothing there.)
ALTER TABLE campaigns ADD COLUMN send_position integer NOT NULL DEFAULT 0;

-- The daily limit counts today's marketing emails sent (sent_at index of
-- 00025) plus those reserved and not yet sent; this partial index holds
-- only the latter, so it stays small.
CREATE INDEX email_messages_marketing_unsent_idx ON email_messages (shop_id, created_at)
    WHERE marketing AND status IN ('queued', 'sending');

-- +goose Down
DROP INDEX email_messages_marketing_unsent_idx;
ALTER TABLE campaigns DROP COLUMN send_position;
ALTER TABLE shops DROP COLUMN send_rate_per_second;
