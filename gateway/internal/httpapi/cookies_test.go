package httpapi_test

import (
	"encoding/json"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"testing"

	"github.com/parleychat/parley/gateway/internal/httpapi"
	"github.com/parleychat/parley/gateway/internal/session"
)

// cookieNamed finds the Set-Cookie for name in resp.
func cookieNamed(t *testing.T, resp *http.Response, name string) *http.Cookie {
	t.Helper()
	for _, c := range resp.Cookies() {
		if c.Name == name {
			return c
		}
	}
	t.Fatalf("no Set-Cookie for %s in %v", name, resp.Header.Values("Set-Cookie"))
	return nil
}

func TestSessionCookieAttributes(t *testing.T) {
	tests := []struct {
		name   string
		secure bool
		route  string
		status int
	}{
		{"signup over plain http", false, "/api/v1/auth/signup", http.StatusCreated},
		{"login over plain http", false, "/api/v1/auth/login", http.StatusOK},
		{"login with COOKIE_SECURE", true, "/api/v1/auth/login", http.StatusOK},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t, envOptions{secure: tc.secure})
			resp := e.do(nil, "POST", tc.route, `{"login":"alice","password":"pw"}`, nil)
			readAll(t, resp)
			if resp.StatusCode != tc.status {
				t.Fatalf("status = %d, want %d", resp.StatusCode, tc.status)
			}
			for _, want := range []struct{ name, path string }{
				{httpapi.SessionCookie, "/"},
				{httpapi.RefreshCookie, "/api/v1/auth"},
			} {
				c := cookieNamed(t, resp, want.name)
				if !c.HttpOnly {
					t.Errorf("%s: HttpOnly = false, want true", want.name)
				}
				if c.SameSite != http.SameSiteLaxMode {
					t.Errorf("%s: SameSite = %v, want Lax", want.name, c.SameSite)
				}
				if c.Path != want.path {
					t.Errorf("%s: Path = %q, want %q", want.name, c.Path, want.path)
				}
				if c.Secure != tc.secure {
					t.Errorf("%s: Secure = %v, want %v", want.name, c.Secure, tc.secure)
				}
				if c.Value == "" || c.MaxAge <= 0 {
					t.Errorf("%s: value %q, Max-Age %d; want a value that persists", want.name, c.Value, c.MaxAge)
				}
			}
			if cc := resp.Header.Get("Cache-Control"); cc != "no-store" {
				t.Errorf("Cache-Control = %q, want no-store", cc)
			}
		})
	}
}

func TestTokensNeverInBody(t *testing.T) {
	e := newEnv(t, envOptions{})
	c := e.client()
	for _, route := range []string{"/api/v1/auth/signup", "/api/v1/auth/login", "/api/v1/auth/refresh"} {
		t.Run(route, func(t *testing.T) {
			resp := e.do(c, "POST", route, `{"login":"alice","password":"pw"}`, nil)
			body := readAll(t, resp)
			if resp.StatusCode/100 != 2 {
				t.Fatalf("status = %d, want 2xx (body %s)", resp.StatusCode, body)
			}
			session := cookieNamed(t, resp, httpapi.SessionCookie).Value
			refresh := cookieNamed(t, resp, httpapi.RefreshCookie).Value
			for _, secret := range []string{session, refresh, "accessToken", "refreshToken", `"tokens"`} {
				if strings.Contains(body, secret) {
					t.Errorf("body contains %q: %s", secret, body)
				}
			}
			var doc map[string]json.RawMessage
			if err := json.Unmarshal([]byte(body), &doc); err != nil {
				t.Fatalf("body is not JSON: %v", err)
			}
			if _, ok := doc["user"]; !ok {
				t.Errorf("body lost the user object: %s", body)
			}
			if _, ok := doc["session"]; !ok {
				t.Errorf("body lost the session object: %s", body)
			}
			if got := resp.Header.Get("Content-Length"); got != "" && got != itoa(len(body)) {
				t.Errorf("Content-Length = %s, body has %d bytes", got, len(body))
			}
		})
	}
}

func itoa(n int) string { b, _ := json.Marshal(n); return string(b) }

func TestPlantedCookieIsReplaced(t *testing.T) {
	e := newEnv(t, envOptions{})
	c := e.client()
	u, _ := url.Parse(e.gw.URL + "/")
	// An attacker (or an old tab) planted a session cookie with the same
	// name and path before the user logs in.
	planted := e.sessionToken("attacker-user", "attacker-session")
	c.Jar.SetCookies(u, []*http.Cookie{{Name: httpapi.SessionCookie, Value: planted, Path: "/"}})

	_, got := e.login(c)
	if got == planted {
		t.Fatal("session cookie after login is still the planted one")
	}
	n := 0
	for _, ck := range c.Jar.Cookies(u) {
		if ck.Name == httpapi.SessionCookie {
			n++
		}
	}
	if n != 1 {
		t.Errorf("jar holds %d session cookies for /, want 1", n)
	}
	resp := e.do(c, "GET", "/api/v1/auth/me", "", nil)
	readAll(t, resp)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("me: status %d, want 200", resp.StatusCode)
	}
	if sub := e.auth.last().Claims.Subject; sub == "attacker-user" {
		t.Errorf("request after login ran as the planted user")
	}
}

func TestRefreshSendsCookieNotBody(t *testing.T) {
	e := newEnv(t, envOptions{})
	c, before := e.login(nil)
	// A page script cannot choose the refresh token: the body is replaced.
	resp := e.do(c, "POST", "/api/v1/auth/refresh", `{"refreshToken":"rt-forged:x:y"}`, nil)
	readAll(t, resp)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("refresh: status %d, want 200", resp.StatusCode)
	}
	sent := e.auth.last()
	if strings.Contains(sent.Body, "forged") || !strings.Contains(sent.Body, `"refreshToken":"rt-`) {
		t.Errorf("auth-service got body %s, want the cookie's refresh token", sent.Body)
	}
	if sent.Claims.Subject != "anonymous" {
		t.Errorf("refresh internal token sub = %q, want anonymous", sent.Claims.Subject)
	}
	if after := cookieNamed(t, resp, httpapi.SessionCookie).Value; after == before {
		t.Error("refresh did not rotate the session cookie")
	}
}

func TestRefreshWithoutCookie(t *testing.T) {
	e := newEnv(t, envOptions{})
	resp := e.do(nil, "POST", "/api/v1/auth/refresh", `{"refreshToken":"rt-x:y:z"}`, nil)
	p := problemOf(t, resp)
	if resp.StatusCode != http.StatusUnauthorized || p["code"] != "unauthorized" {
		t.Errorf("status %d code %v, want 401 unauthorized", resp.StatusCode, p["code"])
	}
	if n := len(e.auth.requests()); n != 0 {
		t.Errorf("auth-service saw %d requests, want 0", n)
	}
}

func TestRefusedRefreshClearsCookies(t *testing.T) {
	e := newEnv(t, envOptions{})
	c := e.client()
	u, _ := url.Parse(e.gw.URL + "/api/v1/auth/")
	c.Jar.SetCookies(u, []*http.Cookie{{Name: httpapi.RefreshCookie, Value: "reused", Path: "/api/v1/auth"}})
	resp := e.do(c, "POST", "/api/v1/auth/refresh", "", nil)
	p := problemOf(t, resp)
	if resp.StatusCode != http.StatusUnauthorized || p["code"] != "invalid_refresh_token" {
		t.Fatalf("status %d code %v, want auth-service's 401 invalid_refresh_token", resp.StatusCode, p["code"])
	}
	for _, name := range []string{httpapi.SessionCookie, httpapi.RefreshCookie} {
		if ck := cookieNamed(t, resp, name); ck.MaxAge >= 0 {
			t.Errorf("%s: Max-Age %d, want deletion", name, ck.MaxAge)
		}
	}
}

func TestLogoutClearsCookies(t *testing.T) {
	tests := []struct {
		name       string
		authDown   bool
		withCookie bool
		wantStatus int
	}{
		{"with session", false, true, http.StatusNoContent},
		{"auth-service down", true, true, http.StatusServiceUnavailable},
		{"no cookies at all", false, false, http.StatusNoContent},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t, envOptions{})
			c := e.client()
			if tc.withCookie {
				c, _ = e.login(c)
			}
			if tc.authDown {
				e.auth.srv.Close()
			}
			resp := e.do(c, "POST", "/api/v1/auth/logout", "", nil)
			readAll(t, resp)
			if resp.StatusCode != tc.wantStatus {
				t.Errorf("status = %d, want %d", resp.StatusCode, tc.wantStatus)
			}
			for _, name := range []string{httpapi.SessionCookie, httpapi.RefreshCookie} {
				if ck := cookieNamed(t, resp, name); ck.MaxAge >= 0 || ck.Value != "" {
					t.Errorf("%s: value %q Max-Age %d, want deleted", name, ck.Value, ck.MaxAge)
				}
			}
		})
	}
}

// A successful refresh reports the new session token's identity (the
// gateway moves the session's sockets to its expiry); a refused one reports
// nothing.
func TestRefreshReportsNewIdentity(t *testing.T) {
	var mu sync.Mutex
	var got []session.Identity
	e := newEnv(t, envOptions{refreshed: func(id session.Identity) {
		mu.Lock()
		got = append(got, id)
		mu.Unlock()
	}})
	c, raw := e.login(nil)
	before, _ := e.authenticate.Authenticate(raw)
	resp := e.do(c, "POST", "/api/v1/auth/refresh", "", nil)
	readAll(t, resp)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("refresh: status %d, want 200", resp.StatusCode)
	}
	refused := e.do(nil, "POST", "/api/v1/auth/refresh", "", map[string]string{"Cookie": httpapi.RefreshCookie + "=forged"})
	readAll(t, refused)
	mu.Lock()
	defer mu.Unlock()
	if len(got) != 1 {
		t.Fatalf("reported %d refreshes, want 1 (the refused one reports nothing)", len(got))
	}
	if got[0].UserID != before.UserID || got[0].SessionID != before.SessionID || got[0].ExpiresAt.IsZero() {
		t.Errorf("reported %+v, want user %s session %s with an expiry", got[0], before.UserID, before.SessionID)
	}
}
