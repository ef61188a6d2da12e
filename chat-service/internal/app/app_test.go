package app_test

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/x509"
	"encoding/hex"
	"encoding/json"
	"encoding/pem"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/google/uuid"
	amqp "github.com/rabbitmq/amqp091-go"

	"github.com/parleychat/parley/chat-service/internal/app"
	"github.com/parleychat/parley/chat-service/internal/chat"
	"github.com/parleychat/parley/chat-service/internal/config"
	"github.com/parleychat/parley/chat-service/internal/postgres"
	"github.com/parleychat/parley/chat-service/internal/socketio/linktest"
	"github.com/parleychat/parley/chat-service/migrations"
	"github.com/parleychat/parley/shared/events"
	"github.com/parleychat/parley/shared/pgtest"
	"github.com/parleychat/parley/shared/rabbit"
	"github.com/parleychat/parley/shared/token"
)

// TestServiceEndToEnd starts the whole service on real PostgreSQL and
// RabbitMQ: health, a REST send whose event the outbox relay delivers to
// parley.chat, the Socket.IO link on the same port, and a clean shutdown.
func TestServiceEndToEnd(t *testing.T) {
	amqpURL := os.Getenv("AMQP_URL")
	if amqpURL == "" {
		t.Fatal("AMQP_URL is not set: this test needs a real RabbitMQ (scripts/infra up; . .local/env)")
	}
	pool := pgtest.New(t, "chat", migrations.FS())
	store := postgres.NewStore(pool)

	_, priv, _ := ed25519.GenerateKey(nil)
	der, _ := x509.MarshalPKIXPublicKey(priv.Public())
	keyFile := filepath.Join(t.TempDir(), "internal.pub.pem")
	if err := os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
	gateway, _ := token.NewSigner(priv, token.IssuerGateway)
	b := make([]byte, 6)
	_, _ = rand.Read(b)
	consumer := "chat-apptest-" + hex.EncodeToString(b)
	cfg := config.Config{
		HTTPAddr: "127.0.0.1:0", DatabaseURL: pool.Config().ConnString(), AMQPURL: amqpURL, LogLevel: "warn",
		InternalPublicKeys: keyFile, ShutdownTimeout: 5 * time.Second, MessageRate: 10, MessageBurst: 20,
		SyncEventCap: 500, EventRetention: 720 * time.Hour, PresenceSweepInterval: time.Second,
		LinkWorkers: 4, LinkUserCommands: 16, ConsumerName: consumer, OpsAddr: freeAddr(t),
	}
	ctx, stop := context.WithCancel(context.Background())
	addrc := make(chan net.Addr, 1)
	done := make(chan error, 1)
	go func() { done <- app.Run(ctx, cfg, "test", func(a net.Addr) { addrc <- a }) }()
	t.Cleanup(func() {
		ch := rawChannel(t, amqpURL)
		for _, p := range []string{"user-directory", "presence"} {
			q := rabbit.QueueName(consumer, p)
			for _, n := range []string{q, rabbit.RetryQueue(q), rabbit.DeadQueue(q)} {
				_, _ = ch.QueueDelete(n, false, false, false)
			}
		}
	})
	var base string
	select {
	case a := <-addrc:
		base = "http://" + a.String()
	case err := <-done:
		t.Fatalf("Run ended before listening: %v", err)
	case <-time.After(60 * time.Second):
		t.Fatal("service not listening within 60s")
	}

	// The public address answers health without dependency detail; the
	// ops address has it, with metrics and pprof.
	ops := "http://" + cfg.OpsAddr
	for _, tc := range []struct {
		url         string
		wantChecks  bool
		wantContain string
	}{
		{base + "/healthz", false, `"status":"ok"`},
		{base + "/readyz", false, `"status":"ready"`},
		{ops + "/readyz", true, `"postgres":{"status":"up"}`},
		{ops + "/metrics", false, "go_goroutines"},
		{ops + "/metrics", false, `parley_http_requests_total{code="200",method="GET",route="/readyz"}`},
		{ops + "/metrics", false, "parley_outbox_backlog_events"},
		{ops + "/metrics", false, `parley_consumer_messages_total{outcome="handled",queue="`},
		{ops + "/debug/pprof/", false, "goroutine"},
	} {
		body := get(t, tc.url)
		if got := bytes.Contains(body, []byte(`"checks"`)); got != tc.wantChecks {
			t.Errorf("GET %s shows checks = %v, want %v: %s", tc.url, got, tc.wantChecks, body)
		}
		if !bytes.Contains(body, []byte(tc.wantContain)) {
			t.Errorf("GET %s = %s, want it to contain %s", tc.url, body, tc.wantContain)
		}
	}

	// Watch parley.chat like a gateway would.
	ch := rawChannel(t, amqpURL)
	q, err := ch.QueueDeclare("", false, true, true, false, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := ch.QueueBind(q.Name, "chat.#", events.ExchangeChat, false, nil); err != nil {
		t.Fatal(err)
	}
	deliveries, err := ch.Consume(q.Name, "", true, true, false, false, nil)
	if err != nil {
		t.Fatal(err)
	}

	alice, bob := uuid.Must(uuid.NewV7()).String(), uuid.Must(uuid.NewV7()).String()
	for _, u := range []string{alice, bob} {
		if _, err := store.UpsertUser(context.Background(), chat.User{ID: u, Username: "u", UpdatedAt: time.Now()}); err != nil {
			t.Fatal(err)
		}
	}
	tok, _ := gateway.Internal(alice, token.AudienceChat, 30*time.Second)
	post := func(path string, body any) map[string]any {
		t.Helper()
		raw, _ := json.Marshal(body)
		req, _ := http.NewRequest("POST", base+path, bytes.NewReader(raw))
		req.Header.Set("Authorization", "Bearer "+tok)
		req.Header.Set("Content-Type", "application/json")
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer res.Body.Close()
		var out map[string]any
		_ = json.NewDecoder(res.Body).Decode(&out)
		if res.StatusCode != 201 {
			t.Fatalf("POST %s = %d %v, want 201", path, res.StatusCode, out)
		}
		return out
	}
	conv := post("/api/v1/conversations", map[string]any{"kind": "direct", "members": []string{bob}})["id"].(string)
	msg := post("/api/v1/conversations/"+conv+"/messages", map[string]any{"clientMsgId": "e2e-1", "body": "through the relay"})

	var got []string
	timeout := time.After(15 * time.Second)
	for len(got) < 2 {
		select {
		case m := <-deliveries:
			env, err := events.Decode(m.Body)
			if err != nil {
				continue
			}
			var d events.Delivery
			if env.DecodeData(&d) != nil || d.ConversationID != conv {
				continue // another test's or instance's event
			}
			got = append(got, m.RoutingKey)
			if m.RoutingKey == "chat.message.created.v1" {
				var pm chat.Message
				_ = json.Unmarshal(d.Payload, &pm)
				if pm.ID != msg["id"] || d.EventSeq != 2 || len(d.Recipients) != 2 || m.MessageId != env.ID {
					t.Errorf("delivery = %+v (payload %+v), want message %v with eventSeq 2 to both members", d, pm, msg["id"])
				}
			}
		case <-timeout:
			t.Fatalf("relayed events for the conversation = %v, want created + message within 15s", got)
		}
	}
	if got[0] != "chat.conversation.created.v1" || got[1] != "chat.message.created.v1" {
		t.Errorf("relayed in order %v, want conversation then message", got)
	}

	// The Socket.IO link answers on the same port.
	linkTok, _ := gateway.Internal("gateway", token.AudienceChat, 30*time.Second)
	sock, linked := linktest.Dial(t, base, linkTok, linkTok)
	if linked {
		sock.Disconnect()
	}
	if !linked {
		t.Error("link did not connect in 5 attempts")
	}

	stop()
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("Run = %v, want a clean shutdown", err)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("Run did not return within 30s of cancellation")
	}
}

// get fetches url, which must answer 200, and returns the body.
func get(t *testing.T, url string) []byte {
	t.Helper()
	res, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	body, _ := io.ReadAll(res.Body)
	if res.StatusCode != http.StatusOK {
		t.Fatalf("GET %s = %d %s, want 200", url, res.StatusCode, body)
	}
	return body
}

// freeAddr returns a loopback address with a port free a moment ago, for a
// listener whose address Run does not report (the ops address).
func freeAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

func rawChannel(t *testing.T, url string) *amqp.Channel {
	t.Helper()
	conn, err := amqp.Dial(url)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = conn.Close() })
	ch, err := conn.Channel()
	if err != nil {
		t.Fatal(err)
	}
	return ch
}
