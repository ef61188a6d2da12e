package token

import "github.com/golang-jwt/jwt/v5"

// Claims is the payload of both session and internal tokens: the registered
// JWT claims plus the session id.
type Claims struct {
	jwt.RegisteredClaims
	// SessionID (sid) names the login session a session token belongs to, so
	// logout and password change can revoke it before it expires.
	SessionID string `json:"sid,omitempty"`
}
