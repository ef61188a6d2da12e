// Package realtime is the gateway's Socket.IO side (the design brief's
// "Socket.IO (client ↔ gateway)" section): clients
// connect at /socket.io/ with their session cookie, each socket joins the
// room user:<id>, commands are forwarded to chat-service over a Socket.IO
// link, and deliveries from RabbitMQ are emitted to the local rooms of their
// recipients.
package realtime

import (
	"errors"
	"net/http"
	"net/url"
	"strings"
	"sync/atomic"
	"time"

	"github.com/gin-gonic/gin"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/rs/zerolog"
	"github.com/zishang520/socket.io/servers/socket/v3"
	"github.com/zishang520/socket.io/v3/pkg/types"

	"github.com/parleychat/parley/gateway/internal/session"
	"github.com/parleychat/parley/shared/logging"
	"github.com/parleychat/parley/shared/metrics"
	"github.com/parleychat/parley/shared/problem"
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
			Name: "parley_deliveries_total", Help: "Events from the delivery queue by outcome (emitted, not_here, duplicate), and slow_client_cut: sockets cut off with deliveries still queued.",
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
	// instance serves any user. Connection state recovery stays off:
	// clients catch up with sync, and deliveries are written as encoded
	// packets (Deliver), which recovery would not store.
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
