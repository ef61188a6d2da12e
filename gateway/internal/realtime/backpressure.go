package realtime

import (
	"encoding/json"
	"sync"
	"sync/atomic"

	"github.com/rs/zerolog"
	"github.com/zishang520/socket.io/parsers/engine/v3/packet"
	"github.com/zishang520/socket.io/servers/socket/v3"

	"github.com/parleychat/parley/shared/events"
)

// guardBuffer disconnects a client whose Engine.IO write buffer holds more
// than limit packets. Engine.IO queues packets while the transport is not
// writable (a WebSocket write still in progress, no long-polling GET
// pending), with no bound of its own: counting packets created against
// packets flushed to the transport gives the backlog, and a client that
// cannot keep up is cut off instead of growing the gateway's memory; cut,
// if not nil, is told (the client catches up with sync on reconnect).
func guardBuffer(sock *socket.Socket, limit int, log zerolog.Logger, cut func()) {
	var pending atomic.Int64
	var once sync.Once
	eio := sock.Conn()
	eio.On("packetCreate", func(...any) {
		if pending.Add(1) > int64(limit) {
			once.Do(func() {
				log.Warn().Str("socket.id", string(sock.Id())).Int("buffer.limit", limit).
					Msg("slow client disconnected: outbound buffer full")
				if cut != nil {
					cut()
				}
				// Not from inside the engine's send path.
				go eio.Close(true)
			})
		}
	})
	eio.On("flush", func(args ...any) {
		if len(args) > 0 {
			if wbuf, ok := args[0].([]*packet.Packet); ok {
				pending.Add(-int64(len(wbuf)))
			}
		}
	})
}

// jsonBody encodes an envelope for publishing.
func jsonBody(env events.Envelope) ([]byte, error) { return json.Marshal(env) }
