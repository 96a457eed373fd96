-- +goose Up
-- Every webhook Shopify delivered, keyed by X-Shopify-Webhook-Id so a retried
-- delivery is recognised. No foreign key to shops: deliveries for unknown or
-- already-erased shops are still acknowledged and recorded. The body is kept
-- only until the job has applied it (it may hold customer PII).
CREATE TABLE webhook_deliveries (
    webhook_id   text PRIMARY KEY,
    shop_domain  text NOT NULL,
    topic        text NOT NULL,
    event_id     text NOT NULL DEFAULT '',
    api_version  text NOT NULL DEFAULT '',
    triggered_at timestamptz,
    body         jsonb,
    received_at  timestamptz NOT NULL DEFAULT now(),
    processed_at timestamptz,
    outcome      text NOT NULL DEFAULT ''
);
CREATE INDEX webhook_deliveries_shop_idx ON webhook_deliveries (shop_domain, received_at);

-- +goose Down
DROP TABLE webhook_deliveries;
