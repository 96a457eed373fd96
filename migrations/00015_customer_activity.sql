-- +goose Up
-- Per-customer activity totals that segment rules read instead of scanning
-- every event and email of the shop: for each customer and activity (a
-- storefront event name, or email:received / email:open / email:click),
-- how many there were and the first and last time. "Viewed a product in the
-- last 30 days" becomes last_at >= …, one index range scan.
--
-- Derived data: app/segments rebuilds a customer's rows on every
-- incremental refresh (which every write of events or emails queues), and
-- the numbers are exactly what the raw tables give (opens and clicks count
-- messages, not events; machine activity is left out).
CREATE TABLE customer_activity (
    shop_id     bigint NOT NULL REFERENCES shops (id) ON DELETE CASCADE,
    customer_id bigint NOT NULL REFERENCES customers (id) ON DELETE CASCADE,
    name        text NOT NULL,
    n           integer NOT NULL,
    first_at    timestamptz NOT NULL,
    last_at     timestamptz NOT NULL,
    PRIMARY KEY (customer_id, name)
);
CREATE INDEX customer_activity_last_idx ON customer_activity (shop_id, name, last_at) INCLUDE (customer_id, n);

-- "Received / opened / clicked an email" and rebuilding one customer's
-- activity look up a customer's messages; the only index with customer_id
-- was the partial frequency-cap one. It also serves the ON DELETE SET NULL
-- from customers.
CREATE INDEX email_messages_customer_idx ON email_messages (customer_id, sent_at) WHERE customer_id IS NOT NULL;

-- Existing data (the same statement as app/segments.RebuildActivity).
INSERT INTO customer_activity (shop_id, customer_id, name, n, first_at, last_at)
SELECT e.shop_id, e.customer_id, e.name, count(*), min(e.occurred_at), max(e.occurred_at)
FROM events e WHERE e.customer_id IS NOT NULL GROUP BY e.shop_id, e.customer_id, e.name
UNION ALL
SELECT m.shop_id, m.customer_id, 'email:received', count(*), min(m.sent_at), max(m.sent_at)
FROM email_messages m WHERE m.customer_id IS NOT NULL AND m.kind IN ('campaign', 'flow') AND m.sent_at IS NOT NULL
GROUP BY m.shop_id, m.customer_id
UNION ALL
SELECT m.shop_id, m.customer_id, 'email:' || ev.kind, count(DISTINCT m.id), min(ev.occurred_at), max(ev.occurred_at)
FROM email_messages m JOIN email_events ev ON ev.message_id = m.id
WHERE m.customer_id IS NOT NULL AND NOT ev.machine AND ev.kind IN ('open', 'click')
GROUP BY m.shop_id, m.customer_id, ev.kind;

-- +goose Down
DROP INDEX email_messages_customer_idx;
DROP TABLE customer_activity;
