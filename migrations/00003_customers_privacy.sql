-- +goose Up
-- The customer profile: the store-data work extends it with consent, orders
-- and derived figures. Present now so privacy requests have something real to
-- export and erase.
CREATE TABLE customers (
    id          bigserial PRIMARY KEY,
    shop_id     bigint NOT NULL REFERENCES shops (id) ON DELETE CASCADE,
    shopify_id  bigint,
    email       text,
    phone       text,
    first_name  text NOT NULL DEFAULT '',
    last_name   text NOT NULL DEFAULT '',
    created_at  timestamptz NOT NULL DEFAULT now(),
    updated_at  timestamptz NOT NULL DEFAULT now()
);
CREATE UNIQUE INDEX customers_shop_shopify_idx ON customers (shop_id, shopify_id) WHERE shopify_id IS NOT NULL;
CREATE UNIQUE INDEX customers_shop_email_idx ON customers (shop_id, lower(email)) WHERE email IS NOT NULL;

-- Privacy requests received through the mandatory compliance webhooks. A
-- redaction row keeps only Shopify's customer id (no PII); a data request
-- keeps the export the merchant downloads and sends to the customer.
CREATE TABLE privacy_requests (
    id                  bigserial PRIMARY KEY,
    shop_id             bigint NOT NULL REFERENCES shops (id) ON DELETE CASCADE,
    kind                text NOT NULL CHECK (kind IN ('data_request', 'customer_redact')),
    webhook_id          text NOT NULL UNIQUE,
    shopify_customer_id bigint,
    data_request_id     bigint,
    export              jsonb,
    received_at         timestamptz NOT NULL DEFAULT now(),
    completed_at        timestamptz
);
CREATE INDEX privacy_requests_shop_idx ON privacy_requests (shop_id, id DESC);

-- +goose Down
DROP TABLE privacy_requests;
DROP TABLE customers;
