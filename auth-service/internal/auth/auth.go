// Package auth holds auth-service's domain: accounts, login sessions and
// their refresh-token families, and the use cases the HTTP API exposes. It
// knows nothing of HTTP, SQL or AMQP; it talks to storage through Store and
// Limiter and to the outside world through events written to the outbox in
// the same transaction as the change they describe.
package auth

import (
	"errors"
	"fmt"
	"time"
)

// User is an account. Username and Email are stored lowercased.
type User struct {
	ID           string
	Username     string
	Email        string
	PasswordHash string
	// PasswordChangedAt is zero until the user first changes their password.
	PasswordChangedAt time.Time
	CreatedAt         time.Time
}

// Session is one login on one device and the refresh-token family minted for
// it: revoking the session ends every refresh token of the family, and
// gateways refuse access tokens carrying its id.
type Session struct {
	ID         string
	UserID     string
	CreatedAt  time.Time
	LastUsedAt time.Time
	// ExpiresAt moves forward with each refresh: a session lives as long as
	// its newest refresh token.
	ExpiresAt    time.Time
	UserAgent    string
	IP           string
	RevokedAt    time.Time // zero while active
	RevokeReason string
}

// Active reports whether s may still be used at now.
func (s Session) Active(now time.Time) bool {
	return s.RevokedAt.IsZero() && now.Before(s.ExpiresAt)
}

// RefreshToken is a stored refresh token: only its SHA-256 hash is kept.
type RefreshToken struct {
	Hash      []byte
	SessionID string
	IssuedAt  time.Time
	ExpiresAt time.Time
	UsedAt    time.Time // zero until rotated
	// ReplacedBy is the hash of the successor minted when this token was used.
	ReplacedBy []byte
	// SuccessorSealed is the successor token encrypted under a key derived
	// from this token (see seal), so a second tab within the reuse grace gets
	// the same successor.
	SuccessorSealed []byte
}

// Revocation reasons carried by auth.session.revoked events.
const (
	ReasonLogout          = "logout"
	ReasonRevoked         = "revoked"
	ReasonReuseDetected   = "reuse_detected"
	ReasonPasswordChanged = "password_changed"
	// ReasonSessionLimit: a new login took the account past MaxSessions and
	// its oldest session made room.
	ReasonSessionLimit = "session_limit"
)

// Client describes where a request comes from, as reported by the gateway.
type Client struct {
	IP        string
	UserAgent string
}

// Caller is the verified identity behind a request: the internal token's
// subject and, for a signed-in user, the session id (sid) the gateway copied
// from the session token.
type Caller struct {
	UserID    string
	SessionID string
}

// Grant is what signup, login, refresh and password change hand the gateway:
// the user, the session, and a fresh access/refresh token pair. The gateway
// moves the tokens into cookies; clients never see them in a body.
type Grant struct {
	User             User
	Session          Session
	AccessToken      string
	AccessExpiresAt  time.Time
	RefreshToken     string
	RefreshExpiresAt time.Time
}

// SessionView is a session as listed to its owner.
type SessionView struct {
	Session
	Current bool
}

// Errors returned by the use cases; httpapi maps each to one problem.
var (
	// ErrInvalidCredentials answers an unknown login and a wrong password
	// alike, so the answer does not reveal which accounts exist.
	ErrInvalidCredentials = errors.New("invalid credentials")
	// ErrInvalidRefreshToken covers unknown, expired and revoked tokens.
	ErrInvalidRefreshToken = errors.New("invalid refresh token")
	// ErrRefreshTokenReused means an already-rotated token came back after
	// the grace: its whole session has been revoked.
	ErrRefreshTokenReused = errors.New("refresh token reused; session revoked")
	// ErrNotFound is returned for a missing record, including records that
	// exist but belong to another user.
	ErrNotFound = errors.New("not found")
	// ErrUnauthenticated means the caller is not a signed-in user.
	ErrUnauthenticated = errors.New("a signed-in user is required")
	// ErrWrongPassword: a password change whose current password is
	// wrong. The caller is signed in, so this is a refusal (403), not a
	// missing credential (401, which clients read as "refresh the session").
	ErrWrongPassword = errors.New("the current password is incorrect")
	// ErrUsernameTaken and ErrEmailTaken are returned by Tx.CreateUser.
	ErrUsernameTaken = errors.New("username taken")
	ErrEmailTaken    = errors.New("email taken")
)

// FieldError names one invalid input field.
type FieldError struct {
	Field   string
	Message string
}

// InvalidError lists input fields that were refused (400).
type InvalidError struct{ Fields []FieldError }

// Error implements error.
func (e *InvalidError) Error() string { return fmt.Sprintf("invalid input: %v", e.Fields) }

// ConflictError lists fields whose values are already taken (409).
type ConflictError struct{ Fields []FieldError }

// Error implements error.
func (e *ConflictError) Error() string { return fmt.Sprintf("conflict: %v", e.Fields) }

// ThrottledError says a throttle refused the request: too many failures
// from one account or address, or too many signups from one address. The
// caller may try again after RetryAfter.
type ThrottledError struct {
	RetryAfter time.Duration
	// Signups is set when the cap on accounts created per address refused
	// a signup, rather than failed attempts.
	Signups bool
}

// Error implements error.
func (e *ThrottledError) Error() string {
	return fmt.Sprintf("throttled; retry after %s", e.RetryAfter)
}
