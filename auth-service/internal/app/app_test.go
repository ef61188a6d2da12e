package app_test

import (
	"context"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
	amqp "github.com/rabbitmq/amqp091-go"
	"github.com/rs/zerolog"

	"github.com/parleychat/parley/auth-service/internal/app"
	"github.com/parleychat/parley/auth-service/internal/config"
	"github.com/parleychat/parley/shared/events"
	"github.com/parleychat/parley/shared/pgtest"
	"github.com/parleychat/parley/shared/rabbit"
	"github.com/parleychat/parley/shared/token"
	"github.com/parleychat/parley/shared/token/tokentest"
)

// TestServiceEndToEnd starts the real service (configuration, migrations,
// outbox relay, HTTP) on a fresh database and checks that a signup is
// answered and its event reaches RabbitMQ as the events section of the
// design describes, that the ops address serves full readiness and metrics,
// then that SIGTERM-style cancellation shuts it down cleanly.
func TestServiceEndToEnd(t *testing.T) {
	amqpURL := os.Getenv("AMQP_URL")
	if amqpURL == "" {
		t.Fatal("AMQP_URL is not set: run `scripts/infra up` and `. .local/env` first")
	}
	dbURL := pgtest.NewURL(t, "auth_test")
	dir := t.TempDir()
	gw := tokentest.NewIssuer(t, token.IssuerGateway)
	ln, err := net.Listen("tcp", "127.0.0.1:0") // a port free now, for the ops address
	if err != nil {
		t.Fatal(err)
	}
	opsAddr := ln.Addr().String()
	ln.Close()
	environ := map[string]string{
		"HTTP_ADDR":            "127.0.0.1:0",
		"OPS_ADDR":             opsAddr,
		"DATABASE_URL":         dbURL,
		"AMQP_URL":             amqpURL,
		"INTERNAL_PUBLIC_KEYS": tokentest.WriteFile(t, dir, "gateway.pem", tokentest.PrivatePEM(t, gw.Key)),
		"SESSION_SIGNING_KEY":  tokentest.WriteFile(t, dir, "session.pem", tokentest.PrivatePEM(t, tokentest.NewKey(t))),
		"LOG_LEVEL":            "warn",
		"HASH_CONCURRENCY":     "2",
	}
	cfg, err := config.Load(func(k string) string { return environ[k] })
	if err != nil {
		t.Fatal(err)
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
	go func() { done <- app.Run(ctx, cfg, "test", func(a net.Addr) { addrc <- a }) }()
	var base string
	select {
	case a := <-addrc:
		base = "http://" + a.String()
	case err := <-done:
		t.Fatalf("service stopped during start-up: %v", err)
	case <-time.After(60 * time.Second):
		t.Fatal("service did not start listening within 60 s")
	}

	for _, probe := range []struct {
		url        string
		wantChecks bool
	}{{base + "/readyz", false}, {"http://" + opsAddr + "/readyz", true}} {
		resp, err := http.Get(probe.url)
		if err != nil {
			t.Fatalf("GET %s: %v", probe.url, err)
		}
		var body map[string]any
		_ = json.NewDecoder(resp.Body).Decode(&body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK || (body["checks"] != nil) != probe.wantChecks {
			t.Errorf("GET %s = %d %v, want 200 with dependency detail %v", probe.url, resp.StatusCode, body, probe.wantChecks)
		}
	}
	if resp, err := http.Get("http://" + opsAddr + "/metrics"); err != nil || resp.StatusCode != http.StatusOK {
		t.Errorf("ops /metrics = %v, %v; want 200", resp, err)
	} else {
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		for _, series := range []string{"parley_outbox_backlog_events", "parley_pg_pool_max_connections", "parley_http_requests_total"} {
			if !strings.Contains(string(b), series) {
				t.Errorf("ops /metrics has no %s series", series)
			}
		}
	}

	now := time.Now().Truncate(time.Second)
	internal, err := gw.Signer.Sign(token.Claims{RegisteredClaims: jwt.RegisteredClaims{
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
	resp, err := http.DefaultClient.Do(req)
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
					t.Errorf("Run after cancel: %v, want a clean shutdown", err)
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
