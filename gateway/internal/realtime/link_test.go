package realtime

import (
	"context"
	"crypto/ed25519"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/rs/zerolog"
	"github.com/zishang520/socket.io/servers/socket/v3"

	"github.com/parleychat/parley/gateway/internal/session"
	"github.com/parleychat/parley/shared/link"
	"github.com/parleychat/parley/shared/token"
)

// fakeChat is a Socket.IO server (the library chat-service serves the link
// with) playing chat-service's end of the link: it accepts only an internal
// token for aud chat-service from the gateway, presented both as the
// upgrade's bearer Authorization and as auth.token.
type fakeChat struct {
	io      *socket.Server
	http    *httptest.Server
	mu      sync.Mutex
	tokens  []string
	sockets []*socket.Socket
}

func newFakeChat(t *testing.T, keys *token.KeySet) *fakeChat {
	t.Helper()
	v, err := token.NewVerifier(keys, token.IssuerGateway, token.AudienceChat)
	if err != nil {
		t.Fatal(err)
	}
	f := &fakeChat{io: socket.NewServer(nil, nil)}
	f.io.Use(func(s *socket.Socket, next func(*socket.ExtendedError)) {
		raw, _ := s.Handshake().Auth["token"].(string)
		bearer := strings.TrimPrefix(s.Request().Request().Header.Get("Authorization"), "Bearer ")
		c, err := v.Verify(raw)
		if err != nil || c.Subject != session.GatewaySubject || bearer != raw {
			next(socket.NewExtendedError("unauthorized", map[string]any{"code": "unauthorized"}))
			return
		}
		f.mu.Lock()
		f.tokens = append(f.tokens, raw)
		f.mu.Unlock()
		next(nil)
	})
	f.io.On("connection", func(args ...any) {
		s := args[0].(*socket.Socket)
		f.mu.Lock()
		f.sockets = append(f.sockets, s)
		f.mu.Unlock()
		s.On("message:send", func(args ...any) {
			ack, data := splitAck(args)
			if ack != nil {
				ack([]any{map[string]any{"ok": true, "echo": data}}, nil)
			}
		})
		s.On("sync", func(...any) {}) // never answers
	})
	mux := http.NewServeMux()
	mux.Handle("/socket.io/", f.io.ServeHandler(nil))
	f.http = httptest.NewServer(mux)
	t.Cleanup(func() { f.io.Close(nil); f.http.Close() })
	return f
}

func (f *fakeChat) handshakes() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]string(nil), f.tokens...)
}

func (f *fakeChat) kickAll() {
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, s := range f.sockets {
		s.Disconnect(true)
	}
	f.sockets = nil
}

func sendSync(l *Link, event string, payload map[string]any, timeout time.Duration) []any {
	got := make(chan []any, 1)
	l.Send("user-a", event, payload, timeout, func(res []any) { got <- res })
	return <-got
}

func errCode(res []any) string {
	e, _ := ackObject(res)["error"].(map[string]any)
	c, _ := e["code"].(string)
	return c
}

// ackObject is the first argument of an ack as a JSON object: chat-service's
// acks are passed on as JSON, the gateway's own are maps.
func ackObject(res []any) map[string]any {
	if len(res) == 0 {
		return nil
	}
	switch v := res[0].(type) {
	case map[string]any:
		return v
	case json.RawMessage:
		var m map[string]any
		_ = json.Unmarshal(v, &m)
		return m
	}
	return nil
}

// linkRig is a Link to a fakeChat, running until the test ends.
func linkRig(t *testing.T) (*Link, *fakeChat, context.Context) {
	t.Helper()
	_, priv, _ := ed25519.GenerateKey(nil)
	signer, _ := token.NewSigner(priv, token.IssuerGateway)
	keys, _ := token.NewKeySet(priv.Public().(ed25519.PublicKey))
	chat := newFakeChat(t, keys)
	l, err := NewLink([]string{chat.http.URL}, session.NewMinter(signer), zerolog.Nop())
	if err != nil {
		t.Fatal(err)
	}
	return l, chat, context.Background()
}

func runLink(t *testing.T, l *Link) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { l.Run(ctx); close(done) }()
	t.Cleanup(func() { cancel(); <-done })
	waitFor(t, "the link to connect", func() bool { return l.Check(ctx) == nil })
}

func TestLink(t *testing.T) {
	l, chat, ctx := linkRig(t)
	if got := errCode(sendSync(l, "message:send", map[string]any{}, time.Second)); got != "link_unavailable" {
		t.Fatalf("before connecting: ack code %q, want link_unavailable", got)
	}
	if l.Check(ctx) == nil {
		t.Error("Check is nil before the link ever connected")
	}
	runLink(t, l)

	payload := map[string]any{"token": "user-token", "traceparent": "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01", "data": map[string]any{"body": "hi"}}
	res := sendSync(l, "message:send", payload, 5*time.Second)
	if _, raw := res[0].(json.RawMessage); !raw {
		t.Errorf("ack argument is %T, want chat-service's JSON passed on untouched", res[0])
	}
	m := ackObject(res)
	if m["ok"] != true {
		t.Fatalf("ack %v, want chat-service's ok:true", res)
	}
	// What chat-service received is exactly the link contract's envelope.
	raw, _ := json.Marshal(m["echo"])
	var env link.Envelope
	if err := json.Unmarshal(raw, &env); err != nil || env.Token != "user-token" || env.Traceparent != payload["traceparent"] || string(env.Data) != `{"body":"hi"}` {
		t.Errorf("chat-service received %s (%v), want the envelope of the command", raw, err)
	}
	if got := errCode(sendSync(l, "sync", map[string]any{}, 200*time.Millisecond)); got != "gateway_timeout" {
		t.Errorf("unanswered command: ack code %q, want gateway_timeout", got)
	}

	// chat-service drops the link: the gateway reconnects, presenting an
	// internal token the fake verifies again (the same string within the
	// minter's 5 s reuse window, still valid for at least 25 s).
	chat.kickAll()
	waitFor(t, "a second accepted handshake", func() bool { return len(chat.handshakes()) >= 2 && l.Check(ctx) == nil })
	if res := sendSync(l, "message:send", map[string]any{}, 5*time.Second); errCode(res) != "" {
		t.Errorf("after reconnect: ack %v, want success", res)
	}
}

// TestLinkFailsPendingAtOnce drops the link with a command in flight: the
// command is answered link_unavailable at once, not at its timeout.
func TestLinkFailsPendingAtOnce(t *testing.T) {
	l, chat, _ := linkRig(t)
	runLink(t, l)
	got := make(chan []any, 1)
	l.Send("user-a", "sync", map[string]any{}, 30*time.Second, func(res []any) { got <- res })
	time.Sleep(100 * time.Millisecond) // the command reaches chat-service
	kicked := time.Now()
	chat.kickAll()
	select {
	case res := <-got:
		if code := errCode(res); code != "link_unavailable" {
			t.Errorf("ack code %q, want link_unavailable", code)
		}
		if took := time.Since(kicked); took > time.Second {
			t.Errorf("answered %s after the drop, want at once", took)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the command in flight was not answered 10 s after the link dropped")
	}
}

// describe renders the arguments of a Go client's connect_error or
// disconnect event, for the tests' messages.
func describe(args []any) string {
	for _, a := range args {
		switch v := a.(type) {
		case string:
			return v
		case error:
			return v.Error()
		}
	}
	return "unknown"
}

// envelope writes exactly what encoding a link.Envelope writes.
func TestEnvelopeEncodesTheLinkContract(t *testing.T) {
	for _, data := range []any{
		map[string]any{"body": "hi <b>&\u2028", "conversationId": "c1"},
		nil, "text", []any{1.5, true},
	} {
		payload := map[string]any{"token": "a.b-c_d", "traceparent": "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01", "data": data}
		got, err := envelope(payload)
		if err != nil {
			t.Fatal(err)
		}
		raw, _ := json.Marshal(data)
		want, _ := json.Marshal(link.Envelope{Token: "a.b-c_d", Traceparent: payload["traceparent"].(string), Data: raw})
		if string(got) != string(want) {
			t.Errorf("envelope = %s, want %s", got, want)
		}
	}
}
