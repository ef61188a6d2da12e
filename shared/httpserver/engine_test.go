package httpserver

import (
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/gin-gonic/gin"
	"github.com/rs/zerolog"

	"github.com/parleychat/parley/shared/problem"
)

func TestNewEngineAnswersUnknownPathsAfterTheGuardAndNeverRedirects(t *testing.T) {
	guard := func(c *gin.Context) {
		if c.GetHeader("Authorization") != "ok" {
			problem.Write(c, problem.ErrUnauthorized)
			return
		}
		c.Next()
	}
	r := NewEngine(EngineOptions{Logger: zerolog.Nop(), Guard: guard, Health: &Health{Service: "test"}})
	r.GET("/api/v1/things", guard, func(c *gin.Context) { c.Status(http.StatusNoContent) })
	tests := []struct {
		method, path, auth string
		want               int
	}{
		{"GET", "/api/v1/things", "ok", 204},
		{"GET", "/api/v1/things", "", 401},
		{"GET", "/api/v1/nothing", "", 401},
		{"GET", "/api/v1/nothing", "ok", 404},
		{"GET", "/api/v1/things/", "", 401},
		{"GET", "/api/v1/things/", "ok", 404},
		{"GET", "/API/V1/THINGS", "ok", 404},
		{"GET", "/api/v1/things%2F", "ok", 404},
		{"DELETE", "/api/v1/things", "", 401},
		{"DELETE", "/api/v1/things", "ok", 405},
		{"GET", "/healthz", "", 200},
	}
	for _, tc := range tests {
		w := httptest.NewRecorder()
		req := httptest.NewRequest(tc.method, tc.path, nil)
		if tc.auth != "" {
			req.Header.Set("Authorization", tc.auth)
		}
		r.ServeHTTP(w, req)
		if w.Code != tc.want {
			t.Errorf("%s %s (auth %q) = %d, want %d", tc.method, tc.path, tc.auth, w.Code, tc.want)
		}
		if w.Code >= 400 && w.Header().Get("Content-Type") != problem.ContentType {
			t.Errorf("%s %s: Content-Type %q, want problem+json", tc.method, tc.path, w.Header().Get("Content-Type"))
		}
	}
}
