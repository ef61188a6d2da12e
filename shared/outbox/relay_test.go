package outbox_test

import (
	"context"
	"encoding/json"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	amqp "github.com/rabbitmq/amqp091-go"

	"github.com/parleychat/parley/shared/events"
	"github.com/parleychat/parley/shared/outbox"
	"github.com/parleychat/parley/shared/rabbit"
	"github.com/parleychat/parley/shared/trace"
)

type payload struct {
	N int `json:"n"`
}

// enqueue commits n events (one per transaction, as services do) for
// aggregate on exchange and returns their ids in commit order.
func enqueue(t *testing.T, pool *pgxpool.Pool, exchange, aggregate string, from, n int) []string {
	t.Helper()
	ids, err := enqueueE(pool, exchange, aggregate, from, n)
	if err != nil {
		t.Fatal(err)
	}
	return ids
}

// enqueueE is enqueue for goroutines other than the test's.
func enqueueE(pool *pgxpool.Pool, exchange, aggregate string, from, n int) ([]string, error) {
	ctx := trace.With(context.Background(), trace.New())
	ids := make([]string, 0, n)
	for i := from; i < from+n; i++ {
		ev, err := events.New(ctx, "outbox-test", "test.counted", 1, payload{N: i})
		if err != nil {
			return nil, err
		}
		tx, err := pool.Begin(ctx)
		if err != nil {
			return nil, err
		}
		if err := outbox.Enqueue(ctx, tx, exchange, aggregate, ev); err != nil {
			_ = tx.Rollback(ctx)
			return nil, err
		}
		if err := tx.Commit(ctx); err != nil {
			return nil, err
		}
		ids = append(ids, ev.ID)
	}
	return ids, nil
}

func TestRelayPublishesInOrderAndMarksRows(t *testing.T) {
	pool := newDB(t)
	conn := dial(t)
	ex, q, ch := tempRoute(t)

	ids := enqueue(t, pool, ex, "agg-1", 0, 450) // more than two batches
	r := outbox.NewRelay(pool, conn.Publisher(), testLogger(t), outbox.RelayOptions{})
	runRelay(t, r)

	got := drain(t, ch, q, len(ids), 20*time.Second)
	if len(got) != len(ids) {
		t.Fatalf("received %d messages, want %d", len(got), len(ids))
	}
	for i, d := range got {
		if d.MessageId != ids[i] {
			t.Fatalf("message %d: id %s, want %s (order broken)", i, d.MessageId, ids[i])
		}
		env, err := events.Decode(d.Body)
		if err != nil {
			t.Fatalf("message %d: decode: %v", i, err)
		}
		if d.RoutingKey != "test.counted.v1" || env.RoutingKey() != d.RoutingKey {
			t.Errorf("message %d: routing key %q, envelope says %q", i, d.RoutingKey, env.RoutingKey())
		}
		if tp, _ := d.Headers[trace.Header].(string); tp == "" || tp != env.Traceparent {
			t.Errorf("message %d: traceparent header %q, envelope %q", i, tp, env.Traceparent)
		}
	}
	waitFor(t, "all rows marked published", func() bool { return countUnpublished(t, pool) == 0 })
	// Published rows leave outbox for outbox_published, whole and stamped.
	var inOutbox, moved, all int
	var stamps []time.Time
	if err := pool.QueryRow(context.Background(), `SELECT (SELECT count(*) FROM outbox),
		(SELECT count(*) FROM outbox_published p JOIN unnest($1::uuid[]) i(id) USING (id)
			WHERE p.exchange = $2 AND p.routing_key = 'test.counted.v1' AND p.aggregate_id = 'agg-1'
			AND p.payload->>'id' = p.id::text AND p.published_at >= p.created_at),
		(SELECT count(*) FROM outbox_published),
		(SELECT array_agg(published_at ORDER BY seq) FROM outbox_published)`, ids, ex).Scan(&inOutbox, &moved, &all, &stamps); err != nil {
		t.Fatal(err)
	}
	if inOutbox != 0 || moved != len(ids) || all != len(ids) {
		t.Errorf("outbox holds %d rows and outbox_published %d of the %d events (%d rows in all); want 0 and all of them, once each",
			inOutbox, moved, len(ids), all)
	}
	// Batches go out in seq order, so a later row was never stamped earlier.
	for i := 1; i < len(stamps); i++ {
		if stamps[i].Before(stamps[i-1]) {
			t.Fatalf("row %d of outbox_published (by seq) stamped %v, before the row ahead of it (%v)", i, stamps[i], stamps[i-1])
		}
	}
}

func TestRelayWakesOnNotify(t *testing.T) {
	pool := newDB(t)
	conn := dial(t)
	ex, q, ch := tempRoute(t)
	// With an hour between polls only the NOTIFY path can deliver in time.
	r := outbox.NewRelay(pool, conn.Publisher(), testLogger(t), outbox.RelayOptions{PollInterval: time.Hour})
	runRelay(t, r)
	waitFor(t, "relay leading", func() bool { return r.Stats().Leader })
	time.Sleep(100 * time.Millisecond) // let it reach WaitForNotification

	for round := range 3 {
		start := time.Now()
		ids := enqueue(t, pool, ex, "agg-n", round, 1)
		got := drain(t, ch, q, 1, 10*time.Second)
		if len(got) != 1 || got[0].MessageId != ids[0] {
			t.Fatalf("round %d: got %d messages, want event %s", round, len(got), ids[0])
		}
		t.Logf("round %d: commit to consumable in %s", round, time.Since(start))
	}
}

// flakyPublisher publishes the first half of each of the first failures
// batches and fails the rest, as a broker dying mid-batch does.
type flakyPublisher struct {
	real     outbox.Publisher
	failures atomic.Int32
}

func (f *flakyPublisher) PublishBatch(ctx context.Context, msgs []rabbit.Message) []error {
	if f.failures.Add(-1) < 0 || len(msgs) < 2 {
		return f.real.PublishBatch(ctx, msgs)
	}
	half := len(msgs) / 2
	errs := append(f.real.PublishBatch(ctx, msgs[:half]), make([]error, len(msgs)-half)...)
	for i := half; i < len(msgs); i++ {
		errs[i] = fmt.Errorf("%w: connection lost", rabbit.ErrNacked)
	}
	return errs
}

func TestRelayResumesAfterPublishFailures(t *testing.T) {
	pool := newDB(t)
	conn := dial(t)
	ex, q, ch := tempRoute(t)
	ids := enqueue(t, pool, ex, "agg-2", 0, 300)

	pub := &flakyPublisher{real: conn.Publisher()}
	pub.failures.Store(3)
	r := outbox.NewRelay(pool, pub, testLogger(t), outbox.RelayOptions{BatchSize: 64})
	runRelay(t, r)

	got := drain(t, ch, q, len(ids), 30*time.Second)
	if len(got) != len(ids) {
		t.Fatalf("received %d messages, want %d", len(got), len(ids))
	}
	for i, d := range got {
		if d.MessageId != ids[i] {
			t.Fatalf("message %d: id %s, want %s", i, d.MessageId, ids[i])
		}
	}
	if extra := drain(t, ch, q, 1, 500*time.Millisecond); len(extra) != 0 {
		t.Errorf("got %d duplicate messages, want none", len(extra))
	}
	waitFor(t, "all rows marked published", func() bool { return countUnpublished(t, pool) == 0 })
	if s := r.Stats(); s.Failures != 3 {
		t.Errorf("relay failures = %d, want 3", s.Failures)
	}
}

func TestOnlyOneRelayPublishes(t *testing.T) {
	pool := newDB(t)
	conn := dial(t)
	ex, q, ch := tempRoute(t)

	relays := make([]*outbox.Relay, 3)
	for i := range relays {
		relays[i] = outbox.NewRelay(pool, conn.Publisher(), testLogger(t), outbox.RelayOptions{BatchSize: 10, PollInterval: 100 * time.Millisecond})
		runRelay(t, relays[i])
	}
	var wg sync.WaitGroup
	idsByAgg := make([][]string, 4)
	errs := make([]error, 4)
	for a := range idsByAgg {
		wg.Go(func() { idsByAgg[a], errs[a] = enqueueE(pool, ex, fmt.Sprintf("agg-%d", a), 0, 100) })
	}
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}

	got := drain(t, ch, q, 400, 30*time.Second)
	if extra := drain(t, ch, q, 1, 500*time.Millisecond); len(got) != 400 || len(extra) != 0 {
		t.Fatalf("received %d+%d messages, want exactly 400", len(got), len(extra))
	}
	// Per aggregate, the order of commit is the order of arrival.
	next := map[int]int{}
	for _, d := range got {
		var env events.Envelope
		if err := json.Unmarshal(d.Body, &env); err != nil {
			t.Fatalf("decode: %v", err)
		}
		var p payload
		if err := env.DecodeData(&p); err != nil {
			t.Fatal(err)
		}
		agg := aggOf(idsByAgg, d.MessageId)
		if p.N != next[agg] {
			t.Fatalf("aggregate %d: got event %d, want %d", agg, p.N, next[agg])
		}
		next[agg]++
	}
	leaders := 0
	for _, r := range relays {
		if r.Stats().Leader {
			leaders++
		}
	}
	if leaders != 1 {
		t.Errorf("%d relays lead, want 1", leaders)
	}
}

func aggOf(idsByAgg [][]string, id string) int {
	for a, ids := range idsByAgg {
		for _, x := range ids {
			if x == id {
				return a
			}
		}
	}
	return -1
}

// TestRelayKeepsUnboundEventsInUnrouted: an event no queue is bound for is
// confirmed into the alternate exchange's queue, and only then marked.
func TestRelayKeepsUnboundEventsInUnrouted(t *testing.T) {
	pool := newDB(t)
	_, _, ch := tempRoute(t)
	ex, unrouted := outboxTopology(t, ch)
	conn := dial(t, rabbit.WithUnrouted(unrouted, ex))
	if err := conn.DeclareExchanges(context.Background(), ex); err != nil {
		t.Fatalf("DeclareExchanges: %v", err)
	}
	ids := enqueue(t, pool, ex, "agg-u", 0, 3)
	r := outbox.NewRelay(pool, conn.Publisher(), testLogger(t), outbox.RelayOptions{})
	runRelay(t, r)

	waitFor(t, "rows marked published", func() bool { return countUnpublished(t, pool) == 0 })
	// Marking follows the confirm, and the confirm follows the enqueue
	// into the quorum queue: the events are there now.
	got := drain(t, ch, unrouted, len(ids), time.Second)
	if len(got) != len(ids) {
		t.Fatalf("unrouted queue holds %d events, want %d", len(got), len(ids))
	}
	for i, d := range got {
		if d.MessageId != ids[i] || d.Exchange != ex || d.RoutingKey != "test.counted.v1" {
			t.Errorf("unrouted %d: id %s exchange %s key %s, want %s %s test.counted.v1", i, d.MessageId, d.Exchange, d.RoutingKey, ids[i], ex)
		}
	}
	if s := r.Stats(); s.Unroutable != 0 || s.Published != 3 {
		t.Errorf("stats = %+v, want 3 published and none unroutable", s)
	}
}

// TestRelayHoldsReturnedEventsUntilTheyRoute: on an outbox exchange that
// lacks its alternate exchange (declared by an older release), an unbound
// event comes back; its row stays unpublished while the events behind it
// flow, and is published once the exchange is declared properly.
func TestRelayHoldsReturnedEventsUntilTheyRoute(t *testing.T) {
	pool := newDB(t)
	routed, q, ch := tempRoute(t)
	legacy, unrouted := outboxTopology(t, ch)
	if err := ch.ExchangeDeclare(legacy, amqp.ExchangeTopic, true, false, false, false, nil); err != nil {
		t.Fatal(err)
	}
	conn := dial(t, rabbit.WithUnrouted(unrouted, legacy))
	if err := conn.DeclareExchanges(context.Background(), legacy); err != nil {
		t.Fatalf("DeclareExchanges on the legacy exchange: %v", err)
	}

	returned := enqueue(t, pool, legacy, "agg-r", 0, 1)[0]
	behind := enqueue(t, pool, routed, "agg-b", 0, 2)
	r := outbox.NewRelay(pool, conn.Publisher(), testLogger(t), outbox.RelayOptions{ReturnedRetry: 200 * time.Millisecond})
	runRelay(t, r)

	got := drain(t, ch, q, len(behind), 20*time.Second)
	if len(got) != len(behind) {
		t.Fatalf("received %d events behind the returned one, want %d", len(got), len(behind))
	}
	waitFor(t, "the returned event retried", func() bool { return r.Stats().Unroutable >= 3 })
	if n := countUnpublished(t, pool); n != 1 {
		t.Fatalf("%d unpublished rows, want 1 (the returned event)", n)
	}

	// The migration: delete the exchange and declare it again, now with
	// its alternate exchange.
	if err := ch.ExchangeDelete(legacy, false, false); err != nil {
		t.Fatal(err)
	}
	if err := conn.DeclareExchanges(context.Background(), legacy); err != nil {
		t.Fatalf("DeclareExchanges after the migration: %v", err)
	}
	waitFor(t, "returned row published", func() bool { return countUnpublished(t, pool) == 0 })
	kept := drain(t, ch, unrouted, 1, time.Second)
	if len(kept) != 1 || kept[0].MessageId != returned {
		t.Fatalf("unrouted queue holds %d events, want event %s", len(kept), returned)
	}
	if extra := drain(t, ch, unrouted, 1, 300*time.Millisecond); len(extra) != 0 {
		t.Errorf("unrouted queue holds %d more events, want none", len(extra))
	}
	waitFor(t, "nothing held", func() bool { return r.Stats().Held == 0 })
}

func TestRelayPrunesOnlyPublishedRows(t *testing.T) {
	pool := newDB(t)
	conn := dial(t)
	ex, _, _ := tempRoute(t)
	ctx := context.Background()
	// An old published row (pruned), one an earlier version of the relay
	// marked in place (pruned too), a published row within Retention (kept)
	// and an old unpublished one (kept until published, whatever its age).
	if _, err := pool.Exec(ctx, `INSERT INTO outbox_published (seq, id, exchange, routing_key, aggregate_id, payload, created_at, published_at)
		VALUES (1, gen_random_uuid(), $1, 'old.v1', 'a', '{}', now() - interval '3 hours', now() - interval '2 hours'),
			(2, gen_random_uuid(), $1, 'old.v1', 'a', '{}', now() - interval '40 minutes', now() - interval '30 minutes')`, ex); err != nil {
		t.Fatal(err)
	}
	for _, published := range []string{"now() - interval '2 hours'", "NULL"} {
		if _, err := pool.Exec(ctx, `INSERT INTO outbox (id, exchange, routing_key, aggregate_id, payload, created_at, published_at)
			VALUES (gen_random_uuid(), $1, 'old.v1', 'a', '{}', now() - interval '3 hours', `+published+`)`, ex); err != nil {
			t.Fatal(err)
		}
	}
	r := outbox.NewRelay(pool, conn.Publisher(), testLogger(t), outbox.RelayOptions{Retention: time.Hour})
	runRelay(t, r)
	waitFor(t, "old row published", func() bool { return countUnpublished(t, pool) == 0 })
	waitFor(t, "old published rows pruned", func() bool { return r.Stats().Pruned == 2 })
	var inOutbox, kept int
	if err := pool.QueryRow(ctx, `SELECT (SELECT count(*) FROM outbox), (SELECT count(*) FROM outbox_published)`).Scan(&inOutbox, &kept); err != nil {
		t.Fatal(err)
	}
	if inOutbox != 0 || kept != 2 {
		t.Errorf("%d rows left in outbox and %d in outbox_published, want 0 and 2 (the recent one, the old row published just now)", inOutbox, kept)
	}
}

func TestRelayStopsOnCancel(t *testing.T) {
	pool := newDB(t)
	conn := dial(t)
	r := outbox.NewRelay(pool, conn.Publisher(), testLogger(t), outbox.RelayOptions{})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { r.Run(ctx); close(done) }()
	waitFor(t, "relay leading", func() bool { return r.Stats().Leader })
	cancel()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("Run did not return after cancel")
	}
	// The lock is free again: a new relay takes over.
	r2 := outbox.NewRelay(pool, conn.Publisher(), testLogger(t), outbox.RelayOptions{PollInterval: 50 * time.Millisecond})
	runRelay(t, r2)
	waitFor(t, "second relay leading", func() bool { return r2.Stats().Leader })
}

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for: %s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}
