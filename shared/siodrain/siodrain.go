// Package siodrain closes the sockets of a Socket.IO server (the
// zishang520 library) without losing what was handed to them.
//
// An emit or an ack is not on the wire when the call returns: the packet
// waits in the socket's Engine.IO buffer while the transport is busy, then
// in the WebSocket transport's write queue, and the library's Server.Close
// discards both. A service that answers its last commands and then closes
// would lose those answers; CloseWritten closes each socket only once what
// it was given is written.
package siodrain

import (
	"sync/atomic"
	"time"

	"github.com/zishang520/socket.io/parsers/engine/v3/packet"
	"github.com/zishang520/socket.io/servers/engine/v3/transports"
	"github.com/zishang520/socket.io/servers/socket/v3"
)

// Poll is how often CloseWritten looks at the sockets.
const Poll = 2 * time.Millisecond

// Outbox counts one socket's packets not yet handed to its transport:
// packets created less packets flushed. The library keeps no such count of
// its own that can be read.
type Outbox struct {
	pending atomic.Int64
}

// Watch counts sock's packets from now on; call it when the socket
// connects, before anything is emitted to it.
func Watch(sock *socket.Socket) *Outbox {
	o := new(Outbox)
	eio := sock.Conn()
	eio.On("packetCreate", func(...any) { o.Created() })
	eio.On("flush", o.Flushed)
	return o
}

// Created counts one more packet waiting and returns the count: the
// Engine.IO "packetCreate" listener, for a caller that also bounds it.
func (o *Outbox) Created() int64 { return o.pending.Add(1) }

// Flushed is the Engine.IO "flush" listener: the packets it carries went
// to the transport. A flush empties the whole buffer, which may hold
// packets created before Watch (the CONNECT answer waits there for a
// long-polling client's next GET); those were never counted, so the count
// stops at zero instead of going below it.
func (o *Outbox) Flushed(args ...any) {
	if len(args) == 0 {
		return
	}
	wbuf, ok := args[0].([]*packet.Packet)
	if !ok {
		return
	}
	for {
		n := o.pending.Load()
		if o.pending.CompareAndSwap(n, max(0, n-int64(len(wbuf)))) {
			return
		}
	}
}

// Pending is how many packets wait in the socket's buffer.
func (o *Outbox) Pending() int64 { return o.pending.Load() }

// Written reports whether sock, counted by o, has nothing waiting to be
// written: its buffer is empty and no WebSocket write is in progress. A
// long-polling transport is writable only while a GET waits, so for it an
// empty buffer is enough (what was flushed answers a GET). A nil o (a
// socket not counted yet) is not written.
func Written(sock *socket.Socket, o *Outbox) bool {
	if o == nil || o.Pending() > 0 {
		return false
	}
	t := sock.Conn().Transport()
	return t.Writable() || t.Name() != transports.WEBSOCKET
}

// CloseWritten closes every socket of io's main namespace once it is
// written (outbox gives each socket's count), until deadline, and returns
// how many were left open. A socket is closed after being seen written on
// two looks in a row, a Poll apart: the library flushes in steps (the
// buffer is emptied, then the transport marked busy, and a finished write
// marks it writable before the buffer is flushed again), and two looks a
// Poll apart cannot both fall inside one step. A socket still being
// emitted to is closed at its first quiet moment. Sockets are closed at
// the transport (the client sees "transport close" and reconnects).
func CloseWritten(io *socket.Server, outbox func(*socket.Socket) *Outbox, deadline time.Time) int {
	quiet := map[socket.SocketId]bool{}
	for {
		left := 0
		io.Sockets().Sockets().Range(func(id socket.SocketId, sock *socket.Socket) bool {
			switch {
			case !Written(sock, outbox(sock)):
				delete(quiet, id)
				left++
			case !quiet[id]:
				quiet[id] = true
				left++
			default:
				delete(quiet, id)
				sock.Conn().Close(true)
			}
			return true
		})
		if left == 0 || time.Now().After(deadline) {
			return left
		}
		time.Sleep(Poll)
	}
}
