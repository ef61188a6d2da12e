package tokentest_test

import (
	"slices"
	"testing"
	"time"

	"github.com/parleychat/parley/shared/token"
	"github.com/parleychat/parley/shared/token/tokentest"
)

func TestIssuerTokensVerifyOnlyWithItsKeys(t *testing.T) {
	gw := tokentest.NewIssuer(t, token.IssuerGateway)
	other := tokentest.NewIssuer(t, token.IssuerGateway)
	raw := tokentest.Must(t)(gw.Signer.Internal("user-1", token.AudienceUsers, time.Minute))
	if _, err := gw.Verifier(t, token.AudienceUsers).Verify(raw); err != nil {
		t.Errorf("own verifier: %v, want the token accepted", err)
	}
	if _, err := other.Verifier(t, token.AudienceUsers).Verify(raw); err == nil {
		t.Error("another key's verifier accepted the token, want it refused")
	}
}

func TestPEMFilesLoadAsTheSameKey(t *testing.T) {
	key := tokentest.NewKey(t)
	dir := t.TempDir()
	priv, err := token.LoadPrivateKey(tokentest.WriteFile(t, dir, "k.pem", tokentest.PrivatePEM(t, key)))
	if err != nil || !priv.Equal(key) {
		t.Fatalf("LoadPrivateKey = (%v, %v), want the written key", priv, err)
	}
	ks, err := token.LoadKeySet(tokentest.WriteFile(t, dir, "k.pub.pem", tokentest.PublicPEM(t, tokentest.Public(key))))
	if err != nil {
		t.Fatal(err)
	}
	if got, want := ks.KeyIDs(), []string{token.KeyID(tokentest.Public(key))}; !slices.Equal(got, want) {
		t.Errorf("kids = %v, want %v", got, want)
	}
}
