-- +goose Up
-- Rollups of every email (issue 13 §2, §4), beside the campaign ones of
-- 00029: all email (the shop's total), per flow step and per template, per
-- day in the shop's timezone. Kept by the signals consumer's Reports
-- handler (app/reports/apply_email.go) from the same signals; only
-- app/reports writes these tables.

-- What has been counted of each campaign or flow message for these rollups
-- (report_messages stays the campaign rollups' own): the once-per-message
-- facts and the newest event applied, so a signal handed twice counts once.
CREATE TABLE report_email_messages (
    message_id   bigint PRIMARY KEY,
    shop_id      bigint NOT NULL REFERENCES shops (id) ON DELETE CASCADE,
    sent         boolean NOT NULL DEFAULT false,
    delivered    boolean NOT NULL DEFAULT false,
    bounced      boolean NOT NULL DEFAULT false,
    opened       boolean NOT NULL DEFAULT false,
    clicked      boolean NOT NULL DEFAULT false,
    unsubscribed boolean NOT NULL DEFAULT false,
    complained   boolean NOT NULL DEFAULT false,
    last_event   bigint NOT NULL DEFAULT 0
);

-- Daily counts per scope: 'all' (scope_id 0), 'flow' (scope_id the flow,
-- variant the step's id; a flow's total sums its steps), 'template'
-- (variant ''). Counted as in report_daily: each message once per fact on
-- the day of the event that made it true; clicks every human click. slot
-- as in report_daily.
CREATE TABLE report_email_daily (
    shop_id      bigint NOT NULL REFERENCES shops (id) ON DELETE CASCADE,
    scope        text NOT NULL CHECK (scope IN ('all', 'flow', 'template')),
    scope_id     bigint NOT NULL,
    variant      text NOT NULL,
    day          date NOT NULL,
    slot         smallint NOT NULL,
    sent         bigint NOT NULL DEFAULT 0,
    delivered    bigint NOT NULL DEFAULT 0,
    bounced      bigint NOT NULL DEFAULT 0,
    opened       bigint NOT NULL DEFAULT 0,
    clicked      bigint NOT NULL DEFAULT 0,
    clicks       bigint NOT NULL DEFAULT 0,
    unsubscribed bigint NOT NULL DEFAULT 0,
    complained   bigint NOT NULL DEFAULT 0,
    PRIMARY KEY (shop_id, scope, scope_id, variant, day, slot)
);

-- Unique customers per scope and day (rates per unique delivered customer
-- can't be summed over days: a range counts DISTINCT customer_id). A flag
-- is only ever set, so concurrent and repeated writers agree.
CREATE TABLE report_email_customers (
    shop_id      bigint NOT NULL REFERENCES shops (id) ON DELETE CASCADE,
    scope        text NOT NULL CHECK (scope IN ('all', 'flow', 'template')),
    scope_id     bigint NOT NULL,
    variant      text NOT NULL,
    day          date NOT NULL,
    customer_id  bigint NOT NULL,
    delivered    boolean NOT NULL DEFAULT false,
    unsubscribed boolean NOT NULL DEFAULT false,
    complained   boolean NOT NULL DEFAULT false,
    PRIMARY KEY (shop_id, scope, scope_id, variant, day, customer_id)
);

-- The table of every flow reads one scope's days across its ids.
CREATE INDEX report_email_daily_day_idx ON report_email_daily (shop_id, scope, day);
CREATE INDEX report_email_customers_day_idx ON report_email_customers (shop_id, scope, day);
-- Reports read every campaign's days of a range (and orders of every
-- campaign and flow): the same shape on the tables of 00029 and 00031.
CREATE INDEX report_daily_day_idx ON report_daily (shop_id, scope, day);
CREATE INDEX report_orders_daily_day_idx ON report_orders_daily (shop_id, scope, day);

-- +goose Down
DROP INDEX report_orders_daily_day_idx;
DROP INDEX report_daily_day_idx;
DROP TABLE report_email_customers;
DROP TABLE report_email_daily;
DROP TABLE report_email_messages;
