// Package trace carries the W3C trace context (traceparent) through HTTP,
// Socket.IO and AMQP so one trace id finds a request's whole path in Kibana.
package trace

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"strings"
)

// Header is the W3C trace-context header name.
const Header = "traceparent"

// Context is one hop of a W3C trace: the trace id shared by every hop and the
// span id of the current one.
type Context struct {
	TraceID string // 32 lowercase hex digits
	SpanID  string // 16 lowercase hex digits
	Flags   string // 2 hex digits
}

// New starts a new trace.
func New() Context {
	return Context{TraceID: randomHex(16), SpanID: randomHex(8), Flags: "01"}
}

// Child returns a new span of the same trace.
func (c Context) Child() Context {
	return Context{TraceID: c.TraceID, SpanID: randomHex(8), Flags: c.Flags}
}

// String formats c as a traceparent header value.
func (c Context) String() string {
	if !c.Valid() {
		return ""
	}
	return "00-" + c.TraceID + "-" + c.SpanID + "-" + c.Flags
}

// Valid reports whether c holds a usable trace id and span id.
func (c Context) Valid() bool {
	return isHex(c.TraceID, 32) && isHex(c.SpanID, 16) && isHex(c.Flags, 2) &&
		strings.Trim(c.TraceID, "0") != "" && strings.Trim(c.SpanID, "0") != ""
}

// Parse reads a traceparent header value; ok is false when it is malformed.
func Parse(v string) (c Context, ok bool) {
	parts := strings.Split(strings.TrimSpace(v), "-")
	if len(parts) < 4 || len(parts[0]) != 2 || parts[0] == "ff" {
		return Context{}, false
	}
	if parts[0] == "00" && len(parts) != 4 {
		return Context{}, false
	}
	c = Context{TraceID: parts[1], SpanID: parts[2], Flags: parts[3]}
	if !c.Valid() {
		return Context{}, false
	}
	return c, true
}

// Continue parses v and returns a child span of it, or a new trace when v is
// absent or malformed.
func Continue(v string) Context {
	if c, ok := Parse(v); ok {
		return c.Child()
	}
	return New()
}

type ctxKey struct{}

// With returns ctx carrying tc.
func With(ctx context.Context, tc Context) context.Context {
	return context.WithValue(ctx, ctxKey{}, tc)
}

// From returns the trace context in ctx, if any.
func From(ctx context.Context) (Context, bool) {
	tc, ok := ctx.Value(ctxKey{}).(Context)
	return tc, ok
}

// ID returns the trace id in ctx, or "" when there is none.
func ID(ctx context.Context) string {
	tc, _ := From(ctx)
	return tc.TraceID
}

func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b) // crypto/rand.Read never fails on supported platforms
	return hex.EncodeToString(b)
}

func isHex(s string, n int) bool {
	if len(s) != n {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= '0' && c <= '9' || c >= 'a' && c <= 'f') {
			return false
		}
	}
	return true
}
