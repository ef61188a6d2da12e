package httpapi_test

import (
	"context"
	"encoding/json"
	"net/http"
	"strconv"
	"strings"
	"testing"

	"github.com/parleychat/parley/auth-service/internal/auth"
)

// Crafted text in a body, a stored header or a path is refused with a field
// error or not found, never a 5xx.
func TestCraftedInputNeverAnswers5xx(t *testing.T) {
	h := newHarness(t, cheap, nil)
	alice := h.signup(t, "alice")
	user := h.internal(t, alice.str("user", "id"), alice.str("session", "id"))
	tests := []struct {
		name, method, path, body string
		anonymous                bool
		status                   int
		field                    string // expected with a 400 ("" for the body itself)
	}{
		{"NUL in the login name", "POST", "/api/v1/auth/login", `{"login":"al\u0000ice","password":"x"}`, true, 400, "login"},
		{"NUL in a signup username", "POST", "/api/v1/auth/signup", `{"username":"b\u0000b","email":"b@example.com","password":"` + goodPassword + `"}`, true, 400, "username"},
		{"invalid UTF-8 in a password", "POST", "/api/v1/auth/login", "{\"login\":\"alice\",\"password\":\"\xff\xfe\"}", true, 400, ""},
		{"NUL in a refresh token", "POST", "/api/v1/auth/refresh", `{"refreshToken":"\u0000"}`, true, 400, "refreshToken"},
		{"NUL in a new password", "PUT", "/api/v1/auth/password", `{"currentPassword":"` + goodPassword + `","newPassword":"new\u0000passphrase"}`, false, 400, "newPassword"},
		{"urn:uuid session id", "DELETE", "/api/v1/auth/sessions/urn:uuid:" + alice.str("session", "id"), "", false, 404, ""},
		{"braced session id", "DELETE", "/api/v1/auth/sessions/%7B" + alice.str("session", "id") + "%7D", "", false, 404, ""},
		{"32-digit session id", "DELETE", "/api/v1/auth/sessions/" + strings.ReplaceAll(alice.str("session", "id"), "-", ""), "", false, 404, ""},
		{"NUL session id", "DELETE", "/api/v1/auth/sessions/%00", "", false, 404, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			bearer := user
			if tc.anonymous {
				bearer = h.anonymous(t)
			}
			r := h.do(t, tc.method, tc.path, tc.body, bearer).want(t, tc.status, "")
			if tc.status != http.StatusBadRequest {
				return
			}
			if errs := r.fieldErrors(); errs[tc.field] == "" {
				t.Errorf("field errors = %v, want one for %q", errs, tc.field)
			}
		})
	}
}

// A client whose User-Agent is not UTF-8 can still sign up, sign in and
// refresh; what is stored and listed back is the sanitized value.
func TestAnyUserAgentCanSignUpAndSignIn(t *testing.T) {
	h := newHarness(t, cheap, nil)
	ua := "Mozilla/5.0 \xff\xfe (\x80bad)"
	body := `{"username":"alice","email":"alice@example.com","password":"` + goodPassword + `"}`
	g := h.do(t, "POST", "/api/v1/auth/signup", body, h.anonymous(t), "User-Agent", ua).want(t, http.StatusCreated, "")
	l := h.do(t, "POST", "/api/v1/auth/login", `{"login":"alice","password":"`+goodPassword+`"}`, h.anonymous(t),
		"User-Agent", ua).want(t, http.StatusOK, "")
	h.do(t, "POST", "/api/v1/auth/refresh", `{"refreshToken":"`+l.str("tokens", "refreshToken")+`"}`, h.anonymous(t),
		"User-Agent", ua).want(t, http.StatusOK, "")
	list := h.do(t, "GET", "/api/v1/auth/sessions", "", h.internal(t, g.str("user", "id"), g.str("session", "id"))).
		want(t, http.StatusOK, "")
	sessions, _ := list.body["sessions"].([]any)
	if len(sessions) != 2 {
		t.Fatalf("sessions = %s, want 2", list.raw)
	}
	for _, s := range sessions {
		if got := s.(map[string]any)["userAgent"]; got != "Mozilla/5.0  (bad)" {
			t.Errorf("stored userAgent = %q, want the sanitized %q", got, "Mozilla/5.0  (bad)")
		}
	}
}

// Revoking one's session by an upper-case id revokes it, and the event the
// gateways act on names the canonical id.
func TestRevokingByAnUpperCaseIDPublishesTheCanonicalOne(t *testing.T) {
	h := newHarness(t, cheap, nil)
	a := h.signup(t, "alice")
	sid := a.str("session", "id")
	h.do(t, "DELETE", "/api/v1/auth/sessions/"+strings.ToUpper(sid), "", h.internal(t, a.str("user", "id"), sid)).
		want(t, http.StatusNoContent, "")
	var payload []byte
	if err := h.pool.QueryRow(context.Background(),
		`SELECT payload FROM outbox WHERE routing_key = 'auth.session.revoked.v1'`).Scan(&payload); err != nil {
		t.Fatalf("revocation event: %v", err)
	}
	var ev struct {
		Data struct {
			SessionIDs []string `json:"sessionIds"`
		} `json:"data"`
	}
	if err := json.Unmarshal(payload, &ev); err != nil || len(ev.Data.SessionIDs) != 1 || ev.Data.SessionIDs[0] != sid {
		t.Errorf("event session ids = %v (err %v), want [%s]", ev.Data.SessionIDs, err, sid)
	}
}

// Ten wrong passwords from one address throttle that address; the owner
// still signs in from theirs.
func TestAnAttackerCannotLockTheOwnerOutOverHTTP(t *testing.T) {
	h := newHarness(t, cheap, nil)
	h.signup(t, "alice")
	wrong := `{"login":"alice","password":"not the password"}`
	for range 10 {
		h.do(t, "POST", "/api/v1/auth/login", wrong, h.anonymous(t), "X-Forwarded-For", "198.51.100.66").
			want(t, http.StatusUnauthorized, "invalid_credentials")
	}
	r := h.do(t, "POST", "/api/v1/auth/login", wrong, h.anonymous(t), "X-Forwarded-For", "198.51.100.66").
		want(t, http.StatusTooManyRequests, "too_many_attempts")
	if secs, err := strconv.Atoi(r.header.Get("Retry-After")); err != nil || secs < 1 {
		t.Errorf("Retry-After = %q, want whole seconds", r.header.Get("Retry-After"))
	}
	h.do(t, "POST", "/api/v1/auth/login", `{"login":"alice","password":"`+goodPassword+`"}`, h.anonymous(t),
		"X-Forwarded-For", "203.0.113.7").want(t, http.StatusOK, "")
}

func TestSignupsPerAddressAnswer429WithRetryAfter(t *testing.T) {
	h := newHarness(t, cheap, func(c *auth.Config) { c.SignupsPerIP = 2 })
	signup := func(name, ip string) response {
		body := `{"username":"` + name + `","email":"` + name + `@example.com","password":"` + goodPassword + `"}`
		return h.do(t, "POST", "/api/v1/auth/signup", body, h.anonymous(t), "X-Forwarded-For", ip)
	}
	signup("alice", "203.0.113.1").want(t, http.StatusCreated, "")
	signup("bob", "203.0.113.1").want(t, http.StatusCreated, "")
	r := signup("carol", "203.0.113.1").want(t, http.StatusTooManyRequests, "too_many_signups")
	if secs, err := strconv.Atoi(r.header.Get("Retry-After")); err != nil || secs < 1 || secs > 3600 {
		t.Errorf("Retry-After = %q, want whole seconds within the hour", r.header.Get("Retry-After"))
	}
	signup("carol", "203.0.113.2").want(t, http.StatusCreated, "")
}

// Without a valid internal token every path answers 401, so no route is
// revealed; with one an unknown path is 404. Nothing ever redirects.
func TestUnknownPathsAnswer401WithoutATokenAndNeverRedirect(t *testing.T) {
	h := newHarness(t, cheap, nil)
	a := h.signup(t, "alice")
	user := h.internal(t, a.str("user", "id"), a.str("session", "id"))
	paths := []struct{ method, path string }{
		{"GET", "/api/v1/no-such-route"},
		{"GET", "/nowhere"},
		{"GET", "/api/v1/auth/me/"},
		{"GET", "/API/V1/AUTH/ME"},
		{"GET", "/api/v1//auth/me"},
		{"DELETE", "/api/v1/auth/sessions/%2F"},
		{"DELETE", "/api/v1/auth/sessions/a%2Fb"},
		{"DELETE", "/api/v1/auth/me"},
		{"POST", "/healthz"},
	}
	for _, p := range paths {
		if r := h.do(t, p.method, p.path, "", ""); r.status != http.StatusUnauthorized {
			t.Errorf("%s %s without a token = %d %s, want 401", p.method, p.path, r.status, r.raw)
		}
		r := h.do(t, p.method, p.path, "", user)
		if r.status != http.StatusNotFound && r.status != http.StatusMethodNotAllowed {
			t.Errorf("%s %s with a valid token = %d %s (Location %q), want 404 or 405", p.method, p.path,
				r.status, r.raw, r.header.Get("Location"))
		}
	}
}
