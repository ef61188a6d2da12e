package token_test

import (
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/parleychat/parley/shared/token"
)

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
func claimsAt(now time.Time, iss, aud string, life time.Duration) token.Claims {
	return token.Claims{RegisteredClaims: jwt.RegisteredClaims{
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
func with(c token.Claims, edit func(*token.Claims)) token.Claims {
	edit(&c)
	return c
}
