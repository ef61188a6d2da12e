package httpapi_test

import (
	"crypto/ed25519"
	"encoding/base64"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/gin-gonic/gin"
	"github.com/golang-jwt/jwt/v5"

	"github.com/parleychat/parley/gateway/internal/httpapi"
	"github.com/parleychat/parley/shared/token"
)

// forge signs claims with any method and key and edits the header (nil
// deletes a field), building what an attacker or a buggy signer would send.
func forge(t *testing.T, method jwt.SigningMethod, key any, header map[string]any, claims token.Claims) string {
	t.Helper()
	tok := jwt.NewWithClaims(method, claims)
	for k, v := range header {
		if v == nil {
			delete(tok.Header, k)
		} else {
			tok.Header[k] = v
		}
	}
	raw, err := tok.SignedString(key)
	if err != nil {
		t.Fatalf("forge: %v", err)
	}
	return raw
}

// validClaims are the claims auth-service puts in a session token.
func validClaims(now time.Time) token.Claims {
	return token.Claims{
		RegisteredClaims: jwt.RegisteredClaims{
			Issuer:    token.IssuerAuth,
			Subject:   "user-1",
			Audience:  jwt.ClaimStrings{token.AudienceGateway},
			IssuedAt:  jwt.NewNumericDate(now),
			NotBefore: jwt.NewNumericDate(now),
			ExpiresAt: jwt.NewNumericDate(now.Add(token.SessionTTL)),
			ID:        "jti-1",
		},
		SessionID: "session-1",
	}
}

func edit(c token.Claims, f func(*token.Claims)) token.Claims { f(&c); return c }

func TestForgedSessionTokensAreRefused(t *testing.T) {
	e := newEnv(t, envOptions{})
	now := time.Now()
	kid := token.KeyID(e.authPriv.Public().(ed25519.PublicKey))
	hdr := map[string]any{"kid": kid}
	_, otherPriv, _ := ed25519.GenerateKey(nil)
	good := forge(t, jwt.SigningMethodEdDSA, e.authPriv, hdr, validClaims(now))
	parts := strings.Split(good, ".")

	tampered := func() string {
		c := edit(validClaims(now), func(c *token.Claims) { c.Subject = "admin" })
		other := forge(t, jwt.SigningMethodEdDSA, e.authPriv, hdr, c)
		return parts[0] + "." + strings.Split(other, ".")[1] + "." + parts[2]
	}
	algNone := func() string {
		h := base64.RawURLEncoding.EncodeToString([]byte(`{"alg":"none","typ":"JWT","kid":"` + kid + `"}`))
		return h + "." + parts[1] + "."
	}
	// HS256 keyed with the verifier's public key: the classic confusion.
	hsWithPublic := forge(t, jwt.SigningMethodHS256, []byte(e.authPriv.Public().(ed25519.PublicKey)),
		map[string]any{"kid": kid}, validClaims(now))
	jwkHeader := forge(t, jwt.SigningMethodEdDSA, otherPriv, map[string]any{
		"kid": kid,
		"jwk": map[string]any{"kty": "OKP", "crv": "Ed25519",
			"x": base64.RawURLEncoding.EncodeToString(otherPriv.Public().(ed25519.PublicKey))},
	}, validClaims(now))

	tests := []struct {
		name     string
		token    string
		wantCode string
	}{
		{"alg none", algNone(), "unauthorized"},
		{"HS256 signed with the public key", hsWithPublic, "unauthorized"},
		{"tampered payload", tampered(), "unauthorized"},
		{"malformed", "not.a.jwt", "unauthorized"},
		{"garbage", "%%%", "unauthorized"},
		{"expired past leeway", forge(t, jwt.SigningMethodEdDSA, e.authPriv, hdr, edit(validClaims(now), func(c *token.Claims) {
			c.IssuedAt = jwt.NewNumericDate(now.Add(-time.Hour))
			c.ExpiresAt = jwt.NewNumericDate(now.Add(-time.Minute))
		})), "token_expired"},
		{"no exp", forge(t, jwt.SigningMethodEdDSA, e.authPriv, hdr, edit(validClaims(now), func(c *token.Claims) { c.ExpiresAt = nil })), "unauthorized"},
		{"future nbf", forge(t, jwt.SigningMethodEdDSA, e.authPriv, hdr, edit(validClaims(now), func(c *token.Claims) {
			c.NotBefore = jwt.NewNumericDate(now.Add(time.Hour))
		})), "unauthorized"},
		{"wrong iss", forge(t, jwt.SigningMethodEdDSA, e.authPriv, hdr, edit(validClaims(now), func(c *token.Claims) { c.Issuer = token.IssuerGateway })), "unauthorized"},
		{"wrong aud (an internal token)", forge(t, jwt.SigningMethodEdDSA, e.authPriv, hdr, edit(validClaims(now), func(c *token.Claims) {
			c.Audience = jwt.ClaimStrings{token.AudienceUsers}
		})), "unauthorized"},
		{"unknown kid", forge(t, jwt.SigningMethodEdDSA, otherPriv, map[string]any{"kid": token.KeyID(otherPriv.Public().(ed25519.PublicKey))}, validClaims(now)), "unauthorized"},
		{"injected kid", forge(t, jwt.SigningMethodEdDSA, e.authPriv, map[string]any{"kid": "../../etc/passwd"}, validClaims(now)), "unauthorized"},
		{"no kid", forge(t, jwt.SigningMethodEdDSA, e.authPriv, map[string]any{"kid": nil}, validClaims(now)), "unauthorized"},
		{"attacker jwk header", jwkHeader, "unauthorized"},
		{"no sid", forge(t, jwt.SigningMethodEdDSA, e.authPriv, hdr, edit(validClaims(now), func(c *token.Claims) { c.SessionID = "" })), "unauthorized"},
		{"60 KB token", strings.Repeat("a", 60<<10), "unauthorized"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			before := len(e.users.requests())
			resp := e.do(nil, "GET", "/api/v1/users/me", "", map[string]string{"Cookie": httpapi.SessionCookie + "=" + tc.token})
			p := problemOf(t, resp)
			if resp.StatusCode != http.StatusUnauthorized || p["code"] != tc.wantCode {
				t.Errorf("status %d code %v, want 401 %s", resp.StatusCode, p["code"], tc.wantCode)
			}
			if after := len(e.users.requests()); after != before {
				t.Errorf("the service was called with a refused token")
			}
		})
	}

	t.Run("the genuine token passes", func(t *testing.T) {
		resp := e.do(nil, "GET", "/api/v1/users/me", "", map[string]string{"Cookie": httpapi.SessionCookie + "=" + good})
		readAll(t, resp)
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("status %d, want 200: the refusals above prove nothing", resp.StatusCode)
		}
	})
	t.Run("no cookie", func(t *testing.T) {
		resp := e.do(nil, "GET", "/api/v1/users/me", "", nil)
		p := problemOf(t, resp)
		if resp.StatusCode != http.StatusUnauthorized || p["code"] != "unauthorized" {
			t.Errorf("status %d code %v, want 401 unauthorized", resp.StatusCode, p["code"])
		}
	})
}

// TestHugeTokenIsFast4xx sends a 1 MB cookie: the server refuses the header
// block before any token code runs, and the router itself refuses it with a
// 401 without decoding (token.MaxTokenBytes); neither ever answers 5xx.
func TestHugeTokenIsFast4xx(t *testing.T) {
	e := newEnv(t, envOptions{})
	huge := strings.Repeat("A", 1<<20)

	resp := e.do(nil, "GET", "/api/v1/users/me", "", map[string]string{"Cookie": httpapi.SessionCookie + "=" + huge})
	readAll(t, resp)
	if resp.StatusCode < 400 || resp.StatusCode >= 500 {
		t.Errorf("through the server: status %d, want 4xx", resp.StatusCode)
	}

	req := httptest.NewRequest("GET", "/api/v1/users/me", nil)
	req.Header.Set("Cookie", httpapi.SessionCookie+"="+huge)
	rec := httptest.NewRecorder()
	e.router.ServeHTTP(rec, req)
	if rec.Code != http.StatusUnauthorized {
		t.Errorf("router alone: status %d, want 401", rec.Code)
	}
	if n := len(e.users.requests()); n != 0 {
		t.Errorf("the service saw %d requests, want 0", n)
	}
}

func TestRevokedSessions(t *testing.T) {
	tests := []struct {
		name   string
		revoke func(e *env, userID, sid string)
	}{
		{"session revoked by event", func(e *env, userID, sid string) {
			e.revocations.RevokeSessions(userID, []string{sid}, time.Now().Add(time.Hour))
		}},
		{"password changed after the token was issued", func(e *env, userID, _ string) {
			e.revocations.RevokeUserBefore(userID, time.Now().Add(2*time.Second), time.Now().Add(time.Hour))
		}},
		{"logout through this instance", func(e *env, _, _ string) {}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t, envOptions{})
			c, raw := e.login(nil)
			id, err := e.authenticate.Authenticate(raw)
			if err != nil {
				t.Fatal(err)
			}
			if tc.name == "logout through this instance" {
				// Keep the token: a copied cookie must die with the session.
				resp := e.do(c, "POST", "/api/v1/auth/logout", "", nil)
				readAll(t, resp)
				if got := e.auth.last(); got.Claims.SessionID != id.SessionID || got.Claims.Subject != id.UserID {
					t.Errorf("logout forwarded sub/sid %q/%q, want %q/%q", got.Claims.Subject, got.Claims.SessionID, id.UserID, id.SessionID)
				}
			} else {
				tc.revoke(e, id.UserID, id.SessionID)
			}
			resp := e.do(nil, "GET", "/api/v1/auth/me", "", map[string]string{"Cookie": httpapi.SessionCookie + "=" + raw})
			p := problemOf(t, resp)
			if resp.StatusCode != http.StatusUnauthorized || p["code"] != "session_revoked" {
				t.Errorf("status %d code %v, want 401 session_revoked", resp.StatusCode, p["code"])
			}
		})
	}
}

func TestPasswordChangeRevokesLocally(t *testing.T) {
	tests := []struct {
		name       string
		grant      bool // auth-service answers 200 with a new session for this device
		wantStatus int
	}{
		{"answer with a new session", true, http.StatusOK},
		{"answer without tokens", false, http.StatusNoContent},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t, envOptions{})
			if tc.grant {
				e.auth.setHandler(func(c *gin.Context) {
					if c.Request.URL.Path == "/api/v1/auth/password" {
						claims, _ := token.FromContext(c.Request.Context())
						c.JSON(http.StatusOK, e.tokenAnswer(claims.Subject, "new-session"))
						return
					}
					e.fakeAuth(c)
				})
			}
			c, raw := e.login(nil)
			resp := e.do(c, "PUT", "/api/v1/auth/password", `{"currentPassword":"a","newPassword":"b"}`, nil)
			body := readAll(t, resp)
			if resp.StatusCode != tc.wantStatus {
				t.Fatalf("status %d, want %d", resp.StatusCode, tc.wantStatus)
			}
			if strings.Contains(body, "accessToken") || strings.Contains(body, "refreshToken") {
				t.Errorf("tokens in the body: %s", body)
			}
			resp = e.do(nil, "GET", "/api/v1/auth/me", "", map[string]string{"Cookie": httpapi.SessionCookie + "=" + raw})
			if p := problemOf(t, resp); resp.StatusCode != http.StatusUnauthorized || p["code"] != "session_revoked" {
				t.Errorf("old token after password change: status %d code %v, want 401 session_revoked", resp.StatusCode, p["code"])
			}
			resp = e.do(c, "GET", "/api/v1/auth/me", "", nil)
			readAll(t, resp)
			wantNext := http.StatusUnauthorized // cookies cleared: log in again
			if tc.grant {
				wantNext = http.StatusOK // the new session's cookie works at once
			}
			if resp.StatusCode != wantNext {
				t.Errorf("next request with the browser's cookies: status %d, want %d", resp.StatusCode, wantNext)
			}
		})
	}
}

func TestRevocationsNotLoadedYet(t *testing.T) {
	e := newEnv(t, envOptions{notLoaded: true})
	raw := e.sessionToken("user-1", "session-1")
	resp := e.do(nil, "GET", "/api/v1/users/me", "", map[string]string{"Cookie": httpapi.SessionCookie + "=" + raw})
	p := problemOf(t, resp)
	if resp.StatusCode != http.StatusServiceUnavailable || resp.Header.Get("Retry-After") != "2" {
		t.Errorf("status %d Retry-After %q (%v), want 503 with Retry-After 2", resp.StatusCode, resp.Header.Get("Retry-After"), p)
	}
	e.revocations.MarkLoaded()
	resp = e.do(nil, "GET", "/api/v1/users/me", "", map[string]string{"Cookie": httpapi.SessionCookie + "=" + raw})
	readAll(t, resp)
	if resp.StatusCode != http.StatusOK {
		t.Errorf("after loading: status %d, want 200", resp.StatusCode)
	}
}
