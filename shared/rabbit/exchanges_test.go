package rabbit_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"testing"
	"time"

	amqp "github.com/rabbitmq/amqp091-go"
	"github.com/rs/zerolog"

	"github.com/parleychat/parley/shared/events"
	"github.com/parleychat/parley/shared/rabbit"
)

func TestOutboxExchangeKeepsUnroutableMessages(t *testing.T) {
	raw := rawChannel(t)
	ex, unrouted := outboxTopology(t, raw)
	c := dialWith(t, testLogger(t), rabbit.WithUnrouted(unrouted, ex))
	ctx := context.Background()
	if err := c.DeclareExchanges(ctx, ex); err != nil {
		t.Fatalf("DeclareExchanges: %v", err)
	}
	bound := tempQueue(t, raw, ex, "bound.key.v1")

	tests := []struct {
		key   string
		queue string // where the message must end up
	}{
		{"nobody.listens.v1", unrouted},
		{"bound.key.v1", bound},
		{"nobody.either.v1", unrouted},
	}
	sfx := suffix()
	for i, tt := range tests {
		id := fmt.Sprintf("k-%d-%s", i, sfx)
		if err := c.Publisher().Publish(ctx, ex, tt.key, []byte(`{}`), id, ""); err != nil {
			t.Fatalf("Publish(%s): %v, want confirmed", tt.key, err)
		}
		d := getN(t, raw, tt.queue, 1, 5*time.Second)[0]
		// The alternate exchange keeps the original exchange and routing
		// key: what an operator needs to publish the message again.
		checks := []struct {
			name      string
			got, want any
		}{
			{"message_id", d.MessageId, id},
			{"exchange", d.Exchange, ex},
			{"routing_key", d.RoutingKey, tt.key},
			{"delivery_mode", d.DeliveryMode, amqp.Persistent},
		}
		for _, c := range checks {
			if c.got != c.want {
				t.Errorf("%s in %s: %s = %v, want %v", tt.key, tt.queue, c.name, c.got, c.want)
			}
		}
	}
	for _, q := range []string{unrouted, bound} {
		if d, ok, err := raw.Get(q, true); err != nil || ok {
			t.Errorf("queue %s: extra message %q (err %v), want none", q, d.MessageId, err)
		}
	}
	if s := c.Publisher().Stats(); s.Unroutable != 0 || s.Confirmed != 3 {
		t.Errorf("stats = %+v, want 3 confirmed and none unroutable", s)
	}
}

// TestDeclarationsAgree starts consumers before the producer, as happens in
// any deployment order, and checks the broker holds the one declaration:
// go-rabbitmq's re-declarations and the producer's must match it, or they
// would fail with PRECONDITION_FAILED.
func TestDeclarationsAgree(t *testing.T) {
	raw := rawChannel(t)
	ex, unrouted := outboxTopology(t, raw)
	conn := dialWith(t, testLogger(t), rabbit.WithUnrouted(unrouted, ex))

	f := &consumerFixture{conn: conn, raw: raw, exchange: ex, cfg: rabbit.ConsumerConfig{
		Consumer: "rabbit-test-" + suffix(), Purpose: "agree",
		Bindings: []rabbit.Binding{{Exchange: ex, Key: "test.#"}},
	}}
	q := f.queue()
	t.Cleanup(func() {
		for _, name := range []string{q, rabbit.RetryQueue(q), rabbit.DeadQueue(q)} {
			_, _ = raw.QueueDelete(name, false, false, false)
		}
	})
	var durable, exclusive recorder
	f.start(t, func(ctx context.Context, ev events.Envelope) error {
		durable.record(ctx, ev)
		return nil
	})
	xc, err := rabbit.NewInstanceConsumer(conn, rabbit.InstanceConfig{
		Name: "gateway-test", Bindings: []rabbit.Binding{{Exchange: ex, Key: "test.#"}},
	}, func(ctx context.Context, ev events.Envelope) error {
		exclusive.record(ctx, ev)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- xc.Run(ctx) }()
	t.Cleanup(func() { cancel(); <-done })

	if err := conn.DeclareExchanges(context.Background(), ex); err != nil {
		t.Fatalf("DeclareExchanges after the consumers: %v", err)
	}
	// The exclusive queue is bound asynchronously: probe (a malformed
	// message it drops) until one reaches it.
	waitFor(t, "exclusive queue bound", 20*time.Second, func() bool {
		err := conn.Publisher().Publish(context.Background(), ex, "test.probe.v1", []byte(`{}`), "probe-"+suffix(), "")
		if err != nil {
			t.Fatalf("probe: %v", err)
		}
		time.Sleep(50 * time.Millisecond)
		_, dropped, _ := xc.Stats()
		return dropped > 0
	})
	want := f.publishEvent(t, "test.agreed", map[string]string{"k": "v"})
	waitFor(t, "both consumers handled the event", 20*time.Second, func() bool {
		return durable.count(want.ID) == 1 && exclusive.count(want.ID) == 1
	})
	if _, _, restarts := xc.Stats(); restarts != 0 {
		t.Errorf("exclusive consumer restarted %d times, want 0", restarts)
	}

	// The broker's declarations, probed from a channel of their own since a
	// refused declaration closes it.
	probes := []struct {
		name    string
		declare func(ch *amqp.Channel) error
		wantErr bool
	}{
		{"exchange with the alternate exchange", func(ch *amqp.Channel) error {
			return ch.ExchangeDeclare(ex, amqp.ExchangeTopic, true, false, false, false, amqp.Table{"alternate-exchange": unrouted})
		}, false},
		{"exchange without it", func(ch *amqp.Channel) error {
			return ch.ExchangeDeclare(ex, amqp.ExchangeTopic, true, false, false, false, nil)
		}, true},
		{"unrouted fanout exchange", func(ch *amqp.Channel) error {
			return ch.ExchangeDeclare(unrouted, amqp.ExchangeFanout, true, false, false, false, nil)
		}, false},
		{"unrouted quorum queue", func(ch *amqp.Channel) error {
			_, err := ch.QueueDeclare(unrouted, true, false, false, false, amqp.Table{
				amqp.QueueTypeArg: amqp.QueueTypeQuorum, "x-overflow": "drop-head",
				"x-message-ttl": rabbit.UnroutedTTL.Milliseconds(), "x-max-length": rabbit.UnroutedMaxLength,
			})
			return err
		}, false},
	}
	for _, p := range probes {
		err := p.declare(rawChannel(t))
		if gotErr := err != nil; gotErr != p.wantErr || (gotErr && !isCode(err, amqp.PreconditionFailed)) {
			t.Errorf("declare %s: err = %v, want error %v (PRECONDITION_FAILED)", p.name, err, p.wantErr)
		}
	}
}

// TestLegacyExchangeIsUsedAndReported covers a broker where an older release
// declared an outbox exchange without the alternate exchange: declaring and
// consuming keep working, the error log says how to fix it, and unroutable
// messages are still reported as such (nothing silently dropped).
func TestLegacyExchangeIsUsedAndReported(t *testing.T) {
	raw := rawChannel(t)
	ex, unrouted := outboxTopology(t, raw)
	if err := raw.ExchangeDeclare(ex, amqp.ExchangeTopic, true, false, false, false, nil); err != nil {
		t.Fatal(err)
	}
	var logs logBuffer
	conn := dialWith(t, zerolog.New(io.MultiWriter(&logs, zerolog.NewTestWriter(t))), rabbit.WithUnrouted(unrouted, ex))
	if err := conn.DeclareExchanges(context.Background(), ex); err != nil {
		t.Fatalf("DeclareExchanges on a legacy exchange: %v, want it used as it is", err)
	}
	for _, want := range []string{`"level":"error"`, "exists without alternate-exchange=" + unrouted, "delete exchange name=" + ex} {
		if !strings.Contains(logs.String(), want) {
			t.Errorf("logs do not contain %q:\n%s", want, logs.String())
		}
	}

	f := &consumerFixture{conn: conn, raw: raw, exchange: ex, cfg: rabbit.ConsumerConfig{
		Consumer: "rabbit-test-" + suffix(), Purpose: "legacy",
		Bindings: []rabbit.Binding{{Exchange: ex, Key: "test.#"}},
	}}
	q := f.queue()
	t.Cleanup(func() {
		for _, name := range []string{q, rabbit.RetryQueue(q), rabbit.DeadQueue(q)} {
			_, _ = raw.QueueDelete(name, false, false, false)
		}
	})
	var rec recorder
	c, _ := f.start(t, func(ctx context.Context, ev events.Envelope) error {
		rec.record(ctx, ev)
		return nil
	})
	want := f.publishEvent(t, "test.legacy", map[string]string{"k": "v"})
	waitFor(t, "event handled", 20*time.Second, func() bool { return rec.count(want.ID) == 1 })
	if s := c.Stats(); s.Restarts != 0 {
		t.Errorf("consumer restarted %d times, want 0 (go-rabbitmq must not re-declare the legacy exchange)", s.Restarts)
	}

	err := conn.Publisher().Publish(context.Background(), ex, "nobody.listens.v1", []byte(`{}`), "legacy-"+suffix(), "")
	if !errors.Is(err, rabbit.ErrUnroutable) {
		t.Errorf("Publish with an unbound key: err = %v, want ErrUnroutable", err)
	}
}
