-- +goose Up
-- +goose StatementBegin
-- outbox.ProcessedSchema from shared/outbox, verbatim (a test keeps them
-- equal): the event ids consumers have applied, recorded in the same
-- transaction as the side effect.
CREATE TABLE IF NOT EXISTS processed_events (
    consumer     TEXT NOT NULL,
    event_id     TEXT NOT NULL,
    processed_at TIMESTAMPTZ NOT NULL DEFAULT now(),
    PRIMARY KEY (consumer, event_id)
);
CREATE INDEX IF NOT EXISTS processed_events_at ON processed_events (processed_at);
-- +goose StatementEnd
