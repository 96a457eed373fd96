-- +goose Up
-- Storefront events (web pixel, theme tracker, server-side wheel events) and
-- the first-party visitors they come from.
--
-- events is append-only and partitioned by month on occurred_at, so old
-- months can be detached or dropped without a long DELETE, and queries for a
-- time window only touch the months they need. The unique index has to
-- include the partition key: an event id is unique per shop and timestamp
-- (a retried batch repeats both, so duplicates are still caught).
CREATE TABLE events (
    shop_id     bigint NOT NULL REFERENCES shops (id) ON DELETE CASCADE,
    event_id    text NOT NULL,
    visitor_id  text NOT NULL DEFAULT '',
    -- Filled when the visitor is known (at insert, or back-filled when the
    -- visitor is identified). Erasing the profile erases its events.
    customer_id bigint REFERENCES customers (id) ON DELETE CASCADE,
    name        text NOT NULL,
    occurred_at timestamptz NOT NULL,
    received_at timestamptz NOT NULL DEFAULT now(),
    -- pixel | theme | server
    source      text NOT NULL CHECK (source IN ('pixel', 'theme', 'server')),
    url         text NOT NULL DEFAULT '',
    data        jsonb NOT NULL DEFAULT '{}'
) PARTITION BY RANGE (occurred_at);

CREATE UNIQUE INDEX events_dedup_idx ON events (shop_id, event_id, occurred_at);
CREATE INDEX events_visitor_idx ON events (shop_id, visitor_id, occurred_at);
-- Led by customer_id (ids are global) so the cascade from a redacted
-- profile finds its rows; queries still filter by shop.
CREATE INDEX events_customer_idx ON events (customer_id, occurred_at) WHERE customer_id IS NOT NULL;
CREATE INDEX events_shop_name_idx ON events (shop_id, name, occurred_at);

-- Safety net: an event whose month has no partition yet lands here instead
-- of failing the batch. events_ensure_month moves such rows out.
CREATE TABLE events_default PARTITION OF events DEFAULT;

-- events_ensure_month creates the partition for the UTC month of the given
-- year and month (events_YYYY_MM), moving any rows the default partition
-- holds for it. Idempotent and safe to call from several instances at once.
-- +goose StatementBegin
CREATE FUNCTION events_ensure_month(y integer, m integer) RETURNS boolean
LANGUAGE plpgsql AS $$
DECLARE
    lo   timestamptz := make_timestamptz(y, m, 1, 0, 0, 0, 'UTC');
    hi   timestamptz := make_timestamptz(CASE WHEN m = 12 THEN y + 1 ELSE y END,
                                         CASE WHEN m = 12 THEN 1 ELSE m + 1 END, 1, 0, 0, 0, 'UTC');
    part text := format('events_%s_%s', lpad(y::text, 4, '0'), lpad(m::text, 2, '0'));
BEGIN
    IF to_regclass(part) IS NOT NULL THEN
        RETURN false;
    END IF;
    -- Serialise creators; the second one finds the table and stops.
    PERFORM pg_advisory_xact_lock(hashtext('events_ensure_month'));
    IF to_regclass(part) IS NOT NULL THEN
        RETURN false;
    END IF;
    EXECUTE format('CREATE TABLE %I (LIKE events INCLUDING DEFAULTS INCLUDING CONSTRAINTS)', part);
    EXECUTE format('WITH moved AS (DELETE FROM events_default WHERE occurred_at >= %L AND occurred_at < %L RETURNING *)
                    INSERT INTO %I SELECT * FROM moved', lo, hi, part);
    EXECUTE format('ALTER TABLE events ATTACH PARTITION %I FOR VALUES FROM (%L) TO (%L)', part, lo, hi);
    RETURN true;
END
$$;
-- +goose StatementEnd

-- A window around now; the ingester ensures later months as time moves on.
SELECT events_ensure_month(extract(year FROM d)::int, extract(month FROM d)::int)
FROM generate_series(date_trunc('month', now() AT TIME ZONE 'UTC') - interval '2 months',
                     date_trunc('month', now() AT TIME ZONE 'UTC') + interval '3 months',
                     interval '1 month') AS d;

-- One row per first-party visitor id (cookie _cw_vid) per shop.
CREATE TABLE visitors (
    shop_id       bigint NOT NULL REFERENCES shops (id) ON DELETE CASCADE,
    visitor_id    text NOT NULL,
    customer_id   bigint REFERENCES customers (id) ON DELETE CASCADE,
    first_seen    timestamptz NOT NULL DEFAULT now(),
    last_seen     timestamptz NOT NULL DEFAULT now(),
    identified_at timestamptz,
    -- wheel | checkout | proxy_login | pixel_claim
    identified_by text CHECK (identified_by IN ('wheel', 'checkout', 'proxy_login', 'pixel_claim')),
    PRIMARY KEY (shop_id, visitor_id)
);
CREATE INDEX visitors_customer_idx ON visitors (customer_id) WHERE customer_id IS NOT NULL;

-- Storefront origins besides https://{shop}.myshopify.com (the primary
-- domain and other domains), for the CORS check on POST /ingest.
ALTER TABLE shops ADD COLUMN storefront_origins text[] NOT NULL DEFAULT '{}';
CREATE INDEX shops_storefront_origins_idx ON shops USING gin (storefront_origins);

-- A profile first seen as an email typed at checkout (checkout contact
-- info) is neither a Shopify customer yet nor a wheel signup.
ALTER TABLE customers DROP CONSTRAINT customers_source_check;
ALTER TABLE customers ADD CONSTRAINT customers_source_check CHECK (source IN ('shopify', 'wheel', 'import', 'checkout'));

-- +goose Down
ALTER TABLE customers DROP CONSTRAINT customers_source_check;
ALTER TABLE customers ADD CONSTRAINT customers_source_check CHECK (source IN ('shopify', 'wheel', 'import'));
DROP INDEX shops_storefront_origins_idx;
ALTER TABLE shops DROP COLUMN storefront_origins;
DROP TABLE visitors;
DROP TABLE events;
DROP FUNCTION events_ensure_month(integer, integer);
