package realtime

import (
	"net/http"
	"time"

	"github.com/zishang520/socket.io/servers/socket/v3"

	"github.com/parleychat/parley/shared/link"
	"github.com/parleychat/parley/shared/problem"
	"github.com/parleychat/parley/shared/siodrain"
)

// errStopping answers a command that arrives while the gateway drains:
// nothing was forwarded, the client sends it again (on the instance it
// reconnects to once this one closes its socket).
var errStopping = problem.New(http.StatusServiceUnavailable, "unavailable",
	"this server is stopping; send the command again after reconnecting")

// stoppingRetryMs is the retryAfterMs of errStopping: the socket closes
// within the drain, and a client resends after reconnecting anyway.
const stoppingRetryMs = 500

// begin counts a command in flight; false (nothing counted) once the
// server drains, and the command must be refused with errStopping.
// Counting before looking at draining means Drain either waits for the
// command or the command sees draining: none slips through.
func (s *Server) begin() bool {
	s.inflight.Add(1)
	if s.draining.Load() {
		s.inflight.Add(-1)
		return false
	}
	return true
}

// end marks a counted command answered.
func (s *Server) end() { s.inflight.Add(-1) }

// stoppingAck is the ack of a command refused while draining.
func stoppingAck(traceID string) []any {
	a := link.Failed(errStopping.Public(traceID))
	a.RetryAfterMs = stoppingRetryMs
	return failedAck(a)
}

// Drain prepares a graceful stop: from now on commands are refused
// retryably (503 unavailable with retryAfterMs); it waits up to timeout for
// the commands in flight to be answered, then closes each socket once what
// it was given is written, acks included (see closeWritten). Close closes
// the sockets left. It reports whether every command in flight was answered
// and every socket closed in time.
func (s *Server) Drain(timeout time.Duration) bool {
	s.draining.Store(true)
	deadline := time.Now().Add(timeout)
	for s.inflight.Load() > 0 {
		if time.Now().After(deadline) {
			s.log.Warn().Int64("commands", s.inflight.Load()).Dur("waited", timeout).Msg("stopping with commands still in flight")
			return false
		}
		time.Sleep(siodrain.Poll)
	}
	return s.closeWritten(deadline)
}

// closeWritten closes every socket once what it was given is written
// (siodrain.CloseWritten), until deadline; a socket still getting
// deliveries is closed at its first quiet moment, and what it misses its
// client reads with the sync it runs on reconnecting.
func (s *Server) closeWritten(deadline time.Time) bool {
	left := siodrain.CloseWritten(s.io, func(sock *socket.Socket) *siodrain.Outbox {
		if c, ok := sock.Data().(*conn); ok {
			if o := c.out.Load(); o != nil {
				return &o.Outbox
			}
		}
		return nil
	}, deadline)
	if left > 0 {
		s.log.Warn().Int("sockets", left).Msg("stopping with packets not yet written to some sockets")
	}
	return left == 0
}
