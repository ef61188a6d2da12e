-- +goose Up
-- Profiles are created from auth.user.registered.v1 events; user_id is the
-- account's id in auth-service and username its (immutable) copy.
CREATE TABLE profiles (
    user_id      UUID PRIMARY KEY,
    username     TEXT NOT NULL,
    display_name TEXT NOT NULL,
    bio          TEXT NOT NULL DEFAULT '',
    avatar_url   TEXT,
    created_at   TIMESTAMPTZ NOT NULL,
    updated_at   TIMESTAMPTZ NOT NULL
);

-- Directory search: a prefix of the username or of the display name,
-- case-insensitively, in username order.
-- Username: one index serves the prefix range (LIKE 'abc%' can use a btree
-- whose collation is C), the order of the results, and keyset pagination
-- after (key, user_id).
CREATE INDEX profiles_username_search ON profiles ((lower(username)) COLLATE "C", user_id);
-- Display name: text_pattern_ops makes LIKE prefixes use the index
-- whatever the database collation.
CREATE INDEX profiles_display_name_prefix ON profiles ((lower(display_name)) text_pattern_ops);

-- Idempotent consumers (shared/outbox.ProcessedSchema).
CREATE TABLE processed_events (
    consumer     TEXT NOT NULL,
    event_id     TEXT NOT NULL,
    processed_at TIMESTAMPTZ NOT NULL DEFAULT now(),
    PRIMARY KEY (consumer, event_id)
);
CREATE INDEX processed_events_at ON processed_events (processed_at);

-- Transactional outbox (shared/outbox.Schema).
CREATE TABLE outbox (
    seq          BIGSERIAL PRIMARY KEY,
    id           UUID NOT NULL UNIQUE,
    exchange     TEXT NOT NULL,
    routing_key  TEXT NOT NULL,
    aggregate_id TEXT NOT NULL,
    payload      JSONB NOT NULL,
    created_at   TIMESTAMPTZ NOT NULL DEFAULT now(),
    published_at TIMESTAMPTZ
);
CREATE INDEX outbox_unpublished ON outbox (seq) WHERE published_at IS NULL;

-- +goose Down
DROP TABLE outbox;
DROP TABLE processed_events;
DROP TABLE profiles;
