package realtime

import (
	"fmt"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"github.com/zishang520/socket.io/servers/socket/v3"

	"github.com/parleychat/parley/gateway/internal/revocation"
	"github.com/parleychat/parley/gateway/internal/session"
	"github.com/parleychat/parley/shared/problem"
	"github.com/parleychat/parley/shared/trace"
)

// authenticate is the namespace middleware: it identifies the socket from
// the handshake request's cookie (checked again: the session may have been
// revoked since the Engine.IO handshake) and takes one of the user's socket
// slots, or refuses the socket with a connect_error whose data is the
// problem REST would answer (code, status, detail, traceId).
func (s *Server) authenticate(sock *socket.Socket, next func(*socket.ExtendedError)) {
	req := sock.Request().Request()
	id, err := s.identify(req)
	if err == nil && !id.ExpiresAt.After(time.Now()) {
		// Past exp but within the verifier's clock-skew leeway: such a
		// socket would be closed at once by its expiry timer, so the
		// client is told to refresh instead.
		err = session.ErrExpired
	}
	if err != nil {
		next(refusal("unauthorized", session.Problem(err), req))
		return
	}
	if !s.registry.reserve(id.UserID, s.opts.SocketsPerUser) {
		s.log.Info().Str("user.id", id.UserID).Int("sockets.limit", s.opts.SocketsPerUser).Msg("socket refused: too many for this user")
		next(refusal(errTooManySockets.Code, errTooManySockets, req))
		return
	}
	c := &conn{id: id}
	// A socket refused or dropped between here and onConnection never
	// registers; its slot is given back when its connection closes.
	// A connection that closed before the listener existed is caught by
	// its state; the CAS keeps the two from both giving the slot back.
	releaseSlot := func(...any) {
		if c.slot.CompareAndSwap(slotReserved, slotReleased) {
			s.registry.release(id.UserID)
		}
	}
	sock.Conn().On("close", releaseSlot)
	if sock.Conn().ReadyState() != "open" {
		releaseSlot()
	}
	sock.SetData(c)
	next(nil)
}

// refusal is a connect_error: message is what Socket.IO clients show as
// the error's message ("unauthorized" for every session problem, as
// before), data the problem's public fields.
func refusal(message string, p *problem.Problem, req *http.Request) *socket.ExtendedError {
	traceID := trace.ID(req.Context())
	if traceID == "" {
		traceID = trace.New().TraceID
	}
	return socket.NewExtendedError(message, problemData(p, traceID))
}

// Socket slot states: reserved by the middleware, then registered by
// onConnection or released when the connection closes first.
const (
	slotReserved int32 = iota
	slotRegistered
	slotReleased
)

// conn is what the gateway keeps per socket.
type conn struct {
	id session.Identity
	// slot is the socket's place in the user's SocketsPerUser.
	slot atomic.Int32
	// expiry closes the socket when the session token expires; stopped
	// when the socket goes first, moved on when the session is refreshed.
	expiry *time.Timer

	mu        sync.Mutex
	typing    map[string]typingState // conversation id → last forwarded signal; nil until the first
	expiresAt time.Time              // when expiry fires; guarded by mu
	gone      bool                   // disconnected; guarded by mu

	// out counts the packets waiting for the client; set when the socket
	// connects (Drain may look at a socket before that).
	out atomic.Pointer[outbox]
}

// room is the room every socket of a user joins.
func room(userID string) socket.Room { return socket.Room("user:" + userID) }

func (s *Server) onConnection(sock *socket.Socket) {
	c, ok := sock.Data().(*conn)
	if !ok {
		sock.Disconnect(true)
		return
	}
	if !c.slot.CompareAndSwap(slotReserved, slotRegistered) {
		// The connection closed before the socket got here; its slot is
		// already given back.
		sock.Disconnect(true)
		return
	}
	sock.Join(room(c.id.UserID))
	s.closeAtExpiry(sock, c)
	first := s.registry.add(c.id, sock)
	c.out.Store(s.guardBuffer(sock))
	sock.OnAny(s.onEvent(sock, c))
	left := sync.OnceFunc(func() {
		c.mu.Lock()
		c.gone = true
		c.expiry.Stop()
		c.mu.Unlock()
		if last := s.registry.remove(c.id.UserID, sock); last {
			s.presenceChanged()
		}
	})
	sock.On("disconnect", func(args ...any) {
		// Every disconnect, with the library's reason ("transport close",
		// "ping timeout", "server namespace disconnect", ...): a healthy
		// socket closed by the server must be visible at the default level.
		s.log.Info().Str("user.id", c.id.UserID).Str("socket.id", string(sock.Id())).
			Str("event.reason", fmt.Sprint(args...)).Msg("socket disconnected")
		left()
	})
	// A transport that closed while this handler ran fired "disconnect"
	// before the listener above existed (the library does not queue the
	// close behind this handler, as it does packets), and the socket would
	// stay registered for good; it is marked closed before that event.
	if !sock.Connected() {
		left()
		return
	}
	// The library acknowledges CONNECT to the client before this handler
	// runs, so a revocation applied since the middleware's check found no
	// socket here to close. Checked again now that Revoke can see it.
	if _, err := s.identify(sock.Request().Request()); err != nil {
		s.log.Debug().Str("user.id", c.id.UserID).Err(err).Msg("session ended while the socket connected; closed")
		sock.Disconnect(true)
		return
	}
	s.log.Debug().Str("user.id", c.id.UserID).Str("socket.id", string(sock.Id())).Msg("socket connected")
	if first {
		s.presenceChanged()
	}
}

// closeAtExpiry disconnects sock when its session token expires, like a
// revocation: nothing special is emitted, the client sees a server
// disconnect, refreshes over REST and reconnects with the new cookie. The
// token was checked only at the handshake; without this a socket would
// outlive its token (and keep sending commands as that session) for as long
// as the connection lasts.
func (s *Server) closeAtExpiry(sock *socket.Socket, c *conn) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.expiresAt = c.id.ExpiresAt
	c.expiry = time.AfterFunc(time.Until(c.id.ExpiresAt), func() {
		s.log.Debug().Str("user.id", c.id.UserID).Str("socket.id", string(sock.Id())).Msg("session token expired; socket closed")
		sock.Disconnect(true)
	})
}

// Revoke disconnects the local sockets a revocation covers; subscribe it to
// the revocation store.
func (s *Server) Revoke(n revocation.Notice) {
	for _, e := range s.registry.sockets(n.UserID) {
		if n.Covers(n.UserID, e.id.SessionID, e.id.IssuedAt) {
			e.sock.Disconnect(true)
		}
	}
}
