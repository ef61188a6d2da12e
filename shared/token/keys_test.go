package token_test

import (
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/x509"
	"encoding/base64"
	"encoding/pem"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"testing"

	"github.com/parleychat/parley/shared/token"
	"github.com/parleychat/parley/shared/token/tokentest"
)

// Test vectors from RFC 8410 §10.1 and §10.3: one key pair in both forms.
const (
	rfc8410Private = "-----BEGIN PRIVATE KEY-----\nMC4CAQAwBQYDK2VwBCIEINTuctv5E1hK1bbY8fdp+K06/nwoy/HU++CXqI9EdVhC\n-----END PRIVATE KEY-----\n"
	rfc8410Public  = "-----BEGIN PUBLIC KEY-----\nMCowBQYDK2VwAyEAGb9ECWmEzf6FQbrBZ9w7lshQhqowtrbLDFw4rXAxZuE=\n-----END PUBLIC KEY-----\n"
)

func TestKeyIDMatchesRFC8037Thumbprint(t *testing.T) {
	// RFC 8037 Appendix A.3.
	x, err := base64.RawURLEncoding.DecodeString("11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo")
	if err != nil {
		t.Fatal(err)
	}
	if got, want := token.KeyID(x), "kPrK_qmxVWaYVA9wwBF6Iuo3vVzz7TxHCTwXBygrS4k"; got != want {
		t.Errorf("KeyID = %q, want %q", got, want)
	}
}

func TestParsePrivateKeyPEMMatchesPublicKey(t *testing.T) {
	priv, err := token.ParsePrivateKeyPEM([]byte(rfc8410Private))
	if err != nil {
		t.Fatalf("ParsePrivateKeyPEM: %v", err)
	}
	ks, err := token.ParseKeySetPEM([]byte(rfc8410Public))
	if err != nil {
		t.Fatalf("ParseKeySetPEM: %v", err)
	}
	if got, want := ks.KeyIDs(), []string{token.KeyID(tokentest.Public(priv))}; !slices.Equal(got, want) {
		t.Errorf("public key's kids = %v, want the private key's %v", got, want)
	}
}

// writePEM writes one PEM block to a file in dir and returns its path.
func writePEM(t *testing.T, dir, name, typ string, der []byte) string {
	t.Helper()
	path := filepath.Join(dir, name)
	if err := os.WriteFile(path, pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

func TestLoadKeySet(t *testing.T) {
	dir := t.TempDir()
	oldKey, newKeyPriv := tokentest.NewKey(t), tokentest.NewKey(t)
	privDER, err := x509.MarshalPKCS8PrivateKey(oldKey)
	if err != nil {
		t.Fatal(err)
	}
	pubDER, err := x509.MarshalPKIXPublicKey(tokentest.Public(newKeyPriv))
	if err != nil {
		t.Fatal(err)
	}
	oldPath := writePEM(t, dir, "old-private.pem", "PRIVATE KEY", privDER)
	newPath := writePEM(t, dir, "new-public.pem", "PUBLIC KEY", pubDER)
	oldPubPath := writePEM(t, dir, "old-public.pem", "PUBLIC KEY", mustPKIX(t, tokentest.Public(oldKey)))
	ecPriv, err := ecdsa.GenerateKey(elliptic.P256(), nil)
	if err != nil {
		t.Fatal(err)
	}
	ecPKCS8, _ := x509.MarshalPKCS8PrivateKey(ecPriv)
	ecPath := writePEM(t, dir, "ec.pem", "PRIVATE KEY", ecPKCS8)
	ecPubPath := writePEM(t, dir, "ec-public.pem", "PUBLIC KEY", mustPKIX(t, &ecPriv.PublicKey))
	oddPath := writePEM(t, dir, "odd.pem", "EC PRIVATE KEY", []byte{1})
	junkPath := filepath.Join(dir, "junk.pem")
	if err := os.WriteFile(junkPath, []byte("not a key"), 0o600); err != nil {
		t.Fatal(err)
	}

	oldKID, newKID := token.KeyID(tokentest.Public(oldKey)), token.KeyID(tokentest.Public(newKeyPriv))
	tests := []struct {
		name    string
		list    string
		want    []string
		wantErr bool
	}{
		{name: "private and public files", list: oldPath + "," + newPath, want: []string{oldKID, newKID}},
		{name: "spaces and empty entries", list: " " + oldPath + " , ," + newPath + " ", want: []string{oldKID, newKID}},
		{name: "same key in both forms counts once", list: oldPath + "," + oldPubPath, want: []string{oldKID}},
		{name: "empty list", list: " , ", wantErr: true},
		{name: "missing file", list: filepath.Join(dir, "absent.pem"), wantErr: true},
		{name: "not PEM", list: junkPath, wantErr: true},
		{name: "ECDSA private key", list: ecPath, wantErr: true},
		{name: "ECDSA public key", list: ecPubPath, wantErr: true},
		{name: "unsupported block type", list: oddPath, wantErr: true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			ks, err := token.ParseKeyList(tc.list)
			if tc.wantErr {
				if err == nil {
					t.Fatalf("ParseKeyList(%q) = %v, want an error", tc.list, ks.KeyIDs())
				}
				return
			}
			if err != nil {
				t.Fatalf("ParseKeyList(%q): %v", tc.list, err)
			}
			want := slices.Clone(tc.want)
			slices.Sort(want)
			if got := ks.KeyIDs(); !slices.Equal(got, want) {
				t.Errorf("KeyIDs = %v, want %v", got, want)
			}
		})
	}
}

func mustPKIX(t *testing.T, pub any) []byte {
	t.Helper()
	der, err := x509.MarshalPKIXPublicKey(pub)
	if err != nil {
		t.Fatal(err)
	}
	return der
}

func TestParsePrivateKeyPEMRejects(t *testing.T) {
	tests := []struct{ name, pem string }{
		{"empty", ""},
		{"public key block", rfc8410Public},
		{"garbage", "-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := token.ParsePrivateKeyPEM([]byte(tc.pem)); err == nil {
				t.Errorf("ParsePrivateKeyPEM(%q) succeeded, want an error", tc.name)
			}
		})
	}
}

func TestNewKeySetRejects(t *testing.T) {
	if _, err := token.NewKeySet(); err == nil {
		t.Error("NewKeySet() succeeded, want an error for an empty set")
	}
	if _, err := token.NewKeySet(ed25519.PublicKey{1, 2, 3}); err == nil {
		t.Error("NewKeySet(3 bytes) succeeded, want an error")
	}
}

// TestOpenSSLKeys checks the documented key-generation commands produce files
// LoadPrivateKey and LoadKeySet accept.
func TestOpenSSLKeys(t *testing.T) {
	openssl, err := exec.LookPath("openssl")
	if err != nil {
		t.Skip("openssl not installed")
	}
	dir := t.TempDir()
	priv, pub := filepath.Join(dir, "private.pem"), filepath.Join(dir, "public.pem")
	for _, args := range [][]string{
		{"genpkey", "-algorithm", "ed25519", "-out", priv},
		{"pkey", "-in", priv, "-pubout", "-out", pub},
	} {
		if out, err := exec.Command(openssl, args...).CombinedOutput(); err != nil {
			t.Fatalf("openssl %v: %v\n%s", args, err, out)
		}
	}
	key, err := token.LoadPrivateKey(priv)
	if err != nil {
		t.Fatalf("LoadPrivateKey: %v", err)
	}
	ks, err := token.LoadKeySet(pub)
	if err != nil {
		t.Fatalf("LoadKeySet: %v", err)
	}
	if got, want := ks.KeyIDs(), []string{token.KeyID(tokentest.Public(key))}; !slices.Equal(got, want) {
		t.Errorf("KeyIDs = %v, want %v", got, want)
	}
}
