-- +goose Up
-- Daily rollups of the dashboard (issue 13 §3, §4), per shop per day in the
-- shop's timezone, kept by the signals consumer's Reports handler
-- (app/reports/apply_dashboard.go); only app/reports writes these tables.
-- slot as in report_daily: concurrent writers add into rows of their own
-- slot, readers sum the slots.

-- Messages (every campaign and flow email) opened and clicked, each once,
-- on the day of the first human open (or click: a click is an open too) and
-- the first human click, by the hour of that event ('hour': key 0–23; the
-- weekday is the day's), its device ('device') and, for opens seen by the
-- pixel, its mail client ('client'). Counted when report_email_messages
-- says the message became opened or clicked, so its guard is that table's.
CREATE TABLE report_engagement_daily (
    shop_id bigint NOT NULL REFERENCES shops (id) ON DELETE CASCADE,
    day     date NOT NULL,
    dim     text NOT NULL CHECK (dim IN ('hour', 'device', 'client')),
    key     text NOT NULL,
    slot    smallint NOT NULL,
    opened  bigint NOT NULL DEFAULT 0,
    clicked bigint NOT NULL DEFAULT 0,
    PRIMARY KEY (shop_id, day, dim, key, slot)
);

-- What the subscriber rollup has counted of each profile: its consent and
-- deletion as last counted and the newest consent_events row applied, so a
-- signal handed twice counts nothing and the rollup's running total is the
-- number of subscribed, undeleted profiles.
CREATE TABLE report_subscriber_states (
    shop_id       bigint NOT NULL REFERENCES shops (id) ON DELETE CASCADE,
    customer_id   bigint NOT NULL,
    consent       text NOT NULL,
    deleted       boolean NOT NULL DEFAULT false,
    last_event    bigint NOT NULL DEFAULT 0,
    PRIMARY KEY (shop_id, customer_id)
);

-- Profiles that became subscribed (through the wheel among them) and that
-- stopped being subscribed (unsubscribed, any other state, or deleted) per
-- day. The sum of subscribed − unsubscribed up to a day is the list size
-- at its end.
CREATE TABLE report_subscribers_daily (
    shop_id      bigint NOT NULL REFERENCES shops (id) ON DELETE CASCADE,
    day          date NOT NULL,
    slot         smallint NOT NULL,
    subscribed   bigint NOT NULL DEFAULT 0,
    from_wheel   bigint NOT NULL DEFAULT 0,
    unsubscribed bigint NOT NULL DEFAULT 0,
    PRIMARY KEY (shop_id, day, slot)
);

-- Every order of the store (test orders aside) as the store rollup counted
-- it: its day in the shop's timezone when first counted and the paid total
-- last counted (as in order_attributions: total_price − total_refunded,
-- nothing when voided), so re-delivered signals add nothing.
CREATE TABLE report_store_orders (
    shop_id  bigint NOT NULL REFERENCES shops (id) ON DELETE CASCADE,
    order_id bigint NOT NULL, -- orders.shopify_id
    day      date NOT NULL,
    amount   numeric(14, 2) NOT NULL,
    PRIMARY KEY (shop_id, order_id)
);

-- The store's orders and their paid total per day (cancelled orders count
-- at what they still paid), for scale beside the attributed ones.
CREATE TABLE report_store_daily (
    shop_id bigint NOT NULL REFERENCES shops (id) ON DELETE CASCADE,
    day     date NOT NULL,
    slot    smallint NOT NULL,
    orders  bigint NOT NULL DEFAULT 0,
    sales   numeric(16, 2) NOT NULL DEFAULT 0,
    PRIMARY KEY (shop_id, day, slot)
);

-- Unique customers of all email over any range, without a DISTINCT over
-- the range's customer-days: for each customer and each day it was
-- delivered (unsubscribed, complained) an email, one count at (that day,
-- its previous such day; 1970-01-01 for none). The customers with such a
-- day in [from, to] are exactly those whose first day in it has its
-- previous day before from, so they number
--   sum(customers) WHERE day BETWEEN from AND to AND prev_day < from
-- which reads (days × distinct previous days) rows, not customers.
-- Kept from report_email_customers' 'all' rows (apply_email.go), which
-- are read per customer by the index below.
CREATE TABLE report_email_reach (
    shop_id   bigint NOT NULL REFERENCES shops (id) ON DELETE CASCADE,
    flag      text NOT NULL CHECK (flag IN ('delivered', 'unsubscribed', 'complained')),
    day       date NOT NULL,
    prev_day  date NOT NULL,
    slot      smallint NOT NULL,
    customers bigint NOT NULL DEFAULT 0,
    PRIMARY KEY (shop_id, flag, day, prev_day, slot)
);
CREATE INDEX report_email_customers_all_idx ON report_email_customers (shop_id, customer_id, day) WHERE scope = 'all';

-- backfill:begin
-- History for an existing install, from the raw rows, consistent with the
-- guards above so signals consumed after this count only what is new.
-- (app/reports tests run this section again against the live rollups.)

-- The shops' reporting zone as app/reports reads it (an unknown name: UTC).
CREATE TEMPORARY TABLE dash_zones ON COMMIT DROP AS
SELECT s.id AS shop_id, CASE WHEN EXISTS (SELECT 1 FROM pg_timezone_names n WHERE n.name = z.zone) THEN z.zone ELSE 'UTC' END AS zone
FROM shops s CROSS JOIN LATERAL (SELECT COALESCE(NULLIF(s.timezone, ''), NULLIF(s.iana_timezone, ''), 'UTC') AS zone) z;

-- Device() and Client() of app/reports/useragent.go.
-- +goose StatementBegin
CREATE FUNCTION pg_temp.cw_device(ua text) RETURNS text LANGUAGE sql IMMUTABLE AS $$
SELECT CASE
    WHEN l LIKE '%googleimageproxy%' OR l LIKE '%yahoomailproxy%' OR btrim(l, E' \t\n\r\f\v') = '' THEN 'unknown'
    WHEN l LIKE '%ipad%' OR l LIKE '%tablet%' OR (l LIKE '%android%' AND l NOT LIKE '%mobile%') THEN 'tablet'
    WHEN l LIKE '%iphone%' OR l LIKE '%ipod%' OR l LIKE '%android%' OR l LIKE '%mobile%' OR l LIKE '%windows phone%' THEN 'mobile'
    ELSE 'desktop' END
FROM (SELECT lower(ua) AS l) x
$$;
-- +goose StatementEnd
-- +goose StatementBegin
CREATE FUNCTION pg_temp.cw_client(ua text) RETURNS text LANGUAGE sql IMMUTABLE AS $$
SELECT CASE
    WHEN l LIKE '%googleimageproxy%' OR l LIKE '%gmail%' THEN 'Gmail'
    WHEN l LIKE '%yahoomailproxy%' OR l LIKE '%yahoo%' THEN 'Yahoo Mail'
    WHEN l LIKE '%outlook%' OR l LIKE '%ms-office%' OR l LIKE '%microsoft office%' OR l LIKE '%msoffice%' OR l LIKE '%windows-mail%' THEN 'Outlook'
    WHEN l LIKE '%thunderbird%' THEN 'Thunderbird'
    WHEN l LIKE '%samsungbrowser%' OR l LIKE '%samsung email%' THEN 'Samsung Email'
    WHEN l LIKE '%applewebkit%' AND (l LIKE '%iphone%' OR l LIKE '%ipad%' OR l LIKE '%macintosh%')
        AND l NOT LIKE '%safari%' AND l NOT LIKE '%chrome%' AND l NOT LIKE '%crios%' THEN 'Apple Mail'
    WHEN l LIKE '%chrome%' OR l LIKE '%firefox%' OR l LIKE '%safari%' OR l LIKE '%edg/%' THEN 'Web browser'
    ELSE 'Other' END
FROM (SELECT lower(ua) AS l) x
$$;
-- +goose StatementEnd

-- Every email sent before 00032 (or whose signals were never counted) gets
-- the every-email rollups of 00032, counted as apply_email.go counts: sent
-- on its sent day; delivered, bounced, opened (an open or a click),
-- clicked, unsubscribed and complained once, on the day of the first human
-- event (in id order) that made it so; every human click on its day; per
-- scope all, flow step and template, with the customers' flags. Its
-- report_email_messages row marks it counted up to its newest event, so a
-- signal still queued for it counts nothing more.
CREATE TEMPORARY TABLE dash_old ON COMMIT DROP AS
SELECT m.id, m.shop_id, m.customer_id, m.kind, m.flow_id, m.flow_step, m.template_id, (m.sent_at AT TIME ZONE z.zone)::date AS sent,
    f.delivered, f.bounced, f.opened, f.clicked, f.unsubscribed, f.complained, COALESCE(f.last_event, 0) AS last_event, z.zone
FROM email_messages m
JOIN dash_zones z ON z.shop_id = m.shop_id
LEFT JOIN LATERAL (
    SELECT max(e.id) AS last_event,
        ((array_agg(e.occurred_at ORDER BY e.id) FILTER (WHERE NOT e.machine
            AND e.kind IN ('delivered', 'open', 'click', 'unsubscribe', 'group_unsubscribe', 'spamreport')))[1] AT TIME ZONE z.zone)::date AS delivered,
        ((array_agg(e.occurred_at ORDER BY e.id) FILTER (WHERE NOT e.machine AND e.kind = 'bounce'))[1] AT TIME ZONE z.zone)::date AS bounced,
        ((array_agg(e.occurred_at ORDER BY e.id) FILTER (WHERE NOT e.machine AND e.kind IN ('open', 'click')))[1] AT TIME ZONE z.zone)::date AS opened,
        ((array_agg(e.occurred_at ORDER BY e.id) FILTER (WHERE NOT e.machine AND e.kind = 'click'))[1] AT TIME ZONE z.zone)::date AS clicked,
        ((array_agg(e.occurred_at ORDER BY e.id) FILTER (WHERE NOT e.machine
            AND e.kind IN ('unsubscribe', 'group_unsubscribe')))[1] AT TIME ZONE z.zone)::date AS unsubscribed,
        ((array_agg(e.occurred_at ORDER BY e.id) FILTER (WHERE NOT e.machine AND e.kind = 'spamreport'))[1] AT TIME ZONE z.zone)::date AS complained
    FROM email_events e WHERE e.message_id = m.id
) f ON true
WHERE m.kind IN ('campaign', 'flow') AND m.sent_at IS NOT NULL
  AND NOT EXISTS (SELECT 1 FROM report_email_messages s WHERE s.message_id = m.id);

INSERT INTO report_email_messages (message_id, shop_id, sent, delivered, bounced, opened, clicked, unsubscribed, complained, last_event)
SELECT id, shop_id, true, delivered IS NOT NULL, bounced IS NOT NULL, opened IS NOT NULL, clicked IS NOT NULL,
    unsubscribed IS NOT NULL, complained IS NOT NULL, last_event
FROM dash_old;

INSERT INTO report_email_daily AS t (shop_id, scope, scope_id, variant, day, slot, sent, delivered, bounced, opened, clicked, clicks,
    unsubscribed, complained)
SELECT o.shop_id, s.scope, s.scope_id, s.variant, x.day, 0, sum(x.sent), sum(x.delivered), sum(x.bounced), sum(x.opened), sum(x.clicked),
    sum(x.clicks), sum(x.unsubscribed), sum(x.complained)
FROM dash_old o
CROSS JOIN LATERAL (
    VALUES (o.sent, 1, 0, 0, 0, 0, 0, 0, 0), (o.delivered, 0, 1, 0, 0, 0, 0, 0, 0), (o.bounced, 0, 0, 1, 0, 0, 0, 0, 0),
           (o.opened, 0, 0, 0, 1, 0, 0, 0, 0), (o.clicked, 0, 0, 0, 0, 1, 0, 0, 0), (o.unsubscribed, 0, 0, 0, 0, 0, 0, 1, 0),
           (o.complained, 0, 0, 0, 0, 0, 0, 0, 1)
    UNION ALL
    SELECT (e.occurred_at AT TIME ZONE o.zone)::date, 0, 0, 0, 0, 0, 1, 0, 0
    FROM email_events e WHERE e.message_id = o.id AND e.kind = 'click' AND NOT e.machine
) AS x(day, sent, delivered, bounced, opened, clicked, clicks, unsubscribed, complained)
CROSS JOIN LATERAL (VALUES ('all', 0::bigint, ''), ('flow', CASE WHEN o.kind = 'flow' THEN o.flow_id END, COALESCE(o.flow_step, '')),
    ('template', o.template_id, '')) AS s(scope, scope_id, variant)
WHERE x.day IS NOT NULL AND s.scope_id IS NOT NULL
GROUP BY 1, 2, 3, 4, 5
ON CONFLICT (shop_id, scope, scope_id, variant, day, slot) DO UPDATE SET
    sent = t.sent + excluded.sent, delivered = t.delivered + excluded.delivered, bounced = t.bounced + excluded.bounced,
    opened = t.opened + excluded.opened, clicked = t.clicked + excluded.clicked, clicks = t.clicks + excluded.clicks,
    unsubscribed = t.unsubscribed + excluded.unsubscribed, complained = t.complained + excluded.complained;

INSERT INTO report_email_customers AS t (shop_id, scope, scope_id, variant, day, customer_id, delivered, unsubscribed, complained)
SELECT o.shop_id, s.scope, s.scope_id, s.variant, x.day, o.customer_id, bool_or(x.d), bool_or(x.u), bool_or(x.c)
FROM dash_old o
CROSS JOIN LATERAL (VALUES (o.delivered, true, false, false), (o.unsubscribed, false, true, false), (o.complained, false, false, true))
    AS x(day, d, u, c)
CROSS JOIN LATERAL (VALUES ('all', 0::bigint, ''), ('flow', CASE WHEN o.kind = 'flow' THEN o.flow_id END, COALESCE(o.flow_step, '')),
    ('template', o.template_id, '')) AS s(scope, scope_id, variant)
WHERE o.customer_id IS NOT NULL AND x.day IS NOT NULL AND s.scope_id IS NOT NULL
GROUP BY 1, 2, 3, 4, 5, 6
ON CONFLICT (shop_id, scope, scope_id, variant, day, customer_id) DO UPDATE SET
    delivered = t.delivered OR excluded.delivered, unsubscribed = t.unsubscribed OR excluded.unsubscribed,
    complained = t.complained OR excluded.complained;

-- Engagement: the event that made each counted message opened (its first
-- human open or click among the events already applied) and clicked.
INSERT INTO report_engagement_daily AS t (shop_id, day, dim, key, slot, opened, clicked)
SELECT f.shop_id, (f.occurred_at AT TIME ZONE z.zone)::date, d.dim, d.key, 0, sum(f.o), sum(f.c)
FROM (
    SELECT DISTINCT ON (s.message_id) s.shop_id, e.kind, e.user_agent, e.occurred_at, 1 AS o, 0 AS c
    FROM report_email_messages s
    JOIN email_events e ON e.message_id = s.message_id AND e.id <= s.last_event AND NOT e.machine AND e.kind IN ('open', 'click')
    WHERE s.opened
    ORDER BY s.message_id, e.id
) f
JOIN dash_zones z ON z.shop_id = f.shop_id
CROSS JOIN LATERAL (VALUES ('hour', extract(hour FROM f.occurred_at AT TIME ZONE z.zone)::int::text),
    ('device', pg_temp.cw_device(f.user_agent)),
    ('client', CASE WHEN f.kind = 'open' THEN pg_temp.cw_client(f.user_agent) END)) AS d(dim, key)
WHERE d.key IS NOT NULL
GROUP BY 1, 2, 3, 4
ON CONFLICT (shop_id, day, dim, key, slot) DO UPDATE SET opened = t.opened + excluded.opened, clicked = t.clicked + excluded.clicked;

INSERT INTO report_engagement_daily AS t (shop_id, day, dim, key, slot, opened, clicked)
SELECT f.shop_id, (f.occurred_at AT TIME ZONE z.zone)::date, d.dim, d.key, 0, 0, count(*)
FROM (
    SELECT DISTINCT ON (s.message_id) s.shop_id, e.user_agent, e.occurred_at
    FROM report_email_messages s
    JOIN email_events e ON e.message_id = s.message_id AND e.id <= s.last_event AND NOT e.machine AND e.kind = 'click'
    WHERE s.clicked
    ORDER BY s.message_id, e.id
) f
JOIN dash_zones z ON z.shop_id = f.shop_id
CROSS JOIN LATERAL (VALUES ('hour', extract(hour FROM f.occurred_at AT TIME ZONE z.zone)::int::text),
    ('device', pg_temp.cw_device(f.user_agent))) AS d(dim, key)
GROUP BY 1, 2, 3, 4
ON CONFLICT (shop_id, day, dim, key, slot) DO UPDATE SET opened = t.opened + excluded.opened, clicked = t.clicked + excluded.clicked;

-- Subscribers: each profile's consent history replayed in id order (as the
-- handler does), then its current consent where no history says how it got
-- there (on the day it was last set), then its deletion; the states are
-- the current ones, so the running total is today's list size.
CREATE TEMPORARY TABLE dash_consent ON COMMIT DROP AS
SELECT e.shop_id, e.customer_id, e.id, e.state, e.source, e.occurred_at,
    lag(e.state) OVER (PARTITION BY e.shop_id, e.customer_id ORDER BY e.id) AS prev
FROM consent_events e;

INSERT INTO report_subscriber_states (shop_id, customer_id, consent, deleted, last_event)
SELECT c.shop_id, c.id, c.email_consent, c.deleted_at IS NOT NULL,
    COALESCE((SELECT max(x.id) FROM consent_events x WHERE x.shop_id = c.shop_id AND x.customer_id = c.id), 0)
FROM customers c
ON CONFLICT (shop_id, customer_id) DO NOTHING;

INSERT INTO report_subscribers_daily AS t (shop_id, day, slot, subscribed, from_wheel, unsubscribed)
SELECT x.shop_id, (x.at AT TIME ZONE z.zone)::date, 0, count(*) FILTER (WHERE x.joined),
    count(*) FILTER (WHERE x.joined AND x.wheel), count(*) FILTER (WHERE NOT x.joined)
FROM (
    -- the history's changes in and out of subscribed
    SELECT e.shop_id, e.occurred_at AS at, e.state = 'subscribed' AS joined, e.source = 'wheel' AS wheel
    FROM dash_consent e
    WHERE (e.state = 'subscribed') <> (COALESCE(e.prev, 'not_subscribed') = 'subscribed')
    UNION ALL
    -- the profile's consent where its history ends elsewhere (or has none)
    SELECT c.shop_id, COALESCE(c.email_consent_updated_at, c.created_at), c.email_consent = 'subscribed', false
    FROM customers c
    LEFT JOIN LATERAL (SELECT e.state FROM consent_events e WHERE e.shop_id = c.shop_id AND e.customer_id = c.id
        ORDER BY e.id DESC LIMIT 1) h ON true
    WHERE (c.email_consent = 'subscribed') <> (COALESCE(h.state, 'not_subscribed') = 'subscribed')
    UNION ALL
    -- deleted while subscribed
    SELECT c.shop_id, c.deleted_at, false, false
    FROM customers c WHERE c.deleted_at IS NOT NULL AND c.email_consent = 'subscribed'
) x
JOIN dash_zones z ON z.shop_id = x.shop_id
GROUP BY 1, 2
ON CONFLICT (shop_id, day, slot) DO UPDATE SET subscribed = t.subscribed + excluded.subscribed,
    from_wheel = t.from_wheel + excluded.from_wheel, unsubscribed = t.unsubscribed + excluded.unsubscribed;

-- Store orders: every order with a time, test orders aside.
INSERT INTO report_store_orders (shop_id, order_id, day, amount)
SELECT o.shop_id, o.shopify_id, (COALESCE(o.processed_at, o.shopify_created_at) AT TIME ZONE z.zone)::date,
    CASE WHEN o.financial_status = 'voided' THEN 0 ELSE o.total_price - o.total_refunded END
FROM orders o JOIN dash_zones z ON z.shop_id = o.shop_id
WHERE NOT o.test AND COALESCE(o.processed_at, o.shopify_created_at) IS NOT NULL
ON CONFLICT (shop_id, order_id) DO NOTHING;

INSERT INTO report_store_daily AS t (shop_id, day, slot, orders, sales)
SELECT shop_id, day, 0, count(*), sum(amount) FROM report_store_orders GROUP BY 1, 2
ON CONFLICT (shop_id, day, slot) DO UPDATE SET orders = t.orders + excluded.orders, sales = t.sales + excluded.sales;

-- reach:begin
INSERT INTO report_email_reach AS t (shop_id, flag, day, prev_day, slot, customers)
SELECT shop_id, flag, day, COALESCE(prev, date '1970-01-01'), 0, count(*)
FROM (
    SELECT c.shop_id, f.flag, c.day, lag(c.day) OVER (PARTITION BY c.shop_id, f.flag, c.customer_id ORDER BY c.day) AS prev
    FROM report_email_customers c
    CROSS JOIN LATERAL (VALUES ('delivered', c.delivered), ('unsubscribed', c.unsubscribed), ('complained', c.complained)) AS f(flag, set)
    WHERE c.scope = 'all' AND f.set
) x
GROUP BY 1, 2, 3, 4
ON CONFLICT (shop_id, flag, day, prev_day, slot) DO UPDATE SET customers = t.customers + excluded.customers;
-- reach:end

DROP FUNCTION pg_temp.cw_device(text);
DROP FUNCTION pg_temp.cw_client(text);
-- backfill:end

-- +goose Down
DROP INDEX report_email_customers_all_idx;
DROP TABLE report_email_reach;
DROP TABLE report_store_daily;
DROP TABLE report_store_orders;
DROP TABLE report_subscribers_daily;
DROP TABLE report_subscriber_states;
DROP TABLE report_engagement_daily;
