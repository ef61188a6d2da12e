package revocation

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/parleychat/parley/shared/events"
)

// clock is a settable test clock.
type clock struct{ t atomic.Pointer[time.Time] }

func newClock(t time.Time) *clock    { c := &clock{}; c.set(t); return c }
func (c *clock) set(t time.Time)     { c.t.Store(&t) }
func (c *clock) now() time.Time      { return *c.t.Load() }
func (c *clock) add(d time.Duration) { c.set(c.now().Add(d)) }

func TestStoreRevoked(t *testing.T) {
	base := time.Date(2025, 1, 1, 12, 0, 0, 0, time.UTC)
	tests := []struct {
		name    string
		apply   func(s *Store)
		advance time.Duration
		user    string
		sid     string
		iat     time.Time
		want    bool
	}{
		{"nothing revoked", func(s *Store) {}, 0, "u1", "s1", base, false},
		{"session revoked", func(s *Store) { s.RevokeSessions("u1", []string{"s1"}, base.Add(time.Minute)) }, 0, "u1", "s1", base, true},
		{"other session of the user", func(s *Store) { s.RevokeSessions("u1", []string{"s1"}, base.Add(time.Minute)) }, 0, "u1", "s2", base, false},
		{"session revocation expired", func(s *Store) { s.RevokeSessions("u1", []string{"s1"}, base.Add(time.Minute)) }, 2 * time.Minute, "u1", "s1", base, false},
		{"revocation already past", func(s *Store) { s.RevokeSessions("u1", []string{"s1"}, base.Add(-time.Second)) }, 0, "u1", "s1", base, false},
		{"token issued before password change", func(s *Store) { s.RevokeUserBefore("u1", base, base.Add(time.Hour)) }, 0, "u1", "s9", base.Add(-time.Second), true},
		{"token issued in the change's second", func(s *Store) { s.RevokeUserBefore("u1", base.Add(300*time.Millisecond), base.Add(time.Hour)) }, 0, "u1", "s9", base, false},
		{"token issued after password change", func(s *Store) { s.RevokeUserBefore("u1", base, base.Add(time.Hour)) }, 0, "u1", "s9", base.Add(time.Second), false},
		{"other user's password change", func(s *Store) { s.RevokeUserBefore("u2", base, base.Add(time.Hour)) }, 0, "u1", "s9", base.Add(-time.Second), false},
		{"cut-off only moves forward", func(s *Store) {
			s.RevokeUserBefore("u1", base, base.Add(time.Hour))
			s.RevokeUserBefore("u1", base.Add(-time.Hour), base.Add(time.Hour))
		}, 0, "u1", "s9", base.Add(-time.Minute), true},
		{"cut-off expired", func(s *Store) { s.RevokeUserBefore("u1", base, base.Add(time.Minute)) }, 2 * time.Minute, "u1", "s9", base.Add(-time.Second), false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c := newClock(base)
			s := NewStore(c.now)
			tc.apply(s)
			c.add(tc.advance)
			if got := s.Revoked(tc.user, tc.sid, tc.iat); got != tc.want {
				t.Errorf("Revoked(%s, %s, %s) = %v, want %v", tc.user, tc.sid, tc.iat, got, tc.want)
			}
		})
	}
}

func TestPruneForgetsExpired(t *testing.T) {
	c := newClock(time.Now())
	s := NewStore(c.now)
	s.RevokeSessions("u1", []string{"a", "b"}, c.now().Add(time.Minute))
	s.RevokeSessions("u1", []string{"c"}, c.now().Add(time.Hour))
	s.RevokeUserBefore("u2", c.now(), c.now().Add(time.Minute))
	if got := s.Prune(); got != 4 {
		t.Fatalf("Prune before expiry kept %d, want 4", got)
	}
	c.add(2 * time.Minute)
	if got := s.Prune(); got != 1 {
		t.Errorf("Prune after expiry kept %d, want 1", got)
	}
	if !s.Revoked("u1", "c", c.now()) {
		t.Error("unexpired revocation was pruned")
	}
}

func TestSubscribersSeeRevocations(t *testing.T) {
	s := NewStore(nil)
	var got []Notice
	s.Subscribe(func(n Notice) { got = append(got, n) })
	now := time.Now()
	s.RevokeSessions("u1", []string{"s1"}, now.Add(time.Hour))
	s.RevokeUserBefore("u2", now, now.Add(time.Hour))
	if len(got) != 2 {
		t.Fatalf("got %d notices, want 2", len(got))
	}
	if !got[0].Covers("u1", "s1", now) || got[0].Covers("u1", "s2", now) || got[0].Covers("u9", "s1", now) {
		t.Errorf("session notice %+v covers the wrong sessions", got[0])
	}
	if !got[1].Covers("u2", "any", now.Add(-time.Hour)) || got[1].Covers("u2", "any", now.Add(time.Second)) {
		t.Errorf("password notice %+v covers the wrong tokens", got[1])
	}
}

func envelope(t *testing.T, typ string, data any) events.Envelope {
	t.Helper()
	env, err := events.New(context.Background(), "auth-service", typ, 1, data)
	if err != nil {
		t.Fatal(err)
	}
	return env
}

func TestHandleEvents(t *testing.T) {
	now := time.Now()
	tests := []struct {
		name      string
		env       events.Envelope
		malformed bool
		check     func(s *Store) bool
	}{
		{"session revoked", envelope(t, events.TypeSessionRevoked, events.SessionRevokedV1{
			UserID: "u1", SessionIDs: []string{"s1", "s2"}, Reason: "logout", RevokedUntil: now.Add(time.Hour),
		}), false, func(s *Store) bool { return s.Revoked("u1", "s1", now) && s.Revoked("u1", "s2", now) }},
		{"password changed", envelope(t, events.TypePasswordChanged, events.PasswordChangedV1{
			UserID: "u1", ChangedAt: now, RevokedUntil: now.Add(time.Hour),
		}), false, func(s *Store) bool { return s.Revoked("u1", "any", now.Add(-time.Minute)) }},
		{"other auth event ignored", envelope(t, events.TypeUserRegistered, events.UserRegisteredV1{UserID: "u1"}),
			false, func(s *Store) bool { return !s.Revoked("u1", "s1", now) }},
		{"revoked without sessions", envelope(t, events.TypeSessionRevoked, map[string]any{"userId": "u1"}), true, nil},
		{"payload of the wrong shape", envelope(t, events.TypePasswordChanged, map[string]any{"userId": 5}), true, nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s := NewStore(nil)
			err := s.Handle(context.Background(), tc.env)
			if tc.malformed {
				if !errors.Is(err, events.ErrMalformed) {
					t.Errorf("err = %v, want ErrMalformed", err)
				}
				return
			}
			if err != nil {
				t.Fatalf("Handle: %v", err)
			}
			if !tc.check(s) {
				t.Error("store state after the event is wrong")
			}
		})
	}
}

func TestLoaderRetriesUntilAuthServiceAnswers(t *testing.T) {
	now := time.Now().UTC()
	var calls atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != SnapshotPath || r.Header.Get("Authorization") != "Bearer tok" {
			http.Error(w, "bad request", http.StatusBadRequest)
			return
		}
		if calls.Add(1) < 3 {
			http.Error(w, "starting", http.StatusServiceUnavailable)
			return
		}
		_ = json.NewEncoder(w).Encode(map[string]any{
			"sessions":        []map[string]any{{"sessionId": "s1", "userId": "u1", "revokedUntil": now.Add(time.Hour)}},
			"passwordChanges": []map[string]any{{"userId": "u2", "changedAt": now, "revokedUntil": now.Add(time.Hour)}},
		})
	}))
	defer srv.Close()

	s := NewStore(nil)
	l := &Loader{Client: srv.Client(), AuthURL: srv.URL, Token: func() (string, error) { return "tok", nil }, Log: zerolog.Nop()}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := l.Sync(ctx, s); err != nil {
		t.Fatalf("Sync: %v", err)
	}
	if got := calls.Load(); got != 3 {
		t.Errorf("auth-service asked %d times, want 3", got)
	}
	if !s.Loaded() || !s.Revoked("u1", "s1", now) || !s.Revoked("u2", "s2", now.Add(-time.Minute)) {
		t.Errorf("loaded=%v; snapshot not applied", s.Loaded())
	}
}

// TestHandleGoldenExamples decodes auth-service's golden examples of the
// events the gateway consumes.
func TestHandleGoldenExamples(t *testing.T) {
	for _, key := range []string{events.TypeSessionRevoked + ".v1", events.TypePasswordChanged + ".v1"} {
		env, ok := events.ExampleFor(key)
		if !ok {
			t.Fatalf("no golden example for %s", key)
		}
		if err := NewStore(nil).Handle(context.Background(), env); err != nil {
			t.Errorf("%s: %v", key, err)
		}
	}
}
