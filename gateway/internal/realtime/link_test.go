package realtime

import (
	"context"
	"crypto/ed25519"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/rs/zerolog"
	"github.com/zishang520/socket.io/servers/socket/v3"

	"github.com/parleychat/parley/gateway/internal/session"
	"github.com/parleychat/parley/shared/token"
)

// fakeChat is a Socket.IO server playing chat-service's end of the link: it
// accepts only an internal token for aud chat-service from the gateway.
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
		auth := s.Handshake().Auth
		raw, _ := auth["token"].(string)
		c, err := v.Verify(raw)
		if err != nil || c.Subject != session.GatewaySubject {
			next(socket.NewExtendedError("unauthorized", nil))
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
	l.Send(event, payload, timeout, func(res []any) { got <- res })
	return <-got
}

func errCode(res []any) string {
	if len(res) == 0 {
		return ""
	}
	m, _ := res[0].(map[string]any)
	e, _ := m["error"].(map[string]any)
	c, _ := e["code"].(string)
	return c
}

func TestLink(t *testing.T) {
	_, priv, _ := ed25519.GenerateKey(nil)
	signer, _ := token.NewSigner(priv, token.IssuerGateway)
	keys, _ := token.NewKeySet(priv.Public().(ed25519.PublicKey))
	chat := newFakeChat(t, keys)
	link := NewLink(chat.http.URL, session.NewMinter(signer), zerolog.Nop())

	if got := errCode(sendSync(link, "message:send", map[string]any{}, time.Second)); got != "unavailable" {
		t.Fatalf("before connecting: ack code %q, want unavailable", got)
	}

	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { link.Run(ctx); close(done) }()
	t.Cleanup(func() { cancel(); <-done })
	waitFor(t, "the link to connect", func() bool { return link.Check(ctx) == nil })

	res := sendSync(link, "message:send", map[string]any{"data": map[string]any{"body": "hi"}}, 5*time.Second)
	m, _ := res[0].(map[string]any)
	if m["ok"] != true {
		t.Fatalf("ack %v, want chat-service's ok:true", res)
	}
	if got := errCode(sendSync(link, "sync", map[string]any{}, 200*time.Millisecond)); got != "gateway_timeout" {
		t.Errorf("unanswered command: ack code %q, want gateway_timeout", got)
	}

	// chat-service drops the link: the gateway reconnects with a new token.
	chat.kickAll()
	waitFor(t, "a second handshake", func() bool { return len(chat.handshakes()) >= 2 && link.Check(ctx) == nil })
	if h := chat.handshakes(); h[0] == h[1] {
		t.Error("the reconnect reused the first internal token")
	}
	if res := sendSync(link, "message:send", map[string]any{}, 5*time.Second); errCode(res) != "" {
		t.Errorf("after reconnect: ack %v, want success", res)
	}
}
