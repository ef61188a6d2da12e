package pgdb_test

import (
	"context"
	"errors"
	"net"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/parleychat/parley/shared/pgdb"
	"github.com/parleychat/parley/shared/pgtest"
)

// A database that cannot be reached or drops the connection is
// unavailable (retry later); a statement that fails is not.
func TestUnavailable(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	url := pgtest.NewURL(t, "pgdb")

	// Nothing listens on a port just closed.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	closed := ln.Addr().String()
	_ = ln.Close()
	_, refused := pgx.Connect(ctx, "postgres://u:p@"+closed+"/db?connect_timeout=2")

	// A connection the server ends (as a restart does: 57P01), then used again.
	victim, err := pgx.Connect(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	defer victim.Close(ctx)
	killer, err := pgx.Connect(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	defer killer.Close(ctx)
	if _, err := killer.Exec(ctx, `SELECT pg_terminate_backend($1)`, victim.PgConn().PID()); err != nil {
		t.Fatal(err)
	}
	var terminated, reused error
	for range 50 {
		if _, terminated = victim.Exec(ctx, `SELECT 1`); terminated != nil {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	_, reused = victim.Exec(ctx, `SELECT 1`)

	_, syntax := killer.Exec(ctx, `SELEKT 1`)
	_, _ = killer.Exec(ctx, `CREATE TABLE u (k int PRIMARY KEY)`)
	_, _ = killer.Exec(ctx, `INSERT INTO u VALUES (1)`)
	_, duplicate := killer.Exec(ctx, `INSERT INTO u VALUES (1)`)

	for _, c := range []struct {
		name string
		err  error
		want bool
	}{
		{"connection refused", refused, true},
		{"terminated by the server", terminated, true},
		{"used after it was terminated", reused, true},
		{"syntax error", syntax, false},
		{"unique violation", duplicate, false},
		{"no rows", pgx.ErrNoRows, false},
		{"other error", errors.New("boom"), false},
		{"nil", nil, false},
	} {
		if c.want && c.err == nil {
			t.Errorf("%s: no error to classify", c.name)
			continue
		}
		if got := pgdb.Unavailable(c.err); got != c.want {
			t.Errorf("%s: Unavailable(%v) = %v, want %v", c.name, c.err, got, c.want)
		}
	}
}
