package auth_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/parleychat/parley/auth-service/internal/auth"
)

func caller(g auth.Grant) auth.Caller { return auth.Caller{UserID: g.User.ID, SessionID: g.Session.ID} }

func TestLogout(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t, nil)
	a := f.signup(t, "alice")
	b := f.signup(t, "bob")

	if err := f.svc.Logout(ctx, caller(a), ""); err != nil {
		t.Fatalf("Logout by sid: %v", err)
	}
	_, err := f.svc.Refresh(ctx, a.RefreshToken, device)
	wantErr(t, err, auth.ErrInvalidRefreshToken)
	if err := f.svc.Logout(ctx, caller(a), ""); err != nil {
		t.Errorf("second Logout: %v, want success (idempotent)", err)
	}

	// Bob, signed in, sends alice's refresh token of a new session: ignored.
	a2 := f.login(t, "alice")
	if err := f.svc.Logout(ctx, auth.Caller{UserID: b.User.ID}, a2.RefreshToken); err != nil {
		t.Fatal(err)
	}
	f.refresh(t, a2.RefreshToken)
	a2 = f.refresh(t, a2.RefreshToken)
	// Anonymous caller (expired session token) with the refresh token.
	if err := f.svc.Logout(ctx, auth.Caller{UserID: "anonymous"}, a2.RefreshToken); err != nil {
		t.Fatal(err)
	}
	_, err = f.svc.Refresh(ctx, a2.RefreshToken, device)
	wantErr(t, err, auth.ErrInvalidRefreshToken)
	if err := f.svc.Logout(ctx, auth.Caller{UserID: "anonymous"}, ""); err != nil {
		t.Errorf("anonymous Logout without a token: %v, want success (nothing to do)", err)
	}

	evs := f.events(t, "auth.session.revoked.v1")
	if len(evs) != 2 || evs[0].Data["reason"] != auth.ReasonLogout || evs[1].Data["reason"] != auth.ReasonLogout {
		t.Fatalf("revocation events = %+v, want two logouts", evs)
	}
	f.refresh(t, b.RefreshToken)
}

func TestSessionsAndRevokeSession(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t, nil)
	a1 := f.signup(t, "alice")
	f.clock.Advance(time.Second)
	a2 := f.login(t, "alice")
	b := f.signup(t, "bob")

	list, err := f.svc.Sessions(ctx, caller(a2))
	if err != nil {
		t.Fatal(err)
	}
	if len(list) != 2 || list[0].ID != a2.Session.ID || !list[0].Current || list[1].ID != a1.Session.ID || list[1].Current {
		t.Fatalf("Sessions = %+v, want [a2 (current), a1]", list)
	}

	tests := []struct {
		name string
		c    auth.Caller
		id   string
		want error
	}{
		{"another user's session", caller(b), a1.Session.ID, auth.ErrNotFound},
		{"not a uuid", caller(a2), "nope", auth.ErrNotFound},
		{"unknown", caller(a2), "0190b7c4-0000-7000-8000-000000000000", auth.ErrNotFound},
		{"anonymous", auth.Caller{UserID: "anonymous"}, a1.Session.ID, auth.ErrUnauthenticated},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			wantErr(t, f.svc.RevokeSession(ctx, tc.c, tc.id), tc.want)
		})
	}
	if n := len(f.events(t, "auth.session.revoked.v1")); n != 0 {
		t.Fatalf("revocation events after refused revokes = %d, want 0", n)
	}

	if err := f.svc.RevokeSession(ctx, caller(a2), a1.Session.ID); err != nil {
		t.Fatalf("RevokeSession(own other session): %v", err)
	}
	if err := f.svc.RevokeSession(ctx, caller(a2), a1.Session.ID); err != nil {
		t.Errorf("revoking it again: %v, want success (idempotent)", err)
	}
	_, err = f.svc.Refresh(ctx, a1.RefreshToken, device)
	wantErr(t, err, auth.ErrInvalidRefreshToken)
	list, _ = f.svc.Sessions(ctx, caller(a2))
	if len(list) != 1 || list[0].ID != a2.Session.ID {
		t.Errorf("Sessions after revoke = %+v, want only a2", list)
	}
	evs := f.events(t, "auth.session.revoked.v1")
	if len(evs) != 1 || evs[0].Data["reason"] != auth.ReasonRevoked {
		t.Errorf("events = %+v, want one revoked", evs)
	}
	if _, err := f.svc.Sessions(ctx, auth.Caller{UserID: "anonymous"}); err != auth.ErrUnauthenticated {
		t.Errorf("anonymous Sessions err = %v, want ErrUnauthenticated", err)
	}
}

func TestChangePassword(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t, nil)
	a1 := f.signup(t, "alice")
	a2 := f.login(t, "alice")
	b := f.signup(t, "bob")
	const newPassword = "a much better passphrase"

	refused := []struct {
		name string
		in   auth.ChangePasswordInput
		want map[string]string
	}{
		{"missing fields", auth.ChangePasswordInput{},
			map[string]string{"currentPassword": "is required", "newPassword": "is required"}},
		{"common new password", auth.ChangePasswordInput{CurrentPassword: goodPassword, NewPassword: "password123"},
			map[string]string{"newPassword": "is too common; choose a less guessable password"}},
		{"new equals username", auth.ChangePasswordInput{CurrentPassword: goodPassword, NewPassword: "Alice@example.com"},
			map[string]string{"newPassword": "must not be your username or email"}},
		{"unchanged", auth.ChangePasswordInput{CurrentPassword: goodPassword, NewPassword: goodPassword},
			map[string]string{"newPassword": "must differ from the current password"}},
	}
	for _, tc := range refused {
		t.Run(tc.name, func(t *testing.T) {
			_, err := f.svc.ChangePassword(ctx, caller(a1), tc.in, device)
			if got := fieldsOf(t, err); !sameFields(got, tc.want) {
				t.Errorf("fields = %v, want %v", got, tc.want)
			}
		})
	}
	wrong := auth.ChangePasswordInput{CurrentPassword: "not my password", NewPassword: newPassword}
	if _, err := f.svc.ChangePassword(ctx, caller(a1), wrong, device); !errors.Is(err, auth.ErrWrongPassword) {
		t.Errorf("wrong current password: err = %v, want ErrWrongPassword", err)
	}
	if n := len(f.events(t, "auth.password.changed.v1")); n != 0 {
		t.Fatalf("password events after refusals = %d, want 0", n)
	}

	f.clock.Advance(1500 * time.Millisecond)
	before := f.clock.Now()
	g, err := f.svc.ChangePassword(ctx, caller(a1), auth.ChangePasswordInput{CurrentPassword: goodPassword, NewPassword: newPassword}, device)
	if err != nil {
		t.Fatalf("ChangePassword: %v", err)
	}
	if g.Session.ID == a1.Session.ID || g.Session.ID == a2.Session.ID {
		t.Errorf("grant session %s, want a brand-new session", g.Session.ID)
	}
	for _, old := range []auth.Grant{a1, a2} {
		_, err := f.svc.Refresh(ctx, old.RefreshToken, device)
		wantErr(t, err, auth.ErrInvalidRefreshToken)
	}
	f.refresh(t, b.RefreshToken)
	list, _ := f.svc.Sessions(ctx, caller(g))
	if len(list) != 1 || list[0].ID != g.Session.ID || !list[0].Current {
		t.Errorf("sessions after change = %+v, want only the new, current one", list)
	}
	_, err = f.svc.Login(ctx, auth.LoginInput{Login: "alice", Password: goodPassword}, device)
	wantErr(t, err, auth.ErrInvalidCredentials)
	if _, err := f.svc.Login(ctx, auth.LoginInput{Login: "alice", Password: newPassword}, device); err != nil {
		t.Errorf("login with the new password: %v", err)
	}

	changed := f.events(t, "auth.password.changed.v1")
	if len(changed) != 1 {
		t.Fatalf("password events = %d, want 1", len(changed))
	}
	cut, _ := time.Parse(time.RFC3339, changed[0].Data["changedAt"].(string))
	claims, err := f.sessions.Verify(g.AccessToken)
	if err != nil {
		t.Fatal(err)
	}
	// Gateways refuse tokens with iat before the cut: the new one must pass,
	// and the cut must not lie before the change.
	if claims.IssuedAt.Time.Before(cut) || !cut.Equal(before.Truncate(time.Second)) {
		t.Errorf("changedAt %v, new token iat %v, change at %v: want changedAt = change truncated to seconds <= iat", cut, claims.IssuedAt.Time, before)
	}
	revoked := f.events(t, "auth.session.revoked.v1")
	if len(revoked) != 1 || revoked[0].Data["reason"] != auth.ReasonPasswordChanged || len(revoked[0].Data["sessionIds"].([]any)) != 2 {
		t.Errorf("revocation events = %+v, want one password_changed naming both old sessions", revoked)
	}
}

func TestChangePasswordCountsAsFailedLogin(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t, func(c *auth.Config) { c.AccountFailures = 2 })
	a := f.signup(t, "alice")
	for range 2 {
		_, _ = f.svc.ChangePassword(ctx, caller(a), auth.ChangePasswordInput{CurrentPassword: "guess guess", NewPassword: "another passphrase"}, device)
	}
	_, err := f.svc.Login(ctx, auth.LoginInput{Login: "alice", Password: goodPassword}, device)
	var th *auth.ThrottledError
	if !errorsAs(err, &th) {
		t.Errorf("login after 2 wrong current passwords: err = %v, want throttled", err)
	}
}

func TestRevocations(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t, nil)
	a := f.signup(t, "alice")
	b := f.signup(t, "bob")
	if err := f.svc.Logout(ctx, caller(a), ""); err != nil {
		t.Fatal(err)
	}
	if _, err := f.svc.ChangePassword(ctx, caller(b), auth.ChangePasswordInput{CurrentPassword: goodPassword, NewPassword: "bob's new passphrase"}, device); err != nil {
		t.Fatal(err)
	}
	r, err := f.svc.Revocations(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(r.Sessions) != 2 || len(r.PasswordChanges) != 1 || r.PasswordChanges[0].UserID != b.User.ID {
		t.Fatalf("Revocations = %+v, want alice's logout, bob's old session, bob's password change", r)
	}
	got := map[string]string{}
	for _, s := range r.Sessions {
		got[s.SessionIDs[0]] = s.Reason
		if want := f.clock.Now().Add(f.cfg.AccessTTL + f.cfg.Leeway); !s.RevokedUntil.Equal(want) {
			t.Errorf("revokedUntil = %v, want %v", s.RevokedUntil, want)
		}
	}
	if got[a.Session.ID] != auth.ReasonLogout || got[b.Session.ID] != auth.ReasonPasswordChanged {
		t.Errorf("revoked sessions = %v, want alice's logout and bob's password_changed", got)
	}
	f.clock.Advance(f.cfg.AccessTTL + f.cfg.Leeway + time.Second)
	if r, _ := f.svc.Revocations(ctx); len(r.Sessions)+len(r.PasswordChanges) != 0 {
		t.Errorf("Revocations after every token expired = %+v, want none", r)
	}
}
