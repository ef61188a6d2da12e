package app

import (
	"encoding/json"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
)

// TestReadinessPublicVsOps: with user-service down the gateway still takes
// traffic (its public /readyz depends only on what this process needs) and
// shows nothing internal there; the ops address names the dependency that
// is down, and alone serves metrics and pprof.
func TestReadinessPublicVsOps(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	dead := "http://" + ln.Addr().String()
	_ = ln.Close()
	g := startGateway(t, map[string]string{"USERS_URL": dead})
	waitFor(t, "public readiness", func() bool { return status(g.base+"/readyz") == http.StatusOK })

	body := fetch(t, g.base+"/readyz", http.StatusOK)
	for _, leak := range []string{"user-service", "checks", "127.0.0.1", "refused"} {
		if strings.Contains(body, leak) {
			t.Errorf("public /readyz shows %q: %s", leak, body)
		}
	}
	for _, path := range []string{"/metrics", "/debug/pprof/"} {
		if got := status(g.base + path); got != http.StatusNotFound {
			t.Errorf("public %s: %d, want 404", path, got)
		}
	}

	addr := g.app.opsAddr.Load()
	if addr == nil {
		t.Fatal("the ops address is not listening")
	}
	ops := "http://" + addr.String()
	var doc struct {
		Status string `json:"status"`
		Checks map[string]struct {
			Status string `json:"status"`
			Error  string `json:"error"`
		} `json:"checks"`
	}
	if err := json.Unmarshal([]byte(fetch(t, ops+"/readyz", http.StatusServiceUnavailable)), &doc); err != nil {
		t.Fatal(err)
	}
	if c := doc.Checks["user-service"]; c.Status != "down" || c.Error == "" {
		t.Errorf("ops user-service check = %+v, want down with its error", c)
	}
	if c := doc.Checks["revocations"]; c.Status != "up" {
		t.Errorf("ops revocations check = %+v, want up", c)
	}
	m := fetch(t, ops+"/metrics", http.StatusOK)
	for _, series := range []string{"go_goroutines", `parley_http_requests_total{code="200",method="GET",route="/readyz"}`,
		"parley_sockets_connected 0", "parley_link_up", "parley_links_connected", "parley_link_connects_total"} {
		if !strings.Contains(m, series) {
			t.Errorf("ops /metrics lacks %s", series)
		}
	}
	fetch(t, ops+"/debug/pprof/", http.StatusOK)
}

// fetch GETs url, checks the status and returns the body.
func fetch(t *testing.T, url string, want int) string {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != want {
		t.Fatalf("GET %s: %d, want %d (%s)", url, resp.StatusCode, want, b)
	}
	return string(b)
}

// TestOpsReadinessPerInstance: with several user-service instances listed,
// the ops /readyz reports each one under its own name, and /metrics has
// the edge counters per service.
func TestOpsReadinessPerInstance(t *testing.T) {
	var dead []string
	for range 2 {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		dead = append(dead, "http://"+ln.Addr().String())
		_ = ln.Close()
	}
	g := startGateway(t, map[string]string{"USERS_URL": strings.Join(dead, ",")})
	waitFor(t, "public readiness", func() bool { return status(g.base+"/readyz") == http.StatusOK })
	addr := g.app.opsAddr.Load()
	if addr == nil {
		t.Fatal("the ops address is not listening")
	}
	ops := "http://" + addr.String()
	var doc struct {
		Checks map[string]struct {
			Status string `json:"status"`
		} `json:"checks"`
	}
	if err := json.Unmarshal([]byte(fetch(t, ops+"/readyz", http.StatusServiceUnavailable)), &doc); err != nil {
		t.Fatal(err)
	}
	for _, u := range dead {
		if c, ok := doc.Checks["user-service "+u]; !ok || c.Status != "down" {
			t.Errorf("ops check for instance %s = %+v (present %v), want down", u, c, ok)
		}
	}
	if _, ok := doc.Checks["user-service"]; ok {
		t.Error("a single user-service check besides the per-instance ones")
	}
	m := fetch(t, ops+"/metrics", http.StatusOK)
	for _, series := range []string{`parley_gateway_upstream_ejections_total{service="user-service"} 0`,
		`parley_gateway_upstream_ejections_total{service="chat-service"} 0`} {
		if !strings.Contains(m, series) {
			t.Errorf("ops /metrics lacks %s", series)
		}
	}
}
