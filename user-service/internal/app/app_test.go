package app_test

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
	amqp "github.com/rabbitmq/amqp091-go"

	"github.com/parleychat/parley/shared/events"
	"github.com/parleychat/parley/shared/pgtest"
	"github.com/parleychat/parley/shared/rabbit"
	"github.com/parleychat/parley/shared/token"
	"github.com/parleychat/parley/shared/token/tokentest"
	"github.com/parleychat/parley/user-service/internal/app"
	"github.com/parleychat/parley/user-service/internal/config"
)

// freeAddr returns a loopback address with a port free at the time of the
// call, for the ops listener whose bound address Run does not report.
func freeAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

func get(t *testing.T, url, bearer string) (int, map[string]any) {
	t.Helper()
	req, _ := http.NewRequest("GET", url, nil)
	if bearer != "" {
		req.Header.Set("Authorization", "Bearer "+bearer)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	var body map[string]any
	_ = json.Unmarshal(raw, &body)
	return resp.StatusCode, body
}

// TestServiceRunsFromTheEnvironment starts the whole service as main does,
// on a throwaway database and its own queue, feeds it a registration and
// reads the profile back through the API, then shuts it down.
func TestServiceRunsFromTheEnvironment(t *testing.T) {
	amqpURL := os.Getenv("AMQP_URL")
	if amqpURL == "" {
		t.Fatal("AMQP_URL is not set: run `scripts/infra up` and `. .local/env` first")
	}
	gw := tokentest.NewIssuer(t, token.IssuerGateway)
	keyFile := tokentest.WriteFile(t, t.TempDir(), "gateway.pub.pem", tokentest.PublicPEM(t, tokentest.Public(gw.Key)))
	b := make([]byte, 6)
	_, _ = rand.Read(b)
	consumer := "user-service-test-" + hex.EncodeToString(b)
	queue := rabbit.QueueName(consumer, "profiles")
	raw, err := amqp.Dial(amqpURL)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = raw.Close() }) // after the queue deletions below
	ch, err := raw.Channel()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		for _, q := range []string{queue, rabbit.RetryQueue(queue), rabbit.DeadQueue(queue)} {
			if _, err := ch.QueueDelete(q, false, false, false); err != nil {
				t.Errorf("delete test queue %s: %v", q, err)
			}
		}
	})

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	opsAddr := freeAddr(t)
	cfg, err := config.Load(func(k string) string {
		return map[string]string{
			"HTTP_ADDR":            "127.0.0.1:0",
			"OPS_ADDR":             opsAddr,
			"DATABASE_URL":         pgtest.NewURL(t, "users_test"),
			"AMQP_URL":             amqpURL,
			"INTERNAL_PUBLIC_KEYS": keyFile,
			"CONSUMER_NAME":        consumer,
			"LOG_LEVEL":            "warn",
		}[k]
	})
	if err != nil {
		t.Fatal(err)
	}
	addrc := make(chan net.Addr, 1)
	done := make(chan error, 1)
	go func() { done <- app.Run(ctx, cfg, "test", func(a net.Addr) { addrc <- a }) }()
	var base string
	select {
	case a := <-addrc:
		base = "http://" + a.String()
	case err := <-done:
		t.Fatalf("Run ended before serving: %v", err)
	case <-time.After(60 * time.Second):
		t.Fatal("the service did not start within 60s")
	}

	if code, body := get(t, base+"/readyz", ""); code != 200 || body["status"] != "ready" || body["checks"] != nil {
		t.Errorf("public /readyz = %d %v, want ready without dependency detail", code, body)
	}
	if code, body := get(t, "http://"+opsAddr+"/readyz", ""); code != 200 || body["checks"] == nil {
		t.Errorf("ops /readyz = %d %v, want ready with every check", code, body)
	}
	if resp, err := http.Get("http://" + opsAddr + "/metrics"); err != nil || resp.StatusCode != http.StatusOK {
		t.Errorf("ops /metrics = %v, %v; want 200", resp, err)
	} else {
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		for _, series := range []string{"parley_outbox_backlog_events", "parley_pg_pool_max_connections", "parley_http_requests_total", "parley_consumer_messages_total"} {
			if !strings.Contains(string(b), series) {
				t.Errorf("ops /metrics has no %s series", series)
			}
		}
	}
	if code, _ := get(t, base+"/api/v1/users/me", ""); code != http.StatusUnauthorized {
		t.Errorf("direct call without a token: %d, want 401", code)
	}

	// A registration, sent straight to this instance's queue (not through
	// parley.auth, which real consumers share).
	user := uuid.Must(uuid.NewV7()).String()
	ev, err := events.New(ctx, "auth-service", events.TypeUserRegistered, 1,
		events.UserRegisteredV1{UserID: user, Username: "erin", Email: "erin@example.com", CreatedAt: time.Now().UTC()})
	if err != nil {
		t.Fatal(err)
	}
	body, _ := json.Marshal(ev)
	if err := ch.PublishWithContext(ctx, "", queue, true, false, amqp.Publishing{
		ContentType: "application/json", DeliveryMode: amqp.Persistent, MessageId: ev.ID, Body: body,
	}); err != nil {
		t.Fatal(err)
	}
	tok := tokentest.Must(t)(gw.Signer.Internal(user, token.AudienceUsers, 30*time.Second))
	deadline := time.Now().Add(20 * time.Second)
	for {
		code, body := get(t, base+"/api/v1/users/me", tok)
		if code == 200 {
			if body["username"] != "erin" {
				t.Errorf("profile = %v", body)
			}
			break
		}
		if code != 404 || body["code"] != "profile_not_ready" || time.Now().After(deadline) {
			t.Fatalf("GET /users/me = %d %v", code, body)
		}
		time.Sleep(50 * time.Millisecond)
	}

	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("Run after shutdown: %v", err)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("Run did not return within 30s of shutdown")
	}
}
