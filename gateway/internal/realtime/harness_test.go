package realtime

import (
	"context"
	"crypto/ed25519"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"sync"
	"testing"
	"time"

	"github.com/gin-gonic/gin"
	"github.com/rs/zerolog"

	"github.com/parleychat/parley/gateway/internal/revocation"
	"github.com/parleychat/parley/gateway/internal/session"
	"github.com/parleychat/parley/shared/events"
	"github.com/parleychat/parley/shared/sioclient"
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
	return newRigLog(t, o, zerolog.Nop())
}

// newRigLog is newRig with the server logging to log.
func newRigLog(t *testing.T, o Options, log zerolog.Logger) *rig {
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
	s := New(session.NewAuthenticator(sv, store), link, session.NewMinter(gwSigner), log, o)
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

// dial connects a client with the given headers over transport
// ("websocket" or "polling") and returns once the server has registered
// the socket, or with the refusal: a connect_error as errConnect, a
// refused Engine.IO handshake as another error. Over polling it returns
// no socket: the tests use that transport for admission only.
//
// Waiting for the registration, not only for the CONNECT answer, matters:
// the server library writes that answer before it records the namespace
// as joined, and closes a connection whose next packet arrives in between;
// the application's connection handler, which registers the socket, runs
// after that. It also settles the per-user reservation before a test
// looks at it.
func (r *rig) dial(headers http.Header, transport string) (*testSock, error) {
	r.t.Helper()
	if transport == "polling" {
		return nil, r.dialPolling(headers)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	s := newTestSock()
	c, err := sioclient.Dial(ctx, r.http.URL, sioclient.Options{Header: headers, OnEvent: s.onEvent, Settle: -1})
	var ce *sioclient.ConnectError
	if errors.As(err, &ce) {
		return nil, newErrConnect(ce.Message, ce.Data)
	}
	if err != nil {
		return nil, err
	}
	s.c = c
	go s.watch()
	r.t.Cleanup(s.Disconnect)
	if err := r.awaitRegistered(c.ID(), c.Done()); err != nil {
		return nil, err
	}
	return s, nil
}

// awaitRegistered waits until the server's registry holds the socket id,
// or fails when gone closes first or 10 s pass.
func (r *rig) awaitRegistered(id string, gone <-chan struct{}) error {
	deadline := time.Now().Add(10 * time.Second)
	for !r.registered(id) {
		select {
		case <-gone:
			return fmt.Errorf("socket %s closed before the server registered it", id)
		default:
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("socket %s not registered within 10s", id)
		}
		time.Sleep(2 * time.Millisecond)
	}
	return nil
}

// registered reports whether a socket with id is in the server's registry.
func (r *rig) registered(id string) bool {
	for _, u := range r.srv.registry.userIDs() {
		for _, e := range r.srv.registry.sockets(u) {
			if string(e.sock.Id()) == id {
				return true
			}
		}
	}
	return false
}

// errConnect is a refused connection; code is the server's data.code and
// data the whole of it.
type errConnect struct {
	msg, code string
	data      map[string]any
}

func (e errConnect) Error() string { return "connect_error: " + e.msg }

func newErrConnect(msg string, data json.RawMessage) errConnect {
	e := errConnect{msg: msg}
	if json.Unmarshal(data, &e.data) == nil {
		e.code, _ = e.data["code"].(string)
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
