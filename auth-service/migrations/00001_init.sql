-- +goose Up

-- Usernames and emails are stored already lowercased (the service normalises
-- them), so plain unique constraints give case-insensitive uniqueness without
-- the citext extension; the checks keep a buggy writer from breaking that.
CREATE TABLE users (
    id                  UUID PRIMARY KEY,
    username            TEXT NOT NULL CONSTRAINT users_username_key UNIQUE
                        CONSTRAINT users_username_lower CHECK (username = lower(username)),
    email               TEXT NOT NULL CONSTRAINT users_email_key UNIQUE
                        CONSTRAINT users_email_lower CHECK (email = lower(email)),
    password_hash       TEXT NOT NULL,
    -- NULL until the user first changes their password: only a change
    -- invalidates earlier session tokens.
    password_changed_at TIMESTAMPTZ,
    created_at          TIMESTAMPTZ NOT NULL
);

-- A session is one login on one device and is also the refresh-token family:
-- revoking it ends every refresh token minted for it.
CREATE TABLE sessions (
    id            UUID PRIMARY KEY,
    user_id       UUID NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    created_at    TIMESTAMPTZ NOT NULL,
    last_used_at  TIMESTAMPTZ NOT NULL,
    expires_at    TIMESTAMPTZ NOT NULL,
    user_agent    TEXT NOT NULL DEFAULT '',
    ip            TEXT NOT NULL DEFAULT '',
    revoked_at    TIMESTAMPTZ,
    revoke_reason TEXT
);
CREATE INDEX sessions_user_active ON sessions (user_id) WHERE revoked_at IS NULL;
-- Serves the revocation list a starting gateway asks for.
CREATE INDEX sessions_revoked ON sessions (revoked_at) WHERE revoked_at IS NOT NULL;

-- Refresh tokens are stored only as SHA-256 hashes. successor_sealed holds the
-- next token of the chain encrypted under a key derived from this token, so
-- a second tab presenting this token within the reuse grace can be handed the
-- same successor without the database ever holding a usable token.
CREATE TABLE refresh_tokens (
    hash             BYTEA PRIMARY KEY,
    session_id       UUID NOT NULL REFERENCES sessions (id) ON DELETE CASCADE,
    issued_at        TIMESTAMPTZ NOT NULL,
    expires_at       TIMESTAMPTZ NOT NULL,
    used_at          TIMESTAMPTZ,
    replaced_by      BYTEA,
    successor_sealed BYTEA
);
CREATE INDEX refresh_tokens_session ON refresh_tokens (session_id);

-- Failed logins (and refused signups) per throttle key, counted over a
-- sliding window; kept in the database so every instance sees the same
-- counts.
CREATE TABLE login_failures (
    id  BIGSERIAL PRIMARY KEY,
    key TEXT NOT NULL,
    at  TIMESTAMPTZ NOT NULL
);
CREATE INDEX login_failures_key_at ON login_failures (key, at);
CREATE INDEX login_failures_at ON login_failures (at);

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

-- +goose Down
DROP TABLE outbox;
DROP TABLE login_failures;
DROP TABLE refresh_tokens;
DROP TABLE sessions;
DROP TABLE users;
