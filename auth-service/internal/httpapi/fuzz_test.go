package httpapi_test

import (
	"net/http"
	"testing"
)

// FuzzBodies sends arbitrary bodies and User-Agent values to every route
// that decodes a body, through the real router and database: whatever a
// client crafts, the answer is never a 5xx and never a redirect.
func FuzzBodies(f *testing.F) {
	h := newHarness(f, cheap, nil)
	a := h.signup(f, "alice")
	user := h.internal(f, a.str("user", "id"), a.str("session", "id"))
	routes := []struct {
		method, path string
		signedIn     bool
	}{
		{"POST", "/api/v1/auth/signup", false},
		{"POST", "/api/v1/auth/login", false},
		{"POST", "/api/v1/auth/refresh", false},
		{"POST", "/api/v1/auth/logout", false},
		{"PUT", "/api/v1/auth/password", true},
	}
	f.Add(uint8(0), []byte(`{"username":"bob","email":"bob@example.com","password":"`+goodPassword+`"}`), "Mozilla/5.0")
	f.Add(uint8(1), []byte(`{"login":"al\u0000ice","password":"x"}`), "\xff\xfe")
	f.Add(uint8(1), []byte(`{"login":"alice","password":"`+goodPassword+`"}`), "curl/8 \x80")
	f.Add(uint8(2), []byte(`{"refreshToken":"\ud800"}`), "")
	f.Add(uint8(3), []byte(`{"refreshToken":12}`), "")
	f.Add(uint8(4), []byte(`{"currentPassword":"`+goodPassword+`","newPassword":"\u0000"}`), "")
	f.Add(uint8(4), []byte("{\"currentPassword\":\"\xff\",\"newPassword\":\"a\"}"), "x")
	f.Fuzz(func(t *testing.T, route uint8, body []byte, userAgent string) {
		if !sendable(userAgent) {
			return // no HTTP client can send it, and Go's server refuses it before any handler
		}
		r := routes[int(route)%len(routes)]
		bearer := h.anonymous(t)
		if r.signedIn {
			bearer = user
		}
		got := h.do(t, r.method, r.path, string(body), bearer, "User-Agent", userAgent, "X-Forwarded-For", "198.51.100.1")
		if got.status >= http.StatusInternalServerError || (got.status >= 300 && got.status < 400) {
			t.Errorf("%s %s %q (User-Agent %q) = %d %s", r.method, r.path, body, userAgent, got.status, got.raw)
		}
	})
}

// sendable reports whether v may travel as a header value: no control
// characters other than tab (RFC 9110 field-value).
func sendable(v string) bool {
	for i := 0; i < len(v); i++ {
		if b := v[i]; (b < 0x20 && b != '\t') || b == 0x7f {
			return false
		}
	}
	return true
}
