package httpapi_test

import (
	"bytes"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/parleychat/parley/gateway/internal/httpapi"
	"github.com/parleychat/parley/shared/token"
	"github.com/parleychat/parley/shared/trace"
)

func TestForwardingReplacesClientIdentity(t *testing.T) {
	e := newEnv(t, envOptions{})
	c, raw := e.login(nil)
	id, _ := e.authenticate.Authenticate(raw)

	resp := e.do(c, "GET", "/api/v1/conversations/c-1/messages?before=10&limit=5", "", map[string]string{
		"Authorization":     "Bearer forged",
		"X-User-Id":         "admin",
		"X-Parley-User":     "admin",
		"X-Parley-Internal": "yes",
		"X-Forwarded-For":   "10.9.9.9",
		"X-Forwarded-Host":  "evil.test",
		"X-Real-IP":         "10.9.9.9",
		"Forwarded":         "for=10.9.9.9",
		"Traceparent":       "00-11111111111111111111111111111111-2222222222222222-01",
		"X-Custom":          "kept",
	})
	readAll(t, resp)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("status %d, want 200", resp.StatusCode)
	}
	got := e.chat.last()
	if got.Path != "/api/v1/conversations/c-1/messages" || got.RawQuery != "before=10&limit=5" {
		t.Errorf("forwarded to %s?%s, want the public path and query unchanged", got.Path, got.RawQuery)
	}
	if got.Claims.Subject != id.UserID || got.Claims.SessionID != id.SessionID {
		t.Errorf("internal token sub/sid = %q/%q, want %q/%q", got.Claims.Subject, got.Claims.SessionID, id.UserID, id.SessionID)
	}
	if life := got.Claims.ExpiresAt.Sub(got.Claims.IssuedAt.Time); life > token.MaxInternalTTL {
		t.Errorf("internal token lifetime %s, want ≤ %s", life, token.MaxInternalTTL)
	}
	for _, h := range []string{"X-User-Id", "X-Parley-User", "X-Parley-Internal", "X-Forwarded-Host", "X-Real-Ip", "Forwarded", "Cookie"} {
		if v := got.Header.Get(h); v != "" {
			t.Errorf("service saw client header %s: %q", h, v)
		}
	}
	if v := got.Header.Get("X-Forwarded-For"); v != "127.0.0.1" {
		t.Errorf("X-Forwarded-For = %q, want the real client IP 127.0.0.1", v)
	}
	if v := got.Header.Get("X-Custom"); v != "kept" {
		t.Errorf("ordinary header X-Custom = %q, want it forwarded", v)
	}
	tc, ok := trace.Parse(got.Header.Get("Traceparent"))
	if !ok || tc.TraceID == "11111111111111111111111111111111" {
		t.Errorf("traceparent %q: want a new trace started by the gateway", got.Header.Get("Traceparent"))
	}
	if tc.TraceID != resp.Header.Get("X-Trace-Id") {
		t.Errorf("service trace %s differs from the client's X-Trace-Id %s", tc.TraceID, resp.Header.Get("X-Trace-Id"))
	}
}

func TestEachServiceGetsItsOwnAudience(t *testing.T) {
	e := newEnv(t, envOptions{})
	c, _ := e.login(nil)
	for _, tc := range []struct {
		path string
		up   *upstream
		aud  string
	}{
		{"/api/v1/auth/me", e.auth, token.AudienceAuth},
		{"/api/v1/users/me", e.users, token.AudienceUsers},
		{"/api/v1/conversations", e.chat, token.AudienceChat},
		{"/api/v1/messages/search?q=hi", e.chat, token.AudienceChat},
	} {
		resp := e.do(c, "GET", tc.path, "", nil)
		readAll(t, resp)
		if resp.StatusCode != http.StatusOK {
			t.Errorf("%s: status %d, want 200", tc.path, resp.StatusCode)
			continue
		}
		if aud := tc.up.last().Claims.Audience; len(aud) != 1 || aud[0] != tc.aud {
			t.Errorf("%s: aud %v, want %s", tc.path, aud, tc.aud)
		}
	}
}

func TestUpstreamClientErrorPassesUnchanged(t *testing.T) {
	e := newEnv(t, envOptions{})
	c, _ := e.login(nil)
	body := `{"type":"https://parley.chat/problems/validation_failed","title":"Bad Request","status":400,"code":"validation_failed","detail":"one or more fields are invalid","traceId":"abc","errors":[{"field":"body","message":"too long"}]}`
	e.chat.setHandler(func(c *gin.Context) {
		c.Header("Retry-After", "7")
		c.Data(http.StatusBadRequest, "application/problem+json", []byte(body))
	})
	resp := e.do(c, "POST", "/api/v1/conversations/c-1/messages", `{"body":"x"}`, nil)
	got := readAll(t, resp)
	if resp.StatusCode != http.StatusBadRequest || got != body {
		t.Errorf("got %d %s\nwant 400 %s", resp.StatusCode, got, body)
	}
	if ct := resp.Header.Get("Content-Type"); ct != "application/problem+json" {
		t.Errorf("Content-Type = %q", ct)
	}
	if ra := resp.Header.Get("Retry-After"); ra != "7" {
		t.Errorf("Retry-After = %q, want 7", ra)
	}
}

func TestUpstreamFailures(t *testing.T) {
	// A port nothing listens on: connection refused.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	deadURL := "http://" + ln.Addr().String()
	_ = ln.Close()

	tests := []struct {
		name       string
		opts       envOptions
		handler    func(*gin.Context)
		wantStatus int
		wantCode   string
	}{
		{"service down", envOptions{chatURL: deadURL}, nil, http.StatusServiceUnavailable, "unavailable"},
		{"service slow", envOptions{timeout: 300 * time.Millisecond}, func(c *gin.Context) {
			select {
			case <-time.After(5 * time.Second):
			case <-c.Request.Context().Done():
			}
			c.Status(http.StatusOK)
		}, http.StatusGatewayTimeout, "gateway_timeout"},
		{"service 500 with internal detail", envOptions{}, func(c *gin.Context) {
			c.Data(http.StatusInternalServerError, "text/plain", []byte("pq: relation users does not exist at db-7.internal"))
		}, http.StatusBadGateway, "bad_gateway"},
		{"service 503", envOptions{}, func(c *gin.Context) {
			c.Data(http.StatusServiceUnavailable, "application/problem+json", []byte(`{"status":503,"detail":"db down at 10.0.0.7"}`))
		}, http.StatusServiceUnavailable, "unavailable"},
		// A service refusing work it cannot start soon says when to come
		// back; the client must hear it (DESIGN §9: REST 503 with
		// Retry-After).
		{"service overloaded", envOptions{}, func(c *gin.Context) {
			c.Header("Retry-After", "1")
			c.Data(http.StatusServiceUnavailable, "application/problem+json", []byte(`{"status":503,"code":"unavailable"}`))
		}, http.StatusServiceUnavailable, "unavailable"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t, tc.opts)
			if tc.handler != nil {
				e.chat.setHandler(tc.handler)
			}
			c, _ := e.login(nil)
			start := time.Now()
			resp := e.do(c, "GET", "/api/v1/conversations", "", nil)
			elapsed := time.Since(start)
			p := problemOf(t, resp)
			if resp.StatusCode != tc.wantStatus || p["code"] != tc.wantCode {
				t.Errorf("status %d code %v, want %d %s", resp.StatusCode, p["code"], tc.wantStatus, tc.wantCode)
			}
			// Down (nothing listens) is retryable too: the client hears when.
			if want := map[bool]string{true: "1"}[tc.name == "service overloaded" || tc.name == "service down"]; resp.Header.Get("Retry-After") != want {
				t.Errorf("Retry-After %q, want %q", resp.Header.Get("Retry-After"), want)
			}
			if p["traceId"] == "" || p["traceId"] != resp.Header.Get("X-Trace-Id") {
				t.Errorf("traceId %v, want the gateway's %s", p["traceId"], resp.Header.Get("X-Trace-Id"))
			}
			raw, _ := json.Marshal(p)
			for _, leak := range []string{"pq:", "db-7", "10.0.0.7", "127.0.0.1"} {
				if strings.Contains(string(raw), leak) {
					t.Errorf("problem leaks %q: %s", leak, raw)
				}
			}
			// Correctness bound, not a speed check: the answer must come
			// from the gateway's deadline, not from the upstream finishing.
			if elapsed >= 5*time.Second {
				t.Errorf("answered after %s, want before the slow upstream's 5s", elapsed)
			}
		})
	}
}

func TestCrossOriginStateChangeRefused(t *testing.T) {
	e := newEnv(t, envOptions{})
	c, _ := e.login(nil)
	tests := []struct {
		name       string
		method     string
		hdr        map[string]string
		wantStatus int
	}{
		{"cross-site POST with cookie", "POST", map[string]string{"Sec-Fetch-Site": "cross-site", "Origin": "https://evil.test"}, http.StatusForbidden},
		{"cross-origin Origin without Sec-Fetch-Site", "POST", map[string]string{"Origin": "https://evil.test"}, http.StatusForbidden},
		{"cross-site DELETE", "DELETE", map[string]string{"Sec-Fetch-Site": "cross-site"}, http.StatusForbidden},
		{"same-origin POST", "POST", map[string]string{"Sec-Fetch-Site": "same-origin"}, http.StatusOK},
		{"trusted origin POST", "POST", map[string]string{"Sec-Fetch-Site": "cross-site", "Origin": "https://app.parley.test"}, http.StatusOK},
		{"non-browser POST", "POST", nil, http.StatusOK},
		{"cross-site GET is safe", "GET", map[string]string{"Sec-Fetch-Site": "cross-site", "Origin": "https://evil.test"}, http.StatusOK},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			path, body := "/api/v1/conversations", `{"kind":"group","title":"x"}`
			if tc.method == "DELETE" {
				path, body = "/api/v1/conversations/c-1/members/u-2", ""
			}
			if tc.method == "GET" {
				body = ""
			}
			before := len(e.chat.requests())
			resp := e.do(c, tc.method, path, body, tc.hdr)
			if tc.wantStatus == http.StatusForbidden {
				p := problemOf(t, resp)
				if resp.StatusCode != http.StatusForbidden || p["code"] != "cross_origin_refused" {
					t.Errorf("status %d code %v, want 403 cross_origin_refused", resp.StatusCode, p["code"])
				}
				if len(e.chat.requests()) != before {
					t.Error("a refused request reached the service")
				}
				return
			}
			readAll(t, resp)
			if resp.StatusCode != tc.wantStatus {
				t.Errorf("status %d, want %d", resp.StatusCode, tc.wantStatus)
			}
		})
	}
}

func TestBodyLimit(t *testing.T) {
	e := newEnv(t, envOptions{})
	c, _ := e.login(nil)
	big := bytes.Repeat([]byte("a"), 10<<20)
	tests := []struct {
		name    string
		chunked bool
	}{
		{"10 MB with Content-Length", false},
		{"10 MB chunked", true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var body io.Reader = bytes.NewReader(big)
			if tc.chunked {
				body = io.MultiReader(bytes.NewReader(big)) // hides the length
			}
			req, _ := http.NewRequest("POST", e.gw.URL+"/api/v1/conversations/c-1/messages", body)
			req.Header.Set("Content-Type", "application/json")
			resp, err := c.Do(req)
			if err != nil {
				t.Fatalf("POST: %v", err)
			}
			p := problemOf(t, resp)
			if resp.StatusCode != http.StatusRequestEntityTooLarge || p["code"] != "body_too_large" {
				t.Errorf("status %d code %v, want 413 body_too_large", resp.StatusCode, p["code"])
			}
		})
	}
	t.Run("within the limit passes", func(t *testing.T) {
		resp := e.do(c, "POST", "/api/v1/conversations/c-1/messages", `{"body":"`+strings.Repeat("a", 500<<10)+`"}`, nil)
		readAll(t, resp)
		if resp.StatusCode != http.StatusOK {
			t.Errorf("status %d, want 200", resp.StatusCode)
		}
		if n := len(e.chat.last().Body); n < 500<<10 {
			t.Errorf("service got %d bytes, want the whole body", n)
		}
	})
}

func TestUnknownAndInternalRoutesAre404(t *testing.T) {
	e := newEnv(t, envOptions{})
	c, _ := e.login(nil)
	for _, path := range []string{"/api/v1/internal/revocations", "/api/v1/nope", "/api/v2/users/me", "/api/v1/auth/../internal/revocations"} {
		resp := e.do(c, "GET", path, "", nil)
		p := problemOf(t, resp)
		if resp.StatusCode != http.StatusNotFound || p["code"] != "not_found" {
			t.Errorf("%s: status %d code %v, want 404 not_found", path, resp.StatusCode, p["code"])
		}
	}
	if n := len(e.auth.requests()); n != 1 { // the login
		t.Errorf("auth-service saw %d requests, want only the login", n)
	}
	resp := e.do(c, "DELETE", "/api/v1/auth/me", "", nil)
	if p := problemOf(t, resp); resp.StatusCode != http.StatusMethodNotAllowed {
		t.Errorf("DELETE /auth/me: status %d (%v), want 405", resp.StatusCode, p)
	}
}

func TestSessionRevokeOfOwnSessionClearsCookies(t *testing.T) {
	e := newEnv(t, envOptions{})
	e.acceptDeletes()
	c, raw := e.login(nil)
	id, _ := e.authenticate.Authenticate(raw)
	resp := e.do(c, "DELETE", "/api/v1/auth/sessions/"+id.SessionID, "", nil)
	readAll(t, resp)
	if resp.StatusCode != http.StatusNoContent {
		t.Fatalf("status %d, want 204", resp.StatusCode)
	}
	if ck := cookieNamed(t, resp, httpapi.SessionCookie); ck.MaxAge >= 0 {
		t.Errorf("session cookie not cleared after revoking the current session")
	}
	resp = e.do(nil, "GET", "/api/v1/auth/me", "", map[string]string{"Cookie": httpapi.SessionCookie + "=" + raw})
	if p := problemOf(t, resp); p["code"] != "session_revoked" {
		t.Errorf("code %v, want session_revoked", p["code"])
	}
}

func TestCORSForTrustedOrigins(t *testing.T) {
	e := newEnv(t, envOptions{})
	c, _ := e.login(nil)
	tests := []struct {
		name, method, origin string
		wantACAO             string
		wantStatus           int
	}{
		{"trusted origin GET", "GET", "https://app.parley.test", "https://app.parley.test", http.StatusOK},
		{"trusted origin preflight", "OPTIONS", "https://app.parley.test", "https://app.parley.test", http.StatusNoContent},
		{"foreign origin GET", "GET", "https://evil.test", "", http.StatusOK},
		{"foreign origin preflight", "OPTIONS", "https://evil.test", "", http.StatusMethodNotAllowed},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			hdr := map[string]string{"Origin": tc.origin}
			if tc.method == "OPTIONS" {
				hdr["Access-Control-Request-Method"] = "POST"
			}
			resp := e.do(c, tc.method, "/api/v1/conversations", "", hdr)
			readAll(t, resp)
			if resp.StatusCode != tc.wantStatus {
				t.Errorf("status %d, want %d", resp.StatusCode, tc.wantStatus)
			}
			if got := resp.Header.Get("Access-Control-Allow-Origin"); got != tc.wantACAO {
				t.Errorf("Access-Control-Allow-Origin = %q, want %q", got, tc.wantACAO)
			}
			if tc.wantACAO != "" && resp.Header.Get("Access-Control-Allow-Credentials") != "true" {
				t.Error("credentials not allowed for a trusted origin")
			}
		})
	}
}
