package outbox_test

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"os"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	amqp "github.com/rabbitmq/amqp091-go"
	"github.com/rs/zerolog"

	"github.com/parleychat/parley/shared/outbox"
	"github.com/parleychat/parley/shared/pgtest"
	"github.com/parleychat/parley/shared/rabbit"
	"github.com/parleychat/parley/shared/rabbit/rabbittest"
)

func env(t *testing.T, name string) string {
	t.Helper()
	v := os.Getenv(name)
	if v == "" {
		t.Fatalf("%s is not set: these tests need real PostgreSQL and RabbitMQ (scripts/infra up; . .local/env)", name)
	}
	return v
}

func suffix() string {
	b := make([]byte, 6)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

func testLogger(t *testing.T) zerolog.Logger {
	return zerolog.New(zerolog.NewTestWriter(t)).Level(zerolog.InfoLevel)
}

// newDB creates a throwaway database holding the outbox table, dropped when
// the test ends.
func newDB(t *testing.T) *pgxpool.Pool {
	t.Helper()
	pool := pgtest.New(t, "outbox_test", nil)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if _, err := pool.Exec(ctx, outbox.Schema+outbox.PublishedSchema); err != nil {
		t.Fatalf("create outbox table: %v", err)
	}
	return pool
}

func dial(t *testing.T, opts ...rabbit.Option) *rabbit.Conn {
	t.Helper()
	return rabbittest.DialWith(t, testLogger(t), "outbox-test", opts...)
}

// tempRoute declares a throwaway exchange and a queue bound to all of it.
func tempRoute(t *testing.T) (exchange, queue string, ch *amqp.Channel) {
	t.Helper()
	conn, err := amqp.Dial(env(t, "AMQP_URL"))
	if err != nil {
		t.Fatalf("amqp dial: %v", err)
	}
	t.Cleanup(func() { _ = conn.Close() })
	ch, err = conn.Channel()
	if err != nil {
		t.Fatalf("channel: %v", err)
	}
	exchange = "test.outbox." + suffix()
	if err := ch.ExchangeDeclare(exchange, amqp.ExchangeTopic, true, false, false, false, nil); err != nil {
		t.Fatalf("declare exchange: %v", err)
	}
	q, err := ch.QueueDeclare(exchange+".q", false, true, false, false, nil)
	if err != nil {
		t.Fatalf("declare queue: %v", err)
	}
	if err := ch.QueueBind(q.Name, "#", exchange, false, nil); err != nil {
		t.Fatalf("bind: %v", err)
	}
	t.Cleanup(func() {
		_, _ = ch.QueueDelete(q.Name, false, false, false)
		_ = ch.ExchangeDelete(exchange, false, false)
	})
	return exchange, q.Name, ch
}

// outboxTopology names a private outbox exchange and unrouted exchange and
// queue, deleted after the test; dial with rabbit.WithUnrouted(unrouted,
// exchange) to use them.
func outboxTopology(t *testing.T, ch *amqp.Channel) (exchange, unrouted string) {
	t.Helper()
	sfx := suffix()
	exchange, unrouted = "test.outbox.kept."+sfx, "test.unrouted."+sfx
	t.Cleanup(func() {
		_ = ch.ExchangeDelete(exchange, false, false)
		_, _ = ch.QueueDelete(unrouted, false, false, false)
		_ = ch.ExchangeDelete(unrouted, false, false)
	})
	return exchange, unrouted
}

// drain reads messages from queue until want have arrived or timeout.
func drain(t *testing.T, ch *amqp.Channel, queue string, want int, timeout time.Duration) []amqp.Delivery {
	t.Helper()
	var got []amqp.Delivery
	deadline := time.Now().Add(timeout)
	for len(got) < want && time.Now().Before(deadline) {
		d, ok, err := ch.Get(queue, true)
		if err != nil {
			t.Fatalf("get: %v", err)
		}
		if !ok {
			time.Sleep(10 * time.Millisecond)
			continue
		}
		got = append(got, d)
	}
	return got
}

// runRelay runs r until the test ends.
func runRelay(t *testing.T, r *outbox.Relay) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { r.Run(ctx); close(done) }()
	t.Cleanup(func() {
		cancel()
		<-done
	})
}

func countUnpublished(t *testing.T, pool *pgxpool.Pool) int {
	t.Helper()
	var n int
	if err := pool.QueryRow(context.Background(), `SELECT count(*) FROM outbox WHERE published_at IS NULL`).Scan(&n); err != nil {
		t.Fatalf("count unpublished: %v", err)
	}
	return n
}
