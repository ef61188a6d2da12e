package auth_test

import (
	"context"
	"encoding/json"
	"errors"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/parleychat/parley/auth-service/internal/auth"
	"github.com/parleychat/parley/auth-service/internal/password"
	"github.com/parleychat/parley/auth-service/internal/postgres"
	"github.com/parleychat/parley/auth-service/internal/sessiontoken"
	"github.com/parleychat/parley/auth-service/migrations"
	"github.com/parleychat/parley/shared/pgtest"
	"github.com/parleychat/parley/shared/token"
	"github.com/parleychat/parley/shared/token/tokentest"
)

// cheap argon2id parameters: these tests are about the use cases, not the
// cost of hashing (password_test covers the real parameters).
var cheap = password.Params{Memory: 64, Time: 1, Threads: 1, SaltLen: 16, KeyLen: 32}

const goodPassword = "correct horse battery staple"

// clock is a settable clock shared by the service and the token verifier.
type clock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *clock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

type fixture struct {
	svc      *auth.Service
	pool     *pgxpool.Pool
	store    *postgres.Store
	clock    *clock
	cfg      auth.Config
	sessions *token.Verifier // what the gateway uses on session tokens
	hasher   *countingHasher
}

// countingHasher is the real hasher, counting the verifications it runs
// (real or dummy), so tests can check that every login attempt costs one.
type countingHasher struct {
	*password.Hasher
	verifications atomic.Int64
}

func (h *countingHasher) Verify(ctx context.Context, pw, encoded string) (bool, bool, error) {
	h.verifications.Add(1)
	return h.Hasher.Verify(ctx, pw, encoded)
}

func (h *countingHasher) VerifyDummy(ctx context.Context, pw string) error {
	h.verifications.Add(1)
	return h.Hasher.VerifyDummy(ctx, pw)
}

// newFixture builds a service on a fresh database; edit adjusts its config.
func newFixture(t *testing.T, edit func(*auth.Config)) *fixture {
	t.Helper()
	return newFixtureWithIssuer(t, edit, nil)
}

func newFixtureWithIssuer(t *testing.T, edit func(*auth.Config), issuer auth.AccessIssuer) *fixture {
	t.Helper()
	pool := pgtest.New(t, "auth_test", migrations.FS)
	clk := &clock{now: time.Now().UTC().Truncate(time.Second)}
	sessions := tokentest.NewIssuer(t, token.IssuerAuth)
	signer := sessions.Signer
	verifier := sessions.Verifier(t, token.AudienceGateway, token.WithClock(clk.Now))
	if issuer == nil {
		issuer = sessiontoken.New(signer)
	}
	real, err := password.NewHasher(cheap, 4)
	if err != nil {
		t.Fatal(err)
	}
	hasher := &countingHasher{Hasher: real}
	cfg := auth.DefaultConfig()
	cfg.Now = clk.Now
	if edit != nil {
		edit(&cfg)
	}
	store := postgres.New(pool)
	svc, err := auth.NewService(store, postgres.NewLimiter(pool), hasher, issuer, cfg)
	if err != nil {
		t.Fatal(err)
	}
	return &fixture{svc: svc, pool: pool, store: store, clock: clk, cfg: cfg, sessions: verifier, hasher: hasher}
}

var device = auth.Client{IP: "192.0.2.10", UserAgent: "test-browser/1.0"}

// signup creates username with goodPassword and returns the grant.
func (f *fixture) signup(t *testing.T, username string) auth.Grant {
	t.Helper()
	g, err := f.svc.Signup(context.Background(), auth.SignupInput{
		Username: username, Email: username + "@example.com", Password: goodPassword,
	}, device)
	if err != nil {
		t.Fatalf("Signup(%s): %v", username, err)
	}
	return g
}

func (f *fixture) login(t *testing.T, login string) auth.Grant {
	t.Helper()
	g, err := f.svc.Login(context.Background(), auth.LoginInput{Login: login, Password: goodPassword}, device)
	if err != nil {
		t.Fatalf("Login(%s): %v", login, err)
	}
	return g
}

// outboxEvent is one outbox row with its envelope's data decoded.
type outboxEvent struct {
	RoutingKey  string
	AggregateID string
	Data        map[string]any
}

// events returns the outbox rows with routing key key, oldest first.
func (f *fixture) events(t *testing.T, key string) []outboxEvent {
	t.Helper()
	rows, err := f.pool.Query(context.Background(),
		`SELECT routing_key, aggregate_id, payload FROM outbox WHERE routing_key = $1 ORDER BY seq`, key)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var out []outboxEvent
	for rows.Next() {
		var (
			e   outboxEvent
			raw []byte
		)
		if err := rows.Scan(&e.RoutingKey, &e.AggregateID, &raw); err != nil {
			t.Fatal(err)
		}
		var env struct {
			Source string         `json:"source"`
			Data   map[string]any `json:"data"`
		}
		if err := json.Unmarshal(raw, &env); err != nil {
			t.Fatal(err)
		}
		if env.Source != auth.ServiceName {
			t.Errorf("event source = %q, want %q", env.Source, auth.ServiceName)
		}
		e.Data = env.Data
		out = append(out, e)
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

func (f *fixture) count(t *testing.T, q string, args ...any) int {
	t.Helper()
	var n int
	if err := f.pool.QueryRow(context.Background(), q, args...).Scan(&n); err != nil {
		t.Fatalf("%s: %v", q, err)
	}
	return n
}

// wantErr fails unless err is (or wraps) want.
func wantErr(t *testing.T, err, want error) {
	t.Helper()
	if !errors.Is(err, want) {
		t.Fatalf("err = %v, want %v", err, want)
	}
}

// fieldsOf returns field -> message of an InvalidError or ConflictError.
func fieldsOf(t *testing.T, err error) map[string]string {
	t.Helper()
	var (
		inv *auth.InvalidError
		con *auth.ConflictError
		fs  []auth.FieldError
	)
	switch {
	case errors.As(err, &inv):
		fs = inv.Fields
	case errors.As(err, &con):
		fs = con.Fields
	default:
		t.Fatalf("err = %v, want field errors", err)
	}
	out := map[string]string{}
	for _, f := range fs {
		out[f.Field] = f.Message
	}
	return out
}

func sameFields(got, want map[string]string) bool {
	if len(got) != len(want) {
		return false
	}
	for k, v := range want {
		if got[k] != v {
			return false
		}
	}
	return true
}

// errorsAs is errors.As, named so table code reads naturally.
func errorsAs(err error, target any) bool { return errors.As(err, target) }
