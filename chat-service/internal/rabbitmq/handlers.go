package rabbitmq

import (
	"context"
	"fmt"
	"time"

	"github.com/rs/zerolog"

	"github.com/parleychat/parley/chat-service/internal/chat"
	"github.com/parleychat/parley/shared/events"
	"github.com/parleychat/parley/shared/input"
)

// Queue purposes (queues are <consumer>.<purpose>, DESIGN.md, Events).
const (
	PurposeUserDirectory = "user-directory"
	PurposePresence      = "presence"
)

// UserStore is the replica the directory consumer writes.
type UserStore interface {
	// ApplyUserEvent stores u once per event id (recorded for consumer in
	// the same transaction), unless a newer version is there.
	ApplyUserEvent(ctx context.Context, consumer, eventID string, u chat.User) (bool, error)
}

// UserDirectory keeps the user replica from auth.user.registered.v1 and
// users.profile.updated.v1. Each event is applied once (by id) and writes
// are newer-wins by updatedAt, so duplicates and reordering are harmless.
type UserDirectory struct {
	Store UserStore
	// Consumer names the queue in processed_events.
	Consumer string
}

// Handle applies one event.
func (d UserDirectory) Handle(ctx context.Context, env events.Envelope) error {
	var u chat.User
	switch env.RoutingKey() {
	case events.TypeUserRegistered + ".v1":
		var r events.UserRegisteredV1
		if err := env.DecodeData(&r); err != nil {
			return err
		}
		u = chat.User{ID: r.UserID, Username: r.Username, UpdatedAt: r.CreatedAt}
	case events.TypeProfileUpdated + ".v1":
		var p events.ProfileUpdatedV1
		if err := env.DecodeData(&p); err != nil {
			return err
		}
		u = chat.User{ID: p.UserID, Username: p.Username, DisplayName: p.DisplayName, AvatarURL: p.AvatarURL, UpdatedAt: p.UpdatedAt}
	default:
		return fmt.Errorf("%w: unexpected event %s", events.ErrMalformed, env.RoutingKey())
	}
	id, ok := input.ParseID(u.ID)
	if !ok || u.Username == "" || u.UpdatedAt.IsZero() {
		return fmt.Errorf("%w: %s without a valid userId, username or time", events.ErrMalformed, env.RoutingKey())
	}
	u.ID = id
	applied, err := d.Store.ApplyUserEvent(ctx, d.Consumer, env.ID, u)
	if err == nil && !applied {
		zerolog.Ctx(ctx).Debug().Str("event.id", env.ID).Msg("duplicate user event ignored")
	}
	return err
}

// GatewayPresence applies realtime.gateway.presence.v1 heartbeats.
type GatewayPresence struct {
	Presence *chat.Presence
	Now      func() time.Time
}

// Handle applies one heartbeat. A heartbeat older than its own TTL (a
// backlog after an outage) is dropped: a newer one, or the sweeper, has the
// truth.
func (g GatewayPresence) Handle(ctx context.Context, env events.Envelope) error {
	if env.RoutingKey() != events.TypeGatewayPresence+".v1" {
		return fmt.Errorf("%w: unexpected event %s", events.ErrMalformed, env.RoutingKey())
	}
	var hb events.GatewayPresenceV1
	if err := env.DecodeData(&hb); err != nil {
		return err
	}
	if hb.GatewayID == "" {
		return fmt.Errorf("%w: heartbeat without gatewayId", events.ErrMalformed)
	}
	ttl := time.Duration(hb.TTLSeconds) * time.Second
	if ttl <= 0 {
		ttl = chat.DefaultPresenceTTL
	}
	now := time.Now
	if g.Now != nil {
		now = g.Now
	}
	if !env.OccurredAt.IsZero() && now().Sub(env.OccurredAt) > ttl {
		return nil
	}
	return g.Presence.Heartbeat(ctx, hb, env.OccurredAt)
}
