-- +goose Up
-- +goose StatementBegin

-- Conversations. last_seq numbers messages, last_event_seq numbers every
-- change (the sync log); both are bumped with UPDATE ... RETURNING inside
-- the changing transaction, so the row lock hands out gap-free numbers in
-- commit order per conversation.
CREATE TABLE conversations (
    id                     UUID PRIMARY KEY,
    kind                   TEXT NOT NULL CHECK (kind IN ('direct', 'group')),
    title                  TEXT NOT NULL DEFAULT '',
    -- direct_key is the sorted member pair "a:b"; the unique index makes
    -- creating a direct conversation idempotent per pair.
    direct_key             TEXT UNIQUE,
    created_by             UUID NOT NULL,
    created_at             TIMESTAMPTZ NOT NULL,
    updated_at             TIMESTAMPTZ NOT NULL,
    last_activity_at       TIMESTAMPTZ NOT NULL,
    last_seq               BIGINT NOT NULL DEFAULT 0,
    last_event_seq         BIGINT NOT NULL DEFAULT 0,
    -- events up to pruned_event_seq were removed from conversation_events;
    -- a client that last saw an older one gets a gap.
    pruned_event_seq       BIGINT NOT NULL DEFAULT 0,
    CHECK ((kind = 'direct') = (direct_key IS NOT NULL))
);

CREATE TABLE members (
    conversation_id   UUID NOT NULL REFERENCES conversations (id) ON DELETE CASCADE,
    user_id           UUID NOT NULL,
    role              TEXT NOT NULL CHECK (role IN ('owner', 'admin', 'member')),
    joined_at         TIMESTAMPTZ NOT NULL,
    last_read_seq     BIGINT NOT NULL DEFAULT 0,
    removed_at        TIMESTAMPTZ,
    -- the event that removed the member: sync shows a former member the log
    -- up to and including it, never after.
    removed_event_seq BIGINT,
    PRIMARY KEY (conversation_id, user_id)
);
CREATE INDEX members_by_user ON members (user_id) WHERE removed_at IS NULL;

CREATE TABLE messages (
    id              UUID PRIMARY KEY,
    conversation_id UUID NOT NULL REFERENCES conversations (id) ON DELETE CASCADE,
    seq             BIGINT NOT NULL,
    -- event_seq is the eventSeq of the last change to this message, so
    -- clients can tell which of two copies is newer.
    event_seq       BIGINT NOT NULL,
    sender_id       UUID NOT NULL,
    client_msg_id   TEXT NOT NULL,
    body            TEXT NOT NULL,
    reply_to_id     UUID,
    created_at      TIMESTAMPTZ NOT NULL,
    edited_at       TIMESTAMPTZ,
    deleted_at      TIMESTAMPTZ,
    UNIQUE (conversation_id, seq),
    -- a retried send (same sender, same clientMsgId) can never insert twice.
    UNIQUE (sender_id, client_msg_id)
);
CREATE INDEX messages_fulltext ON messages USING GIN (to_tsvector('simple', body)) WHERE deleted_at IS NULL;

CREATE TABLE reactions (
    message_id UUID NOT NULL REFERENCES messages (id) ON DELETE CASCADE,
    user_id    UUID NOT NULL,
    emoji      TEXT NOT NULL,
    created_at TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (message_id, user_id, emoji)
);

-- The per-conversation change log that sync replays: one row per change,
-- payload being exactly what clients received live.
CREATE TABLE conversation_events (
    conversation_id UUID NOT NULL REFERENCES conversations (id) ON DELETE CASCADE,
    event_seq       BIGINT NOT NULL,
    type            TEXT NOT NULL,
    payload         JSONB NOT NULL,
    created_at      TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (conversation_id, event_seq)
);
CREATE INDEX conversation_events_created ON conversation_events (created_at);

-- Replica of the public user fields chat needs, fed by auth.* and users.*
-- events so the message path never calls user-service.
CREATE TABLE users (
    user_id      UUID PRIMARY KEY,
    username     TEXT NOT NULL,
    display_name TEXT NOT NULL DEFAULT '',
    avatar_url   TEXT NOT NULL DEFAULT '',
    updated_at   TIMESTAMPTZ NOT NULL
);

-- Presence: which gateway instances hold a socket of which user, until when.
CREATE TABLE presence_sessions (
    user_id    UUID NOT NULL,
    gateway_id TEXT NOT NULL,
    expires_at TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (user_id, gateway_id)
);
CREATE INDEX presence_sessions_gateway ON presence_sessions (gateway_id);
CREATE INDEX presence_sessions_expiry ON presence_sessions (expires_at);

-- The last published presence of each user, to publish only transitions.
CREATE TABLE presence_users (
    user_id      UUID PRIMARY KEY,
    online       BOOLEAN NOT NULL,
    last_seen_at TIMESTAMPTZ NOT NULL
);
-- outbox.Schema from shared/outbox, verbatim (a test keeps them equal).
CREATE TABLE IF NOT EXISTS outbox (
    seq          BIGSERIAL PRIMARY KEY,
    id           UUID NOT NULL UNIQUE,
    exchange     TEXT NOT NULL,
    routing_key  TEXT NOT NULL,
    aggregate_id TEXT NOT NULL,
    payload      JSONB NOT NULL,
    created_at   TIMESTAMPTZ NOT NULL DEFAULT now(),
    published_at TIMESTAMPTZ
);
CREATE INDEX IF NOT EXISTS outbox_unpublished ON outbox (seq) WHERE published_at IS NULL;
-- +goose StatementEnd
