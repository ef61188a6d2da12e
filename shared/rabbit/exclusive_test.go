package rabbit_test

import (
	"context"
	"encoding/json"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/parleychat/parley/shared/events"
	"github.com/parleychat/parley/shared/rabbit"
	"github.com/parleychat/parley/shared/rabbit/rabbittest"
)

// instanceRig runs an InstanceConsumer bound to a private exchange and
// records what it handles and the resets it reports.
type instanceRig struct {
	conn     *rabbit.Conn
	exchange string
	c        *rabbit.InstanceConsumer
	rec      recorder
	mu       sync.Mutex
	resets   []string
	stop     func() error
}

func startInstance(t *testing.T, name string, cfg rabbit.InstanceConfig, opts ...rabbit.Option) *instanceRig {
	t.Helper()
	r := &instanceRig{conn: dialWith(t, testLogger(t), append([]rabbit.Option{rabbit.WithName(name)}, opts...)...)}
	r.exchange = tempExchange(t, rawChannel(t))
	cfg.Name = "gateway-test"
	cfg.Bindings = []rabbit.Binding{{Exchange: r.exchange, Key: "chat.#"}}
	cfg.Concurrency = 1
	cfg.OnReset = func(reason string) {
		r.mu.Lock()
		r.resets = append(r.resets, reason)
		r.mu.Unlock()
	}
	c, err := rabbit.NewInstanceConsumer(r.conn, cfg, func(ctx context.Context, ev events.Envelope) error {
		r.rec.record(ctx, ev)
		return nil
	})
	if err != nil {
		t.Fatalf("NewInstanceConsumer: %v", err)
	}
	r.c = c
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- c.Run(ctx) }()
	var once sync.Once
	var runErr error
	r.stop = func() error {
		once.Do(func() { cancel(); runErr = <-done })
		return runErr
	}
	t.Cleanup(func() { _ = r.stop() })
	waitFor(t, "queue consumed", 10*time.Second, func() bool { return c.Check(context.Background()) == nil })
	return r
}

func (r *instanceRig) resetReasons() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]string(nil), r.resets...)
}

// publish sends one chat event and returns its id.
func (r *instanceRig) publish(t *testing.T, n int) string {
	t.Helper()
	id, err := r.tryPublish(n)
	if err != nil {
		t.Fatal(err)
	}
	return id
}

// tryPublish is publish for goroutines other than the test's.
func (r *instanceRig) tryPublish(n int) (string, error) {
	env, err := events.New(context.Background(), "test", "chat.message.created", 1, map[string]int{"n": n})
	if err != nil {
		return "", err
	}
	body, err := json.Marshal(env)
	if err != nil {
		return "", err
	}
	if err := r.conn.Publisher().Publish(context.Background(), r.exchange, env.RoutingKey(), body, env.ID, ""); err != nil {
		return "", fmt.Errorf("publish %d: %w", n, err)
	}
	return env.ID, nil
}

func TestInstanceConsumerReceivesItsBindingsAndDeletesItsQueue(t *testing.T) {
	r := startInstance(t, "instance-test-"+suffix(), rabbit.InstanceConfig{})
	want := r.publish(t, 1)
	if err := r.conn.Publisher().Publish(context.Background(), r.exchange, "other.thing.v1", []byte(`{}`), "unbound-1", ""); err == nil {
		t.Error("publish with an unbound key: got nil, want unroutable")
	}
	waitFor(t, "event handled", 10*time.Second, func() bool { return r.rec.count(want) == 1 })
	if err := r.stop(); err != nil {
		t.Fatalf("Run: %v", err)
	}
	if handled, dropped, restarts := r.c.Stats(); handled != 1 || dropped != 0 || restarts != 0 {
		t.Errorf("stats: handled %d, dropped %d, restarts %d; want 1, 0, 0", handled, dropped, restarts)
	}
	if got := r.resetReasons(); len(got) != 0 {
		t.Errorf("resets %v, want none", got)
	}
	ch := rawChannel(t)
	if _, err := ch.QueueDeclarePassive(r.c.Queue(), true, false, false, false, nil); !isCode(err, 404) {
		t.Errorf("queue after Run: %v, want it deleted (404)", err)
	}
}

// TestInstanceConsumerSurvivesClosedConnection closes the consumer's AMQP
// connection from the broker while events are published: the queue
// outlives the connection, so every event still arrives, and no reset is
// reported because nothing was missed.
func TestInstanceConsumerSurvivesClosedConnection(t *testing.T) {
	name := "instance-test-" + suffix()
	r := startInstance(t, name, rabbit.InstanceConfig{})
	stop := make(chan struct{})
	published := make(chan []string, 1)
	var once sync.Once
	var ids []string
	finish := func() []string {
		once.Do(func() { close(stop); ids = <-published })
		return ids
	}
	t.Cleanup(func() { finish() })
	go func() {
		var mine []string
		for i := 0; ; i++ {
			select {
			case <-stop:
				published <- mine
				return
			default:
			}
			id, err := r.tryPublish(i)
			if err != nil {
				t.Error(err)
			} else {
				mine = append(mine, id)
			}
			time.Sleep(2 * time.Millisecond)
		}
	}()
	time.Sleep(200 * time.Millisecond)
	rabbittest.CloseConnection(t, r.c.ConnectionName())
	waitFor(t, "the consumer to re-attach", 20*time.Second, func() bool {
		_, _, restarts := r.c.Stats()
		return restarts >= 1 && r.c.Check(context.Background()) == nil
	})
	time.Sleep(200 * time.Millisecond)
	finish()
	waitFor(t, "every event", 20*time.Second, func() bool {
		for _, id := range ids {
			if r.rec.count(id) == 0 {
				return false
			}
		}
		return true
	})
	missing := 0
	for _, id := range ids {
		if r.rec.count(id) == 0 {
			missing++
		}
	}
	_, _, restarts := r.c.Stats()
	t.Logf("%d events published across a broker-side close, %d missing, %d re-attach(es)", len(ids), missing, restarts)
	if got := r.resetReasons(); len(got) != 0 {
		t.Errorf("resets %v, want none: the queue survived", got)
	}
}

// TestInstanceConsumerReportsRecreatedQueue loses the queue (deleted by
// someone, or expired while the connection was down) and requires the
// consumer to create it again, report the reset, and receive new events.
func TestInstanceConsumerReportsRecreatedQueue(t *testing.T) {
	tests := []struct {
		name string
		opts []rabbit.Option
		cfg  rabbit.InstanceConfig
		lose func(t *testing.T, r *instanceRig)
	}{
		{
			name: "deleted",
			lose: func(t *testing.T, r *instanceRig) {
				if _, err := rawChannel(t).QueueDelete(r.c.Queue(), false, false, false); err != nil {
					t.Fatalf("delete queue: %v", err)
				}
			},
		},
		{
			// Reconnecting waits 2s at first (a 32s interval), longer
			// than the queue's 1s expiry.
			name: "expired while disconnected",
			opts: []rabbit.Option{rabbit.WithReconnectInterval(32 * time.Second)},
			cfg:  rabbit.InstanceConfig{Expiry: time.Second},
			lose: func(t *testing.T, r *instanceRig) { rabbittest.CloseConnection(t, r.c.ConnectionName()) },
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := startInstance(t, fmt.Sprintf("instance-test-%s", suffix()), tc.cfg, tc.opts...)
			first := r.publish(t, 1)
			waitFor(t, "first event", 10*time.Second, func() bool { return r.rec.count(first) == 1 })
			tc.lose(t, r)
			waitFor(t, "a reset", 20*time.Second, func() bool { return len(r.resetReasons()) > 0 })
			if got := r.resetReasons(); len(got) != 1 || got[0] != rabbit.ResetQueueRecreated {
				t.Errorf("resets %v, want [%s]", got, rabbit.ResetQueueRecreated)
			}
			after := r.publish(t, 2)
			waitFor(t, "an event after the reset", 10*time.Second, func() bool { return r.rec.count(after) == 1 })
		})
	}
}

// TestInstanceConsumerAcksInBatches holds the only handler on the first
// event while a burst is published, so the rest wait prefetched: they are
// acknowledged a batch at a time (far fewer acks than events), every one is
// handled once, and none is left unacked — after a broker-side close of the
// connection nothing comes back.
func TestInstanceConsumerAcksInBatches(t *testing.T) {
	conn := dialWith(t, testLogger(t), rabbit.WithName("instance-acks-"+suffix()))
	exchange := tempExchange(t, rawChannel(t))
	gate := make(chan struct{})
	var gateOnce sync.Once
	var rec recorder
	c, err := rabbit.NewInstanceConsumer(conn, rabbit.InstanceConfig{
		Name: "gateway-test", Bindings: []rabbit.Binding{{Exchange: exchange, Key: "chat.#"}}, Concurrency: 1,
	}, func(ctx context.Context, ev events.Envelope) error {
		gateOnce.Do(func() { <-gate })
		rec.record(ctx, ev)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- c.Run(ctx) }()
	t.Cleanup(func() { cancel(); <-done })
	waitFor(t, "queue consumed", 10*time.Second, func() bool { return c.Check(context.Background()) == nil })
	r := &instanceRig{conn: conn, exchange: exchange}
	const n = 500
	ids := make([]string, n)
	for i := range ids {
		ids[i] = r.publish(t, i)
	}
	close(gate)
	all := func() bool {
		for _, id := range ids {
			if rec.count(id) == 0 {
				return false
			}
		}
		return true
	}
	waitFor(t, "every event handled", 20*time.Second, all)
	waitFor(t, "the last ack", 10*time.Second, func() bool {
		handled, _, _ := c.Stats()
		return handled == n && c.Acks() > 0
	})
	acks := c.Acks()
	t.Logf("%d events acknowledged with %d acks", n, acks)
	if acks > n/4 {
		t.Errorf("%d acks for %d events handled back to back, want them batched (at most %d)", acks, n, n/4)
	}
	rabbittest.CloseConnection(t, c.ConnectionName())
	waitFor(t, "the consumer to re-attach", 20*time.Second, func() bool {
		_, _, restarts := c.Stats()
		return restarts >= 1 && c.Check(context.Background()) == nil
	})
	// Anything left unacked would be redelivered right after re-attaching.
	time.Sleep(500 * time.Millisecond)
	for _, id := range ids {
		if got := rec.count(id); got != 1 {
			t.Fatalf("event %s handled %d times, want once (an unacked delivery came back)", id, got)
		}
	}
}
