package app

import (
	"context"
	"encoding/json"
	"time"

	"github.com/parleychat/parley/gateway/internal/realtime"
	"github.com/parleychat/parley/gateway/internal/session"
	"github.com/parleychat/parley/shared/events"
	"github.com/parleychat/parley/shared/logging"
)

// refreshQueue bounds the refresh signals waiting to be published; past it
// a signal is dropped (the sockets on other gateways then close at the old
// expiry and their clients reconnect, as without the signal).
const refreshQueue = 256

// sessionRefreshed moves this instance's sockets of the refreshed session
// to the new expiry at once and queues the signal that tells the other
// gateways; it runs inside the refresh request, so it never waits on the
// broker.
func (a *App) sessionRefreshed(id session.Identity) {
	a.realtime.Refreshed(id.UserID, id.SessionID, id.ExpiresAt)
	select {
	case a.refreshes <- id:
	default:
		a.log.Warn().Str("user.id", id.UserID).Msg("session refresh signal dropped: queue full")
	}
}

// publishRefreshes publishes queued refresh signals on parley.realtime
// until ctx ends.
func (a *App) publishRefreshes(ctx context.Context, pub realtime.Publisher) {
	for {
		select {
		case <-ctx.Done():
			return
		case id := <-a.refreshes:
			if err := publishRefresh(ctx, pub, id); err != nil {
				logging.ErrorFields(a.log.Warn(), err).Str("user.id", id.UserID).Msg("session refresh signal not published")
			}
		}
	}
}

func publishRefresh(ctx context.Context, pub realtime.Publisher, id session.Identity) error {
	env, err := events.New(ctx, Service, events.TypeSessionRefreshed, 1, events.SessionRefreshedV1{
		UserID: id.UserID, SessionID: id.SessionID, ExpiresAt: id.ExpiresAt.UTC(),
	})
	if err != nil {
		return err
	}
	body, err := json.Marshal(env)
	if err != nil {
		return err
	}
	pctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	return pub.Publish(pctx, events.ExchangeRealtime, env.RoutingKey(), body, env.ID, env.Traceparent)
}
