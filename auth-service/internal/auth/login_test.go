package auth_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/parleychat/parley/auth-service/internal/auth"
	"github.com/parleychat/parley/auth-service/internal/password"
)

func TestLogin(t *testing.T) {
	f := newFixture(t, nil)
	alice := f.signup(t, "alice")
	tests := []struct{ name, login string }{
		{"username", "alice"},
		{"email", "alice@example.com"},
		{"username in another case with spaces", "  ALICE "},
		{"email in another case", "Alice@EXAMPLE.com"},
	}
	seen := map[string]bool{alice.Session.ID: true}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			g := f.login(t, tc.login)
			if g.User.ID != alice.User.ID {
				t.Errorf("logged in as %s, want alice", g.User.ID)
			}
			if seen[g.Session.ID] {
				t.Errorf("session %s reused, want a new session per login", g.Session.ID)
			}
			seen[g.Session.ID] = true
		})
	}
}

func TestLoginFailuresAreUniform(t *testing.T) {
	f := newFixture(t, nil)
	f.signup(t, "alice")
	for _, in := range []auth.LoginInput{
		{Login: "alice", Password: "wrong password!"},
		{Login: "alice@example.com", Password: "wrong password!"},
		{Login: "nobody", Password: "wrong password!"},
		{Login: "nobody@example.com", Password: goodPassword},
	} {
		before := f.hasher.verifications.Load()
		_, err := f.svc.Login(context.Background(), in, device)
		if err != auth.ErrInvalidCredentials {
			t.Errorf("Login(%q): err = %v, want exactly ErrInvalidCredentials", in.Login, err)
		}
		// Same work whether or not the account exists: one argon2id
		// verification, so timing does not tell them apart.
		if n := f.hasher.verifications.Load() - before; n != 1 {
			t.Errorf("Login(%q) ran %d verifications, want 1", in.Login, n)
		}
	}
	_, err := f.svc.Login(context.Background(), auth.LoginInput{}, device)
	if got := fieldsOf(t, err); !sameFields(got, map[string]string{"login": "is required", "password": "is required"}) {
		t.Errorf("empty login fields = %v", got)
	}
}

func TestLoginThrottling(t *testing.T) {
	f := newFixture(t, func(c *auth.Config) { c.AccountFailures, c.IPFailures = 3, 5 })
	f.signup(t, "alice")
	f.signup(t, "bob")
	ctx := context.Background()
	attempt := func(login, pw, ip string) error {
		_, err := f.svc.Login(ctx, auth.LoginInput{Login: login, Password: pw}, auth.Client{IP: ip})
		return err
	}
	throttledFor := func(t *testing.T, err error) time.Duration {
		t.Helper()
		var th *auth.ThrottledError
		if !errors.As(err, &th) {
			t.Fatalf("err = %v, want throttled", err)
		}
		return th.RetryAfter
	}

	// Per account, whatever the address: three failures from three IPs.
	for _, ip := range []string{"192.0.2.1", "192.0.2.2", "192.0.2.3"} {
		wantErr(t, attempt("alice", "wrong password!", ip), auth.ErrInvalidCredentials)
		f.clock.Advance(time.Minute)
	}
	// Even the right password is refused now, from a fresh address, and by
	// email as well as by username.
	if d := throttledFor(t, attempt("alice", goodPassword, "192.0.2.99")); d != f.cfg.FailureWindow-3*time.Minute {
		t.Errorf("Retry-After = %s, want %s (until the first failure leaves the window)", d, f.cfg.FailureWindow-3*time.Minute)
	}
	throttledFor(t, attempt("ALICE@example.com", goodPassword, "192.0.2.99"))
	if err := attempt("bob", goodPassword, "192.0.2.1"); err != nil {
		t.Errorf("bob from a failing address: %v, want success (under the IP limit)", err)
	}

	// Unknown accounts throttle exactly like known ones.
	for range 3 {
		wantErr(t, attempt("ghost", "wrong password!", "198.51.100.1"), auth.ErrInvalidCredentials)
	}
	throttledFor(t, attempt("ghost", "wrong password!", "198.51.100.2"))

	// Per IP: five failures on five accounts from one address.
	for _, login := range []string{"u1", "u2", "u3", "u4", "u5"} {
		wantErr(t, attempt(login, "wrong password!", "203.0.113.9"), auth.ErrInvalidCredentials)
	}
	throttledFor(t, attempt("bob", goodPassword, "203.0.113.9"))
	if err := attempt("bob", goodPassword, "203.0.113.10"); err != nil {
		t.Errorf("bob from another address: %v, want success", err)
	}

	// The window slides: once the failures are old enough, alice is back,
	// and a success clears the count of its (account, address) pair.
	f.clock.Advance(f.cfg.FailureWindow)
	if err := attempt("alice", goodPassword, "192.0.2.99"); err != nil {
		t.Fatalf("alice after the window: %v", err)
	}
	for range 2 {
		wantErr(t, attempt("alice", "wrong password!", "192.0.2.50"), auth.ErrInvalidCredentials)
	}
	if err := attempt("alice", goodPassword, "192.0.2.50"); err != nil {
		t.Errorf("alice after 2 new failures: %v, want success (under the account bound of 3)", err)
	}
	// That success cleared the pair's count, not the account's: one more
	// failure from anywhere reaches the account bound again.
	wantErr(t, attempt("alice", "wrong password!", "192.0.2.51"), auth.ErrInvalidCredentials)
	throttledFor(t, attempt("alice", goodPassword, "192.0.2.50"))
}

func TestLoginRehashesOldParameters(t *testing.T) {
	f := newFixture(t, nil)
	g := f.signup(t, "alice")
	old, err := password.NewHasher(password.Params{Memory: 32, Time: 1, Threads: 1, SaltLen: 16, KeyLen: 32}, 1)
	if err != nil {
		t.Fatal(err)
	}
	oldHash, _ := old.Hash(context.Background(), goodPassword)
	if _, err := f.pool.Exec(context.Background(), `UPDATE users SET password_hash = $1 WHERE id = $2`, oldHash, g.User.ID); err != nil {
		t.Fatal(err)
	}
	f.login(t, "alice")
	u, _ := f.store.UserByID(context.Background(), g.User.ID)
	if u.PasswordHash == oldHash || u.PasswordHash[:24] != "$argon2id$v=19$m=64,t=1," {
		t.Errorf("hash after login = %q, want a rehash under m=64,t=1", u.PasswordHash)
	}
	if !u.PasswordChangedAt.IsZero() {
		t.Errorf("password_changed_at = %v after a rehash, want unset: a rehash is not a change", u.PasswordChangedAt)
	}
	f.login(t, "alice")
}
