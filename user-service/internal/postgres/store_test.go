package postgres_test

import (
	"context"
	"errors"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/parleychat/parley/shared/events"
	"github.com/parleychat/parley/shared/pgtest"
	"github.com/parleychat/parley/user-service/internal/postgres"
	"github.com/parleychat/parley/user-service/internal/users"
	"github.com/parleychat/parley/user-service/migrations"
)

func newUser(t *testing.T, s *postgres.Store, username string) string {
	t.Helper()
	id := uuid.Must(uuid.NewV7()).String()
	created, err := s.CreateProfile(context.Background(), "test", uuid.NewString(), users.NewProfile{
		UserID: id, Username: username, CreatedAt: time.Now().UTC(),
	})
	if err != nil || !created {
		t.Fatalf("CreateProfile(%s) = %v, %v; want created", username, created, err)
	}
	return id
}

func count(t *testing.T, pool *pgxpool.Pool, sql string, args ...any) int {
	t.Helper()
	var n int
	if err := pool.QueryRow(context.Background(), sql, args...).Scan(&n); err != nil {
		t.Fatalf("%s: %v", sql, err)
	}
	return n
}

func TestCreateProfileOncePerEventAndPerUser(t *testing.T) {
	pool := pgtest.New(t, "users_test", migrations.FS)
	s := postgres.New(pool)
	ctx := context.Background()
	user := uuid.Must(uuid.NewV7()).String()
	p := users.NewProfile{UserID: user, Username: "alice", CreatedAt: time.Date(2025, 6, 1, 10, 0, 0, 0, time.UTC)}

	steps := []struct {
		name        string
		consumer    string
		eventID     string
		wantCreated bool
		wantEvents  int
	}{
		{"first delivery", "q", "e1", true, 1},
		{"redelivery", "q", "e1", false, 1},
		{"another event for the same user", "q", "e2", false, 2},
	}
	for _, st := range steps {
		created, err := s.CreateProfile(ctx, st.consumer, st.eventID, p)
		if err != nil || created != st.wantCreated {
			t.Errorf("%s: got (%v, %v), want created=%v", st.name, created, err, st.wantCreated)
		}
		if n := count(t, pool, `SELECT count(*) FROM processed_events`); n != st.wantEvents {
			t.Errorf("%s: %d processed events, want %d", st.name, n, st.wantEvents)
		}
	}
	got, err := s.Profile(ctx, user)
	if err != nil {
		t.Fatal(err)
	}
	if got.DisplayName != "alice" || got.Username != "alice" || !got.CreatedAt.Equal(p.CreatedAt) || !got.UpdatedAt.Equal(p.CreatedAt) {
		t.Errorf("profile = %+v; want display name = username and both times = account creation", got)
	}

	// Concurrent duplicates (several consumers racing on one redelivered
	// event) still make one profile.
	other := users.NewProfile{UserID: uuid.Must(uuid.NewV7()).String(), Username: "bob", CreatedAt: time.Now()}
	var wg sync.WaitGroup
	var mu sync.Mutex
	createdCount := 0
	for range 8 {
		wg.Go(func() {
			c, err := s.CreateProfile(ctx, "q", "e-bob", other)
			if err != nil {
				t.Errorf("concurrent CreateProfile: %v", err)
			}
			if c {
				mu.Lock()
				createdCount++
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	if createdCount != 1 || count(t, pool, `SELECT count(*) FROM profiles WHERE user_id = $1`, other.UserID) != 1 {
		t.Errorf("8 concurrent deliveries: %d reported created; want exactly 1 profile", createdCount)
	}
}

func TestProfileNotFound(t *testing.T) {
	s := postgres.New(pgtest.New(t, "users_test", migrations.FS))
	if _, err := s.Profile(context.Background(), uuid.NewString()); !errors.Is(err, users.ErrNotFound) {
		t.Errorf("Profile(unknown) error = %v, want ErrNotFound", err)
	}
	_, err := s.UpdateProfile(context.Background(), uuid.NewString(), func(p users.Profile) (users.Profile, bool) { return p, true })
	if !errors.Is(err, users.ErrNotFound) {
		t.Errorf("UpdateProfile(unknown) error = %v, want ErrNotFound", err)
	}
}

func TestUpdateProfileWritesTheEventInTheSameTransaction(t *testing.T) {
	pool := pgtest.New(t, "users_test", migrations.FS)
	s := postgres.New(pool)
	ctx := context.Background()
	id := newUser(t, s, "carol")
	at := time.Date(2025, 7, 1, 9, 0, 0, 0, time.UTC)

	got, err := s.UpdateProfile(ctx, id, func(p users.Profile) (users.Profile, bool) {
		p.DisplayName, p.AvatarURL, p.UpdatedAt = "Carol C.", "https://img.example/c.png", at
		return p, true
	})
	if err != nil {
		t.Fatal(err)
	}
	if got.DisplayName != "Carol C." {
		t.Errorf("returned display name %q", got.DisplayName)
	}
	var routingKey, exchange, aggregate string
	var payload []byte
	if err := pool.QueryRow(ctx, `SELECT routing_key, exchange, aggregate_id, payload FROM outbox`).Scan(&routingKey, &exchange, &aggregate, &payload); err != nil {
		t.Fatalf("read outbox: %v", err)
	}
	env, err := events.Decode(payload)
	if err != nil {
		t.Fatal(err)
	}
	var data events.ProfileUpdatedV1
	if err := env.DecodeData(&data); err != nil {
		t.Fatal(err)
	}
	want := events.ProfileUpdatedV1{UserID: id, Username: "carol", DisplayName: "Carol C.", AvatarURL: "https://img.example/c.png", UpdatedAt: at}
	if routingKey != "users.profile.updated.v1" || exchange != events.ExchangeUsers || aggregate != id || data != want || env.Source != "user-service" {
		t.Errorf("outbox row: %s %s %s %+v (source %s); want users.profile.updated.v1 on parley.users for %s with %+v",
			routingKey, exchange, aggregate, data, env.Source, id, want)
	}

	// No change, no write, no event; a failing transaction leaves nothing.
	if _, err := s.UpdateProfile(ctx, id, func(p users.Profile) (users.Profile, bool) { return p, false }); err != nil {
		t.Fatal(err)
	}
	if n := count(t, pool, `SELECT count(*) FROM outbox`); n != 1 {
		t.Errorf("%d outbox rows after a no-op update, want 1", n)
	}
	_, err = s.UpdateProfile(ctx, id, func(p users.Profile) (users.Profile, bool) {
		p.DisplayName = string([]byte{0xff}) // invalid UTF-8: PostgreSQL refuses it
		return p, true
	})
	if err == nil {
		t.Fatal("update with invalid UTF-8: got nil error")
	}
	if n := count(t, pool, `SELECT count(*) FROM outbox`); n != 1 {
		t.Errorf("%d outbox rows after a failed update, want 1 (rolled back together)", n)
	}
}

func TestSearch(t *testing.T) {
	pool := pgtest.New(t, "users_test", migrations.FS)
	s := postgres.New(pool)
	ctx := context.Background()
	names := map[string]string{ // username -> display name
		"alice": "Alice Liddell", "alfred": "Batman's Butler", "bob": "Alberto B",
		"al_x": "Underscore", "alxy": "Not an underscore", "zed": "Zed",
	}
	ids := map[string]string{}
	for u, d := range names {
		ids[u] = newUser(t, s, u)
		if _, err := s.UpdateProfile(ctx, ids[u], func(p users.Profile) (users.Profile, bool) {
			p.DisplayName = d
			return p, true
		}); err != nil {
			t.Fatal(err)
		}
	}
	tests := []struct {
		prefix string
		want   []string // usernames in order
	}{
		{"al", []string{"al_x", "alfred", "alice", "alxy", "bob"}}, // bob by display name "Alberto B"
		{"ali", []string{"alice"}},
		{"al_", []string{"al_x"}}, // _ is literal, not a wildcard
		{"bat", []string{"alfred"}},
		{"%", nil},
		{"", []string{"al_x", "alfred", "alice", "alxy", "bob", "zed"}},
		{"nobody", nil},
	}
	for _, tt := range tests {
		found, err := s.Search(ctx, users.SearchQuery{Prefix: tt.prefix, Limit: 50})
		if err != nil {
			t.Fatalf("Search(%q): %v", tt.prefix, err)
		}
		var got []string
		for _, p := range found {
			got = append(got, p.Username)
		}
		if !slices.Equal(got, tt.want) {
			t.Errorf("Search(%q) = %v, want %v", tt.prefix, got, tt.want)
		}
	}
	// Keyset pagination: after alfred comes alice.
	found, err := s.Search(ctx, users.SearchQuery{Prefix: "al", Limit: 1, After: &users.Position{Key: "alfred", UserID: ids["alfred"]}})
	if err != nil || len(found) != 1 || found[0].Username != "alice" {
		t.Errorf("page after alfred = %v, %v; want [alice]", found, err)
	}
}

func TestSearchUsesTheIndexes(t *testing.T) {
	pool := pgtest.New(t, "users_test", migrations.FS)
	ctx := context.Background()
	// Enough rows that a sequential scan is not free, then ask the planner
	// about selective prefixes (for a common one, walking the username index
	// in order and filtering is the better plan, and the planner knows it).
	if _, err := pool.Exec(ctx, `INSERT INTO profiles (user_id, username, display_name, created_at, updated_at)
		SELECT gen_random_uuid(), 'user' || i, 'Name ' || i, now(), now() FROM generate_series(1, 20000) i`); err != nil {
		t.Fatal(err)
	}
	if _, err := pool.Exec(ctx, `ANALYZE profiles`); err != nil {
		t.Fatal(err)
	}
	after := &users.Position{Key: "user5", UserID: uuid.NewString()}
	tests := []struct {
		name string
		q    users.SearchQuery
		want []string
	}{
		{"prefix", users.SearchQuery{Prefix: "user123", Limit: 21}, []string{"profiles_username_search", "profiles_display_name_prefix"}},
		{"prefix after a cursor", users.SearchQuery{Prefix: "name 1234", Limit: 21, After: after}, []string{"profiles_username_search", "profiles_display_name_prefix"}},
		{"everyone", users.SearchQuery{Limit: 21, After: after}, []string{"profiles_username_search"}},
	}
	for _, tt := range tests {
		sql, args := postgres.SearchSQL(tt.q)
		var plan []byte
		if err := pool.QueryRow(ctx, "EXPLAIN (FORMAT JSON) "+sql, append([]any{pgx.QueryExecModeExec}, args...)...).Scan(&plan); err != nil {
			t.Fatalf("%s: explain: %v", tt.name, err)
		}
		for _, idx := range tt.want {
			if !strings.Contains(string(plan), `"Index Name": "`+idx+`"`) {
				t.Errorf("%s: plan does not use %s:\n%s", tt.name, idx, plan)
			}
		}
		if strings.Contains(string(plan), `"Seq Scan"`) {
			t.Errorf("%s: plan scans the whole table:\n%s", tt.name, plan)
		}
	}
}
