package logging

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/gin-gonic/gin"
	"github.com/rs/zerolog"

	"github.com/parleychat/parley/shared/problem"
)

func TestRecoveredPanicAnswersProblemJSON(t *testing.T) {
	r := gin.New()
	r.Use(Middleware(zerolog.New(zerolog.NewTestWriter(t)), MiddlewareOptions{}))
	r.GET("/boom", func(*gin.Context) { panic("secret internal detail") })
	w := httptest.NewRecorder()
	r.ServeHTTP(w, httptest.NewRequest(http.MethodGet, "/boom", nil))
	if w.Code != http.StatusInternalServerError || w.Header().Get("Content-Type") != problem.ContentType {
		t.Fatalf("got %d %q, want 500 %q", w.Code, w.Header().Get("Content-Type"), problem.ContentType)
	}
	var body map[string]any
	if err := json.Unmarshal(w.Body.Bytes(), &body); err != nil {
		t.Fatalf("body %q is not JSON: %v", w.Body, err)
	}
	if body["code"] != "internal" || body["traceId"] == "" || body["traceId"] == nil {
		t.Errorf("body = %v, want code internal with a traceId", body)
	}
	if got := w.Body.String(); strings.Contains(got, "secret internal detail") {
		t.Errorf("body %q leaks the panic value", got)
	}
}
