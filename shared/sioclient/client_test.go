package sioclient

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/coder/websocket"
)

// script is a Socket.IO server written frame by frame: it sends the open
// packet, hands every frame the client sends to its handler, and records
// them.
type script struct {
	t      *testing.T
	srv    *httptest.Server
	header chan http.Header
	mu     sync.Mutex
	got    []string
	closed chan struct{} // closed when the client's connection has gone
}

// newScript serves on answer: given each client frame, it returns the
// frames to send back (nil: none); a returned "" closes the connection.
func newScript(t *testing.T, answer func(frame string) []string) *script {
	s := &script{t: t, header: make(chan http.Header, 1), closed: make(chan struct{})}
	s.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s.header <- r.Header.Clone()
		ws, err := websocket.Accept(w, r, &websocket.AcceptOptions{InsecureSkipVerify: true})
		if err != nil {
			return
		}
		defer close(s.closed)
		defer ws.CloseNow()
		ctx := r.Context()
		open := `0{"sid":"engine-1","upgrades":[],"pingInterval":25000,"pingTimeout":20000,"maxPayload":1000000}`
		if ws.Write(ctx, websocket.MessageText, []byte(open)) != nil {
			return
		}
		for {
			_, b, err := ws.Read(ctx)
			if err != nil {
				return
			}
			s.mu.Lock()
			s.got = append(s.got, string(b))
			s.mu.Unlock()
			for _, f := range answer(string(b)) {
				if f == "" {
					return
				}
				if ws.Write(ctx, websocket.MessageText, []byte(f)) != nil {
					return
				}
			}
		}
	}))
	t.Cleanup(s.srv.Close)
	return s
}

func (s *script) frames() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]string(nil), s.got...)
}

func dialScript(t *testing.T, s *script, o Options) *Client {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	o.Settle = -1
	c, err := Dial(ctx, s.srv.URL, o)
	if err != nil {
		t.Fatalf("Dial: %v", err)
	}
	t.Cleanup(func() { _ = c.Close() })
	return c
}

// TestDialSendsHeadersAndAuth: the upgrade carries the headers, the
// CONNECT carries the auth payload (none when nil), and the socket id is
// the one of the server's answer.
func TestDialSendsHeadersAndAuth(t *testing.T) {
	tests := []struct {
		name        string
		auth        any
		wantConnect string
	}{
		{"with auth", map[string]string{"token": "a.b.c"}, `40{"token":"a.b.c"}`},
		{"without auth", nil, `40`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s := newScript(t, func(f string) []string {
				if f[:2] == "40" {
					return []string{`40{"sid":"sock-1"}`}
				}
				return nil
			})
			c := dialScript(t, s, Options{Header: http.Header{"Cookie": {"parley_session=x"}, "Origin": {"https://app.test"}}, Auth: tc.auth})
			h := <-s.header
			if h.Get("Cookie") != "parley_session=x" || h.Get("Origin") != "https://app.test" {
				t.Errorf("upgrade headers %v, want the Cookie and Origin given", h)
			}
			if got := s.frames(); len(got) != 1 || got[0] != tc.wantConnect {
				t.Errorf("frames %q, want [%s]", got, tc.wantConnect)
			}
			if c.ID() != "sock-1" || c.SID() != "engine-1" {
				t.Errorf("ID %q SID %q, want sock-1 and engine-1", c.ID(), c.SID())
			}
		})
	}
}

// TestConnectErrorIsRefusal: a CONNECT_ERROR comes back as a ConnectError
// with the server's message, code and data.
func TestConnectErrorIsRefusal(t *testing.T) {
	s := newScript(t, func(string) []string {
		return []string{`44{"message":"too_many_sockets","data":{"code":"too_many_sockets","status":429}}`}
	})
	_, err := Dial(context.Background(), s.srv.URL, Options{})
	var ce *ConnectError
	if !errors.As(err, &ce) || ce.Message != "too_many_sockets" || ce.Code != "too_many_sockets" || string(ce.Data) != `{"code":"too_many_sockets","status":429}` {
		t.Fatalf("Dial: %#v, want a ConnectError with message, code and data", err)
	}
}

// TestEventsAcksAndServerDisconnect: server events reach OnEvent in order
// with their arguments, EmitAck gets its ack, Emit sends without an id,
// and a DISCONNECT from the server ends the client with
// ErrServerDisconnect and answers a pending command ErrUnavailable.
func TestEventsAcksAndServerDisconnect(t *testing.T) {
	s := newScript(t, func(f string) []string {
		switch f {
		case "40":
			return []string{`40{"sid":"sock-1"}`}
		case `421["sync",{"n":1}]`:
			return []string{`42["message:new",{"id":"m1"}]`, `42["presence",{"u":"a"},2]`, `431[{"ok":true}]`}
		case `42["typing",{"on":true}]`:
			return nil
		case `422["hang"]`:
			return []string{`41`}
		}
		return []string{""}
	})
	type event struct {
		name string
		args string
	}
	var mu sync.Mutex
	var events []event
	c := dialScript(t, s, Options{OnEvent: func(name string, args []json.RawMessage) {
		raw, _ := json.Marshal(args)
		mu.Lock()
		events = append(events, event{name, string(raw)})
		mu.Unlock()
	}})
	ack, err := c.EmitAck("sync", map[string]int{"n": 1}, 5*time.Second)
	if err != nil || string(ack) != `[{"ok":true}]` {
		t.Fatalf("EmitAck = %s, %v; want [{\"ok\":true}]", ack, err)
	}
	mu.Lock()
	want := []event{{"message:new", `[{"id":"m1"}]`}, {"presence", `[{"u":"a"},2]`}}
	if len(events) != 2 || events[0] != want[0] || events[1] != want[1] {
		t.Errorf("events %v, want %v (in order, before the ack)", events, want)
	}
	mu.Unlock()
	if err := c.Emit("typing", map[string]bool{"on": true}); err != nil {
		t.Fatalf("Emit: %v", err)
	}
	if _, err := c.EmitAck("hang", nil, 5*time.Second); !errors.Is(err, ErrUnavailable) {
		t.Errorf("command pending at the server's disconnect: %v, want ErrUnavailable", err)
	}
	<-c.Done()
	if !errors.Is(c.Err(), ErrServerDisconnect) || c.Alive() {
		t.Errorf("Err = %v, Alive %v; want ErrServerDisconnect, not alive", c.Err(), c.Alive())
	}
	if err := c.Emit("typing", nil); !errors.Is(err, ErrUnavailable) {
		t.Errorf("Emit after the end: %v, want ErrUnavailable", err)
	}
}

// TestCloseLeavesTheNamespace: Close sends a namespace DISCONNECT before it
// closes the WebSocket, ends with ErrClosed, and a second Close does
// nothing.
func TestCloseLeavesTheNamespace(t *testing.T) {
	s := newScript(t, func(f string) []string {
		if f == "40" {
			return []string{`40{"sid":"sock-1"}`}
		}
		return nil
	})
	c := dialScript(t, s, Options{})
	if err := c.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	select {
	case <-s.closed:
	case <-time.After(5 * time.Second):
		t.Fatal("the server still has the connection 5 s after Close")
	}
	if got := s.frames(); len(got) != 2 || got[1] != "41" {
		t.Errorf("frames %q, want CONNECT then 41", got)
	}
	if !errors.Is(c.Err(), ErrClosed) {
		t.Errorf("Err = %v, want ErrClosed", c.Err())
	}
	_ = c.Close()
}

// TestAckTimeout: a command the server never answers gets ErrTimeout.
func TestAckTimeout(t *testing.T) {
	s := newScript(t, func(f string) []string {
		if f == "40" {
			return []string{`40{"sid":"sock-1"}`}
		}
		return nil
	})
	c := dialScript(t, s, Options{})
	start := time.Now()
	if _, err := c.EmitAck("sync", nil, 100*time.Millisecond); !errors.Is(err, ErrTimeout) {
		t.Fatalf("EmitAck = %v, want ErrTimeout", err)
	}
	if took := time.Since(start); took > 2*time.Second {
		t.Errorf("timeout took %s, want about 100ms", took)
	}
}
