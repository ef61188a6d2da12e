// Package realtime is the gateway's Socket.IO side (the design brief's
// "Socket.IO (client ↔ gateway)" section): clients
// connect at /socket.io/ with their session cookie, each socket joins the
// room user:<id>, commands are forwarded to chat-service over a Socket.IO
// link, and deliveries from RabbitMQ are emitted to the local rooms of their
// recipients.
package realtime

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gin-gonic/gin"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/rs/zerolog"
	"github.com/zishang520/socket.io/servers/socket/v3"
	"github.com/zishang520/socket.io/v3/pkg/types"

	"github.com/parleychat/parley/gateway/internal/revocation"
	"github.com/parleychat/parley/gateway/internal/session"
	"github.com/parleychat/parley/shared/logging"
	"github.com/parleychat/parley/shared/metrics"
	"github.com/parleychat/parley/shared/problem"
	"github.com/parleychat/parley/shared/trace"
)

// Authenticator checks a session token (the REST router's, shared).
type Authenticator interface {
	Authenticate(raw string) (session.Identity, error)
}

// Options tunes the Socket.IO server.
type Options struct {
	// AllowedOrigins may open sockets besides the gateway's own origin.
	AllowedOrigins []string
	// CommandTimeout bounds the wait for chat-service's ack.
	CommandTimeout time.Duration
	// BufferLimit is how many packets may wait for one client before it is
	// disconnected as too slow.
	BufferLimit int
	// MaxMessageBytes bounds one incoming Socket.IO message.
	MaxMessageBytes int64
	// TypingInterval is the minimum gap between two forwarded typing
	// signals of one socket for one conversation.
	TypingInterval time.Duration
	// SocketsPerUser caps one user's sockets on this instance; a handshake
	// beyond it gets connect_error too_many_sockets.
	SocketsPerUser int
	// PingInterval is how often the server pings each client; PingTimeout
	// how long it waits for the pong. Defaults 25s and 30s. PingTimeout is
	// kept above PingInterval: the server library (v3.0.6) arms the pong
	// timer only after sending the ping, so a pong that beats it leaves the
	// timer armed, and with a timeout shorter than the interval that timer
	// closes a healthy socket ("ping timeout") before the next ping clears
	// it. Longer than the interval, the next ping always clears it first.
	PingInterval, PingTimeout time.Duration
	// Metrics, if set, receives the Socket.IO metrics: commands by name and
	// outcome with their latency, and the sockets connected.
	Metrics prometheus.Registerer
}

// Server is the client-facing Socket.IO server of one gateway instance.
type Server struct {
	io      *socket.Server
	handler http.Handler
	auth    Authenticator
	link    Commander
	minter  *session.Minter
	log     zerolog.Logger
	opts    Options
	origins map[string]bool

	registry    *registry
	dedupe      *lru
	presenceNow chan struct{}
	commands    *metrics.Commands // nil without Options.Metrics
	deliveries  *prometheus.CounterVec
	// deliveryLog writes each emitted delivery at info, sampled.
	deliveryLog zerolog.Logger
	// cmdLog writes failed commands; okLog writes successful ones at info
	// and refusedLog the expected refusals of a busy stack (503 overloaded,
	// 429), both sampled (logging.Sampled): under overload a record per
	// refusal would add to the load it reports, and the metrics count
	// every one.
	cmdLog, okLog, refusedLog zerolog.Logger

	// shed answers commands at the gateway while chat-service is
	// overloaded; shedCount counts them (nil without Options.Metrics).
	shed      shedder
	shedCount prometheus.Counter

	// draining is set by Drain; inflight counts commands not yet answered.
	draining atomic.Bool
	inflight atomic.Int64
}

// New returns a Socket.IO server; link carries commands to chat-service.
func New(auth Authenticator, link Commander, minter *session.Minter, log zerolog.Logger, o Options) *Server {
	if o.CommandTimeout <= 0 {
		o.CommandTimeout = 10 * time.Second
	}
	if o.BufferLimit <= 0 {
		o.BufferLimit = 1000
	}
	if o.MaxMessageBytes <= 0 {
		o.MaxMessageBytes = 64 << 10
	}
	if o.TypingInterval <= 0 {
		o.TypingInterval = 2 * time.Second
	}
	if o.SocketsPerUser <= 0 {
		o.SocketsPerUser = 16
	}
	if o.PingInterval <= 0 {
		o.PingInterval = 25 * time.Second
	}
	if o.PingTimeout <= o.PingInterval {
		o.PingTimeout = o.PingInterval + o.PingInterval/5
	}
	s := &Server{
		auth: auth, link: link, minter: minter, opts: o,
		log:      log.With().Str("event.dataset", "socketio").Logger(),
		origins:  make(map[string]bool),
		registry: newRegistry(),
		dedupe:   newLRU(4096),

		presenceNow: make(chan struct{}, 1),
	}
	for _, origin := range o.AllowedOrigins {
		s.origins[strings.TrimRight(origin, "/")] = true
	}
	s.cmdLog = log.With().Str("event.dataset", "socketio.command").Logger()
	s.okLog = logging.Sampled(s.cmdLog)
	s.refusedLog = logging.Sampled(s.cmdLog)
	s.deliveryLog = logging.Sampled(log.With().Str("event.dataset", "realtime.delivery").Logger())
	if o.Metrics != nil {
		s.commands = metrics.NewCommands(o.Metrics, commandNames)
		s.deliveries = prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "parley_deliveries_total", Help: "Events from the delivery queue by outcome (emitted, not_here, duplicate, failed), and slow_client_cut: sockets cut off with deliveries still queued.",
		}, []string{"outcome"})
		o.Metrics.MustRegister(s.deliveries, prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "parley_sockets_connected", Help: "Client sockets connected to this gateway instance.",
		}, func() float64 { return float64(s.registry.count()) }), prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "parley_socketio_commands_in_flight", Help: "Client commands forwarded to chat-service and not answered yet (a stopping gateway waits for them).",
		}, func() float64 { return float64(s.inflight.Load()) }))
		s.shedCount = prometheus.NewCounter(prometheus.CounterOpts{
			Name: "parley_socketio_commands_shed_total", Help: "Client commands refused 503 overloaded by the gateway itself, while chat-service was refusing commands as overloaded.",
		})
		o.Metrics.MustRegister(s.shedCount)
		if c, ok := link.(interface{ Connects() int64 }); ok {
			o.Metrics.MustRegister(prometheus.NewCounterFunc(prometheus.CounterOpts{
				Name: "parley_link_connects_total", Help: "Links to chat-service established: the first of each and every reconnect.",
			}, func() float64 { return float64(c.Connects()) }))
		}
		if up, ok := link.(interface{ Up() int }); ok {
			o.Metrics.MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{
				Name: "parley_link_up", Help: "1 while at least one link to chat-service is connected.",
			}, func() float64 { return float64(min(up.Up(), 1)) }), prometheus.NewGaugeFunc(prometheus.GaugeOpts{
				Name: "parley_links_connected", Help: "Links to chat-service instances connected.",
			}, func() float64 { return float64(up.Up()) }))
		}
	}

	opts := socket.DefaultServerOptions()
	opts.SetServeClient(false)
	opts.SetMaxHttpBufferSize(o.MaxMessageBytes)
	opts.SetPingInterval(o.PingInterval)
	opts.SetPingTimeout(o.PingTimeout)
	opts.SetAllowRequest(s.allowRequest)
	opts.SetCors(&types.Cors{Origin: o.AllowedOrigins, Credentials: true})
	// Socket.IO's own session cookie (sticky sessions) is not needed: any
	// instance serves any user.
	s.io = socket.NewServer(nil, opts)
	s.io.Use(s.authenticate)
	s.io.On("connection", func(args ...any) {
		if sock, ok := args[0].(*socket.Socket); ok {
			s.onConnection(sock)
		}
	})
	s.handler = s.checkOrigin(s.io.ServeHandler(nil))
	return s
}

// checkOrigin refuses every Engine.IO request (handshake, poll, upgrade)
// from a foreign Origin with a problem+json 403. The library's own check
// (CORS and the WebSocket upgrader's CheckOrigin) only compares against the
// configured list and cannot recognise the gateway's own origin, so a
// same-origin request has its Origin removed once it has passed here;
// requests from a listed origin keep it, so they still get their CORS
// headers. It runs as a small Gin engine so the refusal goes through the
// one problem writer, with the request's trace id.
func (s *Server) checkOrigin(next http.Handler) http.Handler {
	r := gin.New()
	r.RedirectTrailingSlash, r.RedirectFixedPath = false, false
	r.Use(func(c *gin.Context) {
		origin := c.Request.Header.Get("Origin")
		switch {
		case origin == "" || s.origins[origin]:
		case s.sameOrigin(c.Request, origin):
			c.Request.Header.Del("Origin")
		default:
			problem.Write(c, errOriginRefused)
			return
		}
		w := &releasedWriter{}
		w.w.Store(&c.Writer)
		next.ServeHTTP(w, lean(c.Request))
		w.w.Store(nil)
	})
	return r
}

// releasedWriter is the response writer the Socket.IO library gets. The
// library keeps the writer of the request that opened a connection for
// the connection's life; Gin's writer is part of a pooled request context
// that leads to the outer router's and to net/http's connection with its
// 4 KB read and write buffers, so every idle socket kept all of that
// alive. This one lets go of the real writer once the handler has
// returned (the library answers every request before that, and a
// WebSocket is hijacked by then); a late call finds nothing to write to.
type releasedWriter struct {
	w atomic.Pointer[gin.ResponseWriter]
}

var errReleased = errors.New("response already finished")

func (r *releasedWriter) inner() gin.ResponseWriter {
	if p := r.w.Load(); p != nil {
		return *p
	}
	return nil
}

func (r *releasedWriter) Header() http.Header {
	if w := r.inner(); w != nil {
		return w.Header()
	}
	return http.Header{}
}

func (r *releasedWriter) Write(b []byte) (int, error) {
	if w := r.inner(); w != nil {
		return w.Write(b)
	}
	return 0, errReleased
}

func (r *releasedWriter) WriteHeader(code int) {
	if w := r.inner(); w != nil {
		w.WriteHeader(code)
	}
}

// Flush sends what is buffered (long-polling answers).
func (r *releasedWriter) Flush() {
	if w := r.inner(); w != nil {
		w.Flush()
	}
}

// Hijack hands over the connection (the WebSocket upgrade).
func (r *releasedWriter) Hijack() (net.Conn, *bufio.ReadWriter, error) {
	if w := r.inner(); w != nil {
		return w.Hijack()
	}
	return nil, nil, errReleased
}

// libraryHeaders are the request headers the Socket.IO library and this
// package read on a WebSocket upgrade (the handshake, CORS); pollingHeaders
// are the ones long-polling reads besides (encodings, preflight, the
// binary content type, an old browser's User-Agent).
var (
	libraryHeaders = []string{
		"Origin", "Upgrade", "Connection",
		"Sec-Websocket-Key", "Sec-Websocket-Version", "Sec-Websocket-Extensions", "Sec-Websocket-Protocol",
	}
	pollingHeaders = []string{
		"Origin", "Content-Type", "Accept-Encoding", "If-None-Match", "User-Agent",
		"Access-Control-Request-Method", "Access-Control-Request-Headers",
	}
)

// lean is the request as the Socket.IO library gets it. The library keeps
// the request that opened a connection for the connection's whole life
// (as its handshake), so an idle socket would otherwise hold every header
// the client sent (all its cookies, the whole User-Agent and Accept-*
// lines) and the request's context with what the middlewares put in it
// (the request logger among them). It gets the headers it reads, the
// session cookie alone, and a context that carries only the trace and
// ends when the request's does.
func lean(r *http.Request) *http.Request {
	keep := pollingHeaders
	if upgrade(r) {
		keep = libraryHeaders
	}
	// Sized to what is kept: a map of at most 8 entries is one group.
	n := 1
	for _, k := range keep {
		if _, ok := r.Header[k]; ok {
			n++
		}
	}
	h := make(http.Header, n)
	for _, k := range keep {
		if v, ok := r.Header[k]; ok {
			h[k] = v
		}
	}
	if c, err := r.Cookie(session.CookieName); err == nil {
		h["Cookie"] = []string{session.CookieName + "=" + c.Value}
	}
	ctx := context.Background()
	if tc, ok := trace.From(r.Context()); ok {
		ctx = trace.With(ctx, tc)
	}
	ctx, cancel := context.WithCancel(ctx)
	// net/http ends every request's context once its handler returns,
	// hijacked or not, so this always runs.
	context.AfterFunc(r.Context(), cancel)
	out := r.WithContext(ctx)
	out.Header = h
	return out
}

// Handler serves the Socket.IO endpoint; mount it at /socket.io/.
func (s *Server) Handler() http.Handler { return s.handler }

// Close disconnects every client.
func (s *Server) Close() {
	s.io.Close(nil)
}

var errNoSession = errors.New("a valid session cookie is required")

// allowRequest runs on every Engine.IO handshake (long-polling or direct
// WebSocket), before any Socket.IO state exists: a request without a
// session cookie is refused at the HTTP level. The cookie's token is judged
// by the namespace middleware, whose refusal reaches the client as a
// connect_error with a code it can act on (token_expired: refresh, then
// reconnect) — an HTTP-level refusal only looks like a network error to
// Socket.IO clients, which then retry forever.
func (s *Server) allowRequest(ctx *types.HttpContext) error {
	if c, err := ctx.Request().Cookie(session.CookieName); err != nil || c.Value == "" {
		return errNoSession
	}
	return nil
}

// upgrade reports whether r asks for a WebSocket, as the library decides
// it: "upgrade" among the Connection tokens and "websocket" among the
// Upgrade ones.
func upgrade(r *http.Request) bool {
	has := func(name, token string) bool {
		for _, v := range r.Header[name] {
			for _, t := range strings.Split(v, ",") {
				if strings.EqualFold(strings.TrimSpace(t), token) {
					return true
				}
			}
		}
		return false
	}
	return has("Connection", "upgrade") && has("Upgrade", "websocket")
}

// sameOrigin reports whether origin names the host the request was sent
// to. Requests without Origin (non-browser clients; browsers always send
// one for WebSocket and cross-origin requests) never get here.
func (s *Server) sameOrigin(r *http.Request, origin string) bool {
	u, err := url.Parse(origin)
	return err == nil && u.Host != "" && strings.EqualFold(u.Host, r.Host)
}

func (s *Server) identify(r *http.Request) (session.Identity, error) {
	c, err := r.Cookie(session.CookieName)
	if err != nil {
		return session.Identity{}, session.ErrMissing
	}
	return s.auth.Authenticate(c.Value)
}

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
