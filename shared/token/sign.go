package token

import (
	"crypto/ed25519"
	"errors"
	"fmt"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/google/uuid"
)

// Signer mints tokens for one issuer with one private key. It is safe for
// concurrent use.
type Signer struct {
	key    ed25519.PrivateKey
	kid    string
	issuer string
}

// NewSigner returns a signer that writes issuer into every token and names
// priv's public key in the kid header, so verifiers can pick it from a KeySet.
func NewSigner(priv ed25519.PrivateKey, issuer string) (*Signer, error) {
	if len(priv) != ed25519.PrivateKeySize {
		return nil, fmt.Errorf("token: signer: private key has %d bytes, want %d", len(priv), ed25519.PrivateKeySize)
	}
	if issuer == "" {
		return nil, errors.New("token: signer: issuer is required")
	}
	return &Signer{key: priv, kid: KeyID(priv.Public().(ed25519.PublicKey)), issuer: issuer}, nil
}

// KeyID returns the kid this signer writes, for start-up logs.
func (s *Signer) KeyID() string { return s.kid }

// Sign signs c, filling iss, iat, nbf and a UUIDv7 jti when they are empty.
// It refuses tokens no Parley verifier would accept (no exp, sub or aud, a
// foreign iss) and, for the gateway issuer, lifetimes above MaxInternalTTL,
// so the mistake shows up where the token is made.
func (s *Signer) Sign(c Claims) (string, error) {
	if c.Issuer == "" {
		c.Issuer = s.issuer
	}
	if c.IssuedAt == nil {
		c.IssuedAt = jwt.NewNumericDate(time.Now())
	}
	if c.NotBefore == nil {
		c.NotBefore = c.IssuedAt
	}
	if c.ID == "" {
		id, err := uuid.NewV7()
		if err != nil {
			return "", fmt.Errorf("token: sign: jti: %w", err)
		}
		c.ID = id.String()
	}
	switch {
	case c.Issuer != s.issuer:
		return "", fmt.Errorf("token: sign: iss %q differs from the signer's %q", c.Issuer, s.issuer)
	case c.Subject == "":
		return "", errors.New("token: sign: sub is required")
	case len(c.Audience) == 0:
		return "", errors.New("token: sign: aud is required")
	case c.ExpiresAt == nil:
		return "", errors.New("token: sign: exp is required")
	case !c.ExpiresAt.After(c.IssuedAt.Time):
		return "", errors.New("token: sign: exp must be after iat")
	case s.issuer == IssuerGateway && c.ExpiresAt.Sub(c.IssuedAt.Time) > MaxInternalTTL:
		return "", fmt.Errorf("token: sign: internal token lifetime %s exceeds %s", c.ExpiresAt.Sub(c.IssuedAt.Time), MaxInternalTTL)
	}
	t := jwt.NewWithClaims(jwt.SigningMethodEdDSA, c) // sets alg=EdDSA, typ=JWT
	t.Header["kid"] = s.kid
	raw, err := t.SignedString(s.key)
	if err != nil {
		return "", fmt.Errorf("token: sign: %w", err)
	}
	return raw, nil
}

// Session mints a session token for userID in login session sessionID. Only
// auth-service's signer (IssuerAuth) may mint them.
func (s *Signer) Session(userID, sessionID string, ttl time.Duration) (string, error) {
	if s.issuer != IssuerAuth {
		return "", fmt.Errorf("token: session tokens are minted by %q, not %q", IssuerAuth, s.issuer)
	}
	if sessionID == "" {
		return "", errors.New("token: session: session id is required")
	}
	c, err := s.claims(userID, AudienceGateway, ttl)
	if err != nil {
		return "", err
	}
	c.SessionID = sessionID
	return s.Sign(c)
}

// Internal mints a token that lets the gateway call the service named by
// audience on behalf of userID. Only the gateway's signer (IssuerGateway) may
// mint them, and ttl may not exceed MaxInternalTTL.
func (s *Signer) Internal(userID, audience string, ttl time.Duration) (string, error) {
	if s.issuer != IssuerGateway {
		return "", fmt.Errorf("token: internal tokens are minted by %q, not %q", IssuerGateway, s.issuer)
	}
	if ttl > MaxInternalTTL {
		return "", fmt.Errorf("token: internal: ttl %s exceeds %s", ttl, MaxInternalTTL)
	}
	c, err := s.claims(userID, audience, ttl)
	if err != nil {
		return "", err
	}
	return s.Sign(c)
}

// claims builds the claims shared by Session and Internal. iat and exp come
// from one clock reading, truncated first to the claims' precision, so exp-iat
// never rounds up past ttl.
func (s *Signer) claims(userID, audience string, ttl time.Duration) (Claims, error) {
	if ttl <= 0 {
		return Claims{}, fmt.Errorf("token: ttl %s must be positive", ttl)
	}
	if audience == "" {
		return Claims{}, errors.New("token: audience is required")
	}
	now := time.Now().Truncate(jwt.TimePrecision)
	return Claims{RegisteredClaims: jwt.RegisteredClaims{
		Subject:   userID,
		Audience:  jwt.ClaimStrings{audience},
		IssuedAt:  jwt.NewNumericDate(now),
		ExpiresAt: jwt.NewNumericDate(now.Add(ttl)),
	}}, nil
}
