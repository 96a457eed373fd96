-- +goose Up
-- The ledger learns what each email belongs to: structured source columns
-- that reports group by and that make "one email per (flow run, step)" and
-- "one per (campaign, customer)" a property of the table, not of a parsed
-- dedupe string. No foreign keys: flows and campaigns live in their own
-- tables, and a ledger row outlives what produced it.
ALTER TABLE email_messages
    ADD COLUMN flow_id          bigint,
    ADD COLUMN flow_version     integer,
    ADD COLUMN flow_run_id      bigint,
    -- The step's stable id in the flow definition (app/flows Step.ID).
    ADD COLUMN flow_step        text,
    ADD COLUMN campaign_id      bigint,
    ADD COLUMN campaign_variant text,
    ADD COLUMN template_id      bigint,
    -- Non-personal references the message is composed from at send time
    -- ({"checkout_token": "…", "discount_code": "…", "search": "…"}); the
    -- deliver job carries only message ids.
    ADD COLUMN context          jsonb NOT NULL DEFAULT '{}',
    ADD CONSTRAINT email_messages_flow_step_check CHECK ((flow_run_id IS NULL) = (flow_step IS NULL)),
    ADD CONSTRAINT email_messages_context_check CHECK (jsonb_typeof(context) = 'object');

-- Rows written before these columns: the dedupe keys flows and campaigns
-- used ("flow_run:5:step:2", "campaign:12:customer:34") say the same thing.
-- A campaign key whose customer differs from the row's (never written by the
-- app) is left alone rather than risk the unique index below.
UPDATE email_messages
SET flow_run_id = substring(dedupe_key FROM '^flow_run:([0-9]{1,18}):step:')::bigint,
    flow_step   = substring(dedupe_key FROM '^flow_run:[0-9]{1,18}:step:(.+)$')
WHERE kind = 'flow' AND dedupe_key ~ '^flow_run:[0-9]{1,18}:step:.+$';

UPDATE email_messages
SET campaign_id = substring(dedupe_key FROM '^campaign:([0-9]{1,18}):customer:')::bigint
WHERE kind = 'campaign' AND dedupe_key ~ '^campaign:[0-9]{1,18}:customer:[0-9]{1,18}$'
  AND (customer_id IS NULL OR customer_id = substring(dedupe_key FROM ':customer:([0-9]{1,18})$')::bigint);

-- At most one email per (flow run, step) and per (campaign, customer),
-- alongside the existing UNIQUE (shop_id, dedupe_key).
CREATE UNIQUE INDEX email_messages_flow_run_step_key ON email_messages (shop_id, flow_run_id, flow_step)
    WHERE flow_run_id IS NOT NULL;
CREATE UNIQUE INDEX email_messages_campaign_customer_key ON email_messages (shop_id, campaign_id, customer_id)
    WHERE campaign_id IS NOT NULL;
-- Reports: per flow (and version), per campaign variant, per template.
CREATE INDEX email_messages_flow_idx ON email_messages (shop_id, flow_id, flow_version)
    WHERE flow_id IS NOT NULL;
CREATE INDEX email_messages_campaign_variant_idx ON email_messages (shop_id, campaign_id, campaign_variant)
    WHERE campaign_id IS NOT NULL;
CREATE INDEX email_messages_template_idx ON email_messages (shop_id, template_id)
    WHERE template_id IS NOT NULL;

-- The retired "email.send" job carried rendered HTML and addresses in its
-- arguments; nothing enqueues it any more, and what is left of it must not
-- keep personal data in river_job (a redaction never reached it).
-- +goose StatementBegin
DO $$
BEGIN
    IF to_regclass('river_job') IS NOT NULL THEN
        DELETE FROM river_job WHERE kind = 'email.send';
    END IF;
END $$;
-- +goose StatementEnd

-- +goose Down
DROP INDEX email_messages_template_idx;
DROP INDEX email_messages_campaign_variant_idx;
DROP INDEX email_messages_flow_idx;
DROP INDEX email_messages_campaign_customer_key;
DROP INDEX email_messages_flow_run_step_key;
ALTER TABLE email_messages
    DROP CONSTRAINT email_messages_context_check,
    DROP CONSTRAINT email_messages_flow_step_check,
    DROP COLUMN context,
    DROP COLUMN template_id,
    DROP COLUMN campaign_variant,
    DROP COLUMN campaign_id,
    DROP COLUMN flow_step,
    DROP COLUMN flow_run_id,
    DROP COLUMN flow_version,
    DROP COLUMN flow_id;
