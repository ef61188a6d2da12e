// Package pgtest gives each test package its own throwaway PostgreSQL
// database migrated with user-service's schema (see shared/pgtest).
package pgtest

import (
	"testing"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/parleychat/parley/shared/pgtest"
	"github.com/parleychat/parley/user-service/migrations"
)

// New creates a migrated database, dropped when the test ends.
func New(t testing.TB) *pgxpool.Pool {
	t.Helper()
	return pgtest.New(t, "users_test", migrations.FS)
}

// NewURL creates an empty database, dropped when the test ends, and returns
// its URL (for tests that start the service, which migrates it itself).
func NewURL(t testing.TB) string {
	t.Helper()
	return pgtest.NewURL(t, "users_test")
}
