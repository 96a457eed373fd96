-- +goose Up
-- A run is one customer's way through one flow version. Its next wake-up
-- lives here; River jobs (flows.wake) are scheduled at the wake times and
-- execute every run of the shop that is due.
CREATE TABLE flow_runs (
    id           bigserial PRIMARY KEY,
    shop_id      bigint NOT NULL REFERENCES shops (id) ON DELETE CASCADE,
    flow_id      bigint NOT NULL REFERENCES flows (id) ON DELETE CASCADE,
    version      integer NOT NULL,
    -- Copied from the version at entry: the frequency cap compares it.
    priority     integer NOT NULL DEFAULT 0,
    customer_id  bigint NOT NULL REFERENCES customers (id) ON DELETE CASCADE,
    -- What started the run: a checkout or cart token, an order id, a
    -- segment id, a date ('' when the trigger has no object). At most one
    -- active run per (flow, customer, trigger object).
    trigger_ref  text NOT NULL DEFAULT '',
    -- active: waiting for wake_at; completed: reached the end of its steps;
    -- exited: an exit or a filter ended it; ended: the flow was turned off.
    status       text NOT NULL DEFAULT 'active' CHECK (status IN ('active', 'completed', 'exited', 'ended')),
    -- The step to execute at wake_at. '' with phase 'trigger': the trigger's
    -- own delay (abandonment "for N") is still running.
    step_id      text NOT NULL DEFAULT '',
    phase        text NOT NULL DEFAULT 'step' CHECK (phase IN ('trigger', 'step', 'wait', 'event')),
    wake_at      timestamptz,
    -- When the current step was first due: lateness and deferrals count
    -- from it.
    due_at       timestamptz,
    -- Non-personal references the run's emails are composed from
    -- (checkout_token, cart_token, search, product ids).
    context      jsonb NOT NULL DEFAULT '{}',
    started_at   timestamptz NOT NULL,
    ended_at     timestamptz,
    end_reason   text NOT NULL DEFAULT '',
    updated_at   timestamptz NOT NULL DEFAULT now()
);
CREATE UNIQUE INDEX flow_runs_one_active_idx ON flow_runs (shop_id, flow_id, customer_id, trigger_ref) WHERE status = 'active';
CREATE INDEX flow_runs_due_idx ON flow_runs (shop_id, wake_at) WHERE status = 'active';
CREATE INDEX flow_runs_customer_idx ON flow_runs (shop_id, customer_id, flow_id, started_at DESC);
CREATE INDEX flow_runs_flow_idx ON flow_runs (flow_id, step_id) WHERE status = 'active';

-- What happened at each step of each run: the per-step numbers and the
-- reasons for every skip and deferral.
-- Written at every step: only the run is a foreign key (deleting a shop, a
-- flow or a customer cascades through it), the other ids are copies.
CREATE TABLE flow_run_steps (
    id          bigserial PRIMARY KEY,
    shop_id     bigint NOT NULL,
    flow_id     bigint NOT NULL,
    run_id      bigint NOT NULL REFERENCES flow_runs (id) ON DELETE CASCADE,
    step_id     text NOT NULL,
    -- entered | sent | skipped | deferred | exited | branched | updated
    outcome     text NOT NULL,
    reason      text NOT NULL DEFAULT '',
    message_id  bigint,
    at          timestamptz NOT NULL
);
CREATE INDEX flow_run_steps_flow_idx ON flow_run_steps (flow_id, step_id, outcome);
CREATE INDEX flow_run_steps_run_idx ON flow_run_steps (run_id);

-- The frequency cap and the "no automation email in N days" filter read a
-- customer's recent marketing email at every flow send.
CREATE INDEX email_messages_customer_recent_idx ON email_messages (shop_id, customer_id, created_at DESC)
    WHERE customer_id IS NOT NULL AND marketing;

-- Date triggers: the local days already done per flow.
CREATE TABLE flow_date_checks (
    shop_id bigint NOT NULL REFERENCES shops (id) ON DELETE CASCADE,
    flow_id bigint NOT NULL REFERENCES flows (id) ON DELETE CASCADE,
    day     date NOT NULL,
    PRIMARY KEY (flow_id, day)
);

-- +goose Down
DROP INDEX email_messages_customer_recent_idx;
DROP TABLE flow_date_checks;
DROP TABLE flow_run_steps;
DROP TABLE flow_runs;
