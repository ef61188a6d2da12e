// Package tokentest sets up keys, signers and verifiers for tests, so every
// test that needs a token builds it the same way and fails loudly on a
// set-up error instead of ignoring it.
package tokentest

import (
	"crypto/ed25519"
	"crypto/x509"
	"encoding/pem"
	"os"
	"path/filepath"
	"testing"

	"github.com/parleychat/parley/shared/token"
)

// NewKey generates a fresh Ed25519 private key.
func NewKey(t testing.TB) ed25519.PrivateKey {
	t.Helper()
	_, priv, err := ed25519.GenerateKey(nil)
	if err != nil {
		t.Fatalf("generate key: %v", err)
	}
	return priv
}

// Public returns priv's public half.
func Public(priv ed25519.PrivateKey) ed25519.PublicKey {
	return priv.Public().(ed25519.PublicKey)
}

// KeySet returns a set trusting the public halves of privs.
func KeySet(t testing.TB, privs ...ed25519.PrivateKey) *token.KeySet {
	t.Helper()
	pubs := make([]ed25519.PublicKey, 0, len(privs))
	for _, p := range privs {
		pubs = append(pubs, Public(p))
	}
	ks, err := token.NewKeySet(pubs...)
	if err != nil {
		t.Fatalf("key set: %v", err)
	}
	return ks
}

// Signer returns a signer for issuer with priv.
func Signer(t testing.TB, priv ed25519.PrivateKey, issuer string) *token.Signer {
	t.Helper()
	s, err := token.NewSigner(priv, issuer)
	if err != nil {
		t.Fatalf("signer for %s: %v", issuer, err)
	}
	return s
}

// Verifier returns a verifier for tokens from issuer to audience signed by
// a key in ks.
func Verifier(t testing.TB, ks *token.KeySet, issuer, audience string, opts ...token.VerifierOption) *token.Verifier {
	t.Helper()
	v, err := token.NewVerifier(ks, issuer, audience, opts...)
	if err != nil {
		t.Fatalf("verifier for %s -> %s: %v", issuer, audience, err)
	}
	return v
}

// Issuer is one issuer's key with its signer and the key set that trusts it.
type Issuer struct {
	// Key is the private signing key.
	Key ed25519.PrivateKey
	// Signer signs as the issuer with Key.
	Signer *token.Signer
	// Keys trusts Key's public half.
	Keys *token.KeySet
	name string
}

// NewIssuer generates a key for issuer (token.IssuerGateway,
// token.IssuerAuth) and returns its signer and key set.
func NewIssuer(t testing.TB, issuer string) Issuer {
	t.Helper()
	key := NewKey(t)
	return Issuer{Key: key, Signer: Signer(t, key, issuer), Keys: KeySet(t, key), name: issuer}
}

// Verifier returns a verifier for this issuer's tokens to audience.
func (i Issuer) Verifier(t testing.TB, audience string, opts ...token.VerifierOption) *token.Verifier {
	t.Helper()
	return Verifier(t, i.Keys, i.name, audience, opts...)
}

// Must unwraps a signing result: tokentest.Must(t)(s.Internal(...)).
func Must(t testing.TB) func(string, error) string {
	return func(tok string, err error) string {
		t.Helper()
		if err != nil {
			t.Fatalf("sign: %v", err)
		}
		return tok
	}
}

// PrivatePEM encodes priv as PKCS#8 PEM, the form services load.
func PrivatePEM(t testing.TB, priv ed25519.PrivateKey) []byte {
	t.Helper()
	der, err := x509.MarshalPKCS8PrivateKey(priv)
	if err != nil {
		t.Fatalf("encode private key: %v", err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der})
}

// PublicPEM encodes pub as SPKI PEM.
func PublicPEM(t testing.TB, pub ed25519.PublicKey) []byte {
	t.Helper()
	der, err := x509.MarshalPKIXPublicKey(pub)
	if err != nil {
		t.Fatalf("encode public key: %v", err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der})
}

// WriteFile writes data to dir/name (mode 0600) and returns the path, for
// key files a service loads by path.
func WriteFile(t testing.TB, dir, name string, data []byte) string {
	t.Helper()
	path := filepath.Join(dir, name)
	if err := os.WriteFile(path, data, 0o600); err != nil {
		t.Fatalf("write %s: %v", path, err)
	}
	return path
}
