package app

import (
	"context"
	"strings"

	"github.com/parleychat/parley/shared/events"
	"github.com/parleychat/parley/shared/rabbit"
)

// bindings are what each gateway instance hears: chat deliveries, typing
// and presence for its sockets, and the auth events that revoke sessions.
// realtime.gateway.presence (other gateways' heartbeats) is not bound.
var bindings = []rabbit.Binding{
	{Exchange: events.ExchangeChat, Key: "chat.#"},
	{Exchange: events.ExchangeRealtime, Key: events.TypeTyping + ".#"},
	{Exchange: events.ExchangeRealtime, Key: events.TypePresence + ".#"},
	{Exchange: events.ExchangeAuth, Key: events.TypeSessionRevoked + ".#"},
	{Exchange: events.ExchangeAuth, Key: events.TypePasswordChanged + ".#"},
}

// handle routes one event from this instance's exclusive queue: auth.*
// events feed the revocation list (which closes affected sockets), the rest
// are deliveries for local Socket.IO rooms.
func (a *App) handle(ctx context.Context, env events.Envelope) error {
	if strings.HasPrefix(env.Type, "auth.") {
		return a.store.Handle(ctx, env)
	}
	return a.realtime.Deliver(ctx, env)
}

// newConsumer creates this instance's exclusive queue consumer. One handler
// goroutine keeps deliveries in the order the broker holds them, which is
// chat-service's seq order per conversation.
func (a *App) newConsumer() (*rabbit.ExclusiveConsumer, error) {
	return rabbit.NewExclusiveConsumer(a.amqp, rabbit.ExclusiveConfig{
		Name:        Service,
		Bindings:    bindings,
		Concurrency: 1,
	}, a.handle)
}
