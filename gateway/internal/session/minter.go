package session

import (
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/parleychat/parley/shared/token"
)

// Anonymous is the subject of internal tokens for requests made before
// login (signup, login, refresh); services refuse it on user routes.
const Anonymous = "anonymous"

// GatewaySubject is the subject of tokens the gateway uses on its own
// behalf: the revocation snapshot and the Socket.IO link to chat-service.
const GatewaySubject = "gateway"

// InternalTTL is the lifetime of minted internal tokens: long enough for
// one forwarded request (bounded by the upstream timeout), short enough that
// a leaked token is soon useless.
const InternalTTL = 30 * time.Second

// Minter mints internal tokens for the services behind the gateway.
type Minter struct {
	signer *token.Signer
	recent mintCache        // tokens handed out again for mintReuse
	now    func() time.Time // time.Now; tests replace it
}

// NewMinter returns a minter using signer, which must be the gateway's.
func NewMinter(signer *token.Signer) *Minter { return &Minter{signer: signer, now: time.Now} }

// Mint returns an internal token for audience on behalf of id: sub is the
// user id (or Anonymous) and sid the session id when there is one.
func (m *Minter) Mint(id Identity, audience string) (string, error) {
	sub := id.UserID
	if sub == "" {
		sub = Anonymous
	}
	key := mintKey{sub: sub, sid: id.SessionID, aud: audience}
	at := m.now()
	if raw, ok := m.recent.get(key, at); ok {
		return raw, nil
	}
	now := at.Truncate(jwt.TimePrecision)
	raw, err := m.signer.Sign(token.Claims{
		RegisteredClaims: jwt.RegisteredClaims{
			Subject:   sub,
			Audience:  jwt.ClaimStrings{audience},
			IssuedAt:  jwt.NewNumericDate(now),
			ExpiresAt: jwt.NewNumericDate(now.Add(InternalTTL)),
		},
		SessionID: id.SessionID,
	})
	if err == nil {
		m.recent.put(key, raw, at)
	}
	return raw, err
}

// MintSelf returns an internal token for audience whose subject is the
// gateway itself.
func (m *Minter) MintSelf(audience string) (string, error) {
	return m.Mint(Identity{UserID: GatewaySubject}, audience)
}
