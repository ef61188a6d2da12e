package auth_test

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/parleychat/parley/auth-service/internal/auth"
)

func (f *fixture) refresh(t *testing.T, raw string) auth.Grant {
	t.Helper()
	g, err := f.svc.Refresh(context.Background(), raw, device)
	if err != nil {
		t.Fatalf("Refresh: %v", err)
	}
	return g
}

func TestRefreshRotates(t *testing.T) {
	f := newFixture(t, nil)
	g1 := f.signup(t, "alice")
	f.clock.Advance(time.Hour)
	g2 := f.refresh(t, g1.RefreshToken)
	if g2.RefreshToken == g1.RefreshToken || g2.AccessToken == g1.AccessToken {
		t.Error("refresh returned the same tokens, want new ones")
	}
	if g2.Session.ID != g1.Session.ID || g2.User.ID != g1.User.ID {
		t.Errorf("refresh moved to session %s user %s, want the same session and user", g2.Session.ID, g2.User.ID)
	}
	if want := f.clock.Now().Add(f.cfg.RefreshTTL); !g2.RefreshExpiresAt.Equal(want) || !g2.Session.ExpiresAt.Equal(want) {
		t.Errorf("expiry after refresh = %v / %v, want extended to %v", g2.RefreshExpiresAt, g2.Session.ExpiresAt, want)
	}
	claims, err := f.sessions.Verify(g2.AccessToken)
	if err != nil || claims.SessionID != g1.Session.ID {
		t.Fatalf("new access token: %v (sid %v), want valid for the session", err, claims)
	}
	if n := f.count(t, `SELECT count(*) FROM refresh_tokens WHERE used_at IS NULL AND session_id = $1`, g1.Session.ID); n != 1 {
		t.Errorf("unused refresh tokens in the family = %d, want 1", n)
	}
	g3 := f.refresh(t, g2.RefreshToken)
	if g3.RefreshToken == g2.RefreshToken {
		t.Error("second rotation returned the same token")
	}
}

func TestRefreshReuseWithinGraceGetsTheSameSuccessor(t *testing.T) {
	f := newFixture(t, nil)
	g1 := f.signup(t, "alice")
	first := f.refresh(t, g1.RefreshToken)
	f.clock.Advance(f.cfg.ReuseGrace)
	second := f.refresh(t, g1.RefreshToken)
	if second.RefreshToken != first.RefreshToken {
		t.Errorf("second tab got refresh token %q, want the first tab's %q", second.RefreshToken, first.RefreshToken)
	}
	if _, err := f.sessions.Verify(second.AccessToken); err != nil {
		t.Errorf("second tab's access token: %v", err)
	}
	// The successor is still the family's live token.
	f.refresh(t, first.RefreshToken)
	if n := len(f.events(t, "auth.session.revoked.v1")); n != 0 {
		t.Errorf("revocation events = %d, want none within the grace", n)
	}
}

func TestRefreshReuseWithinGraceFollowsTheChain(t *testing.T) {
	f := newFixture(t, nil)
	g1 := f.signup(t, "alice")
	s1 := f.refresh(t, g1.RefreshToken)
	s2 := f.refresh(t, s1.RefreshToken)
	late := f.refresh(t, g1.RefreshToken)
	if late.RefreshToken != s2.RefreshToken {
		t.Errorf("reuse of the first token within grace got %q, want the chain's newest %q", late.RefreshToken, s2.RefreshToken)
	}
}

func TestRefreshConcurrentTabsBothSucceed(t *testing.T) {
	f := newFixture(t, nil)
	g := f.signup(t, "alice")
	const tabs = 4
	var (
		wg     sync.WaitGroup
		grants [tabs]auth.Grant
		errs   [tabs]error
	)
	for i := range tabs {
		wg.Go(func() { grants[i], errs[i] = f.svc.Refresh(context.Background(), g.RefreshToken, device) })
	}
	wg.Wait()
	for i := range tabs {
		if errs[i] != nil {
			t.Fatalf("tab %d: %v", i, errs[i])
		}
		if grants[i].RefreshToken != grants[0].RefreshToken {
			t.Errorf("tab %d got %q, tab 0 got %q; want one successor for all", i, grants[i].RefreshToken, grants[0].RefreshToken)
		}
	}
	f.refresh(t, grants[0].RefreshToken)
}

func TestRefreshReuseAfterGraceRevokesTheFamily(t *testing.T) {
	f := newFixture(t, nil)
	g1 := f.signup(t, "alice")
	other := f.login(t, "alice") // another device: must survive
	s1 := f.refresh(t, g1.RefreshToken)
	f.clock.Advance(f.cfg.ReuseGrace + time.Second)

	_, err := f.svc.Refresh(context.Background(), g1.RefreshToken, device)
	wantErr(t, err, auth.ErrRefreshTokenReused)
	// The thief's successor dies with the family.
	_, err = f.svc.Refresh(context.Background(), s1.RefreshToken, device)
	wantErr(t, err, auth.ErrInvalidRefreshToken)
	// A replay of the reused token again is plainly invalid (no second event).
	_, err = f.svc.Refresh(context.Background(), g1.RefreshToken, device)
	wantErr(t, err, auth.ErrInvalidRefreshToken)

	evs := f.events(t, "auth.session.revoked.v1")
	if len(evs) != 1 {
		t.Fatalf("revocation events = %d, want 1", len(evs))
	}
	ids, _ := evs[0].Data["sessionIds"].([]any)
	if evs[0].Data["reason"] != auth.ReasonReuseDetected || len(ids) != 1 || ids[0] != g1.Session.ID || evs[0].AggregateID != g1.User.ID {
		t.Errorf("event = %+v, want reuse_detected for session %s", evs[0], g1.Session.ID)
	}
	wantUntil := f.clock.Now().Add(f.cfg.AccessTTL + f.cfg.Leeway).Format(time.RFC3339Nano)
	if evs[0].Data["revokedUntil"] != wantUntil {
		t.Errorf("revokedUntil = %v, want %s", evs[0].Data["revokedUntil"], wantUntil)
	}
	f.refresh(t, other.RefreshToken)
}

func TestRefreshRefused(t *testing.T) {
	f := newFixture(t, nil)
	g := f.signup(t, "alice")
	tests := []struct {
		name string
		raw  string
	}{
		{"empty", ""},
		{"garbage", "not-a-token"},
		{"right length, not base64url", "!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!"},
		{"well formed but unknown", "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"},
		{"the access token", g.AccessToken},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := f.svc.Refresh(context.Background(), tc.raw, device)
			wantErr(t, err, auth.ErrInvalidRefreshToken)
		})
	}
	t.Run("expired", func(t *testing.T) {
		f.clock.Advance(f.cfg.RefreshTTL)
		_, err := f.svc.Refresh(context.Background(), g.RefreshToken, device)
		wantErr(t, err, auth.ErrInvalidRefreshToken)
	})
}
