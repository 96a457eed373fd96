-- +goose Up
-- Email templates as the block editor saves them (app/email/render.Template
-- as JSON), and "bought together" product pairs for product blocks.

CREATE TABLE email_templates (
    id          bigserial PRIMARY KEY,
    shop_id     bigint NOT NULL REFERENCES shops (id) ON DELETE CASCADE,
    name        text NOT NULL,
    locale      text NOT NULL CHECK (locale IN ('en', 'zh-CN')),
    -- The starter it was made from (welcome, abandoned_cart_1, …), or ''.
    starter_key text NOT NULL DEFAULT '',
    doc         jsonb NOT NULL,
    created_at  timestamptz NOT NULL DEFAULT now(),
    updated_at  timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX email_templates_shop_idx ON email_templates (shop_id, id DESC);

-- How often two products were bought in the same order (last 365 days),
-- the top pairs per product only; rebuilt per shop by the
-- email.refresh_pairs job.
CREATE TABLE product_pairs (
    shop_id      bigint NOT NULL REFERENCES shops (id) ON DELETE CASCADE,
    product_id   bigint NOT NULL,
    other_id     bigint NOT NULL,
    orders       integer NOT NULL,
    refreshed_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (shop_id, product_id, other_id)
);

-- +goose Down
DROP TABLE product_pairs;
DROP TABLE email_templates;
