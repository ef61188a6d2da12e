package token

import (
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/google/uuid"
)

func TestSignerWritesHeaderAndFillsClaims(t *testing.T) {
	priv := newKey(t)
	s := mustSigner(t, priv, IssuerAuth)
	before := time.Now().Truncate(time.Second)
	raw := mustSign(t)(s.Session("user-1", "sess-1", SessionTTL))

	c := &Claims{}
	tok, _, err := jwt.NewParser().ParseUnverified(raw, c)
	if err != nil {
		t.Fatalf("ParseUnverified: %v", err)
	}
	for k, want := range map[string]string{"alg": "EdDSA", "typ": "JWT", "kid": KeyID(pubOf(priv))} {
		if got := tok.Header[k]; got != want {
			t.Errorf("header %s = %v, want %q", k, got, want)
		}
	}
	if c.Issuer != IssuerAuth || c.Subject != "user-1" || c.SessionID != "sess-1" {
		t.Errorf("iss, sub, sid = %q, %q, %q; want %q, user-1, sess-1", c.Issuer, c.Subject, c.SessionID, IssuerAuth)
	}
	if got := []string(c.Audience); len(got) != 1 || got[0] != AudienceGateway {
		t.Errorf("aud = %v, want [%s]", got, AudienceGateway)
	}
	if c.IssuedAt == nil || c.IssuedAt.Before(before) || c.NotBefore == nil || !c.NotBefore.Equal(c.IssuedAt.Time) {
		t.Errorf("iat, nbf = %v, %v; want both ≥ %v and equal", c.IssuedAt, c.NotBefore, before)
	}
	if c.ExpiresAt == nil || c.ExpiresAt.Sub(c.IssuedAt.Time) != SessionTTL {
		t.Errorf("exp-iat = %v, want %v", c.ExpiresAt.Sub(c.IssuedAt.Time), SessionTTL)
	}
	if id, err := uuid.Parse(c.ID); err != nil || id.Version() != 7 {
		t.Errorf("jti = %q, want a UUIDv7 (parse error %v)", c.ID, err)
	}
}

func TestSignerRefuses(t *testing.T) {
	auth := mustSigner(t, newKey(t), IssuerAuth)
	gw := mustSigner(t, newKey(t), IssuerGateway)
	now := time.Now()
	internal := claimsAt(now, IssuerGateway, AudienceUsers, 30*time.Second)

	tests := []struct {
		name    string
		sign    func() (string, error)
		wantErr string // substring; "" means signing must succeed
	}{
		{"internal at the 60 s bound", func() (string, error) { return gw.Internal("u", AudienceUsers, MaxInternalTTL) }, ""},
		{"internal ttl above 60 s", func() (string, error) { return gw.Internal("u", AudienceUsers, MaxInternalTTL+time.Second) }, "exceeds"},
		{"internal ttl zero", func() (string, error) { return gw.Internal("u", AudienceUsers, 0) }, "positive"},
		{"internal without audience", func() (string, error) { return gw.Internal("u", "", time.Minute) }, "audience"},
		{"internal without user", func() (string, error) { return gw.Internal("", AudienceUsers, time.Minute) }, "sub"},
		{"internal from the auth signer", func() (string, error) { return auth.Internal("u", AudienceUsers, time.Minute) }, "minted by"},
		{"session from the gateway signer", func() (string, error) { return gw.Session("u", "s", SessionTTL) }, "minted by"},
		{"session without session id", func() (string, error) { return auth.Session("u", "", SessionTTL) }, "session id"},
		{"Sign with a long internal lifetime", func() (string, error) {
			return gw.Sign(with(internal, func(c *Claims) { c.ExpiresAt = jwt.NewNumericDate(now.Add(2 * time.Minute)) }))
		}, "exceeds"},
		{"Sign without exp", func() (string, error) {
			return gw.Sign(with(internal, func(c *Claims) { c.ExpiresAt = nil }))
		}, "exp is required"},
		{"Sign with exp before iat", func() (string, error) {
			return gw.Sign(with(internal, func(c *Claims) { c.ExpiresAt = jwt.NewNumericDate(now.Add(-time.Second)) }))
		}, "after iat"},
		{"Sign without aud", func() (string, error) {
			return gw.Sign(with(internal, func(c *Claims) { c.Audience = nil }))
		}, "aud is required"},
		{"Sign with a foreign iss", func() (string, error) {
			return gw.Sign(with(internal, func(c *Claims) { c.Issuer = IssuerAuth }))
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
	if _, err := NewSigner(newKey(t)[:10], IssuerAuth); err == nil {
		t.Error("NewSigner(short key) succeeded, want an error")
	}
	if _, err := NewSigner(newKey(t), ""); err == nil {
		t.Error("NewSigner(empty issuer) succeeded, want an error")
	}
}
