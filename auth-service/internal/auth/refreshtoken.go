package auth

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
)

// refreshTokenBytes is the entropy of a refresh token (256 bits).
const refreshTokenBytes = 32

// newRefreshToken returns a fresh opaque token and the hash to store.
func newRefreshToken() (raw string, hash []byte, err error) {
	b := make([]byte, refreshTokenBytes)
	if _, err := rand.Read(b); err != nil {
		return "", nil, fmt.Errorf("auth: refresh token: %w", err)
	}
	raw = base64.RawURLEncoding.EncodeToString(b)
	return raw, hashRefreshToken(raw), nil
}

// hashRefreshToken is what the database keeps. A fast hash is right here:
// the token has 256 bits of entropy, so there is nothing to brute-force.
func hashRefreshToken(raw string) []byte {
	sum := sha256.Sum256([]byte(raw))
	return sum[:]
}

// wellFormedRefreshToken rejects anything that cannot be a token before it
// costs a database lookup.
func wellFormedRefreshToken(raw string) bool {
	if len(raw) != base64.RawURLEncoding.EncodedLen(refreshTokenBytes) {
		return false
	}
	_, err := base64.RawURLEncoding.DecodeString(raw)
	return err == nil
}

// sealKey derives the key that seals a token's successor from the token
// itself: only someone presenting the old token can open it, and the
// database alone (hashes and sealed blobs) yields no usable token.
func sealKey(raw string) []byte {
	sum := sha256.Sum256([]byte("parley refresh successor v1\x00" + raw))
	return sum[:]
}

// seal encrypts successor under a key derived from raw (AES-256-GCM).
func seal(raw, successor string) ([]byte, error) {
	aead, err := newAEAD(raw)
	if err != nil {
		return nil, err
	}
	nonce := make([]byte, aead.NonceSize())
	if _, err := rand.Read(nonce); err != nil {
		return nil, err
	}
	return aead.Seal(nonce, nonce, []byte(successor), nil), nil
}

// unseal opens what seal produced for raw.
func unseal(raw string, sealed []byte) (string, error) {
	aead, err := newAEAD(raw)
	if err != nil {
		return "", err
	}
	if len(sealed) < aead.NonceSize() {
		return "", errors.New("auth: sealed successor too short")
	}
	plain, err := aead.Open(nil, sealed[:aead.NonceSize()], sealed[aead.NonceSize():], nil)
	if err != nil {
		return "", fmt.Errorf("auth: open sealed successor: %w", err)
	}
	return string(plain), nil
}

func newAEAD(raw string) (cipher.AEAD, error) {
	block, err := aes.NewCipher(sealKey(raw))
	if err != nil {
		return nil, err
	}
	return cipher.NewGCM(block)
}
