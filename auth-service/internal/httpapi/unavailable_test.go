package httpapi

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/gin-gonic/gin"
	"github.com/jackc/pgx/v5/pgconn"
)

// PostgreSQL restarting is a 503 the client retries after a second, not a
// 500: nothing was done, and the request may succeed then.
func TestDatabaseRestartIsRetryLater(t *testing.T) {
	gin.SetMode(gin.TestMode)
	for _, c := range []struct {
		err    error
		status int
		retry  string
	}{
		{fmt.Errorf("load: %w", &pgconn.PgError{Code: "57P01", Message: "terminating connection due to administrator command"}), http.StatusServiceUnavailable, "1"},
		{&pgconn.PgError{Code: "57P03", Message: "the database system is starting up"}, http.StatusServiceUnavailable, "1"},
		{&pgconn.PgError{Code: "42601", Message: "syntax error"}, http.StatusInternalServerError, ""},
	} {
		w := httptest.NewRecorder()
		ctx, _ := gin.CreateTestContext(w)
		ctx.Request = httptest.NewRequest(http.MethodGet, "/", nil)
		writeError(ctx, c.err)
		if w.Code != c.status || w.Header().Get("Retry-After") != c.retry {
			t.Errorf("%v: %d Retry-After %q, want %d %q", c.err, w.Code, w.Header().Get("Retry-After"), c.status, c.retry)
		}
	}
}
