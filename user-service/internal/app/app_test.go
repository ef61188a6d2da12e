package app_test

import (
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

	"github.com/parleychat/parley/shared/events"
	"github.com/parleychat/parley/shared/pgtest"
	"github.com/parleychat/parley/shared/rabbit"
	"github.com/parleychat/parley/shared/token"
	"github.com/parleychat/parley/user-service/internal/app"
)

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
	pub, priv, _ := ed25519.GenerateKey(rand.Reader)
	der, _ := x509.MarshalPKIXPublicKey(pub)
	keyFile := filepath.Join(t.TempDir(), "gateway.pub.pem")
	if err := os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
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
	addrc := make(chan net.Addr, 1)
	done := make(chan error, 1)
	go func() {
		done <- app.Run(ctx, app.Options{Version: "test", Ready: func(a net.Addr) { addrc <- a }, Environ: map[string]string{
			"HTTP_ADDR":            "127.0.0.1:0",
			"DATABASE_URL":         pgtest.NewURL(t, "users_test"),
			"AMQP_URL":             amqpURL,
			"INTERNAL_PUBLIC_KEYS": keyFile,
			"CONSUMER_NAME":        consumer,
			"LOG_LEVEL":            "warn",
		}})
	}()
	var base string
	select {
	case a := <-addrc:
		base = "http://" + a.String()
	case err := <-done:
		t.Fatalf("Run ended before serving: %v", err)
	case <-time.After(60 * time.Second):
		t.Fatal("the service did not start within 60s")
	}

	if code, body := get(t, base+"/readyz", ""); code != 200 || body["status"] != "ready" {
		t.Errorf("/readyz = %d %v", code, body)
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
	signer, _ := token.NewSigner(priv, token.IssuerGateway)
	tok, _ := signer.Internal(user, token.AudienceUsers, 30*time.Second)
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
