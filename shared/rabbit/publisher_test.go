package rabbit_test

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	amqp "github.com/rabbitmq/amqp091-go"

	"github.com/parleychat/parley/shared/rabbit"
)

func TestPublishSetsPropertiesAndConfirms(t *testing.T) {
	c := dial(t)
	raw := rawChannel(t)
	ex := tempExchange(t, raw)
	q := tempQueue(t, raw, ex, "test.thing.happened.v1")

	ctx := context.Background()
	const tp = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"
	body := []byte(`{"id":"x"}`)
	if err := c.Publisher().Publish(ctx, ex, "test.thing.happened.v1", body, "evt-1", tp); err != nil {
		t.Fatalf("Publish: %v", err)
	}
	d := getN(t, raw, q, 1, 5*time.Second)[0]
	checks := []struct {
		name      string
		got, want any
	}{
		{"body", string(d.Body), string(body)},
		{"message_id", d.MessageId, "evt-1"},
		{"content_type", d.ContentType, "application/json"},
		{"delivery_mode", d.DeliveryMode, amqp.Persistent},
		{"traceparent", d.Headers["traceparent"], tp},
	}
	for _, c := range checks {
		if c.got != c.want {
			t.Errorf("%s = %v, want %v", c.name, c.got, c.want)
		}
	}
}

func TestPublishUnroutableIsAnError(t *testing.T) {
	c := dial(t)
	raw := rawChannel(t)
	ex := tempExchange(t, raw)
	tempQueue(t, raw, ex, "bound.key")

	tests := []struct {
		key            string
		wantUnroutable bool
	}{
		{"nobody.listens.v1", true},
		{"bound.key", false},
		{"nobody.either.v1", true},
	}
	for i, tt := range tests {
		err := c.Publisher().Publish(context.Background(), ex, tt.key, []byte(`{}`), fmt.Sprintf("u-%d-%s", i, suffix()), "")
		if got := errors.Is(err, rabbit.ErrUnroutable); got != tt.wantUnroutable {
			t.Errorf("Publish(%s): err = %v, want unroutable %v", tt.key, err, tt.wantUnroutable)
		}
		if !tt.wantUnroutable && err != nil {
			t.Errorf("Publish(%s): %v", tt.key, err)
		}
	}
	if s := c.Publisher().Stats(); s.Unroutable != 2 || s.Confirmed != 1 {
		t.Errorf("stats = %+v, want 2 unroutable and 1 confirmed", s)
	}
}

func TestPublishToMissingExchangeFailsAndPublisherRecovers(t *testing.T) {
	c := dial(t)
	raw := rawChannel(t)
	ex := tempExchange(t, raw)
	q := tempQueue(t, raw, ex, "k")
	ctx := context.Background()

	err := c.Publisher().Publish(ctx, "test.missing."+suffix(), "k", []byte(`{}`), "m-1", "")
	if err == nil {
		t.Fatal("Publish to a missing exchange: got nil error, want one")
	}
	// The broker closed the channel (404); the publisher must reconnect by
	// itself and carry on.
	if err := c.Publisher().Publish(ctx, ex, "k", []byte(`{}`), "m-2", ""); err != nil {
		t.Fatalf("Publish after the channel error: %v", err)
	}
	if got := getN(t, raw, q, 1, 5*time.Second)[0].MessageId; got != "m-2" {
		t.Errorf("message id = %q, want m-2", got)
	}
}

func TestPublishBatchKeepsOrder(t *testing.T) {
	c := dial(t)
	raw := rawChannel(t)
	ex := tempExchange(t, raw)
	q := tempQueue(t, raw, ex, "#")

	const n = 500
	msgs := make([]rabbit.Message, n)
	for i := range msgs {
		msgs[i] = rabbit.Message{Exchange: ex, RoutingKey: "order.v1", Body: []byte(`{}`), ID: fmt.Sprintf("m-%04d", i)}
	}
	start := time.Now()
	errs := c.Publisher().PublishBatch(context.Background(), msgs)
	elapsed := time.Since(start)
	for i, err := range errs {
		if err != nil {
			t.Fatalf("message %d: %v", i, err)
		}
	}
	t.Logf("published and confirmed %d messages in %s (%.0f msg/s)", n, elapsed, n/elapsed.Seconds())
	got := getN(t, raw, q, n, 10*time.Second)
	for i, d := range got {
		if want := fmt.Sprintf("m-%04d", i); d.MessageId != want {
			t.Fatalf("message %d has id %s, want %s", i, d.MessageId, want)
		}
	}
}

func TestPublishRequiresID(t *testing.T) {
	c := dial(t)
	raw := rawChannel(t)
	ex := tempExchange(t, raw)
	if err := c.Publisher().Publish(context.Background(), ex, "k", []byte(`{}`), "", ""); err == nil {
		t.Fatal("Publish without id: got nil error, want one")
	}
}

func TestCheckReportsBrokerUp(t *testing.T) {
	c := dial(t)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := c.Check(ctx); err != nil {
		t.Fatalf("Check: %v", err)
	}
	if err := c.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	if err := c.Check(ctx); err == nil {
		t.Fatal("Check after Close: got nil, want an error")
	}
}
