// Package rabbitmq is the gateway's RabbitMQ adapter: the one queue each
// gateway instance consumes, carrying chat deliveries, typing and presence
// for its sockets and the auth events that revoke sessions.
package rabbitmq

import (
	"context"
	"strings"
	"time"

	"github.com/parleychat/parley/shared/events"
	"github.com/parleychat/parley/shared/rabbit"
)

// Bindings are what each gateway instance hears: chat deliveries, typing
// and presence for its sockets, and the auth events that revoke sessions.
// realtime.gateway.presence (other gateways' heartbeats) is not bound.
var Bindings = []rabbit.Binding{
	{Exchange: events.ExchangeChat, Key: "chat.#"},
	{Exchange: events.ExchangeRealtime, Key: events.TypeTyping + ".#"},
	{Exchange: events.ExchangeRealtime, Key: events.TypePresence + ".#"},
	{Exchange: events.ExchangeRealtime, Key: events.TypeSessionRefreshed + ".#"},
	{Exchange: events.ExchangeAuth, Key: events.TypeSessionRevoked + ".#"},
	{Exchange: events.ExchangeAuth, Key: events.TypePasswordChanged + ".#"},
}

// Revocations applies auth.* events to the revocation list.
type Revocations interface {
	Handle(ctx context.Context, env events.Envelope) error
}

// Sockets is the Socket.IO side: it delivers events to local sockets and
// tells them to sync when deliveries may have been missed.
type Sockets interface {
	Deliver(ctx context.Context, env events.Envelope) error
	RequireSync(reason string)
}

// NewConsumer returns this instance's queue consumer: a durable queue that
// outlives a dropped broker connection by expiry (x-expires = expiry), so
// deliveries published meanwhile are not lost; when the queue had to be
// created again the sockets are told to sync. One handler goroutine keeps
// deliveries in the order the broker holds them, which is chat-service's
// seq order per conversation.
func NewConsumer(conn *rabbit.Conn, name string, expiry time.Duration, rev Revocations, sockets Sockets) (*rabbit.InstanceConsumer, error) {
	return rabbit.NewInstanceConsumer(conn, rabbit.InstanceConfig{
		Name:        name,
		Bindings:    Bindings,
		Concurrency: 1,
		Expiry:      expiry,
		OnReset:     sockets.RequireSync,
	}, route(rev, sockets))
}

// route sends auth.* events to the revocation list (which closes affected
// sockets) and the rest to the local Socket.IO rooms.
func route(rev Revocations, sockets Sockets) rabbit.Handler {
	return func(ctx context.Context, env events.Envelope) error {
		if strings.HasPrefix(env.Type, "auth.") {
			return rev.Handle(ctx, env)
		}
		return sockets.Deliver(ctx, env)
	}
}
