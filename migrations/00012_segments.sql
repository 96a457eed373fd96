-- +goose Up
-- Segments: a merchant's saved rule tree (app/segments.Rules as JSON) and its
-- materialised membership. Membership refresh fills segment_members and logs
-- entries/exits in segment_changes.

CREATE TABLE segments (
    id            bigserial PRIMARY KEY,
    shop_id       bigint NOT NULL REFERENCES shops (id) ON DELETE CASCADE,
    name          text NOT NULL CHECK (name <> ''),
    rules         jsonb NOT NULL,
    rules_version integer NOT NULL DEFAULT 1,
    preset_key    text,
    created_at    timestamptz NOT NULL DEFAULT now(),
    updated_at    timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX segments_shop_idx ON segments (shop_id, id DESC);
CREATE UNIQUE INDEX segments_preset_idx ON segments (shop_id, preset_key) WHERE preset_key IS NOT NULL;

CREATE TABLE segment_members (
    shop_id     bigint NOT NULL REFERENCES shops (id) ON DELETE CASCADE,
    segment_id  bigint NOT NULL REFERENCES segments (id) ON DELETE CASCADE,
    customer_id bigint NOT NULL REFERENCES customers (id) ON DELETE CASCADE,
    since       timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (segment_id, customer_id)
);
CREATE INDEX segment_members_customer_idx ON segment_members (customer_id);

CREATE TABLE segment_changes (
    id          bigserial PRIMARY KEY,
    shop_id     bigint NOT NULL REFERENCES shops (id) ON DELETE CASCADE,
    segment_id  bigint NOT NULL REFERENCES segments (id) ON DELETE CASCADE,
    customer_id bigint NOT NULL REFERENCES customers (id) ON DELETE CASCADE,
    change      text NOT NULL CHECK (change IN ('entered', 'exited')),
    at          timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX segment_changes_segment_idx ON segment_changes (segment_id, at);
CREATE INDEX segment_changes_customer_idx ON segment_changes (customer_id, at);

-- +goose Down
DROP TABLE segment_changes;
DROP TABLE segment_members;
DROP TABLE segments;
