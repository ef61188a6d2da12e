package httpapi_test

import (
	"maps"
	"net/http"
	"reflect"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/parleychat/parley/auth-service/internal/auth"
	"github.com/parleychat/parley/auth-service/internal/password"
	"github.com/parleychat/parley/shared/token"
	"github.com/parleychat/parley/shared/token/tokentest"
)

var cheap = password.Params{Memory: 64, Time: 1, Threads: 1, SaltLen: 16, KeyLen: 32}

var routes = []struct{ method, path, body string }{
	{"POST", "/api/v1/auth/signup", `{"username":"mallory","email":"m@example.com","password":"` + goodPassword + `"}`},
	{"POST", "/api/v1/auth/login", `{"login":"alice","password":"` + goodPassword + `"}`},
	{"POST", "/api/v1/auth/refresh", `{"refreshToken":"AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"}`},
	{"POST", "/api/v1/auth/logout", ""},
	{"GET", "/api/v1/auth/me", ""},
	{"PUT", "/api/v1/auth/password", `{"currentPassword":"x","newPassword":"y"}`},
	{"GET", "/api/v1/auth/sessions", ""},
	{"DELETE", "/api/v1/auth/sessions/0190b7c4-0000-7000-8000-000000000000", ""},
	{"GET", "/api/v1/internal/revocations", ""},
}

// TestEveryRouteRequiresTheGatewaysInternalToken covers the direct call
// (curl straight at the service) and every credential that is not an
// internal token for auth-service.
func TestEveryRouteRequiresTheGatewaysInternalToken(t *testing.T) {
	h := newHarness(t, cheap, nil)
	alice := h.signup(t, "alice")
	uid, sid := alice.str("user", "id"), alice.str("session", "id")
	now := time.Now().Truncate(time.Second)
	claims := func(aud string, iat, exp time.Time) token.Claims {
		return token.Claims{RegisteredClaims: jwt.RegisteredClaims{
			Subject: uid, Audience: jwt.ClaimStrings{aud},
			IssuedAt: jwt.NewNumericDate(iat), ExpiresAt: jwt.NewNumericDate(exp),
		}, SessionID: sid}
	}
	sign := func(s *token.Signer, c token.Claims) string {
		tok, err := s.Sign(c)
		if err != nil {
			t.Fatal(err)
		}
		return tok
	}
	stranger := tokentest.NewIssuer(t, token.IssuerGateway).Signer

	creds := []struct{ name, header string }{
		{"no Authorization header", ""},
		{"not a bearer token", "Basic YWxpY2U6cGFzc3dvcmQ="},
		{"the user's session token", "Bearer " + alice.str("tokens", "accessToken")},
		{"an internal token for user-service", "Bearer " + sign(h.gateway, claims(token.AudienceUsers, now, now.Add(30*time.Second)))},
		{"an internal token for chat-service", "Bearer " + sign(h.gateway, claims(token.AudienceChat, now, now.Add(30*time.Second)))},
		{"an expired internal token", "Bearer " + sign(h.gateway, claims(token.AudienceAuth, now.Add(-2*time.Minute), now.Add(-70*time.Second)))},
		{"an internal token signed by an unknown key", "Bearer " + sign(stranger, claims(token.AudienceAuth, now, now.Add(30*time.Second)))},
		{"garbage", "Bearer not.a.jwt"},
	}
	for _, rt := range routes {
		for _, c := range creds {
			t.Run(rt.method+" "+rt.path+"/"+c.name, func(t *testing.T) {
				var hdr []string
				if c.header != "" {
					hdr = []string{"Authorization", c.header}
				}
				// Identity headers a client might try are ignored.
				hdr = append(hdr, "X-User-Id", uid, "X-Session-Id", sid)
				h.do(t, rt.method, rt.path, rt.body, "", hdr...).want(t, http.StatusUnauthorized, "unauthorized")
			})
		}
	}
}

func TestUserRoutesRefuseNonUsers(t *testing.T) {
	h := newHarness(t, cheap, nil)
	alice := h.signup(t, "alice")
	for _, sub := range []string{"anonymous", "gateway"} {
		tok := h.internal(t, sub, "")
		for _, rt := range routes[4:8] {
			t.Run(sub+" "+rt.method+" "+rt.path, func(t *testing.T) {
				h.do(t, rt.method, rt.path, rt.body, tok, "X-User-Id", alice.str("user", "id")).
					want(t, http.StatusUnauthorized, "unauthorized")
			})
		}
	}
}

func TestAccountLifecycle(t *testing.T) {
	h := newHarness(t, cheap, nil)
	signup := h.signup(t, "alice")
	if got := signup.header.Get("Cache-Control"); got != "no-store" {
		t.Errorf("signup Cache-Control = %q, want no-store", got)
	}
	for _, f := range [][]string{{"user", "id"}, {"user", "username"}, {"user", "email"}, {"user", "createdAt"},
		{"session", "id"}, {"session", "expiresAt"}, {"tokens", "accessToken"}, {"tokens", "accessExpiresAt"},
		{"tokens", "refreshToken"}, {"tokens", "refreshExpiresAt"}} {
		if signup.str(f...) == "" {
			t.Errorf("signup answer lacks %s: %s", strings.Join(f, "."), signup.raw)
		}
	}
	if _, err := time.Parse(time.RFC3339, signup.str("user", "createdAt")); err != nil || !strings.HasSuffix(signup.str("user", "createdAt"), "Z") {
		t.Errorf("createdAt %q is not RFC 3339 UTC", signup.str("user", "createdAt"))
	}

	login := h.do(t, "POST", "/api/v1/auth/login", `{"login":"ALICE","password":"`+goodPassword+`"}`, h.anonymous(t),
		"X-Forwarded-For", "198.51.100.1, 203.0.113.99", "User-Agent", "phone/2").want(t, http.StatusOK, "")
	me := h.do(t, "GET", "/api/v1/auth/me", "", h.user(t, login)).want(t, http.StatusOK, "")
	if me.str("id") != signup.str("user", "id") || me.str("username") != "alice" || me.body["tokens"] != nil {
		t.Errorf("me = %s, want alice without tokens", me.raw)
	}

	list := h.do(t, "GET", "/api/v1/auth/sessions", "", h.user(t, login)).want(t, http.StatusOK, "")
	sessions, _ := list.body["sessions"].([]any)
	if len(sessions) != 2 {
		t.Fatalf("sessions = %s, want 2", list.raw)
	}
	cur := sessions[0].(map[string]any)
	if cur["id"] != login.str("session", "id") || cur["current"] != true || cur["ip"] != "203.0.113.99" || cur["userAgent"] != "phone/2" {
		t.Errorf("first session = %v, want the login's, current, from the last X-Forwarded-For entry", cur)
	}

	refreshed := h.do(t, "POST", "/api/v1/auth/refresh", `{"refreshToken":"`+login.str("tokens", "refreshToken")+`"}`, h.anonymous(t)).
		want(t, http.StatusOK, "")
	if refreshed.str("tokens", "refreshToken") == login.str("tokens", "refreshToken") || refreshed.str("session", "id") != login.str("session", "id") {
		t.Errorf("refresh = %s, want a rotated token in the same session", refreshed.raw)
	}

	changed := h.do(t, "PUT", "/api/v1/auth/password", `{"currentPassword":"`+goodPassword+`","newPassword":"an even better passphrase"}`,
		h.user(t, login)).want(t, http.StatusOK, "")
	if changed.str("tokens", "accessToken") == "" || changed.str("session", "id") == login.str("session", "id") {
		t.Errorf("password change = %s, want tokens for a new session", changed.raw)
	}
	h.do(t, "POST", "/api/v1/auth/refresh", `{"refreshToken":"`+refreshed.str("tokens", "refreshToken")+`"}`, h.anonymous(t)).
		want(t, http.StatusUnauthorized, "invalid_refresh_token")

	second := h.do(t, "POST", "/api/v1/auth/login", `{"login":"alice@example.com","password":"an even better passphrase"}`, h.anonymous(t)).
		want(t, http.StatusOK, "")
	h.do(t, "DELETE", "/api/v1/auth/sessions/"+second.str("session", "id"), "", h.user(t, changed)).want(t, http.StatusNoContent, "")
	h.do(t, "POST", "/api/v1/auth/logout", "", h.user(t, changed)).want(t, http.StatusNoContent, "")
	h.do(t, "POST", "/api/v1/auth/refresh", `{"refreshToken":"`+changed.str("tokens", "refreshToken")+`"}`, h.anonymous(t)).
		want(t, http.StatusUnauthorized, "invalid_refresh_token")

	snap := h.do(t, "GET", "/api/v1/internal/revocations", "", h.internal(t, "gateway", "")).want(t, http.StatusOK, "")
	revoked, _ := snap.body["sessions"].([]any)
	pw, _ := snap.body["passwordChanges"].([]any)
	if len(revoked) != 4 || len(pw) != 1 {
		t.Fatalf("revocations = %s, want 4 sessions (2 by the password change, 1 revoke, 1 logout) and 1 password change", snap.raw)
	}
	first := revoked[0].(map[string]any)
	for _, k := range []string{"sessionId", "userId", "revokedUntil"} {
		if s, _ := first[k].(string); s == "" {
			t.Errorf("revocation entry lacks %s: %v", k, first)
		}
	}
}

func TestRefreshReuseOverHTTP(t *testing.T) {
	h := newHarness(t, cheap, func(c *auth.Config) { c.ReuseGrace = 0 })
	alice := h.signup(t, "alice")
	rt := `{"refreshToken":"` + alice.str("tokens", "refreshToken") + `"}`
	next := h.do(t, "POST", "/api/v1/auth/refresh", rt, h.anonymous(t)).want(t, http.StatusOK, "")
	time.Sleep(10 * time.Millisecond) // past the (zero) grace
	h.do(t, "POST", "/api/v1/auth/refresh", rt, h.anonymous(t)).want(t, http.StatusUnauthorized, "refresh_token_reused")
	h.do(t, "POST", "/api/v1/auth/refresh", `{"refreshToken":"`+next.str("tokens", "refreshToken")+`"}`, h.anonymous(t)).
		want(t, http.StatusUnauthorized, "invalid_refresh_token")
}

func TestInvalidCredentialsAreUniform(t *testing.T) {
	h := newHarness(t, cheap, nil)
	h.signup(t, "alice")
	wrong := h.do(t, "POST", "/api/v1/auth/login", `{"login":"alice","password":"not the password"}`, h.anonymous(t)).
		want(t, http.StatusUnauthorized, "invalid_credentials")
	unknown := h.do(t, "POST", "/api/v1/auth/login", `{"login":"nobody","password":"not the password"}`, h.anonymous(t)).
		want(t, http.StatusUnauthorized, "invalid_credentials")
	delete(wrong.body, "traceId")
	delete(unknown.body, "traceId")
	if !reflect.DeepEqual(wrong.body, unknown.body) {
		t.Errorf("wrong password body %s differs from unknown user body %s", wrong.raw, unknown.raw)
	}
}

func TestFailedLoginsAreThrottled(t *testing.T) {
	const bound = 5 // per account, from any mix of addresses
	h := newHarness(t, cheap, func(c *auth.Config) { c.AccountFailures = bound })
	h.signup(t, "alice")
	for i := range bound {
		h.do(t, "POST", "/api/v1/auth/login", `{"login":"alice","password":"guess number `+strconv.Itoa(i)+`"}`, h.anonymous(t),
			"X-Forwarded-For", "192.0.2."+strconv.Itoa(i+1)).want(t, http.StatusUnauthorized, "invalid_credentials")
	}
	r := h.do(t, "POST", "/api/v1/auth/login", `{"login":"alice","password":"`+goodPassword+`"}`, h.anonymous(t),
		"X-Forwarded-For", "192.0.2.200").want(t, http.StatusTooManyRequests, "too_many_attempts")
	secs, err := strconv.Atoi(r.header.Get("Retry-After"))
	if err != nil || secs < 1 || secs > int((15*time.Minute).Seconds()) {
		t.Errorf("Retry-After = %q, want whole seconds in [1, 900]", r.header.Get("Retry-After"))
	}
}

func TestBodiesAreStrict(t *testing.T) {
	h := newHarness(t, cheap, nil)
	tests := []struct {
		name, body string
		status     int
		code       string
		fields     map[string]string
	}{
		{"unknown field", `{"login":"a","password":"b","admin":true}`, 400, "validation_failed", map[string]string{"admin": "unknown field"}},
		{"wrong type", `{"login":"a","password":12345678}`, 400, "validation_failed", map[string]string{"password": "must be a string"}},
		{"not JSON", `login=a&password=b`, 400, "validation_failed", map[string]string{"": "body is not valid JSON"}},
		{"missing fields", `{}`, 400, "validation_failed", map[string]string{"login": "is required", "password": "is required"}},
		{"password over 1024 characters", `{"login":"a","password":"` + strings.Repeat("p", 1025) + `"}`, 400, "validation_failed",
			map[string]string{"password": "must be at most 1024 characters"}},
		{"over the body limit", `{"login":"a","password":"` + strings.Repeat("p", 20<<10) + `"}`, 413, "body_too_large", nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := h.do(t, "POST", "/api/v1/auth/login", tc.body, h.anonymous(t)).want(t, tc.status, tc.code)
			if tc.fields != nil {
				if got := r.fieldErrors(); !maps.Equal(got, tc.fields) {
					t.Errorf("field errors = %v, want %v", got, tc.fields)
				}
			}
		})
	}
	r := h.do(t, "POST", "/api/v1/auth/signup", `{"username":"Bad Name","email":"nope","password":"password"}`, h.anonymous(t)).
		want(t, 400, "validation_failed")
	if got := r.fieldErrors(); len(got) != 3 {
		t.Errorf("signup field errors = %v, want username, email and password", got)
	}
	h.signup(t, "alice")
	r = h.do(t, "POST", "/api/v1/auth/signup", `{"username":"alice2","email":"ALICE@example.com","password":"`+goodPassword+`"}`, h.anonymous(t)).
		want(t, http.StatusConflict, "conflict")
	if got := r.fieldErrors(); got["email"] != "is already registered" || len(got) != 1 {
		t.Errorf("conflict field errors = %v, want email only", got)
	}
}
