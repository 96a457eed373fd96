-- +goose Up
-- A signed delivery whose body PostgreSQL's jsonb refuses (a \u0000 escape
-- in customer-entered text, invalid UTF-8) is kept as raw bytes, marked
-- processed with a "rejected: …" outcome and never queued, so Shopify gets
-- its 200 and stops retrying. The raw bytes are kept 30 days for
-- inspection (they may hold personal data) and go with the shop on
-- shop/redact.
ALTER TABLE webhook_deliveries ADD COLUMN raw_body bytea;
CREATE INDEX webhook_deliveries_raw_body_idx ON webhook_deliveries (received_at) WHERE raw_body IS NOT NULL;

-- +goose Down
DROP INDEX webhook_deliveries_raw_body_idx;
ALTER TABLE webhook_deliveries DROP COLUMN raw_body;
