package realtime

import (
	"encoding/json"
	"errors"
	"net/http"
	"strings"
	"testing"
	"time"
)

// wantProblem checks that m carries a problem's public fields.
func wantProblem(t *testing.T, what string, m map[string]any, status int, code string) {
	t.Helper()
	if m["status"] != float64(status) || m["code"] != code {
		t.Errorf("%s: status %v code %v, want %d %s (%v)", what, m["status"], m["code"], status, code, m)
	}
	for _, field := range []string{"type", "title", "traceId"} {
		if s, _ := m[field].(string); s == "" {
			t.Errorf("%s: no %s in %v", what, field, m)
		}
	}
}

func TestSocketsPerUserCap(t *testing.T) {
	r := newRig(t, Options{SocketsPerUser: 2})
	a := cookie(r.sessionToken("user-a", "s1"))
	var open []*testSock
	for i := range 2 {
		sock, err := r.dial(a, "websocket")
		if err != nil {
			t.Fatalf("socket %d of 2: %v", i+1, err)
		}
		open = append(open, sock)
	}
	waitFor(t, "two registered sockets", func() bool { return len(r.srv.registry.sockets("user-a")) == 2 })

	_, err := r.dial(a, "websocket")
	var ce errConnect
	if !errors.As(err, &ce) || ce.msg != "too_many_sockets" {
		t.Fatalf("third socket: %v, want connect_error too_many_sockets", err)
	}
	wantProblem(t, "third socket", ce.data, http.StatusTooManyRequests, "too_many_sockets")
	if _, err := r.dial(cookie(r.sessionToken("user-b", "s2")), "websocket"); err != nil {
		t.Errorf("another user's socket: %v, want connected", err)
	}

	// Closing one gives its slot back.
	open[0].Disconnect()
	waitFor(t, "the closed socket to leave", func() bool { return len(r.srv.registry.sockets("user-a")) == 1 })
	if _, err := r.dial(a, "polling"); err != nil {
		t.Errorf("socket after one closed: %v, want connected", err)
	}
	r.srv.registry.mu.RLock()
	pending := r.srv.registry.pending["user-a"]
	r.srv.registry.mu.RUnlock()
	if pending != 0 {
		t.Errorf("%d reservations left over, want 0", pending)
	}
}

func TestHandshakeRefusalIsProblem(t *testing.T) {
	r := newRig(t, Options{})
	_, err := r.dial(cookie("not.a.token"), "websocket")
	var ce errConnect
	if !errors.As(err, &ce) || ce.msg != "unauthorized" {
		t.Fatalf("dial: %v, want connect_error unauthorized", err)
	}
	wantProblem(t, "refused handshake", ce.data, http.StatusUnauthorized, "unauthorized")
}

func TestForeignOriginIsProblem(t *testing.T) {
	r := newRig(t, Options{})
	req, _ := http.NewRequest("GET", r.http.URL+"/socket.io/?EIO=4&transport=polling", nil)
	req.Header = withOrigin(cookie(r.sessionToken("user-a", "s1")), "https://evil.test")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if ct := resp.Header.Get("Content-Type"); resp.StatusCode != http.StatusForbidden || !strings.HasPrefix(ct, "application/problem+json") {
		t.Fatalf("status %d Content-Type %q, want 403 problem+json", resp.StatusCode, ct)
	}
	var p map[string]any
	if err := json.NewDecoder(resp.Body).Decode(&p); err != nil || p["code"] != "origin_refused" {
		t.Errorf("body %v (%v), want code origin_refused", p, err)
	}
}

// emitAck sends event with data and returns the ack's first argument.
func emitAck(t *testing.T, sock *testSock, event string, data any) map[string]any {
	t.Helper()
	got := make(chan []any, 1)
	if err := sock.Emit(event, data, func(args []any, err error) { got <- args }); err != nil {
		t.Fatal(err)
	}
	select {
	case ack := <-got:
		m, _ := ack[0].(map[string]any)
		return m
	case <-time.After(10 * time.Second):
		t.Fatal("no ack")
		return nil
	}
}

func TestCommandWithUnstorableTextIsRefused(t *testing.T) {
	r := newRig(t, Options{})
	r.link.reply = func(string, map[string]any) []any { return []any{map[string]any{"ok": true}} }
	sock, err := r.dial(cookie(r.sessionToken("user-a", "s1")), "websocket")
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name  string
		data  any
		field string
	}{
		{"NUL in body", map[string]any{"conversationId": "c1", "clientMsgId": "k1", "body": "a\x00b"}, "body"},
		{"NUL in a nested key", map[string]any{"conversations": map[string]any{"c\x00": 1}}, "conversations"},
		{"NUL in a list", map[string]any{"ids": []any{"ok", "\x00"}}, "ids[1]"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			m := emitAck(t, sock, "message:send", tc.data)
			e, _ := m["error"].(map[string]any)
			if m["ok"] != false || e == nil {
				t.Fatalf("ack %v, want ok:false with an error", m)
			}
			wantProblem(t, "ack error", e, http.StatusBadRequest, e["code"].(string))
			errs, _ := e["errors"].([]any)
			if len(errs) != 1 || errs[0].(map[string]any)["field"] != tc.field {
				t.Errorf("field errors %v, want one for %s", errs, tc.field)
			}
		})
	}
	if n := len(r.link.sentEvents()); n != 0 {
		t.Errorf("%d commands reached chat-service, want none", n)
	}
}

func TestGatewayErrorAckCarriesTraceID(t *testing.T) {
	r := newRig(t, Options{CommandTimeout: 100 * time.Millisecond})
	sock, err := r.dial(cookie(r.sessionToken("user-a", "s1")), "websocket")
	if err != nil {
		t.Fatal(err)
	}
	m := emitAck(t, sock, "sync", map[string]any{"conversations": map[string]any{}})
	e, _ := m["error"].(map[string]any)
	wantProblem(t, "timeout ack", e, http.StatusGatewayTimeout, "gateway_timeout")
	s := <-r.link.calls
	if tp := s.payload["traceparent"].(string); !strings.Contains(tp, e["traceId"].(string)) {
		t.Errorf("ack traceId %v is not the command's trace %s", e["traceId"], tp)
	}
}

func TestCommandPanicAcksProblem(t *testing.T) {
	r := newRig(t, Options{})
	r.link.reply = func(string, map[string]any) []any { panic("a defect") }
	sock, err := r.dial(cookie(r.sessionToken("user-a", "s1")), "websocket")
	if err != nil {
		t.Fatal(err)
	}
	m := emitAck(t, sock, "message:send", map[string]any{"conversationId": "c1", "body": "hi"})
	e, _ := m["error"].(map[string]any)
	if m["ok"] != false || e == nil {
		t.Fatalf("ack %v, want ok:false with an error", m)
	}
	wantProblem(t, "panic ack", e, http.StatusInternalServerError, "internal")
	if strings.Contains(jsonString(e), "a defect") {
		t.Errorf("the panic value reached the client: %v", e)
	}
	// The socket still serves commands.
	r.link.mu.Lock()
	r.link.reply = func(string, map[string]any) []any { return []any{map[string]any{"ok": true}} }
	r.link.mu.Unlock()
	if m := emitAck(t, sock, "message:send", map[string]any{"conversationId": "c1", "body": "again"}); m["ok"] != true {
		t.Errorf("ack after the panic %v, want ok:true", m)
	}
}
