package token_test

import (
	"crypto/ed25519"
	"encoding/base64"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/parleychat/parley/shared/token"
	"github.com/parleychat/parley/shared/token/tokentest"
)

// fuzzKey is fixed, so inputs the fuzzer saves under testdata/fuzz keep
// their signatures valid from one run to the next.
var fuzzKey = ed25519.NewKeyFromSeed([]byte("parley token fuzz key seed 32 b!"))

// FuzzVerify feeds arbitrary strings to the verifier every service runs on
// the Authorization header: it must never panic, and a token it accepts
// must carry a valid Ed25519 signature by the trusted key over its first
// two segments, name exactly the expected audience and have a subject.
func FuzzVerify(f *testing.F) {
	now := time.Date(2026, 1, 1, 12, 0, 0, 0, time.UTC)
	signer := tokentest.Signer(f, fuzzKey, token.IssuerGateway)
	v := tokentest.Verifier(f, tokentest.KeySet(f, fuzzKey), token.IssuerGateway, token.AudienceUsers,
		token.WithClock(func() time.Time { return now }), token.WithMaxLifetime(time.Minute))
	claims := func(sub, sid string) token.Claims {
		return token.Claims{SessionID: sid, RegisteredClaims: jwt.RegisteredClaims{
			Subject: sub, Audience: jwt.ClaimStrings{token.AudienceUsers},
			IssuedAt: jwt.NewNumericDate(now), NotBefore: jwt.NewNumericDate(now),
			ExpiresAt: jwt.NewNumericDate(now.Add(30 * time.Second)), ID: "jti-1",
		}}
	}
	good := tokentest.Must(f)(signer.Sign(claims("01970f3a-6a2b-7c3d-8e4f-5a6b7c8d9e01", "")))
	f.Add(good)
	f.Add(tokentest.Must(f)(signer.Sign(claims("anonymous", "s1"))))
	parts := strings.Split(good, ".")
	f.Add(parts[0] + "." + parts[1] + ".")
	f.Add(parts[0] + ".." + parts[2])
	f.Add(base64.RawURLEncoding.EncodeToString([]byte(`{"alg":"none","typ":"JWT"}`)) + "." + parts[1] + ".")
	f.Add(base64.RawURLEncoding.EncodeToString([]byte(`{"alg":"HS256","kid":"`+token.KeyID(tokentest.Public(fuzzKey))+`"}`)) + "." + parts[1] + "." + parts[2])
	f.Add(strings.Repeat("A", token.MaxTokenBytes+1))
	f.Add("\x00.\x00.\x00")
	f.Fuzz(func(t *testing.T, raw string) {
		c, err := v.Verify(raw)
		if err != nil {
			if c != nil {
				t.Errorf("Verify returned claims %+v with error %v", c, err)
			}
			return
		}
		seg := strings.Split(raw, ".")
		if len(seg) != 3 {
			t.Fatalf("accepted %q, which is not three segments", raw)
		}
		sig, err := base64.RawURLEncoding.DecodeString(seg[2])
		if err != nil || !ed25519.Verify(tokentest.Public(fuzzKey), []byte(seg[0]+"."+seg[1]), sig) {
			t.Fatalf("accepted %q without a valid signature by the trusted key", raw)
		}
		if c.Subject == "" || len(c.Audience) != 1 || c.Audience[0] != token.AudienceUsers || c.Issuer != token.IssuerGateway {
			t.Errorf("accepted claims %+v: want a subject, audience %s and issuer %s", c, token.AudienceUsers, token.IssuerGateway)
		}
	})
}
