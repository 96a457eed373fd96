-- +goose Up
-- Store data synced from Shopify (bulk import and webhooks), plus profiles
-- from the wheel and CSV imports. Shopify resources are keyed by
-- (shop_id, shopify_id); `shopify_updated_at` is the resource's updated_at
-- and guards every upsert, so a late or repeated delivery never overwrites
-- newer data.

ALTER TABLE customers
    ADD COLUMN locale                   text NOT NULL DEFAULT '',
    ADD COLUMN country                  text NOT NULL DEFAULT '',
    ADD COLUMN city                     text NOT NULL DEFAULT '',
    ADD COLUMN tags                     text[] NOT NULL DEFAULT '{}',
    -- subscribed | not_subscribed | unsubscribed | pending | redacted | invalid
    ADD COLUMN email_consent            text NOT NULL DEFAULT 'not_subscribed',
    -- single_opt_in | confirmed_opt_in | unknown | '' (Shopify's opt-in levels, lower case)
    ADD COLUMN email_opt_in_level       text NOT NULL DEFAULT '',
    ADD COLUMN email_consent_updated_at timestamptz,
    -- shopify | wheel | import
    ADD COLUMN source                   text NOT NULL DEFAULT 'shopify',
    ADD COLUMN properties               jsonb NOT NULL DEFAULT '{}',
    ADD COLUMN shopify_created_at       timestamptz,
    ADD COLUMN shopify_updated_at       timestamptz,
    ADD COLUMN deleted_at               timestamptz,
    -- Derived from orders, kept current by orders.RefreshCustomers.
    ADD COLUMN orders_count             integer NOT NULL DEFAULT 0,
    ADD COLUMN total_spent              numeric(14, 2) NOT NULL DEFAULT 0,
    ADD COLUMN average_order_value      numeric(14, 2) NOT NULL DEFAULT 0,
    ADD COLUMN first_order_at           timestamptz,
    ADD COLUMN last_order_at            timestamptz,
    ADD CONSTRAINT customers_consent_check CHECK (email_consent IN ('subscribed', 'not_subscribed', 'unsubscribed', 'pending', 'redacted', 'invalid')),
    ADD CONSTRAINT customers_source_check CHECK (source IN ('shopify', 'wheel', 'import'));

-- Keyset pagination of the customers list (newest first) and its filters.
CREATE INDEX customers_list_idx ON customers (shop_id, id DESC) WHERE deleted_at IS NULL;
CREATE INDEX customers_consent_idx ON customers (shop_id, email_consent, id DESC) WHERE deleted_at IS NULL;
CREATE INDEX customers_orders_idx ON customers (shop_id, orders_count, id DESC) WHERE deleted_at IS NULL;
CREATE INDEX customers_country_idx ON customers (shop_id, country, id DESC) WHERE deleted_at IS NULL;
CREATE INDEX customers_tags_idx ON customers USING gin (tags);
CREATE INDEX customers_last_order_idx ON customers (shop_id, last_order_at);
CREATE INDEX customers_spent_idx ON customers (shop_id, total_spent);

-- Every change of email consent, newest last: the profile shows it, and
-- segments use it ("subscribed in the last 14 days").
CREATE TABLE consent_events (
    id           bigserial PRIMARY KEY,
    shop_id      bigint NOT NULL REFERENCES shops (id) ON DELETE CASCADE,
    customer_id  bigint NOT NULL REFERENCES customers (id) ON DELETE CASCADE,
    state        text NOT NULL,
    opt_in_level text NOT NULL DEFAULT '',
    -- shopify | wheel | unsubscribe | import | merchant
    source       text NOT NULL,
    occurred_at  timestamptz NOT NULL,
    recorded_at  timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX consent_events_customer_idx ON consent_events (shop_id, customer_id, occurred_at);

CREATE TABLE products (
    shop_id            bigint NOT NULL REFERENCES shops (id) ON DELETE CASCADE,
    shopify_id         bigint NOT NULL,
    title              text NOT NULL DEFAULT '',
    handle             text NOT NULL DEFAULT '',
    vendor             text NOT NULL DEFAULT '',
    product_type       text NOT NULL DEFAULT '',
    tags               text[] NOT NULL DEFAULT '{}',
    status             text NOT NULL DEFAULT 'active',
    image_url          text NOT NULL DEFAULT '',
    price_min          numeric(14, 2),
    price_max          numeric(14, 2),
    collection_ids     bigint[] NOT NULL DEFAULT '{}',
    published_at       timestamptz,
    shopify_created_at timestamptz,
    shopify_updated_at timestamptz,
    deleted_at         timestamptz,
    PRIMARY KEY (shop_id, shopify_id)
);
CREATE INDEX products_collections_idx ON products USING gin (collection_ids);

CREATE TABLE variants (
    shop_id            bigint NOT NULL,
    shopify_id         bigint NOT NULL,
    product_id         bigint NOT NULL,
    title              text NOT NULL DEFAULT '',
    sku                text NOT NULL DEFAULT '',
    price              numeric(14, 2),
    compare_at_price   numeric(14, 2),
    inventory_quantity integer,
    image_url          text NOT NULL DEFAULT '',
    PRIMARY KEY (shop_id, shopify_id),
    FOREIGN KEY (shop_id, product_id) REFERENCES products (shop_id, shopify_id) ON DELETE CASCADE
);
CREATE INDEX variants_product_idx ON variants (shop_id, product_id);

CREATE TABLE collections (
    shop_id    bigint NOT NULL REFERENCES shops (id) ON DELETE CASCADE,
    shopify_id bigint NOT NULL,
    title      text NOT NULL DEFAULT '',
    handle     text NOT NULL DEFAULT '',
    PRIMARY KEY (shop_id, shopify_id)
);

-- Orders keep their revenue after a customer is deleted (customer_id is set
-- NULL), so reports stay right; a customers/redact erases the PII columns.
CREATE TABLE orders (
    shop_id             bigint NOT NULL REFERENCES shops (id) ON DELETE CASCADE,
    shopify_id          bigint NOT NULL,
    name                text NOT NULL DEFAULT '',
    customer_id         bigint REFERENCES customers (id) ON DELETE SET NULL,
    shopify_customer_id bigint,
    email               text,
    currency            text NOT NULL DEFAULT '',
    subtotal_price      numeric(14, 2) NOT NULL DEFAULT 0,
    total_tax           numeric(14, 2) NOT NULL DEFAULT 0,
    total_shipping      numeric(14, 2) NOT NULL DEFAULT 0,
    total_discounts     numeric(14, 2) NOT NULL DEFAULT 0,
    total_price         numeric(14, 2) NOT NULL DEFAULT 0,
    total_refunded      numeric(14, 2) NOT NULL DEFAULT 0,
    financial_status    text NOT NULL DEFAULT '',
    cancelled_at        timestamptz,
    processed_at        timestamptz,
    landing_site        text NOT NULL DEFAULT '',
    referring_site      text NOT NULL DEFAULT '',
    source_name         text NOT NULL DEFAULT '',
    discount_codes      text[] NOT NULL DEFAULT '{}',
    test                boolean NOT NULL DEFAULT false,
    shopify_created_at  timestamptz,
    shopify_updated_at  timestamptz,
    PRIMARY KEY (shop_id, shopify_id)
);
CREATE INDEX orders_customer_idx ON orders (shop_id, customer_id, processed_at);
CREATE INDEX orders_shopify_customer_idx ON orders (shop_id, shopify_customer_id);
CREATE INDEX orders_processed_idx ON orders (shop_id, processed_at);
CREATE INDEX orders_discount_codes_idx ON orders USING gin (discount_codes);

CREATE TABLE order_line_items (
    shop_id        bigint NOT NULL,
    shopify_id     bigint NOT NULL,
    order_id       bigint NOT NULL,
    product_id     bigint,
    variant_id     bigint,
    title          text NOT NULL DEFAULT '',
    variant_title  text NOT NULL DEFAULT '',
    sku            text NOT NULL DEFAULT '',
    quantity       integer NOT NULL DEFAULT 0,
    price          numeric(14, 2) NOT NULL DEFAULT 0,
    total_discount numeric(14, 2) NOT NULL DEFAULT 0,
    properties     jsonb NOT NULL DEFAULT '[]',
    PRIMARY KEY (shop_id, shopify_id),
    FOREIGN KEY (shop_id, order_id) REFERENCES orders (shop_id, shopify_id) ON DELETE CASCADE
);
CREATE INDEX order_line_items_order_idx ON order_line_items (shop_id, order_id);
CREATE INDEX order_line_items_product_idx ON order_line_items (shop_id, product_id);

CREATE TABLE refunds (
    shop_id    bigint NOT NULL,
    shopify_id bigint NOT NULL,
    order_id   bigint NOT NULL,
    amount     numeric(14, 2) NOT NULL DEFAULT 0,
    created_at timestamptz,
    PRIMARY KEY (shop_id, shopify_id),
    FOREIGN KEY (shop_id, order_id) REFERENCES orders (shop_id, shopify_id) ON DELETE CASCADE
);

-- What each customer bought, kept with the derived figures: segments ask
-- "has bought product X / from collection Y".
CREATE TABLE customer_products (
    shop_id         bigint NOT NULL,
    customer_id     bigint NOT NULL REFERENCES customers (id) ON DELETE CASCADE,
    product_id      bigint NOT NULL,
    quantity        integer NOT NULL,
    first_bought_at timestamptz,
    last_bought_at  timestamptz,
    PRIMARY KEY (shop_id, customer_id, product_id)
);
CREATE INDEX customer_products_product_idx ON customer_products (shop_id, product_id);

-- Abandoned checkouts (from checkouts/* webhooks and the bulk import) and
-- carts (carts/*). Completed ones keep completed_at so flows stop.
CREATE TABLE checkouts (
    shop_id             bigint NOT NULL REFERENCES shops (id) ON DELETE CASCADE,
    token               text NOT NULL,
    kind                text NOT NULL CHECK (kind IN ('checkout', 'cart')),
    shopify_id          bigint,
    cart_token          text NOT NULL DEFAULT '',
    customer_id         bigint REFERENCES customers (id) ON DELETE SET NULL,
    shopify_customer_id bigint,
    email               text,
    currency            text NOT NULL DEFAULT '',
    total_price         numeric(14, 2) NOT NULL DEFAULT 0,
    line_items          jsonb NOT NULL DEFAULT '[]',
    recovery_url        text NOT NULL DEFAULT '',
    shopify_created_at  timestamptz,
    shopify_updated_at  timestamptz,
    completed_at        timestamptz,
    PRIMARY KEY (shop_id, token)
);
CREATE INDEX checkouts_customer_idx ON checkouts (shop_id, customer_id, shopify_updated_at);
CREATE INDEX checkouts_open_idx ON checkouts (shop_id, shopify_updated_at) WHERE completed_at IS NULL;

-- Full imports through bulk operations: one row per resource and run, with
-- the checkpoint (lines applied from the result file) that makes it resumable.
CREATE TABLE import_runs (
    id                bigserial PRIMARY KEY,
    shop_id           bigint NOT NULL REFERENCES shops (id) ON DELETE CASCADE,
    resource          text NOT NULL CHECK (resource IN ('products', 'customers', 'orders', 'checkouts')),
    -- queued | running | downloading | done | failed
    status            text NOT NULL DEFAULT 'queued',
    bulk_operation_id text NOT NULL DEFAULT '',
    result_url        text NOT NULL DEFAULT '',
    lines_done        bigint NOT NULL DEFAULT 0,
    rows_done         bigint NOT NULL DEFAULT 0,
    rows_total        bigint,
    errors            integer NOT NULL DEFAULT 0,
    last_error        text NOT NULL DEFAULT '',
    started_at        timestamptz NOT NULL DEFAULT now(),
    updated_at        timestamptz NOT NULL DEFAULT now(),
    finished_at       timestamptz
);
CREATE INDEX import_runs_shop_idx ON import_runs (shop_id, id DESC);

-- +goose Down
DROP TABLE import_runs;
DROP TABLE checkouts;
DROP TABLE customer_products;
DROP TABLE refunds;
DROP TABLE order_line_items;
DROP TABLE orders;
DROP TABLE collections;
DROP TABLE variants;
DROP TABLE products;
DROP TABLE consent_events;
DROP INDEX customers_list_idx, customers_consent_idx, customers_orders_idx, customers_country_idx,
    customers_tags_idx, customers_last_order_idx, customers_spent_idx;
ALTER TABLE customers
    DROP CONSTRAINT customers_consent_check,
    DROP CONSTRAINT customers_source_check,
    DROP COLUMN locale, DROP COLUMN country, DROP COLUMN city, DROP COLUMN tags,
    DROP COLUMN email_consent, DROP COLUMN email_opt_in_level, DROP COLUMN email_consent_updated_at,
    DROP COLUMN source, DROP COLUMN properties, DROP COLUMN shopify_created_at,
    DROP COLUMN shopify_updated_at, DROP COLUMN deleted_at, DROP COLUMN orders_count,
    DROP COLUMN total_spent, DROP COLUMN average_order_value, DROP COLUMN first_order_at,
    DROP COLUMN last_order_at;
