package session_test

import (
	"crypto/ed25519"
	"errors"
	"testing"
	"time"

	"github.com/parleychat/parley/gateway/internal/revocation"
	"github.com/parleychat/parley/gateway/internal/session"
	"github.com/parleychat/parley/shared/token"
)

// TestCachedSessionExpires checks that a session token accepted (and so
// cached) earlier is refused as expired once its exp has passed, and that
// a revocation issued after it was cached applies on the next request.
func TestCachedSessionExpires(t *testing.T) {
	t.Parallel()
	_, priv, err := ed25519.GenerateKey(nil)
	if err != nil {
		t.Fatal(err)
	}
	signer, err := token.NewSigner(priv, token.IssuerAuth)
	if err != nil {
		t.Fatal(err)
	}
	keys, err := token.NewKeySet(priv.Public().(ed25519.PublicKey))
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	v, err := token.NewVerifier(keys, token.IssuerAuth, token.AudienceGateway, token.WithCache(8),
		token.WithClock(func() time.Time { return now }))
	if err != nil {
		t.Fatal(err)
	}
	store := revocation.NewStore(nil)
	store.MarkLoaded()
	auth := session.NewAuthenticator(v, store)
	short, err := signer.Session("user-1", "s-short", time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	long, err := signer.Session("user-1", "s-long", time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	for _, raw := range []string{short, long} {
		if _, err := auth.Authenticate(raw); err != nil {
			t.Fatalf("fresh token refused: %v", err)
		}
	}
	now = now.Add(time.Minute + token.DefaultLeeway + time.Second)
	if _, err := auth.Authenticate(short); !errors.Is(err, session.ErrExpired) {
		t.Errorf("cached token past exp: err = %v, want ErrExpired", err)
	}
	if _, err := auth.Authenticate(long); err != nil {
		t.Fatalf("cached unexpired token refused: %v", err)
	}
	store.RevokeSessions("user-1", []string{"s-long"}, now.Add(time.Hour))
	if _, err := auth.Authenticate(long); !errors.Is(err, session.ErrRevoked) {
		t.Errorf("cached token after revocation: err = %v, want ErrRevoked", err)
	}
}
