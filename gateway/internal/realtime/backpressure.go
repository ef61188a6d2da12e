package realtime

import (
	"encoding/json"
	"sync/atomic"

	"github.com/zishang520/socket.io/servers/socket/v3"

	"github.com/parleychat/parley/shared/events"
	"github.com/parleychat/parley/shared/siodrain"
)

// outbox bounds the packets waiting for one client. Engine.IO queues
// packets while the transport is not writable (a WebSocket write still in
// progress, no long-polling GET pending), with no bound of its own; a
// client that cannot keep up is cut off instead of growing the gateway's
// memory (it catches up with sync on reconnect). The count
// (siodrain.Outbox) also tells Drain when the socket is written. One small
// struct per socket, its two listeners bound methods: every idle socket
// carries it.
type outbox struct {
	siodrain.Outbox
	s    *Server
	sock *socket.Socket
	cut  atomic.Bool
}

// guardBuffer disconnects sock once its Engine.IO write buffer holds more
// than BufferLimit packets, counting the cut as slow_client_cut.
func (s *Server) guardBuffer(sock *socket.Socket) *outbox {
	o := &outbox{s: s, sock: sock}
	eio := sock.Conn()
	eio.On("packetCreate", o.created)
	eio.On("flush", o.Flushed)
	return o
}

func (o *outbox) created(...any) {
	limit := o.s.opts.BufferLimit
	if o.Created() <= int64(limit) || !o.cut.CompareAndSwap(false, true) {
		return
	}
	o.s.log.Warn().Str("socket.id", string(o.sock.Id())).Int("buffer.limit", limit).
		Msg("slow client disconnected: outbound buffer full")
	o.s.countDelivery("slow_client_cut")
	// Not from inside the engine's send path.
	go o.sock.Conn().Close(true)
}

// jsonBody encodes an envelope for publishing.
func jsonBody(env events.Envelope) ([]byte, error) { return json.Marshal(env) }
