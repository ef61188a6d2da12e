// Package testdb gives each test package its own throwaway PostgreSQL
// database, migrated like production (see shared/pgtest).
package testdb

import (
	"testing"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/parleychat/parley/chat-service/migrations"
	"github.com/parleychat/parley/shared/pgtest"
)

// New creates a migrated database chat_<random> and returns a pool on it;
// the database is dropped when the test ends.
func New(t testing.TB) *pgxpool.Pool {
	t.Helper()
	return pgtest.New(t, "chat", migrations.FS())
}

// URL returns the connection URL of pool's database, for code under test
// that opens its own connections.
func URL(pool *pgxpool.Pool) string {
	return pool.Config().ConnString()
}
