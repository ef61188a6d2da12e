package rabbitmq

import (
	"context"
	"fmt"

	"github.com/parleychat/parley/chat-service/internal/chat"
	"github.com/parleychat/parley/shared/events"
)

// Queue names (DESIGN.md §6: <consumer>.<purpose>).
const (
	QueueUserDirectory = "chat-service.user-directory"
	QueuePresence      = "chat-service.presence"
)

// UserStore is the replica the directory consumer writes.
type UserStore interface {
	// UpsertUser stores u unless a newer version is there (newer wins).
	UpsertUser(ctx context.Context, u chat.User) (bool, error)
}

// HandleUserEvent applies auth.user.registered.v1 and
// users.profile.updated.v1 to the user replica. Writes are newer-wins by
// updatedAt, so redelivered and reordered events are harmless on their own.
func HandleUserEvent(ctx context.Context, store UserStore, env events.Envelope) error {
	var u chat.User
	switch env.RoutingKey() {
	case events.TypeUserRegistered + ".v1":
		var d events.UserRegisteredV1
		if err := env.DecodeData(&d); err != nil {
			return err
		}
		u = chat.User{ID: d.UserID, Username: d.Username, UpdatedAt: d.CreatedAt}
	case events.TypeProfileUpdated + ".v1":
		var d events.ProfileUpdatedV1
		if err := env.DecodeData(&d); err != nil {
			return err
		}
		u = chat.User{ID: d.UserID, Username: d.Username, DisplayName: d.DisplayName, AvatarURL: d.AvatarURL, UpdatedAt: d.UpdatedAt}
	default:
		return fmt.Errorf("%w: unexpected event %s on %s", events.ErrMalformed, env.RoutingKey(), QueueUserDirectory)
	}
	id, ok := chat.ParseID(u.ID)
	if !ok || u.Username == "" || u.UpdatedAt.IsZero() {
		return fmt.Errorf("%w: %s without userId, username or time", events.ErrMalformed, env.RoutingKey())
	}
	u.ID = id
	_, err := store.UpsertUser(ctx, u)
	return err
}

// HandleGatewayPresence applies one realtime.gateway.presence.v1 heartbeat.
func HandleGatewayPresence(ctx context.Context, presence *chat.Presence, env events.Envelope) error {
	if env.RoutingKey() != events.TypeGatewayPresence+".v1" {
		return fmt.Errorf("%w: unexpected event %s on %s", events.ErrMalformed, env.RoutingKey(), QueuePresence)
	}
	var hb events.GatewayPresenceV1
	if err := env.DecodeData(&hb); err != nil {
		return err
	}
	if hb.GatewayID == "" {
		return fmt.Errorf("%w: heartbeat without gatewayId", events.ErrMalformed)
	}
	return presence.Heartbeat(ctx, hb)
}
