package postgres_test

import (
	"context"
	"errors"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/parleychat/parley/auth-service/internal/auth"
	"github.com/parleychat/parley/auth-service/internal/postgres"
	"github.com/parleychat/parley/auth-service/migrations"
	"github.com/parleychat/parley/shared/events"
	"github.com/parleychat/parley/shared/outbox"
	"github.com/parleychat/parley/shared/pgtest"
)

var t0 = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

func newID(t *testing.T) string {
	t.Helper()
	id, err := uuid.NewV7()
	if err != nil {
		t.Fatal(err)
	}
	return id.String()
}

// inTx runs fn in a transaction and fails the test on error.
func inTx(t *testing.T, s *postgres.Store, fn func(auth.Tx) error) {
	t.Helper()
	if err := s.InTx(context.Background(), fn); err != nil {
		t.Fatalf("InTx: %v", err)
	}
}

func createUser(t *testing.T, s *postgres.Store, username, email string) auth.User {
	t.Helper()
	u := auth.User{ID: newID(t), Username: username, Email: email, PasswordHash: "$argon2id$x", CreatedAt: t0}
	inTx(t, s, func(tx auth.Tx) error { return tx.CreateUser(context.Background(), u) })
	return u
}

func createSession(t *testing.T, s *postgres.Store, userID string, created time.Time) auth.Session {
	t.Helper()
	sess := auth.Session{ID: newID(t), UserID: userID, CreatedAt: created, LastUsedAt: created,
		ExpiresAt: created.Add(24 * time.Hour), UserAgent: "test", IP: "192.0.2.1"}
	inTx(t, s, func(tx auth.Tx) error { return tx.CreateSession(context.Background(), sess) })
	return sess
}

func TestUsers(t *testing.T) {
	ctx := context.Background()
	s := postgres.New(pgtest.New(t, "auth_test", migrations.FS))
	alice := createUser(t, s, "alice", "alice@example.com")

	t.Run("lookups", func(t *testing.T) {
		for _, login := range []string{"alice", "alice@example.com"} {
			got, err := s.UserByLogin(ctx, login)
			if err != nil {
				t.Fatalf("UserByLogin(%q): %v", login, err)
			}
			if got != alice {
				t.Errorf("UserByLogin(%q) = %+v, want %+v", login, got, alice)
			}
		}
		if _, err := s.UserByLogin(ctx, "bob"); !errors.Is(err, auth.ErrNotFound) {
			t.Errorf("UserByLogin(unknown) err = %v, want ErrNotFound", err)
		}
		if got, err := s.UserByID(ctx, alice.ID); err != nil || got != alice {
			t.Errorf("UserByID = %+v, %v; want %+v", got, err, alice)
		}
		if _, err := s.UserByID(ctx, newID(t)); !errors.Is(err, auth.ErrNotFound) {
			t.Errorf("UserByID(unknown) err = %v, want ErrNotFound", err)
		}
	})

	t.Run("duplicates", func(t *testing.T) {
		tests := []struct {
			name, username, email string
			want                  error
		}{
			{"username", "alice", "other@example.com", auth.ErrUsernameTaken},
			{"email", "other", "alice@example.com", auth.ErrEmailTaken},
		}
		for _, tc := range tests {
			u := auth.User{ID: newID(t), Username: tc.username, Email: tc.email, PasswordHash: "h", CreatedAt: t0}
			err := s.InTx(ctx, func(tx auth.Tx) error { return tx.CreateUser(ctx, u) })
			if !errors.Is(err, tc.want) {
				t.Errorf("%s: CreateUser err = %v, want %v", tc.name, err, tc.want)
			}
		}
		inTx(t, s, func(tx auth.Tx) error {
			ut, et, err := tx.UsernameOrEmailTaken(ctx, "alice", "nobody@example.com")
			if err != nil || !ut || et {
				t.Errorf("UsernameOrEmailTaken = %v, %v, %v; want true, false, nil", ut, et, err)
			}
			return nil
		})
	})

	t.Run("mixed case is refused by the schema", func(t *testing.T) {
		u := auth.User{ID: newID(t), Username: "Carol", Email: "carol@example.com", PasswordHash: "h", CreatedAt: t0}
		if err := s.InTx(ctx, func(tx auth.Tx) error { return tx.CreateUser(ctx, u) }); err == nil {
			t.Error("CreateUser with an uppercase username succeeded, want a check violation")
		}
	})

	t.Run("password hash and change time", func(t *testing.T) {
		inTx(t, s, func(tx auth.Tx) error { return tx.SetPasswordHash(ctx, alice.ID, "rehashed", time.Time{}) })
		got, _ := s.UserByID(ctx, alice.ID)
		if got.PasswordHash != "rehashed" || !got.PasswordChangedAt.IsZero() {
			t.Errorf("after rehash: hash %q changedAt %v, want rehashed and zero", got.PasswordHash, got.PasswordChangedAt)
		}
		changed := t0.Add(time.Hour)
		inTx(t, s, func(tx auth.Tx) error { return tx.SetPasswordHash(ctx, alice.ID, "new", changed) })
		list, err := s.PasswordsChangedSince(ctx, t0)
		if err != nil || len(list) != 1 || list[0].ID != alice.ID || !list[0].PasswordChangedAt.Equal(changed) {
			t.Errorf("PasswordsChangedSince = %+v, %v; want alice changed at %v", list, err, changed)
		}
		if list, _ := s.PasswordsChangedSince(ctx, changed); len(list) != 0 {
			t.Errorf("PasswordsChangedSince(change time) = %d users, want 0", len(list))
		}
	})
}

func TestSessions(t *testing.T) {
	ctx := context.Background()
	s := postgres.New(pgtest.New(t, "auth_test", migrations.FS))
	alice := createUser(t, s, "alice", "alice@example.com")
	bob := createUser(t, s, "bob", "bob@example.com")
	a1 := createSession(t, s, alice.ID, t0)
	a2 := createSession(t, s, alice.ID, t0.Add(time.Minute))
	a3 := createSession(t, s, alice.ID, t0.Add(2*time.Minute))
	b1 := createSession(t, s, bob.ID, t0)

	list, err := s.ActiveSessions(ctx, alice.ID, t0.Add(time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	if got := ids(list); strings.Join(got, ",") != strings.Join([]string{a3.ID, a2.ID, a1.ID}, ",") {
		t.Errorf("ActiveSessions = %v, want newest first [a3 a2 a1]", got)
	}
	if list[2] != a1 {
		t.Errorf("ActiveSessions[2] = %+v, want %+v", list[2], a1)
	}

	at := t0.Add(time.Hour)
	var revoked []string
	inTx(t, s, func(tx auth.Tx) (err error) {
		// bob's session id is ignored: only the user's own sessions revoke.
		revoked, err = tx.RevokeSessions(ctx, alice.ID, []string{a1.ID, b1.ID}, at, auth.ReasonLogout)
		return err
	})
	if len(revoked) != 1 || revoked[0] != a1.ID {
		t.Errorf("RevokeSessions(a1, b1) = %v, want [a1]", revoked)
	}
	inTx(t, s, func(tx auth.Tx) (err error) {
		revoked, err = tx.RevokeSessions(ctx, alice.ID, nil, at.Add(time.Second), auth.ReasonPasswordChanged)
		return err
	})
	if strings.Join(sorted(revoked), ",") != strings.Join(sorted([]string{a2.ID, a3.ID}), ",") {
		t.Errorf("RevokeSessions(all) = %v, want a2 and a3 (a1 already revoked)", revoked)
	}
	if list, _ := s.ActiveSessions(ctx, alice.ID, at); len(list) != 0 {
		t.Errorf("ActiveSessions after revoking all = %v, want none", ids(list))
	}
	if list, _ := s.ActiveSessions(ctx, bob.ID, at); len(list) != 1 {
		t.Errorf("bob's sessions = %v, want his one untouched", ids(list))
	}
	if list, _ := s.ActiveSessions(ctx, bob.ID, b1.ExpiresAt); len(list) != 0 {
		t.Errorf("bob's sessions at expiry = %v, want none", ids(list))
	}

	gone, err := s.RevokedSince(ctx, at.Add(-time.Second))
	if err != nil {
		t.Fatal(err)
	}
	if len(gone) != 3 || gone[0].ID != a1.ID || gone[0].RevokeReason != auth.ReasonLogout || !gone[0].RevokedAt.Equal(at) {
		t.Errorf("RevokedSince = %+v, want a1 (logout at %v) first of 3", gone, at)
	}
	if gone, _ := s.RevokedSince(ctx, at); len(gone) != 2 {
		t.Errorf("RevokedSince(at) = %d sessions, want the 2 revoked after it", len(gone))
	}

	inTx(t, s, func(tx auth.Tx) error {
		got, err := tx.SessionForUpdate(ctx, b1.ID)
		if err != nil || got != b1 {
			t.Errorf("SessionForUpdate = %+v, %v; want %+v", got, err, b1)
		}
		if err := tx.TouchSession(ctx, b1.ID, at, at.Add(48*time.Hour), auth.Client{IP: "2001:db8::1"}); err != nil {
			return err
		}
		got, _ = tx.SessionForUpdate(ctx, b1.ID)
		if !got.LastUsedAt.Equal(at) || got.IP != "2001:db8::1" || got.UserAgent != "test" {
			t.Errorf("after TouchSession: %+v, want last use %v, new IP, old user agent", got, at)
		}
		if _, err := tx.SessionForUpdate(ctx, newID(t)); !errors.Is(err, auth.ErrNotFound) {
			t.Errorf("SessionForUpdate(unknown) err = %v, want ErrNotFound", err)
		}
		return nil
	})
}

func TestRefreshTokens(t *testing.T) {
	ctx := context.Background()
	s := postgres.New(pgtest.New(t, "auth_test", migrations.FS))
	u := createUser(t, s, "alice", "alice@example.com")
	sess := createSession(t, s, u.ID, t0)
	rt := auth.RefreshToken{Hash: []byte("hash-1-hash-1-hash-1-hash-1-hash"), SessionID: sess.ID, IssuedAt: t0, ExpiresAt: t0.Add(time.Hour)}
	inTx(t, s, func(tx auth.Tx) error { return tx.InsertRefreshToken(ctx, rt) })

	inTx(t, s, func(tx auth.Tx) error {
		got, err := tx.RefreshTokenForUpdate(ctx, rt.Hash)
		if err != nil || string(got.Hash) != string(rt.Hash) || got.SessionID != sess.ID || !got.UsedAt.IsZero() {
			t.Errorf("RefreshTokenForUpdate = %+v, %v; want the unused token", got, err)
		}
		if err := tx.MarkRefreshTokenUsed(ctx, rt.Hash, t0.Add(time.Minute), []byte("next"), []byte("sealed")); err != nil {
			return err
		}
		if err := tx.MarkRefreshTokenUsed(ctx, rt.Hash, t0.Add(2*time.Minute), []byte("other"), nil); err == nil {
			t.Error("second MarkRefreshTokenUsed succeeded, want an error: a token rotates once")
		}
		return nil
	})
	inTx(t, s, func(tx auth.Tx) error {
		got, _ := tx.RefreshTokenForUpdate(ctx, rt.Hash)
		if !got.UsedAt.Equal(t0.Add(time.Minute)) || string(got.ReplacedBy) != "next" || string(got.SuccessorSealed) != "sealed" {
			t.Errorf("after use: %+v, want used at t0+1m, replaced by next, sealed", got)
		}
		if _, err := tx.RefreshTokenForUpdate(ctx, []byte("unknown")); !errors.Is(err, auth.ErrNotFound) {
			t.Errorf("RefreshTokenForUpdate(unknown) err = %v, want ErrNotFound", err)
		}
		return nil
	})
	if got, err := s.SessionByRefreshHash(ctx, rt.Hash); err != nil || got.ID != sess.ID {
		t.Errorf("SessionByRefreshHash = %v, %v; want session %s", got.ID, err, sess.ID)
	}

	// Pruning: a live session stays, an ended one goes with its tokens.
	live := createSession(t, s, u.ID, t0.Add(48*time.Hour))
	inTx(t, s, func(tx auth.Tx) error {
		_, err := tx.RevokeSessions(ctx, u.ID, []string{sess.ID}, t0.Add(time.Hour), auth.ReasonLogout)
		return err
	})
	n, err := s.PruneSessions(ctx, t0.Add(2*time.Hour))
	if err != nil || n != 1 {
		t.Fatalf("PruneSessions = %d, %v; want 1", n, err)
	}
	if _, err := s.SessionByRefreshHash(ctx, rt.Hash); !errors.Is(err, auth.ErrNotFound) {
		t.Errorf("refresh token of a pruned session: err = %v, want ErrNotFound", err)
	}
	if list, _ := s.ActiveSessions(ctx, u.ID, t0.Add(48*time.Hour)); len(list) != 1 || list[0].ID != live.ID {
		t.Errorf("sessions after pruning = %v, want the live one", ids(list))
	}
}

func TestInTxRollsBackTheOutbox(t *testing.T) {
	ctx := context.Background()
	pool := pgtest.New(t, "auth_test", migrations.FS)
	s := postgres.New(pool)
	u := auth.User{ID: newID(t), Username: "alice", Email: "alice@example.com", PasswordHash: "h", CreatedAt: t0}
	ev, err := events.New(ctx, auth.ServiceName, events.TypeUserRegistered, 1, events.UserRegisteredV1{UserID: u.ID})
	if err != nil {
		t.Fatal(err)
	}
	boom := errors.New("boom")
	err = s.InTx(ctx, func(tx auth.Tx) error {
		if err := tx.CreateUser(ctx, u); err != nil {
			return err
		}
		if err := tx.Enqueue(ctx, events.ExchangeAuth, u.ID, ev); err != nil {
			return err
		}
		return boom
	})
	if !errors.Is(err, boom) {
		t.Fatalf("InTx err = %v, want %v", err, boom)
	}
	if n := count(t, pool, `SELECT count(*) FROM outbox`); n != 0 {
		t.Errorf("outbox rows after rollback = %d, want 0", n)
	}
	if n := count(t, pool, `SELECT count(*) FROM users`); n != 0 {
		t.Errorf("users after rollback = %d, want 0", n)
	}

	inTx(t, s, func(tx auth.Tx) error {
		if err := tx.CreateUser(ctx, u); err != nil {
			return err
		}
		return tx.Enqueue(ctx, events.ExchangeAuth, u.ID, ev)
	})
	var key, exchange string
	if err := pool.QueryRow(ctx, `SELECT routing_key, exchange FROM outbox WHERE aggregate_id = $1`, u.ID).Scan(&key, &exchange); err != nil {
		t.Fatalf("outbox row after commit: %v", err)
	}
	if key != "auth.user.registered.v1" || exchange != events.ExchangeAuth {
		t.Errorf("outbox row = %s on %s, want auth.user.registered.v1 on %s", key, exchange, events.ExchangeAuth)
	}
}

// TestMigrationCarriesTheSharedOutboxSchema guards against the outbox table
// drifting from what shared/outbox's relay expects.
func TestMigrationCarriesTheSharedOutboxSchema(t *testing.T) {
	sql, err := os.ReadFile("../../migrations/00001_init.sql")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(sql), strings.TrimSpace(outbox.Schema)) {
		t.Error("migrations/00001_init.sql does not contain outbox.Schema verbatim")
	}
	sql, err = os.ReadFile("../../migrations/00002_outbox_published.sql")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(sql), strings.TrimSpace(outbox.PublishedSchema)) {
		t.Error("migrations/00002_outbox_published.sql does not contain outbox.PublishedSchema verbatim")
	}
}

func count(t *testing.T, pool *pgxpool.Pool, q string) int {
	t.Helper()
	var n int
	if err := pool.QueryRow(context.Background(), q).Scan(&n); err != nil {
		t.Fatalf("%s: %v", q, err)
	}
	return n
}

func ids(list []auth.Session) []string {
	out := make([]string, len(list))
	for i, s := range list {
		out[i] = s.ID
	}
	return out
}

func sorted(in []string) []string {
	out := append([]string(nil), in...)
	for i := range out {
		for j := i + 1; j < len(out); j++ {
			if out[j] < out[i] {
				out[i], out[j] = out[j], out[i]
			}
		}
	}
	return out
}
