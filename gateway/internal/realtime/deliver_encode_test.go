package realtime

import (
	"encoding/json"
	"testing"
)

// Deliver encodes an event's packet once per namespace and writes those
// bytes to every socket: they must be the Socket.IO EVENT packet a
// socket's own Emit would write, the payload passed through as it came.
func TestPacketsByNamespaceEncodesOncePerNamespace(t *testing.T) {
	p := packetsByNamespace{}
	payload := json.RawMessage(`{"id":"m1","body":"hi"}`)
	root := p.of("/", "message:new", payload)
	if len(root) != 1 || root[0].String() != `2["message:new",{"id":"m1","body":"hi"}]` {
		t.Fatalf("packet for / = %v, want one EVENT packet with the payload as it came", root)
	}
	other := p.of("/admin", "message:new", payload)
	if len(other) != 1 || other[0].String() != `2/admin,["message:new",{"id":"m1","body":"hi"}]` {
		t.Fatalf("packet for /admin = %v, want the namespace in the packet", other)
	}
	if again := p.of("/", "message:new", payload); &again[0] != &root[0] {
		t.Error("the packet for / was encoded again")
	}
	if again := p.of("/admin", "message:new", payload); &again[0] != &other[0] {
		t.Error("the packet for /admin was encoded again")
	}
}
