package rabbit_test

import (
	"bytes"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"sync"
	"testing"
	"time"

	amqp "github.com/rabbitmq/amqp091-go"
	"github.com/rs/zerolog"

	"github.com/parleychat/parley/shared/rabbit"
	"github.com/parleychat/parley/shared/rabbit/rabbittest"
)

func amqpURL(t *testing.T) string { return rabbittest.URL(t) }

func suffix() string {
	b := make([]byte, 6)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

func testLogger(t *testing.T) zerolog.Logger {
	return zerolog.New(zerolog.NewTestWriter(t)).Level(zerolog.InfoLevel)
}

// dial opens a rabbit.Conn closed at the end of the test.
func dial(t *testing.T) *rabbit.Conn {
	t.Helper()
	return dialWith(t, testLogger(t))
}

// dialWith is dial with a logger and options of the test's choosing.
func dialWith(t *testing.T, logger zerolog.Logger, opts ...rabbit.Option) *rabbit.Conn {
	t.Helper()
	return rabbittest.DialWith(t, logger, "rabbit-test", opts...)
}

// outboxTopology names a private outbox exchange and unrouted exchange and
// queue, deleted after the test; dial with rabbit.WithUnrouted(unrouted,
// exchange) to use them.
func outboxTopology(t *testing.T, ch *amqp.Channel) (exchange, unrouted string) {
	t.Helper()
	sfx := suffix()
	exchange, unrouted = "test.outbox."+sfx, "test.unrouted."+sfx
	t.Cleanup(func() {
		_ = ch.ExchangeDelete(exchange, false, false)
		_, _ = ch.QueueDelete(unrouted, false, false, false)
		_ = ch.ExchangeDelete(unrouted, false, false)
	})
	return exchange, unrouted
}

// logBuffer collects log lines written from any goroutine.
type logBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *logBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *logBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// rawChannel is a plain amqp091 channel for arranging and inspecting the
// broker independently of the code under test.
func rawChannel(t *testing.T) *amqp.Channel {
	t.Helper()
	conn, err := amqp.Dial(amqpURL(t))
	if err != nil {
		t.Fatalf("amqp dial: %v", err)
	}
	t.Cleanup(func() { _ = conn.Close() })
	ch, err := conn.Channel()
	if err != nil {
		t.Fatalf("channel: %v", err)
	}
	return ch
}

// tempQueue declares a classic, auto-deleted queue bound to exchange with
// key, deleted at the end of the test.
func tempQueue(t *testing.T, ch *amqp.Channel, exchange, key string) string {
	t.Helper()
	q, err := ch.QueueDeclare("test.tmp."+suffix(), false, true, false, false, nil)
	if err != nil {
		t.Fatalf("declare queue: %v", err)
	}
	if err := ch.QueueBind(q.Name, key, exchange, false, nil); err != nil {
		t.Fatalf("bind: %v", err)
	}
	t.Cleanup(func() { _, _ = ch.QueueDelete(q.Name, false, false, false) })
	return q.Name
}

// tempExchange declares a durable topic exchange deleted after the test.
func tempExchange(t *testing.T, ch *amqp.Channel) string {
	t.Helper()
	name := "test.x." + suffix()
	if err := ch.ExchangeDeclare(name, amqp.ExchangeTopic, true, false, false, false, nil); err != nil {
		t.Fatalf("declare exchange: %v", err)
	}
	t.Cleanup(func() { _ = ch.ExchangeDelete(name, false, false) })
	return name
}

// getN fetches n messages from queue with basic.get, waiting up to timeout.
func getN(t *testing.T, ch *amqp.Channel, queue string, n int, timeout time.Duration) []amqp.Delivery {
	t.Helper()
	var got []amqp.Delivery
	deadline := time.Now().Add(timeout)
	for len(got) < n && time.Now().Before(deadline) {
		d, ok, err := ch.Get(queue, true)
		if err != nil {
			t.Fatalf("get from %s: %v", queue, err)
		}
		if !ok {
			time.Sleep(20 * time.Millisecond)
			continue
		}
		got = append(got, d)
	}
	if len(got) != n {
		t.Fatalf("got %d messages from %s, want %d", len(got), queue, n)
	}
	return got
}

func isCode(err error, code int) bool {
	var ae *amqp.Error
	return errors.As(err, &ae) && ae.Code == code
}
