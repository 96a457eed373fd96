-- +goose Up
-- Email tracking: opens, clicks and SendGrid's delivery events; the
-- soft-bounce streaks behind the suppression rule; sender email
-- verification.

-- One row per event about a message. Events from SendGrid carry their
-- sg_event_id (UNIQUE: a replayed delivery is ignored); our own open pixel and
-- click redirect leave it NULL.
CREATE TABLE email_events (
    id          bigserial PRIMARY KEY,
    shop_id     bigint NOT NULL REFERENCES shops (id) ON DELETE CASCADE,
    message_id  bigint NOT NULL REFERENCES email_messages (id) ON DELETE CASCADE,
    sg_event_id text UNIQUE,
    -- pixel | redirect | sendgrid
    source      text NOT NULL CHECK (source IN ('pixel', 'redirect', 'sendgrid')),
    -- open | click | processed | delivered | deferred | bounce | dropped |
    -- spamreport | unsubscribe | group_unsubscribe | group_resubscribe
    kind        text NOT NULL,
    link_index  integer,
    url         text NOT NULL DEFAULT '',
    -- SendGrid's bounce type (bounce | blocked) or drop/bounce reason.
    detail      text NOT NULL DEFAULT '',
    user_agent  text NOT NULL DEFAULT '',
    -- Truncated for privacy: IPv4 /24, IPv6 /48 (host part zeroed).
    ip          text NOT NULL DEFAULT '',
    -- Machine activity (Apple Mail Privacy Protection prefetch, link
    -- scanners): kept, flagged, excluded by reports.
    machine     boolean NOT NULL DEFAULT false,
    occurred_at timestamptz NOT NULL,
    recorded_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX email_events_message_idx ON email_events (message_id, kind, occurred_at);
CREATE INDEX email_events_shop_idx ON email_events (shop_id, occurred_at);

-- Consecutive soft bounces (SendGrid bounce type "blocked", or deferred)
-- per address without a delivery in between; 7 suppress the address.
CREATE TABLE email_soft_bounces (
    shop_id    bigint NOT NULL REFERENCES shops (id) ON DELETE CASCADE,
    email      text NOT NULL CHECK (email = lower(email)),
    streak     integer NOT NULL DEFAULT 0,
    updated_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (shop_id, email)
);

-- The merchant's sender email must be confirmed before anything is sent.
-- Only the SHA-256 of the emailed token is stored. A verification counts
-- only while the shop's current sender_email equals its email, so changing
-- the address in Settings makes the shop unverified again.
CREATE TABLE sender_verifications (
    id          bigserial PRIMARY KEY,
    shop_id     bigint NOT NULL REFERENCES shops (id) ON DELETE CASCADE,
    email       text NOT NULL,
    token_hash  bytea NOT NULL UNIQUE,
    sent_at     timestamptz NOT NULL,
    verified_at timestamptz
);
CREATE INDEX sender_verifications_shop_idx ON sender_verifications (shop_id, id DESC);

-- Suppression reasons added by this migration (suppressions.reason is free
-- text): hard_bounce, soft_bounces, complaint, dropped, unsubscribed, manual.

-- +goose Down
DROP TABLE sender_verifications;
DROP TABLE email_soft_bounces;
DROP TABLE email_events;
