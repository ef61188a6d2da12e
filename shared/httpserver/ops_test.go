package httpserver

import (
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/gin-gonic/gin"
)

func TestPublicReadyzHidesDetailOpsShowsIt(t *testing.T) {
	secret := "dial tcp 10.1.2.3:5432: connection refused"
	h := &Health{Service: "svc", Version: "1.2.3", Checks: map[string]Check{
		"postgres": func(context.Context) error { return errors.New(secret) },
		"rabbitmq": func(context.Context) error { return nil },
	}}
	r := gin.New()
	h.Register(r)
	pub := httptest.NewServer(r)
	defer pub.Close()
	ops := httptest.NewServer(h.OpsHandler(NewRegistry()))
	defer ops.Close()

	status, body := get(t, pub.URL+"/readyz")
	if status != http.StatusServiceUnavailable {
		t.Errorf("public /readyz status = %d, want 503", status)
	}
	for _, leak := range []string{secret, "postgres", "10.1.2.3", "checks"} {
		if strings.Contains(body, leak) {
			t.Errorf("public /readyz reveals %q: %s", leak, body)
		}
	}
	status, body = get(t, ops.URL+"/readyz")
	if status != http.StatusServiceUnavailable || !strings.Contains(body, secret) || !strings.Contains(body, `"rabbitmq":{"status":"up"}`) {
		t.Errorf("ops /readyz = %d %s, want 503 with each check", status, body)
	}
	if status, body = get(t, ops.URL+"/metrics"); status != 200 || !strings.Contains(body, "go_goroutines") {
		t.Errorf("ops /metrics = %d, want the Go runtime series", status)
	}
	if status, _ = get(t, ops.URL+"/debug/pprof/"); status != 200 {
		t.Errorf("ops pprof index = %d, want 200", status)
	}
	if status, body = get(t, pub.URL+"/healthz"); status != 200 || !strings.Contains(body, `"version":"1.2.3"`) {
		t.Errorf("public /healthz = %d %s", status, body)
	}
}

func get(t *testing.T, url string) (int, string) {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}
