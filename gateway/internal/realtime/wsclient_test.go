package realtime

import (
	"context"
	"encoding/json"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/coder/websocket"
)

// wsClient is a receive-only Socket.IO client for the delivery tests,
// speaking Engine.IO v4 / Socket.IO v5 directly over a WebSocket. The Go
// Socket.IO client library (v3.0.6) now and then reports a socket connected
// whose events it never dispatches, or leaves the server end of an attempt
// it gave up on; delivery tests need a client that loses nothing. It sends
// nothing after CONNECT but pongs, so it cannot hit the server library's
// window between answering CONNECT and recording the namespace.
type wsClient struct {
	sid  string
	ws   *websocket.Conn
	done chan struct{}

	mu     sync.Mutex
	events map[string][]json.RawMessage // event name → first arguments
}

// wsConnect opens a socket on r's server with the session token raw as its
// cookie, and waits until the server has registered it.
func (r *rig) wsConnect(t *testing.T, userID, raw string) *wsClient {
	t.Helper()
	ws, sid := r.wsHandshake(t, userID, raw)
	c := &wsClient{sid: sid, ws: ws, done: make(chan struct{}), events: map[string][]json.RawMessage{}}
	go c.read()
	t.Cleanup(func() { _ = ws.CloseNow(); <-c.done })
	return c
}

// wsHandshake opens a WebSocket with the session token raw as its cookie,
// connects the main namespace and waits until the server has registered
// the socket; then nothing reads the connection.
func (r *rig) wsHandshake(t *testing.T, userID, raw string) (*websocket.Conn, string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	url := "ws" + strings.TrimPrefix(r.http.URL, "http") + "/socket.io/?EIO=4&transport=websocket"
	ws, _, err := websocket.Dial(ctx, url, &websocket.DialOptions{HTTPHeader: cookie(raw)})
	if err != nil {
		t.Fatalf("dial: %v", err)
	}
	t.Cleanup(func() { _ = ws.CloseNow() })
	ws.SetReadLimit(1 << 20)
	read := func() string {
		_, b, err := ws.Read(ctx)
		if err != nil {
			t.Fatalf("read: %v", err)
		}
		return string(b)
	}
	if open := read(); !strings.HasPrefix(open, "0{") {
		t.Fatalf("first frame %q, want the open packet", open)
	}
	if err := ws.Write(ctx, websocket.MessageText, []byte("40")); err != nil {
		t.Fatalf("send CONNECT: %v", err)
	}
	answer := read()
	// A server with a short ping interval may ping before it answers.
	for answer == "2" {
		if err := ws.Write(ctx, websocket.MessageText, []byte("3")); err != nil {
			t.Fatalf("send pong: %v", err)
		}
		answer = read()
	}
	var ok struct{ Sid string }
	if !strings.HasPrefix(answer, "40{") || json.Unmarshal([]byte(answer[2:]), &ok) != nil || ok.Sid == "" {
		t.Fatalf("CONNECT answered %q, want 40{sid}", answer)
	}
	waitFor(t, "registration of socket "+ok.Sid, func() bool {
		for _, e := range r.srv.registry.sockets(userID) {
			if string(e.sock.Id()) == ok.Sid {
				return true
			}
		}
		return false
	})
	return ws, ok.Sid
}

// read records events until the connection ends, answering pings.
func (c *wsClient) read() {
	defer close(c.done)
	for {
		_, b, err := c.ws.Read(context.Background())
		if err != nil {
			return
		}
		switch f := string(b); {
		case f == "2":
			_ = c.ws.Write(context.Background(), websocket.MessageText, []byte("3"))
		case strings.HasPrefix(f, "42["):
			var args []json.RawMessage
			var name string
			if json.Unmarshal(b[2:], &args) != nil || len(args) < 2 || json.Unmarshal(args[0], &name) != nil {
				continue
			}
			c.mu.Lock()
			c.events[name] = append(c.events[name], args[1])
			c.mu.Unlock()
		}
	}
}

// count returns how many name events arrived.
func (c *wsClient) count(name string) int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.events[name])
}

// payloads returns the first argument of every name event, decoded.
func (c *wsClient) payloads(name string) []map[string]any {
	c.mu.Lock()
	defer c.mu.Unlock()
	out := make([]map[string]any, 0, len(c.events[name]))
	for _, raw := range c.events[name] {
		var m map[string]any
		_ = json.Unmarshal(raw, &m)
		out = append(out, m)
	}
	return out
}
