package logging

import (
	"fmt"
	"net/http"
	"runtime/debug"
	"time"

	"github.com/gin-gonic/gin"
	"github.com/rs/zerolog"

	"github.com/parleychat/parley/shared/problem"
	"github.com/parleychat/parley/shared/trace"
)

// TraceIDHeader is the response header that tells clients which trace id to
// quote when reporting a problem.
const TraceIDHeader = "X-Trace-Id"

// MiddlewareOptions tunes the request logger.
type MiddlewareOptions struct {
	// NewTrace starts a fresh trace for every request instead of continuing an
	// incoming traceparent; the public gateway sets it, services do not.
	NewTrace bool
	// Quiet lists paths (e.g. /healthz) logged at debug level only.
	Quiet []string
}

// Middleware puts a trace context and a request-scoped logger in every
// request's context, recovers panics as problem+json 500s, and logs one ECS record per
// request: error level for 5xx (with error.*), info otherwise.
func Middleware(base zerolog.Logger, opts MiddlewareOptions) gin.HandlerFunc {
	quiet := make(map[string]bool, len(opts.Quiet))
	for _, p := range opts.Quiet {
		quiet[p] = true
	}
	return func(c *gin.Context) {
		start := time.Now()
		var tc trace.Context
		if opts.NewTrace {
			tc = trace.New()
		} else {
			tc = trace.Continue(c.GetHeader(trace.Header))
		}
		l := base.With().Str("trace.id", tc.TraceID).Str("span.id", tc.SpanID).Logger()
		ctx := l.WithContext(trace.With(c.Request.Context(), tc))
		c.Request = c.Request.WithContext(ctx)
		c.Header(TraceIDHeader, tc.TraceID)

		var stack []byte
		func() {
			defer func() {
				if r := recover(); r != nil {
					if r == http.ErrAbortHandler {
						panic(r)
					}
					stack = debug.Stack()
					err := problem.ErrInternal.Wrap(fmt.Errorf("panic: %v", r))
					if c.Writer.Written() {
						_ = c.Error(err)
						c.Abort()
					} else {
						// The same problem+json as any other failure, so a
						// client never has to parse a second error shape.
						problem.Write(c, err)
					}
				}
			}()
			c.Next()
		}()

		status := c.Writer.Status()
		var ev *zerolog.Event
		switch {
		case status >= 500:
			ev = l.Error()
		case quiet[c.Request.URL.Path]:
			ev = l.Debug()
		default:
			ev = l.Info()
		}
		if len(c.Errors) > 0 {
			ev = ErrorFields(ev, c.Errors.Last().Err)
		}
		if stack != nil {
			ev = ev.Bytes("error.stack_trace", stack)
		}
		if uid := c.GetString(UserIDKey); uid != "" {
			ev = ev.Str("user.id", uid)
		}
		ev.Str("http.request.method", c.Request.Method).
			Str("url.path", c.Request.URL.Path).
			Str("url.route", c.FullPath()).
			Int("http.response.status_code", status).
			Int("http.response.body.bytes", c.Writer.Size()).
			Str("client.ip", c.ClientIP()).
			Dur("event.duration", time.Since(start)).
			Str("event.dataset", "http.request").
			Msg(c.Request.Method + " " + c.Request.URL.Path)
	}
}

// UserIDKey is the gin context key under which authentication middleware
// stores the caller's user id, so request logs carry user.id.
const UserIDKey = "parley.userID"
