-- +goose Up
-- Flows: the merchant's automations. A flow row holds the draft being edited
-- and points at the version that runs (live_version); each publish freezes
-- the definition in flow_versions, so runs stay on the version they entered
-- with while the draft moves on.
CREATE TABLE flows (
    id                bigserial PRIMARY KEY,
    shop_id           bigint NOT NULL REFERENCES shops (id) ON DELETE CASCADE,
    name              text NOT NULL CHECK (name <> ''),
    status            text NOT NULL DEFAULT 'draft' CHECK (status IN ('draft', 'live', 'paused', 'off')),
    trigger_type      text NOT NULL DEFAULT '',
    preset_key        text NOT NULL DEFAULT '',
    draft             jsonb NOT NULL,
    live_version      integer,
    created_at        timestamptz NOT NULL DEFAULT now(),
    updated_at        timestamptz NOT NULL DEFAULT now(),
    status_changed_at timestamptz NOT NULL DEFAULT now(),
    -- live and paused flows have a version to run or hold.
    CHECK (status IN ('draft', 'off') OR live_version IS NOT NULL)
);
-- The list pages newest first (keyset on id).
CREATE INDEX flows_shop_idx ON flows (shop_id, id DESC);
-- The engine looks up the live flows of a trigger type.
CREATE INDEX flows_live_idx ON flows (shop_id, trigger_type) WHERE status = 'live';

CREATE TABLE flow_versions (
    shop_id      bigint NOT NULL REFERENCES shops (id) ON DELETE CASCADE,
    flow_id      bigint NOT NULL REFERENCES flows (id) ON DELETE CASCADE,
    version      integer NOT NULL CHECK (version >= 1),
    definition   jsonb NOT NULL,
    published_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (flow_id, version)
);
CREATE INDEX flow_versions_shop_idx ON flow_versions (shop_id, flow_id);

-- Quiet hours for flow emails, in the recipient's timezone (else the shop's):
-- "HH:MM" each, both empty = off. A send due inside them waits for the end.
ALTER TABLE shops
    ADD COLUMN quiet_hours_start text NOT NULL DEFAULT ''
        CHECK (quiet_hours_start = '' OR quiet_hours_start ~ '^([01][0-9]|2[0-3]):[0-5][0-9]$'),
    ADD COLUMN quiet_hours_end text NOT NULL DEFAULT ''
        CHECK (quiet_hours_end = '' OR quiet_hours_end ~ '^([01][0-9]|2[0-3]):[0-5][0-9]$'),
    ADD CONSTRAINT shops_quiet_hours_both CHECK ((quiet_hours_start = '') = (quiet_hours_end = ''));
-- One marketing email per 16 hours from flows (campaigns count against it).
ALTER TABLE shops ALTER COLUMN marketing_cap_hours SET DEFAULT 16;

-- +goose Down
ALTER TABLE shops DROP CONSTRAINT shops_quiet_hours_both,
    DROP COLUMN quiet_hours_start, DROP COLUMN quiet_hours_end;
DROP TABLE flow_versions;
DROP TABLE flows;
