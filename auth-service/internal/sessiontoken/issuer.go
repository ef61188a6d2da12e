// Package sessiontoken mints the session (access) tokens auth-service hands
// the gateway, with the shared token package's signer.
package sessiontoken

import (
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/parleychat/parley/auth-service/internal/auth"
	"github.com/parleychat/parley/shared/token"
)

// Issuer implements auth.AccessIssuer with an IssuerAuth signer.
type Issuer struct {
	signer *token.Signer
}

var _ auth.AccessIssuer = (*Issuer)(nil)

// New returns an issuer signing with signer, which must be for
// token.IssuerAuth.
func New(signer *token.Signer) *Issuer { return &Issuer{signer: signer} }

// Issue signs a token for userID in sessionID (sid) valid from issuedAt until
// expiresAt, audience the gateway, with a fresh jti and the signer's kid.
// The times are set here rather than by Signer.Session so that the expiry
// the gateway is told in the response is exactly the token's exp.
func (i *Issuer) Issue(userID, sessionID string, issuedAt, expiresAt time.Time) (string, error) {
	return i.signer.Sign(token.Claims{
		RegisteredClaims: jwt.RegisteredClaims{
			Issuer:    token.IssuerAuth,
			Subject:   userID,
			Audience:  jwt.ClaimStrings{token.AudienceGateway},
			IssuedAt:  jwt.NewNumericDate(issuedAt),
			NotBefore: jwt.NewNumericDate(issuedAt),
			ExpiresAt: jwt.NewNumericDate(expiresAt),
		},
		SessionID: sessionID,
	})
}
