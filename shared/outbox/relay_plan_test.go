package outbox

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/parleychat/parley/shared/pgtest"
)

// The relay's statements are planned once per connection, and the plans
// made while the outbox is new (a few rows, analysed) must still reach rows
// through an index once it has grown: marking by primary key, reading by
// the partial index of unpublished rows, never scanning published ones.
func TestRelayConnectionPlansOnceForAnyOutboxSize(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	pool := pgtest.New(t, "outbox_plan", nil)
	// Autovacuum stays off so that no ANALYZE refreshes the statistics (and
	// drops cached plans) while the test runs.
	if _, err := pool.Exec(ctx, Schema+PublishedSchema+`; ALTER TABLE outbox SET (autovacuum_enabled = false);
		ALTER TABLE outbox_published SET (autovacuum_enabled = false)`); err != nil {
		t.Fatal(err)
	}
	conn, err := pgx.ConnectConfig(ctx, relayConnConfig(pool.Config().ConnConfig))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(context.WithoutCancel(ctx))
	// A fresh database: the relay marks rows from the first event on, and
	// autovacuum analyses a new table early.
	if _, err := conn.Exec(ctx, `INSERT INTO outbox (id, exchange, routing_key, aggregate_id, payload)
		SELECT gen_random_uuid(), 'parley.chat', 'chat.message.created.v1', g::text, '{"data":{}}' FROM generate_series(1, 20) g;
		ANALYZE outbox; ANALYZE outbox_published`); err != nil {
		t.Fatal(err)
	}
	for _, s := range []struct{ name, sql string }{{"mark", markPublished}, {"read", readUnpublished}, {"prune", pruneOutbox}} {
		if _, err := conn.Prepare(ctx, s.name, s.sql); err != nil {
			t.Fatal(err)
		}
	}
	for i := range int64(10) {
		if _, err := conn.Exec(ctx, "mark", []int64{i + 1}); err != nil {
			t.Fatal(err)
		}
		if _, err := conn.Exec(ctx, "read", 200, []int64{}); err != nil {
			t.Fatal(err)
		}
		if _, err := conn.Exec(ctx, "prune", time.Now().Add(-time.Hour)); err != nil {
			t.Fatal(err)
		}
	}
	// A day's traffic later: many rows published, many of them (by an
	// earlier version of the relay) marked in place in outbox.
	if _, err := conn.Exec(ctx, `INSERT INTO outbox (id, exchange, routing_key, aggregate_id, payload, published_at)
		SELECT gen_random_uuid(), 'parley.chat', 'chat.message.created.v1', g::text, '{"data":{}}', now() FROM generate_series(1, 50000) g;
		INSERT INTO outbox_published (seq, id, exchange, routing_key, aggregate_id, payload, created_at, published_at)
		SELECT g, gen_random_uuid(), 'parley.chat', 'chat.message.created.v1', g::text, '{"data":{}}', now(), now() - interval '1 day' + g * interval '1 second'
		FROM generate_series(1, 50000) g;
		INSERT INTO outbox (id, exchange, routing_key, aggregate_id, payload)
		SELECT gen_random_uuid(), 'parley.chat', 'chat.message.created.v1', g::text, '{"data":{}}' FROM generate_series(1, 3) g`); err != nil {
		t.Fatal(err)
	}
	var generic, custom int64
	if err := conn.QueryRow(ctx, `SELECT sum(generic_plans), sum(custom_plans) FROM pg_prepared_statements WHERE name IN ('mark', 'read', 'prune')`,
		pgx.QueryExecModeSimpleProtocol).Scan(&generic, &custom); err != nil {
		t.Fatal(err)
	}
	if custom != 0 || generic < 29 {
		t.Errorf("%d generic and %d custom plans over 30 runs, want every run on a generic plan", generic, custom)
	}
	// EXPLAIN EXECUTE shows the plan the prepared statement runs with, the
	// cached generic one.
	// Pruning scans outbox itself for rows marked in place, which holds
	// only the backlog once the relay moves rows out; never the archive.
	for _, c := range []struct{ explain, want, forbid string }{
		{`EXPLAIN EXECUTE mark('{1,2,3}')`, "outbox_pkey", "Seq Scan"},
		{`EXPLAIN EXECUTE read(200, '{}')`, "outbox_unpublished", "Seq Scan"},
		{`EXPLAIN EXECUTE prune(now() - interval '1 hour')`, "outbox_published_at", "Seq Scan on outbox_published"},
	} {
		rows, err := conn.Query(ctx, c.explain, pgx.QueryExecModeSimpleProtocol)
		if err != nil {
			t.Fatal(err)
		}
		lines, err := pgx.CollectRows(rows, pgx.RowTo[string])
		if err != nil {
			t.Fatal(err)
		}
		// A "JIT:" section means the statement is compiled each run.
		if p := strings.Join(lines, "\n"); strings.Contains(p, c.forbid) || strings.Contains(p, "JIT:") || !strings.Contains(p, c.want) {
			t.Errorf("%s, planned on a new outbox, after it grew to 50,000 rows: want an index scan of %s, got\n%s", c.explain, c.want, p)
		}
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
