package realtime

import (
	"context"
	"encoding/json"
	"fmt"
	"testing"
	"time"

	amqp "github.com/rabbitmq/amqp091-go"
	"github.com/rs/zerolog"

	"github.com/parleychat/parley/shared/events"
	"github.com/parleychat/parley/shared/rabbit"
	"github.com/parleychat/parley/shared/rabbit/rabbittest"
)

// brokerRig feeds a realtime Server from a real RabbitMQ instance queue
// bound to a private exchange, as the gateway's consumer does.
type brokerRig struct {
	*rig
	conn     *rabbit.Conn
	exchange string
	consumer *rabbit.InstanceConsumer
}

func newBrokerRig(t *testing.T) *brokerRig {
	t.Helper()
	r := newRig(t, Options{})
	name := fmt.Sprintf("gateway-test-%d", time.Now().UnixNano())
	conn := rabbittest.DialWith(t, zerolog.New(zerolog.NewTestWriter(t)).Level(zerolog.WarnLevel), name)
	raw, err := amqp.Dial(rabbittest.URL(t))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = raw.Close() })
	ch, err := raw.Channel()
	if err != nil {
		t.Fatal(err)
	}
	exchange := "test.gateway." + name
	if err := ch.ExchangeDeclare(exchange, amqp.ExchangeTopic, true, false, false, false, nil); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = ch.ExchangeDelete(exchange, false, false) })
	c, err := rabbit.NewInstanceConsumer(conn, rabbit.InstanceConfig{
		Name: "gateway-test", Bindings: []rabbit.Binding{{Exchange: exchange, Key: "chat.#"}},
		Concurrency: 1, OnReset: r.srv.RequireSync,
	}, r.srv.Deliver)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { _ = c.Run(ctx); close(done) }()
	t.Cleanup(func() { cancel(); <-done })
	waitFor(t, "the queue consumed", func() bool { return c.Check(ctx) == nil })
	return &brokerRig{rig: r, conn: conn, exchange: exchange, consumer: c}
}

// publish sends message n for user-a, its payload id "m<n>".
func (b *brokerRig) publish(n int) error {
	env, err := events.New(context.Background(), "chat-service", events.TypeMessageCreated, 1, events.Delivery{
		ConversationID: "c1", EventSeq: int64(n), Recipients: []string{"user-a"},
		Payload: json.RawMessage(fmt.Sprintf(`{"id":"m%d","seq":%d}`, n, n)),
	})
	if err != nil {
		return err
	}
	body, err := json.Marshal(env)
	if err != nil {
		return err
	}
	return b.conn.Publisher().Publish(context.Background(), b.exchange, env.RoutingKey(), body, env.ID, "")
}

// messageCount returns how many message:new events with payload id the
// client received.
func messageCount(c *wsClient, id string) int {
	n := 0
	for _, p := range c.payloads("message:new") {
		if p["id"] == id {
			n++
		}
	}
	return n
}

// syncReasons returns the reasons of the sync:required events received.
func syncReasons(c *wsClient) []string {
	var out []string
	for _, p := range c.payloads(EventSyncRequired) {
		reason, _ := p["reason"].(string)
		out = append(out, reason)
	}
	return out
}

// TestDeliveriesSurviveAClosedBrokerConnection closes the gateway's AMQP
// connection from the broker's side while messages are published: each
// reaches the socket exactly once, and the socket is not asked to sync,
// because the queue kept what was published meanwhile.
func TestDeliveriesSurviveAClosedBrokerConnection(t *testing.T) {
	b := newBrokerRig(t)
	l := b.wsConnect(t, "user-a", b.sessionToken("user-a", "s-broker"))
	const n = 300
	published := make(chan error, 1)
	go func() {
		for i := range n {
			if err := b.publish(i); err != nil {
				published <- err
				return
			}
			time.Sleep(3 * time.Millisecond)
		}
		published <- nil
	}()
	time.Sleep(150 * time.Millisecond)
	rabbittest.CloseConnection(t, b.consumer.ConnectionName())
	if err := <-published; err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(20 * time.Second)
	for i := 0; i < n; i++ {
		for messageCount(l, fmt.Sprintf("m%d", i)) == 0 && time.Now().Before(deadline) {
			time.Sleep(10 * time.Millisecond)
		}
	}
	time.Sleep(200 * time.Millisecond) // a duplicate would arrive by now
	missing, dup := 0, 0
	for i := range n {
		switch c := messageCount(l, fmt.Sprintf("m%d", i)); {
		case c == 0:
			missing++
		case c > 1:
			dup++
		}
	}
	_, _, restarts := b.consumer.Stats()
	t.Logf("%d messages across a broker-side close of the consumer's connection: %d missing, %d duplicated, %d re-attach(es)", n, missing, dup, restarts)
	if missing != 0 || dup != 0 {
		t.Errorf("%d missing and %d duplicated of %d, want each exactly once", missing, dup, n)
	}
	if restarts < 1 {
		t.Error("the consumer never noticed its connection was closed")
	}
	if got := syncReasons(l); len(got) != 0 {
		t.Errorf("sync:required %v, want none: the queue survived", got)
	}
}

// TestSocketsToldToSyncWhenTheQueueIsRecreated deletes the gateway's queue
// under it: once it is back the socket gets sync:required {reason}, and
// deliveries flow again.
func TestSocketsToldToSyncWhenTheQueueIsRecreated(t *testing.T) {
	b := newBrokerRig(t)
	l := b.wsConnect(t, "user-a", b.sessionToken("user-a", "s-broker"))
	if err := b.publish(1); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the first message", func() bool { return messageCount(l, "m1") == 1 })
	raw, err := amqp.Dial(rabbittest.URL(t))
	if err != nil {
		t.Fatal(err)
	}
	defer raw.Close()
	ch, err := raw.Channel()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := ch.QueueDelete(b.consumer.Queue(), false, false, false); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "sync:required", func() bool { return len(syncReasons(l)) > 0 })
	if got := syncReasons(l); len(got) != 1 || got[0] != rabbit.ResetQueueRecreated {
		t.Errorf("sync:required reasons %v, want [%s]", got, rabbit.ResetQueueRecreated)
	}
	if err := b.publish(2); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "a message after the reset", func() bool { return messageCount(l, "m2") == 1 })
}
