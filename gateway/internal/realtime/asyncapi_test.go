package realtime

import (
	"slices"
	"testing"

	"github.com/parleychat/parley/gateway/api"
)

// TestEveryListenedEventIsDocumented reads the listeners a client socket
// really has once connected (every event the gateway accepts from a
// client) and holds them to the AsyncAPI document's commands, both ways.
func TestEveryListenedEventIsDocumented(t *testing.T) {
	r := newRig(t, Options{})
	r.wsConnect(t, "user-a", r.sessionToken("user-a", "s-doc"))
	// Socket.IO's own events, not commands a client can emit.
	reserved := map[string]bool{"disconnect": true, "disconnecting": true, "error": true}
	var listened []string
	waitFor(t, "the socket's listeners", func() bool {
		listened = listened[:0]
		done := false
		for _, e := range r.srv.registry.sockets("user-a") {
			for _, n := range e.sock.EventNames() {
				name := string(n)
				done = done || name == "disconnect" // registered last
				if !reserved[name] {
					listened = append(listened, name)
				}
			}
		}
		return done
	})
	slices.Sort(listened)
	listened = slices.Compact(listened)
	if len(listened) < 6 {
		t.Fatalf("a connected socket listens to %v; reading its listeners is broken", listened)
	}
	documented, err := api.SocketEventNames("receive")
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(listened, documented) {
		t.Errorf("a client socket listens to %v\nthe AsyncAPI document's commands are %v", listened, documented)
	}
}
