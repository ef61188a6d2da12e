package outbox

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/parleychat/parley/shared/pgtest"
)

// The relay's statements, prepared while the outbox is empty, must not
// keep the plan of an empty table once it has grown: its connection plans
// every run for the table as it is.
func TestRelayConnectionPlansForTheOutboxAsItIs(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	pool := pgtest.New(t, "outbox_plan", nil)
	// Autovacuum stays off so that no ANALYZE refreshes the statistics (and
	// drops cached plans) while the test runs.
	if _, err := pool.Exec(ctx, Schema+`; ALTER TABLE outbox SET (autovacuum_enabled = false)`); err != nil {
		t.Fatal(err)
	}
	conn, err := pgx.ConnectConfig(ctx, relayConnConfig(pool.Config().ConnConfig))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(context.WithoutCancel(ctx))
	if _, err := conn.Prepare(ctx, "mark", markPublished); err != nil {
		t.Fatal(err)
	}
	// Ten runs while the outbox holds a few rows, as on a fresh database
	// (the relay marks rows from the first event on): enough for a
	// generic plan to be cached.
	if _, err := conn.Exec(ctx, `INSERT INTO outbox (id, exchange, routing_key, aggregate_id, payload)
		SELECT gen_random_uuid(), 'parley.chat', 'chat.message.created.v1', g::text, '{"data":{}}' FROM generate_series(1, 200) g`); err != nil {
		t.Fatal(err)
	}
	seqs := []int64{1, 2, 3}
	for range 10 {
		if _, err := conn.Exec(ctx, "mark", seqs); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := conn.Exec(ctx, `INSERT INTO outbox (id, exchange, routing_key, aggregate_id, payload)
		SELECT gen_random_uuid(), 'parley.chat', 'chat.message.created.v1', g::text, '{"data":{}}' FROM generate_series(1, 50000) g`); err != nil {
		t.Fatal(err)
	}
	// EXPLAIN EXECUTE shows the plan the prepared statement runs with, the
	// cached generic one if there is one.
	var lines []string
	rows, err := conn.Query(ctx, `EXPLAIN EXECUTE mark('{1,2,3}')`, pgx.QueryExecModeSimpleProtocol)
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
	if p := strings.Join(lines, "\n"); strings.Contains(p, "Seq Scan on outbox") {
		t.Fatalf("marking rows, prepared on a small outbox, still scans all of it after it grew to 50,000 rows:\n%s", p)
	}
}

// A plan_cache_mode set in the URL is kept.
func TestRelayConnectionKeepsAPlanCacheModeFromTheURL(t *testing.T) {
	base, err := pgx.ParseConfig("postgres://u:p@127.0.0.1:5432/db?plan_cache_mode=auto")
	if err != nil {
		t.Fatal(err)
	}
	if got := relayConnConfig(base).RuntimeParams[planCacheMode]; got != "auto" {
		t.Fatalf("plan_cache_mode = %q, want the URL's auto", got)
	}
	if _, set := base.RuntimeParams[planCacheMode]; !set {
		t.Fatal("the URL's setting was lost")
	}
}
