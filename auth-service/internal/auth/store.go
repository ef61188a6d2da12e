package auth

import (
	"context"
	"time"

	"github.com/parleychat/parley/shared/events"
)

// Store is the persistence auth needs. Reads outside a transaction are for
// answers that need no lock; every change goes through InTx so the outbox
// event is committed with it.
type Store interface {
	// InTx runs fn in one transaction, committing if fn returns nil.
	InTx(ctx context.Context, fn func(Tx) error) error
	// UserByLogin finds a user by lowercased username or email.
	UserByLogin(ctx context.Context, login string) (User, error)
	// UserByID returns ErrNotFound for an unknown id.
	UserByID(ctx context.Context, id string) (User, error)
	// ActiveSessions lists the user's unrevoked, unexpired sessions, newest
	// first.
	ActiveSessions(ctx context.Context, userID string, now time.Time) ([]Session, error)
	// SessionByRefreshHash finds the session a refresh token belongs to.
	SessionByRefreshHash(ctx context.Context, hash []byte) (Session, error)
	// RevokedSince lists sessions revoked after since.
	RevokedSince(ctx context.Context, since time.Time) ([]Session, error)
	// PasswordsChangedSince lists users whose password changed after since.
	PasswordsChangedSince(ctx context.Context, since time.Time) ([]User, error)
}

// Tx is the set of changes made inside one transaction.
type Tx interface {
	// UsernameOrEmailTaken reports which of the two are already in use.
	UsernameOrEmailTaken(ctx context.Context, username, email string) (usernameTaken, emailTaken bool, err error)
	// CreateUser returns ErrUsernameTaken or ErrEmailTaken on a duplicate.
	CreateUser(ctx context.Context, u User) error
	// UserByIDForUpdate locks the user's row.
	UserByIDForUpdate(ctx context.Context, id string) (User, error)
	// SetPasswordHash stores a new hash; changedAt zero leaves
	// password_changed_at alone (a rehash is not a change).
	SetPasswordHash(ctx context.Context, userID, hash string, changedAt time.Time) error
	// CreateSession inserts a new session.
	CreateSession(ctx context.Context, s Session) error
	// SessionsBeyond locks and returns the ids of the user's active sessions
	// other than the newest keep, oldest first.
	SessionsBeyond(ctx context.Context, userID string, keep int, now time.Time) ([]string, error)
	// SessionForUpdate locks the session's row.
	SessionForUpdate(ctx context.Context, id string) (Session, error)
	// TouchSession records a refresh: last use, new expiry, and where from.
	TouchSession(ctx context.Context, id string, usedAt, expiresAt time.Time, c Client) error
	// RevokeSessions revokes the user's active sessions among ids (all of
	// them when ids is nil) and returns the ids it revoked.
	RevokeSessions(ctx context.Context, userID string, ids []string, at time.Time, reason string) ([]string, error)
	// InsertRefreshToken stores a new token (its hash only).
	InsertRefreshToken(ctx context.Context, t RefreshToken) error
	// RefreshTokenForUpdate locks the token's row; ErrNotFound if unknown.
	RefreshTokenForUpdate(ctx context.Context, hash []byte) (RefreshToken, error)
	// MarkRefreshTokenUsed records the rotation of hash into replacedBy.
	MarkRefreshTokenUsed(ctx context.Context, hash []byte, usedAt time.Time, replacedBy, sealed []byte) error
	// Enqueue writes ev to the outbox in this transaction.
	Enqueue(ctx context.Context, exchange, aggregateID string, ev events.Envelope) error
}

// Rule is one throttle: at most Limit events under Key within Window.
type Rule struct {
	Key    string
	Limit  int
	Window time.Duration
}

// Limiter counts events (failed logins, signups) per key over a sliding
// window.
type Limiter interface {
	// Blocked returns how long until every rule allows another attempt (0
	// when none is exceeded).
	Blocked(ctx context.Context, now time.Time, rules ...Rule) (time.Duration, error)
	// Record counts one event (a failure, a signup) under each key.
	Record(ctx context.Context, now time.Time, keys ...string) error
	// Clear forgets the failures under key.
	Clear(ctx context.Context, key string) error
}

// Hasher hashes and verifies passwords (password.Hasher).
type Hasher interface {
	Hash(ctx context.Context, password string) (string, error)
	Verify(ctx context.Context, password, encoded string) (ok, rehash bool, err error)
	VerifyDummy(ctx context.Context, password string) error
}

// AccessIssuer mints session (access) tokens.
type AccessIssuer interface {
	// Issue signs a token for userID in sessionID valid from issuedAt until
	// expiresAt.
	Issue(userID, sessionID string, issuedAt, expiresAt time.Time) (string, error)
}
