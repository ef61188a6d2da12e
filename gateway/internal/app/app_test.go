package app

import (
	"context"
	"crypto/ed25519"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gin-gonic/gin"
	"github.com/google/uuid"
	"github.com/rs/zerolog"
	"github.com/zishang520/socket.io/servers/socket/v3"

	"github.com/parleychat/parley/gateway/internal/config"
	"github.com/parleychat/parley/gateway/internal/session"
	"github.com/parleychat/parley/shared/events"
	"github.com/parleychat/parley/shared/rabbit"
	"github.com/parleychat/parley/shared/sioclient"
	"github.com/parleychat/parley/shared/token"
)

func TestMain(m *testing.M) {
	gin.SetMode(gin.ReleaseMode)
	os.Exit(m.Run())
}

func writeKey(t *testing.T, dir, name string, priv ed25519.PrivateKey) string {
	t.Helper()
	der, err := x509.MarshalPKCS8PrivateKey(priv)
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, name)
	if err := os.WriteFile(path, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// fakeServices serves what the gateway needs from auth-, user- and
// chat-service: readiness, the revocation snapshot, /auth/me, a refresh
// that hands out a new session token (signed by auth) for the user and
// session named in the refresh token "rt:<user>:<sid>", and chat-service's
// Socket.IO link endpoint.
func fakeServices(t *testing.T, internal *token.KeySet, auth *token.Signer) string {
	t.Helper()
	v, _ := token.NewVerifier(internal, token.IssuerGateway, token.AudienceChat)
	io := socket.NewServer(nil, nil)
	io.Use(func(s *socket.Socket, next func(*socket.ExtendedError)) {
		raw, _ := s.Handshake().Auth["token"].(string)
		if _, err := v.Verify(raw); err != nil {
			next(socket.NewExtendedError("unauthorized", nil))
			return
		}
		next(nil)
	})
	mux := http.NewServeMux()
	mux.Handle("/socket.io/", io.ServeHandler(nil))
	mux.HandleFunc("/readyz", func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(http.StatusOK) })
	mux.HandleFunc("/api/v1/internal/revocations", func(w http.ResponseWriter, _ *http.Request) {
		_, _ = w.Write([]byte(`{"sessions":[],"passwordChanges":[]}`))
	})
	mux.HandleFunc("/api/v1/auth/me", func(w http.ResponseWriter, _ *http.Request) { _, _ = w.Write([]byte(`{"id":"me"}`)) })
	mux.HandleFunc("/api/v1/auth/refresh", func(w http.ResponseWriter, r *http.Request) {
		var in struct{ RefreshToken string }
		_ = json.NewDecoder(r.Body).Decode(&in)
		parts := strings.Split(in.RefreshToken, ":")
		if len(parts) != 3 || parts[0] != "rt" {
			w.WriteHeader(http.StatusUnauthorized)
			return
		}
		access, err := auth.Session(parts[1], parts[2], token.SessionTTL)
		if err != nil {
			w.WriteHeader(http.StatusInternalServerError)
			return
		}
		exp := time.Now().Add(token.SessionTTL).UTC()
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(map[string]any{
			"session": map[string]any{"id": parts[2]},
			"tokens": map[string]any{"accessToken": access, "accessExpiresAt": exp,
				"refreshToken": in.RefreshToken, "refreshExpiresAt": exp.Add(time.Hour)},
		})
	})
	srv := httptest.NewServer(mux)
	t.Cleanup(func() { io.Close(nil); srv.Close() })
	return srv.URL
}

// TestGatewayOnRealRabbitMQ starts the whole gateway (App.Run) against
// RabbitMQ and fake services: a chat event published to parley.chat
// reaches the recipient's socket, and auth.session.revoked.v1 published to
// parley.auth closes that socket and refuses the session's cookie.
func TestGatewayOnRealRabbitMQ(t *testing.T) {
	g := startGateway(t, nil)
	base, authPriv := g.base, g.authPriv
	waitFor(t, "readiness", func() bool { return status(base+"/readyz") == http.StatusOK })

	signer, _ := token.NewSigner(authPriv, token.IssuerAuth)
	userID, sid := uuid.NewString(), uuid.NewString()
	raw, _ := signer.Session(userID, sid, token.SessionTTL)
	cookie := session.CookieName + "=" + raw
	if got := get(t, base+"/api/v1/auth/me", cookie); got != http.StatusOK {
		t.Fatalf("GET /auth/me with a fresh session: %d, want 200", got)
	}

	sock := dialSocket(t, base, cookie)
	publish := publisher(t, g.ctx, g.amqpURL)
	// A message is one event id, one copy.
	waitDelivered(t, publish, userID, &sock.received)

	if err := publish(events.ExchangeAuth, events.TypeSessionRevoked, events.SessionRevokedV1{
		UserID: userID, SessionIDs: []string{sid}, Reason: "revoked", RevokedUntil: time.Now().Add(time.Hour),
	}); err != nil {
		t.Fatalf("publish revocation: %v", err)
	}
	waitFor(t, "the revoked session's socket to close", func() bool { return !sock.Alive() })
	if got := get(t, base+"/api/v1/auth/me", cookie); got != http.StatusUnauthorized {
		t.Errorf("GET /auth/me after auth.session.revoked: %d, want 401", got)
	}
}

// publisher returns a function publishing one event to RabbitMQ, as the
// services do.
func publisher(t *testing.T, ctx context.Context, amqpURL string) func(exchange, typ string, data any) error {
	t.Helper()
	conn, err := rabbit.Dial(ctx, amqpURL, zerolog.Nop(), rabbit.WithName("gateway-test"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = conn.Close() })
	if err := conn.DeclareExchanges(ctx, events.ExchangeChat, events.ExchangeAuth); err != nil {
		t.Fatal(err)
	}
	return func(exchange, typ string, data any) error {
		env, err := events.New(ctx, "test", typ, 1, data)
		if err != nil {
			return err
		}
		body, _ := json.Marshal(env)
		return conn.Publisher().Publish(ctx, exchange, env.RoutingKey(), body, env.ID, env.Traceparent)
	}
}

// waitDelivered publishes a chat message to userID until received (counted
// by the socket's message:new handler for the body "over the broker")
// shows it arrived: a gateway's queue is bound asynchronously after start.
func waitDelivered(t *testing.T, publish func(exchange, typ string, data any) error, userID string, received *atomic.Int32) {
	t.Helper()
	waitFor(t, "the chat event on the socket", func() bool {
		err := publish(events.ExchangeChat, events.TypeMessageCreated, events.Delivery{
			ConversationID: "c1", EventSeq: 1, Recipients: []string{userID},
			Payload: json.RawMessage(`{"id":"m1","body":"over the broker"}`),
		})
		if err != nil && !strings.Contains(err.Error(), "unroutable") {
			t.Fatalf("publish: %v", err)
		}
		deadline := time.Now().Add(300 * time.Millisecond)
		for time.Now().Before(deadline) && received.Load() == 0 {
			time.Sleep(10 * time.Millisecond)
		}
		return received.Load() > 0
	})
}

// gateway is one App running against RabbitMQ and fake services.
type gateway struct {
	app      *App
	base     string // public base URL
	authPriv ed25519.PrivateKey
	amqpURL  string
	ctx      context.Context
}

// cluster is what the gateways of one test share: keys, fake services and
// the broker.
type cluster struct {
	authPriv, gwPriv ed25519.PrivateKey
	dir, svc         string
	amqpURL          string
}

func newCluster(t *testing.T) *cluster {
	t.Helper()
	c := &cluster{amqpURL: os.Getenv("AMQP_URL"), dir: t.TempDir()}
	if c.amqpURL == "" {
		t.Fatal("AMQP_URL is not set: run `scripts/infra up` and `. .local/env`")
	}
	_, c.authPriv, _ = ed25519.GenerateKey(nil)
	_, c.gwPriv, _ = ed25519.GenerateKey(nil)
	internalKeys, _ := token.NewKeySet(c.gwPriv.Public().(ed25519.PublicKey))
	authSigner, _ := token.NewSigner(c.authPriv, token.IssuerAuth)
	c.svc = fakeServices(t, internalKeys, authSigner)
	return c
}

// startGateway runs a gateway of a cluster of its own.
func startGateway(t *testing.T, env map[string]string) *gateway {
	t.Helper()
	return newCluster(t).start(t, env)
}

// start runs a gateway (newApp and run, as Run does) with env overriding
// the defaults below, and stops it when the test ends.
func (c *cluster) start(t *testing.T, env map[string]string) *gateway {
	t.Helper()
	vars := map[string]string{
		"HTTP_ADDR":            "127.0.0.1:0",
		"OPS_ADDR":             "127.0.0.1:0",
		"AUTH_URL":             c.svc,
		"USERS_URL":            c.svc,
		"CHAT_URL":             c.svc,
		"SESSION_PUBLIC_KEYS":  writeKey(t, c.dir, "auth.pem", c.authPriv),
		"INTERNAL_SIGNING_KEY": writeKey(t, c.dir, "gateway.pem", c.gwPriv),
		"AMQP_URL":             c.amqpURL,
		"LOG_LEVEL":            "warn",
		"PRESENCE_HEARTBEAT":   "1s",
	}
	for k, v := range env {
		vars[k] = v
	}
	cfg, err := config.Load(func(k string) string { return vars[k] })
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	a, err := newApp(ctx, cfg, "test")
	if err != nil {
		cancel()
		t.Fatalf("newApp: %v", err)
	}
	addrc := make(chan net.Addr, 1)
	runErr := make(chan error, 1)
	go func() { runErr <- a.run(ctx, func(addr net.Addr) { addrc <- addr }) }()
	var base string
	select {
	case addr := <-addrc:
		base = "http://" + addr.String()
	case err := <-runErr:
		cancel()
		t.Fatalf("run: %v", err)
	}
	t.Cleanup(func() {
		cancel()
		select {
		case err := <-runErr:
			if err != nil {
				t.Errorf("run: %v", err)
			}
		case <-time.After(30 * time.Second):
			t.Error("run did not return after cancel")
		}
	})
	return &gateway{app: a, base: base, authPriv: c.authPriv, amqpURL: c.amqpURL, ctx: ctx}
}

// status GETs url and returns the status, 0 when it cannot connect.
func status(url string) int {
	resp, err := http.Get(url)
	if err != nil {
		return 0
	}
	_ = resp.Body.Close()
	return resp.StatusCode
}

func get(t *testing.T, url, cookie string) int {
	t.Helper()
	req, _ := http.NewRequest("GET", url, nil)
	req.Header.Set("Cookie", cookie)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	return resp.StatusCode
}

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// chatSocket is a client socket of the gateway under test; received
// counts the chat messages "over the broker" it got.
type chatSocket struct {
	*sioclient.Client
	received atomic.Int32
}

// dialSocket connects a socket with the session cookie (closed at the end
// of the test). It only receives, so it cannot hit the server library's
// window between answering CONNECT and joining the namespace.
func dialSocket(t *testing.T, base, cookie string) *chatSocket {
	t.Helper()
	s := &chatSocket{}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c, err := sioclient.Dial(ctx, base, sioclient.Options{
		Header: http.Header{"Cookie": {cookie}},
		OnEvent: func(name string, args []json.RawMessage) {
			var m struct{ Body string }
			if name == "message:new" && len(args) > 0 && json.Unmarshal(args[0], &m) == nil && m.Body == "over the broker" {
				s.received.Add(1)
			}
		},
	})
	if err != nil {
		t.Fatalf("socket: %v", err)
	}
	s.Client = c
	t.Cleanup(func() { _ = c.Close() })
	return s
}
