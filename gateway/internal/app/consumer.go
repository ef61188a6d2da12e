package app

import (
	"context"
	"strings"

	"github.com/parleychat/parley/shared/events"
)

// handle routes one event from this instance's exclusive queue: auth.*
// events feed the revocation list (which closes affected sockets), the rest
// are deliveries for local Socket.IO rooms.
func (a *App) handle(ctx context.Context, env events.Envelope) error {
	if strings.HasPrefix(env.Type, "auth.") {
		return a.store.Handle(ctx, env)
	}
	return a.realtime.Deliver(ctx, env)
}

// startConsumer binds this instance's exclusive queue and returns the loop
// that consumes it.
// TODO(gateway): wire shared/rabbit's exclusive consumer once it lands.
func (a *App) startConsumer(ctx context.Context) (func(context.Context), error) {
	a.log.Warn().Msg("events are not consumed yet: shared/rabbit has no exclusive consumer")
	_ = a.handle
	return func(ctx context.Context) { <-ctx.Done() }, nil
}
