package rabbit_test

import (
	"context"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/parleychat/parley/shared/events"
	"github.com/parleychat/parley/shared/outbox"
	"github.com/parleychat/parley/shared/pgtest"
)

func TestSameEventDeliveredTenTimesHasOneEffect(t *testing.T) {
	// processed_events plus a table that counts side effects.
	pool := pgtest.New(t, "rabbit_test", nil)
	if _, err := pool.Exec(context.Background(), outbox.ProcessedSchema+`CREATE TABLE effects (event_id TEXT NOT NULL);`); err != nil {
		t.Fatalf("schema: %v", err)
	}
	f := newFixture(t)
	var calls atomic.Int32
	_, _ = f.start(t, func(ctx context.Context, ev events.Envelope) error {
		calls.Add(1)
		_, err := outbox.ProcessOnce(ctx, pool, f.cfg.Consumer, ev.ID, func(tx pgx.Tx) error {
			_, err := tx.Exec(ctx, `INSERT INTO effects (event_id) VALUES ($1)`, ev.ID)
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
	var n int
	if err := pool.QueryRow(context.Background(), `SELECT count(*) FROM effects`).Scan(&n); err != nil || n != 1 {
		t.Errorf("%d effects after 10 deliveries (err %v), want 1", n, err)
	}
}
