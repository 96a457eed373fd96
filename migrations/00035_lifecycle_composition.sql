-- +goose Up
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

-- +goose Down
DROP TABLE lifecycle_composition;
