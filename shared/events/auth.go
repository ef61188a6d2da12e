package events

import "time"

// Event types produced by auth-service on ExchangeAuth.
const (
	TypeUserRegistered  = "auth.user.registered"
	TypeSessionRevoked  = "auth.session.revoked"
	TypePasswordChanged = "auth.password.changed"
)

// UserRegisteredV1 is published once per new account.
type UserRegisteredV1 struct {
	UserID    string    `json:"userId"`
	Username  string    `json:"username"`
	Email     string    `json:"email"`
	CreatedAt time.Time `json:"createdAt"`
}

// SessionRevokedV1 is published when sessions end before expiry (logout,
// revoke, refresh-token reuse). Gateways refuse session tokens whose sid is
// listed until RevokedUntil.
type SessionRevokedV1 struct {
	UserID     string   `json:"userId"`
	SessionIDs []string `json:"sessionIds"`
	Reason     string   `json:"reason"` // logout | revoked | reuse_detected | password_changed
	// RevokedUntil is when the last access token of those sessions expires;
	// gateways may forget the revocation after it.
	RevokedUntil time.Time `json:"revokedUntil"`
}

// PasswordChangedV1 is published when a user changes their password; every
// session token issued before ChangedAt is invalid.
type PasswordChangedV1 struct {
	UserID       string    `json:"userId"`
	ChangedAt    time.Time `json:"changedAt"`
	RevokedUntil time.Time `json:"revokedUntil"`
}
