package password

import (
	"context"
	"errors"
	"regexp"
	"strings"
	"testing"
	"time"
)

// cheap keeps hashing fast in tests that are not about the cost parameters.
var cheap = Params{Memory: 64, Time: 1, Threads: 1, SaltLen: 16, KeyLen: 32}

func newHasher(t *testing.T, p Params, n int) *Hasher {
	t.Helper()
	h, err := NewHasher(p, n)
	if err != nil {
		t.Fatalf("NewHasher: %v", err)
	}
	return h
}

func TestHashIsPHCArgon2idWithOWASPParams(t *testing.T) {
	h := newHasher(t, OWASP, 1)
	got, err := h.Hash(context.Background(), "correct horse battery staple")
	if err != nil {
		t.Fatalf("Hash: %v", err)
	}
	want := regexp.MustCompile(`^\$argon2id\$v=19\$m=19456,t=2,p=1\$[A-Za-z0-9+/]{22}\$[A-Za-z0-9+/]{43}$`)
	if !want.MatchString(got) {
		t.Errorf("Hash = %q, want a PHC string matching %s", got, want)
	}
	again, _ := h.Hash(context.Background(), "correct horse battery staple")
	if again == got {
		t.Error("two hashes of one password are equal; the salt is not random")
	}
}

func TestVerify(t *testing.T) {
	ctx := context.Background()
	h := newHasher(t, cheap, 2)
	long := strings.Repeat("λ", MaxChars) // 1024 characters, 2048 bytes
	stored := map[string]string{}
	for _, pw := range []string{"s3cret-passphrase", long} {
		enc, err := h.Hash(ctx, pw)
		if err != nil {
			t.Fatalf("Hash: %v", err)
		}
		stored[pw] = enc
	}
	older := newHasher(t, Params{Memory: 32, Time: 1, Threads: 1, SaltLen: 16, KeyLen: 32}, 1)
	oldEnc, _ := older.Hash(ctx, "s3cret-passphrase")

	tests := []struct {
		name             string
		password, stored string
		wantOK, wantRe   bool
		wantErr          error
	}{
		{"right password", "s3cret-passphrase", stored["s3cret-passphrase"], true, false, nil},
		{"wrong password", "s3cret-passphrasE", stored["s3cret-passphrase"], false, false, nil},
		{"long password", long, stored[long], true, false, nil},
		// bcrypt would accept this: it ignores everything past 72 bytes.
		{"long password, last byte changed", long[:len(long)-1] + "x", stored[long], false, false, nil},
		{"long password, prefix only", long[:72], stored[long], false, false, nil},
		{"old parameters ask for a rehash", "s3cret-passphrase", oldEnc, true, true, nil},
		{"wrong password under old parameters", "nope-nope-nope", oldEnc, false, false, nil},
		{"bcrypt hash", "x", "$2a$10$abcdefghijklmnopqrstuuabcdefghijklmnopqrstuvwxyz12345", false, false, ErrMalformedHash},
		{"argon2i", "x", strings.Replace(stored["s3cret-passphrase"], "argon2id", "argon2i", 1), false, false, ErrMalformedHash},
		{"wrong version", "x", strings.Replace(stored["s3cret-passphrase"], "v=19", "v=16", 1), false, false, ErrMalformedHash},
		{"huge memory", "x", strings.Replace(stored["s3cret-passphrase"], "m=64", "m=99999999", 1), false, false, ErrMalformedHash},
		{"bad salt", "x", "$argon2id$v=19$m=64,t=1,p=1$!!!$AAAA", false, false, ErrMalformedHash},
		{"empty", "x", "", false, false, ErrMalformedHash},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			ok, rehash, err := h.Verify(ctx, tc.password, tc.stored)
			if !errors.Is(err, tc.wantErr) {
				t.Fatalf("err = %v, want %v", err, tc.wantErr)
			}
			if ok != tc.wantOK || rehash != tc.wantRe {
				t.Errorf("Verify = (ok %v, rehash %v), want (%v, %v)", ok, rehash, tc.wantOK, tc.wantRe)
			}
		})
	}
}

func TestVerifyDummyNeverMatches(t *testing.T) {
	h := newHasher(t, cheap, 1)
	if err := h.VerifyDummy(context.Background(), "anything"); err != nil {
		t.Fatalf("VerifyDummy: %v", err)
	}
	if ok, _, _ := h.Verify(context.Background(), "", h.dummy); ok {
		t.Error("the dummy hash matched the empty password")
	}
}

// TestConcurrencyIsBounded holds every slot and checks a further hash waits
// for one instead of running, giving up when its context ends.
func TestConcurrencyIsBounded(t *testing.T) {
	h := newHasher(t, cheap, 2)
	h.sem <- struct{}{}
	h.sem <- struct{}{}
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	if _, err := h.Hash(ctx, "password-while-full"); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Hash with all slots taken: err = %v, want %v", err, context.DeadlineExceeded)
	}
	<-h.sem
	if _, err := h.Hash(context.Background(), "password-with-a-slot"); err != nil {
		t.Fatalf("Hash with a free slot: %v", err)
	}
	if n := len(h.sem); n != 1 {
		t.Errorf("slots held after Hash returned = %d, want 1 (ours)", n)
	}
}

func TestNewHasherRejects(t *testing.T) {
	tests := []struct {
		name string
		p    Params
		n    int
	}{
		{"no concurrency", cheap, 0},
		{"no lanes", Params{Memory: 64, Time: 1, SaltLen: 16, KeyLen: 32}, 1},
		{"zero time", Params{Memory: 64, Threads: 1, SaltLen: 16, KeyLen: 32}, 1},
		{"short salt", Params{Memory: 64, Time: 1, Threads: 1, SaltLen: 4, KeyLen: 32}, 1},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := NewHasher(tc.p, tc.n); err == nil {
				t.Error("NewHasher succeeded, want an error")
			}
		})
	}
}

func TestProblem(t *testing.T) {
	tests := []struct {
		name, pw, username, email string
		want                      string // "" = accepted
	}{
		{"good passphrase", "correct horse battery staple", "alice", "alice@example.com", ""},
		{"empty", "", "alice", "a@example.com", "is required"},
		{"seven characters", "Xk9#mQ2", "alice", "a@example.com", "must be at least 8 characters"},
		{"eight characters", "Xk9#mQ2z", "alice", "a@example.com", ""},
		{"eight multibyte characters count as eight", "ключ-пароль"[:15], "alice", "a@example.com", ""},
		{"seven multibyte characters", "пароль1", "alice", "a@example.com", "must be at least 8 characters"},
		{"exactly 1024 characters", strings.Repeat("ab", 512), "alice", "a@example.com", ""},
		{"1024 multibyte characters", strings.Repeat("λ", 1024), "alice", "a@example.com", ""},
		{"1025 characters", strings.Repeat("ab", 512) + "c", "alice", "a@example.com", "must be at most 1024 characters"},
		{"common", "password", "alice", "a@example.com", "is too common; choose a less guessable password"},
		{"common, other case", "PassWord123", "alice", "a@example.com", "is too common; choose a less guessable password"},
		{"common digits", "123456789", "alice", "a@example.com", "is too common; choose a less guessable password"},
		{"keyboard walk", "qwertyuiop", "alice", "a@example.com", "is too common; choose a less guessable password"},
		{"same as username", "AliceWonder", "alicewonder", "a@example.com", "must not be your username or email"},
		{"same as email", "alice@example.com", "alice", "Alice@Example.com", "must not be your username or email"},
		{"same as email local part", "alice.liddell", "alice", "alice.liddell@example.com", "must not be your username or email"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := Problem(tc.pw, tc.username, tc.email); got != tc.want {
				t.Errorf("Problem(%q) = %q, want %q", tc.pw, got, tc.want)
			}
		})
	}
}

func TestCommonListIsShipped(t *testing.T) {
	if n := CommonCount(); n < 300 {
		t.Errorf("common password list has %d entries, want at least 300", n)
	}
}
