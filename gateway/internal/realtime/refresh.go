package realtime

import (
	"fmt"
	"time"

	"github.com/parleychat/parley/shared/events"
	"github.com/parleychat/parley/shared/token"
)

// Refreshed lets the local sockets of session sid run until expiresAt, the
// expiry of the session token the client got by refreshing, instead of
// closing them at the expiry of the token they connected with. It never
// extends beyond one session-token lifetime from now, never shortens, and
// cannot reopen a socket already closed (at expiry or by a revocation,
// which still closes the session's sockets at once).
func (s *Server) Refreshed(userID, sid string, expiresAt time.Time) {
	if limit := time.Now().Add(token.SessionTTL + token.DefaultLeeway); expiresAt.After(limit) {
		expiresAt = limit
	}
	for _, e := range s.registry.sockets(userID) {
		if e.id.SessionID != sid {
			continue
		}
		if c, ok := e.sock.Data().(*conn); ok && c.extend(expiresAt) {
			s.log.Debug().Str("user.id", userID).Str("socket.id", string(e.sock.Id())).
				Time("session.expires_at", expiresAt).Msg("session refreshed; socket expiry moved")
		}
	}
}

// extend moves c's expiry to to and reports whether it did: not for a
// socket that is gone or whose timer has already fired (it is closing),
// nor to an earlier time.
func (c *conn) extend(to time.Time) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.gone || c.expiry == nil || !to.After(c.expiresAt) || !c.expiry.Stop() {
		return false
	}
	c.expiresAt = to
	c.expiry.Reset(time.Until(to))
	return true
}

// SessionRefreshed applies a realtime.session.refreshed event from any
// gateway (see Refreshed); one that lacks its fields is malformed.
func (s *Server) SessionRefreshed(env events.Envelope) error {
	var d events.SessionRefreshedV1
	if err := env.DecodeData(&d); err != nil {
		return err
	}
	if d.UserID == "" || d.SessionID == "" || d.ExpiresAt.IsZero() {
		return fmt.Errorf("%w: %s without userId, sessionId or expiresAt", events.ErrMalformed, env.RoutingKey())
	}
	s.Refreshed(d.UserID, d.SessionID, d.ExpiresAt)
	return nil
}
