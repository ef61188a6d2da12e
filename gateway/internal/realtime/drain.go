package realtime

import (
	"net/http"
	"time"

	"github.com/parleychat/parley/shared/link"
	"github.com/parleychat/parley/shared/problem"
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
// retryably (503 unavailable with retryAfterMs), and it waits up to
// timeout for the commands in flight to be answered, so their acks reach
// the clients before Close closes the sockets. It reports whether every
// command in flight was answered.
func (s *Server) Drain(timeout time.Duration) bool {
	s.draining.Store(true)
	deadline := time.Now().Add(timeout)
	for s.inflight.Load() > 0 {
		if time.Now().After(deadline) {
			s.log.Warn().Int64("commands", s.inflight.Load()).Dur("waited", timeout).Msg("stopping with commands still in flight")
			return false
		}
		time.Sleep(5 * time.Millisecond)
	}
	return true
}
