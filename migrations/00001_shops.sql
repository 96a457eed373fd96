-- +goose Up
-- One row per store that ever installed Cartwheel. Settings live on the row:
-- they are one-to-one with the shop and read on every send.
CREATE TABLE shops (
    id                     bigserial PRIMARY KEY,
    domain                 text NOT NULL UNIQUE
                           CHECK (domain ~ '^[a-z0-9][a-z0-9-]*\.myshopify\.com$'),
    name                   text NOT NULL DEFAULT '',
    email                  text NOT NULL DEFAULT '',
    -- AES-256-GCM sealed offline token (see app/secretbox); NULL when uninstalled.
    access_token_enc       bytea,
    scopes                 text NOT NULL DEFAULT '',
    installed_at           timestamptz,
    uninstalled_at         timestamptz,
    iana_timezone          text NOT NULL DEFAULT 'UTC',
    currency               text NOT NULL DEFAULT 'USD',
    plan                   text NOT NULL DEFAULT '',
    webhooks_checked_at    timestamptz,

    sender_name            text NOT NULL DEFAULT '',
    sender_email           text NOT NULL DEFAULT '',
    reply_to               text NOT NULL DEFAULT '',
    postal_address         text NOT NULL DEFAULT '',
    -- Empty means "follow the shop's own timezone from Shopify".
    timezone               text NOT NULL DEFAULT '',
    attribution_click_days integer NOT NULL DEFAULT 5 CHECK (attribution_click_days BETWEEN 1 AND 90),
    attribution_open_days  integer NOT NULL DEFAULT 1 CHECK (attribution_open_days BETWEEN 0 AND 90),
    marketing_cap_hours    integer NOT NULL DEFAULT 16 CHECK (marketing_cap_hours BETWEEN 0 AND 720),
    automation_skip_days   integer NOT NULL DEFAULT 7 CHECK (automation_skip_days BETWEEN 0 AND 90),

    created_at             timestamptz NOT NULL DEFAULT now(),
    updated_at             timestamptz NOT NULL DEFAULT now()
);

-- Legacy OAuth state nonces: single use, short lived, bound to one shop.
CREATE TABLE oauth_states (
    nonce      text PRIMARY KEY,
    shop       text NOT NULL,
    expires_at timestamptz NOT NULL
);

-- +goose Down
DROP TABLE oauth_states;
DROP TABLE shops;
