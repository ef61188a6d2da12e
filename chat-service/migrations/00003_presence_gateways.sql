-- +goose Up
-- +goose StatementBegin
-- The time of the newest heartbeat applied per gateway: a retried or
-- delayed older heartbeat must not overwrite a newer user set.
CREATE TABLE presence_gateways (
    gateway_id TEXT PRIMARY KEY,
    sent_at    TIMESTAMPTZ NOT NULL
);
-- +goose StatementEnd
