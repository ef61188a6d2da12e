package harness

import (
	"context"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
)

// Count runs a single-number query against a service's database (by binary
// name, e.g. "user-service") and returns the number.
func (s *Stack) Count(t testing.TB, service, sql string, args ...any) int64 {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, s.DBURL[service])
	if err != nil {
		t.Fatalf("connect %s db: %v", service, err)
	}
	defer conn.Close(ctx)
	var n int64
	if err := conn.QueryRow(ctx, sql, args...).Scan(&n); err != nil {
		t.Fatalf("%s: %s: %v", service, sql, err)
	}
	return n
}
