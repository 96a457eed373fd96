-- +goose Up
-- Reports (issue 12 §4, the start of issue 13): rollups kept current from
-- the signal stream (app/reports, the consumer's Reports handler), so a
-- report reads a few hundred rows instead of a campaign's millions of
-- messages and events. Only app/reports writes these tables.

-- What has been counted of each message: the once-per-message facts and the
-- newest event applied (events of one message reach the handler in id
-- order, so an event at or below last_event is one already counted — a
-- signal handed twice counts once). The links a message has clicked make
-- "unique clickers per link".
CREATE TABLE report_messages (
    message_id   bigint PRIMARY KEY,
    shop_id      bigint NOT NULL REFERENCES shops (id) ON DELETE CASCADE,
    scope        text NOT NULL,
    scope_id     bigint NOT NULL,
    variant      text NOT NULL DEFAULT '',
    sent         boolean NOT NULL DEFAULT false,
    delivered    boolean NOT NULL DEFAULT false,
    bounce       text NOT NULL DEFAULT '' CHECK (bounce IN ('', 'hard', 'soft')),
    dropped      boolean NOT NULL DEFAULT false,
    opened       boolean NOT NULL DEFAULT false,
    clicked      boolean NOT NULL DEFAULT false,
    unsubscribed boolean NOT NULL DEFAULT false,
    complained   boolean NOT NULL DEFAULT false,
    links        text[] NOT NULL DEFAULT '{}',
    last_event   bigint NOT NULL DEFAULT 0
);

-- Daily counts per (scope, variant), the day in the shop's timezone when
-- it happened. scope is 'campaign' today; issue 13 adds 'flow' (variant =
-- step), 'template' and the shop's total. slot spreads concurrent writers
-- over separate rows: each consumer transaction holds one slot of the shop
-- (an advisory lock) and writes only its rows, so writers never wait for
-- each other's row locks and additions are exact; readers sum the slots.
CREATE TABLE report_daily (
    shop_id      bigint NOT NULL REFERENCES shops (id) ON DELETE CASCADE,
    scope        text NOT NULL CHECK (scope IN ('campaign')),
    scope_id     bigint NOT NULL,
    variant      text NOT NULL,
    day          date NOT NULL,
    slot         smallint NOT NULL,
    sent         bigint NOT NULL DEFAULT 0,
    delivered    bigint NOT NULL DEFAULT 0,
    bounced_hard bigint NOT NULL DEFAULT 0,
    bounced_soft bigint NOT NULL DEFAULT 0,
    dropped      bigint NOT NULL DEFAULT 0,
    opened       bigint NOT NULL DEFAULT 0, -- messages (first human open or click)
    clicked      bigint NOT NULL DEFAULT 0, -- messages (first human click)
    clicks       bigint NOT NULL DEFAULT 0, -- every human click
    opens        bigint NOT NULL DEFAULT 0, -- every human open
    unsubscribed bigint NOT NULL DEFAULT 0,
    complained   bigint NOT NULL DEFAULT 0,
    PRIMARY KEY (shop_id, scope, scope_id, variant, day, slot)
);

-- Engagement broken down per scope: dim is 'since' (hours from the
-- message's sending, key '0'…'71', '72' = later), 'weekhour' (key 'D:H' in
-- the shop's timezone, D 0 = Sunday), 'device', 'client' (opens only) and
-- 'link' (key the link's URL, clicks only). opened/clicked count messages
-- once (their first open or click, or first click of that link).
CREATE TABLE report_breakdowns (
    shop_id  bigint NOT NULL REFERENCES shops (id) ON DELETE CASCADE,
    scope    text NOT NULL CHECK (scope IN ('campaign')),
    scope_id bigint NOT NULL,
    dim      text NOT NULL CHECK (dim IN ('since', 'weekhour', 'device', 'client', 'link')),
    key      text NOT NULL,
    slot     smallint NOT NULL,
    opens    bigint NOT NULL DEFAULT 0,
    opened   bigint NOT NULL DEFAULT 0,
    clicks   bigint NOT NULL DEFAULT 0,
    clicked  bigint NOT NULL DEFAULT 0,
    PRIMARY KEY (shop_id, scope, scope_id, dim, key, slot)
);

-- A campaign's audience per variant (holdout included) as snapshotted;
-- fixed once the snapshot is taken, so counted once, on the first report.
CREATE TABLE report_campaign_audience (
    shop_id     bigint NOT NULL REFERENCES shops (id) ON DELETE CASCADE,
    campaign_id bigint NOT NULL,
    variant     text NOT NULL,
    recipients  bigint NOT NULL,
    PRIMARY KEY (shop_id, campaign_id, variant)
);

-- Unsubscribes from the email's own page (and RFC 8058 one-click) are
-- events of their message too, so reports count them per message.
ALTER TABLE email_events DROP CONSTRAINT email_events_source_check;
ALTER TABLE email_events ADD CONSTRAINT email_events_source_check
    CHECK (source IN ('pixel', 'redirect', 'sendgrid', 'page'));

-- +goose Down
DELETE FROM email_events WHERE source = 'page';
ALTER TABLE email_events DROP CONSTRAINT email_events_source_check;
ALTER TABLE email_events ADD CONSTRAINT email_events_source_check
    CHECK (source IN ('pixel', 'redirect', 'sendgrid'));
DROP TABLE report_campaign_audience;
DROP TABLE report_breakdowns;
DROP TABLE report_daily;
DROP TABLE report_messages;
