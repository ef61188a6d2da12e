package realtime

import (
	"context"
	"crypto/ed25519"
	"net/http"
	"net/http/httptest"
	"os"
	"sync"
	"testing"
	"time"

	"github.com/gin-gonic/gin"
	"github.com/rs/zerolog"
	client "github.com/zishang520/socket.io/clients/socket/v3"
	"github.com/zishang520/socket.io/v3/pkg/types"

	"github.com/parleychat/parley/gateway/internal/revocation"
	"github.com/parleychat/parley/gateway/internal/session"
	"github.com/parleychat/parley/shared/events"
	"github.com/parleychat/parley/shared/token"
)

// TestMain puts Gin (the origin check's engine) in release mode, as
// cmd/gateway does: mode is process-wide state, set once by the program.
func TestMain(m *testing.M) {
	gin.SetMode(gin.ReleaseMode)
	os.Exit(m.Run())
}

// sent is one command the fake chat link received.
type sent struct {
	event   string
	payload map[string]any
}

// fakeLink stands in for chat-service's end of the link: it records
// commands and answers with reply (nil: never answers).
type fakeLink struct {
	mu    sync.Mutex
	log   []sent
	reply func(event string, payload map[string]any) []any
	calls chan sent
}

func newFakeLink() *fakeLink { return &fakeLink{calls: make(chan sent, 100)} }

func (f *fakeLink) Send(_, event string, payload map[string]any, timeout time.Duration, reply func([]any)) {
	f.mu.Lock()
	f.log = append(f.log, sent{event, payload})
	answer := f.reply
	f.mu.Unlock()
	f.calls <- sent{event, payload}
	if reply == nil {
		return
	}
	if answer == nil {
		time.AfterFunc(timeout, func() { reply(errorAck(504, "gateway_timeout", "")) })
		return
	}
	reply(answer(event, payload))
}

func (f *fakeLink) sentEvents() []sent {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]sent(nil), f.log...)
}

// rig is a Socket.IO server with real session keys behind an HTTP server.
type rig struct {
	t          *testing.T
	srv        *Server
	http       *httptest.Server
	link       *fakeLink
	store      *revocation.Store
	authSigner *token.Signer
	chatVer    *token.Verifier
}

func newRig(t *testing.T, o Options) *rig {
	t.Helper()
	_, authPriv, _ := ed25519.GenerateKey(nil)
	_, gwPriv, _ := ed25519.GenerateKey(nil)
	authSigner, _ := token.NewSigner(authPriv, token.IssuerAuth)
	gwSigner, _ := token.NewSigner(gwPriv, token.IssuerGateway)
	sessKeys, _ := token.NewKeySet(authPriv.Public().(ed25519.PublicKey))
	intKeys, _ := token.NewKeySet(gwPriv.Public().(ed25519.PublicKey))
	sv, err := token.NewVerifier(sessKeys, token.IssuerAuth, token.AudienceGateway)
	if err != nil {
		t.Fatal(err)
	}
	cv, err := token.NewVerifier(intKeys, token.IssuerGateway, token.AudienceChat)
	if err != nil {
		t.Fatal(err)
	}
	store := revocation.NewStore(nil)
	store.MarkLoaded()
	link := newFakeLink()
	if o.AllowedOrigins == nil {
		o.AllowedOrigins = []string{"https://app.parley.test"}
	}
	s := New(session.NewAuthenticator(sv, store), link, session.NewMinter(gwSigner), zerolog.Nop(), o)
	store.Subscribe(s.Revoke)
	mux := http.NewServeMux()
	mux.Handle("/socket.io/", s.Handler())
	hs := httptest.NewServer(mux)
	t.Cleanup(func() { s.Close(); hs.Close() })
	return &rig{t: t, srv: s, http: hs, link: link, store: store, authSigner: authSigner, chatVer: cv}
}

func (r *rig) sessionToken(userID, sid string) string {
	r.t.Helper()
	raw, err := r.authSigner.Session(userID, sid, token.SessionTTL)
	if err != nil {
		r.t.Fatal(err)
	}
	return raw
}

// dial connects a Go Socket.IO client with the given headers and waits for
// connect or connect_error. It returns the socket and the error, if any.
//
// The Go client has a start-up race (its Manager subscribes to the engine's
// "open" after the engine may already have opened on a fast loopback), which
// shows up as a connect "timeout" with nothing refused; such attempts are
// retried. A refusal is a connect_error with another reason and is returned.
func (r *rig) dial(headers http.Header, transport string) (*client.Socket, error) {
	r.t.Helper()
	var err error
	for range 4 {
		var sock *client.Socket
		if sock, err = r.dialOnce(headers, transport, 2*time.Second); err == nil || err.Error() != "connect_error: timeout" {
			return sock, err
		}
	}
	return nil, err
}

func (r *rig) dialOnce(headers http.Header, transport string, timeout time.Duration) (*client.Socket, error) {
	r.t.Helper()
	opts := client.DefaultOptions()
	opts.SetForceNew(true)
	opts.SetReconnection(false)
	opts.SetTimeout(timeout)
	if transport == "websocket" {
		opts.SetTransports(types.NewSet(client.WebSocket))
	} else {
		opts.SetTransports(types.NewSet(client.Polling))
	}
	opts.SetExtraHeaders(headers)
	// The library connects on its own (SetAutoConnect(false) + Connect()
	// can send CONNECT twice, which the server answers by closing), so
	// "connect" may fire before the handler exists: Connected() is checked
	// after registering. A refusal missed the same way shows up as the
	// timeout below.
	sock, err := client.Connect(r.http.URL, opts)
	if err != nil {
		return nil, err
	}
	r.t.Cleanup(func() { sock.Disconnect() })
	done := make(chan error, 2)
	sock.On("connect", func(...any) { done <- nil })
	sock.On("connect_error", func(args ...any) { done <- connectError(args) })
	if sock.Connected() {
		done <- nil
	}
	select {
	case err := <-done:
		if err != nil {
			sock.Disconnect()
		}
		return sock, err
	case <-time.After(2 * timeout):
		sock.Disconnect()
		return nil, errConnect{msg: "timeout"}
	}
}

// errConnect is a refused connection; code is the server's data.code and
// data the whole of it.
type errConnect struct {
	msg, code string
	data      map[string]any
}

func (e errConnect) Error() string { return "connect_error: " + e.msg }

func connectError(args []any) errConnect {
	e := errConnect{msg: describe(args)}
	for _, a := range args {
		if x, ok := a.(*types.ExtendedError); ok {
			if m, ok := x.Data.(map[string]any); ok {
				e.code, _ = m["code"].(string)
				e.data = m
			}
		}
	}
	return e
}

func cookie(raw string) http.Header {
	return http.Header{"Cookie": {session.CookieName + "=" + raw}}
}

// waitFor polls cond until it holds or the deadline passes.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// delivery builds a chat event for recipients.
func delivery(t *testing.T, typ string, recipients []string, payload string) events.Envelope {
	t.Helper()
	env, err := events.New(context.Background(), "chat-service", typ, 1, events.Delivery{
		ConversationID: "c1", EventSeq: 1, Recipients: recipients, Payload: []byte(payload),
	})
	if err != nil {
		t.Fatal(err)
	}
	return env
}
