package realtime

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"slices"

	"github.com/zishang520/socket.io/parsers/socket/v3/parser"
	"github.com/zishang520/socket.io/servers/socket/v3"
	"github.com/zishang520/socket.io/v3/pkg/types"

	"github.com/parleychat/parley/shared/events"
	"github.com/parleychat/parley/shared/trace"
)

// EventSyncRequired tells a socket that deliveries may have been missed
// (this instance's delivery queue had to be created again), with
// {reason}: the client runs `sync` as after a reconnect.
const EventSyncRequired = "sync:required"

// routing is the part of an events.Delivery the gateway reads; the payload
// stays the bytes chat-service wrote.
type routing struct {
	Recipients []string        `json:"recipients"`
	Payload    json.RawMessage `json:"payload"`
}

// Deliver emits a chat.* or realtime.* event to the local sockets of its
// recipients, once per event id, and ignores types clients do not receive.
// It is the handler of this instance's delivery queue; a payload that does
// not decode is malformed and goes to the dead letters.
//
// The payload is emitted as it came (json.RawMessage): the Socket.IO
// encoder takes only []byte and readers for binary attachments, and a
// RawMessage marshals as the JSON it holds.
func (s *Server) Deliver(_ context.Context, env events.Envelope) error {
	if env.Type == events.TypeSessionRefreshed {
		return s.SessionRefreshed(env)
	}
	name, ok := events.SocketEvent(env.Type)
	if !ok {
		return nil
	}
	var d routing
	if err := env.DecodeData(&d); err != nil {
		return err
	}
	// Unmarshal has checked that the payload is JSON; it must be a value a
	// client can use.
	if p := bytes.TrimSpace(d.Payload); len(p) == 0 || bytes.Equal(p, []byte("null")) {
		return fmt.Errorf("%w: %s payload is missing", events.ErrMalformed, env.RoutingKey())
	}
	var socks []*socket.Socket
	users := 0 // recipients with a socket here
	for _, r := range distinct(d.Recipients) {
		n := len(socks)
		if socks = s.registry.appendSockets(socks, r); len(socks) > n {
			users++
		}
	}
	if len(socks) == 0 {
		s.countDelivery("not_here")
		return nil
	}
	// The queue is at-least-once; remember the id only when something is
	// actually emitted, so the LRU holds what matters to this instance.
	if !s.dedupe.add(env.ID) {
		s.countDelivery("duplicate")
		return nil
	}
	// The packet is encoded once and the same bytes are written to each
	// socket's Engine.IO connection (WriteToEngine copies them per socket),
	// as a socket's own Emit would write them. Emit encodes the packet
	// again for every socket, and encoding/json compacts the payload each
	// time: 20% of the gateway's CPU when a group's messages reach 126
	// sockets. Not a broadcast to the recipients' rooms either: that hands
	// each WebSocket a gorilla PreparedMessage, which allocates a 4 KB write
	// buffer to build its frame, for every socket and event. A socket
	// belongs to one user, so it gets one copy; a socket whose connection
	// is no longer open is skipped, as Emit skips it. The library's
	// connection state recovery, off in this server (clients catch up with
	// sync), would not see these writes: Emit is what stores a packet for
	// a reconnect.
	encoded := packetsByNamespace{}
	for _, sock := range socks {
		c := sock.Client()
		if c.Conn().ReadyState() != "open" {
			continue
		}
		c.WriteToEngine(encoded.of(sock.Nsp().Name(), name, d.Payload), &socket.WriteOptions{})
	}
	s.countDelivery("emitted")
	tc, _ := trace.Parse(env.Traceparent)
	s.deliveryLog.Info().Str("trace.id", tc.TraceID).Str("event.id", env.ID).Str("event.action", env.RoutingKey()).
		Str("socketio.event", name).Int("recipients.local", users).Msg("event delivered")
	return nil
}

// distinct returns ids without repeats, so that a recipient listed twice
// still gets one copy on each socket.
func distinct(ids []string) []string {
	if len(ids) <= 16 {
		for i, id := range ids {
			if slices.Contains(ids[:i], id) {
				return slices.Compact(slices.Sorted(slices.Values(ids)))
			}
		}
		return ids
	}
	seen := make(map[string]struct{}, len(ids))
	out := make([]string, 0, len(ids))
	for _, id := range ids {
		if _, ok := seen[id]; !ok {
			seen[id] = struct{}{}
			out = append(out, id)
		}
	}
	return out
}

// countDelivery counts one delivery by outcome, when metrics are on.
func (s *Server) countDelivery(outcome string) {
	if s.deliveries != nil {
		s.deliveries.WithLabelValues(outcome).Inc()
	}
}

// RequireSync emits EventSyncRequired with reason to every local socket;
// the delivery consumer calls it when its queue had to be created again.
func (s *Server) RequireSync(reason string) {
	s.log.Warn().Str("reason", reason).Int("users", len(s.registry.userIDs())).Msg("deliveries may have been missed; sockets told to sync")
	_ = s.io.Emit(EventSyncRequired, map[string]any{"reason": reason})
}

// packetsByNamespace holds one event's Socket.IO packet, encoded once for
// each namespace it is written to (the packet names its namespace; every
// socket here is in "/").
type packetsByNamespace map[string][]types.BufferInterface

func (p packetsByNamespace) of(nsp, event string, payload json.RawMessage) []types.BufferInterface {
	b, ok := p[nsp]
	if !ok {
		b = parser.NewEncoder().Encode(&parser.Packet{Type: parser.EVENT, Nsp: nsp, Data: []any{event, payload}})
		p[nsp] = b
	}
	return b
}
