package realtime

import (
	"context"
	"errors"
	"time"

	"github.com/rs/zerolog"

	"github.com/parleychat/parley/shared/events"
	"github.com/parleychat/parley/shared/logging"
	"github.com/parleychat/parley/shared/rabbit"
)

// Publisher sends one event to RabbitMQ (shared/rabbit's Publisher).
type Publisher interface {
	Publish(ctx context.Context, exchange, routingKey string, body []byte, id, traceparent string) error
}

// presenceChanged asks the presence loop to report now (a user's first
// socket arrived or last one left); a report already pending covers it.
func (s *Server) presenceChanged() {
	select {
	case s.presenceNow <- struct{}{}:
	default:
	}
}

// RunPresence reports this instance's connected users to chat-service on
// parley.realtime every interval and on every first connect / last
// disconnect, until ctx ends; then it reports an empty list so this
// instance's users do not linger online. A report's TTL is three intervals:
// chat-service presumes a gateway that stopped reporting dead after it.
func (s *Server) RunPresence(ctx context.Context, pub Publisher, gatewayID string, interval time.Duration) {
	ttl := max(1, int((3 * interval).Seconds()))
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			fctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 2*time.Second)
			s.publishPresence(fctx, pub, gatewayID, []string{}, ttl)
			cancel()
			return
		case <-t.C:
		case <-s.presenceNow:
		}
		s.publishPresence(ctx, pub, gatewayID, s.registry.userIDs(), ttl)
	}
}

func (s *Server) publishPresence(ctx context.Context, pub Publisher, gatewayID string, users []string, ttl int) {
	env, err := events.New(ctx, gatewayID, events.TypeGatewayPresence, 1,
		events.GatewayPresenceV1{GatewayID: gatewayID, Users: users, TTLSeconds: ttl})
	if err == nil {
		var body []byte
		if body, err = jsonBody(env); err == nil {
			pctx, cancel := context.WithTimeout(ctx, 5*time.Second)
			err = pub.Publish(pctx, events.ExchangeRealtime, env.RoutingKey(), body, env.ID, env.Traceparent)
			cancel()
		}
	}
	var ev *zerolog.Event
	switch {
	case errors.Is(err, rabbit.ErrUnroutable):
		// No chat-service instance is consuming presence right now;
		// reports are ephemeral, so the next heartbeat simply tries again.
		ev = s.log.Debug().Err(err)
	case err != nil:
		ev = logging.ErrorFields(s.log.Warn(), err)
	default:
		ev = s.log.Debug()
	}
	ev.Int("presence.users", len(users)).Msg("presence report")
}
