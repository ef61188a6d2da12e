package app

import (
	"net/http"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/parleychat/parley/gateway/internal/session"
	"github.com/parleychat/parley/shared/events"
	"github.com/parleychat/parley/shared/token"
)

// TestRefreshKeepsSocketsOnOtherGateways: a client refreshes its session
// over REST on gateway A while its socket is open on gateway B. The socket
// keeps running past the old token's expiry; a socket of another session
// of the same user, not refreshed, is still closed at its expiry; and a
// revocation of the refreshed session still closes its socket at once.
func TestRefreshKeepsSocketsOnOtherGateways(t *testing.T) {
	c := newCluster(t)
	a, b := c.start(t, nil), c.start(t, nil)
	for _, g := range []*gateway{a, b} {
		waitFor(t, "readiness", func() bool { return status(g.base+"/readyz") == http.StatusOK })
	}
	signer, _ := token.NewSigner(c.authPriv, token.IssuerAuth)
	userID, sid := uuid.NewString(), uuid.NewString()
	// Long enough to dial two sockets and see B's queue bound first.
	const ttl = 10 * time.Second
	short, _ := signer.Session(userID, sid, ttl)
	other, _ := signer.Session(userID, uuid.NewString(), ttl)
	oldExp := time.Now().Add(ttl)

	sock := dialSocket(t, b.base, session.CookieName+"="+short)
	otherSock := dialSocket(t, b.base, session.CookieName+"="+other)
	publish := publisher(t, b.ctx, c.amqpURL)
	waitDelivered(t, publish, userID, &sock.received) // B's queue is bound

	req, _ := http.NewRequest("POST", a.base+"/api/v1/auth/refresh", nil)
	req.Header.Set("Cookie", "parley_refresh=rt:"+userID+":"+sid)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	_ = resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("refresh on gateway A: %d, want 200", resp.StatusCode)
	}

	waitFor(t, "the unrefreshed session's socket to close at its expiry", func() bool { return !otherSock.Alive() })
	time.Sleep(time.Until(oldExp.Add(2 * time.Second)))
	if !sock.Alive() {
		t.Fatalf("the refreshed session's socket on gateway B was closed at the old expiry")
	}

	if err := publish(events.ExchangeAuth, events.TypeSessionRevoked, events.SessionRevokedV1{
		UserID: userID, SessionIDs: []string{sid}, Reason: "revoked", RevokedUntil: time.Now().Add(time.Hour),
	}); err != nil {
		t.Fatalf("publish revocation: %v", err)
	}
	waitFor(t, "the revoked session's socket to close", func() bool { return !sock.Alive() })
}
