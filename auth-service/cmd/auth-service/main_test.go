package main

import (
	"context"
	"crypto/ed25519"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
	amqp "github.com/rabbitmq/amqp091-go"
	"github.com/rs/zerolog"

	"github.com/parleychat/parley/shared/events"
	"github.com/parleychat/parley/shared/pgtest"
	"github.com/parleychat/parley/shared/rabbit"
	"github.com/parleychat/parley/shared/token"
)

// writeKey writes priv as a PKCS#8 PEM file and returns its path.
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

// TestServiceEndToEnd starts the real service (configuration, migrations,
// outbox relay, HTTP) on a fresh database and checks that a signup is
// answered and its event reaches RabbitMQ as DESIGN §6 describes, then that
// SIGTERM-style cancellation shuts it down cleanly.
func TestServiceEndToEnd(t *testing.T) {
	amqpURL := os.Getenv("AMQP_URL")
	if amqpURL == "" {
		t.Fatal("AMQP_URL is not set: run `scripts/infra up` and `. .local/env` first")
	}
	dbURL := pgtest.NewURL(t, "auth_test")
	dir := t.TempDir()
	_, gwKey, _ := ed25519.GenerateKey(nil)
	_, sessKey, _ := ed25519.GenerateKey(nil)
	environ := map[string]string{
		"HTTP_ADDR":            "127.0.0.1:0",
		"DATABASE_URL":         dbURL,
		"AMQP_URL":             amqpURL,
		"INTERNAL_PUBLIC_KEYS": writeKey(t, dir, "gateway.pem", gwKey),
		"SESSION_SIGNING_KEY":  writeKey(t, dir, "session.pem", sessKey),
		"LOG_LEVEL":            "warn",
		"HASH_CONCURRENCY":     "2",
	}

	// Listen for auth events on a private queue before anything is
	// published; the user id filters out other auth-services on the broker.
	conn, err := amqp.Dial(amqpURL)
	if err != nil {
		t.Fatalf("dial RabbitMQ: %v", err)
	}
	defer conn.Close()
	ch, err := conn.Channel()
	if err != nil {
		t.Fatal(err)
	}
	// Declare the exchange the way every service does (with its alternate
	// exchange), so this test agrees with the service about its arguments.
	rc, err := rabbit.Dial(context.Background(), amqpURL, zerolog.Nop())
	if err != nil {
		t.Fatalf("dial RabbitMQ: %v", err)
	}
	defer rc.Close()
	if err := rc.DeclareExchanges(context.Background(), events.ExchangeAuth); err != nil {
		t.Fatal(err)
	}
	q, err := ch.QueueDeclare("", false, true, true, false, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := ch.QueueBind(q.Name, "auth.user.registered.v1", events.ExchangeAuth, false, nil); err != nil {
		t.Fatal(err)
	}
	deliveries, err := ch.Consume(q.Name, "", true, true, false, false, nil)
	if err != nil {
		t.Fatal(err)
	}

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	addrc := make(chan net.Addr, 1)
	done := make(chan error, 1)
	go func() { done <- run(ctx, environ, func(a net.Addr) { addrc <- a }) }()
	var base string
	select {
	case a := <-addrc:
		base = "http://" + a.String()
	case err := <-done:
		t.Fatalf("service stopped during start-up: %v", err)
	case <-time.After(60 * time.Second):
		t.Fatal("service did not start listening within 60 s")
	}

	resp, err := http.Get(base + "/readyz")
	if err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("GET /readyz = %v, %v; want 200", resp, err)
	}
	resp.Body.Close()

	gw, _ := token.NewSigner(gwKey, token.IssuerGateway)
	now := time.Now().Truncate(time.Second)
	internal, err := gw.Sign(token.Claims{RegisteredClaims: jwt.RegisteredClaims{
		Subject: "anonymous", Audience: jwt.ClaimStrings{token.AudienceAuth},
		IssuedAt: jwt.NewNumericDate(now), ExpiresAt: jwt.NewNumericDate(now.Add(30 * time.Second)),
	}})
	if err != nil {
		t.Fatal(err)
	}
	req, _ := http.NewRequest("POST", base+"/api/v1/auth/signup",
		strings.NewReader(`{"username":"e2e_alice","email":"e2e_alice@example.com","password":"correct horse battery staple"}`))
	req.Header.Set("Authorization", "Bearer "+internal)
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("traceparent", "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01")
	resp, err = http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	var grant struct {
		User struct{ ID string } `json:"user"`
	}
	_ = json.NewDecoder(resp.Body).Decode(&grant)
	resp.Body.Close()
	if resp.StatusCode != http.StatusCreated || grant.User.ID == "" {
		t.Fatalf("signup = %d (user %q), want 201", resp.StatusCode, grant.User.ID)
	}

	timeout := time.After(30 * time.Second)
	for {
		select {
		case d := <-deliveries:
			env, err := events.Decode(d.Body)
			if err != nil {
				t.Fatalf("undecodable event: %v", err)
			}
			var data events.UserRegisteredV1
			if err := env.DecodeData(&data); err != nil || data.UserID != grant.User.ID {
				continue // another auth-service's signup
			}
			if d.MessageId != env.ID || d.DeliveryMode != amqp.Persistent || d.ContentType != "application/json" {
				t.Errorf("AMQP properties message_id=%q mode=%d type=%q; want %q, persistent, application/json",
					d.MessageId, d.DeliveryMode, d.ContentType, env.ID)
			}
			if !strings.HasPrefix(env.Traceparent, "00-4bf92f3577b34da6a3ce929d0e0e4736-") {
				t.Errorf("event traceparent = %q, want the request's trace", env.Traceparent)
			}
			cancel()
			select {
			case err := <-done:
				if err != nil {
					t.Errorf("run after cancel: %v, want a clean shutdown", err)
				}
			case <-time.After(30 * time.Second):
				t.Error("service did not shut down within 30 s of cancellation")
			}
			return
		case <-timeout:
			t.Fatal("auth.user.registered.v1 for the new user did not reach RabbitMQ within 30 s")
		}
	}
}
