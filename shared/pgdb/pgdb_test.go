package pgdb_test

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/parleychat/parley/shared/pgdb"
	"github.com/parleychat/parley/shared/pgtest"
)

// A statement prepared while its table is empty must not keep the plan of
// an empty table once the table has grown: the pool's connections plan
// each run for the table as it is.
func TestPreparedLookupFollowsTableGrowth(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	pool, err := pgdb.Open(ctx, pgtest.NewURL(t, "pgdb"), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer pool.Close()
	conn, err := pool.Acquire(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Release()
	// Autovacuum stays off so that no ANALYZE refreshes the statistics (and
	// drops cached plans) while the test runs.
	if _, err := conn.Exec(ctx, `CREATE TABLE items (sender uuid NOT NULL, key text NOT NULL, body text, UNIQUE (sender, key))
		WITH (autovacuum_enabled = false)`); err != nil {
		t.Fatal(err)
	}
	if _, err := conn.Conn().Prepare(ctx, "lookup", `SELECT i.key FROM unnest($1::text[]::uuid[], $2::text[]) AS k(sender, key)
		JOIN items i ON i.sender = k.sender AND i.key = k.key`); err != nil {
		t.Fatal(err)
	}
	// Ten runs on the empty table, with ten keys each as a batch of sends
	// has: enough for a generic plan to be cached.
	senders, keys := make([]string, 10), make([]string, 10)
	for i := range senders {
		senders[i], keys[i] = fmt.Sprintf("5c7f1f9e-6b0e-4c55-9d43-0c1e6f0e8a%02d", i), fmt.Sprint(i)
	}
	for range 10 {
		if _, err := conn.Exec(ctx, "lookup", senders, keys); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := conn.Exec(ctx, `INSERT INTO items SELECT gen_random_uuid(), g::text, repeat('x', 200) FROM generate_series(1, 50000) g`); err != nil {
		t.Fatal(err)
	}
	// EXPLAIN EXECUTE shows the plan the prepared statement runs with,
	// the cached generic one if there is one.
	var lines []string
	rows, err := conn.Query(ctx, `EXPLAIN EXECUTE lookup('{5c7f1f9e-6b0e-4c55-9d43-0c1e6f0e8a11}', '{a}')`, pgx.QueryExecModeSimpleProtocol)
	if err != nil {
		t.Fatal(err)
	}
	for rows.Next() {
		var l string
		if err := rows.Scan(&l); err != nil {
			t.Fatal(err)
		}
		lines = append(lines, l)
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	if p := strings.Join(lines, "\n"); strings.Contains(p, "Seq Scan on items") {
		t.Fatalf("the lookup prepared on the empty table still scans all of it after it grew to 50,000 rows:\n%s", p)
	}
	var mode string
	if err := conn.QueryRow(ctx, `SHOW plan_cache_mode`).Scan(&mode); err != nil {
		t.Fatal(err)
	}
	if mode != "force_custom_plan" {
		t.Fatalf("plan_cache_mode = %q", mode)
	}
}
