package session_test

import (
	"crypto/ed25519"
	"testing"
	"time"

	"github.com/parleychat/parley/gateway/internal/revocation"
	"github.com/parleychat/parley/gateway/internal/session"
	"github.com/parleychat/parley/shared/token"
)

type fixture struct {
	auth    *session.Authenticator
	minter  *session.Minter
	raw     string
	store   *revocation.Store
	userVer *token.Verifier
}

func newFixture(t testing.TB) fixture {
	t.Helper()
	_, authPriv, _ := ed25519.GenerateKey(nil)
	_, gwPriv, _ := ed25519.GenerateKey(nil)
	authSigner, _ := token.NewSigner(authPriv, token.IssuerAuth)
	gwSigner, _ := token.NewSigner(gwPriv, token.IssuerGateway)
	sessKeys, _ := token.NewKeySet(authPriv.Public().(ed25519.PublicKey))
	intKeys, _ := token.NewKeySet(gwPriv.Public().(ed25519.PublicKey))
	// As wired in the gateway: verified session tokens are cached.
	sv, err := token.NewVerifier(sessKeys, token.IssuerAuth, token.AudienceGateway, token.WithCache(64))
	if err != nil {
		t.Fatal(err)
	}
	uv, err := token.NewVerifier(intKeys, token.IssuerGateway, token.AudienceUsers)
	if err != nil {
		t.Fatal(err)
	}
	store := revocation.NewStore(nil)
	store.MarkLoaded()
	raw, err := authSigner.Session("user-1", "session-1", token.SessionTTL)
	if err != nil {
		t.Fatal(err)
	}
	return fixture{auth: session.NewAuthenticator(sv, store), minter: session.NewMinter(gwSigner), raw: raw, store: store, userVer: uv}
}

func TestMintCarriesIdentity(t *testing.T) {
	f := newFixture(t)
	id, err := f.auth.Authenticate(f.raw)
	if err != nil {
		t.Fatalf("Authenticate: %v", err)
	}
	tests := []struct {
		name    string
		id      session.Identity
		wantSub string
		wantSID string
	}{
		{"user", id, "user-1", "session-1"},
		{"anonymous", session.Identity{}, session.Anonymous, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			raw, err := f.minter.Mint(tc.id, token.AudienceUsers)
			if err != nil {
				t.Fatal(err)
			}
			c, err := f.userVer.Verify(raw)
			if err != nil {
				t.Fatalf("user-service refuses the minted token: %v", err)
			}
			if c.Subject != tc.wantSub || c.SessionID != tc.wantSID {
				t.Errorf("sub/sid = %q/%q, want %q/%q", c.Subject, c.SessionID, tc.wantSub, tc.wantSID)
			}
			if life := c.ExpiresAt.Sub(c.IssuedAt.Time); life <= 0 || life > token.MaxInternalTTL {
				t.Errorf("lifetime %s, want within (0, %s]", life, token.MaxInternalTTL)
			}
		})
	}
}

func TestAuthenticateRevoked(t *testing.T) {
	f := newFixture(t)
	// Accepted once, so the token is in the verifier's cache: revocation
	// must still apply to it.
	if _, err := f.auth.Authenticate(f.raw); err != nil {
		t.Fatalf("Authenticate before revocation: %v", err)
	}
	f.store.RevokeSessions("user-1", []string{"session-1"}, time.Now().Add(time.Hour))
	if _, err := f.auth.Authenticate(f.raw); err != session.ErrRevoked {
		t.Errorf("err = %v, want ErrRevoked", err)
	}
}

// BenchmarkAuthenticateAndMint is the gateway's per-request token cost:
// verify the session cookie, check revocations, mint the internal token.
func BenchmarkAuthenticateAndMint(b *testing.B) {
	f := newFixture(b)
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			id, err := f.auth.Authenticate(f.raw)
			if err != nil {
				b.Fatal(err)
			}
			if _, err := f.minter.Mint(id, token.AudienceChat); err != nil {
				b.Fatal(err)
			}
		}
	})
}

// BenchmarkAuthenticate and BenchmarkMint split the cost in two.
func BenchmarkAuthenticate(b *testing.B) {
	f := newFixture(b)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := f.auth.Authenticate(f.raw); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkMint(b *testing.B) {
	f := newFixture(b)
	id := session.Identity{UserID: "user-1", SessionID: "session-1"}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := f.minter.Mint(id, token.AudienceChat); err != nil {
			b.Fatal(err)
		}
	}
}
