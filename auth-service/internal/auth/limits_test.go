package auth_test

import (
	"context"
	"errors"
	"slices"
	"strconv"
	"testing"

	"github.com/parleychat/parley/auth-service/internal/auth"
)

// With the default bounds, ten wrong passwords from one address throttle
// that address on the account, and the owner still signs in from theirs.
func TestAnAttackerCannotLockTheOwnerOut(t *testing.T) {
	f := newFixture(t, nil)
	f.signup(t, "alice")
	ctx := context.Background()
	attacker := auth.Client{IP: "198.51.100.66", UserAgent: "guesser"}
	for range f.cfg.AccountClientFailures {
		_, err := f.svc.Login(ctx, auth.LoginInput{Login: "alice", Password: "wrong password!"}, attacker)
		wantErr(t, err, auth.ErrInvalidCredentials)
	}
	_, err := f.svc.Login(ctx, auth.LoginInput{Login: "alice", Password: goodPassword}, attacker)
	var th *auth.ThrottledError
	if !errors.As(err, &th) || th.RetryAfter <= 0 {
		t.Fatalf("attacker's next attempt: err = %v, want throttled with a Retry-After", err)
	}
	if _, err := f.svc.Login(ctx, auth.LoginInput{Login: "alice", Password: goodPassword}, device); err != nil {
		t.Errorf("owner from their own address: %v, want success", err)
	}
}

// The per-account bound still stops a guess spread over many addresses.
func TestLoginFailuresFromManyAddressesMeetTheAccountBound(t *testing.T) {
	f := newFixture(t, func(c *auth.Config) { c.AccountClientFailures, c.AccountFailures, c.IPFailures = 2, 4, 100 })
	f.signup(t, "alice")
	ctx := context.Background()
	for i := range 4 {
		ip := auth.Client{IP: "198.51.100." + strconv.Itoa(i+1)}
		_, err := f.svc.Login(ctx, auth.LoginInput{Login: "alice", Password: "wrong password!"}, ip)
		wantErr(t, err, auth.ErrInvalidCredentials)
	}
	_, err := f.svc.Login(ctx, auth.LoginInput{Login: "alice", Password: goodPassword}, device)
	var th *auth.ThrottledError
	if !errors.As(err, &th) {
		t.Errorf("login after 4 failures from 4 addresses: err = %v, want throttled by the account bound", err)
	}
}

// A login beyond MaxSessions ends the oldest session, announcing it like
// any other revocation so gateways drop it at once.
func TestSessionsBeyondTheCapEvictTheOldest(t *testing.T) {
	f := newFixture(t, func(c *auth.Config) { c.MaxSessions = 2 })
	first := f.signup(t, "alice")
	second := f.login(t, "alice")
	if n := len(f.events(t, "auth.session.revoked.v1")); n != 0 {
		t.Fatalf("%d revocations at the cap, want none", n)
	}
	third := f.login(t, "alice")
	list, err := f.svc.Sessions(context.Background(), auth.Caller{UserID: first.User.ID, SessionID: third.Session.ID})
	if err != nil {
		t.Fatal(err)
	}
	var ids []string
	for _, s := range list {
		ids = append(ids, s.ID)
	}
	if want := []string{third.Session.ID, second.Session.ID}; !slices.Equal(ids, want) {
		t.Errorf("active sessions = %v, want the two newest %v", ids, want)
	}
	revoked := f.events(t, "auth.session.revoked.v1")
	if len(revoked) != 1 || revoked[0].Data["reason"] != auth.ReasonSessionLimit ||
		!slices.Equal(anyStrings(revoked[0].Data["sessionIds"]), []string{first.Session.ID}) {
		t.Errorf("revocation events = %+v, want one session_limit naming %s", revoked, first.Session.ID)
	}
	if _, err := f.svc.Refresh(context.Background(), first.RefreshToken, device); !errors.Is(err, auth.ErrInvalidRefreshToken) {
		t.Errorf("refresh of the evicted session: err = %v, want ErrInvalidRefreshToken", err)
	}
}

// Accounts created from one address are capped per window; another address
// is not affected, and the window frees the first again.
func TestSignupsPerAddressAreCapped(t *testing.T) {
	f := newFixture(t, func(c *auth.Config) { c.SignupsPerIP = 2 })
	ctx := context.Background()
	signup := func(name, ip string) error {
		_, err := f.svc.Signup(ctx, auth.SignupInput{Username: name, Email: name + "@example.com", Password: goodPassword},
			auth.Client{IP: ip})
		return err
	}
	for _, name := range []string{"alice", "bob"} {
		if err := signup(name, "203.0.113.1"); err != nil {
			t.Fatalf("signup %s: %v", name, err)
		}
	}
	err := signup("carol", "203.0.113.1")
	var th *auth.ThrottledError
	if !errors.As(err, &th) || !th.Signups || th.RetryAfter <= 0 || th.RetryAfter > f.cfg.SignupWindow {
		t.Fatalf("third signup from one address: err = %v, want a signups throttle within the window", err)
	}
	if err := signup("carol", "203.0.113.2"); err != nil {
		t.Errorf("signup from another address: %v, want success", err)
	}
	f.clock.Advance(f.cfg.SignupWindow)
	if err := signup("dave", "203.0.113.1"); err != nil {
		t.Errorf("signup after the window: %v, want success", err)
	}
}

func anyStrings(v any) []string {
	list, _ := v.([]any)
	out := make([]string, 0, len(list))
	for _, e := range list {
		s, _ := e.(string)
		out = append(out, s)
	}
	return out
}
