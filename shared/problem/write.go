package problem

import (
	"encoding/json"
	"net/http"
	"strconv"

	"github.com/gin-gonic/gin"

	"github.com/parleychat/parley/shared/trace"
)

// Write sends err to the client as problem+json and aborts the chain. A 5xx
// is attached to the gin context (c.Error) so the request logger records its
// cause; the body carries only the trace id.
func Write(c *gin.Context, err error) {
	p := From(err)
	if p.Status >= 500 {
		_ = c.Error(err)
	}
	pub := p.Public(trace.ID(c.Request.Context()))
	if pub.RetryAfter > 0 {
		c.Header("Retry-After", strconv.Itoa(pub.RetryAfter))
	}
	c.Header("Cache-Control", "no-store")
	c.Render(pub.Status, jsonRender{pub})
	c.Abort()
}

type jsonRender struct{ p *Problem }

func (r jsonRender) Render(w http.ResponseWriter) error {
	r.WriteContentType(w)
	return json.NewEncoder(w).Encode(r.p)
}

func (r jsonRender) WriteContentType(w http.ResponseWriter) {
	w.Header().Set("Content-Type", ContentType)
}
