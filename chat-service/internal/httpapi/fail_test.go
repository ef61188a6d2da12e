package httpapi

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/gin-gonic/gin"

	"github.com/parleychat/parley/chat-service/internal/chat"
)

// TestOverloadedAnswerKeepsItsCode: a REST send refused by admission
// control is 503 with code overloaded (what clients act on) and
// Retry-After, as the OpenAPI document says, not the generic unavailable
// other 503s are reduced to.
func TestOverloadedAnswerKeepsItsCode(t *testing.T) {
	gin.SetMode(gin.ReleaseMode)
	w := httptest.NewRecorder()
	c, _ := gin.CreateTestContext(w)
	c.Request = httptest.NewRequest(http.MethodPost, "/api/v1/conversations/x/messages", nil)
	fail(c, chat.ErrOverloaded)
	var body struct{ Type, Code, Detail string }
	if err := json.Unmarshal(w.Body.Bytes(), &body); err != nil {
		t.Fatal(err)
	}
	if w.Code != http.StatusServiceUnavailable || w.Header().Get("Retry-After") != "1" ||
		body.Code != "overloaded" || body.Type != "https://parley.chat/problems/overloaded" || body.Detail != "the service is busy, retry shortly" {
		t.Fatalf("answer %d, Retry-After %q, %+v; want 503 overloaded with Retry-After 1", w.Code, w.Header().Get("Retry-After"), body)
	}
}
