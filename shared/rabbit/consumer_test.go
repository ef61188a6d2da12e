package rabbit_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	amqp "github.com/rabbitmq/amqp091-go"

	"github.com/parleychat/parley/shared/events"
	"github.com/parleychat/parley/shared/rabbit"
	"github.com/parleychat/parley/shared/trace"
)

// recorder remembers every handler call.
type recorder struct {
	mu    sync.Mutex
	calls []string          // event ids in call order
	trace map[string]string // event id -> trace id seen in ctx
}

func (r *recorder) record(ctx context.Context, ev events.Envelope) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.trace == nil {
		r.trace = map[string]string{}
	}
	r.calls = append(r.calls, ev.ID)
	r.trace[ev.ID] = trace.ID(ctx)
}

func (r *recorder) count(id string) int {
	r.mu.Lock()
	defer r.mu.Unlock()
	n := 0
	for _, c := range r.calls {
		if c == id {
			n++
		}
	}
	return n
}

func (r *recorder) snapshot() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.calls)
}

// consumerFixture is a consumer on a throwaway exchange and queue set.
type consumerFixture struct {
	conn     *rabbit.Conn
	raw      *amqp.Channel
	exchange string
	cfg      rabbit.ConsumerConfig
}

func newFixture(t *testing.T) *consumerFixture {
	t.Helper()
	f := &consumerFixture{conn: dial(t), raw: rawChannel(t)}
	f.exchange = tempExchange(t, f.raw)
	f.cfg = rabbit.ConsumerConfig{
		Consumer: "rabbit-test-" + suffix(), Purpose: "events",
		Bindings: []rabbit.Binding{{Exchange: f.exchange, Key: "test.#"}},
	}
	q := rabbit.QueueName(f.cfg.Consumer, f.cfg.Purpose)
	t.Cleanup(func() {
		for _, name := range []string{q, rabbit.RetryQueue(q), rabbit.DeadQueue(q)} {
			_, _ = f.raw.QueueDelete(name, false, false, false)
		}
	})
	return f
}

// start creates and runs the consumer; the returned stop cancels it and
// waits for Run to return.
func (f *consumerFixture) start(t *testing.T, h rabbit.Handler) (*rabbit.Consumer, func()) {
	t.Helper()
	c, err := rabbit.NewConsumer(context.Background(), f.conn, f.cfg, h)
	if err != nil {
		t.Fatalf("NewConsumer: %v", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- c.Run(ctx) }()
	var once sync.Once
	stop := func() {
		once.Do(func() {
			cancel()
			select {
			case err := <-done:
				if err != nil {
					t.Errorf("Run: %v", err)
				}
			case <-time.After(30 * time.Second):
				t.Error("Run did not return after cancel")
			}
		})
	}
	t.Cleanup(stop)
	return c, stop
}

// publishEvent publishes an envelope with a fresh trace and returns it.
func (f *consumerFixture) publishEvent(t *testing.T, typ string, data any) events.Envelope {
	t.Helper()
	ctx := trace.With(context.Background(), trace.New())
	ev, err := events.New(ctx, "rabbit-test", typ, 1, data)
	if err != nil {
		t.Fatal(err)
	}
	f.publishRaw(t, ev)
	return ev
}

func (f *consumerFixture) publishRaw(t *testing.T, ev events.Envelope) {
	t.Helper()
	body, err := json.Marshal(ev)
	if err != nil {
		t.Fatal(err)
	}
	if err := f.conn.Publisher().Publish(context.Background(), f.exchange, ev.RoutingKey(), body, ev.ID, ev.Traceparent); err != nil {
		t.Fatalf("publish: %v", err)
	}
}

func (f *consumerFixture) queue() string { return rabbit.QueueName(f.cfg.Consumer, f.cfg.Purpose) }

func waitFor(t *testing.T, what string, timeout time.Duration, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %s waiting for: %s", timeout, what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func TestConsumerHandlesEventsWithTheirTrace(t *testing.T) {
	f := newFixture(t)
	var rec recorder
	c, _ := f.start(t, func(ctx context.Context, ev events.Envelope) error {
		rec.record(ctx, ev)
		return nil
	})
	var sent []events.Envelope
	for i := range 50 {
		sent = append(sent, f.publishEvent(t, "test.hello", map[string]int{"n": i}))
	}
	waitFor(t, "50 events handled", 20*time.Second, func() bool { return len(rec.snapshot()) >= 50 })
	for _, ev := range sent {
		if n := rec.count(ev.ID); n != 1 {
			t.Errorf("event %s handled %d times, want 1", ev.ID, n)
		}
		want, _ := trace.Parse(ev.Traceparent)
		if got := rec.trace[ev.ID]; got != want.TraceID {
			t.Errorf("event %s: trace id in ctx %q, want %q", ev.ID, got, want.TraceID)
		}
	}
	if s := c.Stats(); s.Handled != 50 || s.Retried != 0 || s.DeadLettered != 0 {
		t.Errorf("stats = %+v, want 50 handled", s)
	}
}

func TestPoisonEventsAreDeadLetteredWhileOthersFlow(t *testing.T) {
	f := newFixture(t)
	f.cfg.MaxAttempts = 3
	f.cfg.RetryDelay = 3 * time.Second
	f.cfg.MaxRetryDelay = 3 * time.Second
	f.cfg.Concurrency = 1
	f.cfg.Prefetch = 5
	var rec recorder
	poison := map[string]bool{}
	var mu sync.Mutex
	_, _ = f.start(t, func(ctx context.Context, ev events.Envelope) error {
		rec.record(ctx, ev)
		mu.Lock()
		defer mu.Unlock()
		if poison[ev.ID] {
			return errors.New("cannot handle this one")
		}
		return nil
	})
	// Ten poison events first, then good ones behind them in the queue.
	var poisonIDs, goodIDs []string
	for i := range 10 {
		ev, _ := events.New(context.Background(), "rabbit-test", "test.poison", 1, map[string]int{"n": i})
		mu.Lock()
		poison[ev.ID] = true
		mu.Unlock()
		f.publishRaw(t, ev)
		poisonIDs = append(poisonIDs, ev.ID)
	}
	for i := range 50 {
		goodIDs = append(goodIDs, f.publishEvent(t, "test.good", map[string]int{"n": i}).ID)
	}

	dead := getN(t, f.raw, rabbit.DeadQueue(f.queue()), 10, 60*time.Second)
	calls := rec.snapshot()
	for _, id := range goodIDs {
		if n := rec.count(id); n != 1 {
			t.Errorf("good event %s handled %d times, want 1", id, n)
		}
	}
	for _, id := range poisonIDs {
		if n := rec.count(id); n != 3 {
			t.Errorf("poison event %s attempted %d times, want 3", id, n)
		}
	}
	// Not blocked: every good event was handled before any poison event's
	// second attempt.
	lastGood := 0
	for i, id := range calls {
		if slices.Contains(goodIDs, id) {
			lastGood = i
		}
	}
	firstRetry := -1
	seen := map[string]bool{}
	for i, id := range calls {
		if seen[id] && firstRetry < 0 {
			firstRetry = i
		}
		seen[id] = true
	}
	if firstRetry < lastGood {
		t.Errorf("a poison event was retried (call %d) before the good events were done (call %d)", firstRetry, lastGood)
	}
	var deadIDs []string
	for _, d := range dead {
		deadIDs = append(deadIDs, d.MessageId)
		if got := d.Headers[rabbit.AttemptHeader]; got != int32(3) {
			t.Errorf("dead %s: attempt header %v, want 3", d.MessageId, got)
		}
		if got, _ := d.Headers[rabbit.ErrorHeader].(string); got != "cannot handle this one" {
			t.Errorf("dead %s: error header %q", d.MessageId, got)
		}
		if got := d.Headers[rabbit.OriginalRoutingKeyHeader]; got != "test.poison.v1" {
			t.Errorf("dead %s: original routing key %v, want test.poison.v1", d.MessageId, got)
		}
		if tp, _ := d.Headers[trace.Header].(string); tp == "" {
			t.Errorf("dead %s: traceparent header lost", d.MessageId)
		}
	}
	slices.Sort(deadIDs)
	slices.Sort(poisonIDs)
	if !slices.Equal(deadIDs, poisonIDs) {
		t.Errorf("dead queue holds %v, want the poison events %v", deadIDs, poisonIDs)
	}
}

func TestMalformedEventsAreDeadLetteredAtOnce(t *testing.T) {
	f := newFixture(t)
	var rec recorder
	_, _ = f.start(t, func(ctx context.Context, ev events.Envelope) error {
		rec.record(ctx, ev)
		var d struct {
			N int `json:"n"`
		}
		return ev.DecodeData(&d) // malformed when data is not {"n": int}
	})
	bodies := []struct {
		name string
		body string
	}{
		{"not json", `this is not json`},
		{"no id", `{"type":"test.x","version":1,"data":{}}`},
		{"bad data", `{"id":"bad-data-1","type":"test.x","version":1,"occurredAt":"2025-01-01T00:00:00Z","source":"t","data":{"n":"text"}}`},
	}
	for i, b := range bodies {
		id := fmt.Sprintf("malformed-%d-%s", i, suffix())
		if err := f.conn.Publisher().Publish(context.Background(), f.exchange, "test.x.v1", []byte(b.body), id, ""); err != nil {
			t.Fatalf("%s: publish: %v", b.name, err)
		}
	}
	dead := getN(t, f.raw, rabbit.DeadQueue(f.queue()), len(bodies), 20*time.Second)
	for _, d := range dead {
		if got := d.Headers[rabbit.AttemptHeader]; got != int32(1) {
			t.Errorf("dead %s: attempt %v, want 1 (no retries for malformed events)", d.MessageId, got)
		}
	}
	if n := len(rec.snapshot()); n != 1 {
		t.Errorf("handler called %d times, want 1 (only the envelope that decodes)", n)
	}
}

func TestConsumerDrainsOnShutdown(t *testing.T) {
	f := newFixture(t)
	f.cfg.Concurrency = 1
	f.cfg.Prefetch = 10
	started := make(chan struct{}, 10)
	var finished sync.Map
	_, stop := f.start(t, func(ctx context.Context, ev events.Envelope) error {
		started <- struct{}{}
		time.Sleep(500 * time.Millisecond)
		finished.Store(ev.ID, true)
		return nil
	})
	for i := range 5 {
		f.publishEvent(t, "test.slow", map[string]int{"n": i})
	}
	<-started
	stop() // while the first event is being handled

	handled := 0
	finished.Range(func(_, _ any) bool { handled++; return true })
	if handled < 1 {
		t.Fatal("the in-flight handler did not finish before Run returned")
	}
	q, err := f.raw.QueueDeclarePassive(f.queue(), true, false, false, false, nil)
	if err != nil {
		t.Fatalf("inspect queue: %v", err)
	}
	waitFor(t, "unhandled events back in the queue", 10*time.Second, func() bool {
		q, err = f.raw.QueueDeclarePassive(f.queue(), true, false, false, false, nil)
		return err == nil && q.Messages+handled == 5
	})
	if q.Consumers != 0 {
		t.Errorf("queue still has %d consumers after Run returned", q.Consumers)
	}
}

func TestNewConsumerRefusesAQueueWithOtherArguments(t *testing.T) {
	f := newFixture(t)
	if _, err := f.raw.QueueDeclare(f.queue(), true, false, false, false, amqp.Table{"x-queue-type": "classic"}); err != nil {
		t.Fatalf("pre-declare: %v", err)
	}
	if _, err := rabbit.NewConsumer(context.Background(), f.conn, f.cfg, func(context.Context, events.Envelope) error { return nil }); err == nil {
		t.Fatal("NewConsumer: got nil error, want the broker's PRECONDITION_FAILED")
	}
}

func TestConsumerConfigIsValidated(t *testing.T) {
	conn := dial(t)
	h := func(context.Context, events.Envelope) error { return nil }
	b := []rabbit.Binding{{Exchange: events.ExchangeAuth, Key: "auth.#"}}
	tests := []struct {
		name string
		cfg  rabbit.ConsumerConfig
	}{
		{"no consumer", rabbit.ConsumerConfig{Purpose: "p", Bindings: b}},
		{"no purpose", rabbit.ConsumerConfig{Consumer: "c", Bindings: b}},
		{"wildcard in name", rabbit.ConsumerConfig{Consumer: "c#", Purpose: "p", Bindings: b}},
		{"no bindings", rabbit.ConsumerConfig{Consumer: "c", Purpose: "p"}},
	}
	for _, tt := range tests {
		if _, err := rabbit.NewConsumer(context.Background(), conn, tt.cfg, h); err == nil {
			t.Errorf("%s: got nil error, want one", tt.name)
		}
	}
}
