package realtime

import (
	"bufio"
	"context"
	"errors"
	"net"
	"net/http"
	"sync/atomic"

	"github.com/gin-gonic/gin"

	"github.com/parleychat/parley/gateway/internal/session"
	"github.com/parleychat/parley/shared/trace"
)

// releasedWriter is the response writer the Socket.IO library gets. The
// library keeps the writer of the request that opened a connection for
// the connection's life; Gin's writer is part of a pooled request context
// that leads to the outer router's and to net/http's connection with its
// 4 KB read and write buffers, so every idle socket kept all of that
// alive. This one lets go of the real writer once the handler has
// returned (the library answers every request before that, and a
// WebSocket is hijacked by then); a late call finds nothing to write to.
type releasedWriter struct {
	w atomic.Pointer[gin.ResponseWriter]
}

var errReleased = errors.New("response already finished")

func (r *releasedWriter) inner() gin.ResponseWriter {
	if p := r.w.Load(); p != nil {
		return *p
	}
	return nil
}

func (r *releasedWriter) Header() http.Header {
	if w := r.inner(); w != nil {
		return w.Header()
	}
	return http.Header{}
}

func (r *releasedWriter) Write(b []byte) (int, error) {
	if w := r.inner(); w != nil {
		return w.Write(b)
	}
	return 0, errReleased
}

func (r *releasedWriter) WriteHeader(code int) {
	if w := r.inner(); w != nil {
		w.WriteHeader(code)
	}
}

// Flush sends what is buffered (long-polling answers).
func (r *releasedWriter) Flush() {
	if w := r.inner(); w != nil {
		w.Flush()
	}
}

// Hijack hands over the connection (the WebSocket upgrade).
func (r *releasedWriter) Hijack() (net.Conn, *bufio.ReadWriter, error) {
	if w := r.inner(); w != nil {
		return w.Hijack()
	}
	return nil, nil, errReleased
}

// libraryHeaders are the request headers the Socket.IO library and this
// package read on a WebSocket upgrade (the handshake, CORS); pollingHeaders
// are the ones long-polling reads besides (encodings, preflight, the
// binary content type, an old browser's User-Agent).
var (
	libraryHeaders = []string{
		"Origin", "Upgrade", "Connection",
		"Sec-Websocket-Key", "Sec-Websocket-Version", "Sec-Websocket-Extensions", "Sec-Websocket-Protocol",
	}
	pollingHeaders = []string{
		"Origin", "Content-Type", "Accept-Encoding", "If-None-Match", "User-Agent",
		"Access-Control-Request-Method", "Access-Control-Request-Headers",
	}
)

// lean is the request as the Socket.IO library gets it. The library keeps
// the request that opened a connection for the connection's whole life
// (as its handshake), so an idle socket would otherwise hold every header
// the client sent (all its cookies, the whole User-Agent and Accept-*
// lines) and the request's context with what the middlewares put in it
// (the request logger among them). It gets the headers it reads, the
// session cookie alone, and a context that carries only the trace and
// ends when the request's does.
func lean(r *http.Request) *http.Request {
	keep := pollingHeaders
	if upgrade(r) {
		keep = libraryHeaders
	}
	// Sized to what is kept: a map of at most 8 entries is one group.
	n := 1
	for _, k := range keep {
		if _, ok := r.Header[k]; ok {
			n++
		}
	}
	h := make(http.Header, n)
	for _, k := range keep {
		if v, ok := r.Header[k]; ok {
			h[k] = v
		}
	}
	if c, err := r.Cookie(session.CookieName); err == nil {
		h["Cookie"] = []string{session.CookieName + "=" + c.Value}
	}
	ctx := context.Background()
	if tc, ok := trace.From(r.Context()); ok {
		ctx = trace.With(ctx, tc)
	}
	ctx, cancel := context.WithCancel(ctx)
	// net/http ends every request's context once its handler returns,
	// hijacked or not, so this always runs.
	context.AfterFunc(r.Context(), cancel)
	out := r.WithContext(ctx)
	out.Header = h
	return out
}
