// Package pgtest gives tests their own throwaway PostgreSQL databases, so
// packages testing in parallel never see each other's rows. It needs
// PG_ADMIN_URL (a role allowed to CREATE DATABASE, written by scripts/infra)
// and fails the test without it: tests about PostgreSQL mean nothing
// without one.
package pgtest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"io/fs"
	"net/url"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/parleychat/parley/shared/pgdb"
)

// AdminURLEnv names the variable holding the admin connection URL.
const AdminURLEnv = "PG_ADMIN_URL"

// NewURL creates an empty database named <prefix>_<random>, dropped when
// the test ends, and returns its URL.
func NewURL(t testing.TB, prefix string) string {
	t.Helper()
	admin := os.Getenv(AdminURLEnv)
	if admin == "" {
		t.Fatalf("%s is not set: run `scripts/infra up` and `set -a; . .local/env; set +a` first", AdminURLEnv)
	}
	u, err := url.Parse(admin)
	if err != nil || u.Scheme == "" {
		t.Fatalf("%s must be a postgres:// URL", AdminURLEnv)
	}
	b := make([]byte, 6)
	_, _ = rand.Read(b)
	name := prefix + "_" + hex.EncodeToString(b)
	exec(t, admin, "CREATE DATABASE "+pgx.Identifier{name}.Sanitize())
	// Sessions a test left open are ended first; DROP ... WITH (FORCE) would
	// also try to end an autovacuum worker, which this role may not signal
	// (the drop then fails), while a plain DROP stops it by itself.
	t.Cleanup(func() {
		exec(t, admin, "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = "+quote(name)+
			" AND usename = current_user AND pid <> pg_backend_pid()")
		exec(t, admin, "DROP DATABASE IF EXISTS "+pgx.Identifier{name}.Sanitize())
	})
	u.Path = "/" + name
	return u.String()
}

// New creates a database as NewURL does, applies migrations (nil for none)
// and returns a pool on it, closed when the test ends.
func New(t testing.TB, prefix string, migrations fs.FS) *pgxpool.Pool {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	pool, err := pgdb.Open(ctx, NewURL(t, prefix), migrations)
	if err != nil {
		t.Fatalf("open test database: %v", err)
	}
	t.Cleanup(pool.Close)
	return pool
}

// quote is name as an SQL string literal (names here are <prefix>_<hex>).
func quote(name string) string { return "'" + strings.ReplaceAll(name, "'", "''") + "'" }

func exec(t testing.TB, admin, sql string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, admin)
	if err != nil {
		t.Errorf("connect %s: %v", AdminURLEnv, err)
		return
	}
	defer conn.Close(ctx)
	if _, err := conn.Exec(ctx, sql); err != nil {
		t.Errorf("%s: %v", sql, err)
	}
}
