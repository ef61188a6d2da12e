package httpapi_test

import (
	"net/http"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/gin-gonic/gin"

	"github.com/parleychat/parley/gateway/internal/httpapi"
)

// noRedirects is a client that shows a 3xx instead of following it.
func noRedirects(c *http.Client) *http.Client {
	c.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	return c
}

func TestUpstreamRedirectIsNeverForwarded(t *testing.T) {
	for _, status := range []int{http.StatusMovedPermanently, http.StatusFound, http.StatusSeeOther,
		http.StatusNotModified, http.StatusTemporaryRedirect, http.StatusPermanentRedirect} {
		t.Run(http.StatusText(status), func(t *testing.T) {
			e := newEnv(t, envOptions{})
			e.chat.setHandler(func(c *gin.Context) {
				c.Header("Location", "http://chat.internal:8083/api/v1/conversations/")
				c.Status(status)
			})
			c, _ := e.login(nil)
			resp := e.do(noRedirects(c), "GET", "/api/v1/conversations", "", nil)
			loc := resp.Header.Get("Location")
			p := problemOf(t, resp)
			if resp.StatusCode != http.StatusBadGateway || p["code"] != "bad_gateway" {
				t.Errorf("status %d code %v, want 502 bad_gateway", resp.StatusCode, p["code"])
			}
			if loc != "" {
				t.Errorf("Location %q reached the client", loc)
			}
		})
	}
}

func TestGatewayNeverRedirects(t *testing.T) {
	e := newEnv(t, envOptions{})
	c, _ := e.login(nil)
	for _, path := range []string{"/api/v1/users/me/", "/api/v1/USERS/me", "/api/v1//users/me", "/api/v1/conversations/"} {
		resp := e.do(noRedirects(c), "GET", path, "", nil)
		p := problemOf(t, resp)
		if resp.StatusCode != http.StatusNotFound || p["code"] != "not_found" {
			t.Errorf("GET %s: status %d code %v (Location %q), want 404 not_found",
				path, resp.StatusCode, p["code"], resp.Header.Get("Location"))
		}
	}
}

func TestPanicAnswersProblem(t *testing.T) {
	e := newEnv(t, envOptions{realtime: http.HandlerFunc(func(http.ResponseWriter, *http.Request) {
		panic("a defect")
	})})
	resp := e.do(nil, "GET", "/socket.io/?EIO=4&transport=polling", "", nil)
	p := problemOf(t, resp)
	if resp.StatusCode != http.StatusInternalServerError || p["code"] != "internal" {
		t.Errorf("status %d code %v, want 500 internal", resp.StatusCode, p["code"])
	}
	if p["traceId"] == "" || p["traceId"] != resp.Header.Get("X-Trace-Id") {
		t.Errorf("traceId %v, want the request's %s", p["traceId"], resp.Header.Get("X-Trace-Id"))
	}
	if strings.Contains(readAllString(p), "a defect") {
		t.Errorf("the panic value reached the client: %v", p)
	}
}

func readAllString(p map[string]any) string {
	var b strings.Builder
	for k, v := range p {
		b.WriteString(k)
		if s, ok := v.(string); ok {
			b.WriteString(s)
		}
	}
	return b.String()
}

// A revoke by a non-canonical form of the session id must not reach a
// service that might accept it while this gateway's immediate revocation
// misses it: such forms name no session (404); a case difference is the
// same session and is revoked here at once.
func TestSessionRevokeIDForms(t *testing.T) {
	tests := []struct {
		name       string
		form       func(sid string) string
		wantStatus int
		revoked    bool
	}{
		{"canonical", func(s string) string { return s }, http.StatusNoContent, true},
		{"upper case", strings.ToUpper, http.StatusNoContent, true},
		{"urn:uuid", func(s string) string { return "urn:uuid:" + s }, http.StatusNotFound, false},
		{"braces", func(s string) string { return "%7B" + s + "%7D" }, http.StatusNotFound, false},
		{"32 digits", func(s string) string { return strings.ReplaceAll(s, "-", "") }, http.StatusNotFound, false},
		{"not an id", func(string) string { return "current" }, http.StatusNotFound, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t, envOptions{})
			e.acceptDeletes()
			c, raw := e.login(nil)
			id, _ := e.authenticate.Authenticate(raw)
			before := len(e.auth.requests())
			resp := e.do(c, "DELETE", "/api/v1/auth/sessions/"+tc.form(id.SessionID), "", nil)
			readAll(t, resp)
			if resp.StatusCode != tc.wantStatus {
				t.Fatalf("status %d, want %d", resp.StatusCode, tc.wantStatus)
			}
			if forwarded := len(e.auth.requests()) > before; forwarded != tc.revoked {
				t.Errorf("forwarded to auth-service: %v, want %v", forwarded, tc.revoked)
			}
			resp = e.do(nil, "GET", "/api/v1/auth/me", "", map[string]string{"Cookie": httpapi.SessionCookie + "=" + raw})
			readAll(t, resp)
			if got := resp.StatusCode == http.StatusUnauthorized; got != tc.revoked {
				t.Errorf("GET /auth/me after the revoke: status %d, want revoked=%v", resp.StatusCode, tc.revoked)
			}
		})
	}
}

// The client address the gateway forwards (and logs) comes from a header a
// client can write when a proxy is trusted; only a parsed IP may pass.
func TestForwardedClientIPIsSanitized(t *testing.T) {
	e := newEnv(t, envOptions{trustedProxies: []string{"127.0.0.1"}})
	c, _ := e.login(nil)
	for _, xff := range []string{"\xff\xfe, 10.1.2.3", "admin", "1.2.3.4\xc3", "<script>, 127.0.0.1", "203.0.113.9"} {
		resp := e.do(c, "GET", "/api/v1/users/me", "", map[string]string{"X-Forwarded-For": xff})
		readAll(t, resp)
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("X-Forwarded-For %q: status %d, want 200", xff, resp.StatusCode)
		}
		got := e.users.last().Header.Get("X-Forwarded-For")
		if !utf8.ValidString(got) || strings.ContainsAny(got, "<>,\x7f ") || got == "" {
			t.Errorf("X-Forwarded-For %q forwarded as %q, want one IP", xff, got)
		}
	}
}
