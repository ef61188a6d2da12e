package realtime

import (
	"errors"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/parleychat/parley/shared/token"
)

// shortSession mints a session token living ttl (to the second, as JWT
// times are) and returns it with its exp.
func (r *rig) shortSession(userID, sid string, ttl time.Duration) (string, time.Time) {
	r.t.Helper()
	raw, err := r.authSigner.Session(userID, sid, ttl)
	if err != nil {
		r.t.Fatal(err)
	}
	var c token.Claims
	if _, _, err := jwt.NewParser().ParseUnverified(raw, &c); err != nil {
		r.t.Fatal(err)
	}
	return raw, c.ExpiresAt.Time
}

// TestSocketClosedAtTokenExpiry: a socket is disconnected (a plain server
// disconnect) once its session token's exp passes, other sockets of the
// user stay, and the same cookie is then refused with token_expired even
// though the verifier's clock-skew leeway would still accept it.
func TestSocketClosedAtTokenExpiry(t *testing.T) {
	r := newRig(t, Options{})
	// Long enough for the dials below to finish (one can cost the client's
	// 2 s start-up timeout), short enough to wait for.
	short, exp := r.shortSession("user-a", "s-short", 5*time.Second)
	sShort, err := r.dial(cookie(short), "websocket")
	if err != nil {
		t.Fatalf("dial with a token valid until %s: %v", exp.Format(time.RFC3339), err)
	}
	reasons := make(chan string, 1)
	sShort.On("disconnect", func(args ...any) {
		select { // the Go client may report one disconnect twice
		case reasons <- describe(args):
		default:
		}
	})
	sLong, err := r.dial(cookie(r.sessionToken("user-a", "s-long")), "websocket")
	if err != nil {
		t.Fatal(err)
	}
	if !sShort.Connected() {
		t.Fatalf("the short-lived socket is gone already, %s before its exp", time.Until(exp))
	}

	select {
	case reason := <-reasons:
		if now := time.Now(); now.Before(exp) {
			t.Errorf("closed %s before its token expired", exp.Sub(now))
		}
		// A server disconnect, as for a revocation. (The Go client decodes
		// packets on a task queue, so the transport's close can overtake
		// the DISCONNECT packet that precedes it.)
		if reason != "io server disconnect" && reason != "transport close" {
			t.Errorf("disconnect reason %q, want io server disconnect (or transport close)", reason)
		}
	case <-time.After(time.Until(exp) + 10*time.Second):
		t.Fatalf("socket still open 10s after its token expired (connected: %v)", sShort.Connected())
	}
	if !sLong.Connected() {
		t.Error("the socket with a valid token was closed too")
	}

	_, err = r.dial(cookie(short), "websocket")
	var ce errConnect
	if !errors.As(err, &ce) || ce.code != "token_expired" {
		t.Errorf("reconnect with the expired cookie %s after exp: %#v, want connect_error token_expired", time.Since(exp), err)
	}
}

// TestExpiryTimerStoppedOnDisconnect: a socket that goes before its token
// expires does not leave its timer behind.
func TestExpiryTimerStoppedOnDisconnect(t *testing.T) {
	r := newRig(t, Options{})
	sock, err := r.dial(cookie(r.sessionToken("user-b", "s1")), "websocket")
	if err != nil {
		t.Fatal(err)
	}
	entries := r.srv.registry.sockets("user-b")
	if len(entries) != 1 {
		t.Fatalf("registry has %d sockets for user-b, want 1", len(entries))
	}
	c, ok := entries[0].sock.Data().(*conn)
	if !ok || c.expiry == nil {
		t.Fatalf("socket data %#v, want a conn with an expiry timer", entries[0].sock.Data())
	}
	sock.Disconnect()
	waitFor(t, "the server to forget the socket", func() bool { return !r.srv.registry.has("user-b") })
	if c.expiry.Stop() {
		t.Error("the expiry timer of a disconnected socket was still pending")
	}
}
