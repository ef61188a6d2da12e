package token_test

import (
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/google/uuid"

	"github.com/parleychat/parley/shared/token"
	"github.com/parleychat/parley/shared/token/tokentest"
)

func TestSignerWritesHeaderAndFillsClaims(t *testing.T) {
	priv := tokentest.NewKey(t)
	s := tokentest.Signer(t, priv, token.IssuerAuth)
	before := time.Now().Truncate(time.Second)
	raw := tokentest.Must(t)(s.Session("user-1", "sess-1", token.SessionTTL))

	c := &token.Claims{}
	tok, _, err := jwt.NewParser().ParseUnverified(raw, c)
	if err != nil {
		t.Fatalf("ParseUnverified: %v", err)
	}
	for k, want := range map[string]string{"alg": "EdDSA", "typ": "JWT", "kid": token.KeyID(tokentest.Public(priv))} {
		if got := tok.Header[k]; got != want {
			t.Errorf("header %s = %v, want %q", k, got, want)
		}
	}
	if c.Issuer != token.IssuerAuth || c.Subject != "user-1" || c.SessionID != "sess-1" {
		t.Errorf("iss, sub, sid = %q, %q, %q; want %q, user-1, sess-1", c.Issuer, c.Subject, c.SessionID, token.IssuerAuth)
	}
	if got := []string(c.Audience); len(got) != 1 || got[0] != token.AudienceGateway {
		t.Errorf("aud = %v, want [%s]", got, token.AudienceGateway)
	}
	if c.IssuedAt == nil || c.IssuedAt.Before(before) || c.NotBefore == nil || !c.NotBefore.Equal(c.IssuedAt.Time) {
		t.Errorf("iat, nbf = %v, %v; want both ≥ %v and equal", c.IssuedAt, c.NotBefore, before)
	}
	if c.ExpiresAt == nil || c.ExpiresAt.Sub(c.IssuedAt.Time) != token.SessionTTL {
		t.Errorf("exp-iat = %v, want %v", c.ExpiresAt.Sub(c.IssuedAt.Time), token.SessionTTL)
	}
	if id, err := uuid.Parse(c.ID); err != nil || id.Version() != 7 {
		t.Errorf("jti = %q, want a UUIDv7 (parse error %v)", c.ID, err)
	}
}

func TestSignerRefuses(t *testing.T) {
	auth := tokentest.Signer(t, tokentest.NewKey(t), token.IssuerAuth)
	gw := tokentest.Signer(t, tokentest.NewKey(t), token.IssuerGateway)
	now := time.Now()
	internal := claimsAt(now, token.IssuerGateway, token.AudienceUsers, 30*time.Second)

	tests := []struct {
		name    string
		sign    func() (string, error)
		wantErr string // substring; "" means signing must succeed
	}{
		{"internal at the 60 s bound", func() (string, error) { return gw.Internal("u", token.AudienceUsers, token.MaxInternalTTL) }, ""},
		{"internal ttl above 60 s", func() (string, error) { return gw.Internal("u", token.AudienceUsers, token.MaxInternalTTL+time.Second) }, "exceeds"},
		{"internal ttl zero", func() (string, error) { return gw.Internal("u", token.AudienceUsers, 0) }, "positive"},
		{"internal without audience", func() (string, error) { return gw.Internal("u", "", time.Minute) }, "audience"},
		{"internal without user", func() (string, error) { return gw.Internal("", token.AudienceUsers, time.Minute) }, "sub"},
		{"internal from the auth signer", func() (string, error) { return auth.Internal("u", token.AudienceUsers, time.Minute) }, "minted by"},
		{"session from the gateway signer", func() (string, error) { return gw.Session("u", "s", token.SessionTTL) }, "minted by"},
		{"session without session id", func() (string, error) { return auth.Session("u", "", token.SessionTTL) }, "session id"},
		{"Sign with a long internal lifetime", func() (string, error) {
			return gw.Sign(with(internal, func(c *token.Claims) { c.ExpiresAt = jwt.NewNumericDate(now.Add(2 * time.Minute)) }))
		}, "exceeds"},
		{"Sign without exp", func() (string, error) {
			return gw.Sign(with(internal, func(c *token.Claims) { c.ExpiresAt = nil }))
		}, "exp is required"},
		{"Sign with exp before iat", func() (string, error) {
			return gw.Sign(with(internal, func(c *token.Claims) { c.ExpiresAt = jwt.NewNumericDate(now.Add(-time.Second)) }))
		}, "after iat"},
		{"Sign without aud", func() (string, error) {
			return gw.Sign(with(internal, func(c *token.Claims) { c.Audience = nil }))
		}, "aud is required"},
		{"Sign with a foreign iss", func() (string, error) {
			return gw.Sign(with(internal, func(c *token.Claims) { c.Issuer = token.IssuerAuth }))
		}, "differs"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			raw, err := tc.sign()
			switch {
			case tc.wantErr == "" && err != nil:
				t.Fatalf("err = %v, want success", err)
			case tc.wantErr == "" && raw == "":
				t.Fatal("got an empty token")
			case tc.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tc.wantErr)):
				t.Fatalf("err = %v, want one containing %q", err, tc.wantErr)
			}
		})
	}
}

func TestNewSignerRejects(t *testing.T) {
	if _, err := token.NewSigner(tokentest.NewKey(t)[:10], token.IssuerAuth); err == nil {
		t.Error("NewSigner(short key) succeeded, want an error")
	}
	if _, err := token.NewSigner(tokentest.NewKey(t), ""); err == nil {
		t.Error("NewSigner(empty issuer) succeeded, want an error")
	}
}
