-- +goose Up
-- What happened to a customer, recorded by the transaction that changed
-- them and taken (deleted) by the one consumer that fans it out to segment
-- refresh and flows (app/signals). Rows live from the writer's commit to
-- the consumer's, about a second. No personal data: ids, kinds and small
-- references only. A redacted or deleted profile takes its pending signals
-- with it.
CREATE TABLE customer_signals (
    id          bigserial PRIMARY KEY,
    shop_id     bigint NOT NULL REFERENCES shops (id) ON DELETE CASCADE,
    customer_id bigint NOT NULL REFERENCES customers (id) ON DELETE CASCADE,
    kind        text NOT NULL,
    ref         text NOT NULL DEFAULT '',
    data        jsonb NOT NULL DEFAULT '{}',
    at          timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX customer_signals_customer_idx ON customer_signals (customer_id, id);

-- When an order was first seen fulfilled (Shopify's fulfillment_status
-- "fulfilled"), so the order_fulfilled signal is recorded once.
ALTER TABLE orders ADD COLUMN fulfilled_at timestamptz;

-- +goose Down
ALTER TABLE orders DROP COLUMN fulfilled_at;
DROP TABLE customer_signals;
