// Package testdb gives each test package its own throwaway PostgreSQL
// database, migrated like production, so packages tested in parallel never
// see each other's rows.
package testdb

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

	"github.com/parleychat/parley/chat-service/migrations"
	"github.com/parleychat/parley/shared/pgdb"
)

// New creates database chat_<random> through PG_ADMIN_URL, applies the
// migrations and returns a pool on it; the database is dropped when the
// test ends. A missing PG_ADMIN_URL fails the test: these tests are about
// PostgreSQL and must not silently pass without it.
func New(t testing.TB) *pgxpool.Pool {
	t.Helper()
	admin := os.Getenv("PG_ADMIN_URL")
	if admin == "" {
		t.Fatal("PG_ADMIN_URL is not set: run `scripts/infra up` and `. .local/env` (tests need a real PostgreSQL)")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, admin)
	if err != nil {
		t.Fatalf("connect PG_ADMIN_URL: %v", err)
	}
	defer conn.Close(ctx)
	b := make([]byte, 6)
	_, _ = rand.Read(b)
	name := "chat_" + hex.EncodeToString(b)
	if _, err := conn.Exec(ctx, `CREATE DATABASE `+name); err != nil {
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
		if _, err := c.Exec(ctx, `DROP DATABASE IF EXISTS `+name+` WITH (FORCE)`); err != nil {
			t.Errorf("drop database %s: %v", name, err)
		}
	})
	u, err := url.Parse(admin)
	if err != nil {
		t.Fatalf("parse PG_ADMIN_URL: %v", err)
	}
	u.Path = "/" + name
	pool, err := pgdb.Open(ctx, u.String(), migrations.FS())
	if err != nil {
		t.Fatalf("open %s: %v", name, err)
	}
	t.Cleanup(pool.Close)
	return pool
}

// URL returns the connection URL of pool's database, for code under test
// that opens its own connections.
func URL(pool *pgxpool.Pool) string {
	return pool.Config().ConnString()
}
