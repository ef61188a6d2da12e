package harness

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"sync"
	"testing"
	"time"

	"github.com/parleychat/parley/shared/sioclient"
)

// SessionCookie is the name of the gateway's session cookie.
const SessionCookie = "parley_session"

// Session returns the value of the client's session cookie ("" when it has
// none).
func (c *Client) Session() string {
	u, err := url.Parse(c.Base + "/")
	if err != nil {
		return ""
	}
	for _, ck := range c.Jar.Cookies(u) {
		if ck.Name == SessionCookie {
			return ck.Value
		}
	}
	return ""
}

// SocketHeader is what a browser tab of this client sends at a Socket.IO
// handshake: the session cookie and the gateway's own Origin.
func (c *Client) SocketHeader() http.Header {
	return http.Header{"Cookie": {SessionCookie + "=" + c.Session()}, "Origin": {c.Base}}
}

// Connect opens a Socket.IO connection (WebSocket) to the client's gateway
// with its session cookie, failing the test when it is refused.
func (c *Client) Connect() *Socket {
	c.t.Helper()
	s, err := DialSocket(c.t, c.Base, SocketOptions{Header: c.SocketHeader()})
	if err != nil {
		c.t.Fatalf("socket for %s on %s: %v", c.Login, c.Base, err)
	}
	return s
}

// SocketOptions shapes one client connection.
type SocketOptions struct {
	// Header is sent with the WebSocket upgrade (Cookie, Origin).
	Header http.Header
	// OnEvent, when set, sees every server event as it arrives, on the
	// client's reader goroutine (keep it short).
	OnEvent func(SocketEvent)
	// Discard keeps events from being recorded (long benchmarks).
	Discard bool
}

// SocketEvent is one event the server emitted to this client.
type SocketEvent struct {
	Name string
	Data json.RawMessage
	At   time.Time
}

// Decode unmarshals the event's payload into v.
func (e SocketEvent) Decode(t testing.TB, v any) {
	t.Helper()
	if err := json.Unmarshal(e.Data, v); err != nil {
		t.Fatalf("decode %s payload %s: %v", e.Name, e.Data, err)
	}
}

// ConnectError is a refused Socket.IO connection: Message is the
// connect_error's message and Code its data.code, when the server gave one.
type ConnectError struct {
	Message string
	Code    string
}

func (e *ConnectError) Error() string {
	if e.Code != "" {
		return fmt.Sprintf("connect_error: %s (code %s)", e.Message, e.Code)
	}
	return "connect_error: " + e.Message
}

// Socket is one Socket.IO client connection to a gateway, over
// shared/sioclient (WebSocket). It records the server's events in arrival
// order.
type Socket struct {
	t    testing.TB
	c    *sioclient.Client
	opts SocketOptions

	mu      sync.Mutex
	events  []SocketEvent
	changed chan struct{} // closed and replaced on every recorded event
	gone    chan struct{} // closed on disconnect
	reason  string        // why it disconnected
}

// DialSocket connects to the gateway at base and returns once the gateway
// has admitted the socket and sioclient.DefaultSettle has passed (the
// server library's window between its CONNECT answer and the namespace
// being joined; the harness cannot see the gateway's side). A refusal by
// the server, at the namespace or at the Engine.IO handshake, is returned
// as a *ConnectError; the socket is closed at the end of the test.
//
// The Socket.IO client library is not used: its start-up races (a socket
// reported connected whose events are never dispatched, abandoned
// attempts, a doubled CONNECT) made tests fail now and then. The official
// JavaScript client covers the polling transport and the upgrade.
func DialSocket(t testing.TB, base string, o SocketOptions) (*Socket, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	s := &Socket{t: t, opts: o, changed: make(chan struct{}), gone: make(chan struct{})}
	c, err := sioclient.Dial(ctx, base, sioclient.Options{Header: o.Header, OnEvent: s.record})
	if err != nil {
		var refused *sioclient.ConnectError
		if errors.As(err, &refused) {
			return nil, &ConnectError{Message: refused.Message, Code: refused.Code}
		}
		return nil, &ConnectError{Message: err.Error()}
	}
	s.c = c
	go s.watch()
	t.Cleanup(s.Close)
	return s, nil
}

// watch records why the connection ended, in the reasons Socket.IO
// clients give, and closes gone.
func (s *Socket) watch() {
	<-s.c.Done()
	reason := "transport close"
	switch err := s.c.Err(); {
	case errors.Is(err, sioclient.ErrServerDisconnect):
		reason = "io server disconnect"
	case errors.Is(err, sioclient.ErrClosed):
		reason = "io client disconnect"
	case errors.Is(err, sioclient.ErrPingTimeout):
		reason = "ping timeout"
	}
	s.mu.Lock()
	s.reason = reason
	s.mu.Unlock()
	close(s.gone)
}

// record keeps one server event: its name and payload (first argument).
func (s *Socket) record(name string, args []json.RawMessage) {
	var data json.RawMessage
	if len(args) > 0 {
		data = args[0]
	}
	ev := SocketEvent{Name: name, Data: data, At: time.Now()}
	if s.opts.OnEvent != nil {
		s.opts.OnEvent(ev)
	}
	if s.opts.Discard {
		return
	}
	s.mu.Lock()
	s.events = append(s.events, ev)
	close(s.changed)
	s.changed = make(chan struct{})
	s.mu.Unlock()
}

// Events returns what the socket received so far, in arrival order.
func (s *Socket) Events() []SocketEvent {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]SocketEvent(nil), s.events...)
}

// Named returns the received events called name, in arrival order.
func (s *Socket) Named(name string) []SocketEvent {
	var out []SocketEvent
	for _, e := range s.Events() {
		if e.Name == name {
			out = append(out, e)
		}
	}
	return out
}

// WaitUntil waits up to d for cond to hold over the received events and
// fails the test otherwise.
func (s *Socket) WaitUntil(d time.Duration, what string, cond func([]SocketEvent) bool) {
	s.t.Helper()
	deadline := time.NewTimer(d)
	defer deadline.Stop()
	for {
		s.mu.Lock()
		evs, changed := append([]SocketEvent(nil), s.events...), s.changed
		s.mu.Unlock()
		if cond(evs) {
			return
		}
		select {
		case <-changed:
		case <-deadline.C:
			s.t.Fatalf("%s: not within %s; the socket got %d events: %s", what, d, len(evs), summarize(evs))
		}
	}
}

func summarize(evs []SocketEvent) string {
	out := ""
	for i, e := range evs {
		if i == 30 {
			return out + " …"
		}
		out += fmt.Sprintf("\n  %s %s", e.Name, e.Data)
	}
	return out
}

// Connected reports whether the socket is connected.
func (s *Socket) Connected() bool { return s.c.Alive() }

// Gone is closed when the socket has been disconnected (by either side).
func (s *Socket) Gone() <-chan struct{} { return s.gone }

// DisconnectReason is why the socket was disconnected, as Socket.IO
// clients name it ("io server disconnect", "io client disconnect", "ping
// timeout", "transport close"); "" while connected.
func (s *Socket) DisconnectReason() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.reason
}

// Close disconnects the socket and waits until it is closed; calling it
// again does nothing.
func (s *Socket) Close() { _ = s.c.Close() }

// ID is the Socket.IO id of the connection (for logs).
func (s *Socket) ID() string { return s.c.ID() }
