// Package rabbitmq connects chat-service to the broker through shared/rabbit:
// the direct publisher of ephemeral realtime signals, and the consumers of
// the user directory and gateway presence.
package rabbitmq

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/parleychat/parley/chat-service/internal/chat"
	"github.com/parleychat/parley/shared/events"
	"github.com/parleychat/parley/shared/rabbit"
)

// publisher is what Realtime needs from *rabbit.Publisher.
type publisher interface {
	Publish(ctx context.Context, exchange, routingKey string, body []byte, id, traceparent string) error
}

// Realtime publishes typing and presence straight to parley.realtime. They
// are ephemeral: no outbox, and "no gateway is listening" (unroutable) is
// not an error.
type Realtime struct{ pub publisher }

var _ chat.Realtime = (*Realtime)(nil)

// NewRealtime returns a Realtime publishing with pub.
func NewRealtime(pub publisher) *Realtime { return &Realtime{pub: pub} }

// Publish sends d as a <eventType>.v1 event.
func (r *Realtime) Publish(ctx context.Context, eventType string, d events.Delivery) error {
	env, err := events.New(ctx, chat.ServiceName, eventType, 1, d)
	if err != nil {
		return err
	}
	body, err := json.Marshal(env)
	if err != nil {
		return fmt.Errorf("rabbitmq: encode %s: %w", eventType, err)
	}
	err = r.pub.Publish(ctx, events.ExchangeRealtime, env.RoutingKey(), body, env.ID, env.Traceparent)
	if errors.Is(err, rabbit.ErrUnroutable) {
		return nil
	}
	return err
}
