package realtime

import (
	"fmt"

	"github.com/rs/zerolog"
	"testing"
	"time"
)

// TestHeartbeatNeverClosesHealthySockets runs many quick heartbeats with
// clients that answer every ping at once, the case in which the server
// library's pong timer, armed after its ping is sent, can be left running
// by a pong that beat it. No socket may be closed. (With the timeout below
// the interval, as it once was, every one of them is.) The timeout is far
// above the interval here, as 30 s is above 25 s in production, so that a
// loaded machine's scheduling delays stay inside the margin.
func TestHeartbeatNeverClosesHealthySockets(t *testing.T) {
	if o := (New(nil, nil, nil, zerolog.Nop(), Options{PingInterval: time.Second, PingTimeout: time.Second})).opts; o.PingTimeout <= o.PingInterval {
		t.Fatalf("a ping timeout of %s was accepted with an interval of %s", o.PingTimeout, o.PingInterval)
	}
	r := newRig(t, Options{PingInterval: 200 * time.Millisecond, PingTimeout: 2 * time.Second})
	var clients []*wsClient
	for i := range 10 {
		user := fmt.Sprintf("0190f5a4-7b6c-7d8e-9f00-1122334455%02d", i)
		clients = append(clients, r.wsConnect(t, user, r.sessionToken(user, fmt.Sprintf("s%d", i))))
	}
	time.Sleep(4 * time.Second) // about 20 heartbeats per socket
	for i, c := range clients {
		select {
		case <-c.done:
			t.Errorf("socket %d (%s) was closed by the server during heartbeats", i, c.sid)
		default:
		}
	}
}
