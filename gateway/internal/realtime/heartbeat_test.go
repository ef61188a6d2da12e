package realtime

import (
	"fmt"
	"testing"
	"time"
)

// TestHeartbeatNeverClosesHealthySockets runs many quick heartbeats with
// clients that answer every ping at once, the case in which the server
// library's pong timer, armed after its ping is sent, can be left running
// by a pong that beat it. No socket may be closed.
func TestHeartbeatNeverClosesHealthySockets(t *testing.T) {
	r := newRig(t, Options{PingInterval: 20 * time.Millisecond, PingTimeout: 10 * time.Millisecond})
	if got := r.srv.opts.PingTimeout; got <= r.srv.opts.PingInterval {
		t.Fatalf("ping timeout %s not above the interval %s", got, r.srv.opts.PingInterval)
	}
	var clients []*wsClient
	for i := range 10 {
		user := fmt.Sprintf("0190f5a4-7b6c-7d8e-9f00-1122334455%02d", i)
		clients = append(clients, r.wsConnect(t, user, r.sessionToken(user, fmt.Sprintf("s%d", i))))
	}
	time.Sleep(3 * time.Second) // about 150 heartbeats per socket
	for i, c := range clients {
		select {
		case <-c.done:
			t.Errorf("socket %d (%s) was closed by the server during heartbeats", i, c.sid)
		default:
		}
	}
}
