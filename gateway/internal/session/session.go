// Package session authenticates clients by their session token and mints
// the internal tokens that carry their identity to the services.
package session

import (
	"errors"
	"fmt"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/parleychat/parley/shared/token"
)

// CookieName is the cookie holding the session token, read by the REST
// router and the Socket.IO handshake alike.
const CookieName = "parley_session"

// Identity is an authenticated caller.
type Identity struct {
	UserID    string
	SessionID string
	IssuedAt  time.Time
	ExpiresAt time.Time
}

// Errors returned by Authenticate; the HTTP layer maps each to a 401 code.
var (
	// ErrMissing: no session token was presented.
	ErrMissing = errors.New("session: no session token")
	// ErrExpired: an authentic token past its exp; the client should refresh.
	ErrExpired = errors.New("session: token expired")
	// ErrRevoked: an authentic, unexpired token whose session was revoked.
	ErrRevoked = errors.New("session: session revoked")
	// ErrInvalid: anything else (forged, malformed, wrong iss/aud/kid...).
	ErrInvalid = errors.New("session: invalid token")
	// ErrNotReady: revocations are not loaded yet, so no token can be trusted.
	ErrNotReady = errors.New("session: revocation list not loaded yet")
)

// RevocationList is what Authenticator needs to know about revocations.
type RevocationList interface {
	Revoked(userID, sid string, iat time.Time) bool
	Loaded() bool
}

// Authenticator verifies session tokens and checks them against revocations.
type Authenticator struct {
	verifier    *token.Verifier
	revocations RevocationList
}

// NewAuthenticator returns an authenticator; verifier must check
// iss=parley-auth, aud=parley-gateway.
func NewAuthenticator(verifier *token.Verifier, revocations RevocationList) *Authenticator {
	return &Authenticator{verifier: verifier, revocations: revocations}
}

// Authenticate returns the identity in raw, or one of the package's errors
// wrapping the reason (which is for logs only).
func (a *Authenticator) Authenticate(raw string) (Identity, error) {
	if raw == "" {
		return Identity{}, ErrMissing
	}
	claims, err := a.verifier.Verify(raw)
	if err != nil {
		// The jwt package checks the signature before the claims, so
		// ErrTokenExpired here means an authentic token that merely aged.
		if errors.Is(err, jwt.ErrTokenExpired) {
			return Identity{}, fmt.Errorf("%w: %w", ErrExpired, err)
		}
		return Identity{}, fmt.Errorf("%w: %w", ErrInvalid, err)
	}
	if claims.SessionID == "" || claims.IssuedAt == nil {
		return Identity{}, fmt.Errorf("%w: session token without sid or iat", ErrInvalid)
	}
	id := Identity{
		UserID:    claims.Subject,
		SessionID: claims.SessionID,
		IssuedAt:  claims.IssuedAt.Time,
		ExpiresAt: claims.ExpiresAt.Time,
	}
	if !a.revocations.Loaded() {
		return Identity{}, ErrNotReady
	}
	if a.revocations.Revoked(id.UserID, id.SessionID, id.IssuedAt) {
		return Identity{}, ErrRevoked
	}
	return id, nil
}
