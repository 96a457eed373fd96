-- +goose Up
-- The dashboard's lifecycle cards (issue 13 §3). Only app/lifecycle writes
-- these tables.

-- Member composition (seed 004) over time: the shop's profiles split into
-- prospects, first-time buyers, repeat buyers and lapsed customers, as of
-- 00:00 (shop time) of each day. A point needs every order before it, so
-- it is computed once by a periodic job (app/lifecycle, which alone writes
-- this table) and read by the dashboard; today's figures are live.
CREATE TABLE lifecycle_composition (
    shop_id     bigint NOT NULL REFERENCES shops (id) ON DELETE CASCADE,
    day         date NOT NULL,
    prospects   bigint NOT NULL,
    first_time  bigint NOT NULL,
    repeat      bigint NOT NULL,
    lapsed      bigint NOT NULL,
    computed_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (shop_id, day)
);

-- The lifecycle funnel (seed 001) of a 30-day window ending on last_day
-- (shop time). Computing one reads every prospect's activity, emails and
-- orders: seconds on a store of a million customers, so the dashboard
-- reads it from here. The job refreshes the window ending today hourly; a
-- window whose 30 days of follow-up have passed is final once computed
-- after them; any other window the card asks for is computed then and
-- kept for an hour.
CREATE TABLE lifecycle_funnel (
    shop_id     bigint NOT NULL REFERENCES shops (id) ON DELETE CASCADE,
    last_day    date NOT NULL,
    prospects   bigint NOT NULL,
    reached     bigint NOT NULL,
    engaged     bigint NOT NULL,
    ordered     bigint NOT NULL,
    repurchased bigint NOT NULL,
    computed_at timestamptz NOT NULL,
    PRIMARY KEY (shop_id, last_day)
);

-- +goose Down
DROP TABLE lifecycle_funnel;
DROP TABLE lifecycle_composition;
