package realtime

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/parleychat/parley/shared/events"
	"github.com/parleychat/parley/shared/token"
)

// refreshedEvent builds a realtime.session.refreshed envelope.
func refreshedEvent(t *testing.T, d events.SessionRefreshedV1) events.Envelope {
	t.Helper()
	env, err := events.New(context.Background(), "gateway", events.TypeSessionRefreshed, 1, d)
	if err != nil {
		t.Fatal(err)
	}
	return env
}

// TestRefreshedMovesSocketExpiry: the refresh signal lets the sockets of
// that session outlive the token they connected with, capped at one token
// lifetime; another session's socket still closes at its expiry, and a
// revocation still closes the refreshed one at once.
func TestRefreshedMovesSocketExpiry(t *testing.T) {
	r := newRig(t, Options{})
	short, exp := r.shortSession("user-a", "s1", 5*time.Second)
	other, otherExp := r.shortSession("user-a", "s2", 5*time.Second)
	sock, err := r.dial(cookie(short), "websocket")
	if err != nil {
		t.Fatal(err)
	}
	otherSock, err := r.dial(cookie(other), "websocket")
	if err != nil {
		t.Fatal(err)
	}
	closed, otherClosed := make(chan struct{}, 2), make(chan struct{}, 2)
	sock.On("disconnect", func(...any) { closed <- struct{}{} })
	otherSock.On("disconnect", func(...any) { otherClosed <- struct{}{} })
	waitFor(t, "both sockets registered", func() bool { return len(r.srv.registry.sockets("user-a")) == 2 })

	// Through the queue's handler, as another gateway's signal arrives.
	if err := r.srv.Deliver(context.Background(), refreshedEvent(t, events.SessionRefreshedV1{
		UserID: "user-a", SessionID: "s1", ExpiresAt: time.Now().Add(24 * time.Hour),
	})); err != nil {
		t.Fatalf("Deliver: %v", err)
	}
	for _, e := range r.srv.registry.sockets("user-a") {
		c := e.sock.Data().(*conn)
		c.mu.Lock()
		at := c.expiresAt
		c.mu.Unlock()
		limit := time.Now().Add(token.SessionTTL + token.DefaultLeeway)
		switch e.id.SessionID {
		case "s1":
			if !at.After(exp) || at.After(limit) {
				t.Errorf("refreshed socket expires at %s, want after %s and capped at %s", at, exp, limit)
			}
		case "s2":
			// Its own token's exp: minted a moment after s1's, it may
			// fall in the next second.
			if !at.Equal(otherExp) {
				t.Errorf("other session's socket expires at %s, want its token's %s", at, otherExp)
			}
		}
	}

	select {
	case <-otherClosed:
	case <-time.After(time.Until(exp) + 10*time.Second):
		t.Fatal("the unrefreshed session's socket outlived its token")
	}
	time.Sleep(time.Until(exp.Add(time.Second)))
	select {
	case <-closed:
		t.Fatal("the refreshed session's socket was closed at the old expiry")
	default:
	}

	r.store.RevokeSessions("user-a", []string{"s1"}, time.Now().Add(time.Hour))
	select {
	case <-closed:
	case <-time.After(10 * time.Second):
		t.Fatal("a revocation did not close the refreshed socket")
	}
}

func TestRefreshedEventMalformed(t *testing.T) {
	r := newRig(t, Options{})
	for _, d := range []events.SessionRefreshedV1{
		{SessionID: "s1", ExpiresAt: time.Now()},
		{UserID: "u", ExpiresAt: time.Now()},
		{UserID: "u", SessionID: "s1"},
	} {
		if err := r.srv.Deliver(context.Background(), refreshedEvent(t, d)); !errors.Is(err, events.ErrMalformed) {
			t.Errorf("%+v: err %v, want ErrMalformed", d, err)
		}
	}
}
