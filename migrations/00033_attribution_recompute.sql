-- +goose Up
-- Recomputing past attribution after a window change (issue 13 §1). Only
-- app/reports writes these tables.

-- One row per shop that ever changed a window: the change being applied
-- (generation goes up with each change; a job that finds another
-- generation stops, so a second change restarts cleanly), the windows it
-- applies, the keyset cursor over the shop's customers (every order of a
-- customer at or below after_customer is decided by these windows) and the
-- progress shown to the merchant. finished_at is NULL while it runs.
CREATE TABLE attribution_recomputes (
    shop_id          bigint PRIMARY KEY REFERENCES shops (id) ON DELETE CASCADE,
    generation       bigint NOT NULL DEFAULT 1,
    click_days       integer NOT NULL,
    open_days        integer NOT NULL,
    after_customer   bigint NOT NULL DEFAULT 0,
    customers_total  bigint NOT NULL DEFAULT 0,
    customers_done   bigint NOT NULL DEFAULT 0,
    orders_done      bigint NOT NULL DEFAULT 0,
    started_at       timestamptz NOT NULL DEFAULT now(),
    finished_at      timestamptz,
    updated_at       timestamptz NOT NULL DEFAULT now()
);

-- The attributed orders and sales per day and scope (report_orders_daily
-- summed over slots) as they stood under the windows in force before a
-- recompute began: the reports read these while it runs, so they never
-- show a mix of two rules. Taken when a recompute starts from a finished
-- state, kept through restarts (they are still the last figures of one
-- rule), deleted when it finishes.
CREATE TABLE report_orders_frozen (
    shop_id  bigint NOT NULL REFERENCES shops (id) ON DELETE CASCADE,
    scope    text NOT NULL,
    scope_id bigint NOT NULL,
    variant  text NOT NULL,
    day      date NOT NULL,
    orders   bigint NOT NULL,
    sales    numeric(16, 2) NOT NULL,
    PRIMARY KEY (shop_id, scope, scope_id, variant, day)
);

-- +goose Down
DROP TABLE report_orders_frozen;
DROP TABLE attribution_recomputes;
