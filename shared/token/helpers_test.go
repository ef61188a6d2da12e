package token

import (
	"crypto/ed25519"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

// newKey generates a fresh Ed25519 private key.
func newKey(t testing.TB) ed25519.PrivateKey {
	t.Helper()
	_, priv, err := ed25519.GenerateKey(nil)
	if err != nil {
		t.Fatalf("GenerateKey: %v", err)
	}
	return priv
}

func pubOf(priv ed25519.PrivateKey) ed25519.PublicKey {
	return priv.Public().(ed25519.PublicKey)
}

func mustKeySet(t testing.TB, privs ...ed25519.PrivateKey) *KeySet {
	t.Helper()
	var pubs []ed25519.PublicKey
	for _, p := range privs {
		pubs = append(pubs, pubOf(p))
	}
	ks, err := NewKeySet(pubs...)
	if err != nil {
		t.Fatalf("NewKeySet: %v", err)
	}
	return ks
}

func mustSigner(t testing.TB, priv ed25519.PrivateKey, issuer string) *Signer {
	t.Helper()
	s, err := NewSigner(priv, issuer)
	if err != nil {
		t.Fatalf("NewSigner: %v", err)
	}
	return s
}

func mustVerifier(t testing.TB, ks *KeySet, issuer, audience string, opts ...VerifierOption) *Verifier {
	t.Helper()
	v, err := NewVerifier(ks, issuer, audience, opts...)
	if err != nil {
		t.Fatalf("NewVerifier: %v", err)
	}
	return v
}

// mustSign unwraps a signing result: mustSign(t)(s.Internal(...)).
func mustSign(t testing.TB) func(string, error) string {
	return func(tok string, err error) string {
		t.Helper()
		if err != nil {
			t.Fatalf("sign: %v", err)
		}
		return tok
	}
}

// forge signs claims with any method and key and sets header fields (nil
// deletes one). It bypasses Signer's checks so tests can build the tokens an
// attacker or a buggy signer would.
func forge(t testing.TB, method jwt.SigningMethod, key any, header map[string]any, claims jwt.Claims) string {
	t.Helper()
	tok := jwt.NewWithClaims(method, claims)
	for k, v := range header {
		if v == nil {
			delete(tok.Header, k)
		} else {
			tok.Header[k] = v
		}
	}
	raw, err := tok.SignedString(key)
	if err != nil {
		t.Fatalf("forge: %v", err)
	}
	return raw
}

// claimsAt returns well-formed claims issued at now and valid for life.
func claimsAt(now time.Time, iss, aud string, life time.Duration) Claims {
	return Claims{RegisteredClaims: jwt.RegisteredClaims{
		Issuer:    iss,
		Subject:   "user-1",
		Audience:  jwt.ClaimStrings{aud},
		IssuedAt:  jwt.NewNumericDate(now),
		NotBefore: jwt.NewNumericDate(now),
		ExpiresAt: jwt.NewNumericDate(now.Add(life)),
		ID:        "jti-1",
	}}
}

// with returns c changed by edit, so table rows read as "valid, except".
func with(c Claims, edit func(*Claims)) Claims {
	edit(&c)
	return c
}
