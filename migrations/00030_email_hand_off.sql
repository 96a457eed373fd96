-- +goose Up
-- A delivery batch claims all its rows (queued → sending) in one
-- transaction, then hands them to the provider a chunk at a time.
-- hand_off_pending marks a claimed row not yet handed over: if its worker
-- dies, the sweep puts it back to queued (it certainly never reached the
-- provider) instead of failing it; a row handed over (false) is failed as
-- before, never resent.
ALTER TABLE email_messages ADD COLUMN hand_off_pending boolean NOT NULL DEFAULT false;

-- +goose Down
ALTER TABLE email_messages DROP COLUMN hand_off_pending;
