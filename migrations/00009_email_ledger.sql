-- +goose Up
-- The message ledger: one row per email, written BEFORE the provider is
-- called. UNIQUE (shop_id, dedupe_key) is what makes a send happen at most
-- once per (campaign, customer) or (flow run, step), even across crashed
-- workers and retried jobs. Dedupe keys look like "campaign:12:customer:34",
-- "flow_run:5:step:2", "test:<uuid>".
CREATE TABLE email_messages (
    id                  bigserial PRIMARY KEY,
    shop_id             bigint NOT NULL REFERENCES shops (id) ON DELETE CASCADE,
    -- NULL for test sends and system mail; kept (SET NULL) if the profile goes.
    customer_id         bigint REFERENCES customers (id) ON DELETE SET NULL,
    to_email            text NOT NULL,
    kind                text NOT NULL CHECK (kind IN ('campaign', 'flow', 'test', 'system')),
    dedupe_key          text NOT NULL CHECK (dedupe_key <> ''),
    subject             text NOT NULL DEFAULT '',
    -- The life of the message; see app/email/ledger for the ordering rule.
    status              text NOT NULL DEFAULT 'queued' CHECK (status IN (
                            'queued', 'sending', 'sent', 'delivered', 'deferred', 'bounced',
                            'dropped', 'opened', 'clicked', 'unsubscribed', 'complained',
                            'skipped', 'failed')),
    -- bounced: hard | soft (blocked); empty otherwise
    bounce_type         text NOT NULL DEFAULT '',
    skip_reason         text NOT NULL DEFAULT '',
    provider            text NOT NULL DEFAULT '',
    provider_message_id text,
    -- Original link targets in order, from the tracker (a click token may only
    -- lead to one of these).
    links               text[] NOT NULL DEFAULT '{}',
    -- Counts toward frequency caps and needs consent.
    marketing           boolean NOT NULL DEFAULT false,
    attempts            integer NOT NULL DEFAULT 0,
    last_error          text NOT NULL DEFAULT '',
    created_at          timestamptz NOT NULL DEFAULT now(),
    sending_at          timestamptz,
    sent_at             timestamptz,
    updated_at          timestamptz NOT NULL DEFAULT now(),
    UNIQUE (shop_id, dedupe_key)
);
-- Frequency caps: "a marketing email to this customer since T".
CREATE INDEX email_messages_cap_idx ON email_messages (shop_id, customer_id, sent_at)
    WHERE marketing AND sent_at IS NOT NULL;
-- Provider events come back with the provider's id.
CREATE INDEX email_messages_provider_id_idx ON email_messages (provider_message_id)
    WHERE provider_message_id IS NOT NULL;
CREATE INDEX email_messages_shop_idx ON email_messages (shop_id, id DESC);

-- The development outbox provider: the full message as it would have gone out,
-- viewable in the admin.
CREATE TABLE outbox_messages (
    id          bigserial PRIMARY KEY,
    message_id  bigint NOT NULL REFERENCES email_messages (id) ON DELETE CASCADE,
    shop_id     bigint NOT NULL REFERENCES shops (id) ON DELETE CASCADE,
    from_email  text NOT NULL DEFAULT '',
    to_email    text NOT NULL,
    subject     text NOT NULL DEFAULT '',
    headers     jsonb NOT NULL DEFAULT '{}',
    categories  text[] NOT NULL DEFAULT '{}',
    html        text NOT NULL DEFAULT '',
    text        text NOT NULL DEFAULT '',
    created_at  timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX outbox_messages_shop_idx ON outbox_messages (shop_id, id DESC);
CREATE INDEX outbox_messages_message_idx ON outbox_messages (message_id);

-- +goose Down
DROP TABLE outbox_messages;
DROP TABLE email_messages;
