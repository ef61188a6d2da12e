// Package linktest dials chat-service's Socket.IO link as the gateway does
// (the internal token as bearer on the upgrade and in the CONNECT auth),
// for tests of the link and of the whole service. It uses the gateway's
// own client (shared/sioclient), not the Socket.IO client library, whose
// start-up races (hung or abandoned attempts, a doubled CONNECT) made link
// tests fail now and then.
package linktest

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"sync"
	"testing"
	"time"

	"github.com/parleychat/parley/shared/sioclient"
)

// Link is one connected link.
type Link struct {
	c *sioclient.Client
}

// Dial opens a link to base with bearer on the WebSocket upgrade and auth
// as the CONNECT's auth.token, and reports whether the server accepted it;
// only a refusal by the server (CONNECT_ERROR) counts as refused, anything
// else fails the test. The link is closed at the end of the test.
//
// It waits sioclient.DefaultSettle after the admission: the server library
// writes its CONNECT answer before it records the namespace as joined and
// closes a connection whose next packet arrives in between. A test that
// can see the server's side waits for it instead (DialReady).
func Dial(t testing.TB, base, bearer, auth string) (*Link, bool) {
	t.Helper()
	return dial(t, base, bearer, auth, nil)
}

// DialReady is Dial returning only once ready(id) holds for the socket's id
// (polled every few milliseconds, for up to 10 s): ready tells when the
// server's connection handler has run for that socket, and from then on
// the server takes any packet on it.
func DialReady(t testing.TB, base, bearer, auth string, ready func(id string) bool) (*Link, bool) {
	t.Helper()
	return dial(t, base, bearer, auth, ready)
}

func dial(t testing.TB, base, bearer, auth string, ready func(string) bool) (*Link, bool) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	o := sioclient.Options{
		Header: http.Header{"Authorization": {"Bearer " + bearer}},
		Auth:   map[string]string{"token": auth},
	}
	if ready != nil {
		o.Settle = -1
	}
	c, err := sioclient.Dial(ctx, base, o)
	var refused *sioclient.ConnectError
	if errors.As(err, &refused) {
		return nil, false
	}
	if err != nil {
		t.Fatalf("link to %s: %v", base, err)
	}
	l := &Link{c: c}
	// Why a link ended is the first thing to know when a test fails; the
	// test's own clean-up is not news, and nothing may be logged once the
	// test is over.
	var mu sync.Mutex
	over := false
	t.Cleanup(func() {
		mu.Lock()
		over = true
		mu.Unlock()
		l.Disconnect()
	})
	go func() {
		<-c.Done()
		mu.Lock()
		defer mu.Unlock()
		if !over {
			t.Logf("link %s ended: %v", base, c.Err())
		}
	}()
	for ready != nil && !ready(c.ID()) {
		select {
		case <-c.Done():
			t.Fatalf("link %s ended before the server took it: %v", base, c.Err())
		case <-ctx.Done():
			t.Fatalf("link %s: the server did not take socket %s within 10s", base, c.ID())
		case <-time.After(2 * time.Millisecond):
		}
	}
	return l, true
}

// Emit sends event with data and calls ack with the ack's arguments
// (decoded), or with the error when none came within 10 s or the link
// ended. Frames go out in the order of the calls.
func (l *Link) Emit(event string, data any, ack func(args []any, err error)) error {
	raw, err := json.Marshal(data)
	if err != nil {
		return err
	}
	l.c.Send(event, raw, 10*time.Second, func(args json.RawMessage, err error) {
		var out []any
		if err == nil {
			err = json.Unmarshal(args, &out)
		}
		ack(out, err)
	})
	return nil
}

// ID is the link socket's id on the server.
func (l *Link) ID() string { return l.c.ID() }

// Disconnect closes the link and waits until it is closed; calling it
// again does nothing.
func (l *Link) Disconnect() { _ = l.c.Close() }
