package session

import (
	"crypto/ed25519"
	"testing"
	"time"

	"github.com/parleychat/parley/shared/token"
)

// TestMintReusesRecentTokens checks that a token is handed out again only
// for the same subject, session and audience, and only within mintReuse,
// and that every token handed out verifies.
func TestMintReusesRecentTokens(t *testing.T) {
	t.Parallel()
	pub, priv, err := ed25519.GenerateKey(nil)
	if err != nil {
		t.Fatal(err)
	}
	signer, err := token.NewSigner(priv, token.IssuerGateway)
	if err != nil {
		t.Fatal(err)
	}
	keys, err := token.NewKeySet(pub)
	if err != nil {
		t.Fatal(err)
	}
	start := time.Date(2026, 5, 6, 7, 8, 9, 0, time.UTC)
	now := start
	m := NewMinter(signer)
	m.now = func() time.Time { return now }
	alice := Identity{UserID: "user-a", SessionID: "s1"}
	mint := func(id Identity, aud string) string {
		t.Helper()
		raw, err := m.Mint(id, aud)
		if err != nil {
			t.Fatal(err)
		}
		v, err := token.NewVerifier(keys, token.IssuerGateway, aud, token.WithClock(func() time.Time { return now }))
		if err != nil {
			t.Fatal(err)
		}
		c, err := v.Verify(raw)
		if err != nil {
			t.Fatalf("minted token does not verify: %v", err)
		}
		if c.Subject != id.UserID || c.SessionID != id.SessionID {
			t.Fatalf("claims %+v for %+v", c, id)
		}
		return raw
	}
	first := mint(alice, token.AudienceChat)
	now = start.Add(mintReuse - time.Millisecond)
	if got := mint(alice, token.AudienceChat); got != first {
		t.Error("same identity and audience within mintReuse got a new token")
	}
	for name, other := range map[string]string{
		"other audience": mint(alice, token.AudienceUsers),
		"other session":  mint(Identity{UserID: "user-a", SessionID: "s2"}, token.AudienceChat),
		"other user":     mint(Identity{UserID: "user-b", SessionID: "s1"}, token.AudienceChat),
	} {
		if other == first {
			t.Errorf("%s got alice's token", name)
		}
	}
	now = start.Add(mintReuse)
	if got := mint(alice, token.AudienceChat); got == first {
		t.Error("a token older than mintReuse was handed out again")
	}
}
