-- +goose Up
-- The signup wheel. One wheel per shop for now (the unique index can be
-- dropped when shops get several); its configuration is a JSON document
-- validated in Go (app/wheel), so the editor can grow without migrations.
CREATE TABLE wheels (
    id         bigserial PRIMARY KEY,
    shop_id    bigint NOT NULL REFERENCES shops (id) ON DELETE CASCADE,
    enabled    boolean NOT NULL DEFAULT true,
    config     jsonb NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz NOT NULL DEFAULT now()
);
CREATE UNIQUE INDEX wheels_shop_idx ON wheels (shop_id);

-- One spin per email per wheel: email_key is the address trimmed and lower
-- cased, and the unique constraint is what makes concurrent spins with one
-- address safe. The code is chosen when the spin is recorded, so a retried
-- discount creation always asks Shopify for the same code. A spin belongs
-- to the profile it subscribed and is erased with it (customers/redact).
CREATE TABLE spins (
    id          bigserial PRIMARY KEY,
    shop_id     bigint NOT NULL REFERENCES shops (id) ON DELETE CASCADE,
    wheel_id    bigint NOT NULL REFERENCES wheels (id) ON DELETE CASCADE,
    email       text NOT NULL,
    email_key   text NOT NULL CHECK (email_key = lower(btrim(email))),
    customer_id bigint REFERENCES customers (id) ON DELETE CASCADE,
    visitor_id  text NOT NULL DEFAULT '',
    slice_index integer NOT NULL CHECK (slice_index >= 0),
    label       text NOT NULL DEFAULT '',
    prize_kind  text NOT NULL CHECK (prize_kind IN ('percentage', 'fixed_amount', 'free_shipping', 'none')),
    prize_value numeric(12, 2) NOT NULL DEFAULT 0,
    min_order   numeric(12, 2),
    code        text,
    code_status text NOT NULL CHECK (code_status IN ('pending', 'created', 'failed', 'none')),
    code_error  text NOT NULL DEFAULT '',
    discount_id text NOT NULL DEFAULT '',
    -- whether this spin changed the profile's consent to subscribed (a signup)
    subscribed  boolean NOT NULL DEFAULT false,
    expires_at  timestamptz,
    created_at  timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT spins_one_per_email UNIQUE (wheel_id, email_key),
    CHECK ((prize_kind = 'none') = (code IS NULL))
);
CREATE UNIQUE INDEX spins_code_idx ON spins (shop_id, code) WHERE code IS NOT NULL;
CREATE INDEX spins_visitor_idx ON spins (shop_id, visitor_id);
CREATE INDEX spins_customer_idx ON spins (customer_id);

-- +goose Down
DROP TABLE spins;
DROP TABLE wheels;
