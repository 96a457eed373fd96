-- +goose Up
-- Storefront endpoints that strangers can't abuse.

-- Rate limit buckets shared by every app instance (app/ratelimit): one row
-- per (rule, key) holding a token bucket. UNLOGGED: no WAL on the hot path;
-- after a crash the table comes back empty, which only means every bucket
-- starts full again. Only the primary key is indexed so updates stay HOT;
-- the periodic purge scans the table for rows past expires_at (when the
-- bucket would be full again, so dropping the row changes nothing).
CREATE UNLOGGED TABLE rate_limits (
    key        text PRIMARY KEY,
    tokens     double precision NOT NULL,
    at         timestamptz NOT NULL,
    allowed    boolean NOT NULL,
    expires_at timestamptz NOT NULL
);

-- A storefront (pixel) event's claim that a visitor is in a checkout,
-- by the checkout's token. Unauthenticated, so never applied by itself:
-- the visitor is linked to a customer only when Shopify's signed
-- checkouts/create|update webhook names that token (app/events).
CREATE TABLE checkout_claims (
    shop_id    bigint NOT NULL REFERENCES shops (id) ON DELETE CASCADE,
    token      text NOT NULL,
    visitor_id text NOT NULL,
    claimed_at timestamptz NOT NULL DEFAULT now(),
    expires_at timestamptz NOT NULL,
    PRIMARY KEY (shop_id, token, visitor_id)
);
CREATE INDEX checkout_claims_expiry_idx ON checkout_claims (expires_at);

-- The customer a signed checkout webhook named for a token, kept as long as
-- claims are so a pixel event arriving after the webhook is linked at once.
CREATE TABLE checkout_confirmations (
    shop_id      bigint NOT NULL REFERENCES shops (id) ON DELETE CASCADE,
    token        text NOT NULL,
    customer_id  bigint NOT NULL REFERENCES customers (id) ON DELETE CASCADE,
    confirmed_at timestamptz NOT NULL DEFAULT now(),
    expires_at   timestamptz NOT NULL,
    PRIMARY KEY (shop_id, token)
);
CREATE INDEX checkout_confirmations_expiry_idx ON checkout_confirmations (expires_at);
CREATE INDEX checkout_confirmations_customer_idx ON checkout_confirmations (customer_id);

-- Wheel: the daily code cap counts a shop's codes of the last 24 hours;
-- email_code says the code goes to the shopper by email once it exists
-- (the merchant's "email the code" option, or a code Shopify could not
-- create while the shopper waited).
CREATE INDEX spins_codes_recent_idx ON spins (shop_id, created_at) WHERE code IS NOT NULL;
ALTER TABLE spins ADD COLUMN email_code boolean NOT NULL DEFAULT false;

-- +goose Down
ALTER TABLE spins DROP COLUMN email_code;
DROP INDEX spins_codes_recent_idx;
DROP TABLE checkout_confirmations;
DROP TABLE checkout_claims;
DROP TABLE rate_limits;
