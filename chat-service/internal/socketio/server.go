// Package socketio serves the gateway's Socket.IO link (the gateway–chat
// link of DESIGN.md): the gateway connects once per instance with an
// internal token on the upgrade and in the handshake, and forwards its
// clients' commands, each in a link.Envelope carrying the acting user's own
// internal token. Commands run the same use cases as REST and are answered
// with a link.Ack; deliveries flow back through RabbitMQ, not over this
// link.
package socketio

import (
	"context"
	"net/http"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/rs/zerolog"
	"github.com/zishang520/socket.io/servers/socket/v3"

	"github.com/parleychat/parley/chat-service/internal/chat"
	"github.com/parleychat/parley/shared/link"
	"github.com/parleychat/parley/shared/logging"
	"github.com/parleychat/parley/shared/metrics"
	"github.com/parleychat/parley/shared/problem"
	"github.com/parleychat/parley/shared/siodrain"
	"github.com/parleychat/parley/shared/token"
)

// Path is where the link is served, on the service's HTTP server.
const Path = "/socket.io/"

// Config tunes the link server.
type Config struct {
	Service  *chat.Service
	Verifier *token.Verifier // internal tokens, audience chat-service
	Logger   zerolog.Logger
	// Workers is how many commands run at once. Commands of one user always
	// go to the same worker, so they run in the order the gateway sent
	// them. Default 32.
	Workers int
	// QueueSize bounds the commands waiting per worker; past it a command is
	// refused with 503 instead of growing memory. Default 64 (with many
	// workers each holds a user or two, whose own bound is PerUser).
	QueueSize int
	// Metrics, if set, receives each command's outcome and latency.
	Metrics prometheus.Registerer
	// PerUser bounds one user's commands waiting or running at once; past
	// it that user's commands are refused with 429 while everyone else's
	// still run. Default 16.
	PerUser int
	// CommandTimeout bounds one command. Default 10s.
	CommandTimeout time.Duration
	// QueueWait is the longest a command may wait for its worker; one that
	// would wait longer is refused with 503 overloaded (retryable) at once,
	// or, if the wait turned out longer than expected, when its turn comes,
	// without running. Default 250ms: the refusal itself is immediate, and
	// a burst of syncs (every socket of a restarted gateway reconnecting)
	// that clears within it is served rather than refused.
	QueueWait time.Duration
}

// Server is the link's Socket.IO server.
type Server struct {
	io      *socket.Server
	handler http.Handler
	svc     *chat.Service
	verify  *token.Verifier
	log     zerolog.Logger
	okLog   zerolog.Logger    // successful commands, sampled
	metrics *metrics.Commands // nil without Config.Metrics
	timeout time.Duration
	workers *workers
	// commands maps each link command name to its handler.
	commands map[string]command
}

// New starts the workers and returns the server; serve Handler at Path.
func New(cfg Config) *Server {
	if cfg.Workers <= 0 {
		cfg.Workers = 32
	}
	if cfg.QueueSize <= 0 {
		cfg.QueueSize = 64
	}
	if cfg.PerUser <= 0 {
		cfg.PerUser = 16
	}
	if cfg.CommandTimeout <= 0 {
		cfg.CommandTimeout = 10 * time.Second
	}
	if cfg.QueueWait <= 0 {
		cfg.QueueWait = 250 * time.Millisecond
	}
	opts := socket.DefaultServerOptions()
	opts.SetServeClient(false)
	opts.SetPath(Path)
	// The pong timeout stays above the interval: the server library arms it
	// after sending each ping, so a pong that beats it leaves it running,
	// and only a next ping that comes first clears it (see the gateway's
	// realtime.Options for the test that shows it).
	opts.SetPingInterval(10 * time.Second)
	opts.SetPingTimeout(15 * time.Second)
	// One packet is one command; 1 MiB leaves room for a large sync request.
	opts.SetMaxHttpBufferSize(1 << 20)
	io := socket.NewServer(nil, opts)
	s := &Server{
		io:      io,
		svc:     cfg.Service,
		verify:  cfg.Verifier,
		log:     cfg.Logger.With().Str("event.dataset", "socketio.link").Logger(),
		okLog:   logging.Sampled(cfg.Logger.With().Str("event.dataset", "socketio.command").Logger()),
		timeout: cfg.CommandTimeout,
		workers: newWorkers(cfg.Workers, cfg.QueueSize, cfg.PerUser, cfg.QueueWait),
	}
	s.commands = s.handlers()
	if cfg.Metrics != nil {
		s.metrics = metrics.NewCommands(cfg.Metrics, link.Commands)
	}
	io.Use(s.authenticate)
	_ = io.On("connection", func(args ...any) {
		if len(args) > 0 {
			if sock, ok := args[0].(*socket.Socket); ok {
				s.attach(sock)
			}
		}
	})
	s.handler = s.requireToken(io.ServeHandler(nil))
	return s
}

// Handler serves the Socket.IO endpoint; every request to it needs a
// valid internal token in its Authorization header.
func (s *Server) Handler() http.Handler { return s.handler }

// authenticate admits a link only with a valid internal token for
// chat-service in the handshake's auth.token too (the transport already
// checked the bearer header).
func (s *Server) authenticate(sock *socket.Socket, next func(*socket.ExtendedError)) {
	raw, _ := sock.Handshake().Auth["token"].(string)
	if _, err := s.verify.Verify(raw); err != nil {
		s.log.Warn().Str("error.message", err.Error()).Str("client.address", sock.Handshake().Address).
			Msg("socket.io link refused: bad handshake token")
		next(socket.NewExtendedError("unauthorized", map[string]any{"code": "unauthorized"}))
		return
	}
	next(nil)
}

// attach registers the command handlers on a link socket.
func (s *Server) attach(sock *socket.Socket) {
	// Counted before any command can be answered: Close waits for what
	// the link was given to be written.
	sock.SetData(siodrain.Watch(sock))
	s.log.Info().Str("socket.id", string(sock.Id())).Str("client.address", sock.Handshake().Address).
		Msg("gateway link connected")
	for name, cmd := range s.commands {
		_ = sock.On(name, func(args ...any) { s.receive(name, cmd, args) })
	}
	sock.OnAny(s.unknown)
	_ = sock.On("disconnect", func(args ...any) {
		s.log.Info().Str("socket.id", string(sock.Id())).Any("reason", args).Msg("gateway link disconnected")
	})
}

// unknown answers a command this version does not know (a newer gateway
// beside an older chat-service) with 404 unknown_command at once, so the
// client hears it instead of waiting out the gateway's command timeout.
// It sees every event; the known ones are left to their handlers.
func (s *Server) unknown(args ...any) {
	if len(args) < 2 {
		return
	}
	name, _ := args[0].(string)
	ack, ok := args[len(args)-1].(socket.Ack)
	if _, known := s.commands[name]; known || !ok {
		return
	}
	s.log.Warn().Str("event.action", name).Msg("socket.io link: unknown command refused")
	ack([]any{link.Failed(problem.New(http.StatusNotFound, "unknown_command",
		"this command is not supported by the chat service's version"))}, nil)
}

// Close refuses new commands, finishes the queued ones and closes each link
// once their acks are written (until ctx ends; then it closes what is
// left). The library's own Close would discard acks still buffered: a
// command stored whose gateway never hears it.
func (s *Server) Close(ctx context.Context) {
	s.workers.close(ctx)
	deadline, ok := ctx.Deadline()
	if !ok {
		deadline = time.Now().Add(s.timeout)
	}
	if left := siodrain.CloseWritten(s.io, func(sock *socket.Socket) *siodrain.Outbox {
		o, _ := sock.Data().(*siodrain.Outbox)
		return o
	}, deadline); left > 0 {
		s.log.Warn().Int("links", left).Msg("stopping with acks not yet written to some links")
	}
	s.io.Close(nil)
}
