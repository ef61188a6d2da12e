package realtime

import (
	"context"
	"encoding/json"
	"fmt"

	"github.com/zishang520/socket.io/servers/socket/v3"

	"github.com/parleychat/parley/shared/events"
)

// Deliver emits a chat.* or realtime.* event to the local sockets of its
// recipients, once per event id, and ignores types clients do not receive.
// It is the handler of this instance's exclusive delivery queue; a payload
// that does not decode is malformed and goes to the dead letters.
func (s *Server) Deliver(_ context.Context, env events.Envelope) error {
	name, ok := events.SocketEvent(env.Type)
	if !ok {
		return nil
	}
	var d events.Delivery
	if err := env.DecodeData(&d); err != nil {
		return err
	}
	// Decoded to plain values: the Socket.IO encoder must see JSON
	// objects, not bytes it might take for a binary attachment.
	var payload any
	if err := json.Unmarshal(d.Payload, &payload); err != nil || payload == nil {
		return fmt.Errorf("%w: %s payload: %v", events.ErrMalformed, env.RoutingKey(), err)
	}
	rooms := make([]socket.Room, 0, len(d.Recipients))
	for _, r := range d.Recipients {
		if s.registry.has(r) {
			rooms = append(rooms, room(r))
		}
	}
	if len(rooms) == 0 {
		return nil
	}
	// The queue is at-least-once; remember the id only when something is
	// actually emitted, so the LRU holds what matters to this instance.
	if !s.dedupe.add(env.ID) {
		return nil
	}
	// One emit to all rooms: a socket in several of them still gets one copy.
	return s.io.To(rooms...).Emit(name, payload)
}
