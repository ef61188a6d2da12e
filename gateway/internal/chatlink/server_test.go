package chatlink

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/rs/zerolog"
	"github.com/zishang520/socket.io/servers/socket/v3"
)

// chatServer is chat-service's end of the link served by the Socket.IO
// server library chat-service uses, on a fixed address so it can be
// stopped and started again like a restarted chat-service. It admits a
// link whose CONNECT auth.token and upgrade Authorization both carry a
// token it accepts (valid), answers message:send with {ok:true, echo} and
// never answers sync.
type chatServer struct {
	t     *testing.T
	addr  string
	valid func(string) bool
	ping  time.Duration

	mu      sync.Mutex
	io      *socket.Server
	srv     *http.Server
	sockets []*socket.Socket
	// received holds the arguments of every message:send, in arrival order.
	received []any
	admits   atomic.Int64
	refused  atomic.Int64
}

func newChatServer(t *testing.T, valid func(string) bool) *chatServer {
	t.Helper()
	ln := listen(t)
	c := &chatServer{t: t, addr: ln.Addr().String(), valid: valid}
	c.serve(ln)
	t.Cleanup(c.stop)
	return c
}

// listen opens a loopback listener on a free port.
func listen(t *testing.T) net.Listener {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	return ln
}

// url is the base URL the link is given.
func (c *chatServer) url() string { return "http://" + c.addr }

func (c *chatServer) serve(ln net.Listener) {
	opts := socket.DefaultServerOptions()
	if c.ping > 0 {
		opts.SetPingInterval(c.ping)
		opts.SetPingTimeout(c.ping)
	}
	io := socket.NewServer(nil, opts)
	io.Use(func(s *socket.Socket, next func(*socket.ExtendedError)) {
		raw, _ := s.Handshake().Auth["token"].(string)
		bearer := strings.TrimPrefix(s.Request().Request().Header.Get("Authorization"), "Bearer ")
		if !c.valid(raw) || bearer != raw {
			c.refused.Add(1)
			next(socket.NewExtendedError("unauthorized", map[string]any{"code": "unauthorized"}))
			return
		}
		c.admits.Add(1)
		next(nil)
	})
	io.On("connection", func(args ...any) {
		s := args[0].(*socket.Socket)
		c.mu.Lock()
		c.sockets = append(c.sockets, s)
		c.mu.Unlock()
		s.On("message:send", func(args ...any) {
			c.mu.Lock()
			c.received = append(c.received, args[0])
			c.mu.Unlock()
			if ack, ok := args[len(args)-1].(socket.Ack); ok {
				ack([]any{map[string]any{"ok": true, "echo": args[0]}}, nil)
			}
		})
		s.On("typing", func(...any) {})
		s.On("sync", func(...any) {})
	})
	mux := http.NewServeMux()
	mux.Handle("/socket.io/", io.ServeHandler(nil))
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second}
	go func() { _ = srv.Serve(ln) }()
	c.mu.Lock()
	c.io, c.srv = io, srv
	c.mu.Unlock()
}

// stop ends the server like a chat-service that exits: sockets closed,
// listener gone.
func (c *chatServer) stop() {
	c.mu.Lock()
	io, srv := c.io, c.srv
	c.io, c.srv, c.sockets = nil, nil, nil
	c.mu.Unlock()
	if io == nil {
		return
	}
	io.Close(nil)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	_ = srv.Shutdown(ctx)
	_ = srv.Close()
}

// start serves again on the same address.
func (c *chatServer) start() {
	c.t.Helper()
	var ln net.Listener
	var err error
	for range 50 { // the old listener's port may linger for a moment
		if ln, err = net.Listen("tcp", c.addr); err == nil {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	if err != nil {
		c.t.Fatalf("listen again on %s: %v", c.addr, err)
	}
	c.serve(ln)
}

// messages returns the arguments of the message:send commands received.
func (c *chatServer) messages() []any {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]any(nil), c.received...)
}

// kickAll disconnects every link socket from the server side.
func (c *chatServer) kickAll() {
	c.mu.Lock()
	socks := c.sockets
	c.sockets = nil
	c.mu.Unlock()
	for _, s := range socks {
		s.Disconnect(true)
	}
}

// tokens returns a token source whose tokens chatServer.valid accepts
// (they start with "tok-"), numbered so each attempt's is new.
func tokens() func() (string, error) {
	var n atomic.Int64
	return func() (string, error) { return fmt.Sprintf("tok-%d", n.Add(1)), nil }
}

func validToken(s string) bool { return strings.HasPrefix(s, "tok-") }

// newTestPool returns a pool for urls with the tests' token source.
func newTestPool(t *testing.T, urls ...string) *Pool {
	t.Helper()
	p, err := New(Options{URLs: urls, Token: tokens(), Log: zerolog.New(zerolog.NewTestWriter(t)).Level(zerolog.WarnLevel)})
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// runPool runs p until the test ends.
func runPool(t *testing.T, p *Pool) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { p.Run(ctx); close(done) }()
	t.Cleanup(func() { cancel(); <-done })
}

// result is a command's answer.
type result struct {
	args json.RawMessage
	err  error
}

// request sends a command and waits for its answer.
func request(p *Pool, key, event string, arg string, timeout time.Duration) result {
	got := make(chan result, 1)
	p.Send(key, event, json.RawMessage(arg), timeout, func(args json.RawMessage, err error) { got <- result{args, err} })
	return <-got
}

// waitUntil polls cond until it holds or d passes.
func waitUntil(t *testing.T, what string, d time.Duration, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %s waiting for %s", d, what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}
