package app

import (
	"context"
)

// startRevocationConsumer binds this instance's exclusive queue to the auth
// events and returns the loop that applies them to the revocation list.
// TODO(gateway): wire shared/rabbit's exclusive consumer once it lands.
func (a *App) startRevocationConsumer(ctx context.Context) (func(context.Context), error) {
	a.log.Warn().Msg("revocation events are not consumed yet: shared/rabbit has no consumer")
	return func(ctx context.Context) { <-ctx.Done() }, nil
}
