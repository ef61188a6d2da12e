-- +goose Up
-- +goose StatementBegin
-- outbox.PublishedSchema from shared/outbox, verbatim (a test keeps them
-- equal). The relay moves each published row here instead of marking it in
-- place, so outbox holds only the backlog: marked rows left dead entries in
-- its partial index that every relay read walked until a VACUUM, which
-- with a day of rows in the table came hours apart. Rows marked in place
-- before this migration stay in outbox until pruned. To roll back, roll
-- the service back first, then migrate down: a relay of this version fails
-- every batch (and publishes it again) without this table.
CREATE TABLE IF NOT EXISTS outbox_published (
    seq          BIGINT NOT NULL,
    id           UUID NOT NULL,
    exchange     TEXT NOT NULL,
    routing_key  TEXT NOT NULL,
    aggregate_id TEXT NOT NULL,
    payload      JSONB NOT NULL,
    created_at   TIMESTAMPTZ NOT NULL,
    published_at TIMESTAMPTZ NOT NULL
);
CREATE INDEX IF NOT EXISTS outbox_published_at ON outbox_published (published_at);
-- +goose StatementEnd

-- +goose Down
-- +goose StatementBegin
DROP TABLE IF EXISTS outbox_published;
-- +goose StatementEnd
