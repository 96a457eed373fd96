-- +goose Up
-- The recipient's timezone (an IANA name, '' = unknown: the shop's is used)
-- for waits, quiet hours and local-time sends. It is derived from the
-- address (country, and province/state where a country spans several
-- zones) or taken from an import's Timezone column.
ALTER TABLE customers ADD COLUMN province_code text NOT NULL DEFAULT '';
ALTER TABLE customers ADD COLUMN timezone text NOT NULL DEFAULT '';

-- Whether a profile import may start subscribed-trigger flows for the
-- people it newly subscribes (the merchant's choice on the import screen).
ALTER TABLE csv_imports ADD COLUMN start_flows boolean NOT NULL DEFAULT false;

-- +goose Down
ALTER TABLE csv_imports DROP COLUMN start_flows;
ALTER TABLE customers DROP COLUMN timezone;
ALTER TABLE customers DROP COLUMN province_code;
