// Package linktest dials chat-service's Socket.IO link as the gateway does
// (the internal token as bearer on the upgrade and in the CONNECT auth),
// for tests of the link and of the whole service.
package linktest

import (
	"fmt"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	client "github.com/zishang520/socket.io/clients/socket/v3"
	"github.com/zishang520/socket.io/v3/pkg/types"
)

// Dial opens a link to base with bearer on the WebSocket upgrade and auth
// as the CONNECT's auth.token, and reports whether the server accepted it;
// only a refusal by the server ("unauthorized") counts as refused.
//
// The Go client (v3.0.6) has start-up races on a fast loopback (see also
// e2e/harness DialSocket): its manager can miss the engine's "open" (the
// attempt hangs, and is retried here); sending the namespace CONNECT from
// two paths makes the server close the connection (so the manager is
// opened first and the socket connected once it is open); and its connect
// timer, armed before its cancellation is registered, can close the engine
// of a socket that still reports Connected() (so it is set far beyond any
// test, and attempts are bounded here instead).
func Dial(t testing.TB, base, bearer, auth string) (*client.Socket, bool) {
	t.Helper()
	for attempt := 1; ; attempt++ {
		sock, outcome := dialOnce(t, base, bearer, auth)
		switch {
		case outcome == "connected":
			return sock, true
		case strings.Contains(outcome, "unauthorized"):
			return nil, false
		case attempt == 5:
			t.Fatalf("link did not connect after %d attempts: %s", attempt, outcome)
		}
	}
}

func dialOnce(t testing.TB, base, bearer, auth string) (*client.Socket, string) {
	t.Helper()
	opts := client.DefaultOptions()
	opts.SetAuth(map[string]any{"token": auth})
	opts.SetExtraHeaders(http.Header{"Authorization": {"Bearer " + bearer}})
	opts.SetTransports(types.NewSet(client.WebSocket))
	opts.SetReconnection(false)
	opts.SetForceNew(true)
	opts.SetTimeout(24 * time.Hour)
	opts.SetAutoConnect(false)
	manager := client.NewManager(base, opts)
	opened := make(chan error, 1)
	manager.Open(func(err error) { opened <- err })
	sock := manager.Socket("/", opts)
	t.Cleanup(func() { sock.Disconnect() })
	select {
	case err := <-opened:
		if err != nil {
			sock.Disconnect()
			return nil, "open: " + err.Error()
		}
	case <-time.After(3 * time.Second):
		sock.Disconnect()
		return nil, "engine not open within 3s"
	}
	result := make(chan string, 3)
	// Why a link ended is the first thing to know when a test fails; the
	// test's own clean-up disconnect is not news, and nothing may be
	// logged once the test is over.
	var mu sync.Mutex
	over := false
	t.Cleanup(func() { mu.Lock(); over = true; mu.Unlock() })
	_ = sock.On("disconnect", func(args ...any) {
		mu.Lock()
		defer mu.Unlock()
		if !over {
			t.Logf("link %s disconnected: %v", base, args)
		}
	})
	_ = sock.On("connect", func(...any) { result <- "connected" })
	_ = sock.On("connect_error", func(args ...any) { result <- fmt.Sprint(args...) })
	sock.Connect()
	select {
	case r := <-result:
		if r != "connected" {
			sock.Disconnect()
		}
		return sock, r
	case <-time.After(10 * time.Second):
		sock.Disconnect()
		return nil, "no connect or connect_error within 10s"
	}
}
