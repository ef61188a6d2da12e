// Package password hashes passwords with argon2id, bounds how many hashes run
// at once, and decides which new passwords are acceptable.
package password

import (
	"context"
	"crypto/rand"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"fmt"
	"strconv"
	"strings"

	"golang.org/x/crypto/argon2"
)

// Params are argon2id's cost parameters; Memory is in KiB.
type Params struct {
	Memory  uint32
	Time    uint32
	Threads uint8
	SaltLen int
	KeyLen  int
}

// OWASP are the OWASP Password Storage Cheat Sheet's minimum argon2id
// parameters (19 MiB, 2 passes, 1 lane), the design's choice.
var OWASP = Params{Memory: 19 * 1024, Time: 2, Threads: 1, SaltLen: 16, KeyLen: 32}

// ErrMalformedHash reports a stored hash that is not an argon2id PHC string
// this package can verify.
var ErrMalformedHash = errors.New("password: malformed argon2id hash")

// Hasher hashes and verifies passwords with fixed parameters. Each hash
// allocates Params.Memory, so a semaphore bounds how many run at once:
// without it a burst of logins could take the process's memory with it.
type Hasher struct {
	params Params
	sem    chan struct{}
	dummy  string
}

// NewHasher returns a hasher running at most concurrency hashes at a time.
// It computes one hash up front, the stand-in used by VerifyDummy.
func NewHasher(params Params, concurrency int) (*Hasher, error) {
	if concurrency < 1 {
		return nil, fmt.Errorf("password: hash concurrency %d must be at least 1", concurrency)
	}
	if err := params.check(); err != nil {
		return nil, err
	}
	h := &Hasher{params: params, sem: make(chan struct{}, concurrency)}
	secret := make([]byte, 32)
	_, _ = rand.Read(secret)
	dummy, err := h.Hash(context.Background(), base64.RawStdEncoding.EncodeToString(secret))
	if err != nil {
		return nil, err
	}
	h.dummy = dummy
	return h, nil
}

// Hash returns the PHC string of password under the hasher's parameters:
// $argon2id$v=19$m=19456,t=2,p=1$<salt>$<hash>. It waits for a free slot
// until ctx ends.
func (h *Hasher) Hash(ctx context.Context, password string) (string, error) {
	salt := make([]byte, h.params.SaltLen)
	if _, err := rand.Read(salt); err != nil {
		return "", fmt.Errorf("password: salt: %w", err)
	}
	key, err := h.derive(ctx, password, salt, h.params)
	if err != nil {
		return "", err
	}
	return encode(h.params, salt, key), nil
}

// Verify reports whether password matches the PHC string encoded, and
// whether encoded should be replaced by a hash under the current parameters.
func (h *Hasher) Verify(ctx context.Context, password, encoded string) (ok, rehash bool, err error) {
	p, salt, want, err := decode(encoded)
	if err != nil {
		return false, false, err
	}
	got, err := h.derive(ctx, password, salt, p)
	if err != nil {
		return false, false, err
	}
	if subtle.ConstantTimeCompare(got, want) != 1 {
		return false, false, nil
	}
	return true, p != h.params, nil
}

// VerifyDummy spends the same time and memory as verifying a real hash, so
// a login for an unknown account costs what a wrong password costs and the
// two cannot be told apart by timing.
func (h *Hasher) VerifyDummy(ctx context.Context, password string) error {
	_, _, err := h.Verify(ctx, password, h.dummy)
	return err
}

func (h *Hasher) derive(ctx context.Context, password string, salt []byte, p Params) ([]byte, error) {
	select {
	case h.sem <- struct{}{}:
	case <-ctx.Done():
		return nil, fmt.Errorf("password: waiting for a hashing slot: %w", ctx.Err())
	}
	defer func() { <-h.sem }()
	return argon2.IDKey([]byte(password), salt, p.Time, p.Memory, p.Threads, uint32(p.KeyLen)), nil
}

func encode(p Params, salt, key []byte) string {
	b64 := base64.RawStdEncoding
	return fmt.Sprintf("$argon2id$v=%d$m=%d,t=%d,p=%d$%s$%s",
		argon2.Version, p.Memory, p.Time, p.Threads, b64.EncodeToString(salt), b64.EncodeToString(key))
}

// decode parses a PHC argon2id string. Parameters are bounded so a corrupt
// or hostile row cannot make one verification allocate gigabytes.
func decode(s string) (Params, []byte, []byte, error) {
	parts := strings.Split(s, "$")
	if len(parts) != 6 || parts[0] != "" || parts[1] != "argon2id" || parts[2] != "v="+strconv.Itoa(argon2.Version) {
		return Params{}, nil, nil, ErrMalformedHash
	}
	var p Params
	for _, kv := range strings.Split(parts[3], ",") {
		k, v, _ := strings.Cut(kv, "=")
		n, err := strconv.ParseUint(v, 10, 32)
		if err != nil {
			return Params{}, nil, nil, ErrMalformedHash
		}
		switch k {
		case "m":
			p.Memory = uint32(n)
		case "t":
			p.Time = uint32(n)
		case "p":
			if n > 255 {
				return Params{}, nil, nil, ErrMalformedHash
			}
			p.Threads = uint8(n)
		default:
			return Params{}, nil, nil, ErrMalformedHash
		}
	}
	salt, err1 := base64.RawStdEncoding.DecodeString(parts[4])
	key, err2 := base64.RawStdEncoding.DecodeString(parts[5])
	if err1 != nil || err2 != nil {
		return Params{}, nil, nil, ErrMalformedHash
	}
	p.SaltLen, p.KeyLen = len(salt), len(key)
	if err := p.check(); err != nil {
		return Params{}, nil, nil, fmt.Errorf("%w: %v", ErrMalformedHash, err)
	}
	return p, salt, key, nil
}

// check bounds parameters to what argon2 accepts and a server can afford.
func (p Params) check() error {
	switch {
	case p.Threads < 1:
		return errors.New("password: argon2id needs at least one lane")
	case p.Memory < 8*uint32(p.Threads) || p.Memory > 1<<20:
		return fmt.Errorf("password: argon2id memory %d KiB out of range", p.Memory)
	case p.Time < 1 || p.Time > 20:
		return fmt.Errorf("password: argon2id time %d out of range", p.Time)
	case p.SaltLen < 8 || p.SaltLen > 64:
		return fmt.Errorf("password: salt length %d out of range", p.SaltLen)
	case p.KeyLen < 16 || p.KeyLen > 128:
		return fmt.Errorf("password: key length %d out of range", p.KeyLen)
	}
	return nil
}
