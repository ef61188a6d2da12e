package harness

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"sync"
	"testing"
	"time"

	client "github.com/zishang520/socket.io/clients/socket/v3"
	"github.com/zishang520/socket.io/v3/pkg/types"
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
	// Header is sent with every Engine.IO request (Cookie, Origin).
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

// errConnectTimeout marks an attempt that neither connected nor was refused.
var errConnectTimeout = errors.New("no connect or connect_error in time")

// Socket is one Socket.IO client connection to a gateway. It records the
// server's events in arrival order.
type Socket struct {
	t    testing.TB
	sock *client.Socket
	opts SocketOptions

	mu      sync.Mutex
	events  []SocketEvent
	changed chan struct{} // closed and replaced on every recorded event
	gone    chan struct{} // closed on disconnect
	goneOne sync.Once
	reason  string // why it disconnected
}

// DialSocket connects to the gateway at base. A refusal by the server is
// returned as a *ConnectError.
//
// The Go client (v3.0.6) has three start-up races on a fast loopback, all
// sidestepped here:
//   - its Manager subscribes to the engine's "open" after starting the
//     engine, so an attempt can hang (retried after attemptTimeout);
//   - Socket.Connect sends the namespace CONNECT both from the manager's
//     "open" event and from its own "already open?" check, and the server
//     closes a connection that sends two; so the manager is opened first
//     and the socket connected once it is open, leaving one path;
//   - Manager.Open arms its connect timer and registers the timer's
//     cancellation only after subscribing to "open": when the engine opens
//     in between, the timer stays armed and, when it fires, tears down the
//     manager's subscriptions and closes the engine while the socket still
//     reports Connected() — it silently stops sending and receiving. So the
//     library's timer is set far beyond any test (managerTimeout) and the
//     attempt is bounded here instead.
func DialSocket(t testing.TB, base string, o SocketOptions) (*Socket, error) {
	t.Helper()
	var err error
	for range 5 {
		var s *Socket
		if s, err = dialOnce(t, base, o); !errors.Is(err, errConnectTimeout) {
			return s, err
		}
	}
	return nil, err
}

// attemptTimeout bounds one connection attempt; managerTimeout is the
// library's own connect timer, which must never fire (see DialSocket).
const (
	attemptTimeout = 3 * time.Second
	managerTimeout = 24 * time.Hour
)

func dialOnce(t testing.TB, base string, o SocketOptions) (*Socket, error) {
	t.Helper()
	opts := client.DefaultOptions()
	opts.SetForceNew(true)
	opts.SetReconnection(false)
	opts.SetTimeout(managerTimeout)
	// WebSocket only: the Go client's long-polling transport and its
	// upgrade to WebSocket lose packets in this version (the CONNECT
	// answer never arrives, or what is sent during a failed probe is
	// stuck); the official JavaScript client covers those transports.
	opts.SetTransports(types.NewSet(client.WebSocket))
	if o.Header != nil {
		opts.SetExtraHeaders(o.Header)
	}
	opts.SetAutoConnect(false)
	manager := client.NewManager(base, opts)
	opened := make(chan error, 1)
	manager.Open(func(err error) { opened <- err })
	sock := manager.Socket("/", opts)
	var err error
	select {
	case err = <-opened:
	case <-time.After(attemptTimeout):
		err = errConnectTimeout
	}
	if err != nil {
		sock.Disconnect() // closes the manager (its only socket is gone) and cancels its timer
		if errors.Is(err, errConnectTimeout) {
			return nil, err
		}
		return nil, &ConnectError{Message: err.Error()}
	}

	s := &Socket{t: t, sock: sock, opts: o, changed: make(chan struct{}), gone: make(chan struct{})}
	result := make(chan error, 3)
	sock.OnAny(s.record)
	_ = sock.On("connect", func(...any) { result <- nil })
	_ = sock.On("connect_error", func(args ...any) { result <- connectError(args) })
	_ = sock.On("disconnect", func(args ...any) {
		s.goneOne.Do(func() {
			s.mu.Lock()
			s.reason = fmt.Sprint(args...)
			s.mu.Unlock()
			close(s.gone)
		})
	})
	sock.Connect()
	select {
	case err = <-result:
	case <-time.After(attemptTimeout):
		err = errConnectTimeout
	}
	if err != nil {
		sock.Disconnect()
		return nil, err
	}
	t.Cleanup(s.Close)
	return s, nil
}

func connectError(args []any) error {
	e := &ConnectError{Message: fmt.Sprint(args...)}
	for _, a := range args {
		switch x := a.(type) {
		case *types.ExtendedError:
			e.Message = x.Error()
			if m, ok := x.Data.(map[string]any); ok {
				e.Code, _ = m["code"].(string)
			}
		case error:
			e.Message = x.Error()
		}
	}
	if e.Message == "timeout" {
		return errConnectTimeout
	}
	return e
}

// record keeps one server event; args are the event name and its payload.
func (s *Socket) record(args ...any) {
	if len(args) == 0 {
		return
	}
	name, _ := args[0].(string)
	var data json.RawMessage
	if len(args) > 1 {
		data, _ = json.Marshal(args[1])
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
func (s *Socket) Connected() bool { return s.sock.Connected() }

// Gone is closed when the socket has been disconnected (by either side).
func (s *Socket) Gone() <-chan struct{} { return s.gone }

// DisconnectReason is the reason the client library gave for the
// disconnect ("" while connected).
func (s *Socket) DisconnectReason() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.reason
}

// Close disconnects the socket; calling it again does nothing.
func (s *Socket) Close() { s.sock.Disconnect() }

// ID is the Socket.IO id of the connection (for logs).
func (s *Socket) ID() string { return s.sock.Id() }
