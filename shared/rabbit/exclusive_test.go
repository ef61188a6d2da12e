package rabbit_test

import (
	"context"
	"testing"
	"time"

	"github.com/parleychat/parley/shared/events"
	"github.com/parleychat/parley/shared/rabbit"
)

func TestExclusiveConsumerReceivesItsBindingsAndCleansUp(t *testing.T) {
	conn := dial(t)
	raw := rawChannel(t)
	ex := tempExchange(t, raw)
	var rec recorder
	c, err := rabbit.NewExclusiveConsumer(conn, rabbit.ExclusiveConfig{
		Name:     "gateway-test",
		Bindings: []rabbit.Binding{{Exchange: ex, Key: "chat.#"}},
	}, func(ctx context.Context, ev events.Envelope) error {
		rec.record(ctx, ev)
		return nil
	})
	if err != nil {
		t.Fatalf("NewExclusiveConsumer: %v", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- c.Run(ctx) }()
	// The queue and its bindings exist once a probe is routable.
	waitFor(t, "queue bound", 10*time.Second, func() bool {
		err := conn.Publisher().Publish(context.Background(), ex, "chat.probe.v1", []byte(`{}`), "probe-"+suffix(), "")
		return err == nil
	})
	f := &consumerFixture{conn: conn, raw: raw, exchange: ex}
	want := f.publishEvent(t, "chat.message.created", map[string]string{"x": "y"})
	if err := conn.Publisher().Publish(context.Background(), ex, "other.thing.v1", []byte(`{}`), "unbound-1", ""); err == nil {
		t.Error("publish with an unbound key: got nil, want unroutable")
	}
	waitFor(t, "event handled", 10*time.Second, func() bool { return rec.count(want.ID) == 1 })

	cancel()
	if err := <-done; err != nil {
		t.Fatalf("Run: %v", err)
	}
	if n := len(rec.snapshot()); n != 1 {
		t.Errorf("handled %d events, want 1 (probes are malformed and dropped)", n)
	}
	if handled, dropped, _ := c.Stats(); handled != 1 || dropped == 0 {
		t.Errorf("stats: handled %d, dropped %d; want 1 handled and the probes dropped", handled, dropped)
	}
	// Auto-delete: the queue goes with its consumer (and with the
	// connection, were the process to die).
	waitFor(t, "queue deleted with its consumer", 10*time.Second, func() bool {
		ch := rawChannel(t)
		_, err := ch.QueueDeclarePassive(c.Queue(), false, true, true, false, nil)
		return err != nil && isCode(err, 404)
	})
}
