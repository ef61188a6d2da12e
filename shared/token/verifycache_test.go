package token_test

import (
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/parleychat/parley/shared/token"
	"github.com/parleychat/parley/shared/token/tokentest"
)

// TestCachedVerifyDecidesAsTheFullCheck verifies each token twice (the
// second time from the cache when the first accepted it) at clock times
// around its validity, and checks a cached verifier answers exactly as an
// uncached one at every step: expired, not yet valid (clock stepped back)
// and tampered tokens are refused even after the same claims were cached.
func TestCachedVerifyDecidesAsTheFullCheck(t *testing.T) {
	t.Parallel()
	key := tokentest.NewKey(t)
	keys := tokentest.KeySet(t, key)
	issued := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	good := forge(t, jwt.SigningMethodEdDSA, key, map[string]any{"kid": keys.KeyIDs()[0]},
		claimsAt(issued, token.IssuerGateway, token.AudienceChat, 30*time.Second))
	tampered := good[:len(good)-2] + map[bool]string{true: "AA", false: "AB"}[good[len(good)-2:] != "AA"]
	leeway := token.DefaultLeeway
	for _, tc := range []struct {
		name   string
		raw    string
		at     time.Time
		wantOK bool
	}{
		{"valid", good, issued.Add(time.Second), true},
		{"valid again", good, issued.Add(2 * time.Second), true},
		{"just before exp plus leeway", good, issued.Add(30*time.Second + leeway - time.Millisecond), true},
		{"at exp plus leeway", good, issued.Add(30*time.Second + leeway), false},
		{"clock stepped back before iat", good, issued.Add(-leeway - time.Second), false},
		{"valid after all that", good, issued.Add(3 * time.Second), true},
		{"tampered signature", tampered, issued.Add(time.Second), false},
	} {
		now := tc.at
		clock := token.WithClock(func() time.Time { return now })
		plain := tokentest.Verifier(t, keys, token.IssuerGateway, token.AudienceChat, clock)
		_, plainErr := plain.Verify(tc.raw)
		if (plainErr == nil) != tc.wantOK {
			t.Fatalf("%s: uncached Verify = %v, want ok %v (the table is wrong)", tc.name, plainErr, tc.wantOK)
		}
		cached := tokentest.Verifier(t, keys, token.IssuerGateway, token.AudienceChat, clock, token.WithCache(8))
		// Warm the cache while the token is valid, then ask at tc.at.
		now = issued.Add(time.Second)
		if _, err := cached.Verify(good); err != nil {
			t.Fatalf("%s: warming: %v", tc.name, err)
		}
		now = tc.at
		for i := range 2 {
			c, err := cached.Verify(tc.raw)
			if (err == nil) != tc.wantOK {
				t.Errorf("%s (call %d): cached Verify = %v, want ok %v", tc.name, i, err, tc.wantOK)
			}
			if err != nil && !errors.Is(err, token.ErrInvalid) {
				t.Errorf("%s: error %v is not ErrInvalid", tc.name, err)
			}
			if err == nil && (c.Subject != "user-1" || len(c.Audience) != 1 || c.Audience[0] != token.AudienceChat) {
				t.Errorf("%s: claims = %+v", tc.name, c)
			}
		}
	}
}

// TestCachedClaimsAreCopies checks that a caller changing the claims it got
// cannot change what the next caller gets.
func TestCachedClaimsAreCopies(t *testing.T) {
	t.Parallel()
	key := tokentest.NewKey(t)
	raw := tokentest.Must(t)(tokentest.Signer(t, key, token.IssuerGateway).Internal("user-1", token.AudienceChat, token.MaxInternalTTL))
	v := tokentest.Verifier(t, tokentest.KeySet(t, key), token.IssuerGateway, token.AudienceChat, token.WithCache(8))
	for i := range 3 {
		c, err := v.Verify(raw)
		if err != nil {
			t.Fatal(err)
		}
		if c.Subject != "user-1" || c.Audience[0] != token.AudienceChat {
			t.Fatalf("call %d: claims %+v", i, c)
		}
		c.Subject, c.Audience[0] = "someone-else", "elsewhere"
	}
}

// TestCacheIsBounded verifies more distinct tokens than the cache holds.
func TestCacheIsBounded(t *testing.T) {
	t.Parallel()
	key := tokentest.NewKey(t)
	signer := tokentest.Signer(t, key, token.IssuerGateway)
	v := tokentest.Verifier(t, tokentest.KeySet(t, key), token.IssuerGateway, token.AudienceChat, token.WithCache(4))
	for i := range 20 {
		raw := tokentest.Must(t)(signer.Internal(fmt.Sprintf("user-%d", i), token.AudienceChat, token.MaxInternalTTL))
		if _, err := v.Verify(raw); err != nil {
			t.Fatal(err)
		}
		if n := token.CacheLen(v); n > 4 {
			t.Fatalf("after %d tokens the cache holds %d, want at most 4", i+1, n)
		}
	}
}
