package rabbit_test

import (
	"context"
	"encoding/json"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/parleychat/parley/shared/events"
	"github.com/parleychat/parley/shared/pgtest"
	"github.com/parleychat/parley/shared/rabbit"
)

// newDB creates a throwaway database with processed_events and an effects
// table, dropped when the test ends.
func newDB(t *testing.T) *pgxpool.Pool {
	t.Helper()
	pool := pgtest.New(t, "rabbit_test", nil)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if _, err := pool.Exec(ctx, rabbit.ProcessedSchema+`CREATE TABLE effects (event_id TEXT NOT NULL, n INT NOT NULL);`); err != nil {
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

func TestSameEventDeliveredTenTimesHasOneEffect(t *testing.T) {
	pool := newDB(t)
	f := newFixture(t)
	var calls atomic.Int32
	_, _ = f.start(t, func(ctx context.Context, ev events.Envelope) error {
		calls.Add(1)
		_, err := rabbit.ProcessOnce(ctx, pool, f.cfg.Consumer, ev.ID, func(tx pgx.Tx) error {
			_, err := tx.Exec(ctx, `INSERT INTO effects (event_id, n) VALUES ($1, 1)`, ev.ID)
			return err
		})
		return err
	})
	ev, err := events.New(context.Background(), "rabbit-test", "test.once", 1, map[string]int{"n": 1})
	if err != nil {
		t.Fatal(err)
	}
	for range 10 {
		f.publishRaw(t, ev)
	}
	waitFor(t, "ten deliveries handled", 20*time.Second, func() bool { return calls.Load() == 10 })
	if n := countEffects(t, pool); n != 1 {
		t.Errorf("%d effects after 10 deliveries, want 1", n)
	}
}

func TestProcessOnce(t *testing.T) {
	pool := newDB(t)
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
		done, err := rabbit.ProcessOnce(ctx, pool, s.consumer, s.id, s.fn)
		if done != s.wantDone || (err != nil) != s.wantErr {
			t.Errorf("%s: got (%v, %v), want done=%v err=%v", s.name, done, err, s.wantDone, s.wantErr)
		}
		if n := countEffects(t, pool); n != s.effects {
			t.Errorf("%s: %d effects, want %d", s.name, n, s.effects)
		}
	}
	n, err := rabbit.PruneProcessed(ctx, pool, -time.Hour) // everything is older than an hour from now
	if err != nil || n != 3 {
		t.Errorf("PruneProcessed = (%d, %v), want (3, nil)", n, err)
	}
}
