-- +goose Up
-- Customers in the admin: search, suppressions, CSV imports.

-- Substring search on email and name. pg_trgm is a trusted extension, so
-- the database owner can create it without superuser rights.
CREATE EXTENSION IF NOT EXISTS pg_trgm;
CREATE INDEX customers_search_idx ON customers
    USING gin ((lower(COALESCE(email, '') || ' ' || first_name || ' ' || last_name)) gin_trgm_ops)
    WHERE deleted_at IS NULL;

-- Addresses that must never be mailed, whatever their consent says: checked
-- at send time. Emails are stored lower-cased.
CREATE TABLE suppressions (
    shop_id    bigint NOT NULL REFERENCES shops (id) ON DELETE CASCADE,
    email      text NOT NULL CHECK (email = lower(email)),
    -- unsubscribed | bounced | complaint | manual | cleaned | other
    reason     text NOT NULL DEFAULT 'manual',
    -- import | manual | bounce | complaint | unsubscribe
    source     text NOT NULL DEFAULT 'manual',
    created_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (shop_id, email)
);

-- A CSV upload and its import. The file itself is kept in chunks in the
-- database (any instance's worker can read it; no shared disk) and dropped
-- once the import is done.
CREATE TABLE csv_imports (
    id           bigserial PRIMARY KEY,
    shop_id      bigint NOT NULL REFERENCES shops (id) ON DELETE CASCADE,
    -- profiles | suppressions
    kind         text NOT NULL CHECK (kind IN ('profiles', 'suppressions')),
    -- klaviyo | mailchimp | generic
    format       text NOT NULL,
    filename     text NOT NULL DEFAULT '',
    separator    text NOT NULL DEFAULT ',',
    header       text[] NOT NULL,
    -- column index (as text) -> target field name
    mapping      jsonb NOT NULL DEFAULT '{}',
    sample       jsonb NOT NULL DEFAULT '[]',
    bytes_total  bigint NOT NULL DEFAULT 0,
    rows_total   bigint NOT NULL DEFAULT 0,
    rows_done    bigint NOT NULL DEFAULT 0,
    rows_created bigint NOT NULL DEFAULT 0,
    rows_updated bigint NOT NULL DEFAULT 0,
    rows_rejected bigint NOT NULL DEFAULT 0,
    -- uploaded | queued | running | done | failed
    status       text NOT NULL DEFAULT 'uploaded',
    error        text NOT NULL DEFAULT '',
    created_at   timestamptz NOT NULL DEFAULT now(),
    updated_at   timestamptz NOT NULL DEFAULT now(),
    finished_at  timestamptz
);
CREATE INDEX csv_imports_shop_idx ON csv_imports (shop_id, id DESC);

CREATE TABLE csv_import_chunks (
    import_id bigint NOT NULL REFERENCES csv_imports (id) ON DELETE CASCADE,
    seq       integer NOT NULL,
    data      bytea NOT NULL,
    PRIMARY KEY (import_id, seq)
);

-- Rows an import refused, with the reason: the downloadable report.
CREATE TABLE csv_import_rejects (
    import_id bigint NOT NULL REFERENCES csv_imports (id) ON DELETE CASCADE,
    line      bigint NOT NULL,
    email     text NOT NULL DEFAULT '',
    reason    text NOT NULL,
    PRIMARY KEY (import_id, line)
);

-- +goose Down
DROP TABLE csv_import_rejects;
DROP TABLE csv_import_chunks;
DROP TABLE csv_imports;
DROP TABLE suppressions;
DROP INDEX customers_search_idx;
