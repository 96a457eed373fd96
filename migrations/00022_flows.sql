-- +goose Up
-- PLACEHOLDER in the engine branch: replaced by the flowui branch's 00022 at merge.
CREATE TABLE flows (
    id                bigserial PRIMARY KEY,
    shop_id           bigint NOT NULL REFERENCES shops (id) ON DELETE CASCADE,
    name              text NOT NULL DEFAULT '',
    status            text NOT NULL DEFAULT 'draft' CHECK (status IN ('draft', 'live', 'paused', 'off')),
    trigger_type      text NOT NULL DEFAULT '',
    preset_key        text NOT NULL DEFAULT '',
    draft             jsonb NOT NULL DEFAULT '{}',
    live_version      integer,
    created_at        timestamptz NOT NULL DEFAULT now(),
    updated_at        timestamptz NOT NULL DEFAULT now(),
    status_changed_at timestamptz NOT NULL DEFAULT now()
);
CREATE TABLE flow_versions (
    shop_id      bigint NOT NULL REFERENCES shops (id) ON DELETE CASCADE,
    flow_id      bigint NOT NULL REFERENCES flows (id) ON DELETE CASCADE,
    version      integer NOT NULL,
    definition   jsonb NOT NULL,
    published_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (flow_id, version)
);
ALTER TABLE shops ADD COLUMN quiet_hours_start text NOT NULL DEFAULT '', ADD COLUMN quiet_hours_end text NOT NULL DEFAULT '';
-- +goose Down
ALTER TABLE shops DROP COLUMN quiet_hours_start, DROP COLUMN quiet_hours_end;
DROP TABLE flow_versions;
DROP TABLE flows;
