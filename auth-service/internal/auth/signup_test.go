package auth_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/parleychat/parley/auth-service/internal/auth"
)

func TestSignup(t *testing.T) {
	f := newFixture(t, nil)
	now := f.clock.Now()
	g, err := f.svc.Signup(context.Background(), auth.SignupInput{
		Username: "  Alice.W ", Email: "Alice@Example.COM", Password: goodPassword,
	}, device)
	if err != nil {
		t.Fatalf("Signup: %v", err)
	}
	if g.User.Username != "alice.w" || g.User.Email != "alice@example.com" {
		t.Errorf("user = %s <%s>, want alice.w <alice@example.com> (normalised)", g.User.Username, g.User.Email)
	}
	if g.Session.UserID != g.User.ID || g.Session.IP != device.IP || g.Session.UserAgent != device.UserAgent {
		t.Errorf("session = %+v, want one for the user from %+v", g.Session, device)
	}
	if want := now.Add(f.cfg.RefreshTTL); !g.RefreshExpiresAt.Equal(want) || !g.Session.ExpiresAt.Equal(want) {
		t.Errorf("refresh/session expiry = %v/%v, want %v", g.RefreshExpiresAt, g.Session.ExpiresAt, want)
	}
	if len(g.RefreshToken) != 43 {
		t.Errorf("refresh token %q has %d characters, want 43 (256 bits, base64url)", g.RefreshToken, len(g.RefreshToken))
	}

	claims, err := f.sessions.Verify(g.AccessToken)
	if err != nil {
		t.Fatalf("access token does not verify as a session token: %v", err)
	}
	if claims.Subject != g.User.ID || claims.SessionID != g.Session.ID || claims.ID == "" {
		t.Errorf("claims sub=%s sid=%s jti=%q, want sub=%s sid=%s and a jti", claims.Subject, claims.SessionID, claims.ID, g.User.ID, g.Session.ID)
	}
	if !claims.ExpiresAt.Time.Equal(g.AccessExpiresAt) || g.AccessExpiresAt.Sub(now) != f.cfg.AccessTTL {
		t.Errorf("exp = %v, answer says %v, want both %v", claims.ExpiresAt.Time, g.AccessExpiresAt, now.Add(f.cfg.AccessTTL))
	}

	evs := f.events(t, "auth.user.registered.v1")
	if len(evs) != 1 || evs[0].AggregateID != g.User.ID || evs[0].Data["username"] != "alice.w" || evs[0].Data["email"] != "alice@example.com" {
		t.Errorf("registered events = %+v, want one for alice.w", evs)
	}
	if n := f.count(t, `SELECT count(*) FROM refresh_tokens WHERE session_id = $1`, g.Session.ID); n != 1 {
		t.Errorf("refresh tokens stored = %d, want 1", n)
	}
	if n := f.count(t, `SELECT count(*) FROM users WHERE password_hash LIKE '$argon2id$v=19$%'`); n != 1 {
		t.Errorf("users with an argon2id hash = %d, want 1", n)
	}
}

func TestSignupRefused(t *testing.T) {
	f := newFixture(t, nil)
	f.signup(t, "alice")
	long := strings.Repeat("x", 1025)
	tests := []struct {
		name                      string
		username, email, password string
		wantConflict              bool
		want                      map[string]string
	}{
		{"everything missing", "", "", "", false, map[string]string{
			"username": "is required", "email": "is required", "password": "is required"}},
		{"username too short", "ab", "ab@example.com", goodPassword, false, map[string]string{"username": "must be 3 to 32 characters"}},
		{"username too long", strings.Repeat("a", 33), "x@example.com", goodPassword, false, map[string]string{"username": "must be 3 to 32 characters"}},
		{"username with a space", "bob smith", "bob@example.com", goodPassword, false, map[string]string{"username": "may contain only letters a-z, digits 0-9, '_' and '.'"}},
		{"username with a non-ASCII letter", "bøb", "bob@example.com", goodPassword, false, map[string]string{"username": "may contain only letters a-z, digits 0-9, '_' and '.'"}},
		{"reserved username", "Anonymous", "anon@example.com", goodPassword, false, map[string]string{"username": "is reserved"}},
		{"email without @", "bob", "bob.example.com", goodPassword, false, map[string]string{"email": "must be a valid email address"}},
		{"email with a display name", "bob", "Bob <bob@example.com>", goodPassword, false, map[string]string{"email": "must be a valid email address"}},
		{"email without a dotted domain", "bob", "bob@localhost", goodPassword, false, map[string]string{"email": "must be a valid email address"}},
		{"short password", "bob", "bob@example.com", "short", false, map[string]string{"password": "must be at least 8 characters"}},
		{"password over 1024 characters", "bob", "bob@example.com", long, false, map[string]string{"password": "must be at most 1024 characters"}},
		{"common password", "bob", "bob@example.com", "iloveyou", false, map[string]string{"password": "is too common; choose a less guessable password"}},
		{"password equal to the username", "bobbybobby", "bob@example.com", "BobbyBobby", false, map[string]string{"password": "must not be your username or email"}},
		{"taken username in another case", "ALICE", "new@example.com", goodPassword, true, map[string]string{"username": "is already taken"}},
		{"taken email in another case", "newbie", "ALICE@example.com", goodPassword, true, map[string]string{"email": "is already registered"}},
		{"both taken", "alice", "alice@example.com", goodPassword, true, map[string]string{
			"username": "is already taken", "email": "is already registered"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := f.svc.Signup(context.Background(), auth.SignupInput{Username: tc.username, Email: tc.email, Password: tc.password},
				auth.Client{IP: "198.51.100.7"})
			var con *auth.ConflictError
			if got := errors.As(err, &con); got != tc.wantConflict {
				t.Fatalf("err = %v; conflict %v, want %v", err, got, tc.wantConflict)
			}
			if got := fieldsOf(t, err); !sameFields(got, tc.want) {
				t.Errorf("fields = %v, want %v", got, tc.want)
			}
		})
	}
	if n := f.count(t, `SELECT count(*) FROM users`); n != 1 {
		t.Errorf("users = %d, want only alice", n)
	}
	if n := len(f.events(t, "auth.user.registered.v1")); n != 1 {
		t.Errorf("registered events = %d, want only alice's", n)
	}
}

// failingIssuer makes minting fail after the user row is written.
type failingIssuer struct{}

func (failingIssuer) Issue(string, string, time.Time, time.Time) (string, error) {
	return "", errors.New("signing key unavailable")
}

func TestSignupIsAtomic(t *testing.T) {
	f := newFixtureWithIssuer(t, nil, failingIssuer{})
	_, err := f.svc.Signup(context.Background(), auth.SignupInput{Username: "alice", Email: "alice@example.com", Password: goodPassword}, device)
	if err == nil {
		t.Fatal("Signup succeeded with a failing issuer")
	}
	for _, table := range []string{"users", "sessions", "refresh_tokens", "outbox"} {
		if n := f.count(t, `SELECT count(*) FROM `+table); n != 0 {
			t.Errorf("%s rows after the failed signup = %d, want 0", table, n)
		}
	}
}

func TestSignupConflictsAreThrottledPerIP(t *testing.T) {
	f := newFixture(t, func(c *auth.Config) { c.SignupConflicts = 2 })
	f.signup(t, "alice")
	probe := func(ip string) error {
		_, err := f.svc.Signup(context.Background(), auth.SignupInput{Username: "probe", Email: "alice@example.com", Password: goodPassword},
			auth.Client{IP: ip})
		return err
	}
	for i := range 2 {
		var con *auth.ConflictError
		if err := probe("203.0.113.5"); !errors.As(err, &con) {
			t.Fatalf("probe %d: err = %v, want a conflict", i+1, err)
		}
	}
	var th *auth.ThrottledError
	if err := probe("203.0.113.5"); !errors.As(err, &th) || th.RetryAfter != f.cfg.FailureWindow {
		t.Fatalf("third probe: err = %v, want throttled for %s", err, f.cfg.FailureWindow)
	}
	var con *auth.ConflictError
	if err := probe("203.0.113.6"); !errors.As(err, &con) {
		t.Errorf("probe from another IP: err = %v, want a conflict (throttle is per IP)", err)
	}
}

func TestMe(t *testing.T) {
	f := newFixture(t, nil)
	g := f.signup(t, "alice")
	u, err := f.svc.Me(context.Background(), auth.Caller{UserID: g.User.ID, SessionID: g.Session.ID})
	if err != nil || u.ID != g.User.ID || u.Username != "alice" {
		t.Errorf("Me = %+v, %v; want alice", u, err)
	}
	for _, c := range []auth.Caller{{UserID: "anonymous"}, {UserID: "gateway"}, {}, {UserID: "0190b7c4-0000-7000-8000-000000000000"}} {
		if _, err := f.svc.Me(context.Background(), c); !errors.Is(err, auth.ErrUnauthenticated) {
			t.Errorf("Me(%+v) err = %v, want ErrUnauthenticated", c, err)
		}
	}
}
