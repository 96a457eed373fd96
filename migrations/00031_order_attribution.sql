-- +goose Up
-- Order attribution (issue 13 §1): each order a Cartwheel email earned, with
-- the reason, decided when the order arrives (the signals consumer's Reports
-- handler, app/reports) and kept at the order's paid total as it is refunded
-- or cancelled. Only app/reports writes these tables; orders stay written by
-- app/orders alone.

-- One row per attributed order: the touch that earned it (the last human
-- click within the click window before the order, else the last human open
-- within the open window), the window that applied, the email's source
-- (campaign + variant, or flow + version + step; template), and what the
-- rollups hold for it (amount = the paid total last counted, on day = the
-- order's day in the shop's timezone when it was decided, so later changes
-- land on the same day whatever the timezone becomes).
CREATE TABLE order_attributions (
    shop_id          bigint NOT NULL REFERENCES shops (id) ON DELETE CASCADE,
    order_id         bigint NOT NULL, -- orders.shopify_id
    customer_id      bigint REFERENCES customers (id) ON DELETE SET NULL,
    ordered_at       timestamptz NOT NULL,
    day              date NOT NULL,
    message_id       bigint NOT NULL,
    event_id         bigint NOT NULL,
    touch            text NOT NULL CHECK (touch IN ('click', 'open')),
    touched_at       timestamptz NOT NULL,
    window_days      integer NOT NULL,
    email_kind       text NOT NULL CHECK (email_kind IN ('campaign', 'flow')),
    campaign_id      bigint,
    campaign_variant text NOT NULL DEFAULT '',
    flow_id          bigint,
    flow_version     integer,
    flow_step        text NOT NULL DEFAULT '',
    template_id      bigint,
    currency         text NOT NULL DEFAULT '',
    amount           numeric(14, 2) NOT NULL,
    cancelled        boolean NOT NULL DEFAULT false,
    decided_at       timestamptz NOT NULL DEFAULT now(),
    updated_at       timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (shop_id, order_id),
    CHECK (touched_at <= ordered_at)
);
-- A report's latest attributed orders.
CREATE INDEX order_attributions_campaign_idx ON order_attributions (shop_id, campaign_id, ordered_at DESC)
    WHERE campaign_id IS NOT NULL;
CREATE INDEX order_attributions_flow_idx ON order_attributions (shop_id, flow_id, ordered_at DESC)
    WHERE flow_id IS NOT NULL;

-- Attributed orders and sales per day (the order's day in the shop's
-- timezone) and scope: 'campaign' (variant = the campaign's A/B variant,
-- '' = the rest), 'flow' (variant = the step's id), 'template' (variant
-- ''). Sales is the attributed orders' paid total (sales + tax + shipping −
-- discounts − refunds); a refund adds its negative change to the order's
-- day. slot spreads concurrent writers as in report_daily.
CREATE TABLE report_orders_daily (
    shop_id  bigint NOT NULL REFERENCES shops (id) ON DELETE CASCADE,
    scope    text NOT NULL CHECK (scope IN ('campaign', 'flow', 'template')),
    scope_id bigint NOT NULL,
    variant  text NOT NULL,
    day      date NOT NULL,
    slot     smallint NOT NULL,
    orders   bigint NOT NULL DEFAULT 0,
    sales    numeric(16, 2) NOT NULL DEFAULT 0,
    PRIMARY KEY (shop_id, scope, scope_id, variant, day, slot)
);

-- +goose Down
DROP TABLE report_orders_daily;
DROP TABLE order_attributions;
