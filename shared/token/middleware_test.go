package token_test

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/parleychat/parley/shared/logging"
	"github.com/parleychat/parley/shared/problem"

	"github.com/parleychat/parley/shared/token"
	"github.com/parleychat/parley/shared/token/tokentest"
)

func TestRequireInternal(t *testing.T) {
	gin.SetMode(gin.TestMode)
	authKey, gwKey := tokentest.NewKey(t), tokentest.NewKey(t)
	auth, gw := tokentest.Signer(t, authKey, token.IssuerAuth), tokentest.Signer(t, gwKey, token.IssuerGateway)
	// The service trusts both keys so the session-token row is refused by
	// iss/aud, not merely by an unknown kid.
	v := tokentest.Verifier(t, tokentest.KeySet(t, gwKey, authKey), token.IssuerGateway, token.AudienceUsers)

	internal := tokentest.Must(t)(gw.Internal("user-1", token.AudienceUsers, 30*time.Second))
	tests := []struct {
		name       string
		header     http.Header
		wantStatus int
		wantUser   string
	}{
		{"valid internal token", http.Header{"Authorization": {"Bearer " + internal}}, http.StatusOK, "user-1"},
		{"lower-case scheme", http.Header{"Authorization": {"bearer " + internal}}, http.StatusOK, "user-1"},
		{"identity header cannot override the token", http.Header{"Authorization": {"Bearer " + internal}, "X-User-Id": {"admin"}}, http.StatusOK, "user-1"},
		{"missing header", http.Header{}, http.StatusUnauthorized, ""},
		{"identity header alone", http.Header{"X-User-Id": {"user-1"}}, http.StatusUnauthorized, ""},
		{"empty bearer", http.Header{"Authorization": {"Bearer "}}, http.StatusUnauthorized, ""},
		{"basic scheme", http.Header{"Authorization": {"Basic dXNlcjpwYXNz"}}, http.StatusUnauthorized, ""},
		{"session token sent to a service", http.Header{"Authorization": {"Bearer " + tokentest.Must(t)(auth.Session("user-1", "sess-1", token.SessionTTL))}}, http.StatusUnauthorized, ""},
		{"internal token for chat-service", http.Header{"Authorization": {"Bearer " + tokentest.Must(t)(gw.Internal("user-1", token.AudienceChat, 30*time.Second))}}, http.StatusUnauthorized, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var reached bool
			var logged []string
			r := gin.New()
			r.Use(func(c *gin.Context) { c.Next(); logged = c.Errors.Errors() })
			r.Use(token.RequireInternal(v))
			r.GET("/x", func(c *gin.Context) {
				reached = true
				claims, ok := token.FromContext(c.Request.Context())
				if !ok || claims.Subject != token.UserID(c.Request.Context()) {
					t.Errorf("FromContext = %+v, %v; want the claims of %q", claims, ok, token.UserID(c.Request.Context()))
				}
				c.JSON(http.StatusOK, gin.H{"user": token.UserID(c.Request.Context()), "logged": c.GetString(logging.UserIDKey)})
			})
			req := httptest.NewRequest(http.MethodGet, "/x", nil)
			req.Header = tc.header
			rec := httptest.NewRecorder()
			r.ServeHTTP(rec, req)

			if rec.Code != tc.wantStatus {
				t.Fatalf("status = %d, want %d; body %s", rec.Code, tc.wantStatus, rec.Body)
			}
			if tc.wantStatus == http.StatusOK {
				var body struct{ User, Logged string }
				if err := json.Unmarshal(rec.Body.Bytes(), &body); err != nil {
					t.Fatalf("decode body: %v", err)
				}
				if body.User != tc.wantUser || body.Logged != tc.wantUser {
					t.Errorf("UserID = %q, logging.UserIDKey = %q; want both %q", body.User, body.Logged, tc.wantUser)
				}
				return
			}
			if reached {
				t.Error("handler ran for a rejected request")
			}
			if ct := rec.Header().Get("Content-Type"); ct != problem.ContentType {
				t.Errorf("Content-Type = %q, want %q", ct, problem.ContentType)
			}
			var p problem.Problem
			if err := json.Unmarshal(rec.Body.Bytes(), &p); err != nil {
				t.Fatalf("decode problem: %v", err)
			}
			if p.Code != problem.ErrUnauthorized.Code || p.Detail != problem.ErrUnauthorized.Detail {
				t.Errorf("problem = %+v, want the generic unauthorized problem", p)
			}
			if len(logged) == 0 {
				t.Error("no error recorded on the gin context for the request log")
			}
		})
	}
}

func TestRequireInternalPanicsOnSessionVerifier(t *testing.T) {
	v := tokentest.Verifier(t, tokentest.KeySet(t, tokentest.NewKey(t)), token.IssuerAuth, token.AudienceGateway)
	defer func() {
		if recover() == nil {
			t.Error("RequireInternal accepted a session verifier, want a panic")
		}
	}()
	token.RequireInternal(v)
}

func TestUserIDWithoutClaims(t *testing.T) {
	if got := token.UserID(t.Context()); got != "" {
		t.Errorf("UserID(empty context) = %q, want \"\"", got)
	}
}
