package token

import (
	"bytes"
	"crypto/ed25519"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/pem"
	"errors"
	"fmt"
	"os"
	"sort"
	"strings"
)

// LoadPrivateKey reads an Ed25519 private key from a PKCS#8 PEM file, the
// format `openssl genpkey -algorithm ed25519` writes.
func LoadPrivateKey(path string) (ed25519.PrivateKey, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("token: read private key: %w", err)
	}
	priv, err := ParsePrivateKeyPEM(data)
	if err != nil {
		return nil, fmt.Errorf("%w (%s)", err, path)
	}
	return priv, nil
}

// ParsePrivateKeyPEM parses an Ed25519 private key from PKCS#8 PEM, so keys
// can also come from environment values rather than files.
func ParsePrivateKeyPEM(data []byte) (ed25519.PrivateKey, error) {
	block, _ := pem.Decode(data)
	if block == nil {
		return nil, errors.New("token: private key: no PEM block found")
	}
	if block.Type != "PRIVATE KEY" {
		return nil, fmt.Errorf("token: private key: PEM block is %q, want \"PRIVATE KEY\" (PKCS#8)", block.Type)
	}
	return privateFromDER(block.Bytes)
}

// privateFromDER parses a PKCS#8 DER key and insists it is Ed25519.
func privateFromDER(der []byte) (ed25519.PrivateKey, error) {
	key, err := x509.ParsePKCS8PrivateKey(der)
	if err != nil {
		return nil, fmt.Errorf("token: private key: %w", err)
	}
	priv, ok := key.(ed25519.PrivateKey)
	if !ok {
		return nil, fmt.Errorf("token: private key: %T is not an Ed25519 key", key)
	}
	return priv, nil
}

// KeyID returns the RFC 7638 JWK thumbprint (SHA-256, base64url) of pub. It
// is derived from the key itself, so signer and verifiers agree on kids
// without configuration and a kid can never point at a different key.
func KeyID(pub ed25519.PublicKey) string {
	// RFC 7638 §3: members in lexicographic order, no whitespace.
	jwk := `{"crv":"Ed25519","kty":"OKP","x":"` + base64.RawURLEncoding.EncodeToString(pub) + `"}`
	sum := sha256.Sum256([]byte(jwk))
	return base64.RawURLEncoding.EncodeToString(sum[:])
}

// KeySet holds the public keys a Verifier trusts, by kid. It is immutable
// after construction and safe for concurrent use.
type KeySet struct {
	keys map[string]ed25519.PublicKey
}

// NewKeySet returns a set holding pubs; rotation means passing the old and
// the new key until tokens signed with the old one have expired.
func NewKeySet(pubs ...ed25519.PublicKey) (*KeySet, error) {
	if len(pubs) == 0 {
		return nil, errors.New("token: key set: no keys given")
	}
	ks := &KeySet{keys: make(map[string]ed25519.PublicKey, len(pubs))}
	for i, pub := range pubs {
		if len(pub) != ed25519.PublicKeySize {
			return nil, fmt.Errorf("token: key set: key %d has %d bytes, want %d", i, len(pub), ed25519.PublicKeySize)
		}
		ks.keys[KeyID(pub)] = bytes.Clone(pub)
	}
	return ks, nil
}

// LoadKeySet reads PEM files holding public keys (SPKI) or private keys
// (PKCS#8, whose public half is used), so a service can be pointed at the
// same files the signer uses or at public keys only.
func LoadKeySet(paths ...string) (*KeySet, error) {
	if len(paths) == 0 {
		return nil, errors.New("token: key set: no key files given")
	}
	var pubs []ed25519.PublicKey
	for _, path := range paths {
		data, err := os.ReadFile(path)
		if err != nil {
			return nil, fmt.Errorf("token: key set: %w", err)
		}
		got, err := parsePublicKeys(data)
		if err != nil {
			return nil, fmt.Errorf("%w (%s)", err, path)
		}
		pubs = append(pubs, got...)
	}
	return NewKeySet(pubs...)
}

// ParseKeySetPEM builds a set from one or more concatenated PEM blocks, for
// keys supplied as an environment value instead of files.
func ParseKeySetPEM(data []byte) (*KeySet, error) {
	pubs, err := parsePublicKeys(data)
	if err != nil {
		return nil, err
	}
	return NewKeySet(pubs...)
}

// ParseKeyList loads the set named by a comma-separated list of PEM file
// paths, the shape of a key-list environment variable such as
// "/keys/gateway-old.pem,/keys/gateway.pem".
func ParseKeyList(commaSeparatedPaths string) (*KeySet, error) {
	var paths []string
	for _, p := range strings.Split(commaSeparatedPaths, ",") {
		if p = strings.TrimSpace(p); p != "" {
			paths = append(paths, p)
		}
	}
	return LoadKeySet(paths...)
}

// lookup returns the key for kid; unexported so the stored keys cannot be
// modified through the returned slice.
func (ks *KeySet) lookup(kid string) (ed25519.PublicKey, bool) {
	pub, ok := ks.keys[kid]
	return pub, ok
}

// KeyIDs returns the kids in the set, sorted, for start-up logs.
func (ks *KeySet) KeyIDs() []string {
	ids := make([]string, 0, len(ks.keys))
	for id := range ks.keys {
		ids = append(ids, id)
	}
	sort.Strings(ids)
	return ids
}

// parsePublicKeys returns the Ed25519 public key of every PEM block in data.
// Unknown block types are errors rather than skipped, so a typo in a key file
// is noticed at start-up instead of silently shrinking the set.
func parsePublicKeys(data []byte) ([]ed25519.PublicKey, error) {
	var pubs []ed25519.PublicKey
	for {
		var block *pem.Block
		block, data = pem.Decode(data)
		if block == nil {
			break
		}
		switch block.Type {
		case "PUBLIC KEY":
			key, err := x509.ParsePKIXPublicKey(block.Bytes)
			if err != nil {
				return nil, fmt.Errorf("token: public key: %w", err)
			}
			pub, ok := key.(ed25519.PublicKey)
			if !ok {
				return nil, fmt.Errorf("token: public key: %T is not an Ed25519 key", key)
			}
			pubs = append(pubs, pub)
		case "PRIVATE KEY":
			priv, err := privateFromDER(block.Bytes)
			if err != nil {
				return nil, err
			}
			pubs = append(pubs, priv.Public().(ed25519.PublicKey))
		default:
			return nil, fmt.Errorf("token: key: unsupported PEM block %q", block.Type)
		}
	}
	if len(pubs) == 0 {
		return nil, errors.New("token: key: no PEM block found")
	}
	return pubs, nil
}
