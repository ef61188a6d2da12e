package realtime

import (
	"context"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/parleychat/parley/gateway/internal/session"
	"github.com/parleychat/parley/shared/trace"
)

type middlewareKey struct{}

// TestSocketKeepsALeanRequest holds what an idle socket keeps of the
// request that opened it (the library keeps it for the socket's life):
// the headers the library reads, the session cookie alone, and a context
// with the trace but nothing else the middlewares put in it, and a writer
// that has let go of the request's.
func TestSocketKeepsALeanRequest(t *testing.T) {
	r := newRig(t, Options{})
	tc := trace.New()
	// What the public router's middlewares do: a request logger, the
	// trace, whatever else, all in the request's context.
	hs := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		ctx := context.WithValue(req.Context(), middlewareKey{}, make([]byte, 4096))
		r.srv.Handler().ServeHTTP(w, req.WithContext(trace.With(ctx, tc)))
	}))
	t.Cleanup(hs.Close)
	r.http = hs

	raw := r.sessionToken("user-lean", "s-lean")
	h := http.Header{
		"Cookie":          {"theme=dark; " + session.CookieName + "=" + raw + "; analytics=0123456789abcdef0123456789abcdef"},
		"Accept-Language": {"en-GB,en;q=0.9"},
		"X-Extra":         {"not for the library"},
		"User-Agent":      {"Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko)"},
	}
	if _, err := r.dial(h, "websocket"); err != nil {
		t.Fatal(err)
	}
	socks := r.srv.registry.sockets("user-lean")
	if len(socks) != 1 {
		t.Fatalf("%d sockets registered, want 1", len(socks))
	}
	kept := socks[0].sock.Request().Request()
	if got, want := kept.Header.Get("Cookie"), session.CookieName+"="+raw; got != want {
		t.Errorf("kept Cookie %q, want the session cookie alone %q", got, want)
	}
	// User-Agent is read by long-polling alone (an old browser's quirk).
	for _, k := range []string{"Accept-Language", "X-Extra", "User-Agent"} {
		if v, ok := kept.Header[k]; ok {
			t.Errorf("kept header %s: %q; the library never reads it", k, v)
		}
	}
	for _, k := range []string{"Upgrade", "Sec-Websocket-Key", "Sec-Websocket-Version"} {
		if kept.Header.Get(k) == "" {
			t.Errorf("header %s dropped; the WebSocket handshake reads it", k)
		}
	}
	if kept.Context().Value(middlewareKey{}) != nil {
		t.Error("the kept request's context still holds the middlewares' values")
	}
	if got := trace.ID(kept.Context()); got != tc.TraceID {
		t.Errorf("kept trace id %q, want the request's %q", got, tc.TraceID)
	}
	// The writer it keeps no longer leads to the routers' pooled
	// contexts or net/http's connection buffers.
	w, ok := socks[0].sock.Request().Response().(*releasedWriter)
	if !ok {
		t.Fatalf("the library keeps a %T, want the releasedWriter", socks[0].sock.Request().Response())
	}
	if w.inner() != nil {
		t.Error("the kept writer still holds the request's writer after the handler returned")
	}
}

// TestLeanKeepsWhatEachTransportReads holds lean's header choice: a
// WebSocket upgrade keeps the handshake's headers, a long-polling request
// the ones long-polling reads (compression, the binary content type,
// preflight), and neither keeps the others.
func TestLeanKeepsWhatEachTransportReads(t *testing.T) {
	all := http.Header{
		"Origin":                        {"https://app.parley.test"},
		"Upgrade":                       {"websocket"},
		"Connection":                    {"keep-alive, Upgrade"},
		"Sec-Websocket-Key":             {"dGhlIHNhbXBsZSBub25jZQ=="},
		"Sec-Websocket-Version":         {"13"},
		"Accept-Encoding":               {"gzip, br"},
		"Content-Type":                  {"application/octet-stream"},
		"Access-Control-Request-Method": {"POST"},
		"User-Agent":                    {"Mozilla/5.0"},
		"Accept-Language":               {"en"},
	}
	tests := []struct {
		name       string
		connection string
		keep, drop []string
	}{
		{"websocket upgrade", "keep-alive, Upgrade",
			[]string{"Origin", "Upgrade", "Connection", "Sec-Websocket-Key", "Sec-Websocket-Version"},
			[]string{"Accept-Encoding", "Content-Type", "Access-Control-Request-Method", "User-Agent", "Accept-Language"}},
		{"long-polling", "keep-alive",
			[]string{"Origin", "Accept-Encoding", "Content-Type", "Access-Control-Request-Method", "User-Agent"},
			[]string{"Sec-Websocket-Key", "Sec-Websocket-Version", "Accept-Language"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req := httptest.NewRequest(http.MethodGet, "/socket.io/?EIO=4&transport=polling", nil)
			req.Header = all.Clone()
			req.Header.Set("Connection", tt.connection)
			got := lean(req).Header
			for _, k := range tt.keep {
				if got.Get(k) != req.Header.Get(k) {
					t.Errorf("%s = %q, want %q", k, got.Get(k), req.Header.Get(k))
				}
			}
			for _, k := range tt.drop {
				if v, ok := got[k]; ok {
					t.Errorf("kept %s: %q", k, v)
				}
			}
		})
	}
}
