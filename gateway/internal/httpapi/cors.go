package httpapi

import (
	"net/http"
	"strings"

	"github.com/gin-gonic/gin"
)

// cors lets the browser origins in ALLOWED_ORIGINS — the same ones trusted
// for CSRF — call the REST API with cookies: a web client served from its
// own origin needs it. Other origins get no CORS headers, so browsers keep
// them from reading answers. Preflights are answered here.
func cors(allowed []string) gin.HandlerFunc {
	origins := make(map[string]bool, len(allowed))
	for _, o := range allowed {
		origins[strings.TrimRight(o, "/")] = true
	}
	return func(c *gin.Context) {
		origin := c.GetHeader("Origin")
		if origin == "" || !origins[origin] || strings.HasPrefix(c.Request.URL.Path, "/socket.io/") {
			c.Next()
			return
		}
		h := c.Writer.Header()
		h.Add("Vary", "Origin")
		h.Set("Access-Control-Allow-Origin", origin)
		h.Set("Access-Control-Allow-Credentials", "true")
		h.Set("Access-Control-Expose-Headers", "X-Trace-Id, Retry-After")
		if c.Request.Method == http.MethodOptions && c.GetHeader("Access-Control-Request-Method") != "" {
			h.Set("Access-Control-Allow-Methods", "GET, POST, PUT, PATCH, DELETE")
			h.Set("Access-Control-Allow-Headers", "Content-Type, Accept, Accept-Language")
			h.Set("Access-Control-Max-Age", "600")
			c.AbortWithStatus(http.StatusNoContent)
			return
		}
		c.Next()
	}
}
