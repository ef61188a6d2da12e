package outbox_test

import (
	"context"
	"encoding/json"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/parleychat/parley/shared/outbox"
	"github.com/parleychat/parley/shared/pgtest"
)

// newInboxDB creates a throwaway database with processed_events and an
// effects table, dropped when the test ends.
func newInboxDB(t *testing.T) *pgxpool.Pool {
	t.Helper()
	pool := pgtest.New(t, "inbox_test", nil)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if _, err := pool.Exec(ctx, outbox.ProcessedSchema+`CREATE TABLE effects (event_id TEXT NOT NULL, n INT NOT NULL);`); err != nil {
		t.Fatalf("schema: %v", err)
	}
	return pool
}

func countEffects(t *testing.T, pool *pgxpool.Pool) int {
	t.Helper()
	var n int
	if err := pool.QueryRow(context.Background(), `SELECT count(*) FROM effects`).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

func TestProcessOnce(t *testing.T) {
	pool := newInboxDB(t)
	ctx := context.Background()
	insert := func(id string) func(pgx.Tx) error {
		return func(tx pgx.Tx) error {
			_, err := tx.Exec(ctx, `INSERT INTO effects (event_id, n) VALUES ($1, 1)`, id)
			return err
		}
	}
	failing := func(pgx.Tx) error { return json.Unmarshal([]byte("{"), new(any)) }
	steps := []struct {
		name     string
		consumer string
		id       string
		fn       func(pgx.Tx) error
		wantDone bool
		wantErr  bool
		effects  int
	}{
		{"first time", "a", "e1", insert("e1"), true, false, 1},
		{"duplicate", "a", "e1", insert("e1"), false, false, 1},
		{"same event, other consumer", "b", "e1", insert("e1"), true, false, 2},
		{"failure rolls back the record", "a", "e2", failing, false, true, 2},
		{"retry after failure", "a", "e2", insert("e2"), true, false, 3},
	}
	for _, s := range steps {
		done, err := outbox.ProcessOnce(ctx, pool, s.consumer, s.id, s.fn)
		if done != s.wantDone || (err != nil) != s.wantErr {
			t.Errorf("%s: got (%v, %v), want done=%v err=%v", s.name, done, err, s.wantDone, s.wantErr)
		}
		if n := countEffects(t, pool); n != s.effects {
			t.Errorf("%s: %d effects, want %d", s.name, n, s.effects)
		}
	}
	n, err := outbox.PruneProcessed(ctx, pool, -time.Hour) // everything is older than an hour from now
	if err != nil || n != 3 {
		t.Errorf("PruneProcessed = (%d, %v), want (3, nil)", n, err)
	}
}
