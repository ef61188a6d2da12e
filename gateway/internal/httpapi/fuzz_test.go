package httpapi_test

import (
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"

	"github.com/parleychat/parley/gateway/internal/httpapi"
)

// FuzzSessionRequest sends what a client controls on the gateway's own
// handlers (the session and refresh cookies, Origin and Sec-Fetch-Site for
// the CSRF check, the session id in a revoke path) to the routes that read
// them. Whatever arrives, the answer is never a 5xx, and every refusal is
// problem+json.
func FuzzSessionRequest(f *testing.F) {
	e := newEnv(f, envOptions{})
	_, raw := e.login(nil)
	id, _ := e.authenticate.Authenticate(raw)
	routes := []struct{ method, path string }{
		{"GET", "/api/v1/auth/me"},
		{"DELETE", "/api/v1/auth/sessions/"},
		{"POST", "/api/v1/auth/logout"},
		{"POST", "/api/v1/auth/refresh"},
		{"PUT", "/api/v1/auth/password"},
	}
	for i := range routes {
		f.Add(uint8(i), raw, "", "", "", id.SessionID)
		f.Add(uint8(i), "garbage", "rt-x", "https://evil.test", "cross-site", "urn:uuid:"+id.SessionID)
		f.Add(uint8(i), raw+"\xff", "\xfe", "https://app.parley.test", "same-origin", "%7B"+id.SessionID+"%7D")
		f.Add(uint8(i), "", "rt-1:u:s", "null", "none", strings.ToUpper(id.SessionID))
	}
	f.Fuzz(func(t *testing.T, route uint8, session, refresh, origin, fetchSite, sid string) {
		for _, v := range []string{session, refresh, origin, fetchSite} {
			if !wireValue(v) {
				return // net/http's server answers 400 before any handler runs
			}
		}
		rt := routes[int(route)%len(routes)]
		path := rt.path
		if strings.HasSuffix(path, "/") {
			path += url.PathEscape(sid)
		}
		req := httptest.NewRequest(rt.method, path, nil)
		req.Header.Set("Cookie", httpapi.SessionCookie+"="+session+"; "+httpapi.RefreshCookie+"="+refresh)
		if origin != "" {
			req.Header.Set("Origin", origin)
		}
		if fetchSite != "" {
			req.Header.Set("Sec-Fetch-Site", fetchSite)
		}
		w := httptest.NewRecorder()
		e.router.ServeHTTP(w, req)
		if w.Code >= 500 {
			t.Fatalf("%s %s: %d %s", rt.method, path, w.Code, w.Body)
		}
		if w.Code >= 400 && !strings.HasPrefix(w.Header().Get("Content-Type"), "application/problem+json") {
			t.Fatalf("%s %s: %d with Content-Type %q", rt.method, path, w.Code, w.Header().Get("Content-Type"))
		}
		if w.Code/100 == 3 {
			t.Fatalf("%s %s: redirect %d to %q", rt.method, path, w.Code, w.Header().Get("Location"))
		}
	})
}

// wireValue reports whether v can arrive as a header value: net/http's
// server refuses control characters other than tab (RFC 9110 field-value).
func wireValue(v string) bool {
	for i := 0; i < len(v); i++ {
		if b := v[i]; (b < ' ' && b != '\t') || b == 0x7f {
			return false
		}
	}
	return true
}
