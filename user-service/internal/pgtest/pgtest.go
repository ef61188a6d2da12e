// Package pgtest gives each test package its own throwaway PostgreSQL
// database, migrated with user-service's schema, so packages testing in
// parallel never see each other's rows.
package pgtest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"net/url"
	"os"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/parleychat/parley/shared/pgdb"
	"github.com/parleychat/parley/user-service/migrations"
)

// AdminURLEnv names the variable holding a role allowed to CREATE DATABASE.
const AdminURLEnv = "PG_ADMIN_URL"

// New creates a database, applies the migrations, and drops it when the
// test ends.
func New(t testing.TB) *pgxpool.Pool {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	pool, err := pgdb.Open(ctx, NewURL(t), migrations.FS)
	if err != nil {
		t.Fatalf("open test database: %v", err)
	}
	t.Cleanup(pool.Close)
	return pool
}

// NewURL creates an empty database, dropped when the test ends, and returns
// its URL (for tests that start the service, which migrates it itself). It
// fails the test when PG_ADMIN_URL is not set.
func NewURL(t testing.TB) string {
	t.Helper()
	admin := os.Getenv(AdminURLEnv)
	if admin == "" {
		t.Fatalf("%s is not set: run `scripts/infra up` and `. .local/env` first", AdminURLEnv)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	b := make([]byte, 6)
	_, _ = rand.Read(b)
	name := "users_test_" + hex.EncodeToString(b)
	conn, err := pgx.Connect(ctx, admin)
	if err != nil {
		t.Fatalf("connect %s: %v", AdminURLEnv, err)
	}
	defer conn.Close(ctx)
	if _, err := conn.Exec(ctx, "CREATE DATABASE "+name); err != nil {
		t.Fatalf("create database %s: %v", name, err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		c, err := pgx.Connect(ctx, admin)
		if err != nil {
			t.Errorf("drop database %s: %v", name, err)
			return
		}
		defer c.Close(ctx)
		if _, err := c.Exec(ctx, "DROP DATABASE IF EXISTS "+name+" WITH (FORCE)"); err != nil {
			t.Errorf("drop database %s: %v", name, err)
		}
	})
	u, err := url.Parse(admin)
	if err != nil || u.Scheme == "" {
		t.Fatalf("%s must be a postgres:// URL", AdminURLEnv)
	}
	u.Path = "/" + name
	return u.String()
}
