package token

import (
	"errors"
	"fmt"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

// ErrInvalid is the one error Verify returns, wrapped with the reason. The
// reason is for logs; clients only ever learn that the credential was refused.
var ErrInvalid = errors.New("token: invalid")

// Reasons wrapped under ErrInvalid besides the jwt package's own errors.
var (
	errTooLong    = errors.New("token longer than MaxTokenBytes")
	errNoKID      = errors.New("kid header missing or not a string")
	errUnknownKID = errors.New("kid names no trusted key")
	errCrit       = errors.New("crit header present")
	errAudience   = errors.New("aud must hold exactly the expected audience")
	errSubject    = errors.New("sub is required")
	errNoIAT      = errors.New("iat is required to bound the lifetime")
	errLifetime   = errors.New("lifetime exceeds the verifier's maximum")
)

// Verifier checks tokens for one issuer and one audience. It is safe for
// concurrent use.
type Verifier struct {
	keys        *KeySet
	issuer      string
	audience    string
	leeway      time.Duration
	maxLifetime time.Duration
	now         func() time.Time
	parser      *jwt.Parser
	cache       *verifyCache // nil unless WithCache
}

// VerifierOption tunes a Verifier.
type VerifierOption func(*Verifier)

// WithLeeway sets the clock-skew allowance for exp, nbf and iat (default
// DefaultLeeway).
func WithLeeway(d time.Duration) VerifierOption {
	return func(v *Verifier) { v.leeway = d }
}

// WithClock replaces time.Now, so tests can check expiry deterministically.
func WithClock(now func() time.Time) VerifierOption {
	return func(v *Verifier) { v.now = now }
}

// WithMaxLifetime rejects tokens whose exp-iat exceeds d (plus leeway) and
// makes iat mandatory. Verifiers for IssuerGateway default to, and may not
// exceed, MaxInternalTTL, so a long-lived internal token is refused even if
// its signer was wrong.
func WithMaxLifetime(d time.Duration) VerifierOption {
	return func(v *Verifier) { v.maxLifetime = d }
}

// NewVerifier returns a verifier that accepts only EdDSA tokens signed by a
// key in keys whose iss is issuer and whose aud is exactly audience.
func NewVerifier(keys *KeySet, issuer, audience string, opts ...VerifierOption) (*Verifier, error) {
	if keys == nil || len(keys.keys) == 0 {
		return nil, errors.New("token: verifier: key set is empty")
	}
	if issuer == "" || audience == "" {
		return nil, errors.New("token: verifier: issuer and audience are required")
	}
	v := &Verifier{keys: keys, issuer: issuer, audience: audience, leeway: DefaultLeeway, now: time.Now}
	if issuer == IssuerGateway {
		v.maxLifetime = MaxInternalTTL
	}
	for _, opt := range opts {
		opt(v)
	}
	if v.leeway < 0 || v.maxLifetime < 0 {
		return nil, errors.New("token: verifier: leeway and max lifetime must not be negative")
	}
	if issuer == IssuerGateway && (v.maxLifetime == 0 || v.maxLifetime > MaxInternalTTL) {
		return nil, fmt.Errorf("token: verifier: internal tokens may not be accepted beyond %s", MaxInternalTTL)
	}
	v.parser = jwt.NewParser(
		jwt.WithValidMethods([]string{jwt.SigningMethodEdDSA.Alg()}),
		jwt.WithExpirationRequired(),
		jwt.WithIssuer(issuer),
		jwt.WithAudience(audience),
		jwt.WithIssuedAt(),
		jwt.WithLeeway(v.leeway),
		jwt.WithTimeFunc(v.now),
		jwt.WithStrictDecoding(),
	)
	return v, nil
}

// Verify checks raw and returns its claims. Every failure is ErrInvalid
// wrapped with the reason.
func (v *Verifier) Verify(raw string) (*Claims, error) {
	// Checked before any decoding so oversized input costs nothing.
	if len(raw) > MaxTokenBytes {
		return nil, fmt.Errorf("%w: %w", ErrInvalid, errTooLong)
	}
	if v.cache != nil {
		if c, ok := v.cache.get(raw, v.now(), v.leeway); ok {
			return c, nil
		}
	}
	c := &Claims{}
	if _, err := v.parser.ParseWithClaims(raw, c, v.key); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrInvalid, err)
	}
	// The jwt package accepts aud lists that merely contain ours; a token
	// meant for several services at once is not something Parley mints.
	if len(c.Audience) != 1 || c.Audience[0] != v.audience {
		return nil, fmt.Errorf("%w: %w", ErrInvalid, errAudience)
	}
	if c.Subject == "" {
		return nil, fmt.Errorf("%w: %w", ErrInvalid, errSubject)
	}
	if v.maxLifetime > 0 {
		if c.IssuedAt == nil {
			return nil, fmt.Errorf("%w: %w", ErrInvalid, errNoIAT)
		}
		if life := c.ExpiresAt.Sub(c.IssuedAt.Time); life > v.maxLifetime+v.leeway {
			return nil, fmt.Errorf("%w: %w (%s > %s)", ErrInvalid, errLifetime, life, v.maxLifetime)
		}
	}
	if v.cache != nil {
		v.cache.put(raw, c, v.now())
	}
	return c, nil
}

// key is the jwt.Keyfunc: it trusts nothing in the header but kid, and only
// as a map key into the configured set. jwk, jku, x5u and x5c are never read,
// so a token cannot bring or point at its own key.
func (v *Verifier) key(t *jwt.Token) (any, error) {
	// RFC 7515 §4.1.11: extensions listed in crit must be understood; we
	// understand none.
	if _, ok := t.Header["crit"]; ok {
		return nil, errCrit
	}
	kid, ok := t.Header["kid"].(string)
	if !ok || kid == "" {
		return nil, errNoKID
	}
	pub, ok := v.keys.lookup(kid)
	if !ok {
		return nil, errUnknownKID
	}
	// An ed25519.PublicKey is useless to any other method (HMAC wants
	// []byte), a second guard behind WithValidMethods against alg confusion.
	return pub, nil
}
